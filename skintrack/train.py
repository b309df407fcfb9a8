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
- augmentation: random resized crop, small rotation, horizontal flip, colour jitter.
The best epoch on the ``valid`` split (accuracy, then lesion MAE) is kept as a
self-describing half-precision checkpoint with its measured metrics; ``last.pt`` beside it
holds the full state for ``--resume``.
"""

from __future__ import annotations

import argparse
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

from skintrack import classifier as clf
from skintrack import evaluate as ev

DATA_TERMS = (
    "ACNE04 (Wu et al., 'Joint Acne Image Grading and Counting via Label Distribution "
    "Learning', ICCV 2019), via the Roboflow export 'Acne04 Detection' v5: free for academic "
    "use only. A model trained on it inherits these terms."
)


@dataclass
class Example:
    image: np.ndarray  # model-scale uint8 image (preprocessing size, whole crop)
    points: np.ndarray  # (n, 2) lesion centres in model-input pixels
    grade: int
    n_lesions: float  # nan when unknown
    ita_group: str


# ---------------------------------------------------------------- data


def load_examples(data: Path, split: str | None, pre: clf.Preprocess, cache: Path | None = None,
                  limit: int = 0) -> list[Example]:  # fmt: skip
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
        items = [ev.prepare_photo(data, row) for row in ev.read_labels(data, split)[: limit or None]]
    m = pre.matrix()
    out = []
    for it in items:
        pts = np.asarray(it["points"] or [], np.float64).reshape(-1, 2)
        n = it["n_lesions"]
        out.append(Example(
            image=clf.crop_resize(it["image"], pre),
            points=pts @ m[:, :2].T + m[:, 2],
            grade=int(it["grade"]),
            n_lesions=float(n) if n is not None else (float(len(pts)) if it["points"] is not None else math.nan),
            ita_group=it.get("ita_group", ""),
        ))  # fmt: skip
    return out


def augment(ex: Example, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Random resized crop, rotation (+-10 deg), flip and colour jitter; points follow."""
    zoom = rng.uniform(0.85, 1.2)  # >1 zooms in (the crop covers less of the face)
    aspect = math.exp(rng.uniform(-0.07, 0.07))
    angle = math.radians(rng.uniform(-10, 10))
    shift = rng.uniform(-0.06, 0.06, 2) * size
    c = size / 2
    cos, sin = math.cos(angle), math.sin(angle)
    sx, sy = zoom * aspect, zoom / aspect
    a = np.array([[sx * cos, -sy * sin], [sx * sin, sy * cos]])
    if rng.random() < 0.5:
        a = a @ np.array([[-1.0, 0.0], [0.0, 1.0]])
    t = np.array([c, c]) + shift - a @ np.array([c, c])
    m = np.hstack([a, t[:, None]])
    img = cv2.warpAffine(ex.image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    pts = ex.points @ a.T + t if len(ex.points) else ex.points
    # colour: brightness, contrast, saturation, hue
    f = img.astype(np.float32)
    f *= rng.uniform(0.75, 1.25)
    mean = f.mean()
    f = (f - mean) * rng.uniform(0.75, 1.25) + mean
    grey = f.mean(axis=2, keepdims=True)
    f = (f - grey) * rng.uniform(0.75, 1.25) + grey
    img = np.clip(f, 0, 255).astype(np.uint8)
    hue = rng.uniform(-4, 4)  # OpenCV hue units (0-180), so about +-8 degrees
    if abs(hue) > 0.5:
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + round(hue)) % 180).astype(np.uint8)
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return img, pts


def density_target(points: np.ndarray, size: int, stride: int = clf.DENSITY_STRIDE, sigma: float = 1.0) -> np.ndarray:
    """Gaussian blobs (sum one each) at the points inside the image, on the stride grid."""
    g = size // stride
    out = np.zeros((g, g), np.float32)
    if len(points) == 0:
        return out
    inside = (points[:, 0] >= 0) & (points[:, 0] < size) & (points[:, 1] >= 0) & (points[:, 1] < size)
    p = points[inside] / stride - 0.5
    if len(p) == 0:
        return out
    cells = np.arange(g, dtype=np.float64)
    gx = np.exp(-((cells[None, :] - p[:, :1]) ** 2) / (2 * sigma**2))
    gy = np.exp(-((cells[None, :] - p[:, 1:]) ** 2) / (2 * sigma**2))
    gx /= gx.sum(1, keepdims=True)
    gy /= gy.sum(1, keepdims=True)
    return (gy.T @ gx).astype(np.float32)


