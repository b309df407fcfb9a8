"""``python -m skintrack insights [--json]``: what goes with better or worse skin, and how sure.

Collects the home's scores, lifestyle log and product routine, runs the analytics, and
puts each finding into plain, cautious words. The Trends page shows the same report.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field

import pandas as pd

from skintrack.capture import labels, measure
from skintrack.config import Settings
from skintrack.db import measurements, products, schema, store
from skintrack.errors import BadValue
from skintrack.stats import analytics, before_after, changes, effects
from skintrack.stats.analytics import WHOLE_FACE
from skintrack.stats.effects import InsightConfig

CAVEAT = (
    "These are associations in your own records, not proof of cause and not a diagnosis: "
    "something else that changed on the same days may be behind them."
)


@dataclass
class Report:
    """The insights of one data home: findings, the tests behind them, and what lacks data."""

    lagged: pd.DataFrame
    products: pd.DataFrame
    changes: pd.DataFrame
    days_with_checkins: int
    days_logged: int
    config: InsightConfig = field(default_factory=InsightConfig)
    # The yes/no factors of each logged day and their words, as tested (``effects.exposures``).
    factors: pd.DataFrame = field(default_factory=pd.DataFrame)
    words: dict[str, str] = field(default_factory=dict)

    @property
    def findings(self) -> pd.DataFrame:
        return self.lagged[self.lagged["status"] == "reported"].sort_values("q")

    @property
    def product_findings(self) -> pd.DataFrame:
        return self.products[self.products["status"] == "reported"].sort_values("q")


def compute(
    scores: pd.DataFrame,
    log: pd.DataFrame,
    routine: pd.DataFrame,
    uses: pd.DataFrame,
    config: InsightConfig = InsightConfig(),
    regions: tuple[str, ...] | None = (WHOLE_FACE,),
) -> Report:
    """The report from the stored frames; ``regions=None`` tests every region (more tests, less power)."""
    return from_daily(analytics.daily_values(scores, regions), log, routine, uses, config)


def from_daily(
    daily: pd.DataFrame,
    log: pd.DataFrame,
    routine: pd.DataFrame,
    uses: pd.DataFrame,
    config: InsightConfig = InsightConfig(),
) -> Report:
    """The report from daily values (``analytics.daily_values`` or ``measurements.read_daily_values``)."""
    factors, words = effects.exposures(log)
    bands = changes.noise_bands(daily, measure.noise_band)
    return Report(
        lagged=effects.lagged_effects(daily, factors, config),
        products=before_after.product_effects(daily, before_after.product_periods(routine, uses), config),
        changes=changes.recent_changes(daily, bands),
        days_with_checkins=int(daily["day"].nunique()) if not daily.empty else 0,
        days_logged=len(log),
        config=config,
        factors=factors,
        words=words,
    )


def report(
    settings: Settings, config: InsightConfig = InsightConfig(), regions: tuple[str, ...] | None = (WHOLE_FACE,)
) -> Report:
    """The report of a data home, read over one connection with the daily means taken by DuckDB."""
    with schema.connect(settings) as con:
        daily = measurements.read_daily_values(con, regions)
        log = store.read_lifestyle(con)
        routine, uses = products.read_routine(con), products.read_uses(con)
    return from_daily(daily, log, routine, uses, config)


# ---------------------------------------------------------------- plain words


def _label(condition: str) -> tuple[str, str]:
    """The label in running text ("redness", not "Redness (a*)") and the unit."""
    label, unit = labels.label_unit(condition)
    return label.split(" (")[0].lower(), unit


def _where(region: str) -> str:
    return "the whole face" if region == WHOLE_FACE else f"the {region.replace('_', ' ')}"


def _amount(value: float, unit: str) -> str:
    return f"{abs(value):.2g} {unit}".strip() if abs(value) < 10 else f"{abs(value):.0f} {unit}".strip()


def _size(row, unit: str) -> tuple[str, str]:
    """'30% higher' and '95% CI 12-50%' (relative when meaningful, else in the unit)."""
    direction = "higher" if row["effect"] > 0 else "lower"
    if isinstance(row["relative"], float) and math.isfinite(row["relative"]):
        lo, hi = sorted((abs(row["rel_low"]) * 100, abs(row["rel_high"]) * 100))
        if row["rel_low"] * row["rel_high"] < 0:
            lo = 0
        return f"{abs(row['relative']) * 100:.0f}% {direction}", f"{lo:.0f}-{hi:.0f}%"
    lo, hi = sorted((abs(row["low"]), abs(row["high"])))
    return f"{_amount(row['effect'], unit)} {direction}", f"{lo:.2g}-{hi:.2g} {unit}".strip()


def lagged_sentence(row, words: str, along: list[str] = ()) -> str:
    """One lagged finding in words, e.g. '1 day after nights under 6 h of sleep, redness ...';
    ``along`` holds the words of factors that often came on the same days."""
    label, unit = _label(row["condition"])
    size, interval = _size(row, unit)
    when = f"On {words}" if row["lag"] == 0 else f"{row['lag']} day{'s' if row['lag'] > 1 else ''} after {words}"
    text = (
        f"{when}, {label} on {_where(row['region'])} averaged {size} than otherwise "
        f"(95% CI {interval}, adjusted for {row['tests']} comparisons; {row['n_days']} days of data, "
        f"{row['n_exposed']} of them after such days)."
    )
    if along:
        text += f" Such days often came with {' and '.join(along)} too, so their effects cannot be told apart."
    return text


def product_sentence(row, config: InsightConfig) -> str:
    """One product finding, or why there is none yet."""
    label, unit = _label(row["condition"])
    if row["status"] == "not enough data":
        return f"{row['product']}: not enough data yet to judge it ({row['reason']})."
    size, interval = _size(row, unit)
    others = (
        f" {row['others']} also started or stopped around then, so this cannot be pinned on {row['product']} alone."
        if row["others"]
        else ""
    )
    return (
        f"Once {row['product']} had settled in ({config.settle_days} days), {label} on {_where(row['region'])} averaged "
        f"{size} than in the {config.window_days} days before it started (95% CI {interval}, adjusted; "
        f"{row['n_before']} and {row['n_after']} days of check-ins). A before/after comparison cannot rule out "
        f"other changes at the same time.{others}"
    )


def change_sentence(row) -> str:
    label, unit = _label(row["condition"])
    basis = "its measured repeatability" if row["basis"] == "measured" else "its day-to-day spread"
    return (
        f"Over the last 7 days {label} on {_where(row['region'])} averaged {row['recent']:.3g} {unit}, "
        f"{_amount(row['change'], unit)} {row['verdict']} than the 7 days before: more than the measurement's noise "
        f"(±{row['band']:.2g} {unit}, from {basis})."
    ).replace("  ", " ")


def sentences(rep: Report, log: pd.DataFrame | None = None) -> list[str]:
    """Every reported finding in words, most certain first; then the products without enough data."""
    if rep.days_with_checkins == 0:
        return ["No check-ins yet: insights need a few weeks of daily photos and lifestyle logs."]
    factors, words = effects.exposures(log) if log is not None else (rep.factors, rep.words)
    out = [
        lagged_sentence(
            r, words.get(r["factor"], r["factor"]), [words.get(c, c) for c in effects.companions(factors, r["factor"])]
        )
        for _, r in rep.findings.iterrows()
    ]
    out += [product_sentence(r, rep.config) for _, r in rep.product_findings.iterrows()]
    out += [change_sentence(r) for _, r in rep.changes.iterrows() if r["verdict"] in ("higher", "lower")]
    tested = rep.lagged["status"].isin(["tested", "reported"]).any()
    if not tested:
        out.append(
            f"Not enough data yet for lifestyle effects: a factor needs {rep.config.min_days} days with both a log and "
            f"a check-in, at least {rep.config.min_group} of them with the factor and {rep.config.min_group} without "
            f"({analytics.counted(rep.days_with_checkins, 'day')} with check-ins and "
            f"{analytics.counted(rep.days_logged, 'logged day')} so far)."
        )
    elif rep.findings.empty:
        m = int(rep.lagged["tests"].iloc[0])
        out.append(
            f"No lifestyle factor stands out yet: none of the {m} factor, delay and score combinations tested "
            "differs by more than chance would explain."
        )
    window = rep.config.history_days
    if tested and window is not None and rep.days_with_checkins > window:
        out.append(
            f"Lifestyle effects are looked for in the last {window} days, so that they describe your skin as it "
            f"is now ({rep.days_with_checkins} days with check-ins in all; `insights --history-days 0` uses every day)."
        )
    pending = rep.products[rep.products["status"] == "not enough data"].drop_duplicates("product")
    out += [product_sentence(r, rep.config) for _, r in pending.iterrows()]
    return out


def finding_labels(rep: Report, log: pd.DataFrame | None = None) -> list[str]:
    """Short labels of the reported lifestyle findings, for a chart's rows."""
    words = effects.exposures(log)[1] if log is not None else rep.words
    return [
        f"{words.get(f, f)}, +{lag} d: {_label(c)[0]}"
        for f, lag, c in zip(rep.findings["factor"], rep.findings["lag"], rep.findings["condition"], strict=True)
    ]


