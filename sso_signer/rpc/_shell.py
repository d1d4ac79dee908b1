"""The sync and async shells of the RPC room: :mod:`sso_signer._shell`, where they live so that every room
(the relying party of the passkey room too) writes its I/O once as a flow."""

from __future__ import annotations

from sso_signer._shell import (
    AsyncShell,
    SyncShell,
    drive,
    drive_async,
    flow_constructor,
    flow_constructor_with,
    flow_method,
    resume,
)

__all__ = [
    "AsyncShell",
    "SyncShell",
    "drive",
    "drive_async",
    "flow_constructor",
    "flow_constructor_with",
    "flow_method",
    "resume",
]
