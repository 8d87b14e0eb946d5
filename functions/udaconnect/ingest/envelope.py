"""Read CloudEvents from an HTTP request in binary, structured or batch mode, without judging their content."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from udaconnect.errors import FieldError, InvalidInput

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
#: A batch larger than either limit is refused whole with 413 (clients split it; nothing is half-accepted).
MAX_BATCH_EVENTS = 1000
MAX_BODY_BYTES = 1024 * 1024


class TooLarge(InvalidInput):
    status = 413


class UnsupportedMediaType(InvalidInput):
    status = 415


_MISSING = object()


@dataclass
class RawEvent:
    """Attributes as sent (strings from headers, any JSON scalar from a structured body) and the decoded data."""

    attributes: dict[str, Any]
    data: Any = _MISSING
    data_error: str = ""

    @property
    def has_data(self) -> bool:
        return self.data is not _MISSING


def media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def read(headers: Mapping[str, str], body: bytes) -> tuple[list[RawEvent], bool]:
    """The request's events and whether it was a batch; InvalidInput when it is not CloudEvents at all."""
    if len(body) > MAX_BODY_BYTES:
        raise TooLarge(f"the body exceeds {MAX_BODY_BYTES} bytes; send smaller batches",
                       [FieldError("body", f"{len(body)} bytes")])
    lowered = {k.lower(): v for k, v in headers.items()}
    media = media_type(lowered.get("content-type", ""))
    if media == BATCH:
        document = _json(body)
        if not isinstance(document, list):
            raise InvalidInput("a batch must be a JSON array of structured CloudEvents",
                               [FieldError("body", f"got {type(document).__name__}")])
        if len(document) > MAX_BATCH_EVENTS:
            raise TooLarge(f"a batch holds at most {MAX_BATCH_EVENTS} events",
                           [FieldError("body", f"{len(document)} events")])
        if not document:
            raise InvalidInput("the batch is empty", [FieldError("body", "no events")])
        return [structured(item) for item in document], True
    if media == STRUCTURED:
        return [structured(_json(body))], False
    attributes: dict[str, Any] = {k[3:]: unquote(v) for k, v in lowered.items() if k.startswith("ce-")}
    if not attributes:
        raise UnsupportedMediaType(
            "not a CloudEvent: send ce-* headers (binary mode), application/cloudevents+json or "
            "application/cloudevents-batch+json", [FieldError("content-type", repr(media))])
    if media:
        attributes["datacontenttype"] = lowered["content-type"]
    event = RawEvent(attributes)
    if body:
        try:
            event.data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            event.data_error = f"not valid JSON: {error}"
    return [event], False


def structured(item: Any) -> RawEvent:
    if not isinstance(item, dict):
        return RawEvent({}, data_error=f"a structured CloudEvent must be a JSON object, got {type(item).__name__}")
    attributes = {k: v for k, v in item.items() if k not in ("data", "data_base64")}
    event = RawEvent(attributes)
    if "data_base64" in item:
        try:
            event.data = json.loads(base64.b64decode(item["data_base64"], validate=True))
        except (binascii.Error, TypeError, ValueError, UnicodeDecodeError, RecursionError) as error:
            event.data_error = f"data_base64 is not base64-encoded JSON: {error}"
    elif "data" in item:
        event.data = item["data"]
    return event


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # RecursionError: nested too deeply
        raise InvalidInput("the body is not valid JSON", [FieldError("body", str(error)[:200])]) from None
