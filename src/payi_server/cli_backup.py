"""``payi-server backup DIR`` and ``payi-server restore DIR`` (registered by ``cli``; see ``docs/operations.md``).

A backup directory holds the database (``payi.db``: SQLite's online backup; ``payi.dump``: ``pg_dump``'s custom
format), the generated key-hashing secret when the server uses one (``secret.key``; a secret set with
``PAYI_SERVER_SECRET_KEY`` is yours to keep) and ``manifest.json`` (the database kind, the schema revision, the
secret's fingerprint). A restore checks the secret first: the keys in a backup verify only with the secret they
were hashed with, and a server refuses to start with another.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from .auth.keys import KeyHasher
from .settings import ENV_PREFIX, Settings
from .store.backup import PG_FILE, SQLITE_FILE, BackupError, backup_sqlite, pg_dump, pg_restore, restore_sqlite, sqlite_file
from .store.changes import utcnow
from .store.engine import Database
from .store.migrate import current_revision
from .store.tables import server_meta

MANIFEST = "manifest.json"
SECRET_FILE = "secret.key"
FORMAT = 1

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


async def _stored_fingerprint(url: str) -> tuple[str | None, str | None]:
    """``(secret fingerprint, schema revision)`` recorded in the database."""
    db = Database(url, pool_size=1)
    try:
        async with db.read() as conn:
            fingerprint = (
                await conn.execute(select(server_meta.c.value).where(server_meta.c.name == "secret_fingerprint"))
            ).scalar()
            revision = await conn.run_sync(current_revision)
        return fingerprint, revision
    finally:
        await db.dispose()


def _secret_file(settings: Settings) -> Path | None:
    """The generated secret this server uses (None: it is set with PAYI_SERVER_SECRET_KEY)."""
    return None if settings.secret_key is not None else settings.data_dir / SECRET_FILE


def _fingerprint(secret: bytes) -> str:
    return KeyHasher(secret).fingerprint()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def backup(settings: Settings, directory: Path) -> dict[str, Any]:
    url = settings.sqlalchemy_url
    if (directory / MANIFEST).exists():
        raise BackupError(f"{directory} holds a backup already: give a new directory")
    directory.mkdir(parents=True, exist_ok=True)
    fingerprint, revision = asyncio.run(_stored_fingerprint(url))
    if settings.is_sqlite:
        backup_sqlite(sqlite_file(url), directory / SQLITE_FILE)
    else:
        pg_dump(url, directory / PG_FILE)
    secret = "environment"
    source = _secret_file(settings)
    if source is not None and source.exists():
        _write_private(directory / SECRET_FILE, source.read_bytes())
        secret = "file"
    manifest = {
        "format": FORMAT,
        "database": "sqlite" if settings.is_sqlite else "postgresql",
        "revision": revision,
        "created_at": utcnow().isoformat(),
        "secret": secret,
        "secret_fingerprint": fingerprint,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return {"directory": str(directory), **manifest}


def _check_secret(settings: Settings, directory: Path, manifest: dict[str, Any], force: bool) -> Path | None:
    """Refuse a restore whose keys this server could not verify; the secret file to install, if any."""
    expected = manifest.get("secret_fingerprint")
    bundled = directory / SECRET_FILE if manifest.get("secret") == "file" else None
    target = _secret_file(settings)
    if settings.secret_key is not None:
        configured: bytes | None = settings.secret_key.get_secret_value().encode()
        install = None
    elif bundled is not None:
        assert target is not None
        if target.exists() and target.read_bytes().strip() != bundled.read_bytes().strip() and not force:
            raise BackupError(
                f"{target} holds another secret than the backup's: move it away (or --force to replace it)"
            )
        configured, install = bundled.read_bytes().strip(), bundled
    else:
        assert target is not None
        configured, install = (target.read_bytes().strip() if target.exists() else None), None
    if expected is not None and (configured is None or _fingerprint(configured) != expected):
        raise BackupError(
            "the backup's keys were hashed with another secret than this server's: set "
            f"{ENV_PREFIX}SECRET_KEY to the secret the backed-up server used (a server refuses to start otherwise)"
        )
    return install


def restore(settings: Settings, directory: Path, *, force: bool) -> dict[str, Any]:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{directory / MANIFEST}: not a backup ({exc})") from None
    kind = "sqlite" if settings.is_sqlite else "postgresql"
    if manifest.get("format") != FORMAT or manifest.get("database") != kind:
        raise BackupError(f"the backup is of a {manifest.get('database')} database; this server uses {kind}")
    install = _check_secret(settings, directory, manifest, force)
    url = settings.sqlalchemy_url
    if settings.is_sqlite:
        restore_sqlite(directory / SQLITE_FILE, sqlite_file(url), replace=force)
    else:
        pg_restore(directory / PG_FILE, url)
    if install is not None:
        target = _secret_file(settings)
        assert target is not None
        _write_private(target, install.read_bytes())
    _, revision = asyncio.run(_stored_fingerprint(url))
    return {"restored": str(directory), "database": kind, "revision": revision, "secret": manifest.get("secret")}


def register(app: typer.Typer, cli: Any) -> None:
    """Add the commands to ``app``; ``cli`` is the ``payi_server.cli`` module."""

    @app.command("backup")
    def backup_cmd(
        directory: Annotated[Path, typer.Argument(help="A new directory to write the backup to.")],
        as_json: JsonOpt = False,
    ) -> None:
        """Back up the database (while servers run) and the generated key secret into a directory."""
        settings = cli._settings()
        try:
            result = backup(settings, directory)
        except BackupError as exc:
            cli.err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
        cli._emit(result, as_json, ["directory", "database", "revision", "secret"])

    @app.command("restore")
    def restore_cmd(
        directory: Annotated[Path, typer.Argument(help="A directory written by 'payi-server backup'.")],
        force: Annotated[bool, typer.Option("--force", help="Replace an existing SQLite file or secret file.")] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Restore a backup into the configured database (stop the servers first); its keys keep working."""
        settings = cli._settings()
        try:
            result = restore(settings, directory, force=force)
        except BackupError as exc:
            cli.err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
        cli._emit(result, as_json, ["restored", "database", "revision", "secret"])

