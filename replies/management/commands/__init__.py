"""Operator and developer commands of the replies app (manage.py <name>)."""
