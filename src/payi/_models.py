"""The base of every response type, and the one function that turns JSON into typed objects.

Example:
    >>> from payi import BaseModel
    >>> class Thing(BaseModel):
    ...     name: str
    >>> Thing.model_validate({"name": "a", "extra": 1}).to_dict()
    {'name': 'a', 'extra': 1}
"""

from __future__ import annotations

import inspect
import types
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, TypeVar, Union, cast, get_args, get_origin

import pydantic
from pydantic import ConfigDict

__all__ = ["BaseModel", "construct_type", "validate_type"]

_T = TypeVar("_T")


class BaseModel(pydantic.BaseModel):
    """A pydantic model that keeps unknown fields (``extra="allow"``), like every Pay-i type.

    Unknown response fields are kept: ``response.model_extra`` (or attribute access) returns them.

    Example:
        >>> from payi.types import DefaultResponse
        >>> r = DefaultResponse.model_validate({"request_id": "1", "new_field": True})
        >>> r.request_id, r.new_field
        ('1', True)
    """

    model_config = ConfigDict(
        extra="allow", populate_by_name=True, protected_namespaces=(), arbitrary_types_allowed=True
    )

    def __str__(self) -> str:
        """``Name(field=value, ...)``, as the official SDK prints a model."""
        return f"{self.__repr_name__()}({self.__repr_str__(', ')})"  # type: ignore[misc]

    @classmethod
    def construct(cls, _fields_set: set[str] | None = None, **values: object) -> Self:  # type: ignore[override]
        """Build without validating, coercing what can be: nested dicts become models, ISO strings datetimes, a
        union takes the member the value's shape fits; values that fit nothing are kept as given. Keys may be
        field names or the API's names. Also available as ``model_construct``.

        Example:
            >>> from payi.types import LimitResponse
            >>> r = LimitResponse.construct(limit={"limit_id": "1", "limit_creation_timestamp": "2025-05-01T00:00:00Z"})
            >>> r.limit.limit_id, r.limit.limit_creation_timestamp.year
            ('1', 2025)
        """
        return cast(Self, _construct_model(cls, values, _fields_set))

    if not TYPE_CHECKING:
        model_construct = construct

    def to_dict(
        self,
        *,
        mode: Literal["json", "python"] = "python",
        use_api_names: bool = True,
        exclude_unset: bool = True,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
    ) -> dict[str, object]:
        """The model as a dict, by default with the API's field names and only the fields that were set.

        Example:
            >>> from payi.types import PropertiesResponse
            >>> PropertiesResponse.model_validate({"request_id": "7"}).to_dict()
            {'request_id': '7'}
        """
        return self.model_dump(
            mode=mode,
            by_alias=use_api_names,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
        )

    def to_json(
        self,
        *,
        indent: int | None = 2,
        use_api_names: bool = True,
        exclude_unset: bool = True,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
    ) -> str:
        """The model as a JSON string.

        Example:
            >>> from payi.types import PropertiesResponse
            >>> PropertiesResponse.model_validate({"request_id": "7"}).to_json(indent=None)
            '{"request_id":"7"}'
        """
        return self.model_dump_json(
            indent=indent,
            by_alias=use_api_names,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
        )


def validate_type(type_: Any, value: object) -> Any:
    """Validate ``value`` as ``type_`` (a model, ``list[...]`` of models, or ``None``); raises ``ValidationError``."""
    if type_ is None or type_ is type(None):
        return None
    if inspect.isclass(type_) and issubclass(type_, pydantic.BaseModel):
        return type_.model_validate(value)
    return pydantic.TypeAdapter(type_).validate_python(value)


def construct_type(type_: Any, value: object) -> Any:
    """Build ``type_`` from ``value`` without failing: validate when possible, otherwise construct field by field.

    Fields that do not match their declared type keep the raw JSON value, so a response that lacks a required
    field, or carries an unexpected enum value, still reaches the caller (the official SDK's lenient mode).
    """
    try:
        return validate_type(type_, value)
    except pydantic.ValidationError:
        return _construct(type_, value)


def _construct(type_: Any, value: object) -> Any:
    origin = get_origin(type_)
    args = get_args(type_)
    if origin is Annotated:
        return _construct(args[0], value)
    if origin is Union or origin is types.UnionType:
        if value is None:
            return None
        return _construct(_best_union_member(args, value), value)
    if origin is list and isinstance(value, list):
        return [_construct(args[0] if args else Any, item) for item in value]
    if origin is dict and isinstance(value, dict):
        item_type = args[1] if len(args) == 2 else Any
        return {key: _construct(item_type, item) for key, item in value.items()}
    if inspect.isclass(type_) and issubclass(type_, pydantic.BaseModel) and isinstance(value, dict):
        return _construct_model(type_, cast("dict[str, object]", value))
    if type_ in (datetime, date) and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return parsed if type_ is datetime else parsed.date()
    if type_ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _best_union_member(members: tuple[Any, ...], value: object) -> Any:
    candidates = [member for member in members if member is not type(None)]
    for member in candidates:
        origin = get_origin(member) or member
        if isinstance(value, dict) and (
            origin is dict or (inspect.isclass(origin) and issubclass(origin, pydantic.BaseModel))
        ):
            return member
        if isinstance(value, list) and origin is list:
            return member
        if isinstance(value, str) and origin in (str, datetime, date):
            return member
    return candidates[0] if candidates else Any


_pydantic_construct = pydantic.BaseModel.model_construct.__func__  # type: ignore[attr-defined]


def _construct_model(
    model: type[pydantic.BaseModel], data: dict[str, object], fields_set: set[str] | None = None
) -> pydantic.BaseModel:
    values: dict[str, object] = {}
    used: set[str] = set()
    for name, field in model.model_fields.items():
        key = field.alias if field.alias is not None and field.alias in data else name
        if key in data:
            values[name] = _construct(field.annotation, data[key])
            used.add(key)
    extras = {key: item for key, item in data.items() if key not in used and key not in values}
    given = set(values) | set(extras) if fields_set is None else fields_set
    return cast(pydantic.BaseModel, _pydantic_construct(model, given, **values, **extras))
