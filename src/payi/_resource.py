"""Base classes of the resources: each holds its client and borrows its HTTP verbs.

Example:
    >>> import payi
    >>> client = payi.Payi(api_key="k")
    >>> client.limits._client is client
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._client import AsyncAPIClient, SyncAPIClient

__all__ = ["AsyncAPIResource", "SyncAPIResource"]


class SyncAPIResource:
    """A group of endpoints called through a synchronous client."""

    _client: SyncAPIClient

    def __init__(self, client: SyncAPIClient) -> None:
        self._client = client
        self._get = client.get
        self._post = client.post
        self._put = client.put
        self._patch = client.patch
        self._delete = client.delete
        self._get_api_list = client.get_api_list


class AsyncAPIResource:
    """A group of endpoints called through an asynchronous client."""

    _client: AsyncAPIClient

    def __init__(self, client: AsyncAPIClient) -> None:
        self._client = client
        self._get = client.get
        self._post = client.post
        self._put = client.put
        self._patch = client.patch
        self._delete = client.delete
        self._get_api_list = client.get_api_list
