"""What a newcomer does after `make setup`, checked with the app's own install and nothing else.

    .venv/bin/python tools/newcomer_check.py

In a fresh, temporary data home: (1) check in a real portrait from the command line; (2) in the
app (Streamlit's AppTest, the same scripts `make run` serves), upload a portrait on Check-in,
save it, log the day on Lifestyle and find both on the Trends chart; (3) start the real server
on a free loopback port and fetch its page. Uses no test tool (no pytest, no torch), so a
runtime import missing from requirements.txt fails it: `.ci/run` runs it before installing
anything else, and tests/test_newcomer.py runs it with the training tools hidden.

Prints one line per step; exits 1 with the reason at the first step that fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORTRAIT = ROOT / "tests" / "data" / "obama-720p.jpg"
TIMEOUT = 120


class CheckFailed(Exception):
    """A step of the newcomer's path did not work."""


def check_cli(home: Path, photo: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "skintrack", "checkin", str(photo), "--json", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise CheckFailed(f"command-line check-in exited {out.returncode}: {out.stderr.strip()[-500:]}")
    scores = json.loads(out.stdout)["scores"]
    conditions = {s["condition"] for s in scores}
    sources = {s["source"] for s in scores if s["condition"] == "acne_grade"}
    if "redness" not in conditions or not sources:
        raise CheckFailed(f"command-line check-in stored no redness or acne grade: {sorted(conditions)}")
    return f"command-line check-in stored {len(scores)} scores, acne graded by {sources.pop()}"


def check_app(home: Path, photo: Path) -> str:
    from streamlit.testing.v1 import AppTest

    os.environ["SKINTRACK_HOME"] = str(home)  # the app reads its home from there
    if str(ROOT) not in sys.path:  # `streamlit run` puts the app's folder there; AppTest does not
        sys.path.insert(0, str(ROOT))

    def ok(at, what: str):
        if at.exception:
            raise CheckFailed(f"{what}: the page raised {at.exception[0].message}")
        return at

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    ok(at.run(), "opening the app")
    at = ok(at.switch_page("views/checkin.py").run(), "opening Check-in")
    at.file_uploader[0].set_value((photo.name, photo.read_bytes(), "image/jpeg"))
    ok(at.run(), "uploading a portrait")
    at.date_input[0].set_value(date.today())
    save = next((b for b in at.button if b.label == "Save check-in"), None)
    if save is None or save.disabled:
        raise CheckFailed(f"no Save button for the portrait: {[e.value for e in at.error]}")
    ok(save.click().run(), "saving the check-in")
    if not any("Saved as entry" in s.value for s in at.success):
        raise CheckFailed("Check-in did not say the photo was saved")
    ok(at.switch_page("views/lifestyle.py").run(), "opening Lifestyle")
    next(n for n in at.number_input if n.label.startswith("Sleep (")).set_value(7.0)
    ok(next(b for b in at.button if b.label == "Save the day").click().run(), "logging the day")
    ok(at.switch_page("views/trends.py").run(), "opening Trends")
    if not any(c.value.startswith("1 day with check-ins") for c in at.caption):
        raise CheckFailed("Trends does not show the day's check-in")
    traces = [t.get("name") for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    if "daily" not in traces:
        raise CheckFailed(f"the Trends chart has no daily series: {traces}")
    return "app: portrait uploaded and saved, the day logged, both on the Trends chart"


def check_server() -> str:
    from skintrack.lan import serve

    port = serve.free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        serve.streamlit_command(port), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        try:
            serve.wait_healthy(port, server, TIMEOUT)
        except RuntimeError as exc:
            raise CheckFailed(f"{exc}: {server.stderr.read()[-500:] if server.poll() is not None else ''}") from None
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            page = r.read().decode()
        if "<title>" not in page:
            raise CheckFailed("the server's page is not the app")
        return f"server: answered on 127.0.0.1:{port} after {time.perf_counter() - started:.1f} s"
    finally:
        server.terminate()
        server.wait(timeout=30)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", type=Path, default=PORTRAIT, help="the portrait to check in")
    parser.add_argument("--no-server", action="store_true", help="skip starting the real server")
    return parser


def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="skintrack-newcomer-") as tmp:
        steps = [lambda: check_cli(Path(tmp) / "cli", args.photo), lambda: check_app(Path(tmp) / "app", args.photo)]
        if not args.no_server:
            steps.append(check_server)
        for step in steps:
            try:
                print(f"ok: {step()}", flush=True)
            except (CheckFailed, StopIteration, IndexError, subprocess.TimeoutExpired) as exc:
                print(f"newcomer check failed: {exc or type(exc).__name__}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
