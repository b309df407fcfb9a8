"""The command line as a user runs it: real photos in, exit codes and one-line reasons out."""

import json
import os
import shutil
import subprocess
import sys

import cv2
import duckdb
import numpy as np
import pytest
from conftest import DATA, ROOT, jpeg_bytes, no_face
from PIL import Image


def run(*args, home):
    env = {**os.environ, "SKINTRACK_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "skintrack", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )


def count_entries(home) -> int:
    db = home / "skintrack.duckdb"
    if not db.exists():
        return 0
    with duckdb.connect(str(db)) as con:
        return con.execute("SELECT count(*) FROM entries").fetchone()[0]


@pytest.mark.slow  # a subprocess (a fresh interpreter importing skintrack)
def test_checkin_stores_a_portrait_and_prints_json(home):
    done = run("checkin", str(DATA / "obama-1080p.jpg"), "--at", "2026-03-01T08:30", "--json", home=home)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["entry_id"] == 1 and out["taken_at"] == "2026-03-01T08:30:00"
    face_ita = [s["value"] for s in out["scores"] if s["condition"] == "ita" and s["region"] == "face"]
    assert len(face_ita) == 1 and -90 < face_ita[0] < 90
    assert {s["region"] for s in out["scores"]} >= {"forehead", "left_cheek", "right_cheek", "nose", "chin", "face"}
    assert count_entries(home) == 1


@pytest.mark.slow  # a subprocess (a fresh interpreter importing skintrack)
@pytest.mark.parametrize(
    "kind, reason",
    [
        ("text", "not an image"),
        ("truncated", "truncated"),
        ("no-face", "no face found"),
        ("missing", "No such file"),
    ],
)
def test_bad_photos_exit_2_with_one_line_and_no_row(tmp_path, home, kind, reason):
    path = tmp_path / "photo.jpg"
    if kind == "text":
        path.write_text("definitely not a photo")
    elif kind == "truncated":
        path.write_bytes((DATA / "obama-1080p.jpg").read_bytes()[:30000])
    elif kind == "no-face":
        path.write_bytes(jpeg_bytes(no_face()))
    done = run("checkin", str(path), home=home)
    assert done.returncode == 2
    assert reason in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert count_entries(home) == 0
    assert not (home / "images").exists() or not any(p.is_file() for p in (home / "images").rglob("*"))


@pytest.mark.slow  # a subprocess (a fresh interpreter importing skintrack)
def test_import_a_folder_skips_duplicates_and_lists_refusals(tmp_path, home):
    folder = tmp_path / "selfies"
    folder.mkdir()
    shutil.copy(DATA / "obama-1080p.jpg", folder / "a.jpg")
    shutil.copy(DATA / "obama-1080p.jpg", folder / "a-copy.jpg")
    shutil.copy(DATA / "biden.jpg", folder / "b.jpg")
    shutil.copy(DATA / "obama-240p.jpg", folder / "small.jpg")
    Image.fromarray(no_face()).save(folder / "cat.png")
    done = run("import", str(folder), home=home)
    assert done.returncode == 0, done.stderr
    assert "stored 3, skipped 1 duplicates, refused 1 of 5 photos" in done.stdout
    assert "cat.png: no face found" in done.stdout  # the small face keeps its colour measures
    assert "importing" in done.stderr  # the progress bar
    assert count_entries(home) == 3
    again = run("import", str(folder), home=home)
    assert "stored 0, skipped 4 duplicates" in again.stdout


def test_checkin_says_what_it_did_not_measure(tmp_path, home):
    small = run("checkin", str(DATA / "obama-240p.jpg"), home=home)
    assert small.returncode == 0, small.stderr
    lines = [line for line in small.stdout.splitlines() if line.startswith("not measured: ")]
    assert len(lines) == 1 and "Texture" in lines[0] and "face too small" in lines[0] and "60 needed" in lines[0]
    soft = tmp_path / "soft.jpg"
    soft.write_bytes(jpeg_bytes(cv2.GaussianBlur(np.asarray(Image.open(DATA / "obama-1080p.jpg")), (0, 0), 3.0)))
    out = json.loads(run("checkin", "--json", str(soft), home=home).stdout)
    held = {w["condition"] for w in out["withheld"]}
    assert {"texture", "red_spots"} <= held and not held & {s["condition"] for s in out["scores"]}


@pytest.mark.slow  # a subprocess (a fresh interpreter importing skintrack)
def test_log_a_day_and_refuse_bad_values(home):
    done = run(
        "log",
        "2026-03-01",
        "--sleep-hours",
        "6.5",
        "--stress",
        "4",
        "--diet",
        "dairy,sugar",
        "--product",
        "Retinol serum:PM,SPF 50:AM",
        "--note",
        "new pillowcase",
        home=home,
    )
    assert done.returncode == 0, done.stderr
    with duckdb.connect(str(home / "skintrack.duckdb")) as con:
        assert con.execute("SELECT sleep_hours, stress, diet FROM lifestyle").fetchone() == (6.5, 4, ["dairy", "sugar"])
    for args, reason in [(["--sleep-hours", "25"], "out of range"), (["--stress", "9"], "out of range")]:
        bad = run("log", "2026-03-02", *args, home=home)
        assert bad.returncode == 2 and reason in bad.stderr
    future = run("log", "2999-01-01", "--stress", "2", home=home)
    assert future.returncode == 2 and "in the future" in future.stderr


def test_a_refusal_exits_2_and_a_bug_exits_1_with_one_line(settings, monkeypatch, capsys):
    from skintrack.__main__ import main
    from skintrack.db import store
    from skintrack.errors import Refused

    argv = ["log", "2026-03-01", "--stress", "2", "--home", str(settings.home)]

    def refuse(*_args, **_kwargs):
        raise Refused("the day is full")

    monkeypatch.setattr(store, "log_day", refuse)
    assert main(argv) == 2
    assert capsys.readouterr().err == "skintrack: the day is full\n"

    def bug(*_args, **_kwargs):
        raise ValueError("a bug, not bad input")

    monkeypatch.setattr(store, "log_day", bug)
    monkeypatch.delenv("SKINTRACK_DEBUG", raising=False)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == (
        "skintrack: unexpected error: ValueError: a bug, not bad input (run with SKINTRACK_DEBUG=1 for the traceback)\n"
    )
    monkeypatch.setenv("SKINTRACK_DEBUG", "1")
    assert main(argv) == 1
    assert "Traceback" in capsys.readouterr().err


def test_a_command_that_cannot_be_imported_is_an_error_not_an_invalid_choice(settings, monkeypatch, capsys):
    from skintrack.__main__ import main

    monkeypatch.setitem(sys.modules, "skintrack.stats.insights", None)  # importing it raises ImportError
    assert main(["insights", "--home", str(settings.home)]) == 1
    err = capsys.readouterr().err
    assert "unexpected error" in err and "skintrack.stats.insights" in err and "invalid choice" not in err


def test_bad_arguments_are_refusals(settings, capsys):
    from skintrack.__main__ import main

    home = ["--home", str(settings.home)]
    for argv, reason in [
        (["checkin", str(DATA / "biden.jpg"), "--at", "yesterday"], "invalid --at"),
        (["import", str(DATA / "biden.jpg")], "is not a folder"),
        (["routine", "start"], "needs a product name"),
        (["insights", "--bootstrap", "3"], "--bootstrap 3"),
        (["rescore", "--model", str(DATA / "missing.pt")], "no such checkpoint"),
    ]:
        assert main([*argv, *home]) == 2, argv
        assert reason in capsys.readouterr().err


def test_a_bad_data_folder_or_checkpoint_is_a_refusal(settings, tmp_path, capsys):
    from skintrack.__main__ import main

    home = ["--home", str(settings.home)]
    not_a_checkpoint = tmp_path / "model.pt"
    not_a_checkpoint.write_bytes(b"not a checkpoint")
    for argv, reason in [
        (["train", "--data", str(tmp_path), "--out", str(tmp_path / "run")], "no labels.csv"),
        (["rescore", "--model", str(not_a_checkpoint)], str(not_a_checkpoint)),
    ]:
        assert main([*argv, *home]) == 2, argv
        err = capsys.readouterr().err
        assert reason in err and "unexpected" not in err
