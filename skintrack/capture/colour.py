"""Colour science for skin: sRGB, linear RGB and CIELAB, the ITA, white balance on the skin
locus, and the skin maps (white-balanced Lab; clean, specular and rejected skin pixels).

White balance (``white_balance``): a warmer or cooler light moves every colour of the photo
along one line in log-chromaticity (the Planckian direction). The correction removes only the
skin colour's component along that line, moving it to where skin of its lightness sits on
average; the component across the line, where more blood (redness) moves skin, is kept. Tried
and rejected on the repeatability set (README): the sclera as white reference (too few pixels
in a selfie; squinting, lids and JPEG moved redness by 3.7 a*, worse than no correction) and
grey-world on the background (changes from room to room).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# ITA groups (Chardon 1991; Del Bino 2013): lower bound in degrees, name.
ITA_GROUPS = [
    (55.0, "very light"),
    (41.0, "light"),
    (28.0, "intermediate"),
    (10.0, "tan"),
    (-30.0, "brown"),
    (-math.inf, "dark"),
]

MIN_PIXELS = 50  # a region with fewer clean skin pixels is not measured
# Skin locus: skin's log-chroma coordinate along the colour-temperature direction is on average
# SKIN_LOCUS[0] + SKIN_LOCUS[1] * (coordinate across it) + SKIN_LOCUS[2] * L* (296 faces_utk
# portraits of five race groups; residual SD 0.29, mostly the web photos' own colour casts).
SKIN_LOCUS = (-1.5136, -0.0632, 0.0125)
MAX_LOCUS_SHIFT = 0.6  # about the shift from 6500 K to 4300 K: a stronger cast is only partly undone
LUMA = np.array([0.2126, 0.7152, 0.0722])  # linear sRGB -> relative luminance Y


@dataclass(frozen=True)
class WhiteBalance:
    """Per-channel gains applied in linear RGB, and where they came from."""

    gains: tuple[float, float, float]
    method: str  # "skin locus" or "none: <why>"


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 -> CIELAB float (L* 0-100, a*, b*), D65."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 -> linear RGB float32 in 0-1 (IEC 61966-2-1)."""
    return _SRGB_TO_LINEAR[rgb]


_SRGB_TO_LINEAR = np.where(
    (c := np.arange(256, dtype=np.float64) / 255.0) <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4
).astype(np.float32)


def linear_to_lab(linear: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(linear, dtype=np.float32), cv2.COLOR_LRGB2LAB)


def ita_degrees(lightness: float, b_star: float) -> float:
    """Individual typology angle in degrees, atan2 form so b* near 0 stays defined."""
    return math.degrees(math.atan2(lightness - 50.0, b_star))


def ita_group(ita: float) -> str:
    for bound, name in ITA_GROUPS:
        if ita > bound:
            return name
    return ITA_GROUPS[-1][1]


# ---------------------------------------------------------------- white balance


def planck_white(kelvin: float) -> np.ndarray:
    """Linear sRGB of a black body at ``kelvin`` (Kim et al. 2002 cubic fit of the Planckian locus), luminance 1."""
    t = float(kelvin)
    if t <= 4000:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    xyz = np.array([x / y, 1.0, (1 - x - y) / y])
    to_rgb = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
    rgb = to_rgb @ xyz
    return rgb / (rgb @ LUMA)


def log_chroma(rgb_linear: np.ndarray) -> np.ndarray:
    """(..., 2): log(R/G), log(B/G) of linear RGB; a change of light is a shift of these."""
    x = np.maximum(np.asarray(rgb_linear, dtype=np.float64), 1e-4)
    return np.stack([np.log(x[..., 0] / x[..., 1]), np.log(x[..., 2] / x[..., 1])], axis=-1)


