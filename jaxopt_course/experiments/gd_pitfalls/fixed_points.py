"""GD orbits recorded at every step, and the floats next to a number: shared by G3 and G4.

Both experiments start GD on (or next to) an exact preimage of a fixed point, so they
need every iterate x_k (not a log grid), the floats a few ulps from an irrational
start, and the step from which an orbit sits at exactly 0.0.
"""

from __future__ import annotations

from typing import Callable

import jax
import numpy as np

from jaxopt_course import optim
from jaxopt_course import run as runner


def gd_orbit(x0: jax.Array, gamma, grad: Callable, num_steps: int, record=None) -> runner.Trace:
    """GD x_{k+1} = x_k - gamma grad(x_k) from x0, recording x_k on ``record`` (default: every step)."""
    opt = optim.gd(gamma)
    record = runner.stride_grid(num_steps, 1) if record is None else record
    return runner.run(runner.optimizer_step(lambda x, _: grad(x), opt), runner.optimizer_init(x0, opt), num_steps,
                      metrics=lambda s: {"x": s.params}, record=record)


def ulp_neighbours(x: float, radius: int) -> np.ndarray:
    """The 2 radius + 1 float64 numbers nearest x in magnitude: x moved by -radius..radius ulps."""
    offsets = np.arange(-radius, radius + 1, dtype=np.int64)
    return (np.array([x], np.float64).view(np.int64) + offsets).view(np.float64)


def first_exact_zero(orbit: np.ndarray) -> int:
    """The first k from which x_k == 0.0 exactly for every later recorded k, or -1."""
    zero = np.asarray(orbit) == 0.0
    if not zero[-1]:
        return -1
    nonzero = np.flatnonzero(~zero)
    return 0 if nonzero.size == 0 else int(nonzero[-1] + 1)
