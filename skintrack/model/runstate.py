"""What a training run keeps besides its data: the network, optimiser, learning-rate
``Schedule`` and moving average of the weights (``EMA``) it is built with, the weights it
starts from (``--init``), its random seeds, and the state ``last.pt`` saves and ``--resume``
restores.
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import time
from pathlib import Path

import numpy as np
import torch

from skintrack.errors import BadValue
from skintrack.model import classifier as clf


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


def training_state(
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


def resume(
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


def seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def build(
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
