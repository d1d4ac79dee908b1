"""Reading a relying party's database behind its back, to prove what a ceremony wrote (or did not)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

_TABLES = (
    "SELECT * FROM credentials ORDER BY credential_id",
    "SELECT * FROM challenges ORDER BY challenge",
)


def snapshot(db: Path | str) -> tuple[list[Any], list[Any]]:
    """Every row of both tables, read through a separate connection.

    Args:
        db: A SQLite file, or a store URL (``sqlite:///path`` or ``postgresql://...``).
    """
    if isinstance(db, str) and not db.startswith("sqlite://"):
        import psycopg

        with psycopg.connect(db, autocommit=True) as pg:
            creds, challenges = (pg.execute(query).fetchall() for query in _TABLES)
        return list(creds), list(challenges)
    path = db.removeprefix("sqlite://") if isinstance(db, str) else db
    conn = sqlite3.connect(path)
    try:
        creds, challenges = (conn.execute(query).fetchall() for query in _TABLES)
    finally:
        conn.close()
    return creds, challenges
