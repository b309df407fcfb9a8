"""A process killed at a chosen line of a check-in, a delete or a restore; the next start-up
clean-up (``store.remove_orphan_files``, run once per app process) leaves no orphan file or row.

The child process (forked from the test, or for the real check-in a fresh interpreter) stops
itself at the chosen line (a ``sys.settrace`` hook says "at" and sleeps), and the test kills it
there with SIGKILL: no ``finally`` runs, as after a power cut. A line is chosen by its named
marker, a ``# kill point: NAME`` comment in the function, so that it survives a refactor.
"""

from __future__ import annotations

import inspect
import io
import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest
from conftest import ROOT
from datakit import add_entry, files_under, fill, state

from skintrack import files
from skintrack.config import Settings
from skintrack.db import archive, backup, erase, rebuild, restore, store

CHILD = """
import inspect, sys, time
sys.path.insert(0, {tests!r})
from datetime import datetime
from skintrack.db import archive, backup, store
from skintrack.config import Settings
from datakit import add_entry, variant

func = {func}
lines, first = inspect.getsourcelines(func)
target = [first + i for i, line in enumerate(lines) if line.rstrip().endswith("# kill point: " + {point!r})][0]
hits = 0

def local(frame, event, arg):
    global hits
    if event == "line" and frame.f_lineno == target:
        hits += 1
        if hits == {nth}:
            print("at", flush=True)
            time.sleep(600)
    return local

sys.settrace(lambda frame, event, arg: local if frame.f_code is func.__code__ else None)
settings = Settings.for_home({home!r})
{action}
print("finished", flush=True)
"""

REAL_CHECKIN = "from skintrack import pipeline; pipeline.checkin(settings, variant(5), datetime(2026, 3, 9, 8))"


def _checkin(settings: Settings) -> None:
    add_entry(settings, 1, datetime(2026, 3, 9, 8))


# (name, function, its kill point to stop at, files left before clean-up, entry survives)
POINTS = [
    ("temp file written", files.write_atomic, "temp-written", 1, False),
    ("first photo written", store.add_entries, "photo-written", 1, False),
    ("both photos written", store.add_entries, "photos-written", 2, False),
    ("entry row inserted", store.add_entries, "entry-inserted", 2, False),
    ("before commit", store.add_entries, "before-commit", 2, False),
    ("after commit", store.add_entries, "after-commit", 0, True),
]


def _line(func, point: str) -> int:
    """The line of ``func`` marked ``# kill point: <point>`` (a statement; the hook stops before it runs)."""
    lines, first = inspect.getsourcelines(func)
    found = [first + i for i, line in enumerate(lines) if line.rstrip().endswith(f"# kill point: {point}")]
    assert len(found) == 1, f"{func.__qualname__} has {len(found)} lines marked '# kill point: {point}'"
    return found[0]


def _kill_at(func, point: str, action, nth: int = 1) -> None:
    """Fork; in the child, run ``action()`` until the ``nth`` time it reaches the line of ``func``
    marked ``# kill point: <point>``; kill the child there."""
    target, code = _line(func, point), func.__code__
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read)
            hits = 0

            def local(frame, event, arg):
                nonlocal hits
                if event == "line" and frame.f_lineno == target:
                    hits += 1
                    if hits == nth:
                        os.write(write, b"at")
                        time.sleep(600)
                return local

            sys.settrace(lambda frame, event, arg: local if frame.f_code is code else None)
            action()
            os.write(write, b"finished")
        finally:
            os._exit(0)
    os.close(write)
    said = os.read(read, 16)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(read)
    assert said == b"at", f"the child never reached kill point {point!r} in {func.__qualname__}"
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def _consistent(settings: Settings) -> None:
    """Every file is referenced by an entry, every entry has its files and all its scores."""
    entries = store.entries(settings)
    files = files_under(settings.images_dir)
    assert set(files) == set(entries["image_path"]) | set(entries["aligned_path"])
    scores = store.scores(settings)
    assert set(scores["entry_id"]) == set(entries["id"])


