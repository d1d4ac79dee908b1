"""Local node processes for tests, the demo and the CLI: anvil, anvil-zksync and the Alto bundler.

Each manager starts its process on a loopback port, waits until it answers, keeps its output in a private
temp log (redacted when shown), and stops it cleanly (terminate, then kill after a timeout; always reaped).
"""

from __future__ import annotations

from sso_signer.node._alto import ENTRY_POINT_V08, AltoBundler
from sso_signer.node._anvil import (
    ANVIL_CHAIN_ID,
    ANVIL_ZKSYNC_CHAIN_ID,
    DEV_MNEMONIC,
    AnvilNode,
    AnvilZkSyncNode,
    LocalNode,
    dev_accounts,
    start_local_node,
)
from sso_signer.node._process import ManagedProcess, find_executable, free_port, redact

__all__ = [
    "ANVIL_CHAIN_ID",
    "ANVIL_ZKSYNC_CHAIN_ID",
    "DEV_MNEMONIC",
    "ENTRY_POINT_V08",
    "AltoBundler",
    "AnvilNode",
    "AnvilZkSyncNode",
    "LocalNode",
    "ManagedProcess",
    "dev_accounts",
    "find_executable",
    "free_port",
    "redact",
    "start_local_node",
]
