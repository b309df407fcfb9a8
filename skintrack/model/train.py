"""Train the acne model: joint lesion counting and severity grading on aligned faces.

``python -m skintrack train --data DIR`` reads an acne04-format folder (or the cache that
``tools/prepare_acne04.py`` wrote from it), aligns each photo once, and trains
``classifier.AcneNet``:
- lesion density: squared error against Gaussian blobs (sigma one cell) at the lesion box
  centres on the stride-8 grid, plus a smooth-L1 term on the summed count;
- severity: cross-entropy against a label distribution (Geng's label-distribution
  learning as used for ACNE04 by Wu et al. 2019): the one-hot grade mixed with the grade
  distribution implied by a Gaussian around the true lesion count; classes weighted by
  inverse square-root frequency;
- augmentation: random resized crop, small rotation, horizontal flip, colour jitter and,
  optionally (``--tone-aug``), re-rendering at another skin tone (``skintrack.model.tone``).
The best epoch on the ``valid`` split (accuracy, then lesion MAE) is kept as a
self-describing half-precision checkpoint with its measured metrics; ``last.pt`` beside it
holds the full state for ``--resume``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from skintrack.errors import BadValue
from skintrack.model import classifier as clf
from skintrack.model.dataset import prepare_photo, read_labels
from skintrack.model.metrics import grade_metrics
from skintrack.model.tone import shift_tone

DATA_TERMS = (
    "ACNE04 (Wu et al., 'Joint Acne Image Grading and Counting via Label Distribution "
    "Learning', ICCV 2019), via the Roboflow export 'Acne04 Detection' v5: free for academic "
    "use only. A model trained on it inherits these terms."
)


TONE_RANGE = (-50.0, 45.0)  # ITA degrees drawn by the skin-tone augmentation


@dataclass
class Example:
    image: np.ndarray  # model-scale uint8 image (preprocessing size, whole crop)
    points: np.ndarray  # (n, 2) lesion centres in model-input pixels
    grade: int | None  # None: no grade label (counts only, e.g. acne_frontal): grade loss masked
    n_lesions: float  # nan when unknown
    ita_group: str


# ---------------------------------------------------------------- data


def load_examples(
    data: Path, split: str | None, pre: clf.Preprocess, cache: Path | None = None, limit: int = 0
) -> list[Example]:
    """Aligned examples of one split (the first ``limit`` if given), at model scale, from the
    prepared cache or, without one, aligned here from the raw folder."""
    items = None
    if cache is not None and (cache / "index.json").is_file():
        index = json.loads((cache / "index.json").read_text())
        items = [it for it in index if split is None or it["split"] == split][: limit or None]
        for it in items:
            bgr = cv2.imread(str(cache / it["file"]), cv2.IMREAD_COLOR)
            it["image"] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if not items:
        items = [prepare_photo(data, row) for row in read_labels(data, split)[: limit or None]]
    m = pre.matrix()
    out = []
    for it in items:
        pts = np.asarray(it["points"] or [], np.float64).reshape(-1, 2)
        n = it["n_lesions"]
        out.append(
            Example(
                image=clf.crop_resize(it["image"], pre),
                points=pts @ m[:, :2].T + m[:, 2],
                grade=None if it["grade"] is None else int(it["grade"]),
                n_lesions=float(n) if n is not None else (float(len(pts)) if it["points"] is not None else math.nan),
                ita_group=it.get("ita_group", ""),
            )
        )
    return out


def _stack_points(examples: list[Example]) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K, 2) lesion points padded to the longest list, and the (N, K) mask of real ones."""
    k = max([len(ex.points) for ex in examples] + [1])
    pts = torch.zeros(len(examples), k, 2)
    valid = torch.zeros(len(examples), k, dtype=torch.bool)
    for i, ex in enumerate(examples):
        n = len(ex.points)
        if n:
            pts[i, :n] = torch.as_tensor(np.asarray(ex.points, np.float32))
            valid[i, :n] = True
    return pts, valid


