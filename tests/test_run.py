"""The scan runner: recording grids, noise handling, divergence, early stop, sweeps."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import optim
from jaxopt_course import run as runner
from jaxopt_course import sweeps


def _counter_step(state, k, noise):
    """x_{k+1} = x_k + noise_k (noise = 1 when absent): records the noise path."""
    return state + (1.0 if noise is None else noise)


def test_log_and_stride_grids():
    g = runner.log_grid(1000, 10)
    assert g[0] == 0 and g[-1] == 1000 and np.all(np.diff(g) > 0)
    np.testing.assert_array_equal(runner.stride_grid(10, 4), [0, 4, 8, 10])
    with pytest.raises(ValueError):
        runner.log_grid(0)
    with pytest.raises(ValueError):
        runner.stride_grid(10, 0)


@pytest.mark.parametrize("num_steps,chunk", [(10, 3), (12, 4), (7, 100)])
def test_records_exact_iterates_on_grid(num_steps, chunk):
    """x_k = k for the counter, so the recorded metric equals the recorded step."""
    record = [0, 1, 2, 5, num_steps]
    trace = jax.jit(lambda: runner.run(_counter_step, jnp.float32(0.0), num_steps, metrics=lambda s: {"x": s},
                                       record=record, chunk=chunk))()
    np.testing.assert_array_equal(trace.steps, record)
    np.testing.assert_array_equal(trace.metrics["x"], record)
    assert float(trace.state) == num_steps and int(trace.diverged_at) == -1 and int(trace.stopped_at) == -1


def _noise_run(record, key, num_steps=2500):
    sample = lambda k, n: jax.random.normal(k, (n,))  # noqa: E731
    return runner.run(_counter_step, jnp.float32(0.0), num_steps, metrics=lambda s: {"x": s},
                      record=record, key=key, sample=sample, chunk=1000)


def test_noise_stream_does_not_depend_on_record_grid(getkey):
    key = getkey()
    a = jax.jit(functools.partial(_noise_run, [0, 2500]))(key)
    b = jax.jit(functools.partial(_noise_run, runner.log_grid(2500, 30)))(key)
    np.testing.assert_allclose(a.state, b.state, rtol=1e-6)
    np.testing.assert_allclose(b.metrics["x"][-1], a.metrics["x"][-1], rtol=1e-6)


def test_noise_is_the_bulk_draw_of_each_chunk(getkey):
    """x_T = sum of noise: chunk c uses sample(fold_in(key, c), chunk)."""
    key = getkey()
    trace = jax.jit(functools.partial(_noise_run, [0, 2500]))(key)
    draws = [jax.random.normal(jax.random.fold_in(key, c), (n,)) for c, n in [(0, 1000), (1, 1000), (2, 500)]]
    np.testing.assert_allclose(trace.state, sum(float(d.sum()) for d in draws), atol=1e-3)  # float32 sum of 2500


def test_divergence_reported_at_first_nonfinite_step():
    """x_{k+1} = 10 x_k from 1 overflows float32 (max 3.4e38) at k = 39."""
    trace = jax.jit(lambda: runner.run(lambda s, k, _: 10.0 * s, jnp.float32(1.0), 60,
                                       metrics=lambda s: {"x": s}))()
    assert int(trace.diverged_at) == 39


def test_custom_divergence_threshold():
    trace = jax.jit(lambda: runner.run(lambda s, k, _: 2.0 * s, jnp.float32(1.0), 30, metrics=lambda s: {"x": s},
                                       diverged=lambda s: s > 1e6))()
    assert int(trace.diverged_at) == 20  # 2^20 > 1e6 > 2^19


def test_early_stop_freezes_state_inside_scan():
    """x_{k+1} = x_k / 2 from 1, stop when x < 1e-3: stops at k = 10 and stays at 2^-10."""
    trace = jax.jit(lambda: runner.run(lambda s, k, _: s / 2, jnp.float32(1.0), 50, metrics=lambda s: {"x": s},
                                       record=[0, 10, 50], stop=lambda s: s < 1e-3))()
    assert int(trace.stopped_at) == 10
    np.testing.assert_allclose(trace.metrics["x"], [1.0, 2.0**-10, 2.0**-10])


def test_early_stop_under_vmap_is_per_seed():
    def fn(rate):
        return runner.run(lambda s, k, _: s * rate, jnp.float32(1.0), 50, metrics=lambda s: {"x": s},
                          stop=lambda s: s < 2e-3)
    trace = jax.jit(jax.vmap(fn))(jnp.asarray([0.5, 0.1]))
    np.testing.assert_array_equal(trace.stopped_at, [9, 3])  # 0.5^9 = 1.95e-3, 0.1^3 = 1e-3


def test_gd_on_quadratic_matches_closed_form():
    """GD on f = 1/2 a x^2 from x0: x_k = (1 - gamma a)^k x0."""
    opt = optim.gd(0.1)
    state = runner.optimizer_init(jnp.float32(2.0), opt, average=True)
    step = runner.optimizer_step(lambda x, _: 3.0 * x, opt)
    trace = jax.jit(lambda s: runner.run(step, s, 20, metrics=lambda s: {"x": s.params, "avg": s.average.mean},
                                         record=range(21)))(state)
    xs = 2.0 * 0.7 ** np.arange(21)
    np.testing.assert_allclose(trace.metrics["x"], xs, rtol=1e-5)
    np.testing.assert_allclose(trace.metrics["avg"], np.cumsum(xs) / np.arange(1, 22), rtol=1e-5)


def _seed_fn(key, scale):
    """A short noisy run for sweep tests: x_T = scale * sum of noise."""
    trace = runner.run(lambda s, k, n: s + scale * n, jnp.float32(0.0), 300, metrics=lambda s: {"x": s},
                       key=key, sample=lambda k, n: jax.random.normal(k, (n,)), chunk=64)
    return trace.state


def test_sweep_equals_per_seed_loop(getkey):
    keys = jax.random.split(getkey(), 5)
    swept = runner.sweep(_seed_fn, keys, 2.0)
    looped = jnp.stack([jax.jit(_seed_fn)(k, 2.0) for k in keys])
    np.testing.assert_allclose(swept, looped, rtol=1e-5, atol=1e-5)


def _axes_fn(key, hp, offset):
    return _seed_fn(key, hp["scale"]) + hp["shift"] + offset


def test_sweep_over_named_axes_equals_one_sweep_per_value(getkey):
    keys = jax.random.split(getkey(), 4)
    axes = {"scale": [0.5, 2.0, 3.0], "shift": [0.0, 10.0]}
    out = runner.sweep(_axes_fn, keys, 1.0, axes=axes)
    assert out.shape == (3, 2, 4)
    for i, scale in enumerate(axes["scale"]):
        for j, shift in enumerate(axes["shift"]):
            single = runner.sweep(_seed_fn, keys, scale) + shift + 1.0
            np.testing.assert_allclose(out[i, j], single, rtol=1e-6, atol=1e-6)


def _deterministic(hp, x0):
    return runner.run(lambda s, k, n: s - hp["lr"] * s, x0, 10, metrics=lambda s: {"x": s}).state


def test_grid_is_a_sweep_without_seeds():
    lrs = np.array([0.1, 0.5], np.float32)
    out = runner.grid(_deterministic, {"lr": lrs}, jnp.float32(1.0))
    assert out.shape == (2,)
    np.testing.assert_allclose(out, (1 - lrs) ** 10, rtol=1e-5)


def test_sweep_refuses_bad_keys_and_axes():
    with pytest.raises(ValueError, match="typed PRNG keys"):
        runner.sweep(_seed_fn, jnp.arange(4), 1.0)
    with pytest.raises(ValueError, match="axis 'lr'"):
        runner.sweep(_axes_fn, runner.seed_keys(0, 2), 1.0, axes={"lr": []})
    with pytest.raises(ValueError, match="axis 'lr'"):
        runner.sweep(_axes_fn, runner.seed_keys(0, 2), 1.0, axes={"lr": ["a", "b"]})


def test_bad_run_arguments_raise():
    with pytest.raises(ValueError, match="num_steps"):
        runner.run(_counter_step, jnp.float32(0.0), 0, metrics=lambda s: {"x": s})
    with pytest.raises(ValueError, match="record steps"):
        runner.run(_counter_step, jnp.float32(0.0), 5, metrics=lambda s: {"x": s}, record=[0, 6])
    with pytest.raises(ValueError, match="key"):
        runner.run(_counter_step, jnp.float32(0.0), 5, metrics=lambda s: {"x": s}, sample=lambda k, n: None)
    with pytest.raises(ValueError, match="seeds"):
        runner.seed_keys(0, 0)


def test_sweep_with_compiler_options_gives_the_same_numbers():
    options = runner.small_reductions_options()
    assert options == (runner.YNNPACK_DOTS_ONLY if jax.default_backend() == "cpu" else {})
    keys = runner.seed_keys(3, 5)
    fn = functools.partial(_noisy_sum, 200)
    plain, tuned = runner.sweep(fn, keys), runner.sweep(fn, keys, compiler_options=options)
    np.testing.assert_allclose(tuned, plain, rtol=1e-6)
    assert sweeps._vmapped(fn, 0, tuple(options.items())) is not sweeps._vmapped(fn, 0)  # compiled apart


def _noisy_sum(n, key):
    x = jax.random.normal(key, (n, 3))
    return jnp.sum(x[:, :, None] * x[:, None, :], axis=(0, 1))
