"""``python -m sso_signer``: the ``sso-signer`` command line (as ``python -m sso_signer.cli``)."""

from __future__ import annotations

from sso_signer.cli import main

raise SystemExit(main())
