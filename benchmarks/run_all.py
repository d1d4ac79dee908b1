"""Run every benchmark with modest sizes, one after the other, and print their tables (< 3 minutes).

    .venv/bin/python benchmarks/run_all.py [--quick]

``--quick`` uses tiny sizes (a smoke run: the figures are then only indicative). Each script runs in its own
process, as a user would run it; a script whose prerequisites are missing (node, built contracts, Alto)
prints why and the others go on.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from _common import ROOT

BENCHMARKS: list[tuple[str, list[str], list[str]]] = [
    # (script, modest arguments, --quick arguments)
    ("client_throughput.py", ["-n", "1000"], ["-n", "20"]),
    ("rp_verification.py", ["-n", "1000"], ["-n", "20"]),
    ("store_ceremonies.py", ["-n", "200"], ["-n", "8", "--workers", "1", "2"]),
    ("gas_validation.py", [], []),
    ("round_trips.py", [], ["--no-bundler"]),
    ("web3_transport.py", ["-n", "200"], ["-n", "10"]),
    (
        "concurrency.py",
        ["--per-account", "3"],
        ["--accounts", "5", "--per-account", "1", "--levels", "1", "5", "--sign-n", "20"],
    ),
    (
        "passkey_user_operations.py",
        ["--accounts", "100", "--per-bundle", "50"],
        ["--accounts", "4", "--per-bundle", "2"],
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(description="run every benchmark")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    args = parser.parse_args()
    failed = []
    for script, modest, quick in BENCHMARKS:
        print(f"===== {script} {' '.join(quick if args.quick else modest)}", flush=True)
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / script), *(quick if args.quick else modest)], cwd=ROOT
        )
        print(f"----- {script}: {time.perf_counter() - start:.1f} s, exit {result.returncode}\n", flush=True)
        if result.returncode:
            failed.append(script)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
