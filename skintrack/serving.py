"""Serving the acne classifier through ONNX Runtime.

torch stays the reference path (training, evaluation, Grad-CAM, the agreement checks); a
check-in scores through an ONNX export of the same checkpoint, which runs about twice as
fast on a CPU. The export is made once per checkpoint and cached, keyed by the checkpoint
id (a hash of its weights) and ``EXPORT_VERSION``: under the project's git-ignored
``cache/onnx`` when that is writable, else under the data home's ``cache/onnx``.

Precisions: ``fp32`` reproduces the checkpoint's own outputs (to ~1e-4), so its scores keep
the checkpoint's ``source``; ``int8`` (dynamic quantisation of the weights) is a different
model, so its scores carry their own source (``...+int8``) and are never mixed with fp32.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from . import classifier as clf
from .config import PROJECT_ROOT, user_dir

EXPORT_VERSION = 1
OPSET = 17
PRECISIONS = ("fp32", "int8")
INPUT = "input"
OUTPUTS = ("logits", "count")


def threads() -> int:
    """CPU cores this process may use (its affinity: a container's share, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class _Heads(nn.Module):
    """The network with only what a prediction needs, as a tuple: ONNX outputs no dicts."""

    def __init__(self, model: clf.AcneNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.model(x)
        return r["logits"], r["count"]


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def export(model: clf.AcneNet, path: str | os.PathLike, size: int) -> Path:
    """Write ``model`` as ONNX (batch dimension dynamic, ``size`` x ``size`` RGB input)."""
    model = model.eval()
    example = torch.zeros(1, 3, size, size)

    def write(tmp: Path) -> None:
        # The TorchScript exporter (dynamo=False): the dynamo one needs onnxscript, which is
        # not installed, and newer onnx releases that it wants break mediapipe's protobuf.
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Heads(model), (example,), str(tmp), dynamo=False, opset_version=OPSET,
                input_names=[INPUT], output_names=list(OUTPUTS),
                dynamic_axes={INPUT: {0: "batch"}, **{o: {0: "batch"} for o in OUTPUTS}},
            )  # fmt: skip

    return _atomic(Path(path), write)


def quantize_int8(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Dynamic int8 quantisation of an exported model's weights (activations stay float)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    def write(tmp: Path) -> None:
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # its advice to "pre-process" the model, on every call
        try:
            quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)

    return _atomic(Path(dst), write)


def cache_dirs() -> list[Path]:
    """Where exports are looked for, and written to the first writable one."""
    return [PROJECT_ROOT / "cache" / "onnx", user_dir() / "cache" / "onnx"]


def export_name(ckpt: dict, precision: str) -> str:
    return f"{ckpt['arch']}-acne-{ckpt['id']}.v{EXPORT_VERSION}.{precision}.onnx"


def ensure_export(ckpt: dict, precision: str = "fp32", cache_dir: str | os.PathLike | None = None) -> Path:
    """The cached export of checkpoint ``ckpt`` at ``precision``, made if missing."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    dirs = [Path(cache_dir)] if cache_dir is not None else cache_dirs()
    for d in dirs:
        if (d / export_name(ckpt, precision)).is_file():
            return d / export_name(ckpt, precision)
    errors = []
    for d in dirs:
        try:
            fp32 = d / export_name(ckpt, "fp32")
            if not fp32.is_file():
                pre = clf.Preprocess.from_dict(ckpt["preprocess"])
                export(clf.build(ckpt), fp32, pre.size)
            if precision == "int8":
                return quantize_int8(fp32, d / export_name(ckpt, "int8"))
            return fp32
        except OSError as exc:  # read-only folder: try the next one
            errors.append(f"{d}: {exc}")
    raise OSError(f"cannot write the ONNX export anywhere: {'; '.join(errors)}")


def session(path: str | os.PathLike, n_threads: int | None = None) -> ort.InferenceSession:
    """A CPU session with one intra-op thread per usable core and no inter-op parallelism
    (batch-1 convolutions gain nothing from running graph branches side by side)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = n_threads or threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Idle workers sleep instead of spinning: a check-in runs MediaPipe, OpenCV and DuckDB
    # right after the model on the same few cores (and one run here: 320 ms against 422).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def preprocess(aligned_rgb: np.ndarray, pre: clf.Preprocess = clf.PREPROCESS) -> np.ndarray:
    """``classifier.preprocess`` in numpy, equal to it bit for bit (a test holds them equal).

    The served path never enters torch: torch's element-wise ops run on its OpenMP threads,
    which on a machine busy with other work take ~70 ms for what numpy does in 1.5 ms."""
    clf._check_aligned(aligned_rgb, pre)
    rgb = clf.crop_resize(aligned_rgb, pre)
    mean = np.asarray(pre.mean, np.float32).reshape(3, 1, 1)
    std = np.asarray(pre.std, np.float32).reshape(3, 1, 1)
    return (rgb.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0) - mean) / std


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


