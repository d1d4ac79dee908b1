"""The sync and async shells of the RPC room: :mod:`sso_signer._shell`, where they live so that every room
(the relying party of the passkey room too) writes its I/O once as a flow."""

from __future__ import annotations

# Re-exported by name (``X as X``), for the modules and tests that import the shells from here.
from sso_signer._shell import AsyncShell as AsyncShell
from sso_signer._shell import SyncShell as SyncShell
from sso_signer._shell import drive as drive
from sso_signer._shell import drive_async as drive_async
from sso_signer._shell import flow_constructor as flow_constructor
from sso_signer._shell import flow_constructor_with as flow_constructor_with
from sso_signer._shell import flow_method as flow_method
from sso_signer._shell import resume as resume
