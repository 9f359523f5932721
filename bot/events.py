"""The install event body of `POST /simsid/events`, validated field by field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator

from store.lifecycle import EventType, InstallEvent

Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Label = Annotated[str, StringConstraints(max_length=100)]


class _Application(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    name: Text


class _Site(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    name: Text
    urn: Label | None = None
    dfe_number: Label | None = None


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    type: EventType
    occurred_at: datetime
    application: _Application
    site: _Site

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        if isinstance(value, str):
            return EventType(value) if value in {e.value for e in EventType} else value
        return value

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _timestamp(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("must be an ISO 8601 timestamp string")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be an ISO 8601 timestamp such as 2026-11-27T09:00:00Z") from None
        if parsed.tzinfo is None:
            raise ValueError("must include a time zone (Z or +00:00)")
        return parsed.astimezone(UTC)


class BadEvent(ValueError):
    """The body is not a valid install event; the message names the field."""


def parse_event(body: bytes | str | dict[str, Any]) -> InstallEvent:
    """Parse and validate one install event, raising BadEvent that names the first bad field."""
    if isinstance(body, dict):
        data: Any = body
    else:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
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
