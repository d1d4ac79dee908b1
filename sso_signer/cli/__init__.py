"""The ``sso-signer`` command line: setup, node, fund, deploy, passkey, account, send, sign/verify-message,
demo (see docs/cli.md for the commands, their ``--json`` output and the exit codes).

:func:`main` is the console script; :class:`ExitCode` its exit codes; :class:`Deployment` the deployment JSON
the commands write and read (also what the ``sso_deployment`` pytest fixture returns).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sso_signer.cli._app import main
from sso_signer.cli._output import ExitCode

if TYPE_CHECKING:
    from sso_signer.cli._deploy import Deployment

__all__ = ["Deployment", "ExitCode", "main"]


def __getattr__(name: str) -> Any:
    # Deployment pulls in the chain rooms: imported on first use, so `sso-signer --help` stays fast.
    if name == "Deployment":
        from sso_signer.cli._deploy import Deployment

        return Deployment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
