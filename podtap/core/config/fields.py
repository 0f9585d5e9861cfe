"""Building blocks of the config models: the base model and mirrord's value shapes.

mirrord writes every optional field as ``T | null`` (``null`` = not given), many lists as
"one value or a list" (``VecOrSingle``), and many sections as "``true``/``false`` or an object"
(``ToggleableConfig``). The helpers here turn each of those shapes into the one canonical form
the models hold.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, model_validator

from podtap.core.config.filter_items import split_list
from podtap.core.safe_regex import FilterRegexError, check_filter_regex

__all__ = [
    "Model",
    "Port",
    "PortList",
    "RegexList",
    "SemicolonList",
    "check_http_regex",
    "check_regex",
    "check_regexes",
    "enabled_shorthand",
]


class Model(BaseModel):
    """Base of every config section: unknown keys are kept aside for the loader to report
    (:mod:`podtap.core.config.known_keys`); ``null`` for a known key means "not given", as in
    mirrord."""

    model_config = ConfigDict(extra="allow", validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (v is None and k in cls.model_fields)}
        return data


def _single_to_list(value: Any) -> Any:
    """A single value stands for a one-item list (regexes: never split on ``;``)."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        return [value]
    return value


def check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as e:
        raise ValueError(f"invalid regular expression {value!r}: {e}") from None
    return value


def check_regexes(values: list[str] | None) -> list[str] | None:
    if values is not None:
        for v in values:
            check_regex(v)
    return values


def check_http_regex(value: str | None, info: ValidationInfo) -> str | None:
    """HTTP filters run in the agent on RE2 (linear time): refuse here, at the first
    look, what the agent would refuse (lookaround, backreferences, ...). An empty filter is
    refused as mirrord does: it would match every request, a steal of the whole port."""
    if value is not None:
        if value == "":
            raise ValueError(
                "must not be empty (an empty filter matches every request): "
                "give a regex or remove the key"
            )
        try:
            check_filter_regex(value, ignore_case=info.field_name in ("header", "header_filter"))
        except FilterRegexError as e:
            if e.python_error is not None:  # worded as for every other regex of the config
                message = f"invalid regular expression {value!r}: {e.python_error}"
                raise ValueError(message) from None
            raise ValueError(str(e)) from None
    return value


def enabled_shorthand(v: Any) -> Any:
    """``true``/``false`` is shorthand for ``{"enabled": ...}``."""
    if isinstance(v, bool):
        return {"enabled": v}
    return v


SemicolonList = Annotated[
    list[str], BeforeValidator(split_list, json_schema_input_type=str | list[str])
]
RegexList = Annotated[
    list[str], BeforeValidator(_single_to_list, json_schema_input_type=str | list[str])
]
Port = Annotated[int, Field(ge=1, le=65535)]
#: mirrord's ``VecOrSingle<u16>``: ``8080`` stands for ``[8080]``.
PortList = Annotated[
    list[Port], BeforeValidator(_single_to_list, json_schema_input_type=Port | list[Port])
]
