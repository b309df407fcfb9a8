"""``python -m skintrack bench [--json]``: how fast a check-in, a cold start, an import and
the Trends page are on this machine, against the targets in ``TARGETS``.

Timings are medians and 95th percentiles over repeated runs after a warm-up. The reference
(a bare torch-eager forward pass of the model at its input size) runs interleaved with the
check-in it is compared with, so load from other programs falls on both alike. All data
lives in scratch homes in a temporary folder, deleted afterwards; the user's home is never
read or written. Without a trained checkpoint the model under test is an untrained AcneNet
of the shipped shape: its timings are real, its scores are discarded.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from skintrack import pipeline
from skintrack.capture import face
from skintrack.config import PROJECT_ROOT, Settings
from skintrack.db import schema
from skintrack.lan import serve
from skintrack.model import classifier as clf
from skintrack.model import export, serving
from skintrack.report import charts
from skintrack.stats import analytics, insights, trends

# The targets on 2 CPU cores; "max" means lower is better, "min" higher.
TARGETS = {
    "checkin_over_reference": ("max", 1.0),
    "cold_start_s": ("max", 5.0),
    "trends_10y_ms": ("max", 200.0),
    "insights_10y_ms": ("max", 200.0),
    "import_photos_per_s": ("min", 8.0),
    "app_peak_rss_gib": ("max", 1.5),
}
PHOTOS = PROJECT_ROOT / "tests" / "data"
PHOTO = PHOTOS / "obama-720p.jpg"  # a 1280x720 selfie-like portrait that passes the gate
IMPORT_PHOTOS = ("obama-720p.jpg", "obama-1080p.jpg", "biden.jpg", "obama-480p.jpg")


@dataclass(frozen=True)
class BenchConfig:
    """How much to measure. ``quick`` is for tests: every section, few repetitions."""

    repeat: int = 15
    warmup: int = 2
    years: tuple[int, ...] = (1, 3, 10)
    import_photos: int = 24
    cold_runs: int = 3
    app: bool = True
    browser: bool = True  # drive the app in Chromium (first page rendered, peak memory under use)
    accuracy: bool = False  # score the held-out split with each serving variant (minutes)
    # Time an untrained stand-in at this input size even where a trained model is installed,
    # exported into the scratch folder (the quick mode: checks the bench, not the machine).
    standin_size: int | None = None
    torch_threads: int | None = None  # None: torch's default (one per core)
    insights_repeat: int = 15  # timed Insights computations after the warm-up (0: not measured)

    @classmethod
    def quick(cls) -> BenchConfig:
        return cls(
            repeat=2,
            warmup=1,
            years=(1,),
            import_photos=2,
            cold_runs=1,
            browser=False,
            standin_size=64,
            insights_repeat=2,
            torch_threads=1,
        )


def summary(ms: list[float]) -> dict:
    """Median, 95th percentile and count of a list of timings."""
    a = np.asarray(ms, dtype=float)
    return {"median": round(float(np.median(a)), 2), "p95": round(float(np.percentile(a, 95)), 2), "n": len(a)}


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000.0


def _unique(data: bytes, i: int) -> bytes:
    """The same JPEG with a different trailer after its end marker: decoded identically,
    but a new content hash, so each run stores a new entry instead of a duplicate."""
    return data + b"bench" + i.to_bytes(4, "big")


# ---------------------------------------------------------------- the model under test


def model_under_test(workdir: Path, standin_size: int | None = None) -> tuple[dict, Path, bool]:
    """(checkpoint, its path, trained?): the shipped checkpoint, else an untrained stand-in."""
    path = clf.default_path()
    if path is not None and standin_size is None:
        return clf.read(path), path, True
    pre = clf.Preprocess(size=standin_size) if standin_size else clf.PREPROCESS
    ckpt = clf.make_checkpoint(standin_model(), pre=pre, metrics=None)
    return ckpt, clf.save(ckpt, workdir / "untrained-standin.pt"), False


def standin_model(seed: int = 0) -> clf.AcneNet:
    """An untrained AcneNet with random residual weights and batch-norm statistics fitted to
    random inputs, so its activations have trained-like scales (no zeroed branches, no
    overflow). The same seed gives the same weights, so its ONNX export is cached by id."""
    torch.manual_seed(seed)
    model = clf.AcneNet("resnet50")
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.0)
            m.momentum = None  # a plain average over the calibration batches
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, 48, 48))
    return model.eval()


class _Bf16:
    """The torch model under bfloat16 autocast (for the agreement check)."""

    def __init__(self, reference: clf.Classifier) -> None:
        self.reference = reference

    def predict_batch(self, aligned: list[np.ndarray]) -> list[clf.Prediction]:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.reference.predict_batch(aligned)


def bench_checkin(cfg: BenchConfig, ckpt: dict, home: Path, export_dir: Path | None) -> tuple[dict, list]:
    """Warm check-ins by stage, interleaved with the reference and the serving variants."""
    settings = Settings.for_home(home)
    mesh = face.FaceMesh()
    t = time.perf_counter()
    onnx = serving.from_checkpoint(ckpt, cache_dir=export_dir)
    load_ms = (time.perf_counter() - t) * 1000.0
    int8 = serving.from_checkpoint(ckpt, "int8", cache_dir=export_dir)
    reference = clf.Classifier(clf.build(ckpt), ckpt)
    data = PHOTO.read_bytes()
    analysis = pipeline.analyse(data, settings, onnx, mesh)
    aligned = analysis.aligned.image

    def checkin(i: int) -> dict:
        done = pipeline.analyse(_unique(data, i), settings, onnx, mesh)
        pipeline.save(settings, done, datetime(2020, 1, 1) + timedelta(days=i))
        return done.timings_ms

    variants = _forward_variants(ckpt, reference, onnx, int8, aligned, export_dir)
    batch16 = [aligned] * 16
    with torch.inference_mode():
        stages, totals, times = _interleaved(cfg, checkin, variants)
        batch_ms = [_timed(lambda: onnx.predict_batch(batch16)) / 16 for _ in range(max(2, cfg.repeat // 3))]
    ref = np.minimum(times["torch_eager"], times["torch_eager_1thread"])
    out = {
        "photo": PHOTO.name,
        "stages_ms": {k: summary(v) for k, v in stages.items()},
        "total_ms": summary(totals),
        # the bare torch-eager forward at the model's input size, the faster of 1 and all threads
        "reference_ms": summary(list(ref)),
        # per run, check-in over the reference timed right after it: shares the load of that moment
        "checkin_over_reference": round(float(np.median(np.asarray(totals) / ref)), 3),
        "serving_load_ms": round(load_ms, 1),
    }
    model_out = {
        "input_size": reference.pre.size,
        "threads": {"torch": torch.get_num_threads(), "onnxruntime": serving.threads()},
        "forward_ms": {k: summary(v) for k, v in times.items()},
        "speedup_over_reference": {k: round(float(np.median(ref / np.asarray(v))), 2) for k, v in times.items()},
        "onnx_fp32_batch16_per_image_ms": summary(batch_ms),
        "agreement_with_torch": {
            "onnx_fp32": serving.agreement(reference, onnx, [aligned]),
            "onnx_int8": serving.agreement(reference, int8, [aligned]),
            "torch_bf16": serving.agreement(reference, _Bf16(reference), [aligned]),
        },
    }
    return {"checkin": out, "model": model_out}, analysis.scores()


def _one_thread(fn: Callable[[], object]) -> Callable[[], None]:
    """``fn`` run on one torch thread. On a machine shared with other work, torch's OpenMP threads
    wait on each other at every layer and one thread can beat two many times over: time both, so
    that the reference is the faster and the comparison never flatters the check-in."""

    def run() -> None:
        n = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            fn()
        finally:
            torch.set_num_threads(n)

    return run


def _forward_variants(
    ckpt: dict, reference: clf.Classifier, onnx, int8, aligned: np.ndarray, export_dir: Path | None
) -> dict[str, Callable[[], object]]:
    """One forward pass of the model on one aligned face, by each way of running it."""
    from torchvision.models import resnet50

    model = reference.model
    bare = resnet50(weights=None).eval()
    cl = copy.deepcopy(model).to(memory_format=torch.channels_last)  # .to() on a module is in place
    x = reference.preprocess(aligned)[None]
    xcl = x.contiguous(memory_format=torch.channels_last)

    def bf16() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            cl(xcl)

    onnx1 = serving.OnnxClassifier(serving.session(export.ensure_export(ckpt, cache_dir=export_dir), 1), ckpt)
    return {
        "torch_eager": lambda: model(x),
        "torch_eager_1thread": _one_thread(lambda: model(x)),
        "torchvision_resnet50_eager": lambda: bare(x),
        "torch_channels_last": lambda: cl(xcl),
        "torch_bf16_channels_last": bf16,
        "onnx_fp32": lambda: onnx.forward_batch(x.numpy()),
        "onnx_fp32_1thread": lambda: onnx1.forward_batch(x.numpy()),
        "onnx_int8": lambda: int8.forward_batch(x.numpy()),
        "onnx_fp32_predict": lambda: onnx.predict(aligned),
    }


def _interleaved(
    cfg: BenchConfig, checkin: Callable[[int], dict], variants: dict[str, Callable[[], object]]
) -> tuple[dict[str, list[float]], list[float], dict[str, list[float]]]:
    """(stage times, check-in totals, forward times by variant) in ms: each check-in followed by
    one forward of every variant, so that both see the load of the same moment."""
    stages: dict[str, list[float]] = {}
    totals: list[float] = []
    times: dict[str, list[float]] = {k: [] for k in variants}
    for i in range(cfg.warmup + cfg.repeat):
        t = time.perf_counter()
        ms = checkin(i)
        total = (time.perf_counter() - t) * 1000.0
        timed = {k: _timed(fn) for k, fn in variants.items()}
        if i < cfg.warmup:
            continue
        totals.append(total)
        for k, v in ms.items():
            stages.setdefault(k, []).append(v)
        for k, v in timed.items():
            times[k].append(v)
    return stages, totals, times


def bench_accuracy(ckpt: dict, data: Path, limit: int | None = None) -> dict:
    """Held-out accuracy of the torch model and each serving variant (``--accuracy``), on
    ``limit`` evenly spaced photos of the valid split (all by default)."""
    index = json.loads((data / "index.json").read_text())
    valid = [r for r in index if r["split"] == "valid"]
    if limit is not None and limit < len(valid):
        valid = [valid[int(i)] for i in np.linspace(0, len(valid) - 1, limit)]
    import cv2

    faces = [cv2.cvtColor(cv2.imread(str(data / r["file"])), cv2.COLOR_BGR2RGB) for r in valid]
    grades = np.array([r["grade"] for r in valid])
    reference = clf.Classifier(clf.build(ckpt), ckpt)
    models = {
        "torch_fp32": reference,
        "torch_bf16": _Bf16(reference),
        "onnx_fp32": serving.from_checkpoint(ckpt),
        "onnx_int8": serving.from_checkpoint(ckpt, "int8"),
    }
    out = {"n": len(valid)}
    for name, m in models.items():
        pred = np.array([p.grade for p in m.predict_batch(faces)])
        out[name] = {"accuracy": round(float(np.mean(pred == grades)), 4)}
    return out


# ---------------------------------------------------------------- cold start, app, import

COLD_CHILD = """
import json, sys, time
t0 = time.perf_counter()
from skintrack import pipeline
from skintrack.model import serving
from skintrack.config import Settings
t1 = time.perf_counter()
path, home, photo, cache, kind = sys.argv[1:6]
if kind == "trained":  # as the app and the command serve it: torch-free once the export is cached
    model = serving.load(path, cache_dir=cache or None)
