"""Progress from inside compiled runs: same numbers, one tick per step of progress (not per seed), the host side."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import checkpoint, progress, sweeps
from jaxopt_course import run as runner


def _sgd_trace(key, hp, num_steps: int, chunk: int):
    """A tiny SGD on f(x) = mean_i (x - a_i)^2 / 2 with a random index per step."""
    a = jnp.linspace(-1.0, 1.0, 5)

    def sgd(x, k, i):
        """x_{k+1} = x_k - lr (x_k - a_i)."""
        return x - hp["lr"] * (x - a[i])

    return runner.run(sgd, jnp.float32(3.0), num_steps, key=key, sample=lambda k, n: jax.random.randint(k, (n,), 0, 5),
                      chunk=chunk, metrics=lambda x: {"x": x, "f": jnp.mean((x - a) ** 2) / 2},
                      record=runner.stride_grid(num_steps, 7))


@pytest.fixture
def ticks(monkeypatch):
    """The (done, total) pairs the host tasks receive, in arrival order (spied on Task.update: compiled programs
    keep the callback they were traced with)."""
    seen = []
    original = progress.Task.update

    def spy(self, site, done, total):
        seen.append((done, total))
        original(self, site, done, total)

    monkeypatch.setattr(progress.Task, "update", spy)
    return seen


def _sweep(num_steps, chunk, seeds=6, **kw):
    fn = functools.partial(_sgd_trace, num_steps=num_steps, chunk=chunk)
    out = sweeps.sweep(fn, runner.seed_keys(0, seeds), axes={"lr": np.array([0.05, 0.2])}, **kw)
    return jax.tree.map(np.asarray, jax.block_until_ready(out))


@pytest.mark.parametrize("num_steps,chunk,expected", [  # a tick every few chunks: see the checkpoint test
    (103, 4, list(range(4, 101, 4)) + [103]),  # 25 full chunks: one tick each, then a partial one ending at T
    (250, 100, list(range(3, 250, 3)) + [250]),  # 2 chunks: ticks inside them, every 3 steps (~1%), and at T
])
def test_same_numbers_and_one_tick_per_percent_under_vmap_not_one_per_replicate(ticks, num_steps, chunk, expected):
    with progress.enabled_as(True):
        on = _sweep(num_steps, chunk)  # 2 step sizes x 6 seeds: 12 replicates
    assert [d for d, _ in ticks] == expected  # in order on one device, once per tick
    assert all(t == num_steps for _, t in ticks)
    with progress.enabled_as(False):  # each way of ticking (after chunks, inside them, in a last partial one) ...
        off = _sweep(num_steps, chunk)
    for a, b in zip(jax.tree.leaves(off), jax.tree.leaves(on)):  # ... changes no number
        np.testing.assert_array_equal(a, b)


def test_a_run_outside_sweeps_reports_to_a_task_of_its_own(ticks):
    with progress.enabled_as(True):
        trace = jax.jit(_sgd_trace, static_argnums=(2, 3))(jax.random.key(3), {"lr": 0.1}, 200, 20)
    jax.block_until_ready(trace)
    assert ticks and ticks[-1] == (200, 200)
    assert progress.current() is None  # the run's own task closed itself at step T


def test_off_means_no_callback_in_the_program():
    def lower():
        return jax.jit(_sgd_trace, static_argnums=(2, 3)).lower(jax.random.key(0), {"lr": 0.1}, 200, 10)

    with progress.enabled_as(False):
        assert "callback" not in lower().as_text()
    with progress.enabled_as(True):
        assert "callback" in lower().as_text()


def test_jit_caches_keyed_on_the_setting_and_fingerprints_unchanged(ticks):
    """The same jitted sweep function serves both settings, with one program each (the 103-step sweep above)."""
    def call():
        return functools.partial(sweeps._with_axes, functools.partial(_sgd_trace, num_steps=103, chunk=4))

    keys = runner.seed_keys(0, 6)
    batch = (keys, {"lr": np.full(6, 0.1)})
    with progress.enabled_as(False):
        compiled = sweeps._vmapped(call(), 0)
        off = _sweep(103, 4)
        off_print = checkpoint.fingerprint(call(), batch, (), 6)
    assert ticks == []
    with progress.enabled_as(True):
        assert sweeps._vmapped(call(), 0) is compiled
        on = _sweep(103, 4)  # traced again, now with the hook
        on_print = checkpoint.fingerprint(call(), batch, (), 6)
    assert ticks[-1] == (103, 103) and on_print == off_print
    del ticks[:]
    with progress.enabled_as(False):
        again = _sweep(103, 4)  # and the program without it is found again
    assert ticks == []
    for a, b, c in zip(jax.tree.leaves(off), jax.tree.leaves(on), jax.tree.leaves(again)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_checkpointed_chunks_make_one_task_with_one_pass_each(tmp_path, monkeypatch):
    seen = []
    original = progress.Task.update

    def spy(self, site, done, total):
        original(self, site, done, total)
        seen.append((self.label, self.passes, self.passes_done, self.fraction(), done))

    monkeypatch.setattr(progress.Task, "update", spy)
    policy = checkpoint.Policy(tmp_path / "chunks", chunk_seeds=4).prepare()
    with progress.enabled_as(True):
        _sweep(410, 2, seeds=6, checkpoint=policy)  # 12 runs in chunks of 4: 3 passes
    assert {(label, passes) for label, passes, *_ in seen} == {("sweep of 12 runs", 3)}
    per_pass = list(range(6, 409, 6)) + [410]  # 205 chunks of 2 steps: a tick every 3 chunks (~1%), and at T
    assert [done for *_, done in seen] == per_pass * 3
    fractions = [f for *_, f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and seen[-1][2] == 3
    assert fractions[len(per_pass) - 1] == pytest.approx(1 / 3)


def test_task_fraction_passes_and_time_left(monkeypatch):
    clock = iter([0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    task = progress.Task("t", passes=2, log_every=1e9)  # t = 0
    task.update(0, 25, 100)  # t = 10: first tick
    assert task.fraction() == 0.125 and task.remaining(10.0) is None
    task.update(0, 75, 100)  # t = 20
    assert task.fraction() == 0.375
    assert task.remaining(20.0) == pytest.approx(0.625 * 10 / 0.25)  # rate since the first tick: 2.5% per second
    task.update(0, 100, 100)  # t = 30: the first pass is complete
    assert task.passes_done == 1 and task.fraction() == 0.5
    task.skip_pass()
    assert task.fraction() == 1.0


def test_non_terminal_stderr_gets_periodic_lines(capsys, monkeypatch):
    monkeypatch.setattr(progress, "_bar_on_stderr", lambda: False)
    task = progress.Task("sweep of 3 runs", log_every=0.0)
    task.update(0, 10, 40)
    task.update(0, 20, 40)
    err = capsys.readouterr().err
    assert "[jaxopt-course] sweep of 3 runs: 25% after 00:00" in err and "50% after" in err and "left" in err
    quiet = progress.Task("q", log_every=3600.0)
    quiet.update(0, 10, 40)
    assert capsys.readouterr().err == ""


def test_env_variable_and_cli_flag_turn_it_off(monkeypatch):
    from jaxopt_course import cli

    monkeypatch.setenv(progress.PROGRESS_ENV, "1")
    assert progress.enabled()
    monkeypatch.setenv(progress.PROGRESS_ENV, "off")
    assert not progress.enabled()
    monkeypatch.setenv(progress.PROGRESS_ENV, "1")
    try:
        cli._join_processes(cli.build_parser().parse_args(["run", "P1", "--no-progress"]))
        assert not progress.enabled()
        cli._join_processes(cli.build_parser().parse_args(["run", "P1"]))
        assert progress.enabled()  # back to the environment variable
    finally:
        progress.set_enabled(None)


def test_a_terminal_gets_a_tqdm_bar_with_elapsed_and_time_left(capsys, monkeypatch):
    monkeypatch.setattr(progress, "_bar_on_stderr", lambda: True)
    task = progress.Task("sweep of 3 runs")
    task.update(0, 10, 40)
    assert task.bar is not None and task.bar.n == 25
    task.update(0, 40, 40)  # the pass is complete
    assert task.bar.n == 100
    task.close()
    err = capsys.readouterr().err
    assert "sweep of 3 runs:   0%|" in err and " elapsed, ? left" in err and task.bar is None  # redrawn at most 10/s
