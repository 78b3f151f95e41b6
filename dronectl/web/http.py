"""The HTTP helpers the web app and its STAC routes share: answers as one line of JSON, checked query
parameters, bodies read with a size and depth limit. Imports nothing of the web package (no import circle)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from starlette.requests import Request
from starlette.responses import Response

MAX_OFFSET = 1_000_000
MAX_QUERY_CHARS, MAX_VALUE_CHARS = 4096, 512
MAX_BODY_BYTES = 256 * 1024  # a JSON request body
MAX_JSON_DEPTH = 32  # nesting of arrays and objects in a JSON body (a GeoJSON MultiPolygon needs 5)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class BadRequest(Exception):
    pass


class TooLarge(BadRequest):
    pass


def json_response(obj, status: int = 200, headers: dict | None = None) -> Response:
    body = json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return Response(body, status, headers, media_type="application/json")


def error(status: int, message: str, headers: dict | None = None) -> Response:
    """One line of JSON: ``{"error": "..."}``."""
    return json_response({"error": " ".join(str(message).split())}, status, headers)


def not_found() -> Response:
    """The one answer for an image that does not exist, one the user may not see, and any unknown path."""
    return error(404, "not found")


def iso(dt: datetime | None) -> str | None:
    """Fixed-width UTC text, as the catalogue writes times."""
    if dt is None:
        return None
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def base_url(request: Request) -> str:
    """The server's own URL for absolute links: ``--base-url`` when given, else the request's Host, which the
    middleware has checked against the allowed hosts (never an arbitrary Host header)."""
    fixed = getattr(request.app.state, "base_url", None)
    return (fixed or str(request.base_url)).rstrip("/")


def query_params(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query's parameters, each at most once, all known, none oversized; empty values are absent."""
    if len(request.url.query) > MAX_QUERY_CHARS:
        raise BadRequest(f"query too long ({len(request.url.query)} characters, at most {MAX_QUERY_CHARS})")
    out: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key not in allowed:
            raise BadRequest(f"unknown parameter '{key[:40]}'; known: {', '.join(allowed)}")
        if key in out:
            raise BadRequest(f"parameter '{key}' given twice")
        if len(value) > MAX_VALUE_CHARS:
            raise BadRequest(f"parameter '{key}' too long (at most {MAX_VALUE_CHARS} characters)")
        if _CONTROL.search(value):
            raise BadRequest(f"parameter '{key}' holds control characters")
        if value.strip():
            out[key] = value.strip()
    return out


def int_param(params: dict, key: str, default: int, low: int, high: int) -> int:
    text = params.get(key)
    if text is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", text) or not low <= int(text) <= high:
        raise BadRequest(f"bad {key} '{text[:40]}': a whole number from {low} to {high}")
    return int(text)


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in JSON text (strings skipped), without parsing it."""
    depth = deepest = 0
    for b in _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        if b in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


async def read_json_object(request: Request, what: str = "body") -> dict:
    """The request's body as a JSON object: at most MAX_BODY_BYTES, nested at most MAX_JSON_DEPTH deep."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise TooLarge(f"{what} too large (at most {MAX_BODY_BYTES} bytes)")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise TooLarge(f"{what} too large (at most {MAX_BODY_BYTES} bytes)")
    raw = bytes(raw)
    if not raw.strip():
        return {}
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise BadRequest(f"the {what} nests arrays or objects more than {MAX_JSON_DEPTH} deep")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest(f"the {what} is not JSON: send a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest(f"the {what} must be a JSON object")
    return body