else:  # an unmeasured stand-in, which load refuses: served as it is, through torch's reader
    from skintrack.model import classifier
    model = serving.from_checkpoint(classifier.read(path), cache_dir=cache or None)
t2 = time.perf_counter()
entry, analysis = pipeline.checkin(Settings.for_home(home), open(photo, "rb").read(), classifier=model)
t3 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "model_s": t2 - t1, "checkin_s": t3 - t2, "entry": entry,
                  "torch_imported": "torch" in sys.modules}))
"""


def _child_env(home: Path | None = None) -> dict:
    env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    if home is not None:
        env["SKINTRACK_HOME"] = str(home)
    return env


def bench_cold(cfg: BenchConfig, ckpt_path: Path, scratch: Path, export_dir: Path | None, trained: bool = True) -> dict:
    """Process start to first stored check-in: the command line as it is, and the pipeline
    serving the model under test (saying whether that process imported torch)."""
    cli, onnx, phases = [], [], []
    for i in range(cfg.cold_runs):
        home = scratch / f"cold-cli-{i}"
        t = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "skintrack", "checkin", str(PHOTO), "--home", str(home)],
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            env=_child_env(),
        )
        cli.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise RuntimeError(f"bench: the check-in command failed: {done.stderr.strip()}")
        home = scratch / f"cold-onnx-{i}"
        t = time.perf_counter()
        extra = [str(export_dir or ""), "trained" if trained else "standin"]
        done = subprocess.run(
            [sys.executable, "-c", COLD_CHILD, str(ckpt_path), str(home), str(PHOTO), *extra],
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            env=_child_env(),
        )
        onnx.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise RuntimeError(f"bench: the ONNX cold check-in failed: {done.stderr.strip()[-500:]}")
        phases.append(json.loads(done.stdout.strip().splitlines()[-1]))

    def s(v: list[float]) -> dict:
        return {"median": round(float(np.median(v)), 2), "max": round(max(v), 2), "n": len(v)}

    return {
        "cli_checkin_s": s(cli),
        "onnx_checkin_s": s(onnx),
        "onnx_phases_s": {
            k: round(float(np.median([p[k] for p in phases])), 2) for k in ("imports_s", "model_s", "checkin_s")
        },
        "onnx_torch_imported": any(p["torch_imported"] for p in phases),
    }


def _peak_rss_bytes(pid: int) -> int | None:
    """VmHWM: the most resident memory the process has had."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def bench_app(cfg: BenchConfig, home: Path) -> dict:
    """App start to first page served (HTTP), and, in Chromium, to the first page rendered;
    then a check-in analysis and the Trends page, and the app process's peak memory."""
    port = serve.free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = serve.streamlit_command(port)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=PROJECT_ROOT, env=_child_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    out: dict = {"home_days": None}
    try:
        serve.wait_healthy(port, proc, timeout=60, poll=0.05)
        out["server_ready_s"] = round(time.perf_counter() - t0, 2)
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()
        out["first_page_served_s"] = round(time.perf_counter() - t0, 2)
        if cfg.browser and shutil.which("chromium"):
            out.update(_drive_app(url, t0))
        out["peak_rss_gib"] = round((_peak_rss_bytes(proc.pid) or 0) / 2**30, 3)
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
    return out


