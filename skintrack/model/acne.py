"""What serving the acne model needs without torch: grades, preprocessing, predictions.

``classifier`` (the torch network, training-side checkpoint I/O, Grad-CAM) re-exports all of
this, so training, evaluation and the app share one definition; ``serving`` uses it to score
through ONNX Runtime without importing torch, which alone takes seconds to import.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from skintrack.config import PROJECT_ROOT
from skintrack.errors import BadValue
from skintrack.files import write_atomic as write_atomic  # re-exported: export and classifier write with it

FORMAT = "skintrack-acne-classifier"
FORMAT_VERSION = 1
# In an ONNX model file's metadata: the checkpoint id it was made from, and (in a shipped model)
# the checkpoint less its weights, as JSON.
ID_KEY = "skintrack_checkpoint_id"
CARD_KEY = "skintrack_checkpoint"
GRADE_NAMES = ["mild", "moderate", "severe", "very severe"]  # Hayashi grades 0-3
HAYASHI_CUTOFFS = (5, 20, 50)  # lesions on a half face: <=5 mild, <=20 moderate, <=50 severe
DEFAULT_NAME = "resnet50-acne.onnx"  # served by ONNX Runtime; torch rebuilds the network from it
MODELS_DIR = PROJECT_ROOT / "models"
REQUIRED_METRICS = ("accuracy", "balanced_accuracy", "n")
# What a model says about itself (its card), for the pages and the reports.
CARD_KEYS = (
    "arch",
    "id",
    "version",
    "class_names",
    "preprocess",
    "heads",
    "metrics",
    "metrics_by_group",
    "metrics_by_tone",
    "train_args",
    "data",
    "epoch",
    "created",
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """How an aligned 512x512 face becomes the model input: a square crop, resized, normalised.

    The crop (x0, y0, x1, y1) is in the aligned frame; area resampling to ``size``. The
    default keeps the whole frame: the canonical face spans x 90-422, y 57-467, but on the
    many profile views of ACNE04 the frontal alignment pushes skin outwards, and a tighter
    crop (48-464) would cut 12% of the labelled lesions against 3% for the whole frame.
    """

    size: int = 224
    crop: tuple[int, int, int, int] = (0, 0, 512, 512)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    aligned_size: int = 512

    @classmethod
    def from_dict(cls, d: dict) -> Preprocess:
        return cls(
            size=int(d["size"]),
            crop=tuple(int(v) for v in d["crop"]),
            mean=tuple(d["mean"]),
            std=tuple(d["std"]),
            aligned_size=int(d.get("aligned_size", 512)),
        )

    def as_dict(self) -> dict:
        return asdict(self)

    def matrix(self) -> np.ndarray:
        """(2, 3) affine taking aligned-frame pixels to model-input pixels."""
        x0, y0, x1, y1 = self.crop
        s = self.size / (x1 - x0)
        return np.array([[s, 0.0, -x0 * s], [0.0, s, -y0 * s]])


PREPROCESS = Preprocess()


def check_aligned(aligned_rgb: np.ndarray, pre: Preprocess) -> None:
    a = pre.aligned_size
    if not isinstance(aligned_rgb, np.ndarray) or aligned_rgb.shape != (a, a, 3) or aligned_rgb.dtype != np.uint8:
        got = getattr(aligned_rgb, "shape", type(aligned_rgb).__name__)
        raise ValueError(f"expected an aligned face of shape ({a}, {a}, 3) uint8, got {got}")


def crop_resize(aligned_rgb: np.ndarray, pre: Preprocess = PREPROCESS) -> np.ndarray:
    """The uint8 model-input image (size x size x 3) before normalisation."""
    x0, y0, x1, y1 = pre.crop
    return cv2.resize(aligned_rgb[y0:y1, x0:x1], (pre.size, pre.size), interpolation=cv2.INTER_AREA)


def model_input(aligned_rgb: np.ndarray, pre: Preprocess = PREPROCESS) -> np.ndarray:
    """Aligned 512x512 RGB uint8 face -> normalised float32 array 3 x size x size.

    ``classifier.preprocess`` is the same in torch, equal bit for bit (a test holds them equal).
    """
    check_aligned(aligned_rgb, pre)
    rgb = crop_resize(aligned_rgb, pre)
    mean = np.asarray(pre.mean, np.float32).reshape(3, 1, 1)
    std = np.asarray(pre.std, np.float32).reshape(3, 1, 1)
    return (rgb.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0) - mean) / std


def grade_from_count(count: float) -> int:
    """The Hayashi grade of a lesion count."""
    return int(sum(count > c for c in HAYASHI_CUTOFFS))


def missing_metrics(meta: dict) -> list[str]:
    """The required held-out metrics a checkpoint (or its metadata) lacks."""
    metrics = meta.get("metrics") or {}
    return [m for m in REQUIRED_METRICS if metrics.get(m) is None]


def require_measured(meta: dict, path: object) -> None:
    """Refuse a checkpoint without held-out metrics: an unmeasured model must never score."""
    missing = missing_metrics(meta)
    if missing:
        raise BadValue(
            f"{path}: checkpoint has no measured held-out metrics (missing {', '.join(missing)}); "
            "an unmeasured model must not give scores: evaluate it first"
        )


@dataclass(frozen=True)
class Prediction:
    """The model's view of one aligned face."""

    probs: list[float]  # probability of each Hayashi grade 0-3
    grade: int  # argmax
    expected_grade: float  # sum p_k * k
    lesions: float  # estimated lesion count
    confidence: float  # max probability
    # The lesion-density map the count is the sum of: lesions per cell of the model input
    # (stride 8), or None where the model did not give it.
    density: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def grade_name(self) -> str:
        return GRADE_NAMES[self.grade]

    def scores(self) -> list[tuple[str, str, float]]:
        """(condition, region, value) rows for the scores table."""
        rows = [("acne_grade", "face", self.expected_grade)]
        rows += [(f"acne_grade_p{k}", "face", p) for k, p in enumerate(self.probs)]
        rows += [("acne_confidence", "face", self.confidence), ("lesion_count", "face", self.lesions)]
        return rows