@pytest.mark.parametrize("name, func, point, orphans, survives", POINTS, ids=[p[0] for p in POINTS])
def test_a_checkin_killed_half_way_leaves_nothing_after_the_next_start(settings, name, func, point, orphans, survives):
    add_entry(settings, 0, datetime(2026, 3, 1, 8))  # something that must not be harmed
    _kill_at(func, point, lambda: _checkin(settings))
    assert len(files_under(settings.images_dir)) == 2 + orphans + 2 * survives
    store.remove_orphan_files(settings)  # what the next app start does
    _consistent(settings)
    assert len(store.entries(settings)) == (2 if survives else 1)
    if survives:
        assert len(store.scores(settings)) == 6


@pytest.mark.slow  # a subprocess (a fresh interpreter importing skintrack)
def test_a_real_checkin_killed_before_commit_leaves_nothing(settings):
    code = CHILD.format(
        tests=str(ROOT / "tests"),
        home=str(settings.home),
        func="store.add_entries",
        point="before-commit",
        nth=1,
        action=REAL_CHECKIN,
    )
    env = {**os.environ, "GLOG_minloglevel": "3", "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        line = child.stdout.readline().strip()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert line == "at", child.stderr.read()[-2000:]
    assert len(files_under(settings.images_dir)) == 2  # the photo and its aligned face, no row yet
    store.remove_orphan_files(settings)
    _consistent(settings)
    assert store.entries(settings).empty and files_under(settings.images_dir) == {}


def test_a_delete_killed_between_rows_and_files_leaves_nothing(settings):
    ids = fill(settings, days=2)
    _kill_at(erase._delete_rows, "rows-deleted", lambda: erase.delete_entry(settings, ids[0]))
    assert len(files_under(settings.images_dir)) == 4  # the rows are gone, the files still there
    store.remove_orphan_files(settings)
    _consistent(settings)
    assert store.entries(settings)["id"].tolist() == [ids[1]]


@pytest.fixture
def before_and_after(settings, tmp_path):
    """A home with data A, an archive of data B, and the states of A and of B restored."""
    fill(settings, days=2)
    other = Settings.for_home(tmp_path / "b")
    add_entry(other, 50, datetime(2025, 6, 1, 8))
    path = tmp_path / "b.zip"
    archive.export(other, path)
    restored = Settings.for_home(tmp_path / "restored")
    restore.restore(restored, path)
    return path, state(settings), state(restored)


@pytest.mark.parametrize(
    "func, point, nth, restored",
    [
        (restore.restore, "staged", 1, False),  # staged, old data saved, nothing swapped
        (restore._write_images, "photo", 2, False),  # some new photos in place
        (rebuild._swap_in, "before-swap", 1, False),  # just before the swap
        (restore.restore, "swapped", 1, True),  # swapped; old photos still there
    ],
    ids=["staged", "writing-photos", "before-swap", "after-swap"],
)
def test_a_restore_killed_anywhere_leaves_the_old_data_or_the_new(
    settings, before_and_after, func, point, nth, restored
):
    path, old, new = before_and_after
    _kill_at(func, point, lambda: restore.restore(settings, path), nth)
    store.remove_orphan_files(settings)
    assert state(settings) == (new if restored else old)
    _consistent(settings)


def test_a_compaction_killed_before_the_swap_keeps_the_database(settings):
    ids = fill(settings, days=2)
    before = state(settings)
    _kill_at(rebuild._swap_in, "before-swap", lambda: rebuild.compact(settings))
    store.remove_orphan_files(settings)
    assert state(settings) == before and ids
    assert not list((settings.images_dir / ".staging").glob("*"))
    buf = io.BytesIO()
    assert archive.export(settings, buf).entries == 2  # still whole and readable


def test_a_backup_killed_half_way_is_cleared_by_the_next(settings):
    fill(settings, days=1)
    _kill_at(files.write_atomic, "temp-written", lambda: backup.create(settings))
    assert [p.name for p in settings.backups_dir.iterdir() if p.name.endswith(".tmp")]  # the partial copy
    backup.create(settings)
    assert [p.suffix for p in settings.backups_dir.iterdir()] == [".duckdb"]


def test_deleting_everything_killed_before_the_photos_go_leaves_nothing(settings):
    fill(settings, days=2)
    _kill_at(erase.delete_everything, "photos-left", lambda: erase.delete_everything(settings))
    assert len(files_under(settings.images_dir)) == 4  # the database is empty, the photos not yet deleted
    store.remove_orphan_files(settings)
    assert files_under(settings.images_dir) == {} and store.entries(settings).empty and store.lifestyle(settings).empty
