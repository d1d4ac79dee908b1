"""The example served by several uvicorn workers on one PostgreSQL, as a child process of the test.

uvicorn's supervisor installs signal handlers, so it must run in a main thread: the example runs as its own
process (``python -m examples.dapp_backend --workers N``, or ``running_example(workers=N)`` with chosen
limits), and the test reaches it over HTTP on 127.0.0.1 and reads its database by URL.

With ``SSO_EXAMPLE_EXPOSE_WORKER=1`` every response carries the answering worker's pid
(``X-Example-Worker``) and closes its connection. A test pins a request to a worker by stopping the
other ones (SIGSTOP) until it is answered: the kernel hands a new connection only to a worker that is
running. Without pinning, an idle server's next connection almost always goes to the same worker (the one
woken last), so a ceremony would rarely cross workers by chance.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
WORKER_HEADER = "x-example-worker"

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from examples.dapp_backend import Limits, running_example
    limits = Limits(**json.loads(sys.argv[3]))
    store, workers, bundler = sys.argv[1], int(sys.argv[2]), sys.argv[4] == "bundler"
    with running_example(store=store, workers=workers, limits=limits, bundler=bundler) as example:
        print(f"anvil chain {example.chain_id} at {example.node_url}", flush=True)
        print(f"open {example.server.origin}/ in a browser", flush=True)
        example.server.serve_forever()
    """
)


@dataclass
class WorkersExample:
    """A running multi-worker example: its origin, port, store URL, and the process tree's root."""

    process: subprocess.Popen[str]
    origin: str
    store: str
    output: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.origin.rsplit(":", 1)[1])

    @property
    def server(self) -> WorkersExample:
        """Itself: the shape :class:`~tests.browser.example_client.PageClient` reads (``server.origin``)."""
        return self

    def worker_pids(self) -> set[int]:
        """The uvicorn worker processes (children of the example's process that run uvicorn)."""
        found = set()
        for child in Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:  # not multiprocessing's resource tracker, not anvil
                found.add(int(child))
        return found


def _wait_for_origin(process: subprocess.Popen[str], lines: list[str], timeout: float) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the example exited: {''.join(lines)}")
        lines.append(line)
        match = re.search(r"open (http://localhost:\d+)/", line)
        if match:
            return match.group(1)
    raise RuntimeError(f"the example did not start in {timeout} s: {''.join(lines)}")


@contextmanager
def workers_example(
    store: str,
    *,
    workers: int = 2,
    limits: dict[str, Any] | None = None,
    cli: bool = False,
    bundler: bool = False,
) -> Iterator[WorkersExample]:
    """Start the example with ``workers`` uvicorn workers on ``store``; stop it (SIGTERM) on exit.

    Args:
        store: The store URL every worker opens.
        workers: Worker processes.
        limits: :class:`~examples.dapp_backend.Limits` fields (the defaults when None).
        cli: Start it through the command line (``--workers``, ``--store``) rather than the script above.
        bundler: Start Alto too (the ERC-4337 stack) and send UserOperations through it.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO), "SSO_EXAMPLE_EXPOSE_WORKER": "1"}
    if cli:
        if limits is not None:
            raise ValueError("the command line takes no limits")
        command = [sys.executable, "-m", "examples.dapp_backend", "--port", "0", "--store", store]
        command += ["--workers", str(workers)] + (["--bundler"] if bundler else [])
    else:
        command = [sys.executable, "-c", _SCRIPT, store, str(workers), json.dumps(limits or {})]
        command.append("bundler" if bundler else "-")
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    try:
        origin = _wait_for_origin(process, lines, 60)
        example = WorkersExample(process, origin, store, lines)
        _wait_for_workers(example, workers, 30)
        yield example
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # uvicorn stops its workers, then the example its anvil
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _wait_for_workers(example: WorkersExample, count: int, timeout: float) -> None:
    """Until ``count`` workers said they serve (each prints a line once its app is built)."""
    assert example.process.stdout is not None
    deadline = time.monotonic() + timeout
    ready: set[int] = set()
    while len(ready) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} workers did not start in {timeout} s: {''.join(example.output)}")
        line = example.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the example exited: {''.join(example.output)}")
        example.output.append(line)
        match = re.match(r"worker (\d+) serving", line)
        if match:
            ready.add(int(match.group(1)))
    # Keep reading its output (else a full pipe would block the example's processes).
    threading.Thread(target=_drain, args=(example,), daemon=True).start()
    assert ready == example.worker_pids(), (ready, example.worker_pids())


def _drain(example: WorkersExample) -> None:
    assert example.process.stdout is not None
    for line in example.process.stdout:
        example.output.append(line)


@contextmanager
def pinned_away_from(*pids: int) -> Iterator[None]:
    """Stop the workers ``pids`` while the block runs: new connections go to the other workers.

    Kept short (uvicorn's supervisor restarts a worker that does not answer its ping for 5 s).
    """
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
