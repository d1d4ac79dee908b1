"""The ``sso-signer`` command line: setup, node, fund, deploy, passkey, account, send, sign/verify-message,
demo; and the deployment JSON it writes (:class:`Deployment`, :func:`load_deployment`,
:func:`wait_for_deployment`).

See docs/cli.md for the commands, their ``--json`` output and the exit codes (:class:`ExitCode`).
"""

from __future__ import annotations

from sso_signer.cli._app import DOCS_URL, build_parser, main
from sso_signer.cli._deploy import Deployment, load_deployment, wait_for_deployment
from sso_signer.cli._output import ExitCode, exit_code_for

__all__ = [
    "DOCS_URL",
    "Deployment",
    "ExitCode",
    "build_parser",
    "exit_code_for",
    "load_deployment",
    "main",
    "wait_for_deployment",
]