class OnnxClassifier:
    """``classifier.Classifier``'s inference API (source, card, predict, predict_batch,
    gradcam) on ONNX Runtime. Grad-CAM needs gradients, so it runs on the torch reference,
    built from the checkpoint on first use."""

    def __init__(self, sess: ort.InferenceSession, checkpoint: dict, precision: str = "fp32",
                 reference: Callable[[], clf.Classifier] | None = None) -> None:  # fmt: skip
        self.session = sess
        self.checkpoint = {k: v for k, v in checkpoint.items() if k != "state_dict"}
        self.pre = clf.Preprocess.from_dict(checkpoint["preprocess"])
        self.id = checkpoint["id"]
        self.precision = precision
        suffix = "" if precision == "fp32" else f"+{precision}"
        self.source = f"{checkpoint['arch']}-acne@{self.id}{suffix}"
        self._reference_factory = reference
        self._reference: clf.Classifier | None = None

    @property
    def card(self) -> dict:
        """What the checkpoint says about itself, plus how it is served."""
        c = self.checkpoint
        keys = ("arch", "id", "version", "class_names", "preprocess", "heads", "metrics",
                "metrics_by_group", "train_args", "data", "epoch", "created")  # fmt: skip
        return {**{k: c.get(k) for k in keys}, "serving": f"onnxruntime {ort.__version__} {self.precision}"}

    def inputs(self, aligned: list[np.ndarray]) -> np.ndarray:
        """The model-input batch (N, 3, size, size) float32: the checkpoint's own preprocessing."""
        return np.stack([preprocess(a, self.pre) for a in aligned])

    def forward_batch(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits, count) for a preprocessed batch."""
        logits, count = self.session.run(list(OUTPUTS), {INPUT: np.ascontiguousarray(batch, np.float32)})
        return logits, count

    def predict_batch(self, aligned: list[np.ndarray], batch_size: int = 16) -> list[clf.Prediction]:
        out: list[clf.Prediction] = []
        for i in range(0, len(aligned), batch_size):
            logits, count = self.forward_batch(self.inputs(aligned[i : i + batch_size]))
            out += [clf._prediction(p, c) for p, c in zip(_softmax(logits.astype(np.float64)), count, strict=True)]
        return out

    def predict(self, aligned_rgb: np.ndarray) -> clf.Prediction:
        return self.predict_batch([aligned_rgb])[0]

    def reference(self) -> clf.Classifier:
        """The torch model of the same checkpoint (built once, on first use)."""
        if self._reference is None:
            if self._reference_factory is None:
                raise ValueError(f"{self.source}: no checkpoint to build the torch reference from")
            self._reference = self._reference_factory()
        return self._reference

    def gradcam(self, aligned_rgb: np.ndarray, grade: int | None = None) -> np.ndarray:
        return self.reference().gradcam(aligned_rgb, grade)


def from_checkpoint(ckpt: dict, precision: str = "fp32", cache_dir: str | os.PathLike | None = None,
                    n_threads: int | None = None) -> OnnxClassifier:  # fmt: skip
    """Serve a checkpoint dict as it is, measured or not (timing and tests; the app uses ``load``)."""
    path = ensure_export(ckpt, precision, cache_dir)
    return OnnxClassifier(session(path, n_threads), ckpt, precision,
                          reference=lambda: clf.Classifier(clf.build(ckpt), ckpt))  # fmt: skip


def load(path: str | os.PathLike, precision: str = "fp32", cache_dir: str | os.PathLike | None = None) -> OnnxClassifier:
    """Serve a checkpoint file; like ``classifier.load`` it refuses one without held-out metrics."""
    ckpt = clf.read(path)
    metrics = ckpt.get("metrics") or {}
    missing = [m for m in clf.REQUIRED_METRICS if metrics.get(m) is None]
    if missing:
        raise ValueError(
            f"{path}: checkpoint has no measured held-out metrics (missing {', '.join(missing)}); "
            "an unmeasured model must not give scores: evaluate it first"
        )
    served = ensure_export(ckpt, precision, cache_dir)
    # The torch reference (Grad-CAM) re-reads the file when asked, rather than keeping the
    # weights of a model that most sessions never build.
    return OnnxClassifier(session(served), ckpt, precision, reference=lambda: clf.load(path))


def load_default(precision: str = "fp32") -> OnnxClassifier | None:
    """The shipped checkpoint served through ONNX Runtime, or None where none is installed."""
    path = clf.default_path()
    return load(path, precision) if path is not None else None


def agreement(reference, candidate, aligned: list[np.ndarray]) -> dict:
    """How far ``candidate``'s predictions are from ``reference``'s on the same faces."""
    a, b = reference.predict_batch(aligned), candidate.predict_batch(aligned)
    return {
        "n": len(aligned),
        "grade_agreement": float(np.mean([x.grade == y.grade for x, y in zip(a, b, strict=True)])),
        "max_prob_diff": float(max(np.abs(np.subtract(x.probs, y.probs)).max() for x, y in zip(a, b, strict=True))),
        "max_lesion_diff": float(max(abs(x.lesions - y.lesions) for x, y in zip(a, b, strict=True))),
    }


def installed():
    """The installed trained model, served through ONNX Runtime (the same scores, about twice
    as fast as torch on a CPU); the torch model where the export cannot be made or run here;
    None where no trained model is installed (then no acne scores are shown anywhere)."""
    try:
        return load_default()
    except (ImportError, OSError, RuntimeError):
        return clf.load_default()
