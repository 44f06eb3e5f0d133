"""Schema building blocks shared by every domain."""

import re
from typing import Annotated, Generic, TypeVar
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# Unknown fields are rejected everywhere, so a typo never silently does nothing.
STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
READ = ConfigDict(from_attributes=True)

_TIME_ZONES = frozenset(available_timezones())
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")


def _time_zone(value: str) -> str:
    if value not in _TIME_ZONES:
        raise ValueError(f"unknown IANA time zone {value!r}")
    return value


def _url(value: str) -> str:
    if not _URL.match(value):
        raise ValueError("must be an http:// or https:// URL")
    return value


def _phone(value: str) -> str:
    if not _PHONE.match(value):
        raise ValueError("must be an E.164 phone number such as +14155550123")
    return value


TimeZone = Annotated[str, AfterValidator(_time_zone)]
HttpUrl = Annotated[str, Field(max_length=2048), AfterValidator(_url)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


def check_url(value: str) -> str:
    """Validate an http(s) URL outside a schema."""
    return _url(value)


def check_phone(value: str) -> str:
    """Validate an E.164 phone number outside a schema."""
    return _phone(value)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a list with the cursor of the next page (null on the last)."""

    items: list[T]
    next_cursor: str | None = None
