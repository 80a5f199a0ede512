"""Types shared by several resources.

Example:
    >>> from payi.types.shared import XproxyResult, XproxyError
"""

from .models import (
    EvaluationResponse as EvaluationResponse,
    IngestUnits as IngestUnits,
    PayICommonModelsBudgetManagementCreateLimitBase as PayICommonModelsBudgetManagementCreateLimitBase,
    PropertiesRequest as PropertiesRequest,
    PropertiesResponse as PropertiesResponse,
)
from .xproxy_error import APIError as APIError, XproxyError as XproxyError
from .xproxy_result import (
    PayICommonModelsBudgetManagementCostDetailsBase as PayICommonModelsBudgetManagementCostDetailsBase,
    XproxyResult as XproxyResult,
)
