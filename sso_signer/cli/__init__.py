"""The ``sso-signer`` command line: node, deploy, passkey, account, send, sign/verify-message, demo.

See docs/cli.md for the commands, their ``--json`` output and the exit codes (:class:`ExitCode`).
"""

from __future__ import annotations

from sso_signer.cli._app import build_parser, main
from sso_signer.cli._errors import NodeExited, SignatureNotValid
from sso_signer.cli._output import CliUsageError, ExitCode, exit_code_for

__all__ = [
    "CliUsageError",
    "ExitCode",
    "NodeExited",
    "SignatureNotValid",
    "build_parser",
    "exit_code_for",
    "main",
]
