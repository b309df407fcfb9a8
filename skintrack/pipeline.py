"""The check-in: photo bytes -> decoded, aligned, gated, measured, scored, stored.

``analyse`` does everything but storing, so the Check-in page can show the result before
the user saves it; ``store`` saves an analysis atomically; ``checkin`` does both.
``import_photos`` checks in many: analyses on a few threads, the classifier on a batch of
faces per call, and each chunk stored in one transaction.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from skintrack.capture import face, images, measure, quality
from skintrack.config import Settings
from skintrack.db import store
from skintrack.errors import Refused


class CheckinRefused(Refused, ValueError):
    """The photo cannot be checked in; the message says why and what to do."""


@dataclass
class Analysis:
    """Everything a check-in computed for one photo."""

    loaded: images.LoadedImage
    face: face.Face
    aligned: face.Aligned
    masks: dict[str, np.ndarray]
    quality: quality.Quality
    measurements: list[measure.Measurement]  # only those the photo supports
    withheld: list[quality.Withheld] = field(default_factory=list)
    prediction: object | None = None  # classifier.Prediction when a trained model is installed
    model_source: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    def scores(self) -> list[tuple[str, str, str, float]]:
        """(source, condition, region, value) rows, as stored."""
        rows = [(measure.SOURCE, m.condition, m.region, m.value) for m in self.measurements]
        if self.prediction is not None:
            rows += [(self.model_source, c, r, v) for c, r, v in self.prediction.scores()]
        return rows


class _Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.ms[name] = (now - self._t) * 1000.0
        self._t = now


def _is_greyscale(rgb: np.ndarray) -> bool:
    """True when every pixel has R = G = B (checked on a sparse grid, exactly)."""
    grid = rgb[:: max(1, rgb.shape[0] // 64), :: max(1, rgb.shape[1] // 64)].astype(np.int16)
    return bool((grid[..., 0] == grid[..., 1]).all() and (grid[..., 1] == grid[..., 2]).all())


def analyse(
    data: bytes,
    settings: Settings | None = None,
    classifier=None,
    mesh: face.FaceMesh | None = None,
) -> Analysis:
    """Run the pipeline on ``data`` up to (not including) storage.

    Raises ``images.ImageRejected`` or ``face.FaceRejected`` when there is nothing to
    analyse; a photo that fails the quality gate is analysed and its ``quality`` says why.
    """
    timer = _Timer()
    loaded = images.load(data, settings)
    if _is_greyscale(loaded.rgb):
        # MediaPipe finds no face in most black-and-white photos, and redness and tone need colour.
        raise images.ImageRejected("the photo is black and white; skin colour cannot be measured: use a colour photo")
    timer.lap("decode")
    found = face.detect(loaded.rgb, mesh)
    timer.lap("face")
    aligned = face.align(loaded.rgb, found)
    masks = face.region_masks(aligned.landmarks)
    verdict = quality.quality(loaded.rgb, found, aligned, masks=masks)
    timer.lap("quality_align")
    measurements = [] if verdict.refused else verdict.supported(measure.measure(aligned.image, verdict.visible(masks)))
    timer.lap("measure")
    use_model = classifier is not None and verdict.supports(quality.MODEL[0])
    prediction = classifier.predict(aligned.image) if use_model else None
    timer.lap("classifier")
    return Analysis(
        loaded=loaded,
        face=found,
        aligned=aligned,
        masks=masks,
        quality=verdict,
        measurements=measurements,
        withheld=[] if verdict.refused else verdict.withheld,
        prediction=prediction,
        model_source=getattr(classifier, "source", None),
        timings_ms=timer.ms,
    )


def can_store(analysis: Analysis) -> bool:
    """The gate refused nothing and at least one measurement (or the model's grade) was kept."""
    return not analysis.quality.refused and bool(analysis.measurements or analysis.prediction is not None)


def model_withheld(analysis: Analysis) -> str | None:
    """Why the gate kept the acne model from this photo (value, limit and fix), or None."""
    return next((w.reason for w in analysis.withheld if w.condition == quality.MODEL[0]), None)


def withheld_lines(analysis: Analysis) -> list[str]:
    """'not measured: <what>: <reason>', one line per reason (value, limit and fix)."""
    by_reason: dict[str, list[str]] = {}
    for w in analysis.withheld:
        by_reason.setdefault(w.reason, []).append(_what(w))
    return [f"not measured: {', '.join(what)}: {reason}" for reason, what in by_reason.items()]


def notes(analysis: Analysis) -> list[str]:
    """What the check-in did that the user should know and no check says: a face it ignored."""
    return [face.OTHER_FACES] if analysis.face.ignored else []


def _what(w: quality.Withheld) -> str:
    if w.condition == quality.EVERY:
        return f"the {w.region.replace('_', ' ')}"
    label = measure.CONDITIONS[w.condition].label if w.condition in measure.CONDITIONS else "acne grade"
    return label if w.region == quality.EVERY else f"{label} on the {w.region.replace('_', ' ')}"


def new_entry(analysis: Analysis, taken_at: datetime | None = None) -> store.NewEntry:
    """What storing an analysis writes (both JPEGs encoded); refuses one with nothing to store."""
    if not can_store(analysis):
        raise CheckinRefused(
            "; ".join(analysis.quality.refusal_reasons) or "no measurement could be made on this photo"
        )
    taken = taken_at or analysis.loaded.taken_at or datetime.now()
    rgb = analysis.loaded.rgb
    return store.NewEntry(
        taken_at=taken.replace(microsecond=0),
        image_sha256=analysis.loaded.sha256,
        original_jpeg=images.encode_jpeg(rgb),
        aligned_jpeg=images.encode_jpeg(analysis.aligned.image, quality=95),
        width=rgb.shape[1],
        height=rgb.shape[0],
        quality=analysis.quality.as_dict(),
        alignment_rms=analysis.aligned.rms,
        yaw=analysis.face.yaw,
        pitch=analysis.face.pitch,
        roll=analysis.face.roll,
        scores=analysis.scores(),
        withheld=[(w.condition, w.region, w.reason) for w in analysis.withheld],
    )


def save(settings: Settings, analysis: Analysis, taken_at: datetime | None = None) -> int:
    """Store an analysed photo; refuses one that failed the quality gate. Returns the entry id."""
    started = time.perf_counter()
    entry_id = store.add_entry(settings, new_entry(analysis, taken_at))
    analysis.timings_ms["store"] = (time.perf_counter() - started) * 1000.0
    return entry_id


def checkin(settings: Settings, data: bytes, taken_at: datetime | None = None, classifier=None) -> tuple[int, Analysis]:
    """Analyse and store one photo. Raises ``ImageRejected``, ``FaceRejected``,
    ``CheckinRefused`` or ``store.DuplicatePhoto`` with a one-line reason."""
    analysis = analyse(data, settings, classifier)
    return save(settings, analysis, taken_at), analysis


def prediction_frame(prediction, grade_names: list[str]) -> pd.DataFrame:
    """The classifier's grade probabilities as a table: grade, name, probability."""
    return pd.DataFrame({"grade": range(len(prediction.probs)), "name": grade_names, "probability": prediction.probs})


# ---------------------------------------------------------------- many photos


@dataclass
class Imported:
    """What ``import_photos`` did: entry ids stored, duplicates skipped, photos refused and why."""

    stored: list[int] = field(default_factory=list)
    duplicates: int = 0
    refused: list[tuple[Path, str]] = field(default_factory=list)


REFUSED = (images.ImageRejected, face.FaceRejected, CheckinRefused)


def photo_time(path: Path, loaded_time: datetime | None) -> datetime:
    """When a photo was taken: its EXIF time, else the file's modification time."""
    return loaded_time or datetime.fromtimestamp(path.stat().st_mtime).replace(microsecond=0)


def _prepare(settings: Settings, path: Path, data: bytes, mesh: face.FaceMesh | None):
    """(entry without model scores, aligned face or None where the gate withholds the model) for one
    photo, or its one-line refusal."""
    try:
        analysis = analyse(data, settings, None, mesh)
        for_model = analysis.aligned.image if analysis.quality.supports(quality.MODEL[0]) else None
        return new_entry(analysis, photo_time(path, analysis.loaded.taken_at)), for_model
    except REFUSED as exc:
        return str(exc)


def _workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def import_photos(
    settings: Settings,
    paths: list[Path],
    classifier=None,
    mesh: face.FaceMesh | None = None,
    chunk: int = 16,
    workers: int | None = None,
    progress: Callable[[int], object] | None = None,
) -> Imported:
    """Check in every photo of ``paths``: those already stored (by content) are skipped, those
    refused are listed with the reason. Photos are analysed on ``workers`` threads (OpenCV,
    NumPy and ONNX Runtime release the GIL; MediaPipe is serialised), scored by the
    classifier ``chunk`` faces per call, and each chunk is stored in one transaction."""
    if chunk < 1:
        raise ValueError(f"chunk {chunk}: must be at least 1")
    out = Imported()
    known = store.known_hashes(settings)
    with ThreadPoolExecutor(workers or _workers()) as pool:
        for start in range(0, len(paths), chunk):
            _import_chunk(settings, paths[start : start + chunk], known, classifier, mesh, pool, out, progress)
    return out


def _import_chunk(settings, paths, known, classifier, mesh, pool, out: Imported, progress) -> None:
    firsts: dict[str, int] = {}  # content hash -> index of its first photo in this chunk
    jobs, copies = {}, {}
    for i, path in enumerate(paths):
        data = path.read_bytes()
        sha = images.sha256(data)
        if sha in known:
            out.duplicates += 1
        elif sha in firsts:
            copies[i] = firsts[sha]  # the same photo twice: it shares its first copy's fate
        else:
            firsts[sha] = i
            jobs[i] = pool.submit(_prepare, settings, path, data, mesh)
    if progress is not None:
        progress(len(paths) - len(jobs))
        for _ in as_completed(jobs.values()):
            progress(1)
    results = {i: job.result() for i, job in jobs.items()}
    ready = {i: r for i, r in results.items() if not isinstance(r, str)}
    entries = [r[0] for r in ready.values()]
    faces = [r[1] for r in ready.values() if r[1] is not None]
    if classifier is not None and faces:
        predictions = iter(classifier.predict_batch(faces))
        entries = [
            e
            if aligned is None
            else dataclasses.replace(
                e, scores=e.scores + [(classifier.source, c, r, v) for c, r, v in next(predictions).scores()]
            )
            for e, (_, aligned) in zip(entries, ready.values(), strict=True)
        ]
    stored = set()
    try:
        ids = store.add_entries(settings, entries)
        stored = set(ready)
    except store.DuplicatePhoto:  # another program stored one of them meanwhile: one at a time
        ids = []
        for i, e in zip(ready, entries, strict=True):
            try:
                ids.append(store.add_entry(settings, e))
                stored.add(i)
            except store.DuplicatePhoto:
                out.duplicates += 1
    out.stored += ids
    known.update(e.image_sha256 for e in entries)
    for i, path in enumerate(paths):
        if isinstance(results.get(i), str):
            out.refused.append((path, results[i]))
        elif i in copies:
            first = copies[i]
            if first in stored:
                out.duplicates += 1
            else:
                out.refused.append((path, results[first]))