@dataclass
class Tensors:
    """A split as tensors on one device: uint8 images, padded lesion points, label distributions."""

    images: torch.Tensor  # (N, 3, S, S) uint8
    points: torch.Tensor  # (N, K, 2) model-input pixels, (x, y), pixel i spans [i, i + 1)
    valid: torch.Tensor  # (N, K) bool
    grade: torch.Tensor  # (N,) int64, -1 where the photo has no grade label
    dist: torch.Tensor  # (N, 4) target label distribution, zeros where no grade label
    n_lesions: torch.Tensor  # (N,) labelled lesion count, nan where unknown

    @classmethod
    def of(cls, examples: list[Example], ldl_mix: float, device: str | torch.device = "cpu") -> Tensors:
        images = torch.from_numpy(np.stack([ex.image for ex in examples])).permute(0, 3, 1, 2).contiguous()
        pts, valid = _stack_points(examples)
        dist = torch.from_numpy(
            np.stack(
                [
                    label_distribution(ex.grade, ex.n_lesions, ldl_mix)
                    if ex.grade is not None
                    else np.zeros(len(clf.GRADE_NAMES))
                    for ex in examples
                ]
            )
        )
        n = torch.tensor([ex.n_lesions for ex in examples], dtype=torch.float32)
        grade = torch.tensor([-1 if ex.grade is None else ex.grade for ex in examples])
        return cls(images, pts, valid, grade, dist.float(), n).to(device)

    def _fields(self) -> tuple[torch.Tensor, ...]:
        return self.images, self.points, self.valid, self.grade, self.dist, self.n_lesions

    def to(self, device: str | torch.device) -> Tensors:
        return Tensors(*(v.to(device) for v in self._fields()))

    def take(self, idx: torch.Tensor | slice) -> Tensors:
        return Tensors(*(v[idx] for v in self._fields()))

    def __len__(self) -> int:
        return len(self.grade)


