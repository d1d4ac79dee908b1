"""``setup``: install the pinned npm tools of the local stack (anvil, forge, cast, Alto, EntryPoint)."""

from __future__ import annotations

import argparse

from sso_signer.cli._output import Reporter
from sso_signer.local_erc4337 import install_tools

__all__ = ["setup"]


def setup(args: argparse.Namespace, out: Reporter) -> None:
    """Install the pinned npm tools of the local stack into the per-user directory (idempotent)."""
    report = install_tools(args.home, force=args.force, progress=out.step)
    data = {
        "home": report.home,
        "installed": report.installed,
        "packages": list(report.packages),
        "tools": dict(report.tools),
        "seconds": report.seconds,
    }
    if report.installed:
        summary = f"installed {len(report.packages)} npm packages into {report.home} in {report.seconds} s"
    else:
        summary = f"nothing to install: already set up in {report.home} (checked in {report.seconds} s)"
    out.result(data, summary=summary)
