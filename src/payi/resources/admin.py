"""``client.admin``: our own administration API (applications and their keys, organisation keys).

These routes need an organisation key (``PAYI_API_KEY`` set to a ``payi_org_...`` key); application keys get 403.
A plaintext key appears only in the response that issues it.

Example:
    >>> import payi
    >>> org = payi.Payi(api_key="payi_org_...")
    >>> # created = org.admin.applications.create(name="checkout", store_prompts=True)
    >>> # app_key = created.keys[0].key                       # give this to the application
    >>> # org.admin.applications.regenerate_key(created.application.app_id, slot=2)   # rotate slot 2
"""

# ruff: noqa: ASYNC109  (`timeout` is the official SDK's per-request HTTP timeout, not a cancel scope)

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Literal

import httpx2

from .._base_client import make_request_options
from .._resource import AsyncAPIResource, SyncAPIResource
from .._types import Body, Headers, NotGiven, Omit, Query, not_given, omit
from .._utils import path_template
from ..pagination import AsyncCursorPage, AsyncPaginator, SyncCursorPage
from ..types.admin import ApiKey, Application, ApplicationCreateResponse, ApplicationResponse, KeyResponse

__all__ = [
    "AdminResource",
    "ApplicationsResource",
    "AsyncAdminResource",
    "AsyncApplicationsResource",
    "AsyncKeysResource",
    "AsyncOrgKeysResource",
    "KeysResource",
    "OrgKeysResource",
]


def _expiry_body(expires_at: datetime | None) -> dict[str, object]:
    return {} if expires_at is None else {"expires_at": expires_at}


