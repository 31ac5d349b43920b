"""Section G: what gradient descent can get wrong (G1-G6)."""
