"""``python -m skintrack serve [--lan]``: the app on this computer, or also on the home network.

Without ``--lan`` this is ``make run``: Streamlit on 127.0.0.1 only. With ``--lan``, Streamlit
still listens on 127.0.0.1 only (the computer's own browser uses it as before), and the HTTPS
gate (``proxy.py``) listens on the LAN address: paired phones get the app, anything else a
lock page. The terminal shows the pairing link, the certificate's fingerprint and a QR code.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass

import segno

from skintrack.config import PROJECT_ROOT, Settings
from skintrack.db import devices
from skintrack.lan import certificate
from skintrack.lan.proxy import Gate, GateOptions

# Set for the Streamlit process by ``serve --lan``: the address phones use (https://ADDR:PORT).
LAN_URL_ENV = "SKINTRACK_LAN_URL"


@dataclass(frozen=True)
class ServeOptions:
    """Where ``serve`` listens."""

    # The LAN address phones connect to; None: the address of this computer's default route.
    address: str | None = None
    # The HTTPS port of the gate.
    port: int = 8443
    # Streamlit's own port, on 127.0.0.1 only (the port of `make run`).
    local_port: int = 8501


def default_address() -> str:
    """This computer's address on its network: the source address of its default route
    (a UDP "connection" sends no packet; it only asks the kernel for a route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere
            return s.getsockname()[0]
        except OSError:
            raise ValueError("this computer has no network address; give one with --address") from None


def announced() -> str | None:
    """The LAN address of this app (https://ADDR:PORT) while ``serve --lan`` runs it, else None."""
    return os.environ.get(LAN_URL_ENV) or None


def pairing_link(base: str, code: str) -> str:
    return f"{base}/pair?code={code}"


def qr_text(link: str) -> str:
    """The QR code of ``link`` drawn with characters, for a terminal."""
    out = io.StringIO()
    segno.make(link, error="m").terminal(out=out, compact=True)
    return out.getvalue()


def qr_png(link: str, scale: int = 6) -> bytes:
    out = io.BytesIO()
    segno.make(link, error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def streamlit_command(local_port: int) -> list[str]:
    """The command of ``make run``: Streamlit on 127.0.0.1 only."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(PROJECT_ROOT / "app.py"),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(local_port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]


def free_port(address: str = "127.0.0.1") -> int:
    """A port free on ``address`` now (the kernel's choice), for a server started next."""
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 120.0, poll: float = 0.3) -> None:
    """Return once Streamlit (``proc``) answers its health check on 127.0.0.1:``port``; raise
    RuntimeError if it exits first or does not answer within ``timeout`` seconds (asking every
    ``poll`` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with status {proc.returncode} (is port {port} in use?)")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(poll)
    raise RuntimeError(f"streamlit did not answer on 127.0.0.1:{port} within {timeout:.0f} s")


async def _gate_until_stopped(gate: Gate, address: str, port: int, proc: subprocess.Popen) -> None:
    server = await gate.serve(address, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    async with server:
        while not stop.is_set() and proc.poll() is None:
            with_timeout = asyncio.wait_for(stop.wait(), 1.0)
            try:
                await with_timeout
            except TimeoutError:
                pass


def serve(settings: Settings, options: ServeOptions, lan: bool) -> int:
    env = {**os.environ, "SKINTRACK_HOME": str(settings.home)}
    if not lan:
        return subprocess.call(streamlit_command(options.local_port), cwd=PROJECT_ROOT, env=env)
    address = options.address or default_address()
    cert = certificate.ensure(settings, address)
    base = f"https://{address}:{options.port}"
    link = pairing_link(base, devices.new_code(settings))
    proc = subprocess.Popen(
        streamlit_command(options.local_port),
        cwd=PROJECT_ROOT,
        env={**env, LAN_URL_ENV: base},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(options.local_port, proc)
        print(f"On this computer: http://127.0.0.1:{options.local_port}")
        print(f"Pairing link (one phone, valid {devices.CODE_TTL.seconds // 60} minutes): {link}")
        print(f"Certificate SHA-256 fingerprint: {cert.fingerprint}")
        print(qr_text(link), flush=True)
        print("More pairing links: the Data page, tab Phones. Stop with Ctrl+C.", flush=True)
        gate = Gate(settings, cert, ("127.0.0.1", options.local_port), GateOptions())
        asyncio.run(_gate_until_stopped(gate, address, options.port, proc))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


# ---------------------------------------------------------------- command line: python -m skintrack serve


def add_arguments(parser) -> None:
    parser.add_argument("--lan", action="store_true", help="also serve paired phones on the home network, over HTTPS")
    parser.add_argument("--address", help="the LAN address to serve on (default: this computer's address)")
    parser.add_argument("--port", type=int, default=ServeOptions.port, help="HTTPS port of LAN mode (default 8443)")
    parser.add_argument(
        "--local-port", type=int, default=ServeOptions.local_port, help="the app's port on 127.0.0.1 (default 8501)"
    )


def run(args) -> int:
    if args.address and not args.lan:
        raise ValueError("--address needs --lan; without it the app listens on 127.0.0.1 only")
    return serve(args.settings, ServeOptions(args.address, args.port, args.local_port), args.lan)
