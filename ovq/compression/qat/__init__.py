"""compression/qat"""
