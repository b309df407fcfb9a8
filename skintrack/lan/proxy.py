"""The HTTPS gate of LAN mode: a small reverse proxy in front of Streamlit.

Streamlit listens on 127.0.0.1 only. The gate terminates TLS on the LAN address, answers the
lock page and the pairing exchange itself, and forwards a request (page, static file, media,
upload, websocket) only when it carries the cookie of a device that is paired and not revoked.
It speaks plain asyncio streams, one request per connection to Streamlit: each request is
checked on its own, and a request's bytes past its declared length never reach Streamlit.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import ssl
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass

from skintrack.config import Settings
from skintrack.db import devices
from skintrack.lan.certificate import Certificate
from skintrack.lan.request import COOKIE, BadRequest, Request, device_cookie, parse_head, without_device_cookie

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateOptions:
    """Limits of the gate. Failures are wrong or used pairing codes and unknown or revoked tokens."""

    # Failures per client address before each further one is answered slowly.
    free_failures: int = 3
    # Delay of each failure past the free ones (seconds): a guess per second at most.
    failure_delay_s: float = 1.0
    # Failures per address within the window after which that address is refused outright.
    lockout_after: int = 10
    window_s: float = 600.0
    # A request head larger than this is refused (bytes).
    max_head_bytes: int = 64 * 1024
    # The largest body forwarded (bytes): the Data page restores archives up to 1 GiB.
    max_body_bytes: int = 1100 * 2**20
    # How long a paired device keeps its cookie (browsers cap cookies at 400 days).
    cookie_max_age_s: int = 400 * 86400
    # "Last seen" is written at most this often per device (seconds).
    seen_every_s: float = 60.0
    # An open websocket of a device is closed within this long after the device is revoked (seconds).
    recheck_s: float = 2.0


class Throttle:
    """Failures counted per client address: the first few free, then slowed, then refused."""

    def __init__(self, options: GateOptions):
        self.options = options
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.setdefault(address, deque())
        while times and times[0] < now - self.options.window_s:
            times.popleft()
        return times

    def locked(self, address: str, now: float | None = None) -> bool:
        return len(self._recent(address, now or time.monotonic())) >= self.options.lockout_after

    def fail(self, address: str, now: float | None = None) -> float:
        """Count a failure; return how long to wait before answering it (seconds)."""
        times = self._recent(address, now or time.monotonic())
        times.append(now or time.monotonic())
        return self.options.failure_delay_s if len(times) > self.options.free_failures else 0.0


def page(title: str, body: str) -> bytes:
    """A self-contained page: no script, no image, nothing from anywhere else."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>body{{font:18px/1.5 system-ui,sans-serif;margin:2em auto;"
        "max-width:28em;padding:0 1em}button,input{font:inherit;padding:.5em;margin:.3em 0;width:100%;box-sizing:border-box}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    ).encode()


LOCKED = page(
    "skintrack is locked",
    "<p>This device is not paired. To use skintrack here, open the pairing link shown on the "
    "computer where skintrack runs (its terminal, or the Data page, tab Phones) or scan its QR code.</p>",
)


def pair_form(code: str) -> bytes:
    return page(
        "Pair this device with skintrack",
        "<form method='post' action='/pair'>"
        f"<input type='hidden' name='code' value='{html.escape(code, quote=True)}'>"
        "<label>Name of this device<input name='name' value='Phone' maxlength='60'></label>"
        "<button type='submit'>Pair this device</button></form>"
        "<p>Check that the certificate fingerprint your browser shows matches the one on the computer.</p>",
    )


