"""CloudEvents HTTP protocol binding: binary and structured requests in, binary mode out."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from udaconnect.broker.errors import InvalidEvent
from udaconnect.broker.event import Event, validated

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
# Printable ASCII except space, '"' and '%' travel as they are; everything else is percent-encoded.
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')
_UNSAFE = re.compile("[^" + re.escape(_SAFE) + "]")


def is_cloudevent(headers: Mapping[str, str]) -> bool:
    """Whether an HTTP message (e.g. a subscriber's reply) carries a CloudEvent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    return "ce-specversion" in lowered or lowered.get("content-type", "").startswith(STRUCTURED)


def from_http(headers: Mapping[str, str], body: bytes) -> Event:
    """The validated event in a binary- or structured-mode message; InvalidEvent otherwise."""
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get("content-type", "")
    if content_type.startswith(BATCH):
        raise InvalidEvent("batched content mode is not supported by the broker ingress")
    if content_type.startswith(STRUCTURED):
        return validated(_from_structured(body))
    attributes = {name[3:]: unquote(value) for name, value in lowered.items() if name.startswith("ce-")}
    if not attributes:
        raise InvalidEvent("no CloudEvent: neither ce-* headers nor a structured content type")
    if content_type:
        attributes["datacontenttype"] = content_type
    return validated(Event(attributes, body or None))


def to_binary(event: Event) -> tuple[dict[str, str], bytes]:
    headers = {
        ("Content-Type" if name == "datacontenttype" else f"ce-{name}"): quote(value, safe=_SAFE)
        for name, value in event.attributes.items()
    }
    return headers, event.data or b""


def binary_head(event: Event) -> bytes:
    """to_binary's headers as HTTP/1.1 header lines (CRLF-terminated): what the dispatcher writes."""
    lines = []
    for name, value in event.attributes.items():
        if _UNSAFE.search(value):  # most values need no quoting: skip quote()'s cost for them
            value = quote(value, safe=_SAFE)
        lines.append(f"Content-Type: {value}\r\n" if name == "datacontenttype" else f"ce-{name}: {value}\r\n")
    return "".join(lines).encode()


def _from_structured(body: bytes) -> Event:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"malformed JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidEvent("a structured CloudEvent must be a JSON object")
    attributes = {k: _text(v) for k, v in document.items() if k not in ("data", "data_base64")}
    if "data_base64" in document:
        try:
            return Event(attributes, base64.b64decode(document["data_base64"], validate=True))
        except (binascii.Error, TypeError) as exc:
            raise InvalidEvent(f"data_base64 is not base64: {exc}") from exc
    if "data" not in document:
        return Event(attributes, None)
    data = document["data"]
    content_type = attributes.setdefault("datacontenttype", "application/json")
    if isinstance(data, str) and not _is_json(content_type):
        return Event(attributes, data.encode())
    return Event(attributes, json.dumps(data, separators=(",", ":")).encode())


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json") or media == "text/json"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)) or value is None:
        raise InvalidEvent(f"attribute values must be scalars, got {value!r}")
    return str(value)
