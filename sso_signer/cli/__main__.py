"""``python -m sso_signer.cli``: the same as the ``sso-signer`` console script."""

from __future__ import annotations

from sso_signer.cli import main

raise SystemExit(main())
