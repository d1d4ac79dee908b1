"""Local node processes for tests, the demo and the CLI: anvil, anvil-zksync and the Alto bundler.

Each manager starts its process on a loopback port, waits until it answers, keeps its output in a private
temp log (redacted when shown), and stops it cleanly (terminate, then kill after a timeout; always reaped).
"""

from __future__ import annotations

from sso_signer.node._alto import AltoBundler
from sso_signer.node._anvil import AnvilNode, AnvilZkSyncNode, LocalNode, start_local_node

__all__ = [
    "AltoBundler",
    "AnvilNode",
    "AnvilZkSyncNode",
    "LocalNode",
    "start_local_node",
]
