"""The lessons' exercises."""
