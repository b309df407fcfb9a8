"""An HTTP/1.x request head as the LAN gate reads it: the request line, the headers, and the
device cookie that the gate checks and never passes on to Streamlit."""

from __future__ import annotations

import contextlib
import urllib.parse
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

COOKIE = "skintrack_device"


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.target).path


class BadRequest(Exception):
    """The request head cannot be parsed."""


def parse_head(head: bytes) -> Request:
    """The request line and headers of an HTTP/1.x request head."""
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise BadRequest(f"malformed request line {head[:80]!r}") from None
    if not version.startswith("HTTP/1.") or not target.startswith("/"):
        raise BadRequest(f"unsupported request line {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(f"malformed header line {line[:80]!r}")
        headers.append((name, value.strip()))
    return Request(method, target, headers)


def device_cookie(request: Request) -> str | None:
    cookie = SimpleCookie()
    for value in (v for k, v in request.headers if k.lower() == "cookie"):
        with contextlib.suppress(CookieError):
            cookie.load(value)
    return cookie[COOKIE].value if COOKIE in cookie else None


def without_device_cookie(value: str) -> str:
    """A Cookie header with our device cookie taken out: Streamlit (and its pages) never see the token."""
    return "; ".join(p.strip() for p in value.split(";") if p.strip() and p.split("=", 1)[0].strip() != COOKIE)
