"""The grouped splits under models/splits (tools/make_splits.py): no group crosses parts."""

from __future__ import annotations

import csv
import sys
from collections import Counter

import pytest
from conftest import ROOT, SHARED

sys.path.insert(0, str(ROOT / "tools"))
import make_splits

SPLITS = ROOT / "models" / "splits"


def rows(name: str) -> list[dict]:
    with (SPLITS / name).open(newline="") as f:
        return list(csv.DictReader(f))


def test_assign_keeps_groups_whole_and_parts_near_their_shares():
    groups = {f"p{i}": [2 * i, 2 * i + 1] for i in range(100)}  # 100 people with two photos each
    strata = [i % 4 for i in range(200)]
    part = make_splits.assign(groups, strata, 4)
    sizes = Counter(part.values())
    assert set(sizes) == set(make_splits.PARTS)
    assert 18 <= sizes["test"] <= 22 and all(14 <= sizes[k] <= 18 for k in "01234")
    assert make_splits.assign(groups, strata, 4) == part  # deterministic


@pytest.mark.parametrize("name, n", [("acne04.csv", 1274), ("acne_frontal.csv", 2557)])
def test_no_group_crosses_parts(name, n):
    r = rows(name)
    assert len(r) == n == len({x["image"] for x in r})
    part_of = {}
    for x in r:
        assert part_of.setdefault(x["group"], x["part"]) == x["part"], x["group"]
    assert Counter(x["part"] for x in r)["test"] > 0.18 * n


@pytest.mark.dataset
@pytest.mark.skipif(not (SHARED / "acne04").is_dir(), reason=f"needs the acne04 data at {SHARED / 'acne04'}")
def test_acne04_split_is_by_the_audits_people():
    from skintrack.model import dataset

    subject = {r["image"]: r["subject"] for r in dataset.read_labels(SHARED / "acne04")}
    r = rows("acne04.csv")
    assert {x["image"]: x["group"] for x in r} == subject
