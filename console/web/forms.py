"""Reading a posted form without a multipart parser: url-encoded bodies only, small."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request

__all__ = ["FormTooLarge", "read_form"]

MAX_FORM_BYTES = 8 * 1024
MAX_FIELDS = 10


class FormTooLarge(Exception):
    """The body is larger than any console form could be."""


async def read_form(request: Request) -> dict[str, str]:
    """The first value of each field of an ``application/x-www-form-urlencoded`` body."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge
    try:
        parsed = parse_qs(
            body.decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=MAX_FIELDS,
            strict_parsing=False,
        )
    except (UnicodeDecodeError, ValueError):
        return {}
    return {key: values[0] for key, values in parsed.items() if values}
