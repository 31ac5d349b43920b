"""Property-based tests: random shapes, dtypes, non-finite entries and bad step sizes.

Every public function of problems/ and optim/ either returns finite numbers or
raises a clear ValueError; nothing hangs (each example has a deadline of a minute, far
above any example's time, so a loaded machine does not fail it). The number of examples
is the profile's: 12 by default, 40 with --runslow (conftest.py).
"""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxopt_course import optim
from jaxopt_course import run as runner
from jaxopt_course.problems import least_squares as ls

SETTINGS = settings(deadline=60_000, suppress_health_check=[HealthCheck.too_slow])
finite = st.floats(-10, 10, allow_nan=False, width=32)
special = st.sampled_from([np.nan, np.inf, -np.inf])
dtypes = st.sampled_from([np.float32, np.float16, np.int32])


@st.composite
def problems(draw, allow_bad=True):
    """(theta, X, y) of random (possibly mismatched, empty or non-finite) shapes and values."""
    n = draw(st.integers(0 if allow_bad else 1, 9))
    d = draw(st.integers(0 if allow_bad else 1, 6))
    X = np.asarray(draw(st.lists(finite, min_size=n * d, max_size=n * d)), np.float32).reshape(n, d)
    y = np.asarray(draw(st.lists(finite, min_size=n, max_size=n)), np.float32)
    theta = np.asarray(draw(st.lists(finite, min_size=d, max_size=d)), np.float32)
    dtype = draw(dtypes) if allow_bad else np.float32
    if allow_bad and n * d and dtype != np.int32 and draw(st.booleans()):
        X[draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))] = draw(special)
    if allow_bad and draw(st.booleans()):
        theta = np.zeros(draw(st.integers(0, 8)), np.float32)  # a possibly wrong length
    return theta.astype(dtype), X.astype(dtype), y


def _finite_or_value_error(fn, *args):
    """fn(*args) is finite everywhere, or raises ValueError (anything else fails the test)."""
    try:
        out = fn(*args)
    except ValueError as err:
        assert str(err), "a ValueError must say what is wrong"
        return None
    leaves = jax.tree.leaves(out)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in leaves), f"{fn.__name__} returned non-finite values"
    return out


@SETTINGS
@given(problems())
def test_losses_and_gradients_finite_or_value_error(problem):
    theta, X, y = (jnp.asarray(a) for a in problem)
    for fn in (ls.loss, ls.grad):
        _finite_or_value_error(fn, theta, X, y)
    if X.ndim == 2 and X.shape[0] > 0:
        _finite_or_value_error(ls.loss_i, theta, X, y, 0)
        _finite_or_value_error(ls.grad_i, theta, X, y, X.shape[0] - 1)


@SETTINGS
@given(problems())
def test_matrix_functions_finite_or_value_error(problem):
    _, X, _ = problem
    X = jnp.asarray(X)
    for fn in (ls.hessian, ls.smoothness, ls.frobenius_smoothness):
        _finite_or_value_error(fn, X)


@SETTINGS
@given(st.integers(1, 9), st.integers(0, 12), st.integers(0, 2**31 - 1))
def test_closed_forms_solve_or_refuse(num_points, degree, seed):
    """Solutions exist and fit when the shapes allow; otherwise ValueError."""
    xs, ys = ls.course_data(num_points)
    X = ls.features(xs, degree)
    theta = _finite_or_value_error(ls.unique_solution, X, ys)
    if theta is not None:
        assert num_points >= degree + 1
        grad_norm = float(jnp.linalg.norm(ls.grad(theta, X, ys)))
        assert grad_norm < 1e-3 * max(1.0, float(jnp.linalg.norm(X)) ** 2)  # float32 solve of a Vandermonde system
    a = jax.random.normal(jax.random.key(seed), (degree + 1,))
    proj = _finite_or_value_error(ls.projection, X, ys, a)
    if proj is not None:
        assert num_points <= degree + 1


@SETTINGS
@given(st.integers(-3, 12), st.one_of(st.integers(-3, 30), st.floats(allow_nan=True)))
def test_features_and_data_sizes(num_points, degree):
    try:
        xs, _ = ls.course_data(num_points)
        X = ls.features(xs, degree)
    except ValueError:
        ok_degree = np.isfinite(degree) and float(degree).is_integer() and 0 <= degree <= ls.MAX_DEGREE
        assert num_points < 1 or not ok_degree
        return
    assert X.shape == (num_points, int(degree) + 1) and bool(jnp.all(jnp.isfinite(X)))


step_sizes = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5))
makers = st.sampled_from([
    lambda lr: optim.sgd(lr), lambda lr: optim.sgd(lr, momentum=0.9), lambda lr: optim.adam(lr),
    lambda lr: optim.adagrad(lr), lambda lr: optim.sgd(optim.inverse_time(lr)),
    lambda lr: optim.sgd(optim.staircase(lr, 10)), lambda lr: optim.scaled_gd(lr, jnp.ones(3)),
])


