"""Check-ins at the same moment from two threads (two browser sessions of one app) and from a
second process (the command line while the app is open): nothing lost, nothing duplicated,
no crash on DuckDB's file lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import DATA, ROOT
from datakit import files_under, variant

from skintrack import pipeline
from skintrack.capture import face
from skintrack.db import schema, store

THREADS = 2
PER_THREAD = 5
PER_PROCESS = 5

# The second process: PER_PROCESS check-ins of photo variants 200, 201, ... into the same home.
SECOND_PROCESS = """
import sys
sys.path.insert(0, {tests!r})
from datetime import datetime
from datakit import variant
from skintrack import pipeline
from skintrack.config import Settings
settings = Settings.for_home({home!r})
for i in range({n}):
    entry_id, _ = pipeline.checkin(settings, variant(200 + i), datetime(2026, 2, 1, 8, i))
    print(entry_id, flush=True)
"""


def _env(home: Path) -> dict:
    return {**os.environ, "SKINTRACK_HOME": str(home), "GLOG_minloglevel": "3", "PYTHONPATH": str(ROOT)}


@pytest.mark.slow  # a subprocess (a fresh interpreter importing skintrack)
def test_two_threads_and_a_second_process_check_in_at_once(settings):
    photos = {t: [variant(10 * t + i) for i in range(PER_THREAD)] for t in range(THREADS)}
    meshes = [face.FaceMesh() for _ in range(THREADS)]  # one MediaPipe graph per session
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SECOND_PROCESS.format(tests=str(ROOT / "tests"), home=str(settings.home), n=PER_PROCESS),
        ],
        env=_env(settings.home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    start = threading.Barrier(THREADS)
    stored: list[int] = []
    errors: list[BaseException] = []

    def session(t: int) -> None:
        start.wait()
        for i, data in enumerate(photos[t]):
            try:
                analysis = pipeline.analyse(data, settings, None, meshes[t])
                stored.append(pipeline.save(settings, analysis, datetime(2026, 1, 1 + t, 8) + timedelta(minutes=i)))
            except BaseException as exc:  # collected and reported below
                errors.append(exc)

    threads = [threading.Thread(target=session, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out, err = other.communicate(timeout=120)
    assert other.returncode == 0, err[-2000:]
    assert errors == []
    stored += [int(line) for line in out.split()]
    total = THREADS * PER_THREAD + PER_PROCESS
    entries = store.entries(settings)
    assert len(stored) == total and sorted(stored) == sorted(entries["id"]) and len(set(stored)) == total
    assert entries["image_sha256"].nunique() == total
    files = files_under(settings.images_dir)
    assert set(files) == set(entries["image_path"]) | set(entries["aligned_path"]) and len(files) == 2 * total
    assert store.scores(settings).groupby("entry_id").size().nunique() == 1  # every entry has all its scores


def test_the_same_photo_twice_at_the_same_moment_is_stored_once(settings):
    data = variant(77)
    analyses = [pipeline.analyse(data, settings) for _ in range(2)]
    start = threading.Barrier(2)
    results: list = []

    def save(analysis) -> None:
        start.wait()
        try:
            results.append(pipeline.save(settings, analysis, datetime(2026, 1, 5, 8)))
        except store.DuplicatePhoto as exc:
            results.append(exc)

    threads = [threading.Thread(target=save, args=(a,)) for a in analyses]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(type(r).__name__ for r in results) == ["DuplicatePhoto", "int"]
    entries = store.entries(settings)
    assert len(entries) == 1
    # The loser's clean-up must not take the winner's files with it.
    assert set(files_under(settings.images_dir)) == {entries["image_path"][0], entries["aligned_path"][0]}


HOLD = """
import sys
import duckdb
con = duckdb.connect({db!r})
print("holding", flush=True)
sys.stdin.readline()  # until the test says so
con.close()
"""

# The command line, imported first (MediaPipe and torch take seconds), then given one
# command a line on stdin as {"wait_s": lock wait, "args": [...]}; prints each exit status.
CLI = """
import json, sys
import skintrack.db.schema as s
from skintrack.__main__ import _quiet_native_stderr, main
_quiet_native_stderr()
print("ready", flush=True)
for line in sys.stdin:
    command = json.loads(line)
    s.LOCK_WAIT_S = command["wait_s"]
    print(main(command["args"]), flush=True)
"""


def _start(code: str, settings) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=_env(settings.home),
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _say(proc: subprocess.Popen, line: str = "go") -> None:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


@pytest.mark.slow  # a subprocess (a fresh interpreter importing skintrack)
def test_the_command_line_while_the_app_holds_the_database(settings, tmp_path):
    with schema.connect(settings):
        pass  # create and migrate it first
    holder = _start(HOLD.format(db=str(settings.db_path)), settings)  # the app, busy
    assert holder.stdout.readline().strip() == "holding"
    cli = _start(CLI, settings)
    assert cli.stdout.readline().strip() == "ready", cli.stderr.read()[-2000:]

    def run(wait_s: float, *args: str) -> str:
        _say(cli, json.dumps({"wait_s": wait_s, "args": [*args, "--home", str(settings.home)]}))
        return cli.stdout.readline().strip()

    # Held for longer than the command will wait: one clear line each, exit 2, nothing written.
    (tmp_path / "x.zip").write_bytes(b"")
    busy = [
        ["backup"],
        ["export", str(tmp_path / "x.zip")],
        ["delete", "--entry", "1"],
        ["restore", str(tmp_path / "x.zip")],
        ["checkin", str(DATA / "biden.jpg")],
    ]
    assert [run(0.5, *command) for command in busy] == ["2"] * len(busy)
    assert (tmp_path / "x.zip").read_bytes() == b""
    # Held for a while, then let go: the command waits and stores.
    started = time.monotonic()
    threading.Timer(1.5, _say, args=(holder,)).start()
    assert run(30, "checkin", str(DATA / "biden.jpg"), "--at", "2026-01-07T08:00").startswith("stored entry 1")
    status = cli.stdout.readline().strip()
    while status.startswith("not measured: "):  # biden is turned 11 degrees: no dark circles
        status = cli.stdout.readline().strip()
    assert status == "0"
    assert time.monotonic() - started >= 1.5
    holder.wait(timeout=30)
    cli.stdin.close()
    err = cli.stderr.read()
    assert cli.wait(timeout=60) == 0
    lines = err.splitlines()
    assert len(lines) == len(busy), err
    assert "not a zip archive" in lines[3]  # refused before it needs the database
    assert all("in use by another program" in line for line in lines[:3] + lines[4:]), err
    assert len(store.entries(settings)) == 1
