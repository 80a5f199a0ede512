"""Every request and response type of the Pay-i API, under the official SDK's names.

Example:
    >>> from payi.types import IngestResponse, LimitResponse, XproxyResult
"""

from __future__ import annotations

from .admin import (
    ApiKey as ApiKey,
    Application as Application,
    ApplicationCreateResponse as ApplicationCreateResponse,
    ApplicationResponse as ApplicationResponse,
    KeyResponse as KeyResponse,
)
from .category import (
    CategoryDeleteResourceResponse as CategoryDeleteResourceResponse,
    CategoryDeleteResponse as CategoryDeleteResponse,
    CategoryListParams as CategoryListParams,
    CategoryListResourcesParams as CategoryListResourcesParams,
    CategoryResourceMappedResource as CategoryResourceMappedResource,
    CategoryResourcePriceUnits as CategoryResourcePriceUnits,
    CategoryResourcePriceUnitsParam as CategoryResourcePriceUnitsParam,
    CategoryResourceResponse as CategoryResourceResponse,
    CategoryResponse as CategoryResponse,
)
from .ingest_response import (
    BulkIngestResponse as BulkIngestResponse,
    IngestResponse as IngestResponse,
)
from .ingest_units_params import (
    BulkIngestRequestParam as BulkIngestRequestParam,
    FunctionCallInfoParam as FunctionCallInfoParam,
    IngestBulkParams as IngestBulkParams,
    IngestUnitsParams as IngestUnitsParams,
    PayICommonModelsAPIRouterHeaderInfoParam as PayICommonModelsAPIRouterHeaderInfoParam,
)
from .limit import (
    CostData as CostData,
    DefaultResponse as DefaultResponse,
    Limit as Limit,
    LimitCreateParams as LimitCreateParams,
    LimitHistoryResponse as LimitHistoryResponse,
    LimitListParams as LimitListParams,
    LimitResetParams as LimitResetParams,
    LimitResponse as LimitResponse,
    LimitUpdateParams as LimitUpdateParams,
    RequestsData as RequestsData,
    TotalCostData as TotalCostData,
)
from .request_result import RequestResult as RequestResult
from .shared import (
    APIError as APIError,
    IngestUnits as IngestUnits,
    PayICommonModelsBudgetManagementCostDetailsBase as PayICommonModelsBudgetManagementCostDetailsBase,
    PayICommonModelsBudgetManagementCreateLimitBase as PayICommonModelsBudgetManagementCreateLimitBase,
    PropertiesRequest as PropertiesRequest,
    PropertiesResponse as PropertiesResponse,
    XproxyError as XproxyError,
    XproxyResult as XproxyResult,
)
from .shared.xproxy_result import CostDetails as CostDetails
from .use_case_instance_response import UseCaseInstanceResponse as UseCaseInstanceResponse