@SETTINGS
@given(makers, step_sizes, st.lists(finite, min_size=3, max_size=3), st.integers(1, 20))
def test_optimizers_finite_or_value_error(make, lr, grad, steps):
    """Any step size is accepted only if finite and positive; then finite gradients give finite iterates."""
    representable = np.isfinite(lr) and abs(lr) <= float(np.finfo(np.float32).max)
    try:
        opt = make(lr)
    except ValueError:
        assert not (representable and lr > 0)
        return
    assert representable and lr > 0
    params, state = jnp.zeros(3), opt.init(jnp.zeros(3))
    g = jnp.asarray(grad, jnp.float32)
    for _ in range(steps):
        updates, state = opt.update(g, state, params)
        params = optim.apply_updates(params, updates)
    if lr < 1e30:
        assert bool(jnp.all(jnp.isfinite(params)))


@SETTINGS
@given(st.floats(-1.5, 1.5), st.floats(1e-3, 10.0))
def test_momentum_and_decay_rates_are_validated(decay, lr):
    try:
        optim.sgd(lr, momentum=decay)
        optim.adam(lr, b1=decay)
    except ValueError:
        assert not 0 <= decay < 1
        return
    assert 0 <= decay < 1


@SETTINGS
@given(st.integers(-5, 50), st.one_of(st.none(), st.integers(-3, 60)))
def test_record_grids_validated(num_steps, every):
    try:
        grid = runner.log_grid(num_steps, 10) if every is None else runner.stride_grid(num_steps, every)
    except ValueError:
        assert num_steps < 1 or (every is not None and every < 1)
        return
    assert grid[0] == 0 and grid[-1] == num_steps and np.all(np.diff(grid) > 0)


def test_nan_gradients_are_reported_as_divergence():
    """Inside a run non-finite values cannot raise: they are reported as diverged at step k."""
    opt = optim.sgd(0.1)
    step = runner.optimizer_step(lambda p, _: jnp.where(p > 0.25, jnp.nan, -1.0), opt)
    trace = jax.jit(lambda: runner.run(step, runner.optimizer_init(jnp.zeros(2), opt), 10,
                                       metrics=lambda s: {"p": s.params}))()
    assert int(trace.diverged_at) == 4  # p = 0.1, 0.2, 0.3 (> 0.25), then NaN at step 4


# ----------------------------------------------------------------------------- the other problem modules

from jaxopt_course.problems import finite_sum_1d as fs  # noqa: E402
from jaxopt_course.problems import power_regression as pr  # noqa: E402
from jaxopt_course.problems import toy_functions as toy  # noqa: E402
from jaxopt_course.problems import two_layer_sigmoid as tl  # noqa: E402

values = st.one_of(st.floats(-20, 20, width=32), special)
SCALAR_FUNCTIONS = [toy.plateau, toy.plateau_grad, toy.three_halves, toy.three_halves_grad, toy.double_well,
                    toy.double_well_grad]


@SETTINGS
@given(st.sampled_from(SCALAR_FUNCTIONS), st.lists(values, min_size=0, max_size=5))
def test_toy_functions_finite_or_value_error(fn, xs):
    _finite_or_value_error(fn, jnp.asarray(xs, jnp.float32))


@SETTINGS
@given(st.lists(values, min_size=2, max_size=2))
def test_quadratic_risk_finite_or_value_error(w):
    for fn in (toy.quadratic_risk, toy.quadratic_risk_grad):
        _finite_or_value_error(fn, jnp.asarray(w, jnp.float32))


@SETTINGS
@given(values, st.integers(0, 40), st.booleans())
def test_finite_sum_finite_or_value_error(x, num_terms, bad_phase):
    phases = fs.sample_phases(jax.random.key(0), max(num_terms, 1))
    if bad_phase:
        phases = phases.at[0].set(jnp.nan)
    for fn in (fs.loss, fs.grad, fs.terms, fs.term_grads):
        _finite_or_value_error(fn, jnp.float32(x), phases)


@SETTINGS
@given(problems(), st.sampled_from([0.4, 0.7, 1.0, 2.0, 3.0, 5.0]))
def test_power_losses_finite_or_value_error(problem, gamma):
    theta, X, y = (jnp.asarray(a) for a in problem)
    for fn in (pr.power_loss, pr.power_loss_grad):
        _finite_or_value_error(fn, theta, X, y, gamma)


@SETTINGS
@given(st.integers(1, 5), st.integers(0, 6), st.integers(1, 3), values, st.sampled_from([3.0, 10.0]))
def test_two_layer_net_finite_or_value_error(hidden, n, dim, entry, alpha):
    params = tl.gaussian_init(jax.random.key(hidden), hidden, dim)
    X = jnp.full((n, dim), entry, jnp.float32)
    y = jnp.ones((n,), jnp.float32)
    for fn in (tl.risk, tl.risk_grad):
        _finite_or_value_error(fn, params, X, y, alpha)


from jaxopt_course.problems import matrix_sensing as ms  # noqa: E402


@SETTINGS
@given(st.integers(0, 5), st.integers(0, 5), st.integers(0, 4), st.one_of(st.none(), special))
def test_matrix_sensing_views_finite_or_value_error(d_u, d_x, rank, bad):
    U = jnp.full((d_u, rank), 0.3, jnp.float32)
    x_star = jnp.eye(d_x, dtype=jnp.float32)
    if bad is not None and U.size:
        U = U.at[0, 0].set(bad)
    for fn in (ms.distance, ms.population_loss, ms.population_gradient):
        _finite_or_value_error(fn, U, x_star)
    _finite_or_value_error(ms.rank_one_hessian, jnp.full((d_u,), 0.3, jnp.float32), x_star)
