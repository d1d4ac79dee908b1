"""Errors of the local node room."""

from __future__ import annotations

from sso_signer._errors import RemoteError, StateError
from sso_signer._toolchain import ToolNotFound

__all__ = ["NodeBinaryNotFound", "NodeNotRunning", "NodeStartFailed"]


class NodeBinaryNotFound(ToolNotFound):
    """The executable (anvil, anvil-zksync, node, the Alto entry script) could not be found.

    The message says how to install it (``sso-signer setup`` for the npm tools).
    """


class NodeStartFailed(RemoteError):
    """The process exited or did not become ready in time; the message ends with the (redacted) log tail.

    Attributes:
        log_tail: The last lines of the process log, with private keys and mnemonics redacted.
    """

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        self.log_tail = log_tail
        super().__init__(f"{message}\n--- log tail ---\n{log_tail}" if log_tail else message)


class NodeNotRunning(StateError):
    """The operation needs a started process (call ``start()`` or use the object as a context manager)."""
