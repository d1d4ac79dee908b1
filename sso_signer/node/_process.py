"""A child process with a log file, readiness wait and clean shutdown (anvil, anvil-zksync, Alto)."""

from __future__ import annotations

import contextlib
import functools
import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Self

from sso_signer._toolchain import TOOLS, locate_tool
from sso_signer.exceptions import ErrorCode, NodeStartFailed, StateError, ToolNotFound

__all__ = ["ManagedProcess", "ProcessOwner", "find_executable", "free_port", "redact"]

_KEY_LINE = re.compile(r"(\(\d+\)\s+)(0x)?[0-9a-fA-F]{64}")
_MNEMONIC_LINE = re.compile(r"(Mnemonic:\s*).*", re.IGNORECASE)
_ERROR_LINE = re.compile(r"\berror\b|\bpanic|\bfatal\b|address already in use|EADDRINUSE", re.IGNORECASE)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove private keys and mnemonics from process output before it reaches an error message or a log.

    Args:
        text: The output.
        secrets: Exact strings to blank out as well (keys passed on a command line).

    Returns:
        The text with anvil-style numbered key lines, mnemonic lines and each secret replaced.
    """
    for secret in secrets:
        if secret:
            # Hex is one value in either letter case, with or without its prefix: blank every spelling.
            body = secret[2:] if secret[:2].lower() == "0x" and len(secret) > 2 else secret
            text = re.sub(f"(?:0x)?{re.escape(body)}", "<redacted>", text, flags=re.IGNORECASE)
    text = _KEY_LINE.sub(r"\1<redacted>", text)
    return _MNEMONIC_LINE.sub(r"\1<redacted>", text)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (callers retry if another process takes it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_executable(given: str | os.PathLike[str] | None, name: str) -> str:
    """Resolve the executable ``name``, or the path or command ``given`` for it.

    A tool of the local stack (anvil, alto...) is looked for as :func:`~sso_signer._toolchain.locate_tool`
    documents; any other program (``node``, ``anvil-zksync``) is ``given`` or ``name`` on ``PATH``.

    Raises:
        ToolNotFound (``NODE_BINARY_NOT_FOUND``): If it is not found; the message says how to install it.
    """
    if name in TOOLS:
        return locate_tool(
            name, given, error=functools.partial(ToolNotFound, rule=ErrorCode.NODE_BINARY_NOT_FOUND)
        )
    found = shutil.which(str(given if given is not None else name))
    if found:
        return found
    if given is not None:
        raise ToolNotFound(
            f"{name}: {given} is not an executable file", tool=name, rule=ErrorCode.NODE_BINARY_NOT_FOUND
        )
    hint = _INSTALL_HINTS.get(name, "install it or pass its path")
    raise ToolNotFound(f"{name} not found on PATH: {hint}", tool=name, rule=ErrorCode.NODE_BINARY_NOT_FOUND)


_INSTALL_HINTS = {
    "node": "install Node.js 20 or later (Alto runs on it)",
    "anvil-zksync": "install the anvil-zksync binary and put it on PATH",
}


def _stop_process(proc: subprocess.Popen[bytes], timeout: float) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()  # reap it: no zombie is left behind


class ManagedProcess:
    """One child process: output to a private temp log file, stopped with terminate-then-kill.

    A finalizer stops the process if the owner is garbage-collected or the interpreter exits without
    ``stop()``, so a crashed test session does not leave nodes running.

    Args:
        name: A short name for logs and errors (``anvil``).
        argv: The command line.
        env: Extra environment variables (merged over the current environment).
        secrets: Strings to redact from any log text that leaves this object.
        keep_logs: Keep the log file after ``stop()`` (default: delete it).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        keep_logs: bool = False,
        cwd: str | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self._env = dict(env or {})
        self._secrets = tuple(secrets)
        self.keep_logs = keep_logs
        self._cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: pathlib.Path | None = None
        self._finalizer: weakref.finalize[..., ManagedProcess] | None = None

    @property
    def running(self) -> bool:
        """``True`` while the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id, once started."""
        return self.proc.pid if self.proc is not None else None

    def spawn(self) -> None:
        """Start the process with its output going to a fresh temp log file (mode 0600)."""
        fd, path = tempfile.mkstemp(prefix=f"sso-signer-{self.name}-", suffix=".log")
        self.log_path = pathlib.Path(path)
        try:
            with os.fdopen(fd, "wb") as log_file:
                self.proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **self._env},
                    cwd=self._cwd,
                )
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.log_path.unlink()  # nothing was logged: leave no empty file behind
            raise NodeStartFailed(f"{self.name}: cannot execute {self.argv[0]}: {exc}") from exc
        self._finalizer = weakref.finalize(self, _stop_process, self.proc, 2.0)

    def log_text(self, *, tail: int | None = None) -> str:
        """The process output so far, redacted; the last ``tail`` lines if given."""
        text = self.raw_log()
        if tail is not None:
            text = "\n".join(text.splitlines()[-tail:])
        return redact(text, self._secrets)

    def raw_log(self) -> str:
        """The unredacted output (for parsing the node's own banner; never put it in an error)."""
        if self.log_path is None:
            return ""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_ready(
        self, check: Callable[[], bool], timeout: float, interval: float = 0.01, max_interval: float = 0.05
    ) -> None:
        """Poll ``check`` until it returns true.

        Raises:
            NodeStartFailed: If the process exits first or ``timeout`` passes; the process is stopped.
        """
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is None:
                raise StateError(f"{self.name}: not started", rule=ErrorCode.NODE_NOT_RUNNING)
            code = self.proc.poll()
            if code is not None:
                self.fail(f"{self.name} exited with code {code} during start-up")
            if check():
                return
            if time.monotonic() >= deadline:
                self.fail(f"{self.name} not ready within {timeout:g} s")
            time.sleep(interval)
            # Short polls: a local node is usually ready within a few hundred ms, and tests start many.
            interval = min(interval * 1.5, max_interval)

    def fail(self, message: str) -> None:
        """Stop the process and raise :class:`NodeStartFailed` with the redacted log tail."""
        lines = self.log_text().splitlines()
        # The line that names the failure is often followed by many lines of debug output: show it first.
        errors = [line for line in lines if _ERROR_LINE.search(line)][-10:]
        shown = ["(error lines)", *errors, "(last lines)"] if errors else []
        tail = "\n".join([*shown, *lines[-40:]])
        self.stop(keep_logs=True)
        where = f" (full log: {self.log_path})" if self.log_path else ""
        raise NodeStartFailed(message + where, log_tail=tail)

    def stop(self, timeout: float = 5.0, *, keep_logs: bool | None = None) -> None:
        """Terminate the process, kill it after ``timeout`` seconds, reap it; delete the log unless kept."""
        if self.proc is not None:
            _stop_process(self.proc, timeout)
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        keep = self.keep_logs if keep_logs is None else keep_logs
        if not keep and self.log_path is not None:
            with contextlib.suppress(OSError):
                self.log_path.unlink()


