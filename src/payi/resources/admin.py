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
from typing import Literal

import httpx2

from .._base_client import make_request_options
from .._resource import AsyncAPIResource, Endpoints, SyncAPIResource, endpoint, paged, subresource
from .._types import Body, Headers, NotGiven, Omit, Query, not_given, omit
from .._utils import path_template
from ..pagination import SyncCursorPage
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


class _ApplicationsEndpoints(Endpoints):
    """The endpoints of ``ApplicationsResource`` and ``AsyncApplicationsResource``, defined once."""

    @endpoint
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

    @paged
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

    @endpoint
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

    @endpoint
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

    @endpoint
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

    @endpoint
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


class ApplicationsResource(_ApplicationsEndpoints, SyncAPIResource):
    """``client.admin.applications``: applications and their two key slots."""


class AsyncApplicationsResource(_ApplicationsEndpoints, AsyncAPIResource):
    """``client.admin.applications``: applications and their two key slots."""


class _KeysEndpoints(Endpoints):
    """The endpoints of ``KeysResource`` and ``AsyncKeysResource``, defined once."""

    @paged
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

    @endpoint
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

    @endpoint
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


class KeysResource(_KeysEndpoints, SyncAPIResource):
    """``client.admin.keys``: every key of the organisation (never with plaintext)."""


class AsyncKeysResource(_KeysEndpoints, AsyncAPIResource):
    """``client.admin.keys``: every key of the organisation (never with plaintext)."""


class _OrgKeysEndpoints(Endpoints):
    """The endpoints of ``OrgKeysResource`` and ``AsyncOrgKeysResource``, defined once."""

    @endpoint
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

    @endpoint
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


class OrgKeysResource(_OrgKeysEndpoints, SyncAPIResource):
    """``client.admin.org_keys``: organisation keys (they manage, but cannot track spend)."""


class AsyncOrgKeysResource(_OrgKeysEndpoints, AsyncAPIResource):
    """``client.admin.org_keys``: organisation keys (they manage, but cannot track spend)."""


class _AdminEndpoints(Endpoints):
    """The endpoints of ``AdminResource`` and ``AsyncAdminResource``, defined once."""

    applications = subresource(
        ApplicationsResource,
        AsyncApplicationsResource,
        "Applications and their key slots.",
    )

    keys = subresource(
        KeysResource,
        AsyncKeysResource,
        "All keys of the organisation.",
    )

    org_keys = subresource(
        OrgKeysResource,
        AsyncOrgKeysResource,
        "Organisation keys.",
    )


class AdminResource(_AdminEndpoints, SyncAPIResource):
    """Administration with an organisation key. Example: ``client.admin.applications.list()``."""


class AsyncAdminResource(_AdminEndpoints, AsyncAPIResource):
    """Administration with an organisation key. Example: ``await client.admin.applications.list()``."""

