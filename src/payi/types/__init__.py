"""Every request and response type of the Pay-i API, under the official SDK's names.

Example:
    >>> from payi.types import IngestResponse, LimitResponse, XproxyResult
"""

from __future__ import annotations

from .admin import (
    ApiKey as ApiKey,
)
from .admin import (
    Application as Application,
)
from .admin import (
    ApplicationCreateResponse as ApplicationCreateResponse,
)
from .admin import (
    ApplicationResponse as ApplicationResponse,
)
from .admin import (
    KeyResponse as KeyResponse,
)
from .category import (
    CategoryDeleteResourceResponse as CategoryDeleteResourceResponse,
)
from .category import (
    CategoryDeleteResponse as CategoryDeleteResponse,
)
from .category import (
    CategoryListParams as CategoryListParams,
)
from .category import (
    CategoryListResourcesParams as CategoryListResourcesParams,
)
from .category import (
    CategoryResourceMappedResource as CategoryResourceMappedResource,
)
from .category import (
    CategoryResourcePriceUnits as CategoryResourcePriceUnits,
)
from .category import (
    CategoryResourcePriceUnitsParam as CategoryResourcePriceUnitsParam,
)
from .category import (
    CategoryResourceResponse as CategoryResourceResponse,
)
from .category import (
    CategoryResponse as CategoryResponse,
)
from .ingest_response import (
    BulkIngestResponse as BulkIngestResponse,
)
from .ingest_response import (
    IngestResponse as IngestResponse,
)
from .ingest_units_params import (
    BulkIngestRequestParam as BulkIngestRequestParam,
)
from .ingest_units_params import (
    FunctionCallInfoParam as FunctionCallInfoParam,
)
from .ingest_units_params import (
    IngestBulkParams as IngestBulkParams,
)
from .ingest_units_params import (
    IngestUnitsParams as IngestUnitsParams,
)
from .ingest_units_params import (
    PayICommonModelsAPIRouterHeaderInfoParam as PayICommonModelsAPIRouterHeaderInfoParam,
)
from .limit import (
    CostData as CostData,
)
from .limit import (
    DefaultResponse as DefaultResponse,
)
from .limit import (
    Limit as Limit,
)
from .limit import (
    LimitCreateParams as LimitCreateParams,
)
from .limit import (
    LimitHistoryResponse as LimitHistoryResponse,
)
from .limit import (
    LimitListParams as LimitListParams,
)
from .limit import (
    LimitResetParams as LimitResetParams,
)
from .limit import (
    LimitResponse as LimitResponse,
)
from .limit import (
    LimitUpdateParams as LimitUpdateParams,
)
from .limit import (
    RequestsData as RequestsData,
)
from .limit import (
    TotalCostData as TotalCostData,
)
from .request_result import RequestResult as RequestResult
from .shared import (
    APIError as APIError,
)
from .shared import (
    IngestUnits as IngestUnits,
)
from .shared import (
    PayICommonModelsBudgetManagementCostDetailsBase as PayICommonModelsBudgetManagementCostDetailsBase,
)
from .shared import (
    PayICommonModelsBudgetManagementCreateLimitBase as PayICommonModelsBudgetManagementCreateLimitBase,
)
from .shared import (
    PropertiesRequest as PropertiesRequest,
)
from .shared import (
    PropertiesResponse as PropertiesResponse,
)
from .shared import (
    XproxyError as XproxyError,
)
from .shared import (
    XproxyResult as XproxyResult,
)
from .shared.xproxy_result import CostDetails as CostDetails
from .use_case_instance_response import UseCaseInstanceResponse as UseCaseInstanceResponse
