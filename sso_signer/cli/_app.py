"""``sso-signer``: parse (``_parser``), import the command's group module, run the command, map failures to
exit codes (see docs/cli.md).

Each command is a function ``(args, reporter) -> None`` in its group's module (``_node``, ``_passkey``,
``_account``, ...) that reports its result through the :class:`~sso_signer.cli._output.Reporter` and raises
typed errors; :func:`main` turns them into exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import os
import stat
import sys
from collections.abc import Callable, Sequence
from typing import cast

from sso_signer.cli._output import ExitCode, Reporter, exit_code_for
from sso_signer.cli._parser import ENV_KEY, _Parser, build_parser
from sso_signer.exceptions import CliUsageError

__all__ = ["main"]

Command = Callable[[argparse.Namespace, Reporter], None]

#: Options that name files: any bytes the OS allows (a non-UTF-8 name arrives surrogate-escaped).
PATH_OPTIONS = frozenset({"key", "new_key", "out", "deployment", "store", "spec", "session_key"})


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sso-signer`` and return its exit code (see :class:`~sso_signer.cli.ExitCode`).

    Every failure becomes one error report and a documented exit code, never a traceback (unless
    ``--debug``); a stdout closed early (``| head -1``) ends the command quietly, as Unix tools do.
    """
    try:
        parser = build_parser()
        _Parser.json_errors = "--json" in (sys.argv[1:] if argv is None else list(argv))
        args = parser.parse_args(argv)
    except BrokenPipeError:
        return _stdout_closed()  # ``--help | head -1``
    reporter = Reporter(json_mode=bool(args.json), debug=bool(args.debug))
    try:
        check_text_arguments(args)
        for warning in key_file_warnings(args):
            reporter.warn(warning)
        _command(args.run)(args, reporter)
    except KeyboardInterrupt as exc:
        reporter.error(exc, ExitCode.INTERRUPTED)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return _stdout_closed()
    except Exception as exc:  # noqa: BLE001 - the top level turns every failure into a report and a code
        code = exit_code_for(exc)
        try:
            reporter.error(exc, code)
        except BrokenPipeError:
            return _stdout_closed()
        return int(code)
    return int(ExitCode.OK)


def _command(run: str) -> Command:
    """The command named ``"_module:function"`` by the parser.

    Its group's module (and the rooms it needs: chains, passkeys, bundlers) is imported here, once the command
    is known, so that ``--help`` and usage errors do not pay for it.
    """
    module, _, name = run.partition(":")
    return cast(Command, getattr(importlib.import_module(f"sso_signer.cli.{module}"), name))


def check_text_arguments(args: argparse.Namespace) -> None:
    """Refuse option values that are not valid UTF-8 text (file names excepted).

    Such bytes reach Python surrogate-escaped and would fail deep inside (JSON, ABI encoding, hashing).

    Raises:
        CliUsageError: Naming the first such option.
    """
    for name, value in vars(args).items():
        if isinstance(value, str) and name not in PATH_OPTIONS:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                option = "--" + name.replace("_", "-")
                raise CliUsageError(f"{option}: not valid UTF-8 text") from None


def key_file_warnings(args: argparse.Namespace) -> list[str]:
    """Warnings for key files that group or others may read or write (``--key``, ``SSO_SIGNER_KEY``,
    ``--new-key``): whoever reads an unencrypted key file can sign as the passkey.

    Only warned, not refused: a shared CI runner may have its reasons; ``chmod 600`` silences it.
    """
    key = (args.key or os.environ.get(ENV_KEY)) if hasattr(args, "key") else None
    warnings = []
    for option, path in (("--key", key), ("--new-key", getattr(args, "new_key", None))):
        if not path:
            continue
        try:
            mode = os.stat(path).st_mode
        except (OSError, ValueError):
            continue  # loading it reports the problem
        exposed = stat.S_IMODE(mode) & 0o066
        if stat.S_ISREG(mode) and exposed:
            who = " and ".join(w for w, bits in (("group", 0o060), ("others", 0o006)) if exposed & bits)
            warnings.append(
                f"{option} {path} is accessible to {who} (mode {stat.S_IMODE(mode):04o}): anyone who can "
                f"read it can sign as this passkey; run chmod 600 {path}"
            )
    return warnings


def _stdout_closed() -> int:
    """The reader of stdout went away: stop without a word (nobody is listening) and without a traceback.

    stdout is pointed at /dev/null so that the interpreter's final flush does not fail a second time.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a real file (tests capture it): nothing to flush at exit
    return int(ExitCode.BROKEN_PIPE)
