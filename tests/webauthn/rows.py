"""Reading a relying party's SQLite file behind its back, to prove what a ceremony wrote (or did not)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def snapshot(db: Path) -> tuple[list[Any], list[Any]]:
    """Every row of both tables, read through a separate connection."""
    conn = sqlite3.connect(db)
    try:
        creds = conn.execute("SELECT * FROM credentials ORDER BY credential_id").fetchall()
        challenges = conn.execute("SELECT * FROM challenges ORDER BY challenge").fetchall()
    finally:
        conn.close()
    return creds, challenges
