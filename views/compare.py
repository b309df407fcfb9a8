"""Compare: two days side by side from the aligned photos, a slider between them, the change
in each score per region (called a change only beyond the noise), and a time-lapse."""

from datetime import timedelta

import streamlit as st

import appstate
from skintrack.capture import labels, measure
from skintrack.db import store
from skintrack.errors import Refused
from skintrack.report import charts
from skintrack.stats import analytics, changes

st.title("Compare")
settings = appstate.settings()
home = str(settings.home)
entries = store.entries(settings)
days = analytics.entry_days(entries)
if len(days) < 2:
    st.info("Compare needs check-ins on at least two days. Check in again tomorrow.")
    st.stop()

c1, c2 = st.columns(2)
day_a = c1.selectbox("Before", days, index=0, format_func=lambda d: f"{d:%a %d %b %Y}")
day_b = c2.selectbox("After", days, index=len(days) - 1, format_func=lambda d: f"{d:%a %d %b %Y}")
entry_a = analytics.entries_on(entries, day_a).iloc[0]
entry_b = analytics.entries_on(entries, day_b).iloc[0]
try:
    photo_a, photo_b = (
        store.read_image(settings, entry_a["aligned_path"]),
        store.read_image(settings, entry_b["aligned_path"]),
    )
except OSError:
    st.warning("A photo of these days is missing from the images folder; choose other days.")
    st.stop()

left, right = st.columns(2)
left.image(photo_a, caption=f"{day_a:%d %B %Y}", width="stretch")
right.image(photo_b, caption=f"{day_b:%d %B %Y}", width="stretch")
share = st.slider("Slide between them: before on the left of the line, after on the right", 0.0, 1.0, 0.5, 0.01)
st.image(charts.split_view(photo_a, photo_b, share), width=512)

st.subheader("What changed")
daily = analytics.daily_values(appstate.scores(home))
bands = changes.noise_bands(daily, measure.noise_band)
changes = changes.compare_days(daily, day_a, day_b, bands)
if changes.empty:
    st.info("These two days have no scores in common.")
else:
    order = list(measure.CONDITIONS)
    conditions = sorted(set(changes["condition"]), key=lambda c: (order.index(c) if c in order else len(order), c))
    condition = st.selectbox("Measurement", conditions, format_func=labels.label)
    unit = labels.label_unit(condition)[1]
    one = changes[changes["condition"] == condition]
    st.plotly_chart(
        charts.change_figure(one, f"Change from {day_a:%d %b} to {day_b:%d %b} (whiskers: the noise)", unit),
        width="stretch",
    )
    st.dataframe(
        changes,
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(format="%.2f") for c in ("before", "after", "change", "band")},
    )
    st.caption(
        "A change is called higher or lower only when it is larger than the measurement's noise band "
        "(its measured repeatability, or else the day-to-day spread of your own history)."
    )

st.subheader("Time-lapse")
t1, t2 = st.columns([3, 1])
period = t1.date_input(
    "Period", value=(max(days[0], days[-1] - timedelta(days=90)), days[-1]), min_value=days[0], max_value=days[-1]
)
speed = t2.select_slider("Seconds per photo", [0.1, 0.25, 0.5, 1.0], value=0.25)
if isinstance(period, tuple) and len(period) == 2 and st.button("Make the time-lapse", icon=":material/movie:"):
    frames = analytics.timelapse_entries(entries, period[0], period[1])
    try:
        gif = charts.timelapse_gif(
            [store.read_image(settings, p) for p in frames["aligned_path"]],
            [f"{t:%d %b %Y}" for t in frames["taken_at"]],
            int(speed * 1000),
        )
    except (OSError, Refused) as exc:
        st.error(f"Could not make the time-lapse: {exc}")
    else:
        st.image(gif, caption=f"{len(frames)} days, {period[0]:%d %b} to {period[1]:%d %b %Y}")
        st.download_button(
            "Download the GIF", gif, file_name=f"skintrack-{period[0]}-{period[1]}.gif", mime="image/gif"
        )
