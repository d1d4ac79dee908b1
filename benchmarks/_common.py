"""Shared helpers of the benchmark scripts: timing, tables, the repository root on ``sys.path``.

Not part of the SDK: the scripts under ``benchmarks/`` print figures, they assert nothing.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))


def best_rate(work: Callable[[int], object], n: int, *, repeats: int = 3) -> float:
    """Run ``work(n)`` ``repeats`` times and return the best rate in items per second.

    The best of a few runs is the least disturbed by the other processes on a shared machine.

    Args:
        work: Does ``n`` items of work.
        n: Items per run.
        repeats: Number of timed runs.

    Returns:
        ``n / seconds`` of the fastest run.
    """
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        work(n)
        seconds.append(time.perf_counter() - start)
    return n / min(seconds)


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return float(statistics.median(values))


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a plain-text table, right-aligning every column but the first.

    Args:
        title: A line printed above the table.
        header: Column names.
        rows: Cells; floats are printed with thousands separators and one decimal.
    """

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(header)]
    print(title)

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)

    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in text:
        print(line(row))
    print()


def node_binary() -> str | None:
    """The ``node`` executable, or None when it is not on PATH."""
    return shutil.which("node")


def emit(figures: Any, print_figures: Callable[[Any], None], *, as_json: bool) -> None:
    """Print a script's figures: as JSON (a dataclass, or a list of them) or as its tables."""
    if as_json:
        data = [asdict(f) for f in figures] if isinstance(figures, list) else asdict(figures)
        print(json.dumps(data, indent=1))
    else:
        print_figures(figures)
