"""Pick the device run's variant and bring it back under the device tool's file limits.

Reads each ``RUNS/<variant>/final.pt`` (the last-epoch EMA weights, chosen without looking
at the valid split), keeps the one with the best valid accuracy (then lesion MAE), splits
it into ``OUT/final.pt.part0..`` of at most 15 MB, and writes ``OUT/summary.json`` with
every variant's final and best-epoch metrics and ``OUT/<variant>.jsonl`` with its history.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import torch

CHUNK = 15 * 1024 * 1024


def main(runs: Path, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for d in sorted(p for p in runs.iterdir() if p.is_dir()):
        row = {}
        for name in ("final", "best"):
            f = d / f"{name}.pt"
            if f.is_file():
                ck = torch.load(f, map_location="cpu", weights_only=False)
                row[name] = {"epoch": ck.get("epoch"), "id": ck.get("id"), **{k: v for k, v in ck["metrics"].items()}}
        if (d / "metrics.jsonl").is_file():
            shutil.copy(d / "metrics.jsonl", out / f"{d.name}.jsonl")
        summary[d.name] = row
    done = {k: v["final"] for k, v in summary.items() if "final" in v}
    if not done:
        print("no variant finished", file=sys.stderr)
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        return 1
    pick = max(done, key=lambda k: (done[k]["accuracy"], -done[k].get("mae_lesions", 0.0)))
    summary["picked"] = pick
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    data = (runs / pick / "final.pt").read_bytes()
    for i in range(0, len(data), CHUNK):
        (out / f"final.pt.part{i // CHUNK}").write_bytes(data[i : i + CHUNK])
    for k, v in done.items():
        print(
            f"{k}: final epoch {v['epoch']} acc {v['accuracy']:.3f} bal {v['balanced_accuracy']:.3f} "
            f"mae {v.get('mae_lesions', float('nan')):.2f}; best acc {summary[k].get('best', {}).get('accuracy')}"
        )
    print(f"picked {pick}: {len(data)} bytes in {(len(data) + CHUNK - 1) // CHUNK} parts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]), Path(sys.argv[2])))
