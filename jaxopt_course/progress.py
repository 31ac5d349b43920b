"""Progress on stderr: one-line log messages, timed blocks, and progress bars fed from inside compiled runs.

A compiled ``run.run`` reports how many of its T steps are done through a host
callback (``jax.debug.callback``), at most ``MAX_TICKS`` times per run: after every
few noise chunks, or every few percent of the steps when the run has only a few
chunks. The callback's operands are the step counter alone, which does not depend on
the seed, so under ``vmap`` it fires once per tick, not once per replicate; it is
unordered (progress tolerates reordering; ordered effects would forbid sharding),
and its counter passes an optimization barrier with the carry, so a tick is sent
after the steps it counts. The hook changes no number (the state only passes through
the barrier) and nothing that the checkpoint fingerprint describes.

Whether a run reports is decided when it is traced (``enabled()``: on unless
$JAXOPT_COURSE_PROGRESS, read at trace time, is 0/off/false/no, or after
``set_enabled(False)`` / inside ``enabled_as(False)``); the setting is a
``jax.make_user_context``, so every jit cache is keyed on it. A program with the hook
is not written to JAX's persistent compilation cache (JAX does not persist host
callbacks): with the cache in mind, turn progress off for many short runs.

On the host, ticks go to the innermost open ``task`` (``sweeps.sweep`` opens one per
sweep), or to a task opened for the run and closed when it completes. A task shows a
tqdm bar with the elapsed time and an estimate of the time left when stderr is a
terminal (or a Jupyter notebook's); otherwise it logs one line every ``LOG_EVERY_S``
seconds.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import sys
import threading
import time
from contextlib import contextmanager
from typing import Optional

import jax

PROGRESS_ENV = "JAXOPT_COURSE_PROGRESS"  # 0/off/false/no: no progress hooks in compiled runs
MAX_TICKS = 100  # host callbacks per run at most (about one per percent)
MIN_CHUNK_TICKS = 20  # fewer chunks than this: tick inside the chunks, every ~1% of the steps
LOG_EVERY_S = 30.0  # seconds between progress lines when stderr is not a terminal


def log(message: str) -> None:
    """Print ``[jaxopt-course] message`` on stderr."""
    print(f"[jaxopt-course] {message}", file=sys.stderr, flush=True)


@contextmanager
def timed(message: str):
    """Log ``message ...`` on entry and ``message: done in X s`` on exit."""
    log(f"{message} ...")
    start = time.perf_counter()
    yield
    log(f"{message}: done in {time.perf_counter() - start:.2f} s")


# ----------------------------------------------------------------------------- on or off

# The setting is a JAX user context: part of every jit cache key, so that a function
# traced with the hook is never reused without it, or the other way round.
_setting = jax.make_user_context(None)  # None: as $JAXOPT_COURSE_PROGRESS says


def _from_env() -> bool:
    """$JAXOPT_COURSE_PROGRESS is not 0/off/false/no."""
    return os.environ.get(PROGRESS_ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def enabled() -> bool:
    """Whether runs traced now report progress: ``set_enabled``'s value, else $JAXOPT_COURSE_PROGRESS is not 0/off."""
    value = _setting.value
    return _from_env() if value is None else bool(value)


def set_enabled(value: Optional[bool]) -> None:
    """Turn progress reporting on or off for runs traced from now on (None: back to $JAXOPT_COURSE_PROGRESS)."""
    _setting.set_global(None if value is None else bool(value))


@contextmanager
def enabled_as(value: Optional[bool]):
    """Progress on (True) or off (False) for the runs traced inside the block."""
    with _setting(None if value is None else bool(value)):
        yield


# ----------------------------------------------------------------------------- inside the scan (traced)

_sites = itertools.count()  # one number per traced run: its ticks are told apart on the host


class Ticks:
    """The progress hooks of one traced run of T steps: ``num_chunks`` full chunks of ``chunk`` steps, then the rest.

    With MIN_CHUNK_TICKS chunks or more, ``after_chunk`` ticks after every
    ~num_chunks/100-th chunk; with fewer, ``body`` wraps the scan body to tick after
    every ~T/100-th step. The tick for step T is always sent, from inside the last
    loop (a tick outside every loop could run before the loops end). Both hooks
    return what they are given when progress is off: the traced program is then
    the same as without them.
    """

    def __init__(self, num_steps: int, chunk: int, num_chunks: int):
        self.on = enabled()
        self.total = int(num_steps)
        self.chunk = int(chunk)
        self.in_chunks = num_chunks < MIN_CHUNK_TICKS
        self.every_steps = max(1, math.ceil(num_steps / MAX_TICKS))
        self.every_chunks = max(1, math.ceil(num_chunks / MAX_TICKS))
        self.send = functools.partial(_on_tick, site=next(_sites), total=self.total)  # static: not traced

    def body(self, body, last: bool = False):
        """body followed by a tick when ticking inside chunks (or, for the ``last`` partial chunk, at step T)."""
        if not self.on or not (self.in_chunks or last):
            return body
        every = self.every_steps if self.in_chunks else self.total

        def ticking(carry, inputs):
            carry, out = body(carry, inputs)
            return self._tick(carry, inputs[0] + 1, every), out

        return ticking

    def after_chunk(self, carry, chunk_index):
        """carry, with a tick after every ``every_chunks``-th full chunk (and at step T)."""
        if not self.on or self.in_chunks:
            return carry
        return self._tick(carry, (chunk_index + 1) * self.chunk, self.every_chunks * self.chunk)

    def _tick(self, carry, done, every: int):
        """carry; sends ``done`` (steps finished: seed-independent) to the host if a multiple of ``every`` or T."""
        done, carry = jax.lax.optimization_barrier((done, carry))  # the tick waits for the steps it counts
        jax.lax.cond((done % every == 0) | (done == self.total), lambda d: jax.debug.callback(self.send, d),
                     lambda d: None, done)
        return carry