def augment(
    images: torch.Tensor, points: torch.Tensor, gen: torch.Generator, tone: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random resized crop (zoom 0.85-1.2, aspect +-7%, shift +-6%), rotation (+-10 deg),
    horizontal flip and colour jitter (brightness, contrast, saturation +-25%, hue +-8 deg)
    of a uint8 batch on any device; returns float images in [0, 1] and the moved points.
    With ``tone`` > 0, that share of the images is first re-rendered at a skin tone drawn
    uniformly from ITA -50 to 45 degrees (``skintrack.model.tone.shift_tone``: dark to intermediate).

    Random numbers come from ``gen`` (a CPU generator), so a seed gives the same run on
    any device."""
    b, _, h, w = images.shape
    dev = images.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(b, generator=gen, dtype=torch.float64)).to(dev)

    zoom, aspect = uniform(0.85, 1.2), torch.exp(uniform(-0.07, 0.07))
    angle = torch.deg2rad(uniform(-10, 10))
    flip = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0)
    shift = torch.stack([uniform(-0.06, 0.06) * w, uniform(-0.06, 0.06) * h], 1)  # (B, 2) pixels
    sx, sy = zoom * aspect, zoom / aspect
    cos, sin = torch.cos(angle), torch.sin(angle)
    # forward map in pixels: q = A (p - c) + c + shift; A = R(angle) S(sx, sy) F(flip)
    a = torch.stack([torch.stack([sx * cos * flip, -sy * sin], 1), torch.stack([sx * sin * flip, sy * cos], 1)], 1)
    inv = torch.linalg.inv(a)
    size = torch.tensor([w, h], dtype=torch.float64, device=dev)
    # the same map in grid_sample's normalised coordinates, output -> input (align_corners=False)
    theta = torch.cat([inv, -(inv @ (2 * shift / size)[:, :, None])], 2).float()
    grid = F.affine_grid(theta, [b, 3, h, w], align_corners=False)
    x = F.grid_sample(images.float().div_(255.0), grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    centre = size / 2
    moved = ((points.double() - centre) @ a.transpose(1, 2) + centre + shift[:, None, :]).float()
    if tone > 0:
        pick = uniform(0, 1) < tone
        target = uniform(*TONE_RANGE).float()
        if pick.any():
            x[pick] = shift_tone(x[pick], target[pick])

    def factor(lo: float, hi: float) -> torch.Tensor:
        return uniform(lo, hi).float().view(b, 1, 1, 1)

    x = x * factor(0.75, 1.25)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * factor(0.75, 1.25) + mean
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * factor(0.75, 1.25) + grey
    x = _rotate_hue(x.clamp(0, 1), torch.deg2rad(uniform(-8, 8)).float())
    return x.clamp_(0, 1), moved


def _rotate_hue(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma of RGB images by ``angle`` (radians, one per image) in YIQ space."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=x.device)
    from_yiq = torch.linalg.inv(to_yiq)
    cos, sin = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(cos), torch.zeros_like(cos)
    rot = torch.stack(
        [torch.stack([one, zero, zero], 1), torch.stack([zero, cos, -sin], 1), torch.stack([zero, sin, cos], 1)], 1
    )
    m = from_yiq @ rot @ to_yiq  # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", m, x)


def density_targets(
    points: torch.Tensor, valid: torch.Tensor, size: int, stride: int = clf.DENSITY_STRIDE, sigma: float = 1.0
) -> torch.Tensor:
    """(B, size/stride, size/stride) maps: a Gaussian blob summing to one at each real point
    inside the image, on the stride grid."""
    g = size // stride
    inside = valid & (points >= 0).all(-1) & (points < size).all(-1)
    # points outside (padding, or moved off the image) are put on cell 0 and given no weight:
    # a point far outside would otherwise make every Gaussian term underflow and divide 0 by 0
    p = torch.where(inside[..., None], points / stride - 0.5, torch.zeros_like(points))
    cells = torch.arange(g, dtype=torch.float32, device=points.device)
    gx = torch.exp(-((cells - p[..., :1]) ** 2) / (2 * sigma**2))  # (B, K, g)
    gy = torch.exp(-((cells - p[..., 1:]) ** 2) / (2 * sigma**2))
    gx = gx / gx.sum(-1, keepdim=True) * inside[..., None]
    gy = gy / gy.sum(-1, keepdim=True)
    return torch.einsum("bki,bkj->bij", gy, gx)


def normalise_batch(x: torch.Tensor, pre: clf.Preprocess) -> torch.Tensor:
    """Float [0, 1] images (B, 3, H, W) -> ImageNet-normalised, channels-last."""
    mean = torch.tensor(pre.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def label_distribution(grade: int, count: float, mix: float = 0.4) -> np.ndarray:
    """One-hot grade mixed with the Hayashi-bin mass of N(count, sigma), sigma = max(2, 0.15 count)."""
    onehot = np.eye(len(clf.GRADE_NAMES))[grade]
    if math.isnan(count) or mix == 0:
        return onehot
    sigma = max(2.0, 0.15 * count)
    edges = [-math.inf] + [c + 0.5 for c in clf.HAYASHI_CUTOFFS] + [math.inf]
    cdf = [
        0.5 * (1 + math.erf((e - count) / (sigma * math.sqrt(2)))) if math.isfinite(e) else float(e > 0) for e in edges
    ]
    ldl = np.diff(cdf)
    return (1 - mix) * onehot + mix * ldl / ldl.sum()


def make_batch(data: Tensors, pre: clf.Preprocess, gen: torch.Generator | None, tone: float = 0.0) -> dict:
    """A training (``gen`` given: augmented) or evaluation batch, on the data's device."""
    if gen is not None:
        x, pts = augment(data.images, data.points, gen, tone)
    else:
        x, pts = data.images.float() / 255.0, data.points
    density = density_targets(pts, data.valid, pre.size)
    return {
        "x": normalise_batch(x, pre),
        "density": density,
        "dist": data.dist,
        "grade": data.grade,
        "count": density.sum(dim=(1, 2)),
    }


# ---------------------------------------------------------------- training


def class_weights(grades: list[int], power: float = 0.5) -> torch.Tensor:
    """Inverse-frequency class weights to the given power, mean one over the samples."""
    counts = np.bincount(grades, minlength=len(clf.GRADE_NAMES)).astype(float)
    w = (len(grades) / (len(counts) * np.maximum(counts, 1))) ** power
    w /= (w[grades]).mean()
    return torch.tensor(w, dtype=torch.float32)


def loss_terms(out: dict, batch: dict, weights: torch.Tensor, w_density: float = 10.0, w_count: float = 0.05) -> dict:
    logp = F.log_softmax(out["logits"], dim=1)
    graded = batch["grade"] >= 0  # photos without a grade label teach the density head only
    sample_w = weights[batch["grade"].clamp(min=0)] * graded
    severity = (-(batch["dist"] * logp).sum(1) * sample_w).sum() / graded.sum().clamp(min=1)
    density = ((out["density"] - batch["density"]) ** 2).sum(dim=(1, 2)).mean()
    count = F.smooth_l1_loss(out["count"], batch["count"], beta=2.0)
    total = severity + w_density * density + w_count * count
    return {"loss": total, "severity": severity, "density": density, "count": count}


class EMA:
    """An exponential moving average of a model's weights (BatchNorm statistics included),
    with the usual warm-up (decay min(d, (1 + t) / (10 + t))) so early steps are not frozen in."""

    def __init__(self, model: clf.AcneNet, decay: float) -> None:
        self.decay, self.steps = decay, 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: clf.AcneNet) -> None:
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for e, m in zip(self.model.state_dict().values(), model.state_dict().values(), strict=True):
            if e.is_floating_point():
                e.lerp_(m, 1 - d)
            else:
                e.copy_(m)


