"""Shapes of ``client.admin`` (our own API, called with an organisation key).

Example:
    >>> from payi.types.admin import ApplicationCreateResponse
    >>> # created = org_client.admin.applications.create(name="checkout", store_prompts=False)
    >>> # created.application.app_id, [k.key for k in created.keys]   # plaintext keys, shown once
"""

from __future__ import annotations

from datetime import datetime

from .._models import BaseModel

__all__ = ["ApiKey", "Application", "ApplicationCreateResponse", "ApplicationResponse", "KeyResponse"]


class Application(BaseModel):
    """An application: the tenant that owns limits, use cases and requests, with two API key slots.

    Example:
        >>> # for app in org_client.admin.applications.list(): print(app.app_id, app.name)
    """

    app_id: str
    name: str
    description: str | None = None
    store_prompts: bool | None = None
    created_at: datetime | None = None


class ApiKey(BaseModel):
    """An API key as the admin API shows it; ``key`` (the plaintext) is present only right after it is issued.

    Example:
        >>> # new = org_client.admin.applications.regenerate_key(app_id, slot=1).key
        >>> # new.key, new.prefix, new.expires_at
    """

    key_id: str
    slot: int | None = None
    key: str | None = None
    prefix: str | None = None
    lookup_id: str | None = None
    expires_at: datetime | None = None
    created_at: datetime | None = None
    revoked_at: datetime | None = None
    kind: str | None = None
    app_id: str | None = None
    label: str | None = None
    active: bool | None = None


class ApplicationCreateResponse(BaseModel):
    """A new application and its two keys (plaintext included). Example: ``created.keys[0].key``."""

    application: Application
    keys: list[ApiKey]
    request_id: str
    message: str | None = None


class ApplicationResponse(BaseModel):
    """One application. Example: ``org_client.admin.applications.retrieve(app_id).application.name``."""

    application: Application
    request_id: str | None = None
    message: str | None = None


class KeyResponse(BaseModel):
    """One key: a new or regenerated key (with its plaintext), or one just revoked or changed.

    Example:
        >>> # org_client.admin.org_keys.create(label="ci").key.key
    """

    key: ApiKey
    request_id: str | None = None
    message: str | None = None