def _drive_app(url: str, t0: float) -> dict:
    """Open the app in Debian's Chromium, upload a photo, open Trends; seconds since app start."""
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(url)
            page.get_by_role("heading", name="Check-in").wait_for(timeout=120_000)
            out["first_page_rendered_s"] = round(time.perf_counter() - t0, 2)
            t = time.perf_counter()
            page.locator("input[type=file]").first.set_input_files(str(PHOTO))
            page.get_by_text("Photo quality").wait_for(timeout=120_000)
            out["first_analysis_in_app_s"] = round(time.perf_counter() - t, 2)
            t = time.perf_counter()
            page.goto(f"{url}/trends")
            page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
            out["trends_page_rendered_s"] = round(time.perf_counter() - t, 2)
        finally:
            browser.close()
    return out


def import_photos(folder: Path, n: int) -> list[Path]:
    """``n`` distinct photos (the test portraits, each copy a little brighter) in ``folder``."""
    from PIL import Image, ImageEnhance

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        name = IMPORT_PHOTOS[i % len(IMPORT_PHOTOS)]
        img = ImageEnhance.Brightness(Image.open(PHOTOS / name).convert("RGB")).enhance(1.0 + 0.005 * i)
        path = folder / f"{i:04d}-{name}"
        img.save(path, quality=92)
        out.append(path)
    return out