def label_distribution(grade: int, count: float, mix: float = 0.4) -> np.ndarray:
    """One-hot grade mixed with the Hayashi-bin mass of N(count, sigma), sigma = max(2, 0.15 count)."""
    onehot = np.eye(len(clf.GRADE_NAMES))[grade]
    if math.isnan(count) or mix == 0:
        return onehot
    sigma = max(2.0, 0.15 * count)
    edges = [-math.inf] + [c + 0.5 for c in clf.HAYASHI_CUTOFFS] + [math.inf]
    cdf = [0.5 * (1 + math.erf((e - count) / (sigma * math.sqrt(2)))) if math.isfinite(e) else float(e > 0) for e in edges]
    ldl = np.diff(cdf)
    return (1 - mix) * onehot + mix * ldl / ldl.sum()


def make_batch(examples: list[Example], pre: clf.Preprocess, rng: np.random.Generator | None, ldl_mix: float) -> dict:
    """A training (rng given: augmented) or evaluation batch."""
    imgs, dens, dist = [], [], []
    for ex in examples:
        img, pts = augment(ex, rng, pre.size) if rng is not None else (ex.image, ex.points)
        imgs.append(clf.normalise(img, pre))
        dens.append(torch.from_numpy(density_target(pts, pre.size)))
        dist.append(torch.from_numpy(label_distribution(ex.grade, ex.n_lesions, ldl_mix)).float())
    return {
        "x": torch.stack(imgs).contiguous(memory_format=torch.channels_last),
        "density": torch.stack(dens),
        "dist": torch.stack(dist),
        "grade": torch.tensor([ex.grade for ex in examples]),
        "count": torch.stack(dens).sum(dim=(1, 2)),
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
    sample_w = weights[batch["grade"]]
    severity = (-(batch["dist"] * logp).sum(1) * sample_w).mean()
    density = ((out["density"] - batch["density"]) ** 2).sum(dim=(1, 2)).mean()
    count = F.smooth_l1_loss(out["count"], batch["count"], beta=2.0)
    total = severity + w_density * density + w_count * count
    return {"loss": total, "severity": severity, "density": density, "count": count}


def train_one_epoch(model, examples: list[Example], optimizer, scheduler, *, pre: clf.Preprocess, batch_size: int,
                    rng: np.random.Generator, weights: torch.Tensor, ldl_mix: float = 0.4,
                    callback: Callable[[int, int, dict], None] | None = None) -> dict:  # fmt: skip
    """One pass over ``examples`` in random order; returns the mean loss terms."""
    model.train()
    order = rng.permutation(len(examples))
    n_steps = len(order) // batch_size  # drop the ragged last batch (BatchNorm on 1-2 images is noise)
    sums: dict[str, float] = {}
    done = 0
    for step in range(n_steps):
        batch = make_batch([examples[i] for i in order[step * batch_size : (step + 1) * batch_size]], pre, rng, ldl_mix)
        out = model(batch["x"])
        terms = loss_terms(out, batch, weights)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        done += 1
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach())
        if callback is not None:
            callback(step + 1, n_steps, {k: float(v.detach()) for k, v in terms.items()})
        if scheduler is not None:
            scheduler.step()
            if getattr(scheduler, "finished", False):
                break  # time budget spent: stop mid-epoch, the learning rate is already near zero
    return {k: v / max(1, done) for k, v in sums.items()}


@torch.inference_mode()
def evaluate(model, examples: list[Example], *, pre: clf.Preprocess, batch_size: int = 32,
             callback: Callable[[int, int], None] | None = None) -> dict:  # fmt: skip
    """Metrics on unaugmented examples (see ``evaluate.grade_metrics``)."""
    model.eval()
    probs, counts = [], []
    for i in range(0, len(examples), batch_size):
        batch = make_batch(examples[i : i + batch_size], pre, None, 0.0)
        out = model(batch["x"])
        probs.append(torch.softmax(out["logits"].float(), 1))
        counts.append(out["count"].float())
        if callback is not None:
            callback(min(i + batch_size, len(examples)), len(examples))
    p = torch.cat(probs).numpy()
    c = torch.cat(counts).numpy()
    return ev.grade_metrics([e.grade for e in examples], p, [e.n_lesions for e in examples], c)


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
            raise ValueError(f"--init imagenet: torchvision's ResNet-50 weights are not cached at {path} (no download is made); use --init none or PATH")
        state = torch.load(path, map_location="cpu", weights_only=True)
        stem_map = {"conv1": "stem.0", "bn1": "stem.1", "layer1": "stem.4", "layer2": "stage8", "layer3": "stage16", "layer4": "stage32"}
        mapped = {}
        for k, v in state.items():
            head, rest = k.split(".", 1)
            if head in stem_map:
                mapped[f"{stem_map[head]}.{rest}"] = v
        missing, _ = model.load_state_dict(mapped, strict=False)
        return
    path = Path(init)
    if not path.is_file():
        raise ValueError(f"--init {init!r}: not 'none', 'imagenet' or an existing checkpoint file")
    ckpt = clf.read(path)
    if ckpt["arch"] != model.arch:
        raise ValueError(f"--init {init}: checkpoint is {ckpt['arch']}, not {model.arch}")
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
    parser.add_argument("--init", default="none", help="none | imagenet (only if torchvision's weights are cached) | PATH")
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
    parser.add_argument("--time-budget", type=float, default=0.0,
                        help="minutes of training: the learning-rate schedule runs on whichever of steps and "
                        "time is further along, and training stops when it is spent (0: no limit)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")