def _locus_axes() -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors in log-chroma: along the change of colour temperature (4000 -> 9000 K,
    towards blue) and across it."""
    d = log_chroma(planck_white(9000.0)) - log_chroma(planck_white(4000.0))
    d = d / np.linalg.norm(d)
    return d, np.array([-d[1], d[0]])


LOCUS_AXIS, ACROSS_AXIS = _locus_axes()


def skin_chroma(aligned_rgb: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray | None:
    """(along, across, L*) of the face's median skin: its log-chroma coordinates along and
    across the colour-temperature direction, and its lightness; None without skin."""
    skin = np.logical_or.reduce([m.astype(bool) for m in masks.values()]) if masks else None
    if skin is None or skin.sum() < MIN_PIXELS:
        return None
    px = to_linear(aligned_rgb)[skin]
    lum = px @ LUMA
    lo, hi = np.quantile(lum, [0.2, 0.9])  # no hair or shadow, no highlights
    px = px[(lum >= lo) & (lum <= hi)]
    if len(px) < MIN_PIXELS:
        return None
    c = np.median(log_chroma(px), axis=0)
    lightness = 116.0 * float(np.median(px @ LUMA)) ** (1 / 3) - 16.0
    return np.array([c @ LOCUS_AXIS, c @ ACROSS_AXIS, lightness])


def white_balance(aligned_rgb: np.ndarray, masks: dict[str, np.ndarray]) -> WhiteBalance:
    """Gains (linear RGB) that move the skin's colour back onto the skin locus along the
    direction a change of colour temperature moves it; greys keep their luminance.

    A warmer or cooler light shifts every colour of the photo along one line in
    log-chromaticity (the Planckian direction); skin's own changes mostly do not run
    along it: more blood lowers green and moves the colour across the line. So only the
    component along the line is removed, to where skin of the same across-coordinate and
    lightness sits on average (the skin locus, ``SKIN_LOCUS``: after Stoerring et al.
    2001; fitted on faces_utk by tools/validate_measurements.py --only locus). Melanin
    also moves skin along the line, which is why the target depends on lightness; a
    tan's yellowing beyond what its darkening predicts is removed with the cast.
    """
    c = skin_chroma(aligned_rgb, masks)
    if c is None:
        return WhiteBalance((1.0, 1.0, 1.0), "none: too little skin")
    return WhiteBalance(tuple(float(g) for g in _locus_fit(c)[0]), "skin locus")


def _locus_fit(c: np.ndarray) -> tuple[np.ndarray, float]:
    """(gains, wanted): the gains ``white_balance`` applies to skin of chroma ``c`` (clipped to
    ``MAX_LOCUS_SHIFT``), and the shift along the locus axis that the skin would need unclipped."""
    along, across, lightness = c
    log_rg, log_bg = along * LOCUS_AXIS + across * ACROSS_AXIS
    skin = np.exp([log_rg, 0.0, log_bg])
    skin *= ((lightness + 16.0) / 116.0) ** 3 / (skin @ LUMA)
    gains, wanted = np.ones(3), 0.0
    for _ in range(4):  # the target depends on the corrected skin's lightness: a few fixed-point steps
        corrected = 116.0 * float((skin * gains) @ LUMA) ** (1 / 3) - 16.0
        target = SKIN_LOCUS[0] + SKIN_LOCUS[1] * across + SKIN_LOCUS[2] * corrected
        wanted = float(target - along)
        shift = float(np.clip(wanted, -MAX_LOCUS_SHIFT, MAX_LOCUS_SHIFT)) * LOCUS_AXIS
        gains = np.array([math.exp(shift[0]), 1.0, math.exp(shift[1])])
        gains = gains / (gains @ LUMA)  # a grey keeps its luminance, as under a change of light
    return gains, wanted


def colour_cast(aligned_rgb: np.ndarray, masks: dict[str, np.ndarray]) -> float | None:
    """How far the skin sits from the skin locus along the colour-temperature axis (log-chroma
    units; positive: a warm cast to undo), before ``white_balance`` clips it to ``MAX_LOCUS_SHIFT``.
    None without enough skin."""
    c = skin_chroma(aligned_rgb, masks)
    return None if c is None else _locus_fit(c)[1]


# ---------------------------------------------------------------- skin maps


@dataclass(frozen=True)
class SkinMaps:
    """The white-balanced Lab image and the masks every measurement works from."""

    lab: np.ndarray  # (H, W, 3) float32
    skin: np.ndarray  # union of the regions
    clean: np.ndarray  # skin minus highlights and dark outliers
    specular: np.ndarray
    balance: WhiteBalance


def skin_maps(aligned_rgb: np.ndarray, masks: dict[str, np.ndarray], balance: bool = True) -> SkinMaps:
    """White-balance the aligned face (unless ``balance`` is False) and split its skin into
    clean, specular and rejected pixels."""
    balance = white_balance(aligned_rgb, masks) if balance else WhiteBalance((1.0, 1.0, 1.0), "none: not asked")
    lab = linear_to_lab(to_linear(aligned_rgb) * np.array(balance.gains, dtype=np.float32))
    skin = (
        np.logical_or.reduce([m.astype(bool) for m in masks.values()])
        if masks
        else np.zeros(aligned_rgb.shape[:2], bool)
    )
    if skin.sum() < MIN_PIXELS:
        empty = np.zeros_like(skin)
        return SkinMaps(lab, skin, empty, empty, balance)
    lightness, chroma = lab[..., 0], np.hypot(lab[..., 1], lab[..., 2])
    med_l, med_c = np.median(lightness[skin]), np.median(chroma[skin])
    spread = 1.4826 * np.median(np.abs(lightness[skin] - med_l))
    # Highlights: well above the skin's own lightness and paler than it.
    specular = skin & (lightness > med_l + max(8.0, 2.5 * spread)) & (chroma < med_c)
    # Hair, brows, frames, nostrils and deep shadow: far darker than the skin.
    dark = skin & (lightness < med_l - max(15.0, 3.0 * spread))
    clean = skin & ~specular & ~dark
    return SkinMaps(lab, skin, clean, specular, balance)