def bench_import(cfg: BenchConfig, ckpt: dict, scratch: Path, export_dir: Path | None) -> dict:
    """Photos per second through ``python -m skintrack import`` (in this process, so the
    figure is throughput, not start-up, though it includes loading the installed model), and
    through ``pipeline.import_photos`` with the model under test."""
    from skintrack import __main__ as cli

    folder = scratch / "import-photos"
    photos = import_photos(folder, cfg.import_photos)
    t = time.perf_counter()
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        rc = cli.main(["import", str(folder), "--home", str(scratch / "import-cli")])
    cli_s = time.perf_counter() - t
    if rc != 0:
        raise RuntimeError(f"bench: the import command exited with {rc}")
    settings = Settings.for_home(scratch / "import-onnx")
    model, mesh = serving.from_checkpoint(ckpt, cache_dir=export_dir), face.default_mesh()
    t = time.perf_counter()
    done = pipeline.import_photos(settings, photos, model, mesh)
    onnx_s = time.perf_counter() - t
    return {
        "photos": len(photos),
        "cli_photos_per_s": round(len(photos) / cli_s, 2),
        "cli_classifier": "installed checkpoint" if clf.default_path() else "none installed",
        "onnx_photos_per_s": round(len(photos) / onnx_s, 2),
        "onnx_stored": len(done.stored),
    }


