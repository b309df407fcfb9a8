"""Change detection beyond the noise band."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skintrack.stats import changes


def test_changes_only_beyond_the_noise_band():
    days = pd.date_range("2026-01-01", periods=20)
    values = np.r_[np.tile([10.0, 10.4], 5), [10.2, 10.2, 10.2, 13.0, 13.0, 13.0, 13.2, 13.2, 13.2, 13.2]]
    daily = pd.DataFrame({"day": days, "condition": "redness", "region": "face", "value": values, "n": 1})
    bands = changes.noise_bands(daily, measured=lambda condition, region: 0.5)
    assert bands.iloc[0]["basis"] == "measured"
    out = changes.compare_days(daily, days[0], days[-1], bands)
    assert out.iloc[0]["verdict"] == "higher" and out.iloc[0]["change"] == pytest.approx(3.2)
    small = changes.compare_days(daily, days[0], days[1], bands)
    assert small.iloc[0]["verdict"] == "within noise"
    spread = changes.noise_bands(daily)  # no published repeatability: the day-to-day spread
    assert spread.iloc[0]["basis"] == "day-to-day spread"
    assert spread.iloc[0]["band"] == pytest.approx(1.96 * np.std(np.diff(values), ddof=1))
    recent = changes.recent_changes(daily, bands)
    assert recent.iloc[0]["verdict"] == "higher"
