"""The data commands: ``export``, ``restore``, ``delete`` and ``backup``.

``__main__`` gives each command its own sub-parser and calls ``add_arguments(parser)`` and
``run(args)`` of the module it names; the four commands share this module, so both
dispatch on the command's name.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from skintrack.db import archive, backup, erase, lifestyle, restore
from skintrack.errors import BadValue


def _command(parser: argparse.ArgumentParser) -> str:
    return parser.prog.split()[-1]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    command = _command(parser)
    if command == "export":
        parser.add_argument("file", help="the zip to write, e.g. skintrack-export.zip")
    elif command == "restore":
        parser.add_argument("file", help="a zip made by `export`")
        parser.add_argument("--check", action="store_true", help="only check the archive; change nothing")
    elif command == "delete":
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--entry", type=int, metavar="ID", help="one entry (its photo, aligned face and scores)")
        what.add_argument("--day", metavar="YYYY-MM-DD", help="every entry and the lifestyle log of one day")
        what.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first day of a range (with --to)")
        what.add_argument("--everything", action="store_true", help="every entry, log, product and backup")
        parser.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last day of the range")
        parser.add_argument("--keep-log", action="store_true", help="with --day or a range: keep the lifestyle log")
        parser.add_argument("--yes", action="store_true", help="confirm --everything")
    elif command == "backup":
        parser.add_argument("--list", action="store_true", help="list the backups instead of making one")


def _run_export(args: argparse.Namespace) -> int:
    info = archive.export(args.settings, Path(args.file))
    print(
        f"exported {info.entries} entries, {info.images} images and {len(info.rows)} tables "
        f"(schema version {info.schema_version}) to {args.file}"
    )
    return 0


def _run_restore(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(f"no archive {path}")
    if args.check:
        info = restore.check(args.settings, path)
        print(
            f"{path} is a valid export: {info.entries} entries, {info.images} images, schema version "
            f"{info.schema_version}, made {info.created}"
        )
        return 0
    info = restore.restore(args.settings, path)
    print(
        f"restored {info.entries} entries and {info.images} images from {path}; the previous data, if any, "
        f"is in {args.settings.backups_dir}"
    )
    return 0


def _run_delete(args: argparse.Namespace) -> int:
    settings = args.settings
    if args.everything:
        if not args.yes:
            raise BadValue("--everything deletes every entry, photo, log and backup; add --yes to confirm")
        done = erase.delete_everything(settings)
    elif args.entry is not None:
        done = erase.delete_entry(settings, args.entry)
    else:
        if args.day:
            first = last = lifestyle.parse_day(args.day)
        else:
            if not args.last:
                raise BadValue("--from needs --to YYYY-MM-DD")
            first, last = lifestyle.parse_day(args.first), lifestyle.parse_day(args.last)
        done = erase.delete_span(settings, first, last, include_log=not args.keep_log)
    print(f"deleted {done.entries} entries, {done.files} image files and {done.days_logged} logged days")
    return 0


def _run_backup(args: argparse.Namespace) -> int:
    if args.list:
        for b in backup.list_backups(args.settings):
            print(f"{b.created:%Y-%m-%d %H:%M:%S}  {b.size / 2**20:7.1f} MB  {b.reason:<28} {b.path}")
        return 0
    print(f"backed up the database to {backup.create(args.settings)}")
    return 0


def run(args: argparse.Namespace) -> int:
    return {"export": _run_export, "restore": _run_restore, "delete": _run_delete, "backup": _run_backup}[args.command](
        args
    )