def train_one_epoch(
    model,
    data: Tensors,
    optimizer,
    scheduler: Schedule | None,
    *,
    pre: clf.Preprocess,
    batch_size: int,
    rng: np.random.Generator,
    gen: torch.Generator,
    weights: torch.Tensor,
    ema: EMA | None = None,
    amp: bool = False,
    tone: float = 0.0,
    callback: Callable[[int, int, dict], None] | None = None,
) -> dict:
    """One pass over ``data`` in random order; returns the mean loss terms.

    ``amp``: bfloat16 autocast (on a GPU); the loss is computed in float32. ``tone``: the
    share of images re-rendered at another skin tone (``augment``)."""
    model.train()
    order = torch.from_numpy(rng.permutation(len(data))).to(data.grade.device)
    n_steps = len(order) // batch_size  # drop the ragged last batch (BatchNorm on 1-2 images is noise)
    sums: dict[str, torch.Tensor] = {}
    done = 0
    for step in range(n_steps):
        batch = make_batch(data.take(order[step * batch_size : (step + 1) * batch_size]), pre, gen, tone)
        with torch.autocast(batch["x"].device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(batch["x"])
        terms = loss_terms({k: v.float() for k, v in out.items() if k != "features"}, batch, weights)
        optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(terms["loss"]):
            raise FloatingPointError(
                f"training loss is not finite at step {step + 1}: { ({k: float(v) for k, v in terms.items()}) }"
            )
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        if ema is not None:
            ema.update(model)
        done += 1
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v.detach()
        if callback is not None:
            callback(step + 1, n_steps, {k: float(v.detach()) for k, v in terms.items()})
        if scheduler is not None:
            scheduler.step()
            if scheduler.finished:
                break  # time budget spent: stop mid-epoch, the learning rate is already near zero
    return {k: float(v) / max(1, done) for k, v in sums.items()}


@torch.inference_mode()
def evaluate(
    model,
    data: Tensors,
    *,
    pre: clf.Preprocess,
    batch_size: int = 32,
    callback: Callable[[int, int], None] | None = None,
) -> dict:
    """Metrics on unaugmented data (see ``metrics.grade_metrics``)."""
    model.eval()
    probs, counts = [], []
    for i in range(0, len(data), batch_size):
        batch = make_batch(data.take(slice(i, i + batch_size)), pre, None)
        out = model(batch["x"])
        probs.append(torch.softmax(out["logits"].float(), 1).cpu())
        counts.append(out["count"].float().cpu())
        if callback is not None:
            callback(min(i + batch_size, len(data)), len(data))
    p = torch.cat(probs).numpy()
    c = torch.cat(counts).numpy()
    return grade_metrics(data.grade.cpu().tolist(), p, data.n_lesions.cpu().tolist(), c)


class Schedule:
    """Linear warm-up, then cosine decay to zero, over steps or a time budget.

    On shared CPUs an epoch can take anywhere from 3 to 10 minutes, so with a budget the
    decay follows whichever of steps and wall-clock time since the first step (evaluation
    included) is further along: the run ends annealed within its time instead of being cut
    off at a high learning rate.
    """

    def __init__(self, optimizer, lr: float, total_steps: int, warmup: int, budget_s: float = 0.0) -> None:
        self.optimizer, self.lr, self.total, self.warmup, self.budget = optimizer, lr, total_steps, warmup, budget_s
        self.steps, self.elapsed, self._t = 0, 0.0, None
        self._apply()

    @property
    def progress(self) -> float:
        p = (self.steps - self.warmup) / max(1, self.total - self.warmup)
        if self.budget > 0:
            p = max(p, self.elapsed / self.budget)
        return min(1.0, max(0.0, p))

    @property
    def finished(self) -> bool:
        return self.steps >= self.total or (self.budget > 0 and self.elapsed >= self.budget)

    def _apply(self) -> None:
        if self.steps < self.warmup:
            factor = (self.steps + 1) / self.warmup
        else:
            factor = 0.5 * (1 + math.cos(math.pi * self.progress))
        for g in self.optimizer.param_groups:
            g["lr"] = self.lr * factor

    def step(self) -> None:
        now = time.monotonic()
        if self._t is not None:
            self.elapsed += now - self._t
        self._t = now
        self.steps += 1
        self._apply()

    def state_dict(self) -> dict:
        return {"steps": self.steps, "elapsed": self.elapsed}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.elapsed, self._t = state["steps"], state["elapsed"], None
        self._apply()


def better(a: dict, b: dict | None) -> bool:
    """Model selection: higher accuracy, then lower lesion MAE."""
    if b is None:
        return True
    return (a["accuracy"], -a.get("mae_lesions", 0.0)) > (b["accuracy"], -b.get("mae_lesions", 0.0))


def init_weights(model: clf.AcneNet, init: str) -> None:
    if init == "none":
        return
    if init == "imagenet":
        if model.arch != "resnet50":
            return  # efficientnet_lite0 is built with its ImageNet weights
        from torch.hub import get_dir
        from torchvision.models import ResNet50_Weights

        url = ResNet50_Weights.IMAGENET1K_V2.url
        path = Path(get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
        if not path.is_file():
            raise BadValue(
                f"--init imagenet: torchvision's ResNet-50 weights are not cached at {path} (no download is made); use --init none or PATH"
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        stem_map = {
            "conv1": "stem.0",
            "bn1": "stem.1",
            "layer1": "stem.4",
            "layer2": "stage8",
            "layer3": "stage16",
            "layer4": "stage32",
        }
        mapped = {}
        for k, v in state.items():
            head, rest = k.split(".", 1)
            if head in stem_map:
                mapped[f"{stem_map[head]}.{rest}"] = v
        missing, _ = model.load_state_dict(mapped, strict=False)
        return
    path = Path(init)
    if not path.is_file():
        raise BadValue(f"--init {init!r}: not 'none', 'imagenet' or an existing checkpoint file")
    ckpt = clf.read(path)
    if ckpt["arch"] != model.arch:
        raise BadValue(f"--init {init}: checkpoint is {ckpt['arch']}, not {model.arch}")
    model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in ckpt["state_dict"].items()})


def seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="folder with labels.csv (acne04 format)")
    parser.add_argument("--cache", type=Path, default=None, help="aligned cache from tools/prepare_acne04.py")
    parser.add_argument("--out", type=Path, default=Path("cache/runs/resnet50"), help="run folder (log, checkpoints)")
    parser.add_argument("--arch", default="resnet50", help=f"one of {', '.join(clf.ARCHITECTURES)}")
    parser.add_argument(
        "--init", default="none", help="none | imagenet (only if torchvision's weights are cached) | PATH"
    )
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--size", type=int, default=clf.PREPROCESS.size, help="model input side in pixels")
    parser.add_argument("--ldl-mix", type=float, default=0.4, help="share of the count-derived label distribution")
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--valid-split", default="valid")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N examples of each split (smoke runs)")
    parser.add_argument(
        "--time-budget",
        type=float,
        default=0.0,
        help="minutes of training: the learning-rate schedule runs on whichever of steps and "
        "time is further along, and training stops when it is spent (0: no limit)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--warmup-epochs", type=int, default=1, help="linear learning-rate warm-up")
    parser.add_argument("--save-every", type=int, default=1, help="write OUT/last.pt (for --resume) every N epochs")
    parser.add_argument("--device", default="cpu", help="cpu | cuda (bfloat16 autocast on a GPU)")
    parser.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="keep an exponential moving average of the weights with this decay (e.g. 0.998) and "
        "evaluate and save it instead of the raw weights (0: off)",
    )
    parser.add_argument(
        "--tone-aug",
        type=float,
        default=0.0,
        help="share of training images re-rendered at a random skin tone, ITA -50 to 45 degrees "
        "(ACNE04 has almost no brown or dark skin; 0: off)",
    )


