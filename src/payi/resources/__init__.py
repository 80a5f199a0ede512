"""The REST resources, one module each; reach them through a client (``client.limits``, ``client.ingest``, ...).

Example:
    >>> from payi.resources import LimitsResource, AsyncLimitsResource
"""

from .admin import AdminResource, AsyncAdminResource
from .categories import AsyncCategoriesResource, CategoriesResource
from .ingest import AsyncIngestResource, IngestResource
from .limits import AsyncLimitsResource, LimitsResource
from .requests import AsyncRequestsResource, RequestsResource
from .use_cases import AsyncUseCasesResource, UseCasesResource

__all__ = [
    "AdminResource",
    "AsyncAdminResource",
    "AsyncCategoriesResource",
    "AsyncIngestResource",
    "AsyncLimitsResource",
    "AsyncRequestsResource",
    "AsyncUseCasesResource",
    "CategoriesResource",
    "IngestResource",
    "LimitsResource",
    "RequestsResource",
    "UseCasesResource",
]