class Gate:
    """The proxy: ``serve()`` listens with TLS on ``address:port`` and forwards to ``backend``."""

    def __init__(
        self, settings: Settings, cert: Certificate, backend: tuple[str, int], options: GateOptions | None = None
    ):
        self.settings = settings
        self.cert = cert
        self.backend = backend
        self.options = options or GateOptions()
        self.throttle = Throttle(self.options)
        self._tokens: tuple[tuple, dict[str, int]] | None = None
        self._tokens_lock = asyncio.Lock()
        self._seen: dict[int, float] = {}

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert.cert_path, self.cert.key_path)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    async def serve(self, address: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(
            self.handle,
            address,
            port,
            ssl=self.ssl_context(),
            limit=self.options.max_head_bytes,
            ssl_handshake_timeout=10,
        )

    # ------------------------------------------------------------ devices

    def _stamp(self) -> tuple:
        """Changes whenever the database does, whichever process wrote it (a revoke on the Data page)."""
        db = self.settings.db_path
        out = []
        for path in (db, db.with_name(db.name + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                st = path.stat()
                out.append((st.st_mtime_ns, st.st_size))
                continue
            out.append(None)
        return tuple(out)

    async def device_of(self, token: str | None) -> int | None:
        """The id of the paired, unrevoked device holding ``token``, else None."""
        if not token:
            return None
        async with self._tokens_lock:
            stamp = self._stamp()  # taken before reading: a write during the read forces another read
            if self._tokens is None or self._tokens[0] != stamp:
                self._tokens = (stamp, await asyncio.to_thread(devices.valid_tokens, self.settings))
            return self._tokens[1].get(devices.digest(token))

    def _note_seen(self, device_id: int, address: str) -> None:
        now = time.monotonic()
        if now - self._seen.get(device_id, -1e9) < self.options.seen_every_s:
            return
        self._seen[device_id] = now

        async def write() -> None:
            try:
                await asyncio.to_thread(devices.seen, self.settings, device_id, address)
            except Exception as exc:  # "last seen" is a courtesy; never fail a request for it
                log.warning("could not record device %s as seen: %s", device_id, exc)

        asyncio.get_running_loop().create_task(write())

    # ------------------------------------------------------------ connections

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = (writer.get_extra_info("peername") or ("?",))[0]
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                request = parse_head(head)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, BadRequest):
                await self._answer(writer, 400, page("Bad request", "<p>This server speaks HTTPS to browsers.</p>"))
                return
            await self._route(request, reader, writer, address)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def _route(self, request: Request, reader, writer, address: str) -> None:
        if request.path == "/pair":
            await self._pair(request, reader, writer, address)
            return
        origin = request.header("Origin")
        if origin is not None and origin != f"https://{request.header('Host')}":
            await self._answer(writer, 403, page("Refused", "<p>A request from another site.</p>"))
            return
        token = device_cookie(request)
        if token is None:
            await self._answer(writer, 401, LOCKED)
            return
        if self.throttle.locked(address):
            await self._answer(writer, 429, page("Too many attempts", "<p>Try again in a few minutes.</p>"))
            return
        device_id = await self.device_of(token)
        if device_id is None:
            await asyncio.sleep(self.throttle.fail(address))
            await self._answer(
                writer,
                401,
                LOCKED,
                [("Set-Cookie", f"{COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict")],
            )
            return
        self._note_seen(device_id, address)
        await self._forward(request, reader, writer, token)

    async def _pair(self, request: Request, reader, writer, address: str) -> None:
        if request.method == "GET":
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.target).query)
            await self._answer(writer, 200, pair_form((query.get("code") or [""])[0]))
            return
        if request.method != "POST":
            await self._answer(writer, 405, page("Not allowed", "<p>Open the pairing link.</p>"))
            return
        if self.throttle.locked(address):
            await self._answer(
                writer,
                429,
                page(
                    "Too many attempts",
                    "<p>Wrong pairing codes from this device: wait ten minutes, then use a new link.</p>",
                ),
            )
            return
        length = int(request.header("Content-Length") or 0)
        if not 0 < length <= 4096:
            await self._answer(writer, 400, page("Bad request", "<p>The pairing form is missing.</p>"))
            return
        form = urllib.parse.parse_qs((await reader.readexactly(length)).decode("utf-8", "replace"))
        try:
            token, _ = await asyncio.to_thread(
                devices.pair, self.settings, (form.get("code") or [""])[0], (form.get("name") or [""])[0]
            )
        except devices.PairingRefused as exc:
            await asyncio.sleep(self.throttle.fail(address))
            await self._answer(writer, 403, page("Not paired", f"<p>{html.escape(str(exc))}.</p>"))
            return
        cookie = f"{COOKIE}={token}; Max-Age={self.options.cookie_max_age_s}; Path=/; Secure; HttpOnly; SameSite=Strict"
        await self._answer(writer, 303, b"", [("Set-Cookie", cookie), ("Location", "/")])

    async def _answer(self, writer, status: int, body: bytes, extra: list[tuple[str, str]] = ()) -> None:
        reasons = {
            200: "OK",
            303: "See Other",
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            405: "Method Not Allowed",
            411: "Length Required",
            413: "Content Too Large",
            429: "Too Many Requests",
            502: "Bad Gateway",
        }
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Frame-Options", "DENY"),
            ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"),
            *extra,
        ]
        lines = [f"HTTP/1.1 {status} {reasons.get(status, 'Error')}", *(f"{k}: {v}" for k, v in headers)]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()

    async def _forward(self, request: Request, reader, writer, token: str) -> None:
        websocket = (request.header("Upgrade") or "").lower() == "websocket"
        if request.header("Transfer-Encoding") is not None:
            await self._answer(writer, 411, page("Length required", "<p>Send a Content-Length.</p>"))
            return
        length = int(request.header("Content-Length") or 0)
        if length > self.options.max_body_bytes:
            await self._answer(writer, 413, page("Too large", "<p>This upload is too large.</p>"))
            return
        headers = []
        for name, value in request.headers:
            lowered = name.lower()
            if lowered in ("connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer"):
                continue
            if lowered == "upgrade" and not websocket:
                continue
            if lowered == "cookie":
                value = without_device_cookie(value)
                if not value:
                    continue
            headers.append((name, value))
        headers.append(("Connection", "Upgrade" if websocket else "close"))
        head = (
            "\r\n".join([f"{request.method} {request.target} HTTP/1.1", *(f"{k}: {v}" for k, v in headers)])
            + "\r\n\r\n"
        )
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.backend)
        except OSError:
            await self._answer(writer, 502, page("skintrack is starting", "<p>Try again in a moment.</p>"))
            return
        try:
            up_writer.write(head.encode("latin-1"))
            remaining = length
            while remaining > 0:
                chunk = await reader.read(min(remaining, 2**16))
                if not chunk:
                    return
                up_writer.write(chunk)
                await up_writer.drain()
                remaining -= len(chunk)
            if websocket:
                await self._tunnel(reader, writer, up_reader, up_writer, token)
            else:
                await _copy(up_reader, writer)
        finally:
            up_writer.close()
            with contextlib.suppress(ConnectionError):
                await up_writer.wait_closed()

    async def _tunnel(self, reader, writer, up_reader, up_writer, token: str) -> None:
        """Both directions of a websocket until either side closes, or the device is revoked."""

        async def revoked() -> None:
            while await self.device_of(token) is not None:
                await asyncio.sleep(self.options.recheck_s)

        tasks = [asyncio.ensure_future(t) for t in (_copy(reader, up_writer), _copy(up_reader, writer), revoked())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        while chunk := await source.read(2**16):
            sink.write(chunk)
            await sink.drain()
