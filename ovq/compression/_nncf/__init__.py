"""compression/_nncf"""