# ---------------------------------------------------------------- Trends at 1, 3, 10 years


def generate_history(settings: Settings, days: int, template: list[tuple[str, str, str, float]], seed: int = 0) -> None:
    """``days`` daily entries (scores shaped like ``template``) and lifestyle logs, inserted
    in bulk: what years of daily use leave in the database, without the photos."""
    rng = np.random.default_rng(seed)
    start = datetime(2000, 1, 1, 8, 0)
    ids = np.arange(1, days + 1)
    entries = pd.DataFrame(
        {
            "id": ids,
            "taken_at": [start + timedelta(days=int(i), minutes=int(rng.integers(0, 120))) for i in ids],
            "image_sha256": [f"{i:064x}" for i in ids],
            "image_path": "bench.jpg",
            "aligned_path": "bench.aligned.jpg",
            "width": 1280,
            "height": 720,
            "quality": "{}",
            "alignment_rms": 1.0,
            "yaw": 0.0,
            "pitch": 0.0,
            "roll": 0.0,
        }
    )
    tpl = pd.DataFrame(template, columns=["source", "condition", "region", "value"])
    scores = tpl.loc[tpl.index.repeat(days)].reset_index(drop=True)
    scores.insert(0, "entry_id", np.tile(ids, len(tpl)))
    drift = np.sin(scores["entry_id"].to_numpy() / 60.0)
    scores["value"] = scores["value"] * (1 + 0.1 * drift) + rng.normal(0, 0.05, len(scores)) * scores[
        "value"
    ].abs().clip(lower=1)
    log = pd.DataFrame(
        {
            "day": [(start + timedelta(days=int(i))).date() for i in ids],
            "sleep_hours": rng.normal(7, 1, days).clip(3, 11).round(1),
            "sleep_quality": rng.integers(1, 6, days),
            "water_l": rng.normal(1.8, 0.4, days).clip(0, 5).round(1),
            "stress": rng.integers(1, 6, days),
            "exercise_min": rng.integers(0, 90, days),
            "alcohol_units": rng.poisson(0.7, days).astype(float),
            "sun_min": rng.integers(0, 120, days),
            "updated_at": datetime(2000, 1, 1),
            "diet": [[t for t in ("dairy", "sugar", "fast food") if rng.random() < 0.3] for _ in ids],
        }
    )
    with schema.connect(settings) as con:
        con.register("bench_entries", entries)
        con.register("bench_scores", scores)
        con.register("bench_log", log)
        con.execute(
            "INSERT INTO entries (id, taken_at, image_sha256, image_path, aligned_path, width, height,"
            " quality, alignment_rms, yaw, pitch, roll) SELECT id, taken_at, image_sha256, image_path,"
            " aligned_path, width, height, quality, alignment_rms, yaw, pitch, roll FROM bench_entries"
        )
        con.execute(
            "INSERT INTO scores (entry_id, source, condition, region, value)"
            " SELECT entry_id, source, condition, region, value FROM bench_scores"
        )
        con.execute(
            "INSERT INTO lifestyle (day, sleep_hours, sleep_quality, water_l, stress, exercise_min,"
            " alcohol_units, sun_min, updated_at, diet) SELECT day, sleep_hours, sleep_quality, water_l, stress,"
            " exercise_min, alcohol_units, sun_min, updated_at, diet FROM bench_log"
        )