def _check(args) -> None:
    if args.arch not in clf.ARCHITECTURES:
        raise ValueError(f"--arch {args.arch!r}: allowed {', '.join(clf.ARCHITECTURES)}")
    for name in ("epochs", "batch_size", "size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} {getattr(args, name)}: must be at least 1")
    if args.size % 32:
        raise ValueError(f"--size {args.size}: must be a multiple of 32")
    if not 0 <= args.ldl_mix <= 1:
        raise ValueError(f"--ldl-mix {args.ldl_mix}: must be in [0, 1]")
    if not args.data.is_dir():
        raise ValueError(f"--data {args.data}: not a folder")


def run(args: argparse.Namespace) -> int:
    _check(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = seed_everything(args.seed)
    pre = clf.Preprocess(size=args.size, crop=clf.PREPROCESS.crop)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = (out_dir / "log.txt").open("a")

    def say(msg: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
        print(line, file=log, flush=True)
        print(line, file=sys.stderr, flush=True)

    train = load_examples(args.data, args.train_split, pre, args.cache, args.limit)
    valid = load_examples(args.data, args.valid_split, pre, args.cache, args.limit)
    if len(train) < args.batch_size:
        raise ValueError(f"--batch-size {args.batch_size}: larger than the {len(train)} training examples")
    say(f"train {len(train)} valid {len(valid)} examples; args {vars(args)}")

    model = clf.AcneNet(args.arch).to(memory_format=torch.channels_last)
    init_weights(model, args.init)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = len(train) // args.batch_size
    schedule = Schedule(optimizer, args.lr, steps_per_epoch * args.epochs, warmup=steps_per_epoch,
                        budget_s=60.0 * args.time_budget)  # fmt: skip
    weights = class_weights([e.grade for e in train])
    start, best, history = 0, None, []
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    if args.resume and last_path.is_file():
        state = torch.load(last_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        start, best, history = state["epoch"], state["best"], state["history"]
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        say(f"resumed after epoch {start}")

    train_args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"}
    data_info = {"name": "ACNE04", "terms": DATA_TERMS, "train_split": args.train_split, "valid_split": args.valid_split,
                 "n_train": len(train), "n_valid": len(valid)}  # fmt: skip
    from tqdm import tqdm

    for epoch in range(start, args.epochs):
        t0 = time.time()
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{args.epochs}", mininterval=30, file=sys.stderr)

        def progress(step, n, terms, bar=bar):
            bar.set_postfix(loss=f"{terms['loss']:.3f}", refresh=False)
            bar.update(1)

        if schedule.finished:
            say(f"time budget of {args.time_budget} min spent after epoch {epoch}: stopping")
            break
        losses = train_one_epoch(model, train, optimizer, schedule, pre=pre, batch_size=args.batch_size, rng=rng,
                                 weights=weights, ldl_mix=args.ldl_mix, callback=progress)  # fmt: skip
        bar.close()
        metrics = evaluate(model, valid, pre=pre)
        record = {"epoch": epoch + 1, "seconds": round(time.time() - t0, 1), "lr": optimizer.param_groups[0]["lr"],
                  "train": losses, "valid": metrics}  # fmt: skip
        history.append(record)
        improved = better(metrics, best)
        if improved:
            best = metrics
            clf.save(clf.make_checkpoint(model, pre=pre, metrics={**metrics, "split": args.valid_split},
                                         train_args=train_args, data=data_info, epoch=epoch + 1), best_path)  # fmt: skip
        clf.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                  "epoch": epoch + 1, "best": best, "history": history, "rng": rng.bit_generator.state,
                  "torch_rng": torch.get_rng_state()}, last_path)  # fmt: skip
        with (out_dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
        say(f"epoch {epoch + 1} {record['seconds']}s loss {losses['loss']:.3f} (sev {losses['severity']:.3f} "
            f"dens {losses['density']:.4f} cnt {losses['count']:.2f}) valid acc {metrics['accuracy']:.3f} "
            f"bal {metrics['balanced_accuracy']:.3f} f1 {metrics['macro_f1']:.3f} mae {metrics.get('mae_lesions', math.nan):.2f} "
            f"acc_from_count {metrics.get('accuracy_from_count', math.nan):.3f} ece {metrics['ece']:.3f}"
            + (" *best*" if improved else ""))  # fmt: skip
    say(f"done; best valid accuracy {best['accuracy']:.3f} in {best_path}")
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="train the acne model")
    add_arguments(p)
    raise SystemExit(run(p.parse_args()))
