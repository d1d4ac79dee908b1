"""What the command line prints and which exit code it returns.

A person gets one readable line per step on stdout; a script passing ``--json`` gets exactly one JSON object
on stdout (progress is then silent) and the same object shape on failure (``{"ok": false, "error": ...}``).
Errors never show a traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import enum
import json
import sys
import traceback
from collections.abc import Mapping
from typing import Any, TextIO

from sso_signer.exceptions import (
    BundlerError,
    ConfigurationError,
    ExecutionReverted,
    InvalidInputError,
    RemoteError,
    SsoSignerError,
    TransactionRejected,
    TransactionReverted,
)

__all__ = ["ExitCode", "Reporter", "exit_code_for"]


class ExitCode(enum.IntEnum):
    """The exit codes of ``sso-signer`` (documented in docs/cli.md)."""

    OK = 0
    #: The operation ran and failed: reverted, rejected, invalid signature, insufficient balance, ...
    FAILED = 1
    #: The command line or an input value is wrong (argparse errors too).
    USAGE = 2
    #: Something is not set up: missing binary, contracts not built, unknown network, missing address.
    CONFIGURATION = 3
    #: A node or bundler failed or could not be reached.
    REMOTE = 4
    #: Interrupted with Ctrl-C.
    INTERRUPTED = 130
    #: stdout was closed before the output was written (``| head -1``): stopped quietly, the status of a
    #: process ended by SIGPIPE.
    BROKEN_PIPE = 141


def exit_code_for(error: BaseException) -> ExitCode:
    """Map an exception to the exit code a script can branch on.

    Reverts and rejections are remote answers but mean "the operation failed" (1), not "the node failed" (4).
    """
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(error, TransactionReverted | ExecutionReverted | TransactionRejected | BundlerError):
        return ExitCode.FAILED  # the chain or the bundler (AA codes) refused the operation: it failed
    if isinstance(error, InvalidInputError):
        return ExitCode.USAGE
    if isinstance(error, ConfigurationError):
        return ExitCode.CONFIGURATION
    if isinstance(error, RemoteError):
        return ExitCode.REMOTE
    return ExitCode.FAILED


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


class Reporter:
    """Prints progress and the final result in the mode the user chose.

    Args:
        json_mode: One JSON object on stdout instead of readable lines.
        debug: Show tracebacks of errors.
        out: Where results go (stdout).
        err: Where human error messages go (stderr).
    """

    def __init__(
        self,
        *,
        json_mode: bool = False,
        debug: bool = False,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.json_mode = json_mode
        self.debug = debug
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        #: Warnings given so far; the JSON result and the JSON error carry them as ``warnings``.
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        """A warning: on stderr at once (in both modes), and in the JSON object as ``warnings``."""
        self.warnings.append(message)
        print(f"warning: {message}", file=self.err, flush=True)

    def step(self, message: str) -> None:
        """One line of progress (silent in JSON mode, so stdout stays one object)."""
        if not self.json_mode:
            print(f"• {message}", file=self.out, flush=True)

    def detail(self, message: str) -> None:
        """An indented line under the last step (silent in JSON mode)."""
        if not self.json_mode:
            print(f"    {message}", file=self.out, flush=True)

    def result(self, data: Mapping[str, Any], *, summary: str | None = None) -> None:
        """The command's result: the JSON object, or a summary and ``key: value`` lines."""
        if self.json_mode:
            payload = {"ok": True, **_jsonable(data)}
            if self.warnings:
                payload["warnings"] = list(self.warnings)
            print(json.dumps(payload, sort_keys=False), file=self.out, flush=True)
            return
        if summary:
            print(summary, file=self.out)
        for key, value in data.items():
            shown = _jsonable(value)
            if isinstance(shown, dict | list):
                shown = json.dumps(shown)
            print(f"  {key}: {shown}", file=self.out)
        self.out.flush()

    def lines(self, lines: list[str]) -> None:
        """Plain result lines for a person (a command whose JSON result is printed with :meth:`result`)."""
        for line in lines:
            print(line, file=self.out)
        self.out.flush()

    def error(self, error: BaseException, code: ExitCode) -> None:
        """Report a failure: its class, its rule (the failed check) and message; traceback only if debug."""
        name = type(error).__name__
        message = str(error) or name
        if self.debug:
            traceback.print_exception(error, file=self.err)
        if self.json_mode:
            payload: dict[str, Any] = {
                "ok": False,
                "error": {"type": name, "message": message, "exit_code": int(code)},
            }
            if isinstance(error, SsoSignerError):
                payload["error"]["rule"] = str(error.rule)
            if self.warnings:
                payload["warnings"] = list(self.warnings)
            print(json.dumps(payload), file=self.out, flush=True)
        else:
            hint = (
                "" if self.debug or isinstance(error, SsoSignerError) else " (run with --debug for details)"
            )
            rule = f" ({error.rule})" if isinstance(error, SsoSignerError) else ""
            print(f"error: {name}{rule}: {message}{hint}", file=self.err, flush=True)