class ProcessOwner:
    """What a started service (a node, a bundler) shows of its :class:`ManagedProcess`, and its lifecycle."""

    name = "process"
    _process: ManagedProcess | None = None
    _port: int | None = None

    def start(self) -> Self:
        """Start the process and wait until it answers; ``self``."""
        raise NotImplementedError

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the process: terminate, kill after ``timeout`` seconds, reap. Safe to call twice."""
        if self._process is not None:
            self._process.stop(timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn_on_free_port(
        self,
        requested: int | None,
        process_for: Callable[[int], ManagedProcess],
        ready: Callable[[str], bool],
        timeout: float,
        *,
        port_taken: str,
        interval: float = 0.01,
    ) -> None:
        """Spawn ``process_for(port)`` and wait until ``ready(url)``; on a free port (``requested`` is
        ``None``) retried twice when the log says another process took the port first (``port_taken``)."""
        tries = 1 if requested else 3
        for attempt in range(1, tries + 1):
            port = requested or free_port()
            process = process_for(port)
            self._process, self._port = process, port
            process.spawn()
            url = f"http://127.0.0.1:{port}"
            try:
                process.wait_ready(functools.partial(ready, url), timeout, interval=interval)
            except NodeStartFailed:
                if attempt < tries and port_taken in process.raw_log().lower():
                    process.stop()  # fail() kept its log for the error: no error is raised, drop it
                    continue
                raise
            return

    def _require(self) -> ManagedProcess:
        if self._process is None or not self._process.running or self._port is None:
            raise StateError(
                f"{self.name} is not running; call start() or use it as a context manager",
                rule=ErrorCode.NODE_NOT_RUNNING,
            )
        return self._process

    @property
    def url(self) -> str:
        """The HTTP JSON-RPC endpoint on 127.0.0.1."""
        self._require()
        return f"http://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        """``True`` while the process is alive."""
        return self._process is not None and self._process.running

    @property
    def pid(self) -> int | None:
        """The process id, once started."""
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> str | None:
        """Path of the process's log file (deleted at ``stop()`` unless ``keep_logs``)."""
        if self._process is None or self._process.log_path is None:
            return None
        return str(self._process.log_path)

    def log_text(self, tail: int | None = None) -> str:
        """The output so far, with private keys and mnemonics redacted."""
        return self._process.log_text(tail=tail) if self._process is not None else ""
