"""A 1-D finite sum with a flat and a sharp minimum (SPEC F1).

f(x) = 1/N sum_i f_i(x), f_i(x) = b(x) + 20 sin(10 x + p_i) cos(2 (x - 5)), with the
piecewise base

    b(x) = x^2            for x < 50/11,
           100 (x - 5)^2  for 50/11 <= x < 50/9,
           x^2            for x >= 50/9,

which is continuous (both pieces equal 2500/121 at 50/11 and 2500/81 at 50/9), so
f has a flat basin around 0 (curvature 2) and a sharp one around 5 (curvature 200).
The phases p_i = 2 pi U(0, 1) make each f_i wiggle with curvature up to ~2000, while
in the mean the wiggles nearly cancel (amplitude ~ 20 / sqrt(N)). Everything is
vectorized over the phases (no loop over terms) and differentiable by ``jax.grad``;
the derivatives below are written by hand and tested against ``jax.grad`` away from
the two breakpoints, where b' jumps.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxopt_course.problems._checks import finite_inputs

LEFT_BREAK = 50.0 / 11.0  # b switches from x^2 to 100 (x-5)^2: the sharp basin's left edge.
RIGHT_BREAK = 50.0 / 9.0  # b switches back to x^2: the sharp basin's right edge.
SHARP_CENTER = 5.0
NUM_TERMS = 2000
AMPLITUDE = 20.0
FREQUENCY = 10.0
ENVELOPE = 2.0


def sample_phases(key: jax.Array, num_terms: int = NUM_TERMS, dtype=None) -> jax.Array:
    """p_i = 2 pi U_i, U_i ~ U(0, 1) i.i.d., i < N."""
    if isinstance(num_terms, bool) or int(num_terms) != num_terms or num_terms < 1:
        raise ValueError(f"num_terms must be a positive integer, got {num_terms!r}")
    return 2.0 * math.pi * jax.random.uniform(key, (int(num_terms),), dtype=dtype or jnp.result_type(float))


def in_sharp_basin(x: jax.Array) -> jax.Array:
    """1[50/11 <= x < 50/9]: where the base is the sharp parabola 100 (x - 5)^2."""
    return (x >= LEFT_BREAK) & (x < RIGHT_BREAK)


def in_flat_basin(x: jax.Array) -> jax.Array:
    """1[x < 50/11]: left of the sharp basin, where the base is x^2 (SGD has escaped)."""
    return x < LEFT_BREAK


@finite_inputs
def base(x: jax.Array) -> jax.Array:
    """b(x) = 100 (x - 5)^2 on [50/11, 50/9), x^2 elsewhere."""
    return jnp.where(in_sharp_basin(x), 100.0 * (x - SHARP_CENTER) ** 2, x * x)


@finite_inputs
def base_grad(x: jax.Array) -> jax.Array:
    """b'(x) = 200 (x - 5) on (50/11, 50/9), 2 x elsewhere (undefined at the breakpoints)."""
    return jnp.where(in_sharp_basin(x), 200.0 * (x - SHARP_CENTER), 2.0 * x)


def _check_phases(phases: jax.Array) -> jax.Array:
    """The phases as a 1-D array (ValueError otherwise)."""
    phases = jnp.asarray(phases)
    if phases.ndim != 1 or phases.shape[0] < 1:
        raise ValueError(f"phases must be a non-empty 1-D array, got shape {phases.shape}")
    return phases


def _check_scalar(x) -> jax.Array:
    """x as a 0-d array (ValueError for anything else)."""
    x = jnp.asarray(x)
    if x.ndim != 0:
        raise ValueError(f"x must be a scalar, got shape {x.shape}")
    return x


@finite_inputs
def terms(x: jax.Array, phases: jax.Array) -> jax.Array:
    """[f_i(x)]_i = b(x) + 20 sin(10 x + p_i) cos(2 (x - 5)), one entry per phase."""
    x, phases = _check_scalar(x), _check_phases(phases)
    wiggle = jnp.sin(FREQUENCY * x + phases) * jnp.cos(ENVELOPE * (x - SHARP_CENTER))
    return base(x) + AMPLITUDE * wiggle


@finite_inputs
def term_grads(x: jax.Array, phases: jax.Array) -> jax.Array:
    """[f_i'(x)]_i = b'(x) + 200 cos(10 x + p_i) cos(2 (x-5)) - 40 sin(10 x + p_i) sin(2 (x-5))."""
    x, phases = _check_scalar(x), _check_phases(phases)
    angle = FREQUENCY * x + phases
    env = ENVELOPE * (x - SHARP_CENTER)
    wiggle = FREQUENCY * jnp.cos(angle) * jnp.cos(env) - ENVELOPE * jnp.sin(angle) * jnp.sin(env)
    return base_grad(x) + AMPLITUDE * wiggle


@finite_inputs
def loss(x: jax.Array, phases: jax.Array) -> jax.Array:
    """f(x) = 1/N sum_i f_i(x)."""
    return jnp.mean(terms(x, phases))


@finite_inputs
def grad(x: jax.Array, phases: jax.Array) -> jax.Array:
    """f'(x) = 1/N sum_i f_i'(x) (the full gradient used by GD)."""
    return jnp.mean(term_grads(x, phases))


@finite_inputs
def term_grad(x: jax.Array, phase: jax.Array) -> jax.Array:
    """f_i'(x) for the single phase p_i (the stochastic gradient used by SGD)."""
    return term_grads(x, jnp.reshape(phase, (1,)))[0]
