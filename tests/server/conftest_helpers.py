from __future__ import annotations

from pathlib import Path

from ..conftest import TEST_SECRET


def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "PAYI_SERVER_DATABASE_URL": database_url,
        "PAYI_SERVER_DATA_DIR": str(tmp_path / "data"),
        "PAYI_SERVER_SECRET_KEY": TEST_SECRET,
    }