class ApplicationsResource(SyncAPIResource):
    """``client.admin.applications``: applications and their two key slots."""

    def create(
        self,
        *,
        name: str,
        description: str | Omit = omit,
        store_prompts: bool | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> ApplicationCreateResponse:
        """Create an application; the response holds its two keys in plaintext (shown once).

        Example:
            >>> # created = org.admin.applications.create(name="checkout")
            >>> # created.keys[0].key
        """
        return self._post(
            "/api/v1/admin/applications",
            body={"name": name, "description": description, "store_prompts": store_prompts},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=ApplicationCreateResponse,
        )

    def list(
        self,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> SyncCursorPage[Application]:
        """List applications. Example: ``[a.name for a in org.admin.applications.list()]``."""
        return self._get_api_list(
            "/api/v1/admin/applications",
            page=SyncCursorPage[Application],
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            model=Application,
        )

    def retrieve(
        self,
        app_id: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> ApplicationResponse:
        """Get an application. Example: ``org.admin.applications.retrieve("3").application.store_prompts``."""
        return self._get(
            path_template("/api/v1/admin/applications/{app_id}", app_id=app_id),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=ApplicationResponse,
        )

    def update(
        self,
        app_id: str,
        *,
        description: str | Omit = omit,
        store_prompts: bool | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> ApplicationResponse:
        """Change an application's description or prompt storage. Example: ``update("3", store_prompts=False)``."""
        return self._patch(
            path_template("/api/v1/admin/applications/{app_id}", app_id=app_id),
            body={"description": description, "store_prompts": store_prompts},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=ApplicationResponse,
        )

    def delete(
        self,
        app_id: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> ApplicationResponse:
        """Delete an application (its keys stop working). Example: ``org.admin.applications.delete("3")``."""
        return self._delete(
            path_template("/api/v1/admin/applications/{app_id}", app_id=app_id),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=ApplicationResponse,
        )

    def regenerate_key(
        self,
        app_id: str,
        *,
        slot: Literal[1, 2],
        expires_at: datetime | None = None,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KeyResponse:
        """Issue a new key in slot 1 or 2; the key it replaces stops working. The plaintext is in ``.key.key``.

        Example:
            >>> # org.admin.applications.regenerate_key("3", slot=1, expires_at=datetime(2027, 1, 1, tzinfo=UTC))
        """
        return self._post(
            path_template(
                "/api/v1/admin/applications/{app_id}/keys/{slot}/regenerate", app_id=app_id, slot=str(slot)
            ),
            body=_expiry_body(expires_at),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KeyResponse,
        )


class KeysResource(SyncAPIResource):
    """``client.admin.keys``: every key of the organisation (never with plaintext)."""

    def list(
        self,
        *,
        app_id: str | None = None,
        include_revoked: bool | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> SyncCursorPage[ApiKey]:
        """List keys, optionally of one application. Example: ``list(org.admin.keys.list(app_id="3"))``."""
        return self._get_api_list(
            "/api/v1/admin/keys",
            page=SyncCursorPage[ApiKey],
            options=make_request_options(
                query={"app_id": app_id, "include_revoked": include_revoked},
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
            ),
            model=ApiKey,
        )

    def revoke(
        self,
        key_id: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KeyResponse:
        """Revoke a key now. Example: ``org.admin.keys.revoke("17")``."""
        return self._post(
            path_template("/api/v1/admin/keys/{key_id}/revoke", key_id=key_id),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KeyResponse,
        )

    def set_expiry(
        self,
        key_id: str,
        expires_at: datetime | None,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KeyResponse:
        """Set or clear (``None``) a key's expiry. Example: ``org.admin.keys.set_expiry("17", None)``."""
        return self._put(
            path_template("/api/v1/admin/keys/{key_id}/expiry", key_id=key_id),
            body={"expires_at": expires_at},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KeyResponse,
        )


class OrgKeysResource(SyncAPIResource):
    """``client.admin.org_keys``: organisation keys (they manage, but cannot track spend)."""

    def create(
        self,
        *,
        label: str | Omit = omit,
        expires_at: datetime | None | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KeyResponse:
        """Issue an organisation key; the plaintext is in ``.key.key`` (shown once).

        Example:
            >>> # org.admin.org_keys.create(label="ci").key.key
        """
        return self._post(
            "/api/v1/admin/org-keys",
            body={"label": label, "expires_at": expires_at},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KeyResponse,
        )

    def revoke(
        self,
        key_id: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KeyResponse:
        """Revoke an organisation key (the same route as ``keys.revoke``). Example: ``org.admin.org_keys.revoke("2")``."""
        return self._post(
            path_template("/api/v1/admin/keys/{key_id}/revoke", key_id=key_id),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KeyResponse,
        )


class AdminResource(SyncAPIResource):
    """Administration with an organisation key. Example: ``client.admin.applications.list()``."""

    @cached_property
    def applications(self) -> ApplicationsResource:
        """Applications and their key slots."""
        return ApplicationsResource(self._client)

    @cached_property
    def keys(self) -> KeysResource:
        """All keys of the organisation."""
        return KeysResource(self._client)

    @cached_property
    def org_keys(self) -> OrgKeysResource:
        """Organisation keys."""
        return OrgKeysResource(self._client)


class AsyncApplicationsResource(AsyncAPIResource):
    """``client.admin.applications``: applications and their two key slots."""

    async def create(
        self,
        *,
        name: str,
        description: str | Omit = omit,
        store_prompts: bool | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> ApplicationCreateResponse:
        """Create an application; the response holds its two keys in plaintext (shown once).

        Example:
            >>> # created = await org.admin.applications.create(name="checkout")
            >>> # created.keys[0].key
        """
        return await self._post(
            "/api/v1/admin/applications",
            body={"name": name, "description": description, "store_prompts": store_prompts},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=ApplicationCreateResponse,
        )

    def list(
        self,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> AsyncPaginator[Application, AsyncCursorPage[Application]]:
        """List applications. Example: ``[a.name async for a in org.admin.applications.list()]``."""
        return self._get_api_list(
            "/api/v1/admin/applications",
            page=AsyncCursorPage[Application],
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            model=Application,
        )

    async def retrieve(
        self,
        app_id: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> ApplicationResponse:
        """Get an application. Example: ``(await org.admin.applications.retrieve("3")).application.store_prompts``."""
        return await self._get(
            path_template("/api/v1/admin/applications/{app_id}", app_id=app_id),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=ApplicationResponse,
        )

    async def update(
        self,
        app_id: str,
        *,
        description: str | Omit = omit,
        store_prompts: bool | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> ApplicationResponse:
        """Change an application's description or prompt storage. Example: ``await update("3", store_prompts=False)``."""
        return await self._patch(
            path_template("/api/v1/admin/applications/{app_id}", app_id=app_id),
            body={"description": description, "store_prompts": store_prompts},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=ApplicationResponse,
        )

    async def delete(
        self,
        app_id: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> ApplicationResponse:
        """Delete an application (its keys stop working). Example: ``await org.admin.applications.delete("3")``."""
        return await self._delete(
            path_template("/api/v1/admin/applications/{app_id}", app_id=app_id),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=ApplicationResponse,
        )

    async def regenerate_key(
        self,
        app_id: str,
        *,
        slot: Literal[1, 2],
        expires_at: datetime | None = None,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KeyResponse:
        """Issue a new key in slot 1 or 2; the key it replaces stops working. The plaintext is in ``.key.key``.

        Example:
            >>> # await org.admin.applications.regenerate_key("3", slot=1, expires_at=datetime(2027, 1, 1, tzinfo=UTC))
        """
        return await self._post(
            path_template(
                "/api/v1/admin/applications/{app_id}/keys/{slot}/regenerate", app_id=app_id, slot=str(slot)
            ),
            body=_expiry_body(expires_at),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KeyResponse,
        )


class AsyncKeysResource(AsyncAPIResource):
    """``client.admin.keys``: every key of the organisation (never with plaintext)."""

    def list(
        self,
        *,
        app_id: str | None = None,
        include_revoked: bool | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> AsyncPaginator[ApiKey, AsyncCursorPage[ApiKey]]:
        """List keys, optionally of one application. Example: ``[x async for x in org.admin.keys.list(app_id="3")]``."""
        return self._get_api_list(
            "/api/v1/admin/keys",
            page=AsyncCursorPage[ApiKey],
            options=make_request_options(
                query={"app_id": app_id, "include_revoked": include_revoked},
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
            ),
            model=ApiKey,
        )

    async def revoke(
        self,
        key_id: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KeyResponse:
        """Revoke a key now. Example: ``await org.admin.keys.revoke("17")``."""
        return await self._post(
            path_template("/api/v1/admin/keys/{key_id}/revoke", key_id=key_id),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KeyResponse,
        )

    async def set_expiry(
        self,
        key_id: str,
        expires_at: datetime | None,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KeyResponse:
        """Set or clear (``None``) a key's expiry. Example: ``await org.admin.keys.set_expiry("17", None)``."""
        return await self._put(
            path_template("/api/v1/admin/keys/{key_id}/expiry", key_id=key_id),
            body={"expires_at": expires_at},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KeyResponse,
        )


class AsyncOrgKeysResource(AsyncAPIResource):
    """``client.admin.org_keys``: organisation keys (they manage, but cannot track spend)."""

    async def create(
        self,
        *,
        label: str | Omit = omit,
        expires_at: datetime | None | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KeyResponse:
        """Issue an organisation key; the plaintext is in ``.key.key`` (shown once).

        Example:
            >>> # (await org.admin.org_keys.create(label="ci")).key.key
        """
        return await self._post(
            "/api/v1/admin/org-keys",
            body={"label": label, "expires_at": expires_at},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KeyResponse,
        )

    async def revoke(
        self,
        key_id: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KeyResponse:
        """Revoke an organisation key (the same route as ``keys.revoke``). Example: ``await org.admin.org_keys.revoke("2")``."""
        return await self._post(
            path_template("/api/v1/admin/keys/{key_id}/revoke", key_id=key_id),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KeyResponse,
        )


class AsyncAdminResource(AsyncAPIResource):
    """Administration with an organisation key. Example: ``await client.admin.applications.list()``."""

    @cached_property
    def applications(self) -> AsyncApplicationsResource:
        """Applications and their key slots."""
        return AsyncApplicationsResource(self._client)

    @cached_property
    def keys(self) -> AsyncKeysResource:
        """All keys of the organisation."""
        return AsyncKeysResource(self._client)

    @cached_property
    def org_keys(self) -> AsyncOrgKeysResource:
        """Organisation keys."""
        return AsyncOrgKeysResource(self._client)
