"""The app's install (requirements.txt) is enough for everything but training: every module on
the app's path imports, and a newcomer's whole first check-in works, with the training and test
tools hidden (tests/runtime_only). What deptry checks (make deps) is in deptry.toml."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import DATA, ROOT

RUNTIME_ONLY = ROOT / "tests" / "runtime_only"
# The modules that need the training tools (requirements-train.txt); nothing else in skintrack
# may import torch. (The bench, under benchmarks/, is a developer's command that compares
# against torch and drives a browser.)
TRAINING_MODULES = {
    *(f"skintrack.model.{m}" for m in ("batches", "classifier", "evaluate", "runstate", "tone", "train")),
    "skintrack.rescore",
}


def runtime_env(home=None) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(RUNTIME_ONLY), str(ROOT)]), "GLOG_minloglevel": "2"}
    if home is not None:
        env["SKINTRACK_HOME"] = str(home)
    return env


def run(args: list[str], home=None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=runtime_env(home), timeout=timeout
    )


def test_the_training_tools_really_are_hidden():
    done = run(["-c", "import torch"])
    assert done.returncode == 1 and "No module named 'torch'" in done.stderr


def test_every_module_of_the_app_imports_without_the_training_tools():
    every = (".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "skintrack").rglob("*.py"))
    modules = sorted(m.removesuffix(".__init__") for m in every if m not in TRAINING_MODULES)
    pages = sorted(p.stem for p in (ROOT / "views").glob("*.py"))
    code = "import importlib, sys\nbad = []\n"
    code += f"for m in {modules + ['appstate']}:\n"
    code += (
        "    try:\n        importlib.import_module(m)\n    except ImportError as e:\n        bad.append(f'{m}: {e}')\n"
    )
    code += "print('\\n'.join(bad)); sys.exit(1 if bad else 0)\n"
    done = run(["-c", code])
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert len(modules) > 20 and pages  # the pages import through AppTest in the newcomer test


@pytest.mark.slow
def test_a_newcomers_first_check_in_needs_only_the_apps_install():
    """tools/newcomer_check.py, as .ci/run runs it after `make setup`: a command-line check-in,
    a check-in saved in the app and seen on Trends, the real server answering."""
    done = run(["tools/newcomer_check.py"], timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert done.stdout.count("ok: ") == 3 and "acne graded by resnet50-acne@" in done.stdout


@pytest.mark.parametrize("command", ["train", "evaluate", "rescore"])
def test_training_commands_say_how_to_get_the_tools(command, tmp_path):
    done = run(["-m", "skintrack", command, "--data", str(DATA)], home=tmp_path / "home")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"skintrack: {command} needs the training tools (torch is not installed): run `make train-setup`"
    ]


def test_the_check_in_page_shows_the_models_own_map_without_torch(tmp_path):
    """Grad-CAM needs torch; without it the page offers the lesion-density map and says so."""
    code = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(ROOT / "app.py")!r}, default_timeout=120)
at.run()
at = at.switch_page("views/checkin.py").run()
at.file_uploader[0].set_value(("me.jpg", open({str(DATA / "obama-720p.jpg")!r}, "rb").read(), "image/jpeg"))
at.run()
toggle = next(t for t in at.toggle if "lesion-density map" in t.label)
toggle.set_value(True).run()
assert not at.exception, at.exception
captions = [i.caption for img in at.image for i in img.proto.imgs]
print([c for c in captions if "lesion-density map" in c][0])
"""
    done = run(["-c", code], home=tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "adds up to its count of" in done.stdout


def requirement_lines(path) -> list[str]:
    return [line.split("#")[0].strip() for line in path.read_text().splitlines() if line.split("#")[0].strip()]


def test_the_lock_pins_what_requirements_txt_asks_for():
    """`make setup` installs requirements.lock with --no-deps: it must hold a version of every
    requirement that the requirement accepts (regenerate with `make lock` when not)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name as canonical

    pins = dict(line.split("==") for line in requirement_lines(ROOT / "requirements.lock"))
    pins = {canonical(k): v for k, v in pins.items()}
    for line in requirement_lines(ROOT / "requirements.txt"):
        req = Requirement(line)
        assert canonical(req.name) in pins, f"{req.name} is not in requirements.lock: run `make lock`"
        assert req.specifier.contains(pins[canonical(req.name)], prereleases=True), (req, pins[canonical(req.name)])
    assert not {"jax", "jaxlib", "torch"} & pins.keys()
