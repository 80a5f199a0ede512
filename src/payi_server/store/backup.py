"""Backups of the database, taken while servers run: SQLite through its online backup API, PostgreSQL through
``pg_dump`` (custom format) and ``pg_restore``. ``payi-server backup`` / ``restore`` (``cli_data``) add the
key-hashing secret and a manifest; see ``docs/operations.md``."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

SQLITE_FILE = "payi.db"
PG_FILE = "payi.dump"


class BackupError(Exception):
    """A backup or restore could not be done; the message says why."""


def sqlite_file(url: str) -> Path:
    """The file of a ``sqlite...:///path`` URL."""
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if not path or path == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(path)


def libpq_url(url: str) -> str:
    """The URL as ``pg_dump`` and ``pg_restore`` read it (no SQLAlchemy driver name)."""
    scheme, sep, rest = url.partition("://")
    return "postgresql" + sep + rest if scheme.startswith("postgres") else url


def backup_sqlite(source: Path, dest: Path) -> None:
    """Copy a live SQLite database: one step of the backup API, a consistent snapshot (in WAL mode the server's
    writes go on meanwhile), then an integrity check of the copy."""
    if not source.exists():
        raise BackupError(f"{source}: no such database")
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            if dst.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{dest}: the copy fails SQLite's integrity check")
        finally:
            dst.close()
    finally:
        src.close()


def restore_sqlite(backup: Path, target: Path, *, replace: bool) -> None:
    """Put a backup in place of the database file (the servers must be stopped)."""
    if not backup.exists():
        raise BackupError(f"{backup}: no such file")
    siblings = [target, target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")]
    if target.exists() and not replace:
        raise BackupError(f"{target} exists: stop the servers and restore with --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    for path in siblings:
        path.unlink(missing_ok=True)
    staging = target.with_name(target.name + ".restoring")
    shutil.copyfile(backup, staging)
    staging.replace(target)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not on PATH (install the PostgreSQL client of your server's version)")
    return found


def _call(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603 - our own arguments
    if done.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {done.stderr.strip()[-2000:]}")


def pg_dump(url: str, dest: Path) -> None:
    """A consistent snapshot of a live database (``pg_dump`` reads it in one repeatable-read transaction)."""
    _call([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={dest}", libpq_url(url)])


def pg_restore(dump: Path, url: str) -> None:
    """Restore into an existing database, all or nothing (one transaction): objects of the dump that exist are
    replaced, so an empty database or one this service created are both fine."""
    if not dump.exists():
        raise BackupError(f"{dump}: no such file")
    _call([
        _tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
        "--exit-on-error", f"--dbname={libpq_url(url)}", str(dump),
    ])
