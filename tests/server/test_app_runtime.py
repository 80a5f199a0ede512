"""What a server process sets up for its own runtime when it starts."""

from __future__ import annotations

import gc
from pathlib import Path

from payi_server.app import GC_YOUNG_THRESHOLD
from tests.conftest import make_settings, run_app


async def test_start_raises_the_collectors_first_threshold(tmp_path: Path) -> None:
    """Under load, queued records keep thousands of young objects alive: the default threshold of 700 made the
    cyclic collector run about 80 times a second per worker. A started app sets the higher one."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/payi.db", tmp_path / "data")
        async with run_app(settings):
            assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, 10)
    finally:
        gc.set_threshold(*before)
