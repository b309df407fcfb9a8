"""Security stance: localhost only, XSRF on, uploads capped, SQL only with parameters, no
metadata in stored photos, no network at run time."""

from __future__ import annotations

import ast
import io
import os
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
from conftest import DATA, ROOT, rgb_of
from PIL import Image

from skintrack import pipeline
from skintrack.config import Settings
from skintrack.db import store
from skintrack.lan import serve

CONFIG = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())


def test_config_binds_localhost_keeps_xsrf_and_caps_uploads():
    server = CONFIG["server"]
    assert server["address"] == "127.0.0.1" and CONFIG["browser"]["serverAddress"] == "127.0.0.1"
    assert server["enableXsrfProtection"] is True
    assert server["maxUploadSize"] * 2**20 == Settings().max_upload_bytes  # the uploader and the decoder agree
    assert CONFIG["browser"]["gatherUsageStats"] is False
    assert "--server.address 127.0.0.1" in (ROOT / "Makefile").read_text()


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.slow  # starts the app in a subprocess
def test_the_running_app_listens_on_localhost_only_and_refuses_uploads_without_the_xsrf_token(home):
    port = serve.free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port)],
        cwd=ROOT,
        env={**os.environ, "SKINTRACK_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status == 200
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and app.poll() is None, "the app did not start"
                time.sleep(0.3)
        assert _listening(port) == {"0100007F"}  # 127.0.0.1, and nothing on 0.0.0.0 or ::
        put = urllib.request.Request(
            f"http://127.0.0.1:{port}/_stcore/upload_file/s/f",
            method="PUT",
            data=DATA.joinpath("biden.jpg").read_bytes(),
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(put, timeout=10)
        assert refused.value.code == 403
    finally:
        app.terminate()
        app.wait(timeout=30)


def test_a_stored_photo_carries_no_metadata_at_all(settings):
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Model-X"
    exif[0xA431] = "SERIAL-123456"
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}
    exif.get_ifd(0x8769)[36867] = "2026:01:02 08:09:10"
    buf = io.BytesIO()
    Image.fromarray(rgb_of("obama-1080p.jpg")).save(
        buf, format="JPEG", exif=exif, comment=b"secret comment", icc_profile=b"\x00" * 128
    )
    entry_id, _ = pipeline.checkin(settings, buf.getvalue())
    row = store.entry(settings, entry_id)
    assert row["taken_at"] == datetime(2026, 1, 2, 8, 9, 10)  # the capture time is read, then dropped
    for rel in (row["image_path"], row["aligned_path"]):
        data = store.read_image(settings, rel)
        for marker in (
            b"Exif",
            b"SERIAL-123456",
            b"PhoneMaker",
            b"Model-X",
            b"secret comment",
            b"ICC_PROFILE",
            b"http://ns.adobe.com/xap",
        ):
            assert marker not in data, (rel, marker)
        img = Image.open(io.BytesIO(data))
        assert not img.getexif() and "icc_profile" not in img.info and "comment" not in img.info


# A check-in in a fresh interpreter where any connection attempt is recorded and refused;
# under `unshare -n` (no network at all) where the machine allows it.
GUARDED_CHECKIN = """
import socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(args)
    raise OSError("network use refused by the test")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.getaddrinfo = socket.create_connection = refuse
from skintrack.__main__ import _quiet_native_stderr, main
_quiet_native_stderr()
code = main(sys.argv[1:])
print("ATTEMPTS", len(attempts), attempts[:3], file=sys.stderr)
sys.exit(code)
"""


def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.slow  # a subprocess (a fresh interpreter importing skintrack)
def test_a_checkin_needs_no_network(home):
    prefix = ["unshare", "-n"] if _unshare_works() else []
    done = subprocess.run(
        [
            *prefix,
            sys.executable,
            "-c",
            GUARDED_CHECKIN,
            "checkin",
            str(DATA / "biden.jpg"),
            "--json",
            "--home",
            str(home),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ATTEMPTS 0 []" in done.stderr, done.stderr[-2000:]
    assert '"entry_id": 1' in done.stdout


SQL_CALLS = {"execute", "executemany", "sql"}


def _literal_loop_names(tree: ast.AST) -> set[str]:
    """Names bound by ``for NAME in (<string literals>)``: table names written in the code."""
    names = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.For)
            and isinstance(node.target, ast.Name)
            and isinstance(node.iter, ast.Tuple | ast.List)
            and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.iter.elts)
        ):
            names.add(node.target.id)
    return names


def test_sql_is_built_with_parameters_only():
    """Values reach SQL only as ? parameters; an f-string may hold only an identifier quoted by
    ``_quoted`` (checked against a pattern) or a name looped over string literals."""
    problems = []
    for path in sorted((ROOT / "skintrack").rglob("*.py")) + [ROOT / "appstate.py"]:
        tree = ast.parse(path.read_text())
        safe_names = _literal_loop_names(tree)
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SQL_CALLS
                and node.args
            ):
                continue
            sql = node.args[0]
            where = f"{path.name}:{node.lineno}"
            if isinstance(sql, ast.BinOp) or (isinstance(sql, ast.Call) and getattr(sql.func, "attr", "") == "format"):
                problems.append(f"{where}: SQL built with % or .format")
            if isinstance(sql, ast.JoinedStr):
                for part in sql.values:
                    if not isinstance(part, ast.FormattedValue):
                        continue
                    value = part.value
                    quoted = isinstance(value, ast.Call) and getattr(value.func, "id", "") == "_quoted"
                    if not quoted and not (isinstance(value, ast.Name) and value.id in safe_names):
                        problems.append(f"{where}: f-string SQL interpolates {ast.unparse(value)}")
    assert problems == []
