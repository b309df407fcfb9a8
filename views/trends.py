"""Trends: a measurement over time with its rolling mean, a lifestyle factor, product periods,
the photo of a clicked day, and the insights in plain words."""

import streamlit as st

import appstate
from skintrack.capture import labels, measure
from skintrack.db import lifestyle, store
from skintrack.report import charts
from skintrack.stats import analytics, insights

st.title("Trends")
settings = appstate.settings()
home = str(settings.home)
available = appstate.catalogue(home)
if available.empty:
    st.info("No check-ins yet. Start on the Check-in page: one photo a day is enough.")
    st.stop()

conditions = [c for c in measure.CONDITIONS if c in set(available["condition"])] or sorted(set(available["condition"]))
conditions += sorted(set(available["condition"]) - set(conditions))
names = {c: labels.label(c) for c in conditions}
c1, c2, c3 = st.columns(3)
condition = c1.selectbox("Measurement", conditions, format_func=names.get)
regions = list(available.loc[available["condition"] == condition, "region"])
region = c2.selectbox(
    "Region",
    regions,
    index=regions.index("face") if "face" in regions else 0,
    format_func=lambda r: r.replace("_", " "),
)
factors = [None, *lifestyle.NUMERIC_FIELDS]
factor = c3.selectbox(
    "Lifestyle overlay", factors, format_func=lambda f: "none" if f is None else lifestyle.NUMERIC_FIELDS[f].label
)
show_products = st.toggle("Show product periods", value=True)

view = appstate.trend(home, condition, region)
series = view.series
overlay = analytics.lifestyle_series(view.log, factor) if factor else None
periods = view.periods if show_products else None
unit = labels.label_unit(condition)[1]
factor_label = lifestyle.NUMERIC_FIELDS[factor].label if factor else None
fig = charts.trend_figure(
    series, f"{names[condition]}, {region.replace('_', ' ')}", unit, overlay, factor_label, periods
)
event = st.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode="points", key="trend")
st.caption(
    f"{analytics.counted(len(series), 'day')} with check-ins. Points are daily means; the line is the 7-day mean with a band of "
    "one standard deviation. Click a point to see that day's photo."
)

day = analytics.selected_day(event.selection.points if event else [])
if day is not None:
    shown = analytics.entries_on(store.entries(settings), day)
    if shown.empty:
        st.info(f"No photo stored for {day:%d %B %Y}.")
    else:
        try:
            photos = [store.read_image(settings, p) for p in shown["aligned_path"]]
        except OSError:
            st.warning(f"The photo of {day:%d %B %Y} is missing from the images folder.")
        else:
            st.image(photos, width=256, caption=[f"{t:%A %d %B %Y, %H:%M}" for t in shown["taken_at"]])

st.header("Insights")
report = appstate.insights_report(home)
st.markdown("\n".join(f"- {line}" for line in insights.sentences(report)))
st.caption(insights.CAVEAT)
if not report.findings.empty:
    st.plotly_chart(charts.effects_figure(report.findings, insights.finding_labels(report)), width="stretch")
with st.expander(f"Every test ({len(report.lagged)} lifestyle, {len(report.products)} product)"):
    st.dataframe(report.lagged, hide_index=True, width="stretch")
    st.dataframe(report.products, hide_index=True, width="stretch")
