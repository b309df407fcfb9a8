"""Re-render a face at another skin tone, for training and for a paired skin-tone test.

ACNE04 holds almost no brown or dark skin (18 of 283 valid photos are brown by ITA, 2 are
dark), so a model trained on it cannot be shown to grade darker skin as well as lighter skin
from the data alone. ``shift_tone`` gives a photo another ITA by scaling CIE L* so that the
skin's median lightness lands on ``50 + b* tan(ITA)`` (b* and a* stay as they are): darker
skin, with lesions and shadows darkened in proportion and so with less contrast, the way
melanin lowers the contrast of a lesion. It is a stress test, not darker skin: it does not
model how acne itself looks on dark skin (post-inflammatory hyperpigmentation, erythema
hidden by melanin).

Torch, on a batch of float sRGB images in [0, 1] (B, 3, H, W), on any device.
"""

from __future__ import annotations

import numpy as np
import torch

_RGB_TO_XYZ = torch.tensor(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_WHITE = torch.tensor([0.95047, 1.0, 1.08883])  # D65
_EPS = (6 / 29) ** 3

# the skin reference when no mask is given: cheeks and nose of the aligned frame
# (skintrack.face.align puts the eyes at 0.36 of the height, the cheeks at 0.51, the mouth at 0.65)
CHEEK_BOX = (0.42, 0.62, 0.22, 0.78)  # top, bottom, left, right as fractions of the side


def srgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) sRGB in [0, 1] -> CIELAB (L* 0-100, a*, b*), D65."""
    lin = torch.where(x <= 0.04045, x / 12.92, ((x.clamp(min=0) + 0.055) / 1.055) ** 2.4)
    xyz = torch.einsum("ij,bjhw->bihw", _RGB_TO_XYZ.to(x), lin) / _WHITE.to(x).view(1, 3, 1, 1)
    f = torch.where(xyz > _EPS, xyz.clamp(min=_EPS).pow(1 / 3), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def lab_to_srgb(lab: torch.Tensor) -> torch.Tensor:
    """Inverse of ``srgb_to_lab``, clipped to [0, 1]."""
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], 1)
    xyz = torch.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE.to(lab).view(1, 3, 1, 1)
    lin = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB_TO_XYZ).to(lab), xyz).clamp(0, 1)
    return torch.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin.pow(1 / 2.4) - 0.055).clamp(0, 1)


def skin_reference(lab: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Median L* and b* of each image's skin: over ``mask`` (B, H, W) where given, else over
    ``CHEEK_BOX``."""
    b, _, h, w = lab.shape
    if mask is None:
        top, bottom, left, right = CHEEK_BOX
        box = lab[:, :, int(top * h) : int(bottom * h), int(left * w) : int(right * w)].flatten(2)
        return box[:, 0].median(1).values, box[:, 2].median(1).values
    ls, bs = [], []
    for i in range(b):
        px = lab[i][:, mask[i]]
        ls.append(px[0].median())
        bs.append(px[2].median())
    return torch.stack(ls), torch.stack(bs)


MIN_B_STAR = 8.0  # b* is taken as at least this, so that a greyish photo still moves


def skin_ita(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The ITA (degrees) of each image's skin as ``shift_tone`` reads it: the skin's median
    L* and b* (b* at least ``MIN_B_STAR``), before any white balance."""
    lightness, b_star = skin_reference(srgb_to_lab(x), mask)
    return torch.rad2deg(torch.atan2(lightness - 50, b_star.clamp(min=MIN_B_STAR)))


def shift_tone(x: torch.Tensor, ita: torch.Tensor | float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Images ``x`` re-rendered so their skin's ITA is about ``ita`` degrees (one per image
    or one for all): L* scaled by (50 + b* tan ITA) / L*, both the skin's medians (b* at least
    ``MIN_B_STAR``); a* and b* unchanged."""
    lab = srgb_to_lab(x)
    lightness, b_star = skin_reference(lab, mask)
    angle = torch.as_tensor(ita, dtype=x.dtype, device=x.device).expand(len(x))
    target = (50 + b_star.clamp(min=MIN_B_STAR) * torch.tan(torch.deg2rad(angle))).clamp(5, 95)
    scale = (target / lightness.clamp(min=1)).view(-1, 1, 1)
    lab = torch.stack([(lab[:, 0] * scale).clamp(0, 100), lab[:, 1], lab[:, 2]], 1)
    return lab_to_srgb(lab)


def as_batch(rgb: np.ndarray) -> torch.Tensor:
    """An RGB uint8 image (H, W, 3) as a float batch of one (1, 3, H, W) in [0, 1]."""
    return torch.tensor(rgb).permute(2, 0, 1)[None].float() / 255.0


def image_ita(rgb: np.ndarray, skin: np.ndarray) -> float:
    """``skin_ita`` of one RGB uint8 image, its skin given as a boolean (H, W) mask."""
    return float(skin_ita(as_batch(rgb), torch.from_numpy(skin.astype(bool))[None])[0])


def shift_image(rgb: np.ndarray, ita: float, skin: np.ndarray) -> np.ndarray:
    """``shift_tone`` on one RGB uint8 image, its skin given as a boolean (H, W) mask."""
    out = shift_tone(as_batch(rgb), ita, torch.from_numpy(skin.astype(bool))[None])
    return (out[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
