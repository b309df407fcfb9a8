"""The real app in a real browser: Streamlit in a subprocess, Debian's Chromium driven by Playwright.

A day in the app, in order: the welcome page of a fresh home, a check-in of a real portrait
(aligned face, measurements, save), a logged day, Trends, Compare and Data when those pages
exist, the report and the reminder. Each page is saved as a screenshot in test-output/browser/
(laptop width, and phone width for some) for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest

from skintrack.lan import serve
from tests.conftest import DATA, OUTPUT, ROOT, jpeg_bytes, no_face, rgb_of

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and os.path.exists(p)), None)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = OUTPUT / "browser"
LAPTOP = {"width": 1280, "height": 1400}
# Phone width; tall, because Streamlit scrolls inside its own container and a screenshot
# shows only the viewport.
PHONE = {"width": 390, "height": 2200}
SLOW_MS = 120_000  # the first check-in loads MediaPipe (and the acne model) on 2 busy cores

if CHROMIUM is None:
    pytest.skip(
        "no Chromium at /usr/bin/chromium: install it with `apt-get install -y chromium` (make chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -r requirements-dev.txt)"
)
expect = sync_api.expect
expect.set_options(timeout=30_000)  # 2 cores shared with other work: Streamlit can take seconds to answer


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app on a free port with an empty data home; yields (url, home)."""
    home = tmp_path_factory.mktemp("browser") / "home"
    port = serve.free_port()
    env = {**os.environ, "SKINTRACK_HOME": str(home), "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = open(tmp_path_factory.mktemp("log") / "streamlit.log", "w")  # closed below
    proc = subprocess.Popen(
        serve.streamlit_command(port),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        serve.wait_healthy(port, proc, timeout=90)
        yield url, home
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Chromium with a fresh temporary profile and a fake camera that films a real portrait."""
    camera = tmp_path_factory.mktemp("camera") / "portrait.mjpeg"  # Motion JPEG: one frame, looped
    camera.write_bytes(jpeg_bytes(rgb_of("obama-720p.jpg")))
    fake_camera = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
    ]
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + fake_camera)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser):
    context = browser.new_context(viewport=LAPTOP, accept_downloads=True, permissions=["camera"])
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def shot(pg, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def settle(pg) -> None:
    """Wait until Streamlit has finished running the script (its status widget says so)."""
    pg.wait_for_timeout(300)
    expect(pg.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=SLOW_MS)
    expect(pg.get_by_test_id("stSkeleton")).to_have_count(0, timeout=SLOW_MS)


def nav_link(pg, title: str):
    """The sidebar link of a page (its title sits in a span labelled with it)."""
    return pg.locator(f'[data-testid="stSidebarNavLink"]:has(span[label="{title}"])')


def go(pg, title: str) -> None:
    """Open a page by its link in the sidebar, as a person would."""
    nav_link(pg, title).click()
    settle(pg)


def has_page(pg, title: str) -> bool:
    return nav_link(pg, title).count() > 0


def phone_shot(browser, url: str, name: str, path: str = "", wait_for: str | None = None, action=None) -> Path:
    """A screenshot at phone width (390 px) of the page at ``path``, sidebar closed as on a phone;
    ``action(page)`` runs first when given."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True)
    pg = context.new_page()
    pg.set_default_timeout(SLOW_MS)
    try:
        pg.goto(f"{url}/{path}")
        settle(pg)
        if action:
            action(pg)
        if wait_for:
            pg.locator(wait_for).first.wait_for()
        settle(pg)
        return shot(pg, name)
    finally:
        context.close()


def cli_checkin(home: Path, photo: str, day: date) -> subprocess.Popen:
    env = {**os.environ, "SKINTRACK_HOME": str(home), "GLOG_minloglevel": "2"}
    return subprocess.Popen(
        [sys.executable, "-m", "skintrack", "checkin", str(DATA / photo), "--at", f"{day}T08:00"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def history(app):
    """Two earlier check-ins from the command line, run in the background from the first use;
    calling the fixture's value waits for them and returns their days."""
    _, home = app
    days = (date.today() - timedelta(days=9), date.today() - timedelta(days=2))
    results: list[str] = []

    def run() -> None:
        for photo, day in zip(("obama-720p.jpg", "biden.jpg"), days, strict=True):
            out, err = cli_checkin(home, photo, day).communicate(timeout=300)
            results.append(out if "stored entry" in out else f"FAILED {photo}: {err.strip()[-500:]}")

    worker = threading.Thread(target=run, daemon=True)
    worker.start()

    def wait() -> tuple[date, date]:
        worker.join(timeout=300)
        assert len(results) == 2 and not any(r.startswith("FAILED") for r in results), results
        return days

    return wait


def test_a_bookmarked_page_opened_first_gets_the_apps_navigation(app, browser):
    """The very first request to a fresh server is for /trends (a bookmark, a reload after a
    restart). Streamlit treats a folder named pages/ beside app.py as the old multipage
    layout until st.navigation has run once: the sidebar then listed file names and the page
    ran without app.py. The pages live in views/ so this cannot happen; keep this test first."""
    url, _ = app
    context = browser.new_context(viewport=LAPTOP)
    pg = context.new_page()
    pg.goto(f"{url}/trends")
    settle(pg)
    expect(nav_link(pg, "Check-in")).to_have_count(1)
    expect(pg.get_by_test_id("stSidebarNav")).not_to_contain_text("checkin")
    context.close()


def test_first_run_welcomes(app, page, browser):
    url, _ = app
    page.goto(url)
    settle(page)
    expect(page.get_by_role("heading", name="Welcome to skintrack")).to_be_visible()
    assert page.url.endswith("/welcome")  # the first visit opens here; "/" stays the Check-in page
    expect(page.get_by_text("Everything stays on this computer.").first).to_be_visible()
    expect(page.get_by_text("not a medical device").first).to_be_visible()
    expect(page.get_by_text("skintrack demo").first).to_be_visible()
    shot(page, "01-welcome")
    phone_shot(browser, url, "01-welcome-phone", wait_for="text=Take my first photo")


def test_camera_view_has_a_face_guide_and_takes_a_photo(page):
    go(page, "Check-in")
    page.get_by_role("tab", name="Take a photo").click()
    box = page.get_by_test_id("stCameraInputWebcamStyledBox")
    expect(box.locator("video")).to_be_visible()
    oval = box.evaluate("el => getComputedStyle(el, '::after').borderRadius")
    assert oval == "50%"  # the face-shaped guide is drawn over the live view
    page.wait_for_timeout(1500)  # let the fake camera deliver frames
    shot(page, "02-checkin-camera")
    page.get_by_test_id("stCameraInputButton").click()
    expect(page.get_by_text("Aligned face with the measured regions")).to_be_visible(timeout=SLOW_MS)
    expect(page.get_by_text("Good photo").first).to_be_visible()
    settle(page)
    shot(page, "02-checkin-camera-taken")
    page.get_by_role("button", name="Clear photo").click()  # not saved: the uploads below are the day's check-in
    settle(page)


def test_check_in_a_real_portrait(app, page, browser, history, tmp_path):
    page.get_by_role("tab", name="Upload a photo").click()
    cat = tmp_path / "cat.jpg"
    cat.write_bytes(jpeg_bytes(no_face()))
    page.locator("input[type=file]").first.set_input_files(str(cat))
    expect(page.get_by_text(re.compile(r"This photo cannot be used \(no face found\): face the camera"))).to_be_visible(
        timeout=SLOW_MS
    )
    settle(page)
    expect(
        page.get_by_test_id("stSidebar").get_by_text("Not a medical device")
    ).to_be_visible()  # the standing note stays
    shot(page, "02-checkin-refused")
    page.locator("input[type=file]").first.set_input_files(str(DATA / "obama-1080p.jpg"))
    expect(page.get_by_text("Aligned face with the measured regions")).to_be_visible(timeout=SLOW_MS)
    settle(page)
    expect(page.get_by_test_id("stImage").first.locator("img")).to_be_visible()
    expect(page.get_by_role("heading", name="Measurements")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").last).to_be_visible()
    expect(page.get_by_text("Good photo").first).to_be_visible()
    shot(page, "02-checkin-measured")
    # The app caches its queries; saving clears them. The command-line check-ins must be in by
    # then, or the app would not show them until the next save (it does not watch the file).
    history()
    page.get_by_role("button", name="Save check-in").click()
    expect(page.get_by_text(re.compile(r"Saved as entry \d+"))).to_be_visible(timeout=SLOW_MS)
    settle(page)
    shot(page, "03-checkin-saved")
    upload = lambda pg: pg.locator("input[type=file]").first.set_input_files(str(DATA / "obama-1080p.jpg"))  # noqa: E731
    phone_shot(
        browser, app[0], "03-checkin-phone", "", wait_for="text=Aligned face with the measured regions", action=upload
    )


def test_log_a_day(page):
    go(page, "Lifestyle")
    sleep = page.get_by_role("spinbutton").first
    sleep.fill("7.5")
    sleep.press("Tab")
    page.get_by_role("button", name=re.compile("^Save")).first.click()
    expect(page.get_by_text(re.compile(r"Saved")).first).to_be_visible(timeout=SLOW_MS)
    settle(page)
    shot(page, "04-lifestyle")


def test_trends_show_the_history(app, page, browser):
    url, _ = app
    go(page, "Trends")
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=SLOW_MS)
    settle(page)
    expect(
        page.get_by_text(re.compile(r"\b3 days with check-ins")).first
    ).to_be_visible()  # 2 from the command line, 1 here
    shot(page, "05-trends")
    phone_shot(browser, url, "05-trends-phone", "trends", wait_for=".js-plotly-plot")


def test_compare_two_dates(page):
    if not has_page(page, "Compare"):
        pytest.skip("no Compare page in this version of the app")
    go(page, "Compare")
    expect(page.get_by_test_id("stImage").nth(1)).to_be_visible(timeout=SLOW_MS)
    settle(page)
    shot(page, "06-compare")


def test_export_on_the_data_page(page):
    if not has_page(page, "Data"):
        pytest.skip("no Data page in this version of the app")
    go(page, "Data")
    shot(page, "07-data")
    prepare = page.get_by_role("button", name=re.compile("export", re.I))
    if prepare.count():
        prepare.first.click()
        settle(page)
    link = page.get_by_test_id("stDownloadButton").filter(has_text=re.compile("zip|export|download", re.I)).first
    with page.expect_download(timeout=SLOW_MS) as info:
        link.click()
    path = info.value.path()
    assert path and Path(path).read_bytes()[:2] == b"PK"  # a zip archive
    shot(page, "07-data-exported")


def test_report_and_reminder(app, page, browser):
    url, _ = app
    go(page, "Report")
    page.get_by_role("button", name="Make the report").click()
    expect(page.get_by_text("Download HTML")).to_be_visible(timeout=SLOW_MS)
    settle(page)
    with page.expect_download() as info:
        page.get_by_text("Download HTML").click()
    document = Path(info.value.path()).read_text(encoding="utf-8")
    assert "Skin report" in document and document.count("data:image/jpeg;base64,") == 2
    assert "data:image/png;base64," in document  # kaleido drew the charts with this Chromium
    pdf_button = page.get_by_text("Download PDF")
    if pdf_button.count():
        with page.expect_download() as info:
            pdf_button.click()
        assert Path(info.value.path()).read_bytes()[:4] == b"%PDF"
    with page.expect_download() as info:
        page.get_by_text("Download reminder (.ics)").click()
    ics = Path(info.value.path()).read_bytes()
    assert b"RRULE:FREQ=DAILY\r\n" in ics and b"DTSTART:" in ics
    shot(page, "08-report")
    phone_shot(browser, url, "08-report-phone", "report", wait_for="text=Download reminder (.ics)")
