"""Client defaults, the same values as the official Pay-i SDK.

Example:
    >>> from payi import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
    >>> DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT.read
    (2, 60)
"""

from __future__ import annotations

import httpx2

DEFAULT_TIMEOUT = httpx2.Timeout(timeout=60, connect=5.0)
"""Default request timeout: 60 s overall, 5 s to connect. Example: ``Payi(timeout=DEFAULT_TIMEOUT)``."""

DEFAULT_MAX_RETRIES = 2
"""Default number of retries after the first attempt. Example: ``Payi(max_retries=DEFAULT_MAX_RETRIES)``."""

DEFAULT_CONNECTION_LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=20)
"""Default connection pool limits. Example: ``httpx2.Client(limits=DEFAULT_CONNECTION_LIMITS)``."""

INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
DEFAULT_BASE_URL = "https://api.pay-i.com"
RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"
"""The request option that asks for the raw response (``raw``) or a streamed one (``stream``); never sent."""