# ----------------------------------------------------------------------------- on the host

_lock = threading.RLock()
_open: list["Task"] = []  # innermost last


class Task:
    """Progress of some computation: ``passes`` compiled calls, each made of one or more runs that tick.

    A pass ends when every run that ticked in it has reported all its steps (a call
    with several runs one after the other may so count as several passes; the
    fraction shown is capped at 1).
    """

    def __init__(self, label: str, passes: int = 1, *, auto_close: bool = False, log_every: float = LOG_EVERY_S):
        self.label, self.passes, self.auto_close, self.log_every = label, max(1, int(passes)), auto_close, log_every
        self.passes_done = 0
        self.sites: dict[int, tuple[int, int]] = {}  # site -> (steps done, steps in total) in this pass
        self.start = time.perf_counter()
        self.first: Optional[tuple[float, float]] = None  # (time, fraction) at the first tick: after compiling
        self.last_log = self.start
        self.bar = None

    def fraction(self) -> float:
        """Passes done plus the current pass's share of steps done, over the passes expected (in [0, 1])."""
        done = sum(d for d, _ in self.sites.values())
        total = sum(t for _, t in self.sites.values())
        current = done / total if total else 0.0
        return min(1.0, (self.passes_done + current) / self.passes)

    def remaining(self, now: float) -> Optional[float]:
        """Seconds left at the rate measured since the first tick (None before two ticks)."""
        f = self.fraction()
        if self.first is None or now <= self.first[0] or f <= self.first[1]:
            return None
        return (1.0 - f) * (now - self.first[0]) / (f - self.first[1])

    def update(self, site: int, done: int, total: int) -> None:
        """Record that run ``site`` has ``done`` of its ``total`` steps behind it (ticks may come out of order)."""
        previous = self.sites.get(site, (0, total))[0]
        self.sites[site] = (max(previous, done), total)
        now = time.perf_counter()
        if self.first is None:
            self.first = (now, self.fraction())
        if all(d >= t for d, t in self.sites.values()):  # every run of this pass is complete
            self.end_pass()
            if self.auto_close:
                self.close()
        else:
            self._show(now)

    def end_pass(self) -> None:
        """One of the expected passes is complete."""
        self.passes_done = min(self.passes, self.passes_done + 1)
        self.sites.clear()
        self._show(time.perf_counter())

    def skip_pass(self) -> None:
        """One expected pass will not run (e.g. a checkpointed chunk reloaded from disk)."""
        self.passes = max(1, self.passes - 1)
        self.passes_done = min(self.passes_done, self.passes)

    def _show(self, now: float) -> None:
        """Move the tqdm bar (stderr a terminal or a Jupyter kernel's) or log a line every ``log_every`` seconds."""
        if _bar_on_stderr():
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=100, desc=self.label, file=sys.stderr, leave=False, dynamic_ncols=True,
                                bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} elapsed, {remaining} left")
            self.bar.update(100 * self.fraction() - self.bar.n)
        elif now - self.last_log >= self.log_every:
            self.last_log = now
            log(self.line(now))

    def line(self, now: float) -> str:
        """'label: 42% after 1:05, about 1:30 left'."""
        from tqdm import tqdm

        left = self.remaining(now)
        eta = "" if left is None else f", about {tqdm.format_interval(left)} left"
        return f"{self.label}: {100 * self.fraction():.0f}% after {tqdm.format_interval(now - self.start)}{eta}"

    def close(self) -> None:
        """Remove the bar; the task receives no more ticks."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self in _open:
            _open.remove(self)


def _bar_on_stderr() -> bool:
    """Whether stderr shows a redrawn bar: a terminal, or a Jupyter notebook's output (it honours carriage returns)."""
    return sys.stderr.isatty() or "ipykernel" in sys.modules


@contextmanager
def task(label: str, passes: int = 1):
    """A Task receiving the ticks of the runs computed inside the block (nothing when progress is off)."""
    if not enabled():
        yield None
        return
    t = Task(label, passes)
    with _lock:
        _open.append(t)
    try:
        yield t
    finally:
        with _lock:
            t.close()


def current() -> Optional[Task]:
    """The innermost open task, or None."""
    with _lock:
        return _open[-1] if _open else None


def skip_pass() -> None:
    """The innermost task expects one pass less (a checkpointed chunk reloaded instead of computed)."""
    t = current()
    if t is not None:
        t.skip_pass()


def wait(out):
    """``out`` once computed (jax.block_until_ready) while a task is open, so the task sees its runs end; else out."""
    if current() is None:
        return out
    return jax.block_until_ready(out)


def _on_tick(done, *, site: int, total: int) -> None:
    """The host callback: run ``site`` has ``done`` of ``total`` steps behind it. Never raises into XLA."""
    try:
        with _lock:
            t = _open[-1] if _open else None
            if t is None:
                t = Task(f"run of {total} steps", auto_close=True)
                _open.append(t)
            t.update(site, int(done), total)
    except Exception:  # a display problem must not end a computation
        pass
