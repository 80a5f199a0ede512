"""Pay-i SDK: track and control the cost of AI calls, against Pay-i or a self-hosted server.

Example:
    >>> import payi
    >>> client = payi.Payi(api_key="my-key", base_url="http://localhost:8080")
    >>> # result = client.ingest.units(category="system.openai", resource="gpt-4o",
    >>> #                              units={"text": {"input": 50, "output": 100}})
    >>> # result.xproxy_result.cost.total.base
"""

from . import types
from ._base_client import DefaultAioHttpClient, DefaultAsyncHttpxClient, DefaultHttpxClient
from ._client import AsyncClient, AsyncPayi, Client, Payi
from ._constants import DEFAULT_CONNECTION_LIMITS, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PayiError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from ._models import BaseModel
from ._streaming import AsyncStream, Stream
from ._types import (
    NOT_GIVEN,
    NoneType,
    NotGiven,
    Omit,
    ProxiesTypes,
    RequestOptions,
    Timeout,
    Transport,
    not_given,
    omit,
)
from ._utils import file_from_path
from ._version import __title__, __version__

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AsyncPayi",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "BaseModel",
    "Client",
    "ConflictError",
    "DEFAULT_CONNECTION_LIMITS",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "DefaultAioHttpClient",
    "DefaultAsyncHttpxClient",
    "DefaultHttpxClient",
    "InternalServerError",
    "NOT_GIVEN",
    "NoneType",
    "NotFoundError",
    "NotGiven",
    "Omit",
    "Payi",
    "PayiError",
    "PermissionDeniedError",
    "ProxiesTypes",
    "RateLimitError",
    "RequestOptions",
    "Stream",
    "Timeout",
    "Transport",
    "UnprocessableEntityError",
    "__title__",
    "__version__",
    "file_from_path",
    "not_given",
    "omit",
    "types",
]
