"""Colour science: the ITA formula and its groups."""

import pytest

from skintrack.capture import colour


def test_ita_formula_and_groups():
    assert colour.ita_degrees(70.0, 20.0) == pytest.approx(45.0)
    assert colour.ita_degrees(50.0, 15.0) == pytest.approx(0.0)
    assert colour.ita_degrees(30.0, 20.0) == pytest.approx(-45.0)
    groups = [colour.ita_group(x) for x in (60, 50, 30, 20, 0, -40)]
    assert groups == ["very light", "light", "intermediate", "tan", "brown", "dark"]
    assert colour.ita_group(55.0) == "light"  # bounds belong to the darker group
