"""Small 1-D and 2-D functions on which gradient descent goes wrong (SPEC G1-G5).

Each function comes with its gradient written by hand (tested against ``jax.grad``)
and, where it has one, its Hessian and its gradient-descent map in closed form.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxopt_course.problems._checks import check_positive_entries, finite_inputs

GOLDEN_RATIO = (1.0 + math.sqrt(5.0)) / 2.0


# ----------------------------------------------------------------------------- G1: a plateau


@finite_inputs
def plateau(x: jax.Array, shelf: float = 2.0, tilt: float = 0.01) -> jax.Array:
    """f(x) = x^4/4 - 2 a x^3/3 + (a^2 + eps) x^2/2, so that f'(x) = x ((x - a)^2 + eps).

    Its only minimum is x = 0 (f = 0, f'' = a^2 + eps); around x = a it has a plateau
    (a shelf) where the slope is only f'(a) = a eps, and for |x| >> a it grows like
    x^4, so a too large step overshoots into a region where the gradient explodes.
    """
    a, eps = shelf, tilt
    return x**4 / 4 - 2 * a * x**3 / 3 + (a * a + eps) * x * x / 2


@finite_inputs
def plateau_grad(x: jax.Array, shelf: float = 2.0, tilt: float = 0.01) -> jax.Array:
    """f'(x) = x ((x - a)^2 + eps)."""
    return x * ((x - shelf) ** 2 + tilt)


# ----------------------------------------------------------------------------- G2: zig-zag


@finite_inputs
def anisotropic_quadratic(x: jax.Array, a: jax.Array, c: jax.Array) -> jax.Array:
    """f(x) = a1 (x1 - c1)^2 + a2 (x2 - c2)^2."""
    return jnp.sum(a * (x - c) ** 2)


@finite_inputs
def anisotropic_quadratic_grad(x: jax.Array, a: jax.Array, c: jax.Array) -> jax.Array:
    """grad f(x) = 2 a (x - c), coordinatewise; GD multiplies x_j - c_j by 1 - 2 gamma a_j."""
    return 2.0 * a * (x - c)


# ----------------------------------------------------------------------------- G3: |x|^{3/2}


@finite_inputs
def three_halves(x: jax.Array) -> jax.Array:
    """f(x) = 2/3 |x|^{3/2}."""
    return 2.0 / 3.0 * jnp.abs(x) ** 1.5


@finite_inputs
def three_halves_grad(x: jax.Array) -> jax.Array:
    """f'(x) = sign(x) sqrt(|x|) (continuous, but not Lipschitz at 0)."""
    return jnp.sign(x) * jnp.sqrt(jnp.abs(x))


def three_halves_preimage_scales(num: int) -> list[float]:
    """s_0 = 0, s_{m+1} = (1 + sqrt(1 + 4 s_m^2)) / 2, so s_1 = 1, s_2 = phi, ...

    With step delta, GD on 2/3 |x|^{3/2} maps x = (s_{m+1} delta)^2 to (s_m delta)^2
    (solve x - delta sqrt(x) = (s_m delta)^2 for sqrt(x) / delta), so the starts
    S = {+-(s_m delta)^2} = {0, +-delta^2, +-phi^2 delta^2, ...} reach 0 in exactly m steps.
    """
    scales = [0.0]
    for _ in range(int(num)):
        scales.append((1.0 + math.sqrt(1.0 + 4.0 * scales[-1] ** 2)) / 2.0)
    return scales


def three_halves_cycle(delta: float) -> float:
    """delta^2 / 4: GD with step delta maps +-delta^2/4 to -+delta^2/4 (a superattracting 2-cycle).

    x - delta sqrt(x) = -x  <=>  sqrt(x) = delta / 2; the map's derivative there,
    1 - delta / (2 sqrt(x)), is 0, so nearby starts are drawn in quadratically.
    """
    return delta * delta / 4.0


# ----------------------------------------------------------------------------- G4: a double well


@finite_inputs
def double_well(x: jax.Array) -> jax.Array:
    """f(x) = x^4 - 4 x^2: minima at +-sqrt(2), local maximum at 0."""
    return x**4 - 4.0 * x * x


@finite_inputs
def double_well_grad(x: jax.Array) -> jax.Array:
    """f'(x) = 4 x^3 - 8 x; with step 1/4 GD is x -> 3 x - x^3, which maps sqrt(3) to 0."""
    return 4.0 * x**3 - 8.0 * x


# ----------------------------------------------------------------------------- G5: a quadratic risk

RISK_HESSIAN = ((26.0, -10.0), (-10.0, 4.0))
RISK_MINIMIZER = (1.0, 3.0)


@finite_inputs
def quadratic_risk(w: jax.Array) -> jax.Array:
    """R(w) = 13 w1^2 - 10 w1 w2 + 4 w1 + 2 w2^2 - 2 w2 + 1."""
    w1, w2 = w[0], w[1]
    return 13 * w1 * w1 - 10 * w1 * w2 + 4 * w1 + 2 * w2 * w2 - 2 * w2 + 1


@finite_inputs
def quadratic_risk_grad(w: jax.Array) -> jax.Array:
    """grad R(w) = (26 w1 - 10 w2 + 4, -10 w1 + 4 w2 - 2) = H (w - w*), w* = (1, 3)."""
    w1, w2 = w[0], w[1]
    return jnp.stack([26 * w1 - 10 * w2 + 4, -10 * w1 + 4 * w2 - 2])


def quadratic_risk_hessian(dtype=None) -> jax.Array:
    """H = [[26, -10], [-10, 4]] (constant): eigenvalues 15 -+ sqrt(221)."""
    return jnp.asarray(RISK_HESSIAN, dtype=dtype or jnp.result_type(float))


@finite_inputs
def critical_step(hessian: jax.Array) -> jax.Array:
    """gamma_c = 2 / lambda_max(H): GD on a quadratic converges iff 0 < gamma < gamma_c (needs lambda_max > 0)."""
    lam_max = jnp.linalg.eigvalsh(hessian)[-1]
    check_positive_entries("lambda_max(hessian) (no step makes GD converge otherwise)", lam_max)
    return 2.0 / lam_max


@finite_inputs
def contraction_factor(step: jax.Array, hessian: jax.Array) -> jax.Array:
    """rho(gamma) = max_i |1 - gamma lambda_i(H)| = ||I - gamma H||_2, the GD rate on a quadratic."""
    lam = jnp.linalg.eigvalsh(hessian)
    return jnp.max(jnp.abs(1.0 - step * lam))
