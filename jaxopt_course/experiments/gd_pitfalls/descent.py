"""Plain gradient descent through the runner, shared by the G experiments."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxopt_course import optim
from jaxopt_course import run as runner


def gd_trace(grad: Callable[[jax.Array], jax.Array], x0, learning_rate, num_steps: int, *,
             metrics: Callable, record, **options) -> runner.Trace:
    """GD x_{k+1} = x_k - gamma_k grad(x_k) from x0 (in the default float dtype), recording metrics(state_k).

    ``learning_rate`` is a step size or a schedule k -> gamma_k; ``options`` go to
    ``run.run`` (e.g. ``stop``, ``diverged``).
    """
    opt = optim.gd(learning_rate)
    state = runner.optimizer_init(jnp.asarray(x0, jnp.result_type(float)), opt)
    return runner.run(runner.optimizer_step(lambda x, _: grad(x), opt), state, num_steps, metrics=metrics,
                      record=record, **options)
