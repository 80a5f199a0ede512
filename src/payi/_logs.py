"""SDK logging: the ``payi`` logger, switched on with ``PAYI_LOG=info`` or ``PAYI_LOG=debug``.

Example:
    $ PAYI_LOG=debug python app.py   # logs every request, response and retry
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger("payi")


def setup_logging() -> None:
    """Apply ``PAYI_LOG`` (``info`` or ``debug``) to the ``payi`` and ``httpx2`` loggers; idempotent."""
    level = {"debug": logging.DEBUG, "info": logging.INFO}.get(os.environ.get("PAYI_LOG", "").lower())
    if level is None:
        return
    logging.basicConfig(
        format="[%(asctime)s - %(name)s:%(lineno)d - %(levelname)s] %(message)s", datefmt="%Y-%m-%d %H:%M:%S"
    )
    logger.setLevel(level)
    logging.getLogger("httpx2").setLevel(level)
