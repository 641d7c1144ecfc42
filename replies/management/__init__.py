"""Management commands of the replies app."""
