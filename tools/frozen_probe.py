"""Can the shipped acne model's frozen features count acne_frontal's lesions? (issue 15, CPU study)

Without a GPU a ResNet-50 cannot be retrained here in a session, but its heads can: the
backbone's features are computed once and only the end of the lesion-density head is refitted
on them, with grouped cross-validation over acne_frontal's folds (``models/splits``). Three
steps, each a subcommand:

- ``extract CACHE OUT``: for every photo of a ``tools/prepare_finetune.py`` cache (aligned by
  the app's pipeline), the shipped network's density-head input ``p`` (the FPN sum, 256 x 48 x
  48 at 384 px) and the output of the head's 3x3 convolution, both float16 memmaps, and the
  shipped count (about 11 minutes for 3,225 photos on 2 cores, 7.6 GB on disk).
- ``cv OUT --fit bn1x1``: refit the head's batch-norm scale and shift and its last 1x1
  convolution (the 3x3 convolution's output fixed) on ACNE04 ``train`` plus four folds,
  measured on the fifth, for each fold; ``--fit conv`` refits the 3x3 convolution too (from
  ``p``; about 3 minutes an epoch); ``--folds`` picks folds.
- ``ridge OUT``: a ridge regression from each photo's pooled head features (mean, max and
  95th percentile over the central cells) to log(1 + lesions), the same folds: how much of the
  count the features carry at all, whatever the head.

Every figure is the lesion-count Spearman (and MAE for the head fits) on the held-out fold
beside the shipped model's on the same photos. Nothing here touches acne_frontal's ``test``
part or ACNE04's ``valid`` photos of new people.

    PYTHONPATH=. .venv/bin/python tools/prepare_finetune.py ../shared/data/acne04 \\
        ../shared/data/acne_frontal cache/frontal_all --workers 2
    PYTHONPATH=. .venv/bin/python tools/frozen_probe.py extract cache/frontal_all cache/feat
    PYTHONPATH=. .venv/bin/python tools/frozen_probe.py cv cache/feat --fit bn1x1 --epochs 10 --lr 3e-3
    PYTHONPATH=. .venv/bin/python tools/frozen_probe.py cv cache/feat --fit conv --folds 0 --epochs 4 --lr 1e-3
    PYTHONPATH=. .venv/bin/python tools/frozen_probe.py ridge cache/feat
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skintrack.config import PROJECT_ROOT
from skintrack.model import classifier as clf
from skintrack.model import dataset
from skintrack.model.batches import density_targets, normalise_batch

SHIPPED = PROJECT_ROOT / "models" / "resnet50-acne.onnx"
SPLIT_FILE = PROJECT_ROOT / "models" / "splits" / "acne_frontal.csv"


def extract(cache: Path, out: Path, batch: int = 8) -> None:
    """The frozen features of every photo of ``cache``, and what the study needs to know of it."""
    ckpt = clf.read(SHIPPED)
    model, pre = clf.build(ckpt), clf.Preprocess.from_dict(ckpt["preprocess"])
    index = json.loads((cache / "index.json").read_text())
    examples = dataset.load_examples(cache, None, pre, cache)
    n, g = len(examples), pre.size // clf.DENSITY_STRIDE
    out.mkdir(parents=True, exist_ok=True)
    p_map = np.lib.format.open_memmap(out / "p.npy", "w+", np.float16, (n, model.lat8.out_channels, g, g))
    conv = np.lib.format.open_memmap(out / "conv.npy", "w+", np.float16, p_map.shape)
    count = np.zeros(n, np.float32)
    t0 = time.time()
    with torch.inference_mode():
        for s in range(0, n, batch):
            part = examples[s : s + batch]
            x = torch.from_numpy(np.stack([e.image for e in part])).permute(0, 3, 1, 2).float() / 255.0
            p, _ = model.pyramid(normalise_batch(x, pre))
            c = model.density[0](p)
            p_map[s : s + len(part)] = p.numpy()
            conv[s : s + len(part)] = c.numpy()
            count[s : s + len(part)] = (F.softplus(model.density[1:](c)).squeeze(1) / 16.0).sum((1, 2)).numpy()
            if s % 400 == 0:
                print(f"{s}/{n} {time.time() - t0:.0f}s", flush=True)
    p_map.flush()
    conv.flush()
    np.save(out / "count0.npy", count)
    meta = [
        {
            "source": it["source"],
            "dataset": it["dataset"],
            "split": it["split"],
            "n_lesions": e.n_lesions,
            "points": np.asarray(e.points).tolist(),
        }
        for it, e in zip(index, examples, strict=True)
    ]
    (out / "meta.json").write_text(json.dumps(meta))
    print(f"{n} photos in {time.time() - t0:.0f}s -> {out}")


class Study:
    """The extracted features with their labels, folds and density targets."""

    def __init__(self, feat: Path) -> None:
        self.feat = feat
        self.meta = json.loads((feat / "meta.json").read_text())
        with SPLIT_FILE.open(newline="") as f:
            part = {r["image"]: r["part"] for r in csv.DictReader(f)}
        frontal = np.array([m["dataset"] == "acne_frontal" for m in self.meta])
        self.fold = np.array([int(part[m["source"]]) if f else -1 for m, f in zip(self.meta, frontal, strict=True)])
        acne04 = np.array([m["dataset"] == "acne04" for m in self.meta])
        self.acne04_train = np.flatnonzero(acne04 & np.array([m["split"] == "train" for m in self.meta]))
        self.n_lesions = np.array([m["n_lesions"] for m in self.meta], float)
        self.shipped = np.load(feat / "count0.npy")
        k = max([len(m["points"]) for m in self.meta] + [1])
        pts, valid = torch.zeros(len(self.meta), k, 2), torch.zeros(len(self.meta), k, dtype=torch.bool)
        for i, m in enumerate(self.meta):
            if m["points"]:
                pts[i, : len(m["points"])] = torch.tensor(m["points"], dtype=torch.float32)
                valid[i, : len(m["points"])] = True
        self.target = density_targets(pts, valid, clf.PREPROCESS.size)

    def parts(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Training photos (ACNE04 train and the other folds) and the held-out fold ``k``."""
        train = np.concatenate([self.acne04_train, np.flatnonzero((self.fold >= 0) & (self.fold != k))])
        return train, np.flatnonzero(self.fold == k)

    def line(self, name: str, counts: np.ndarray, idx: np.ndarray) -> str:
        y = self.n_lesions[idx]
        return (
            f"{name}: n {len(idx)} spearman {spearmanr(counts, y).statistic:.3f} (shipped "
            f"{spearmanr(self.shipped[idx], y).statistic:.3f}) mae {np.abs(counts - y).mean():.2f} (shipped "
            f"{np.abs(self.shipped[idx] - y).mean():.2f})"
        )


