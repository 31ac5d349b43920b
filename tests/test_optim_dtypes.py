"""Our optimizers against their optax twins in every float dtype optax supports, and complex parameters.

Each pair runs 50 steps in the same dtype; the trajectories agree to a few units in the
last place of that dtype (Adam rounds (1-b2) g g in another order than optax, the only
difference). The bfloat16 / float16 cases also check that Adam learns at all there (its
bias corrections are computed in float32 or wider, as optax does).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxopt_course import optim

STANDARD = functools.partial(jax.numpy_dtype_promotion, "standard")
DTYPES = ["float32", "float64", "bfloat16", "float16", "complex64", "complex128"]

PAIRS = {
    "sgd": (lambda: optim.sgd(0.05), lambda: optax.sgd(0.05)),
    "heavy_ball": (lambda: optim.heavy_ball(0.05, momentum=0.9), lambda: optax.sgd(0.05, momentum=0.9)),
    "nesterov": (lambda: optim.nesterov(0.05, momentum=0.8), lambda: optax.sgd(0.05, momentum=0.8, nesterov=True)),
    "adam": (lambda: optim.adam(0.01), lambda: optax.adam(0.01)),
    "adam_b2_099_eps_root": (lambda: optim.adam(0.02, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8),
                             lambda: optax.adam(0.02, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8)),
    "adam_mu_float32": (lambda: optim.adam(0.01, mu_dtype=jnp.float32), lambda: optax.adam(0.01, mu_dtype=jnp.float32)),
    "adagrad": (lambda: optim.adagrad(0.1, initial_accumulator_value=0.1, eps=1e-7, eps_inside_sqrt=True),
                lambda: optax.adagrad(0.1)),
    "sgd_momentum_accumulator_float32": (lambda: optim.sgd(0.05, momentum=0.9, accumulator_dtype=jnp.float32),
                                         lambda: optax.sgd(0.05, momentum=0.9, accumulator_dtype=jnp.float32)),
    "sgd_staircase": (lambda: optim.sgd(optim.staircase(0.2, 5)), lambda: optax.sgd(
        optax.piecewise_constant_schedule(0.2, {5 * j: j / (j + 1) for j in range(1, 10)}))),
}


def _problem(dtype, dim=6):
    """A strongly convex quadratic in ``dtype`` (Hermitian for complex) and the conjugated gradient map."""
    key = jax.random.key(7)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    M = jax.random.normal(k1, (dim, dim))
    A = (M @ M.T / dim + 0.1 * jnp.eye(dim)).astype(dtype)
    b, x0 = jax.random.normal(k2, (dim,)).astype(dtype), jax.random.normal(k3, (dim,)).astype(dtype)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        x0 = x0 + jnp.asarray(1j, dtype) * jax.random.normal(k4, (dim,)).astype(dtype)
        b = b * jnp.asarray(1 - 0.5j, dtype)
    # f(x) = 1/2 x^H A x - Re(b^H x): the gradient to add (optax's convention) is conj(df/dx) = A x - b.
    return x0, lambda x: A @ x - b


def _trajectory(opt, x0, grad, steps=50, apply_updates=optim.apply_updates):
    def step(carry, _):
        x, state = carry
        updates, state = opt.update(grad(x), state, x)
        x = apply_updates(x, updates)
        return (x, state), x

    return jax.jit(lambda x: jax.lax.scan(step, (x, opt.init(x)), None, length=steps)[1])(x0)


def _tolerance(dtype, scale):
    """A few units in the last place of ``dtype`` at the size of the iterates."""
    return 4 * float(jnp.finfo(dtype).eps) * scale


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(PAIRS))
def test_matches_optax_in_every_dtype(name, dtype):
    if name == "sgd_staircase" and dtype in ("bfloat16", "float16"):
        pytest.skip("optax's piecewise_constant_schedule rounds its products of scales in float32 (ours: one division)")
    if name.endswith("float32") and dtype.startswith("complex"):
        pytest.skip("a real float32 state for complex parameters drops their imaginary parts (in optax too)")
    with jax.enable_x64(dtype in ("float64", "complex128")):
        ours, theirs = PAIRS[name]
        x0, grad = _problem(dtype)
        mine = _trajectory(ours(), x0, grad)
        with STANDARD():  # optax itself is not written for strict promotion
            reference = _trajectory(theirs(), x0, grad, apply_updates=optax.apply_updates)
        assert mine.dtype == reference.dtype == jnp.dtype(dtype)
        wide = np.complex128 if jnp.issubdtype(dtype, jnp.complexfloating) else np.float64
        mine, reference = np.asarray(mine).astype(wide), np.asarray(reference).astype(wide)
        scale = float(np.abs(reference).max())
        np.testing.assert_allclose(mine, reference, rtol=0, atol=_tolerance(dtype, scale))
        assert np.abs(mine[-1] - mine[0]).max() > 0.1 * scale  # it moved


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("b2", [0.999, 0.99])
def test_low_precision_adam_first_step_is_minus_lr_sign(dtype, b2):
    """m_hat = g and v_hat = g^2 at the first step, so u = -lr sign(g) (and 0 where g = 0 in bfloat16, not NaN).

    In float16 eps = 1e-8 rounds to 0 and (1-b2) g^2 underflows for |g| <~ 0.1, so g = 0 gives NaN there,
    in optax too: the float16 case keeps to gradients whose squares float16 holds.
    """
    opt = optim.adam(0.1, b2=b2)
    g = jnp.asarray([2.0, -0.5, 0.0, 1e-3] if dtype == "bfloat16" else [2.0, -0.5, 0.25, -1.0], dtype)
    u, _ = opt.update(g, opt.init(jnp.zeros(4, dtype)))
    assert u.dtype == jnp.dtype(dtype)
    # bfloat16 keeps 8 bits: 1 - 0.999 and the bias corrections round at ~0.4%.
    np.testing.assert_allclose(np.asarray(u, np.float32), -0.1 * np.sign(np.asarray(g, np.float32)), rtol=1e-2, atol=0)


@pytest.mark.parametrize("make", [optim.scale_by_adam, lambda: optim.scale_by_adam(b2=0.99)])
def test_bfloat16_scale_by_adam_equals_float32_rounded(make):
    """Three steps of scale_by_adam in bfloat16 agree with float32 to bfloat16 precision."""
    grads = [jnp.asarray([1.0, -2.0, 0.25]), jnp.asarray([0.5, -1.0, 0.0]), jnp.asarray([-1.0, 3.0, 1.0])]
    opt = make()
    s16, s32 = opt.init(jnp.zeros(3, jnp.bfloat16)), opt.init(jnp.zeros(3))
    for g in grads:
        u16, s16 = opt.update(g.astype(jnp.bfloat16), s16)
        u32, s32 = opt.update(g, s32)
        np.testing.assert_allclose(np.asarray(u16, np.float32), u32, rtol=3e-2, atol=1e-2)


# ---------------------------------------------------------------- complex parameters

def test_complex_adagrad_accumulates_squared_modulus():
    """G = 0.1 + |2j|^2 = 4.1 (g * g would give 0.1 + (2j)^2 = -3.9 and freeze the coordinate)."""
    opt = optim.adagrad(1.0, initial_accumulator_value=0.1, eps=1e-7, eps_inside_sqrt=True)
    g = jnp.asarray([2j, 1.0], jnp.complex64)
    u, state = opt.update(g, opt.init(jnp.zeros(2, jnp.complex64)))
    np.testing.assert_allclose(state[0].sum_of_squares, [4.1, 1.1], rtol=1e-6)
    np.testing.assert_allclose(u, -np.asarray(g) / np.sqrt([4.1 + 1e-7, 1.1 + 1e-7]), rtol=1e-6)
    course = optim.adagrad(1.0)  # G_0 = 0, eps outside: the first step has modulus lr
    u, state = course.update(g, course.init(jnp.zeros(2, jnp.complex64)))
    np.testing.assert_allclose(np.abs(u), [1.0, 1.0], rtol=1e-6)


@pytest.mark.parametrize("name", ["sgd", "heavy_ball", "adam", "adagrad", "adagrad_course"])
def test_complex_parabola_reaches_optax_minimum(name):
    """optax's complex parabola: argmin sum |x - (1+1j) c|^2 is (1+1j) c, not 1 - 2.67j (Adam with g * g)."""
    make = {"sgd": lambda: optim.sgd(0.1), "heavy_ball": lambda: optim.heavy_ball(1e-2, momentum=0.9),
            "adam": lambda: optim.adam(0.1), "adagrad": lambda: optim.adagrad(1.0, 0.1, 1e-7, True),
            "adagrad_course": lambda: optim.adagrad(1.0)}[name]
    target = jnp.asarray([1.0, -1.0, 1.0], jnp.complex64) * jnp.asarray(1 + 1j, jnp.complex64)
    x0 = jnp.asarray([-1.0, 10.0, 1.0], jnp.complex64)
    grad = lambda x: jnp.conj(jax.grad(lambda x: jnp.sum((jnp.conj(x - target) * (x - target)).real))(x))  # noqa: E731
    xs = _trajectory(make(), x0, grad, steps=2000)
    np.testing.assert_allclose(xs[-1], target, atol=3e-2)


def test_complex_adam_state_dtypes_follow_optax():
    opt, theirs = optim.adam(0.1), optax.adam(0.1)
    p = jnp.ones(2, jnp.complex64)
    ours_state = opt.update(jnp.asarray([1j, 2.0], jnp.complex64), opt.init(p))[1]
    with STANDARD():
        their_state = theirs.update(jnp.asarray([1j, 2.0], jnp.complex64), theirs.init(p))[1]
    assert [x.dtype for x in ours_state[0]] == [x.dtype for x in their_state[0]]
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), tuple(ours_state[0]), tuple(their_state[0]))
