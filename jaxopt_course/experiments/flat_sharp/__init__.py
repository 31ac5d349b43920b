"""Section F: flat versus sharp minima (F1)."""
