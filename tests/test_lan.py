"""LAN mode: pairing codes and device tokens, the certificate, the HTTPS gate in front of the real
app (real Streamlit, real TLS, real DuckDB), and a phone-width check-in in Chromium.

Servers bind loopback addresses only (127.0.0.2; never a real LAN address)."""

from __future__ import annotations

import http.client
import os
import re
import socket
import ssl
import stat
import subprocess
import sys
import time
from datetime import date, datetime, timedelta

import pytest
from cryptography import x509

from skintrack import quicklog
from skintrack.config import Settings
from skintrack.db import archive, devices, products, restore, schema, store
from skintrack.lan import certificate, serve
from skintrack.lan.proxy import GateOptions, Throttle
from skintrack.lan.request import COOKIE
from tests.conftest import DATA, ROOT

ADDRESS = "127.0.0.2"


# ---------------------------------------------------------------- core: codes, tokens, certificate


def test_a_pairing_code_works_once_and_only_for_ten_minutes(settings):
    code = devices.new_code(settings)
    assert len(code) >= 22  # 16 random bytes, base64url
    token, device = devices.pair(settings, code, "Phone of A")
    assert devices.valid_tokens(settings) == {devices.digest(token): device.id}
    with pytest.raises(devices.PairingRefused, match="already used"):
        devices.pair(settings, code)
    old = devices.new_code(settings, now=datetime.now() - timedelta(minutes=11))
    with pytest.raises(devices.PairingRefused, match="expired"):
        devices.pair(settings, old)
    with pytest.raises(devices.PairingRefused, match="not known"):
        devices.pair(settings, "x" * 22)
    with schema.connect(settings) as con:  # only hashes are stored
        stored = str(
            con.execute("SELECT * FROM devices").fetchall() + con.execute("SELECT * FROM pairing_codes").fetchall()
        )
    assert token not in stored and code not in stored


def test_revoke_and_revoke_all(settings):
    tokens = [devices.pair(settings, devices.new_code(settings), f"phone {i}")[0] for i in range(3)]
    first = devices.listing(settings).sort_values("id")["id"].iloc[0]
    devices.revoke(settings, first)
    assert devices.digest(tokens[0]) not in devices.valid_tokens(settings)
    assert len(devices.valid_tokens(settings)) == 2
    unused = devices.new_code(settings)
    assert devices.revoke_all(settings) == 2
    assert devices.valid_tokens(settings) == {}
    with pytest.raises(devices.PairingRefused):  # revoke all also spends the codes not yet used
        devices.pair(settings, unused)
    with pytest.raises(store.NotFoundError):
        devices.revoke(settings, 999)


def test_the_migration_is_the_last_and_recorded(settings):
    with schema.connect(settings) as con:
        assert schema.schema_version(con) == len(schema.MIGRATIONS)
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert set(devices.TABLES) <= tables


def test_an_export_carries_no_device_and_a_restore_keeps_working(settings):
    devices.pair(settings, devices.new_code(settings), "phone")
    store.log_day(settings, date.today(), {"sleep_hours": 7.0})
    data = archive.export_bytes(settings)
    info = restore.check(settings, data)
    assert info.rows["devices"] == 0 and info.rows["pairing_codes"] == 0 and info.rows["lifestyle"] == 1
    restore.restore(settings, data)
    assert devices.listing(settings).empty  # a restore unpairs every phone: pair again
    assert store.get_day(settings, date.today())["sleep_hours"] == 7.0


def test_the_certificate_names_the_address_and_its_key_is_private(settings):
    cert = certificate.ensure(settings, ADDRESS)
    loaded = x509.load_pem_x509_certificate(cert.cert_path.read_bytes())
    san = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ADDRESS in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    assert certificate.local_hostname() in san.get_values_for_type(x509.DNSName)
    assert stat.S_IMODE(os.stat(cert.key_path).st_mode) == 0o600
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", cert.fingerprint)
    assert certificate.ensure(settings, ADDRESS).fingerprint == cert.fingerprint  # reused
    assert certificate.ensure(settings, "127.0.0.3").fingerprint != cert.fingerprint  # a new address: a new one
    soon = datetime.now(certificate.UTC) + certificate.VALID_FOR - timedelta(days=10)
    assert certificate.ensure(settings, "127.0.0.3", now=soon).not_after > cert.not_after  # renewed before expiry
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        certificate.ensure(settings, "my phone")


