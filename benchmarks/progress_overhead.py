"""The cost of progress reporting from inside compiled runs, on P3's full sweep.

P3 (degrees 3 and 9, three schedules, 100 seeds, T = 10^5 N = 700,000 SGD steps per
run: 4.2e8 replicate-iterations) timed with progress off (the compiled program has
no callback) and on (a host callback about once per percent of each run, a tqdm bar
or a line every 30 s), compile excluded, the two settings interleaved and the best
of ``--repeats`` kept. The target: at most 2% slower with progress on.

    python benchmarks/progress_overhead.py [--smoke] [--repeats N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, print_table, write_json  # noqa: E402

from jaxopt_course import progress  # noqa: E402
from jaxopt_course.experiments.least_squares import p3_sgd as P3  # noqa: E402

SMOKE = P3.Config(degrees=(3,), schedules=("constant",), steps_per_point=300, seeds=4, num_records=10)


def timed_run(config: P3.Config, on: bool) -> tuple[float, int]:
    """(seconds, host ticks received) of one P3 run with progress on or off (compiled beforehand)."""
    ticks = []
    original = progress.Task.update

    def counting(self, site, done, total):
        ticks.append(done)
        original(self, site, done, total)

    progress.Task.update = counting
    try:
        with progress.enabled_as(on):
            start = time.perf_counter()
            jax.block_until_ready(P3.run(config, jax.random.key(0)).data.gap.values)
            return time.perf_counter() - start, len(ticks)
    finally:
        progress.Task.update = original


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check that it runs")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per setting (default 2)")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else P3.Config()
    for on in (False, True):  # compile both programs first
        timed_run(config, on)
    times = {False: [], True: []}
    ticks = 0
    for _ in range(max(1, args.repeats)):
        for on in (False, True):
            seconds, count = timed_run(config, on)
            times[on].append(seconds)
            ticks = max(ticks, count)
    steps = len(config.degrees) * len(config.schedules) * config.seeds * config.steps_per_point * 7
    rows = [{"progress": "on" if on else "off", "best_s": min(times[on]), "all_s": [round(t, 3) for t in times[on]],
             "rate_M_per_s": steps / min(times[on]) / 1e6, "host_ticks": ticks if on else 0} for on in (False, True)]
    overhead = 100.0 * (min(times[True]) / min(times[False]) - 1.0)
    print(f"\nP3 {'smoke' if args.smoke else 'full'} sweep: {steps:.3g} replicate-iterations; progress overhead "
          f"{overhead:+.2f}% (target <= 2%)")
    print_table(rows, ["progress", "best_s", "rate_M_per_s", "host_ticks", "all_s"])
    payload = {"benchmark": "progress_overhead", "smoke": args.smoke, "machine": machine(),
               "replicate_iterations": steps, "overhead_percent": overhead, "rows": rows}
    path = write_json("progress_overhead_smoke" if args.smoke else "progress_overhead", payload)
    print(f"\nwritten {path}")
    return payload


if __name__ == "__main__":
    main()