_FINDING_FIELDS = [
    "factor",
    "lag",
    "condition",
    "region",
    "effect",
    "low",
    "high",
    "relative",
    "rel_low",
    "rel_high",
    "n_days",
    "n_exposed",
    "n_unexposed",
    "p",
    "q",
]
_PRODUCT_FIELDS = [
    "product",
    "start",
    "condition",
    "region",
    "before",
    "after",
    "effect",
    "low",
    "high",
    "relative",
    "n_before",
    "n_after",
    "p",
    "q",
    "others",
]


def _plain(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    """The rows of ``columns`` as JSON values: None for NaN, ISO dates, Python numbers."""
    out = []
    for rec in frame[columns].to_dict("records"):
        out.append(
            {
                k: (
                    None
                    if isinstance(v, float) and not math.isfinite(v)
                    else v.date().isoformat()
                    if isinstance(v, pd.Timestamp)
                    else v.item()
                    if hasattr(v, "item")
                    else v
                )
                for k, v in rec.items()
            }
        )
    return out


def _findings(rep: Report, log: pd.DataFrame | None) -> list[dict]:
    """The lagged findings as plain data, each with its factor in words and the factors that come with it."""
    factors, words = effects.exposures(log) if log is not None else (rep.factors, rep.words)
    findings = _plain(rep.findings, _FINDING_FIELDS)
    for item in findings:
        item["words"] = words.get(item["factor"], item["factor"])
        item["comes_with"] = effects.companions(factors, item["factor"])
    return findings


def to_json(rep: Report, log: pd.DataFrame | None = None) -> dict:
    """The report as plain data: each finding with its factor, lag, score, region, effect and interval."""
    pending = rep.products[rep.products["status"] == "not enough data"].drop_duplicates("product")
    return {
        "days_with_checkins": rep.days_with_checkins,
        "days_logged": rep.days_logged,
        "lifestyle_tests": int(rep.lagged["status"].isin(["tested", "reported"]).sum()),
        "product_tests": int(rep.products["status"].isin(["tested", "reported"]).sum()),
        "false_discovery_rate": rep.config.alpha,
        "history_days": rep.config.history_days,
        "findings": _findings(rep, log),
        "products": _plain(rep.product_findings, _PRODUCT_FIELDS),
        "changes": _plain(
            rep.changes[rep.changes["verdict"].isin(["higher", "lower"])],
            ["condition", "region", "recent", "earlier", "change", "band", "basis", "verdict"],
        ),
        "not_enough_data": [{"product": r["product"], "reason": r["reason"]} for _, r in pending.iterrows()],
        "caveat": CAVEAT,
    }


# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument("--all-regions", action="store_true", help="test every face region, not only the whole face")
    parser.add_argument(
        "--bootstrap", type=int, default=InsightConfig.n_boot, help="bootstrap resamples (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap random seed (default 0)")
    parser.add_argument(
        "--history-days",
        type=int,
        default=InsightConfig.history_days,
        help="lifestyle effects: analyse the last N days of check-ins (default %(default)s; 0: the whole history)",
    )


def run(args: argparse.Namespace) -> int:
    if not 50 <= args.bootstrap <= 100_000:
        raise BadValue(f"--bootstrap {args.bootstrap} is out of range: 50-100000")
    if args.history_days < 0:
        raise BadValue(f"--history-days {args.history_days} is negative: give a number of days, or 0 for all")
    config = InsightConfig(n_boot=args.bootstrap, seed=args.seed, history_days=args.history_days or None)
    rep = report(args.settings, config, None if args.all_regions else (WHOLE_FACE,))
    if args.json:
        print(json.dumps(to_json(rep), indent=2))
        return 0
    print(
        f"{analytics.counted(rep.days_with_checkins, 'day')} with check-ins, "
        f"{analytics.counted(rep.days_logged, 'logged day')}."
    )
    for line in sentences(rep):
        print(f"- {line}")
    print(CAVEAT)
    return 0