def test_the_throttle_slows_then_refuses_an_address():
    throttle = Throttle(GateOptions(free_failures=3, failure_delay_s=1.0, lockout_after=10, window_s=600))
    delays = [throttle.fail("10.0.0.9", now=100.0 + i) for i in range(10)]
    assert delays == [0.0] * 3 + [1.0] * 7
    assert throttle.locked("10.0.0.9", now=120.0) and not throttle.locked("10.0.0.8", now=120.0)
    assert not throttle.locked("10.0.0.9", now=100.0 + 9 + 601)  # the window passes


def test_make_run_binds_only_loopback():
    out = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    (line,) = [ln for ln in out.splitlines() if "streamlit run" in ln]
    assert re.search(r"--server\.address 127\.0\.0\.1(\s|$)", line), line
    assert "0.0.0.0" not in out and "--lan" not in out
    command = serve.streamlit_command(8501)  # and what serve --lan starts behind the gate
    assert command[command.index("--server.address") + 1] == "127.0.0.1"


def test_the_quick_log_keeps_the_rest_of_the_day(settings):
    today = date.today()
    products.start(settings, "SPF 50", today - timedelta(days=3), "AM")
    store.log_day(settings, today, {"water_l": 2.0, "note": "hot day"})
    start = quicklog.start(settings, today)
    assert start.offered == [("SPF 50", "AM")] and start.used == []  # logged without products: none ticked
    quicklog.save(settings, today, 7, 2, [("SPF 50", "AM")])
    day = store.get_day(settings, today)
    assert (day["sleep_hours"], day["stress"], day["water_l"], day["note"]) == (7, 2, 2.0, "hot day")
    assert day["products"] == [("SPF 50", "AM")]
    fresh = quicklog.start(settings, today - timedelta(days=1))
    assert fresh.used == [("SPF 50", "AM")]  # a day not logged starts from the routine