def trends_once(settings: Settings, condition: str, region: str) -> dict[str, float]:
    """What the Trends page does for one view with its query caches empty, in milliseconds:
    the queries (the catalogue, then one measurement aggregated by DuckDB, the log and the
    product periods over one connection), then the overlay and the figure, serialised as
    ``st.plotly_chart`` does. (With the caches warm, a rerun pays only the second part.)"""
    t = time.perf_counter()
    trends.catalogue(settings)
    view = trends.load(settings, condition, region)
    t1 = time.perf_counter()
    overlay = analytics.lifestyle_series(view.log, "sleep_hours")
    charts.trend_figure(view.series, condition, "", overlay, "Sleep", view.periods).to_json()
    t2 = time.perf_counter()
    return {"queries_ms": (t1 - t) * 1000.0, "figure_ms": (t2 - t1) * 1000.0, "trends_ms": (t2 - t) * 1000.0}


def insights_ms(cfg: BenchConfig, settings: Settings) -> dict:
    """The Insights computation as the Trends page runs it (queries, analytics, sentences), in ms."""
    runs_ms: list[float] = []
    for i in range(cfg.warmup + cfg.insights_repeat):
        took = _timed(lambda: insights.sentences(insights.report(settings)))
        if i >= cfg.warmup:
            runs_ms.append(took)
        if sum(runs_ms) > 60_000:  # a minute is enough to say "slow"
            break
    return summary(runs_ms)


def bench_trends(cfg: BenchConfig, template: list, scratch: Path) -> tuple[dict, Path]:
    """Trends queries, figure and insights for each history length; returns the longest home."""
    out, home = {}, scratch
    condition, region = next(((c, r) for _, c, r, _ in template if r == "face"), template[0][1:3])
    for years in cfg.years:
        home = scratch / f"trends-{years}y"
        settings = Settings.for_home(home)
        generate_history(settings, 365 * years, template)
        runs = [trends_once(settings, condition, region) for _ in range(cfg.warmup + cfg.repeat)][cfg.warmup :]
        out[f"{years}y"] = {
            "days": 365 * years,
            "score_rows": 365 * years * len(template),
            **{k: summary([r[k] for r in runs]) for k in runs[0]},
        }
        out[f"{years}y"]["insights_ms"] = insights_ms(cfg, settings) if cfg.insights_repeat else None
    return out, home


# ---------------------------------------------------------------- the report


def _machine() -> dict:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": serving.threads(),
        "load_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": serving.ort.__version__,
        "when": datetime.now().isoformat(timespec="seconds"),
    }


def verdicts(report: dict) -> dict:
    """Each target with the measured figure and whether it is met."""
    figures = {
        "checkin_over_reference": report["checkin"]["checkin_over_reference"],
        "cold_start_s": report["cold_start"]["cli_checkin_s"]["median"] if report.get("cold_start") else None,
        "trends_10y_ms": (report["trends"].get("10y") or {}).get("trends_ms", {}).get("median"),
        "insights_10y_ms": ((report["trends"].get("10y") or {}).get("insights_ms") or {}).get("median"),
        "import_photos_per_s": report["import"]["cli_photos_per_s"] if report.get("import") else None,
        "app_peak_rss_gib": (report.get("app") or {}).get("peak_rss_gib"),
    }
    out = {}
    for key, (sense, target) in TARGETS.items():
        value = figures[key]
        met = None if value is None else (value <= target if sense == "max" else value >= target)
        out[key] = {"value": value, "target": target, "sense": sense, "met": met}
    return out


def run_bench(cfg: BenchConfig) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix="skintrack-bench-"))
    took: dict[str, float] = {}  # seconds each section of the bench itself took

    def section(name: str, fn: Callable[[], object]):
        t = time.perf_counter()
        try:
            return fn()
        finally:
            took[name] = round(time.perf_counter() - t, 1)

    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.torch_threads or threads)
    try:
        ckpt, ckpt_path, trained = section("model", lambda: model_under_test(scratch, cfg.standin_size))
        export_dir = scratch / "onnx" if cfg.standin_size else None
        report: dict = {"machine": _machine(), "model": {"checkpoint": ckpt["id"], "trained": trained}}
        sections, template = section("checkin", lambda: bench_checkin(cfg, ckpt, scratch / "checkin", export_dir))
        report["checkin"] = sections["checkin"]
        report["model"].update(sections["model"])
        valid = PROJECT_ROOT / "cache" / "acne04_aligned"
        if cfg.accuracy and trained and (valid / "index.json").is_file():
            report["model"]["accuracy_valid"] = section("accuracy", lambda: bench_accuracy(ckpt, valid))
        report["trends"], longest = section("trends", lambda: bench_trends(cfg, template, scratch))
        report["import"] = section("import", lambda: bench_import(cfg, ckpt, scratch, export_dir))
        report["cold_start"] = section("cold_start", lambda: bench_cold(cfg, ckpt_path, scratch, export_dir, trained))
        report["app"] = section("app", lambda: bench_app(cfg, longest)) if cfg.app else None
        report["memory"] = {
            "bench_process_peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
        }
        report["machine"]["load_1min_end"] = round(os.getloadavg()[0], 2)
        report["machine"]["bench_sections_s"] = took
        report["targets"] = verdicts(report)
        return report
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(scratch, ignore_errors=True)


