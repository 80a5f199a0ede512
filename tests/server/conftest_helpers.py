from __future__ import annotations

from pathlib import Path

from ..conftest import TEST_SECRET


def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "PAYI_SERVER_DATABASE_URL": database_url,
        "PAYI_SERVER_DATA_DIR": str(tmp_path / "data"),
        "PAYI_SERVER_SECRET_KEY": TEST_SECRET,
    }


async def downgrade(url: str, revision: str) -> None:
    """Take the database at ``url`` back to migration ``revision`` (a database from before a later one)."""
    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine

    from payi_server.store.migrate import _config

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(_config(c), revision))
    finally:
        await engine.dispose()
