#!/usr/bin/env python
"""The long fuzz campaign over every parser and encoder target of conformance.fuzz_targets.

    .venv/bin/python scripts/fuzz_campaign.py                       # 1,000,000 examples over all targets
    .venv/bin/python scripts/fuzz_campaign.py --examples 50000 --jobs 2 --match der
    .venv/bin/python scripts/fuzz_campaign.py --examples 20000 --match hostile_   # the issue #14 targets

The total is split evenly over the selected targets and the targets over ``--jobs`` worker processes. Each
target prints the examples it ran (Hypothesis may stop early when it has exhausted a small input space) and
its time; a failure prints the falsifying example Hypothesis found and makes the exit status 1. Each target
runs in a worker process of its own: a worker that dies (the hostile-input targets run with the recursion
limit py_ecc sets, where a parser recursing without bound overruns the C stack) is reported as a failure of
its target, not a hang.
"""

from __future__ import annotations

import argparse
import multiprocessing
import pathlib
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, given, seed, settings

from conformance.fuzz_targets import TARGETS, FuzzTarget, run_check


def _run(job: tuple[str, int, int | None]) -> tuple[str, int, float, str | None]:
    name, examples, chosen_seed = job
    target: FuzzTarget = next(t for t in TARGETS if t.name == name)
    count = 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(target.strategy)
    def prop(value: object) -> None:
        nonlocal count
        count += 1
        run_check(target, value)

    if chosen_seed is not None:
        prop = seed(chosen_seed)(prop)
    start = time.perf_counter()
    try:
        prop()
    except Exception:  # noqa: BLE001 - any escape is the finding to print
        return name, count, time.perf_counter() - start, traceback.format_exc(limit=6)
    return name, count, time.perf_counter() - start, None


def _isolated(job: tuple[str, int, int | None]) -> tuple[str, int, float, str | None]:
    """Run one target in a process of its own, so that a crash is pinned on the target that caused it."""
    with ProcessPoolExecutor(1) as pool:
        try:
            return pool.submit(_run, job).result()
        except BrokenProcessPool:
            return job[0], 0, 0.0, "the worker process died: a crash, not an exception (see its stderr)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--examples", type=int, default=1_000_000, help="total examples (default 1,000,000)")
    parser.add_argument(
        "--jobs", type=int, default=max(1, multiprocessing.cpu_count()), help="worker processes"
    )
    parser.add_argument("--match", default="", help="only targets whose name contains this")
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random)")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    args = parser.parse_args(argv)
    targets = [t for t in TARGETS if args.match in t.name]
    if args.list or not targets:
        for t in targets:
            print(f"{t.name}{'  (round trip)' if t.roundtrip else ''}")
        return 0 if targets else 2
    per_target = max(1, -(-args.examples // len(targets)))  # rounded up: the total is at least --examples
    print(
        f"fuzz campaign: {len(targets)} targets x {per_target:,} examples, {args.jobs} jobs, seed {args.seed}"
    )
    start = time.perf_counter()
    failures = 0
    total = 0
    jobs = [(t.name, per_target, args.seed) for t in targets]
    with ThreadPoolExecutor(args.jobs) as threads:
        for name, count, seconds, error in threads.map(_isolated, jobs):
            total += count
            status = "ok" if error is None else "FAILED"
            print(f"  {name:<42} {count:>10,} examples  {seconds:>7.1f}s  {status}", flush=True)
            if error is not None:
                failures += 1
                print(error)
    elapsed = time.perf_counter() - start
    print(f"total: {total:,} examples in {elapsed:.0f}s, {failures} failing target(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