def _check(args) -> None:
    if args.arch not in clf.ARCHITECTURES:
        raise BadValue(f"--arch {args.arch!r}: allowed {', '.join(clf.ARCHITECTURES)}")
    for name in ("epochs", "batch_size", "size", "save_every"):
        if getattr(args, name) < 1:
            raise BadValue(f"--{name.replace('_', '-')} {getattr(args, name)}: must be at least 1")
    if args.size % 32:
        raise BadValue(f"--size {args.size}: must be a multiple of 32")
    if not 0 <= args.ldl_mix <= 1:
        raise BadValue(f"--ldl-mix {args.ldl_mix}: must be in [0, 1]")
    if not args.data.is_dir():
        raise BadValue(f"--data {args.data}: not a folder")
    if not 0 <= args.tone_aug <= 1:
        raise BadValue(f"--tone-aug {args.tone_aug}: must be in [0, 1]")
    if not 0 <= args.ema < 1:
        raise BadValue(f"--ema {args.ema}: must be in [0, 1)")
    if args.device not in ("cpu", "cuda") or (args.device == "cuda" and not torch.cuda.is_available()):
        raise BadValue(f"--device {args.device}: use cpu, or cuda where a GPU is available")


def run(args: argparse.Namespace) -> int:
    _check(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = seed_everything(args.seed)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "log.txt").open("a") as log:

        def say(msg: str) -> None:
            line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
            print(line, file=log, flush=True)
            print(line, file=sys.stderr, flush=True)

        return _train(args, out_dir, rng, say)


