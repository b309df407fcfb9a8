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
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from skintrack.errors import BadValue
from skintrack.model import classifier as clf
from skintrack.model.batches import Tensors, make_batch
from skintrack.model.dataset import load_examples
from skintrack.model.metrics import grade_metrics
from skintrack.model.runstate import EMA, Schedule, build, resume, seed_everything, training_state

DATA_TERMS = (
    "ACNE04 (Wu et al., 'Joint Acne Image Grading and Counting via Label Distribution "
    "Learning', ICCV 2019), via the Roboflow export 'Acne04 Detection' v5: free for academic "
    "use only. A model trained on it inherits these terms."
)


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
    share of images re-rendered at another skin tone (``batches.augment``)."""
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


def better(a: dict, b: dict | None) -> bool:
    """Model selection: higher accuracy, then lower lesion MAE."""
    if b is None:
        return True
    return (a["accuracy"], -a.get("mae_lesions", 0.0)) > (b["accuracy"], -b.get("mae_lesions", 0.0))


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
    model, ema, optimizer, schedule = build(args, device, steps_per_epoch)
    scored = ema.model if ema is not None else model  # the weights evaluated and saved
    weights = class_weights([e.grade for e in train_ex if e.grade is not None]).to(device)
    start, best, history = 0, None, []
    last_path, best_path, final_path = out_dir / "last.pt", out_dir / "best.pt", out_dir / "final.pt"
    if args.resume and last_path.is_file():
        start, best, history, rng = resume(last_path, device, model, optimizer, schedule, ema, gen)
        say(f"resumed after epoch {start}")

    checkpoint = _checkpointer(args, scored, pre, len(train), len(valid))
    step = {
        "pre": pre,
        "batch_size": args.batch_size,
        "rng": rng,
        "gen": gen,
        "weights": weights,
        "ema": ema,
        "amp": amp,
        "tone": args.tone_aug,
    }
    metrics, done = None, start
    for epoch in range(start, args.epochs):
        if schedule.finished:
            say(f"time budget of {args.time_budget} min spent after epoch {epoch}: stopping")
            break
        record = _epoch(model, scored, train, valid, optimizer, schedule, step, epoch, args.epochs)
        metrics = record["valid"]
        history.append(record)
        done = epoch + 1
        improved = better(metrics, best)
        if improved:
            best = metrics
            clf.save(checkpoint(metrics, epoch + 1, "best epoch on the valid split"), best_path)
        if done % args.save_every == 0 or schedule.finished or done == args.epochs:
            state = {"epoch": epoch + 1, "best": best, "history": history, "rng": rng.bit_generator.state}
            clf.save(training_state(model, optimizer, schedule, ema, gen, state), last_path)
        with (out_dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
        say(_epoch_line(record, improved))
    if metrics is not None:
        # the weights the schedule ended on, chosen by no look at the valid split
        clf.save(checkpoint(metrics, done, "last epoch (no selection on the valid split)"), final_path)
    say(f"done; best valid accuracy {best['accuracy']:.3f} in {best_path}")
    return 0


def _checkpointer(
    args: argparse.Namespace, scored: torch.nn.Module, pre: clf.Preprocess, n_train: int, n_valid: int
) -> Callable[[dict, int, str], dict]:
    """A function (metrics, epoch, selection) -> the self-describing checkpoint of ``scored``,
    with the run's arguments and data (ACNE04, its terms, the splits and their sizes)."""
    train_args = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"}
    data_info = {
        "name": "ACNE04",
        "terms": DATA_TERMS,
        "train_split": args.train_split,
        "valid_split": args.valid_split,
        "n_train": n_train,
        "n_valid": n_valid,
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

    return checkpoint


def _epoch(
    model, scored, train: Tensors, valid: Tensors, optimizer, schedule, step: dict, epoch: int, epochs: int
) -> dict:
    """One epoch: ``train_one_epoch`` (with ``step``'s arguments) behind a progress bar, then
    ``scored`` measured on the valid split; the epoch's record for metrics.jsonl."""
    t0 = time.time()
    bar, progress = _progress_bar(len(train) // step["batch_size"], f"epoch {epoch + 1}/{epochs}")
    losses = train_one_epoch(model, train, optimizer, schedule, **step, callback=progress)
    bar.close()
    metrics = evaluate(scored, valid, pre=step["pre"])
    return {
        "epoch": epoch + 1,
        "seconds": round(time.time() - t0, 1),
        "lr": optimizer.param_groups[0]["lr"],
        "train": losses,
        "valid": metrics,
    }


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
