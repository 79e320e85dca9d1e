"""all-MiniLM-L6-v2 sentence-embedding recipe (see ``recipe.py``)."""
