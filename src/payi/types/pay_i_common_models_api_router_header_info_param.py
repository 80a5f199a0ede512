"""The official SDK's module path for the header-info parameter.

Example:
    >>> from payi.types.pay_i_common_models_api_router_header_info_param import PayICommonModelsAPIRouterHeaderInfoParam
"""

from .ingest_units_params import (
    PayICommonModelsAPIRouterHeaderInfoParam as PayICommonModelsAPIRouterHeaderInfoParam,
)

__all__ = ["PayICommonModelsAPIRouterHeaderInfoParam"]
