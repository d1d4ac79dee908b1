"""A throw-away PostgreSQL server for tests and benchmarks: Debian's ``initdb`` + ``pg_ctl`` in a temp dir.

The server listens only on a Unix socket inside its own temporary directory (no TCP port to collide on),
trusts local connections, and is removed with its data when stopped. PostgreSQL refuses to run as root:
under root the server runs as the ``postgres`` system user (``runuser``), which then owns the directory.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

from sso_signer.exceptions import ConfigurationError, ErrorCode, StoreUnavailable

__all__ = ["TemporaryPostgres"]


def _bindir() -> Path:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    # Debian keeps the server binaries off PATH, one directory per major version: take the newest.
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not candidates:
        raise ConfigurationError(
            "PostgreSQL's initdb was not found (PATH, /usr/lib/postgresql/*/bin): install Debian's postgresql"
            " package (scripts/bootstrap.sh postgres)",
            rule=ErrorCode.STORE_CONFIGURATION,
        )
    return Path(candidates[-1]).parent


class TemporaryPostgres:
    """Start a private PostgreSQL server; :meth:`stop` (or leaving the ``with`` block) deletes it.

    Args:
        user: The system user to run the server as when running as root.

    Raises:
        ConfigurationError (``STORE_CONFIGURATION``): PostgreSQL is not installed, or root has no user to run
            it as.
        StoreUnavailable: ``initdb`` or ``pg_ctl start`` failed (their output is in the message).
    """

    def __init__(self, *, user: str = "postgres") -> None:
        self.bindir = _bindir()
        self._prefix: list[str] = []
        owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam(user)
            except KeyError as exc:
                raise ConfigurationError(
                    f"PostgreSQL refuses to run as root and there is no {user!r} user to run it as",
                    rule=ErrorCode.STORE_CONFIGURATION,
                ) from exc
            self._prefix = ["runuser", "-u", user, "--"]
        self.directory = Path(tempfile.mkdtemp(prefix="sso-pg-"))
        if owner is not None:
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        self.data = self.directory / "data"
        self._started = False
        try:
            self._call(
                "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"
            )
            options = f"-k {self.directory} -c listen_addresses='' -c max_connections=200"
            log = str(self.directory / "log")
            self._call("pg_ctl", "start", "-D", str(self.data), "-o", options, "-l", log, "-w")
            self._started = True
        except BaseException:
            self.stop()
            raise

    def _call(self, tool: str, *args: str) -> None:
        command = [*self._prefix, str(self.bindir / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.directory / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise StoreUnavailable(
                f"{tool} failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()} {tail}"
            )

    def url(self, database: str = "postgres") -> str:
        """A libpq URL of a database on this server (over its Unix socket)."""
        return f"postgresql://postgres@/{database}?host={quote(str(self.directory), safe='/')}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL.

        Raises:
            StoreUnavailable: ``createdb`` failed.
        """
        self._call("createdb", "-h", str(self.directory), "-U", "postgres", name)
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once and delete its directory."""
        if self._started:
            command = [*self._prefix, str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast"]
            subprocess.run(command, capture_output=True, timeout=120, check=False)
            self._started = False
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> TemporaryPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
