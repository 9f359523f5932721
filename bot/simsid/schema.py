"""The install event body of `POST /simsid/events`, validated field by field."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    field_validator,
)

from store.lifecycle import EventType, InstallEvent

MAX_AHEAD = timedelta(minutes=5)  # clock skew allowed between SIMS ID and this server


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it here (400) rather than fail to store it (500).
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def control_character(value: str) -> str | None:
    """The first control character (C0, DEL or C1) in `value`, as U+XXXX; None if none."""
    for ch in value:
        if unicodedata.category(ch) == "Cc":
            return f"U+{ord(ch):04X}"
    return None


def no_controls(value: str) -> str:
    """`value` unchanged, or ValueError: a name is one line of text as people typed it."""
    # A newline or a terminal escape in a name can draw fake lines wherever it is shown.
    found = control_character(value)
    if found is not None:
        raise ValueError(f"must not contain control characters ({found})")
    return value


def _not_blank(value: str) -> str:
    # Spaces alone would name nothing: a site keyed "  " no one could look up or tell apart.
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    AfterValidator(_no_nul),
    AfterValidator(_not_blank),
]
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500),
    AfterValidator(_no_nul),
    AfterValidator(_not_blank),
    AfterValidator(no_controls),
]
Label = Annotated[str, StringConstraints(max_length=100), AfterValidator(_no_nul)]


class _Application(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    id: Id
    name: Name


class _Site(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    id: Id
    name: Name
    urn: Label | None = None
    dfe_number: Label | None = None


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    id: Id
    type: EventType
    occurred_at: datetime
    application: _Application
    site: _Site

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: object) -> object:
        if isinstance(value, str):
            return EventType(value) if value in {e.value for e in EventType} else value
        return value

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _timestamp(cls, value: object) -> datetime:
        if not isinstance(value, str):
            raise ValueError("must be an ISO 8601 timestamp string")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be an ISO 8601 timestamp such as 2026-11-27T09:00:00Z") from None
        if parsed.tzinfo is None:
            raise ValueError("must include a time zone (Z or +00:00)")
        try:
            moment = parsed.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59:59-01:00 is past the year 9999 in UTC
            raise ValueError("is out of range") from None
        # Events apply in occurred_at order: one from the future would make every real
        # event after it "older than the last change" and freeze the installation.
        if moment > datetime.now(UTC) + MAX_AHEAD:
            raise ValueError(
                f"is more than {MAX_AHEAD.seconds // 60} minutes ahead of this server's clock"
            )
        return moment


class BadEvent(ValueError):
    """The body is not a valid install event; the message names the field."""


def parse_event(body: bytes | str | dict[str, Any]) -> InstallEvent:
    """Parse and validate one install event, raising BadEvent that names the first bad field."""
    if isinstance(body, dict):
        data: object = body
    else:
        try:
            data = json.loads(body)
        # RecursionError: nesting too deep for the decoder, e.g. 30,000 "[" in 60 KB.
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise BadEvent("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadEvent("body must be a JSON object")
    try:
        event = _Event.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        if first["type"] == "missing":
            raise BadEvent(f"{field} is missing") from None
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "enum" or field == "type":
            message = "must be installation.created or installation.removed"
        raise BadEvent(f"{field}: {message}") from None
    return InstallEvent(
        id=event.id,
        type=EventType(event.type),
        occurred_at=event.occurred_at,
        application_id=event.application.id,
        application_name=event.application.name,
        site_id=event.site.id,
        site_name=event.site.name,
        site_urn=event.site.urn,
        site_dfe_number=event.site.dfe_number,
    )
