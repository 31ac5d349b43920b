"""Section P: polynomial least squares on the course's 7 points (P1-P4)."""
