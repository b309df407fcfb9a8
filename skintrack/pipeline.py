"""The check-in: photo bytes -> decoded, aligned, gated, measured, scored, stored.

``analyse`` does everything but storing, so the Check-in page can show the result before
the user saves it; ``store`` saves an analysis atomically; ``checkin`` does both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from . import face, images, measure, store
from .config import Settings


class CheckinRefused(ValueError):
    """The photo cannot be checked in; the message says why and what to do."""


@dataclass
class Analysis:
    """Everything a check-in computed for one photo."""

    loaded: images.LoadedImage
    face: face.Face
    aligned: face.Aligned
    masks: dict[str, np.ndarray]
    quality: face.Quality
    measurements: list[measure.Measurement]
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
    verdict = face.quality(loaded.rgb, found, aligned)
    timer.lap("quality_align")
    measurements = measure.measure(aligned.image, masks)
    timer.lap("measure")
    prediction = classifier.predict(aligned.image) if classifier is not None else None
    timer.lap("classifier")
    return Analysis(
        loaded=loaded, face=found, aligned=aligned, masks=masks, quality=verdict,
        measurements=measurements, prediction=prediction,
        model_source=getattr(classifier, "source", None), timings_ms=timer.ms,
    )  # fmt: skip


def save(settings: Settings, analysis: Analysis, taken_at: datetime | None = None) -> int:
    """Store an analysed photo; refuses one that failed the quality gate. Returns the entry id."""
    if not analysis.quality.ok:
        raise CheckinRefused("; ".join(analysis.quality.reasons))
    started = time.perf_counter()
    taken = taken_at or analysis.loaded.taken_at or datetime.now()
    rgb = analysis.loaded.rgb
    entry_id = store.add_entry(
        settings,
        store.NewEntry(
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
        ),
    )
    analysis.timings_ms["store"] = (time.perf_counter() - started) * 1000.0
    return entry_id


def checkin(
    settings: Settings, data: bytes, taken_at: datetime | None = None, classifier=None
) -> tuple[int, Analysis]:
    """Analyse and store one photo. Raises ``ImageRejected``, ``FaceRejected``,
    ``CheckinRefused`` or ``store.DuplicatePhoto`` with a one-line reason."""
    analysis = analyse(data, settings, classifier)
    return save(settings, analysis, taken_at), analysis


def prediction_frame(prediction, grade_names: list[str]) -> pd.DataFrame:
    """The classifier's grade probabilities as a table: grade, name, probability."""
    return pd.DataFrame(
        {"grade": range(len(prediction.probs)), "name": grade_names, "probability": prediction.probs}
    )
