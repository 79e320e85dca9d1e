"""The search for the fastest deployment that holds the budget (variants x runtime settings, under an SLA)."""
