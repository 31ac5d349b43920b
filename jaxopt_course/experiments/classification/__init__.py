"""Section C: classification on MNIST (C1 per-layer gradient norms, C2 a classifier to look at)."""