def format_report(r: dict) -> str:
    """The figures as a short plain-text table."""
    m, c = r["machine"], r["checkin"]
    lines = [
        f"{m['cpu']}, {m['cores']} cores, load {m['load_1min']} -> {m['load_1min_end']}; "
        f"model {r['model']['checkpoint']} ({'trained' if r['model']['trained'] else 'untrained stand-in'}), "
        f"{r['model']['input_size']} px",
        "",
        "warm check-in (median / p95 ms):",
    ]
    for k, v in c["stages_ms"].items():
        lines.append(f"  {k:<28}{v['median']:>9.1f} {v['p95']:>9.1f}")
    lines.append(f"  {'total':<28}{c['total_ms']['median']:>9.1f} {c['total_ms']['p95']:>9.1f}")
    lines += ["", "model forward, batch 1 (median / p95 ms, speed-up over torch eager):"]
    for k, v in r["model"]["forward_ms"].items():
        lines.append(f"  {k:<28}{v['median']:>9.1f} {v['p95']:>9.1f}   x{r['model']['speedup_over_reference'][k]}")
    for years, t in r["trends"].items():
        ins = t.get("insights_ms")
        ins_text = f", insights {ins['median']:.1f}" if ins else ", insights n/a"
        lines.append(
            f"Trends {years} ({t['days']} days): queries {t['queries_ms']['median']:.1f} + figure "
            f"{t['figure_ms']['median']:.1f} = {t['trends_ms']['median']:.1f} ms{ins_text}"
        )
    lines.append(
        f"import: {r['import']['cli_photos_per_s']} photos/s (command), {r['import']['onnx_photos_per_s']} with the ONNX model"
    )
    cs = r["cold_start"]
    lines.append(
        f"cold start to stored check-in: command {cs['cli_checkin_s']['median']} s, ONNX path {cs['onnx_checkin_s']['median']} s "
        f"{cs['onnx_phases_s']}, torch imported: {cs['onnx_torch_imported']}"
    )
    if r.get("app"):
        lines.append("app: " + ", ".join(f"{k} {v}" for k, v in r["app"].items() if v is not None))
    lines += ["", "targets:"]
    for k, v in r["targets"].items():
        verdict = {True: "met", False: "MISSED", None: "not measured"}[v["met"]]
        lines.append(f"  {k:<26}{v['value']!s:>10}  ({'<=' if v['sense'] == 'max' else '>='} {v['target']})  {verdict}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")
    parser.add_argument(
        "--quick", action="store_true", help="few repetitions, 1 year of history, no browser (for tests)"
    )
    parser.add_argument("--repeat", type=int, help="timed runs per figure after the warm-up (default 15)")
    parser.add_argument("--no-app", action="store_true", help="skip starting the Streamlit app")
    parser.add_argument("--no-browser", action="store_true", help="start the app but do not drive it in Chromium")
    parser.add_argument(
        "--accuracy", action="store_true", help="also score the held-out split with each serving variant"
    )


def run(args: argparse.Namespace) -> int:
    cfg = BenchConfig.quick() if args.quick else BenchConfig()
    changes = {}
    if args.repeat is not None:
        if args.repeat < 1:
            raise ValueError(f"--repeat {args.repeat}: must be at least 1")
        changes["repeat"] = args.repeat
    if args.no_app:
        changes["app"] = False
    if args.no_browser:
        changes["browser"] = False
    if args.accuracy:
        changes["accuracy"] = True
    from dataclasses import replace

    report = run_bench(replace(cfg, **changes))
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
