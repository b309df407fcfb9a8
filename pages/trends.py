"""Trends: a stored measurement over time, with its rolling mean and one lifestyle factor."""

import streamlit as st

import appstate
from skintrack import analytics, charts, lifestyle, measure

st.title("Trends")
home = str(appstate.settings().home)
scores = appstate.scores(home)
if scores.empty:
    st.info("No check-ins yet. Start on the Check-in page: one photo a day is enough.")
    st.stop()

available = analytics.catalogue(scores)
conditions = [c for c in measure.CONDITIONS if c in set(available["condition"])] or sorted(set(available["condition"]))
labels = {c: measure.CONDITIONS[c].label if c in measure.CONDITIONS else c for c in conditions}
c1, c2, c3 = st.columns(3)
condition = c1.selectbox("Measurement", conditions, format_func=labels.get)
regions = list(available.loc[available["condition"] == condition, "region"])
region = c2.selectbox("Region", regions, index=regions.index("face") if "face" in regions else 0, format_func=lambda r: r.replace("_", " "))
factors = [None, *lifestyle.NUMERIC_FIELDS]
factor = c3.selectbox("Lifestyle overlay", factors, format_func=lambda f: "none" if f is None else lifestyle.NUMERIC_FIELDS[f].label)

series = analytics.daily_series(scores, condition, region)
overlay = analytics.lifestyle_series(appstate.lifestyle(home), factor) if factor else None
unit = measure.CONDITIONS[condition].unit if condition in measure.CONDITIONS else ""
factor_label = lifestyle.NUMERIC_FIELDS[factor].label if factor else None
fig = charts.trend_figure(series, f"{labels[condition]}, {region.replace('_', ' ')}", unit, overlay, factor_label)
st.plotly_chart(fig, use_container_width=True)
st.caption(f"{len(series)} days with check-ins. Points are daily means; the line is the 7-day mean.")
