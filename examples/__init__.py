"""Worked examples built on sso-signer (not part of the installed package)."""
