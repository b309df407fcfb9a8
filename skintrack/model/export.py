"""Making the ONNX files that ``serving`` runs, from a torch checkpoint: the export, the shipped
model file, int8 quantisation, and the cache they are kept in.

The export is made once per checkpoint and cached, keyed by the checkpoint id (a hash of its
weights) and ``EXPORT_VERSION``: under the project's git-ignored ``cache/onnx`` when that is
writable, else under the data home's ``cache/onnx``.

Reading a checkpoint file needs torch, whose import alone takes seconds, so beside the
export lies a JSON sidecar of the checkpoint's metadata (card, id, preprocessing, metrics),
named by the SHA-256 of the checkpoint file's bytes: ``describe`` reads it, and reads the
checkpoint with torch (writing the sidecar) only when none matches the file. torch and onnx
are imported inside the functions that write a file, so this module imports without them.

Precisions: ``fp32`` reproduces the checkpoint's own outputs (to ~1e-4), so its scores keep
the checkpoint's ``source``; ``int8`` (dynamic quantisation of the weights) is a different
model, so its scores carry their own source (``...+int8``) and are never mixed with fp32.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from skintrack.config import PROJECT_ROOT, user_dir
from skintrack.errors import BadValue
from skintrack.model import acne

if TYPE_CHECKING:
    from skintrack.model import classifier as clf


EXPORT_VERSION = 3  # 2: the export records the checkpoint id it was made from; 3: and gives the density map
OPSET = 17
PRECISIONS = ("fp32", "int8")
INPUT = "input"
OUTPUTS = ("logits", "count", "density")


def _stamp(path: Path, checkpoint_id: str) -> None:
    """Record in the ONNX file which checkpoint it was made from (checked when served)."""
    import onnx

    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {acne.ID_KEY: checkpoint_id})
    onnx.save(model, str(path))


def export(
    model: clf.AcneNet, path: str | os.PathLike, size: int, checkpoint_id: str | None = None, fold: bool = True
) -> Path:
    """Write ``model`` as ONNX (batch dimension dynamic, ``size`` x ``size`` RGB input),
    recording ``checkpoint_id`` in its metadata; ``fold=False`` keeps every layer and weight as
    the checkpoint has it (batch norms unfused: ONNX Runtime fuses them when it loads)."""
    import torch

    class Heads(torch.nn.Module):
        """The network with only what a prediction needs, as a tuple: ONNX outputs no dicts."""

        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            r = self.net(x)
            return r["logits"], r["count"], r["density"]

    model = model.eval()
    example = torch.zeros(1, 3, size, size)

    def write(tmp: Path) -> None:
        # The TorchScript exporter (dynamo=False): the dynamo one needs onnxscript, which is
        # not installed, and newer onnx releases that it wants break mediapipe's protobuf.
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Heads(model),
                (example,),
                str(tmp),
                dynamo=False,
                opset_version=OPSET,
                do_constant_folding=fold,
                input_names=[INPUT],
                output_names=list(OUTPUTS),
                dynamic_axes={INPUT: {0: "batch"}, **{o: {0: "batch"} for o in OUTPUTS}},
            )
        if checkpoint_id is not None:
            _stamp(tmp, checkpoint_id)

    return acne.write_atomic(Path(path), write)


def ship(ckpt: dict, path: str | os.PathLike) -> Path:
    """Write checkpoint ``ckpt`` as the model file the app serves, torch-free.

    An ONNX graph of the unfused network whose weights are the checkpoint's own fp16 values,
    each cast to fp32 as ONNX Runtime loads the file (it then folds the casts and batch norms
    once), with the checkpoint less its weights as JSON in the metadata. One file about the
    size of the checkpoint: ``classifier.read`` rebuilds the exact checkpoint from it (same
    weights, same id), so training, evaluation and Grad-CAM need no second copy."""
    import onnx
    from onnx import helper, numpy_helper

    from skintrack.model import classifier as clf

    state = ckpt["state_dict"]
    size = acne.Preprocess.from_dict(ckpt["preprocess"]).size
    meta = {k: v for k, v in ckpt.items() if k != "state_dict"}
    meta["int_buffers"] = {k: int(v) for k, v in state.items() if not v.is_floating_point()}
    card = json.dumps(meta, default=lambda v: list(v) if isinstance(v, tuple) else str(v))

    def write(tmp: Path) -> None:
        export(clf.build(ckpt), tmp, size, fold=False)
        model = onnx.load(str(tmp))
        casts = []
        for init in model.graph.initializer:
            key = init.name.removeprefix("net.")
            if init.name.startswith("net.") and key in state and state[key].is_floating_point():
                init.CopyFrom(numpy_helper.from_array(state[key].numpy(), f"{init.name}::fp16"))
                casts.append(helper.make_node("Cast", [init.name], [f"net.{key}"], to=onnx.TensorProto.FLOAT))
        nodes = casts + list(model.graph.node)  # the casts first: ONNX keeps nodes in topological order
        del model.graph.node[:]
        model.graph.node.extend(nodes)
        helper.set_model_props(model, {acne.ID_KEY: ckpt["id"], acne.CARD_KEY: card})
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))

    return acne.write_atomic(Path(path), write)


def quantize_int8(src: str | os.PathLike, dst: str | os.PathLike, checkpoint_id: str | None = None) -> Path:
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
        if checkpoint_id is not None:
            _stamp(tmp, checkpoint_id)

    return acne.write_atomic(Path(dst), write)


def cache_dirs(cache_dir: str | os.PathLike | None = None) -> list[Path]:
    """Where exports are looked for, and written to the first writable one: ``cache_dir`` alone when given."""
    if cache_dir is not None:
        return [Path(cache_dir)]
    return [PROJECT_ROOT / "cache" / "onnx", user_dir() / "cache" / "onnx"]


def export_name(ckpt: dict, precision: str) -> str:
    return f"{ckpt['arch']}-acne-{ckpt['id']}.v{EXPORT_VERSION}.{precision}.onnx"


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise BadValue(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")


def ensure_export(
    ckpt: dict, precision: str = "fp32", cache_dir: str | os.PathLike | None = None, refresh: bool = False
) -> Path:
    """The cached export of checkpoint ``ckpt`` at ``precision``, made if missing (or, with
    ``refresh``, made again: the cached one was found to be of another checkpoint)."""
    check_precision(precision)
    dirs = cache_dirs(cache_dir)
    if not refresh:
        for d in dirs:
            if (d / export_name(ckpt, precision)).is_file():
                return d / export_name(ckpt, precision)
    errors = []
    for d in dirs:
        try:
            fp32 = d / export_name(ckpt, "fp32")
            if refresh or not fp32.is_file():
                from skintrack.model import classifier as clf

                export(clf.build(ckpt), fp32, acne.Preprocess.from_dict(ckpt["preprocess"]).size, ckpt["id"])
            if precision == "int8":
                return quantize_int8(fp32, d / export_name(ckpt, "int8"), ckpt["id"])
            return fp32
        except OSError as exc:  # read-only folder: try the next one
            errors.append(f"{d}: {exc}")
    raise OSError(f"cannot write the ONNX export anywhere: {'; '.join(errors)}")


# ---------------------------------------------------------------- checkpoint metadata, torch-free


def file_sha256(path: str | os.PathLike) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def sidecar_name(digest: str) -> str:
    return f"checkpoint-{digest}.v{EXPORT_VERSION}.json"


def metadata(ckpt: dict, digest: str) -> dict:
    """What the sidecar keeps of a checkpoint: everything but the weights, as JSON."""
    meta = {k: v for k, v in ckpt.items() if k != "state_dict"}
    meta["preprocess"] = acne.Preprocess.from_dict(meta["preprocess"]).as_dict()
    return json.loads(json.dumps({**meta, "file_sha256": digest}, default=str))


def _cached_metadata(digest: str, dirs: list[Path]) -> dict | None:
    for d in dirs:
        with_meta = d / sidecar_name(digest)
        try:
            meta = json.loads(with_meta.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("file_sha256") == digest and meta.get("format") == acne.FORMAT:
            return meta
    return None


def _remember(meta: dict, dirs: list[Path]) -> None:
    """Write the sidecar into the first folder that takes it (none: the next load reads torch again)."""
    text = json.dumps(meta, indent=1)
    for d in dirs:
        try:
            acne.write_atomic(d / sidecar_name(meta["file_sha256"]), lambda tmp: tmp.write_text(text))
            return
        except OSError:
            continue


def describe(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> tuple[dict, dict | None]:
    """(metadata, the checkpoint itself or None): the checkpoint file's metadata from its
    sidecar when one matches the file's bytes, else read with torch (the sidecar then written)."""
    path = Path(path)
    if not path.is_file():
        raise BadValue(f"no checkpoint at {path}")
    digest, dirs = file_sha256(path), cache_dirs(cache_dir)
    meta = _cached_metadata(digest, dirs)
    if meta is not None:
        return meta, None
    from skintrack.model import classifier as clf

    ckpt = clf.read(path)
    meta = metadata(ckpt, digest)
    _remember(meta, dirs)
    return meta, ckpt


def prune_exports(keep: list[dict], cache_dir: str | os.PathLike | None = None) -> list[Path]:
    """Remove the cached exports (about 100 MB each) and sidecars of checkpoints other than
    ``keep`` (their metadata) from the project's export folder; returns what was removed."""
    folder = Path(cache_dir) if cache_dir is not None else cache_dirs()[0]
    wanted = {export_name(m, p) for m in keep for p in PRECISIONS}
    wanted |= {sidecar_name(m["file_sha256"]) for m in keep if "file_sha256" in m}
    removed = []
    for f in sorted(folder.glob("*-acne-*.onnx")) + sorted(folder.glob("checkpoint-*.json")):
        if f.name not in wanted:
            f.unlink(missing_ok=True)
            removed.append(f)
    return removed
