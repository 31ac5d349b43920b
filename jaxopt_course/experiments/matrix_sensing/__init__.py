"""Section M: matrix sensing, recovering X* = U* U*^T from m Gaussian measurements (M1-M3)."""