def _loss(density: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``train.loss_terms``' density and count terms (the grade term does not apply)."""
    count = F.smooth_l1_loss(density.sum((1, 2)), target.sum((1, 2)), beta=2.0)
    return 10.0 * ((density - target) ** 2).sum((1, 2)).mean() + 0.05 * count


def fit_head(study: Study, k: int, fit: str, epochs: int, lr: float, batch: int = 32) -> None:
    """Refit the density head from the shipped one on fold ``k``'s training photos; print each epoch."""
    source = np.load(study.feat / ("p.npy" if fit == "conv" else "conv.npy"), mmap_mode="r")
    head = copy.deepcopy(clf.build(clf.read(SHIPPED)).density)
    head.eval()  # the batch norm keeps its statistics; its scale and shift are refitted
    if fit == "bn1x1":
        head[0].requires_grad_(False)
        head = head[1:]
    params = [p for p in head.parameters() if p.requires_grad]
    train, held = study.parts(k)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(train) / batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    rng, t0 = np.random.default_rng(k), time.time()

    def counts(idx: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate(
                [
                    (F.softplus(head(torch.from_numpy(source[idx[s : s + 64]]).float())).squeeze(1) / 16.0)
                    .sum((1, 2))
                    .numpy()
                    for s in range(0, len(idx), 64)
                ]
            )

    for epoch in range(epochs):
        order, total = rng.permutation(train), 0.0
        for s in range(0, len(order), batch):
            idx = np.sort(order[s : s + batch])
            loss = _loss(F.softplus(head(torch.from_numpy(source[idx]).float())).squeeze(1) / 16.0, study.target[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
        print(f"fold {k} epoch {epoch} loss {total / len(order):.4f} ({time.time() - t0:.0f}s)", flush=True)
    print(study.line(f"fold {k} refitted ({fit})", counts(held), held), flush=True)


def pooled(study: Study, batch: int = 64) -> np.ndarray:
    """Per photo: mean, max and 95th percentile of the shipped head's hidden features over the central cells."""
    conv = np.load(study.feat / "conv.npy", mmap_mode="r")
    bn = clf.build(clf.read(SHIPPED)).density[1:3].eval()
    rows = []
    with torch.no_grad():
        for s in range(0, len(conv), batch):
            h = bn(torch.from_numpy(np.array(conv[s : s + batch], np.float32)))[:, :, 8:40, 8:40].flatten(2)
            rows.append(torch.cat([h.mean(2), h.amax(2), torch.quantile(h[:, :, ::4], 0.95, dim=2)], 1).numpy())
    return np.concatenate(rows)


def ridge(study: Study, alphas=(10.0, 100.0, 1000.0, 10000.0)) -> None:
    """Grouped-fold ridge regression from pooled features to log(1 + lesions): held-out Spearman."""
    x = pooled(study)
    frontal = study.fold >= 0
    for alpha in alphas:
        held, fitted = [], []
        for k in range(5):
            tr, te = frontal & (study.fold != k), study.fold == k
            mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
            a, y = (x[tr] - mu) / sd, np.log1p(study.n_lesions[tr])
            w = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ (y - y.mean()))
            held.append(spearmanr((x[te] - mu) / sd @ w, study.n_lesions[te]).statistic)
            fitted.append(spearmanr(a @ w, study.n_lesions[tr]).statistic)
        print(
            f"ridge alpha {alpha:g}: held-out fold spearman {np.mean(held):.3f} (sd {np.std(held):.3f}), "
            f"on its own training folds {np.mean(fitted):.3f}"
        )
    shipped = [spearmanr(study.shipped[study.fold == k], study.n_lesions[study.fold == k]).statistic for k in range(5)]
    print(f"shipped count, same folds: spearman {np.mean(shipped):.3f}")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("extract", help="compute the frozen features of a prepare_finetune cache")
    ex.add_argument("cache", type=Path)
    ex.add_argument("out", type=Path)
    cv = sub.add_parser("cv", help="refit the density head, grouped folds")
    cv.add_argument("feat", type=Path)
    cv.add_argument("--fit", choices=("bn1x1", "conv"), default="bn1x1")
    cv.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    cv.add_argument("--epochs", type=int, default=10)
    cv.add_argument("--lr", type=float, default=3e-3)
    rg = sub.add_parser("ridge", help="how much of the count the pooled features carry")
    rg.add_argument("feat", type=Path)
    return parser


def main(args: argparse.Namespace) -> int:
    torch.set_num_threads(2)
    if args.command == "extract":
        extract(args.cache, args.out)
    elif args.command == "cv":
        study = Study(args.feat)
        for k in args.folds:
            fit_head(study, k, args.fit, args.epochs, args.lr)
    else:
        ridge(Study(args.feat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(get_args_parser().parse_args()))
