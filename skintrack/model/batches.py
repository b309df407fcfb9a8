"""A split as tensors on one device, and the batches training and evaluation draw from it:
batched augmentation on any device (random resized crop, rotation, flip, colour jitter and
an optional skin-tone re-render), density targets on the stride grid, and the grade label
distributions the severity head learns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from skintrack.model import classifier as clf
from skintrack.model.dataset import Example
from skintrack.model.tone import shift_tone

TONE_RANGE = (-50.0, 45.0)  # ITA degrees drawn by the skin-tone augmentation


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
