"""ManagedProcess / ProcessOwner: what a start that loses its port to another process leaves behind."""

from __future__ import annotations

import pathlib
import socket
import sys
import tempfile
from collections.abc import Iterator

import pytest

from sso_signer.node import _process
from sso_signer.node._process import ManagedProcess, ProcessOwner

# Binds the port it is given and serves it until stopped; says EADDRINUSE and exits if it is taken.
_SERVER = """
import socket, sys, time
sock = socket.socket()
try:
    sock.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    print("listen EADDRINUSE: address already in use", flush=True)
    sys.exit(1)
sock.listen()
print("secret banner 0x" + "ab" * 32, flush=True)
while True:
    time.sleep(1)
"""


class _Server(ProcessOwner):
    name = "server"

    def start(self) -> _Server:
        self._spawn_on_free_port(
            None,
            lambda port: ManagedProcess(self.name, [sys.executable, "-c", _SERVER, str(port)]),
            _answers,
            10.0,
            port_taken="eaddrinuse",
        )
        return self


def _answers(url: str) -> bool:
    try:
        socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=0.2).close()
    except OSError:
        return False
    return True


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: nothing answers there
        yield int(sock.getsockname()[1])


def test_port_retry_leaves_no_log_of_the_failed_attempt(
    taken_port: int, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process takes the chosen port first: the retry succeeds on another port, and the failed
    attempt's log (unredacted output: a node's banner, dev keys) is deleted, not left in the temp dir."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ports = iter([taken_port])
    real = _process.free_port
    chosen: list[int] = []

    def first_taken() -> int:
        chosen.append(next(ports, None) or real())
        return chosen[-1]

    monkeypatch.setattr(_process, "free_port", first_taken)
    with _Server() as server:
        assert chosen[0] == taken_port  # the first attempt lost its port
        assert len(chosen) == 2
        assert server.url.endswith(f":{chosen[1]}")
        assert [p.name for p in tmp_path.iterdir()] == [pathlib.Path(str(server.log_path)).name]
    assert list(tmp_path.iterdir()) == []


def test_redact_blanks_a_secret_in_any_letter_case() -> None:
    """A hex key is the same key in upper or lower case (a checksummed or upper-cased echo of it)."""
    secret = "0x" + "aB" * 32
    text = f"executor {secret.lower()}, utility {secret.upper()[2:]}, again 0X{secret[2:].upper()}"
    assert "ab" * 8 not in _process.redact(text, [secret]).lower()
