"""``python -m skintrack demo``: a separate, clearly marked home filled with generated history.

The history is made up, with known answers, so a newcomer can explore the charts and see
what the insights find and what they do not:

- planted: a night under 6 h of sleep raises redness by 1.5 a* the next day;
- planted: dairy raises the red-spot count by 80%, two days later;
- planted: Azelaic acid 10%, started half-way, lowers redness by 2 a* once settled in;
- not planted: water, stress, exercise and everything else; the Vitamin C serum does nothing.

The "photos" are drawings marked DEMO, tinted by the generated redness and dotted with the
generated spots, so the Compare page and the time-lapse have something to show.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import shutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from skintrack.config import DEMO_MARKER, Settings
from skintrack.db import products, store
from skintrack.errors import BadValue

SOURCE = "measure@1"
REGION_SHARES = {  # where the red spots fall, and each region's redness offset (a*)
    "forehead": (0.25, 0.0),
    "left_cheek": (0.22, 1.5),
    "right_cheek": (0.22, 1.5),
    "nose": (0.08, 2.0),
    "chin": (0.15, 0.5),
    "under_eye_left": (0.04, -1.0),
    "under_eye_right": (0.04, -1.0),
}


@dataclass(frozen=True)
class Planted:
    """An effect written into the demo history: what the insights should find."""

    factor: str
    condition: str
    lag: int
    effect: float  # absolute (a*) for redness, relative (0.5 = +50%) for red spots


PLANTED = (Planted("short sleep", "redness", 1, 1.5), Planted("diet: dairy", "red_spots", 2, 0.8))
NOT_PLANTED = ("little water", "high stress", "exercise", "alcohol", "sun", "poor sleep", "diet: sugar")
TREATMENT, TREATMENT_EFFECT = "Azelaic acid 10%", -2.0
PLACEBO = "Vitamin C serum"


@dataclass(frozen=True)
class History:
    """Generated history as the store returns it: scores (long), the log, the routine."""

    scores: pd.DataFrame
    log: pd.DataFrame
    routine: pd.DataFrame
    uses: pd.DataFrame


def generate(days: int = 120, seed: int = 0, planted: bool = True, end: date | None = None) -> History:
    """A history of ``days`` days ending ``end`` (today); ``planted=False`` gives one with no effect at all."""
    rng = np.random.default_rng(seed)
    end = end or date.today()
    calendar = [end - timedelta(days=days - 1 - i) for i in range(days)]
    log, logged = _lifestyle(rng, calendar)
    routine = _routine(calendar)
    redness, spot_rate, tone = _skin(rng, log, logged, 1.0 if planted else 0.0)
    scores = _scores(rng, calendar, redness, spot_rate, tone)
    log = log[logged].reset_index(drop=True)
    uses = pd.DataFrame(
        [(d, p, t) for d in log["day"] for p, t in _active(routine, d)], columns=["day", "product", "time_of_day"]
    )
    return History(scores, log, routine, uses)


def _lifestyle(rng: np.random.Generator, calendar: list[date]) -> tuple[pd.DataFrame, np.ndarray]:
    """The lifestyle log of every day of ``calendar``, and which days were logged."""
    days = len(calendar)
    logged = rng.random(days) < 0.92
    sleep = np.clip(np.round(rng.normal(6.9, 1.0, days) * 4) / 4, 3, 11)
    dairy = rng.random(days) < 0.3
    log = pd.DataFrame(
        {
            "day": pd.to_datetime(calendar),
            "sleep_hours": sleep,
            "sleep_quality": rng.integers(1, 6, days),
            "water_l": np.clip(np.round(rng.normal(2.0, 0.6, days), 1), 0.3, 5),
            "stress": rng.integers(1, 6, days),
            "exercise_min": np.where(rng.random(days) < 0.4, rng.integers(30, 70, days), 0),
            "alcohol_units": np.where(rng.random(days) < 0.15, rng.integers(2, 5, days), 0).astype(float),
            "sun_min": rng.integers(0, 60, days),
            "diet": [
                [tag for tag, on in (("dairy", d), ("sugar", s), ("vegetables", v)) if on]
                for d, s, v in zip(dairy, rng.random(days) < 0.3, rng.random(days) < 0.5, strict=True)
            ],
            "note": None,
        }
    )
    return log, logged


def _routine(calendar: list[date]) -> pd.DataFrame:
    """A cleanser from the first day, the placebo serum from day 15, the treatment from half-way."""
    days = len(calendar)
    start_placebo, start_treatment = calendar[min(14, days - 1)], calendar[days // 2]
    return pd.DataFrame(
        {
            "product": ["Gentle cleanser", PLACEBO, TREATMENT],
            "kind": ["cleanser", "serum", "treatment"],
            "time_of_day": ["AM+PM", "AM", "PM"],
            "start": pd.to_datetime([calendar[0], start_placebo, start_treatment]),
            "stop": pd.to_datetime([None, None, None]),
        }
    )


def _skin(
    rng: np.random.Generator, log: pd.DataFrame, logged: np.ndarray, gain: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each day's redness, spot rate and tone: a slow wandering baseline plus the planted effects
    (times ``gain``) of short sleep, dairy and the treatment."""
    days = len(log)
    sleep, dairy = log["sleep_hours"].to_numpy(), np.array(["dairy" in tags for tags in log["diet"]])
    drift = np.zeros(days)
    for i in range(1, days):
        drift[i] = 0.8 * drift[i - 1] + rng.normal(0, 0.35)
    short_sleep_yesterday = np.r_[False, (sleep < 6)[:-1] & logged[:-1]]
    dairy_two_days_ago = np.r_[False, False, (dairy & logged)[:-2]]
    treated = np.clip((np.arange(days) - days // 2) / 10, 0, 1)
    redness = 12 + drift + gain * (1.5 * short_sleep_yesterday + TREATMENT_EFFECT * treated)
    spot_rate = 4.0 * (1 + gain * 0.8 * dairy_two_days_ago)
    tone = 38 + 0.5 * drift
    return redness, spot_rate, tone


def _scores(
    rng: np.random.Generator, calendar: list[date], redness: np.ndarray, spot_rate: np.ndarray, tone: np.ndarray
) -> pd.DataFrame:
    """The check-ins (most mornings, a few evenings) with their scores, measurement noise added."""
    rows, entry_id = [], 0
    for i, day in enumerate(calendar):
        times = [8] * (rng.random() < 0.88) + [21] * (rng.random() < 0.1)
        for hour in times:
            entry_id += 1
            taken = datetime.combine(day, datetime.min.time()) + timedelta(hours=hour, minutes=int(rng.integers(0, 50)))
            spots = rng.multinomial(rng.poisson(spot_rate[i]), [s for s, _ in REGION_SHARES.values()])
            face_red = redness[i] + rng.normal(0, 0.6)
            for (region, (_, offset)), count in zip(REGION_SHARES.items(), spots, strict=True):
                rows += [
                    (taken, entry_id, SOURCE, "redness", region, face_red + offset + rng.normal(0, 0.3)),
                    (taken, entry_id, SOURCE, "red_spots", region, float(count)),
                    (taken, entry_id, SOURCE, "ita", region, tone[i] + rng.normal(0, 1.0)),
                ]
            rows += [
                (taken, entry_id, SOURCE, "redness", "face", face_red + 0.4),
                (taken, entry_id, SOURCE, "red_spots", "face", float(spots.sum())),
                (taken, entry_id, SOURCE, "ita", "face", tone[i] + rng.normal(0, 0.8)),
            ]
    return pd.DataFrame(rows, columns=["taken_at", "entry_id", "source", "condition", "region", "value"])


def _active(routine: pd.DataFrame, day: pd.Timestamp) -> list[tuple[str, str]]:
    on = routine[(routine["start"] <= day) & (routine["stop"].isna() | (routine["stop"] >= day))]
    return [(p, t) for p, times in zip(on["product"], on["time_of_day"], strict=True) for t in times.split("+")]


def face_image(redness: float, spots: int, seed: int, size: int = 512) -> bytes:
    """A drawn, clearly fake aligned face (JPEG): skin tinted by ``redness``, ``spots`` red dots."""
    rng = np.random.default_rng(seed)
    tint = float(np.clip((redness - 12) * 6, -30, 40))
    skin = (
        int(np.clip(222 + tint * 0.3, 0, 255)),
        int(np.clip(182 - tint, 0, 255)),
        int(np.clip(152 - tint * 0.8, 0, 255)),
    )
    img = Image.new("RGB", (size, size), (236, 236, 240))
    d = ImageDraw.Draw(img)
    s = size / 512
    d.ellipse([96 * s, 40 * s, 416 * s, 480 * s], fill=skin, outline=(150, 110, 90), width=int(3 * s))
    for x in (190, 322):
        d.ellipse([(x - 30) * s, 200 * s, (x + 30) * s, 228 * s], fill=(250, 250, 250), outline=(90, 70, 60))
        d.ellipse([(x - 10) * s, 204 * s, (x + 10) * s, 224 * s], fill=(70, 50, 40))
        d.line([(x - 36) * s, 178 * s, (x + 36) * s, 172 * s], fill=(90, 60, 40), width=int(6 * s))
    d.line([256 * s, 220 * s, 244 * s, 312 * s, 262 * s, 318 * s], fill=(160, 110, 90), width=int(3 * s))
    d.arc([200 * s, 340 * s, 312 * s, 400 * s], 20, 160, fill=(170, 70, 70), width=int(6 * s))
    for _ in range(spots):
        cx, cy = rng.uniform(150, 362) * s, rng.choice([rng.uniform(90, 160), rng.uniform(250, 420)]) * s
        r = rng.uniform(4, 8) * s
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(200, 60, 60))
    d.text((12 * s, 12 * s), "DEMO - generated, not a photo", fill=(120, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def default_home() -> Path:
    """Where the demo goes without --home: beside, never inside, the real data home."""
    return Path.home() / ".skintrack-demo"


def prepare_home(home: Path) -> Settings:
    """Make ``home`` an empty demo home: refused when it holds data that is not a demo's."""
    settings = Settings.for_home(home)
    if not settings.is_demo:
        holds_data = settings.db_path.exists() or (settings.images_dir.exists() and any(settings.images_dir.iterdir()))
        if holds_data:
            raise BadValue(f"{home} holds a skintrack history that is not a demo; choose an empty folder with --home")
    for path in (settings.db_path, settings.db_path.with_name(settings.db_path.name + ".wal")):
        path.unlink(missing_ok=True)
    shutil.rmtree(settings.images_dir, ignore_errors=True)
    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / DEMO_MARKER).write_text("Generated by `python -m skintrack demo`: not anyone's real data.\n")
    return settings


def build(home: Path, days: int = 120, seed: int = 1) -> Settings:
    """Fill ``home`` with a generated history (replacing an earlier demo there)."""
    settings = prepare_home(home)
    history = generate(days, seed)
    face_rows = (
        history.scores[history.scores["region"] == "face"]
        .pivot_table(index=["entry_id", "taken_at"], columns="condition", values="value")
        .reset_index()
    )
    by_entry = {k: list(g.itertuples(index=False)) for k, g in history.scores.groupby("entry_id")}
    new = []
    for row in face_rows.itertuples(index=False):
        jpeg = face_image(row.redness, int(row.red_spots), seed=seed * 100_000 + int(row.entry_id))
        new.append(
            store.NewEntry(
                taken_at=pd.Timestamp(row.taken_at).to_pydatetime(),
                image_sha256=hashlib.sha256(jpeg).hexdigest(),
                original_jpeg=jpeg,
                aligned_jpeg=jpeg,
                width=512,
                height=512,
                quality={"demo": True},
                alignment_rms=0.0,
                yaw=0.0,
                pitch=0.0,
                roll=0.0,
                scores=[(s.source, s.condition, s.region, float(s.value)) for s in by_entry[row.entry_id]],
            )
        )
    store.add_entries(settings, new)
    for item in history.routine.itertuples(index=False):
        products.save_product(settings, item.product, kind=item.kind)
        products.start(settings, item.product, item.start.date(), item.time_of_day)
    used = {day: list(zip(g["product"], g["time_of_day"], strict=True)) for day, g in history.uses.groupby("day")}
    days = []
    for rec in history.log.to_dict("records"):
        day = rec.pop("day")
        values = {
            k: (None if isinstance(v, float) and np.isnan(v) else v.item() if hasattr(v, "item") else v)
            for k, v in rec.items()
        }
        days.append((day.date(), values, used.get(day, [])))
    store.log_days(settings, days)
    return settings


# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=120, help="days of history to generate (default 120)")
    parser.add_argument(
        "--seed", type=int, default=1, help="random seed (default 1: a history where all three planted effects show)"
    )


def run(args: argparse.Namespace) -> int:
    if not 14 <= args.days <= 3650:
        raise BadValue(f"--days {args.days} is out of range: 14-3650")
    home = Path(args.home).expanduser() if args.home else default_home()
    settings = build(home, args.days, args.seed)
    print(f"demo home ready: {settings.home} ({args.days} days of generated history)")
    print("planted: short sleep -> redness +1.5 a* next day; dairy -> red spots +80% two days later;")
    print(f"         {TREATMENT} -> redness {TREATMENT_EFFECT:+} a* once settled. Nothing else has an effect.")
    print(f"open it: SKINTRACK_HOME={settings.home} make run")
    return 0
