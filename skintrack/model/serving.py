"""Serving the acne classifier through ONNX Runtime, without importing torch.

The installed model is a shipped ``.onnx`` file (``models/resnet50-acne.onnx``, written by
``export.ship``): ``load`` serves it as it is, with the card it carries. A torch checkpoint
(``.pt``, from training) is served through a cached ONNX export of it (``export``): ``load``
hashes the file, finds its sidecar and the export named by the id the sidecar gives, checks
that the export records that same id, and imports torch only to export when one of these is
missing or does not match. torch stays the reference path (training, evaluation, Grad-CAM,
the agreement checks). The rule of ``classifier.load`` holds on every path: a model without
held-out metrics is refused.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort

from skintrack.model import acne
from skintrack.model.export import (
    INPUT,
    OUTPUTS,
    PRECISIONS,
    cache_dirs,
    check_precision,
    describe,
    ensure_export,
    export_name,
    ship,
)

if TYPE_CHECKING:
    from skintrack.model import classifier as clf


def threads() -> int:
    """CPU cores this process may use (its affinity: a container's share, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def shipped_card(sess: ort.InferenceSession, path: object) -> dict:
    """The checkpoint metadata a shipped model file carries (``ship``); refuses any other ONNX file."""
    props = sess.get_modelmeta().custom_metadata_map
    try:
        meta = json.loads(props[acne.CARD_KEY])
    except (KeyError, ValueError):
        raise ValueError(f"{path} is not a skintrack model file (no {acne.CARD_KEY} metadata)") from None
    if meta.get("format") != acne.FORMAT or props.get(acne.ID_KEY) != meta.get("id"):
        raise ValueError(f"{path}: not a skintrack acne model of format {acne.FORMAT!r}, or its id does not match")
    return meta


def load_shipped(path: str | os.PathLike) -> OnnxClassifier:
    """Serve a shipped model file (``ship``) as it is: no torch, no export, no cache."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no model file at {path}")
    sess = session(path)
    meta = shipped_card(sess, path)
    acne.require_measured(meta, path)

    def reference() -> clf.Classifier:
        from skintrack.model import classifier as clf

        return clf.load(path)

    return OnnxClassifier(sess, meta, "fp32", reference=reference)


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


def exported_from(sess: ort.InferenceSession) -> str | None:
    """The checkpoint id an export records (None for an export that records none)."""
    return sess.get_modelmeta().custom_metadata_map.get(acne.ID_KEY)


def _verified_session(
    ckpt: dict, precision: str, cache_dir: str | os.PathLike | None, n_threads: int | None = None
) -> ort.InferenceSession:
    """A session on the export of checkpoint ``ckpt``, exported again if the cached file
    records another checkpoint (or none)."""
    sess = session(ensure_export(ckpt, precision, cache_dir), n_threads)
    if exported_from(sess) != ckpt["id"]:
        sess = session(ensure_export(ckpt, precision, cache_dir, refresh=True), n_threads)
    return sess


preprocess = acne.model_input  # the numpy preprocessing the served model uses


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


class OnnxClassifier:
    """``classifier.Classifier``'s inference API (source, card, predict, predict_batch,
    gradcam) on ONNX Runtime. Grad-CAM needs gradients, so it runs on the torch reference,
    built from the checkpoint on first use."""

    def __init__(
        self,
        sess: ort.InferenceSession,
        checkpoint: dict,
        precision: str = "fp32",
        reference: Callable[[], clf.Classifier] | None = None,
    ) -> None:
        self.session = sess
        self.checkpoint = {k: v for k, v in checkpoint.items() if k != "state_dict"}
        self.pre = acne.Preprocess.from_dict(checkpoint["preprocess"])
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
        return {**{k: c.get(k) for k in acne.CARD_KEYS}, "serving": f"onnxruntime {ort.__version__} {self.precision}"}

    def inputs(self, aligned: list[np.ndarray]) -> np.ndarray:
        """The model-input batch (N, 3, size, size) float32: the checkpoint's own preprocessing."""
        return np.stack([acne.model_input(a, self.pre) for a in aligned])

    def forward_batch(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(logits, count, density) for a preprocessed batch."""
        logits, count, density = self.session.run(list(OUTPUTS), {INPUT: np.ascontiguousarray(batch, np.float32)})
        return logits, count, density

    def predict_batch(self, aligned: list[np.ndarray], batch_size: int = 16) -> list[acne.Prediction]:
        out: list[acne.Prediction] = []
        for i in range(0, len(aligned), batch_size):
            logits, count, density = self.forward_batch(self.inputs(aligned[i : i + batch_size]))
            probs = _softmax(logits.astype(np.float64))
            out += [acne.prediction(p, c, d) for p, c, d in zip(probs, count, density, strict=True)]
        return out

    def predict(self, aligned_rgb: np.ndarray) -> acne.Prediction:
        return self.predict_batch([aligned_rgb])[0]

    def reference(self) -> clf.Classifier:
        """The torch model of the same checkpoint (built once, on first use)."""
        if self._reference is None:
            if self._reference_factory is None:
                raise ValueError(f"{self.source}: no checkpoint to build the torch reference from")
            self._reference = self._reference_factory()
        return self._reference

    @property
    def can_gradcam(self) -> bool:
        """Grad-CAM needs torch (``make train-setup``) and a checkpoint to rebuild the network from."""
        try:
            return self._reference_factory is not None and importlib.util.find_spec("torch") is not None
        except (ImportError, ValueError):  # a broken or half-removed install
            return False

    def gradcam(self, aligned_rgb: np.ndarray, grade: int | None = None) -> np.ndarray:
        return self.reference().gradcam(aligned_rgb, grade)


def from_checkpoint(
    ckpt: dict, precision: str = "fp32", cache_dir: str | os.PathLike | None = None, n_threads: int | None = None
) -> OnnxClassifier:
    """Serve a checkpoint dict as it is, measured or not (timing and tests; the app uses ``load``)."""
    from skintrack.model import classifier as clf

    sess = _verified_session(ckpt, precision, cache_dir, n_threads)
    return OnnxClassifier(sess, ckpt, precision, reference=lambda: clf.Classifier(clf.build(ckpt), ckpt))


def load(
    path: str | os.PathLike, precision: str = "fp32", cache_dir: str | os.PathLike | None = None
) -> OnnxClassifier:
    """Serve a model file; like ``classifier.load`` it refuses one without held-out metrics.

    A shipped ``.onnx`` file is served as it is. For a torch checkpoint (``.pt``), torch is
    imported only when the file's sidecar or its export is not cached yet."""
    check_precision(precision)
    if Path(path).suffix == ".onnx":
        if precision != "fp32":
            raise ValueError(f"{path}: a shipped model serves fp32 only; quantise from its .pt checkpoint")
        return load_shipped(path)
    meta, ckpt = describe(path, cache_dir)
    acne.require_measured(meta, path)
    sess = None
    if ckpt is None:  # the metadata came from the sidecar: try the cached export, torch-free
        cached = next(
            (
                d / export_name(meta, precision)
                for d in cache_dirs(cache_dir)
                if (d / export_name(meta, precision)).is_file()
            ),
            None,
        )
        if cached is not None:
            sess = session(cached)
            if exported_from(sess) != meta["id"]:
                sess = None  # an export of another checkpoint under this one's name
    if sess is None:
        from skintrack.model import classifier as clf

        ckpt = ckpt or clf.read(path)
        sess = _verified_session(ckpt, precision, cache_dir)

    def reference() -> clf.Classifier:
        # The torch reference (Grad-CAM) re-reads the file when asked, rather than keeping
        # the weights of a model that most sessions never build.
        from skintrack.model import classifier as clf

        return clf.load(path)

    return OnnxClassifier(sess, meta, precision, reference=reference)


def load_default(precision: str = "fp32") -> OnnxClassifier | None:
    """The shipped checkpoint served through ONNX Runtime, or None where none is installed."""
    path = acne.default_path()
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


def installed() -> OnnxClassifier | None:
    """The installed trained model (``models/resnet50-acne.onnx``) served through ONNX Runtime,
    or None where none is installed (then no acne scores are shown anywhere)."""
    return load_default()


def main(argv: list[str] | None = None) -> int:
    """``python -m skintrack.model.serving --ship CHECKPOINT.pt``: write a trained checkpoint as the
    model file the app serves (``models/resnet50-acne.onnx``) and show how far its served
    scores are from torch's on the test portraits; ``--export --model CHECKPOINT.pt`` caches the
    ONNX export of a checkpoint that is not shipped (``rescore --model``, the bench). Both need
    the training tools (``make train-setup``)."""
    parser = argparse.ArgumentParser(prog="python -m skintrack.model.serving", description=main.__doc__)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--ship", metavar="CHECKPOINT", help="a trained .pt checkpoint to ship")
    what.add_argument("--export", action="store_true", help="export and cache --model")
    parser.add_argument("--model", help="checkpoint file to --export")
    parser.add_argument("--out", type=Path, default=acne.MODELS_DIR / acne.DEFAULT_NAME, help="where --ship writes")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS)
    args = parser.parse_args(argv)
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("onnx") is None:
        print("skintrack.model.serving: needs torch and onnx: run `make train-setup` first", file=sys.stderr)
        return 2
    from skintrack.model import classifier as clf

    try:
        if args.ship:
            ckpt = clf.read(args.ship)
            acne.require_measured(ckpt, args.ship)
            ship(ckpt, args.out)
            served = load_shipped(args.out)
            print(f"{served.source} shipped as {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
            return 0
        if not args.model:
            parser.error("--export needs --model CHECKPOINT.pt")
        served = load(args.model, args.precision)
    except (ValueError, OSError) as exc:
        print(f"skintrack.model.serving: {exc}", file=sys.stderr)
        return 2
    where = next((d for d in cache_dirs() if (d / export_name(served.checkpoint, args.precision)).is_file()), None)
    print(f"{served.source} served through ONNX Runtime from {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
