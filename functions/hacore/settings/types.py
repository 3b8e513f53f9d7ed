"""The value types the settings are made of, each parsing what an operator writes in `.env`."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr


class Concern(BaseModel):
    """Base of each concern's settings: field aliases are the environment variable names."""

    # Each concern alone is never validated: its schema is built once, in the composite `Settings`.
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True, defer_build=True)


def _seconds_or_millis(value: Any) -> Any:
    """The original configured the check interval in milliseconds (60000); accept both.

    A bare number of 1000 or more is read as milliseconds, a smaller one as seconds;
    an explicit `ms` or `s` suffix settles it.
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text.endswith("ms"):
            return float(text[:-2]) / 1000
        if text.endswith("s"):
            return float(text[:-1])
        value = text
    number = float(value)
    return number / 1000 if number >= 1000 else number


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _bool_text(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return value


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


Seconds = Annotated[float, BeforeValidator(_seconds_or_millis), Field(gt=0)]
CommaList = Annotated[list[str], BeforeValidator(_comma_list)]
OptionalText = Annotated[str | None, BeforeValidator(_blank_is_none)]
OptionalInt = Annotated[int | None, BeforeValidator(_blank_is_none)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_blank_is_none)]  # blank: not set
Flag = Annotated[bool, BeforeValidator(_bool_text)]
OptionalFlag = Annotated[bool | None, BeforeValidator(lambda v: _bool_text(_blank_is_none(v)))]  # blank: None