# ---------------------------------------------------------------- the gate in front of the real app


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``serve --lan`` on 127.0.0.2 with a fresh home; yields (base url, home, pairing link, fingerprint)."""
    home = tmp_path_factory.mktemp("lan") / "home"
    settings = Settings.for_home(home)
    products.start(settings, "SPF 50", date.today() - timedelta(days=3), "AM")
    port, local_port = serve.free_port(ADDRESS), serve.free_port()
    env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    out = open(tmp_path_factory.mktemp("log") / "serve.log", "w+")  # closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "skintrack",
            "serve",
            "--lan",
            "--address",
            ADDRESS,
            "--port",
            str(port),
            "--local-port",
            str(local_port),
            "--home",
            str(home),
        ],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 150
        while "ready" not in (text := open(out.name).read()):
            assert proc.poll() is None and time.monotonic() < deadline, text
            time.sleep(0.3)
        link = re.search(r"https://\S+/pair\?code=\S+", text)[0]
        fingerprint = re.search(r"fingerprint: (\S+)", text)[1]
        yield {
            "base": f"https://{ADDRESS}:{port}",
            "port": port,
            "local_port": local_port,
            "home": home,
            "settings": settings,
            "link": link,
            "fingerprint": fingerprint,
            "output": text,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()


def _tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # self-signed: the person compares the fingerprint instead
    return ctx


def request(
    srv,
    method: str,
    path: str,
    body: str | None = None,
    cookie: str | None = None,
    source: str = "127.0.0.1",
    headers: dict | None = None,
) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPSConnection(ADDRESS, srv["port"], context=_tls(), timeout=60, source_address=(source, 0))
    hdrs = dict(headers or {})
    if cookie:
        hdrs["Cookie"] = f"{COOKIE}={cookie}"
    if body is not None:
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def pair(srv, code: str, source: str = "127.0.0.1") -> tuple[int, str | None]:
    status, headers, _ = request(srv, "POST", "/pair", f"code={code}&name=test", source=source)
    found = re.match(rf"{COOKIE}=([^;]+)", headers.get("set-cookie", ""))
    return status, found[1] if found else None


@pytest.mark.slow
def test_serve_prints_link_fingerprint_and_qr(server):
    cert = certificate.load(server["settings"])
    assert server["fingerprint"] == cert.fingerprint and ADDRESS in cert.names
    assert server["link"].startswith(server["base"] + "/pair?code=")
    assert "█" in server["output"] or "▀" in server["output"]  # the QR code, drawn with blocks


@pytest.mark.slow
def test_without_a_token_only_the_lock_page(server):
    for path in (
        "/",
        "/trends",
        "/_stcore/health",
        "/_stcore/host-config",
        "/static/index.html",
        "/media/0123abcd.jpg",
        "/_stcore/upload_file/session/file",
    ):
        status, headers, body = request(server, "GET", path)
        assert status == 401 and b"skintrack is locked" in body, path
        assert headers["content-type"].startswith("text/html") and b"<img" not in body and b"<script" not in body
        assert str(server["home"]).encode() not in body
    status, _, _ = request(server, "PUT", "/_stcore/upload_file/s/f", body="x")
    assert status == 401
    status, _, body = request(
        server,
        "GET",
        "/_stcore/stream",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert status == 401


@pytest.mark.slow
def test_plain_http_to_the_port_gets_no_page(server):
    received = b""
    with socket.create_connection((ADDRESS, server["port"]), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            while chunk := s.recv(4096):
                received += chunk
        except (ConnectionError, TimeoutError):
            pass  # a reset or silence: no page either
    assert b"HTTP/1" not in received and b"skintrack" not in received and b"<html" not in received.lower()


@pytest.mark.slow
def test_streamlit_itself_is_not_on_the_lan_address(server):
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ADDRESS, server["local_port"]), timeout=5).close()


@pytest.mark.slow
def test_pairing_codes_work_once_and_expire(server):
    code = devices.new_code(server["settings"])
    status, token = pair(server, code, source="127.0.0.5")
    assert status == 303 and token
    status, _, body = request(server, "GET", "/_stcore/health", cookie=token, source="127.0.0.5")
    assert status == 200 and body == b"ok"
    assert pair(server, code, source="127.0.0.5") == (403, None)  # used
    expired = devices.new_code(server["settings"], now=datetime.now() - timedelta(minutes=10, seconds=1))
    assert pair(server, expired, source="127.0.0.5") == (403, None)


@pytest.mark.slow
def test_a_revoked_token_fails_on_the_next_request(server):
    status, token = pair(server, devices.new_code(server["settings"]), source="127.0.0.6")
    assert request(server, "GET", "/_stcore/health", cookie=token, source="127.0.0.6")[0] == 200
    device = devices.listing(server["settings"]).iloc[0]  # newest first
    devices.revoke(server["settings"], device["id"])
    status, headers, body = request(server, "GET", "/_stcore/health", cookie=token, source="127.0.0.6")
    assert status == 401 and b"skintrack is locked" in body and "Max-Age=0" in headers["set-cookie"]


@pytest.mark.slow
def test_fifty_wrong_codes_get_in_nowhere(server):
    attacker = "127.0.0.9"
    started = time.monotonic()
    answers = [pair(server, f"guess{i:02d}AAAAAAAAAAAAAAAA", source=attacker) for i in range(50)]
    took = time.monotonic() - started
    assert all(token is None for _, token in answers)
    assert {status for status, _ in answers} == {403, 429}
    assert [s for s, _ in answers].count(403) == GateOptions().lockout_after  # then refused outright
    assert took >= (GateOptions().lockout_after - GateOptions().free_failures) * GateOptions().failure_delay_s
    # Locked out, the address cannot spend even a good code; another address still can.
    good = devices.new_code(server["settings"])
    assert pair(server, good, source=attacker) == (429, None)
    assert pair(server, good, source="127.0.0.10")[0] == 303
    forged = request(server, "GET", "/", cookie="A" * 22, source=attacker)
    assert forged[0] == 429


# ---------------------------------------------------------------- a phone in Chromium, 390 x 844


@pytest.fixture(scope="module")
def phone_browser():
    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, sync_api  # skips the module's tests without Chromium

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _phone(browser):
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        ignore_https_errors=True,
    )
    context.set_default_timeout(60_000)
    return context


@pytest.mark.slow
@pytest.mark.browser
def test_a_phone_pairs_checks_in_and_logs_the_day_and_others_see_a_lock(server, phone_browser):
    from tests.test_browser import expect, settle, shot

    # A browser that never paired: the lock page and nothing else; no image loads.
    stranger = _phone(phone_browser)
    seen_by_stranger = []
    stranger.on("response", lambda r: seen_by_stranger.append((r.url, r.status, r.headers.get("content-type", ""))))
    page = stranger.new_page()
    page.goto(server["base"] + "/")
    assert page.inner_text("body").startswith("skintrack is locked")
    assert page.locator("img, input, iframe, [data-testid]").count() == 0
    assert str(server["home"]) not in page.content()
    shot(page, "lan-01-locked-phone")

    # The phone: scan the QR code (open the link), pair, check in, log the day.
    phone = _phone(phone_browser)
    pg = phone.new_page()
    pg.goto(server["link"])
    shot(pg, "lan-02-pair-phone")
    taps = 0
    pg.get_by_role("button", name="Pair this device").tap()
    taps_pairing = 1
    settle(pg)
    cookie = next(c for c in phone.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"

    expect(pg.get_by_text("Take my first photo").first).to_be_visible()  # the app, on its first run: welcome
    shot(pg, "lan-02-welcome-phone")
    pg.get_by_text("Take my first photo").first.tap()  # first day only; later days open on Check-in
    taps_pairing += 1
    settle(pg)

    started = time.monotonic()  # the daily routine from here: the Check-in page open
    upload = pg.locator("input[type=file]").first
    assert "image/jpeg" in (upload.get_attribute("accept") or "") or ".jpg" in (upload.get_attribute("accept") or "")
    with pg.expect_file_chooser() as chooser:  # one tap opens the phone's camera or photos
        pg.get_by_test_id("stFileUploaderDropzone").first.tap()
    taps += 1
    chooser.value.set_files(str(DATA / "obama-720p.jpg"))
    expect(pg.get_by_text("Good photo").first).to_be_visible(timeout=120_000)
    settle(pg)
    shot(pg, "lan-03-checkin-phone")
    media = pg.locator("[data-testid=stImage] img").first.get_attribute("src")
    pg.get_by_role("button", name="Save check-in").tap()
    taps += 1
    expect(pg.get_by_text(re.compile(r"Saved as entry \d+")).first).to_be_visible(timeout=60_000)
    settle(pg)
    shot(pg, "lan-04-saved-phone")
    form = pg.get_by_test_id("stForm").last
    form.get_by_text("7 h", exact=True).tap()
    form.get_by_text("2", exact=True).tap()
    form.get_by_role("button", name="Save today's log").tap()
    taps += 3
    expect(pg.get_by_text(re.compile(r"Logged \w+day")).first).to_be_visible(timeout=60_000)
    seconds = time.monotonic() - started
    shot(pg, "lan-05-logged-phone")
    day = store.get_day(server["settings"], date.today())
    assert (day["sleep_hours"], day["stress"], day["products"]) == (7, 2, [("SPF 50", "AM")])
    print(
        f"\nphone routine: pairing {taps_pairing} taps once; daily check-in and log {taps} taps in the browser "
        f"(+2 in the camera app: shutter, use photo), {seconds:.1f} s on this machine"
    )
    assert taps <= 6 and seconds < 120  # analysis on 2 shared cores dominates; a phone tap takes ~1 s each

    pg.goto(server["base"] + "/trends")
    expect(pg.locator(".js-plotly-plot").first).to_be_visible(timeout=120_000)
    settle(pg)
    shot(pg, "lan-06-trends-phone")

    # What the phone saw does not open in the stranger's browser.
    assert media and "/media/" in media
    answer = page.goto(server["base"] + media if media.startswith("/") else media)
    assert answer.status == 401 and "skintrack is locked" in page.inner_text("body")
    assert not any(status == 200 and kind.startswith("image/") for _, status, kind in seen_by_stranger)
    assert all(status in (401,) for url, status, _ in seen_by_stranger if "/favicon" not in url)
    stranger.close()
    phone.close()
