"""Section R: regression with stochastic methods (R1 power losses, R2 grid search on a two-layer linear network)."""
