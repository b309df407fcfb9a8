"""docs/DESIGN.md is the living description of the code: it names every module, and every
module it names exists (a module added, moved or removed without the page fails here)."""

import re

from conftest import ROOT

DESIGN = ROOT / "docs" / "DESIGN.md"


def modules() -> set[str]:
    core = {str(p.relative_to(ROOT / "skintrack")) for p in (ROOT / "skintrack").rglob("*.py")}
    bench = {str(p.relative_to(ROOT)) for p in (ROOT / "benchmarks").glob("*.py")}
    return {m for m in core | bench if not m.endswith("__init__.py")}


def test_the_design_names_every_module():
    text = DESIGN.read_text()
    missing = sorted(m for m in modules() if f"`{m}`" not in text)
    assert not missing, f"docs/DESIGN.md does not name {missing}"


def test_every_module_the_design_lists_exists():
    listed = set(re.findall(r"^- `([\w/]+\.py)`", DESIGN.read_text(), re.M))
    assert listed and listed <= modules(), sorted(listed - modules())