def _train(args: argparse.Namespace, out_dir: Path, rng: np.random.Generator, say: Callable[[str], None]) -> int:
    """Train as ``args`` say, writing checkpoints and metrics to ``out_dir``; ``say`` logs a line."""
    pre = clf.Preprocess(size=args.size, crop=clf.PREPROCESS.crop)
    train_ex, valid_ex = _examples(args, pre, say)
    device, amp = _device(args.device)
    train = Tensors.of(train_ex, args.ldl_mix, device)
    valid = Tensors.of(valid_ex, 0.0, device)
    gen = torch.Generator().manual_seed(args.seed)
    steps_per_epoch = len(train) // args.batch_size
    model, ema, optimizer, schedule = _model(args, device, steps_per_epoch)
    scored = ema.model if ema is not None else model  # the weights evaluated and saved
    weights = class_weights([e.grade for e in train_ex if e.grade is not None]).to(device)
    start, best, history = 0, None, []
    last_path, best_path, final_path = out_dir / "last.pt", out_dir / "best.pt", out_dir / "final.pt"
    if args.resume and last_path.is_file():
        start, best, history, rng = _resume(last_path, device, model, optimizer, schedule, ema, gen)
        say(f"resumed after epoch {start}")

    train_args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"}
    data_info = {
        "name": "ACNE04",
        "terms": DATA_TERMS,
        "train_split": args.train_split,
        "valid_split": args.valid_split,
        "n_train": len(train),
        "n_valid": len(valid),
    }

    def checkpoint(metrics: dict, epoch: int, selection: str) -> dict:
        return clf.make_checkpoint(
            scored,
            pre=pre,
            metrics={**metrics, "split": args.valid_split},
            train_args=train_args,
            data=data_info,
            epoch=epoch,
            extra={"selection": selection},
        )

    metrics, done = None, start
    for epoch in range(start, args.epochs):
        t0 = time.time()
        bar, progress = _progress_bar(steps_per_epoch, f"epoch {epoch + 1}/{args.epochs}")
        if schedule.finished:
            say(f"time budget of {args.time_budget} min spent after epoch {epoch}: stopping")
            break
        losses = train_one_epoch(
            model,
            train,
            optimizer,
            schedule,
            pre=pre,
            batch_size=args.batch_size,
            rng=rng,
            gen=gen,
            weights=weights,
            ema=ema,
            amp=amp,
            tone=args.tone_aug,
            callback=progress,
        )
        bar.close()
        metrics = evaluate(scored, valid, pre=pre)
        record = {
            "epoch": epoch + 1,
            "seconds": round(time.time() - t0, 1),
            "lr": optimizer.param_groups[0]["lr"],
            "train": losses,
            "valid": metrics,
        }
        history.append(record)
        done = epoch + 1
        improved = better(metrics, best)
        if improved:
            best = metrics
            clf.save(checkpoint(metrics, epoch + 1, "best epoch on the valid split"), best_path)
        if done % args.save_every == 0 or schedule.finished or done == args.epochs:
            state = {"epoch": epoch + 1, "best": best, "history": history, "rng": rng.bit_generator.state}
            clf.save(_training_state(model, optimizer, schedule, ema, gen, state), last_path)
        with (out_dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
        say(_epoch_line(record, improved))
    if metrics is not None:
        # the weights the schedule ended on, chosen by no look at the valid split
        clf.save(checkpoint(metrics, done, "last epoch (no selection on the valid split)"), final_path)
    say(f"done; best valid accuracy {best['accuracy']:.3f} in {best_path}")
    return 0


def _device(name: str) -> tuple[torch.device, bool]:
    """The device to train on and whether to use mixed precision: on CUDA, with cuDNN autotuning and TF32."""
    amp = name == "cuda"
    if amp:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    return torch.device(name), amp


def _progress_bar(steps: int, desc: str) -> tuple[tqdm, Callable[[int, int, dict], None]]:
    """A progress bar on stderr and the ``train_one_epoch`` callback that moves it."""
    bar = tqdm(total=steps, desc=desc, mininterval=30, file=sys.stderr)

    def progress(step: int, n: int, terms: dict) -> None:
        bar.set_postfix(loss=f"{terms['loss']:.3f}", refresh=False)
        bar.update(1)

    return bar, progress


def _examples(args: argparse.Namespace, pre: clf.Preprocess, say: Callable[[str], None]) -> tuple[list, list]:
    """The training and valid examples of ``args.data``, refused when a batch is larger than the training split."""
    train_ex = load_examples(args.data, args.train_split, pre, args.cache, args.limit)
    valid_ex = load_examples(args.data, args.valid_split, pre, args.cache, args.limit)
    if len(train_ex) < args.batch_size:
        raise BadValue(f"--batch-size {args.batch_size}: larger than the {len(train_ex)} training examples")
    say(f"train {len(train_ex)} valid {len(valid_ex)} examples; args {vars(args)}")
    return train_ex, valid_ex


def _model(
    args: argparse.Namespace, device: torch.device, steps_per_epoch: int
) -> tuple[clf.AcneNet, EMA | None, torch.optim.Optimizer, Schedule]:
    """The network (initialised as ``--init`` says), its moving average, the optimiser and the schedule."""
    model = clf.AcneNet(args.arch)
    init_weights(model, args.init)
    model = model.to(device, memory_format=torch.channels_last)
    ema = EMA(model, args.ema) if args.ema else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    total, warmup = steps_per_epoch * args.epochs, steps_per_epoch * args.warmup_epochs
    schedule = Schedule(optimizer, args.lr, total, warmup=warmup, budget_s=60.0 * args.time_budget)
    return model, ema, optimizer, schedule


def _training_state(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    ema: EMA | None,
    gen: torch.Generator,
    state: dict,
) -> dict:
    """What ``--resume`` continues from: ``state`` (epoch, best, history, rng) with every object's state."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "ema": ema.model.state_dict() if ema is not None else None,
        "ema_steps": ema.steps if ema else 0,
        **state,
        "torch_rng": torch.get_rng_state(),
        "gen": gen.get_state(),
    }


def _resume(
    path: Path,
    device: torch.device,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    ema: EMA | None,
    gen: torch.Generator,
) -> tuple[int, dict, list, np.random.Generator]:
    """Load the training state saved at ``path`` into these objects; (epochs done, best metrics, history, rng)."""
    state = torch.load(path, map_location=device, weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    if ema is not None and state.get("ema") is not None:
        ema.model.load_state_dict(state["ema"])
        ema.steps = state["ema_steps"]
    rng = np.random.default_rng()
    rng.bit_generator.state = state["rng"]
    torch.set_rng_state(state["torch_rng"])
    gen.set_state(state.get("gen", gen.get_state()))
    return state["epoch"], state["best"], state["history"], rng


def _epoch_line(record: dict, improved: bool) -> str:
    """One epoch's line in the log: time, losses and the valid split's metrics."""
    losses, metrics = record["train"], record["valid"]
    return (
        f"epoch {record['epoch']} {record['seconds']}s loss {losses['loss']:.3f} (sev {losses['severity']:.3f} "
        f"dens {losses['density']:.4f} cnt {losses['count']:.2f}) valid acc {metrics['accuracy']:.3f} "
        f"bal {metrics['balanced_accuracy']:.3f} f1 {metrics['macro_f1']:.3f} "
        f"mae {metrics.get('mae_lesions', math.nan):.2f} "
        f"acc_from_count {metrics.get('accuracy_from_count', math.nan):.3f} ece {metrics['ece']:.3f}"
        + (" *best*" if improved else "")
    )


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="train the acne model")
    add_arguments(p)
    raise SystemExit(run(p.parse_args()))
