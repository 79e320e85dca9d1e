"""ResNet-50-shaped classifier with seeded random weights, for speed measurements (see recipe.py).

Recipe contract (see docs/recipes.md): build(), example_input(), dataset(split), DEFAULT_METRIC.
"""
