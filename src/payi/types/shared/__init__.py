"""Types shared by several resources.

Example:
    >>> from payi.types.shared import XproxyResult, XproxyError
"""

from .models import (
    EvaluationResponse as EvaluationResponse,
)
from .models import (
    IngestUnits as IngestUnits,
)
from .models import (
    PayICommonModelsBudgetManagementCreateLimitBase as PayICommonModelsBudgetManagementCreateLimitBase,
)
from .models import (
    PropertiesRequest as PropertiesRequest,
)
from .models import (
    PropertiesResponse as PropertiesResponse,
)
from .xproxy_error import APIError as APIError
from .xproxy_error import XproxyError as XproxyError
from .xproxy_result import (
    PayICommonModelsBudgetManagementCostDetailsBase as PayICommonModelsBudgetManagementCostDetailsBase,
)
from .xproxy_result import (
    XproxyResult as XproxyResult,
)