def prediction(probs, count, density=None) -> Prediction:
    """A Prediction from one face's grade probabilities, lesion count and density map (numpy or torch)."""
    p = [float(v) for v in probs]
    k = int(np.argmax(p))
    dens = None if density is None else np.asarray(density, np.float32)
    return Prediction(
        probs=p,
        grade=k,
        expected_grade=float(sum(i * v for i, v in enumerate(p))),
        lesions=float(count),
        confidence=p[k],
        density=dens,
    )


def density_map(density: np.ndarray, pre: Preprocess = PREPROCESS) -> np.ndarray:
    """The model's lesion-density map (lesions per stride-8 cell of the model input) as lesions
    per pixel of the aligned frame: (aligned_size, aligned_size), zero outside the model's
    crop, summing to the same count, so a region's sum is the lesions the model counted there."""
    x0, y0, x1, y1 = pre.crop
    a = pre.aligned_size
    out = np.zeros((a, a), np.float32)
    cells = np.asarray(density, np.float32)
    spread = cv2.resize(cells, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    total, got = float(cells.sum()), float(spread.sum())
    out[y0:y1, x0:x1] = spread * (total / got) if got > 0 else 0.0
    return out


def default_path():
    """The shipped checkpoint under models/, or None where none is installed."""
    path = MODELS_DIR / DEFAULT_NAME
    return path if path.is_file() else None


# Skin-tone groups whose photos are too few in ACNE04 to measure the model on them directly.
THIN_TONE_GROUPS = ("brown", "dark")


def tone_note(card: dict, ita: float | None) -> tuple[str, bool] | None:
    """What the model's paired skin-tone test (``metrics_by_tone``, written by
    ``tools/ship_model.py``) says for a face measured at ``ita`` degrees: (sentence, whether
    the model did more than 5 points worse at that tone), or None where the face's group is
    not one ACNE04 is thin on, or the model was not tested at it."""
    from skintrack.capture.colour import ita_group

    tested = (card.get("metrics_by_tone") or {}).get("by_tone") or {}
    if ita is None or "as is" not in tested:
        return None
    group = ita_group(ita)
    if group not in THIN_TONE_GROUPS:
        return None
    for name, m in tested.items():
        groups = m.get("measured_groups") or {}
        if name == "as is" or not groups or max(groups, key=groups.get) != group:
            continue
        base = tested["as is"]
        worse = base["accuracy"] - m["accuracy"] > 0.05
        text = (
            f"Your skin measured {group} (ITA {ita:.0f} degrees). The photos this model learned from hold few "
            f"{group} faces, so it was also tested on {base['n']} ACNE04 validation photos (two thirds of them of people it was trained on) re-rendered at this tone: it graded "
            f"{m['accuracy']:.1%} of them correctly, against {base['accuracy']:.1%} as they were, and its lesion "
            f"count moved by {m['mean_count_change']:+.1f} on average."
        )
        if worse:
            text += " Treat its grade with extra caution and follow the trend rather than one day's grade."
        return text, worse
    return None


def heatmap(model, aligned_rgb: np.ndarray, prediction: Prediction) -> tuple[np.ndarray, str]:
    """What the Check-in page lays over the face, in [0, 1] in the aligned frame, and a caption
    that says which map it is: Grad-CAM where torch is installed to compute it, else the
    model's own lesion-density map (what its count is the sum of, served without torch)."""
    if model.can_gradcam:
        return model.gradcam(aligned_rgb), "Grad-CAM: brighter means more weight for the grade"
    if prediction.density is None:
        raise ValueError(f"{model.source} gave no lesion-density map")
    dens = density_map(prediction.density, model.pre)
    peak = float(dens.max())
    caption = (
        f"The model's lesion-density map (Grad-CAM needs the training tools): brighter means more "
        f"lesions counted there; the whole map adds up to its count of {prediction.lesions:.0f}."
    )
    return (dens / peak if peak > 0 else dens), caption
