"""``client.use_cases`` and ``client.use_cases.definitions``.

Example:
    >>> from payi.resources.use_cases import UseCasesResource, AsyncUseCasesResource
"""

from .definition_kpis import AsyncDefinitionKpisResource, DefinitionKpisResource
from .definitions import (
    AsyncDefinitionsResource,
    AsyncLimitConfigResource,
    AsyncVersionResource,
    DefinitionsResource,
    LimitConfigResource,
    VersionResource,
)
from .use_cases import (
    AsyncInstanceKpisResource,
    AsyncInstancePropertiesResource,
    AsyncUseCasesResource,
    InstanceKpisResource,
    InstancePropertiesResource,
    UseCasesResource,
)

__all__ = [
    "AsyncDefinitionKpisResource",
    "AsyncDefinitionsResource",
    "AsyncInstanceKpisResource",
    "AsyncInstancePropertiesResource",
    "AsyncLimitConfigResource",
    "AsyncUseCasesResource",
    "AsyncVersionResource",
    "DefinitionKpisResource",
    "DefinitionsResource",
    "InstanceKpisResource",
    "InstancePropertiesResource",
    "LimitConfigResource",
    "UseCasesResource",
    "VersionResource",
]
