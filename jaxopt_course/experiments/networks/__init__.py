"""Section N: small neural networks (Flax MLPs) fitted to the course's 7 points (N1-N5)."""
