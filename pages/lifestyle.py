"""Lifestyle: log a day's sleep, water, stress, exercise, diet, alcohol, sun, products and a note."""

from datetime import date

import streamlit as st

import appstate
from skintrack import lifestyle, store

st.title("Lifestyle")
settings = appstate.settings()
day = st.date_input("Day", value=date.today(), max_value=date.today())
saved = store.get_day(settings, day) or {}
if saved:
    st.caption(f"{day:%A %d %B %Y} is logged; change anything and save again.")


def _num(name: str, step: float = 1.0):
    spec = lifestyle.NUMERIC_FIELDS[name]
    value = saved.get(name)
    return st.number_input(
        f"{spec.label} ({spec.unit})", min_value=float(spec.low), max_value=float(spec.high),
        value=None if value is None else float(value), step=step, key=f"{name}-{day}",
    )  # fmt: skip


with st.form(f"log-{day}"):
    c1, c2, c3 = st.columns(3)
    with c1:
        sleep_hours = _num("sleep_hours", 0.5)
        sleep_quality = _num("sleep_quality")
        water = _num("water_l", 0.25)
    with c2:
        stress = _num("stress")
        exercise = _num("exercise_min", 5.0)
        alcohol = _num("alcohol_units", 0.5)
    with c3:
        sun = _num("sun_min", 5.0)
        cycle_day = _num("cycle_day")
    known_tags = sorted(set(lifestyle.DIET_TAGS) | set(saved.get("diet") or []))
    diet = st.multiselect("Diet", known_tags, default=saved.get("diet") or [], accept_new_options=True)
    used = saved.get("products") or []
    names = sorted(set(store.product_names(settings)) | {n for n, _ in used})
    am = st.multiselect("Products in the morning", names, default=[n for n, t in used if t == "AM"], accept_new_options=True)
    pm = st.multiselect("Products in the evening", names, default=[n for n, t in used if t == "PM"], accept_new_options=True)
    note = st.text_area("Note", value=saved.get("note") or "", max_chars=lifestyle.MAX_NOTE)
    submitted = st.form_submit_button("Save the day", type="primary")

if submitted:
    raw = {
        "sleep_hours": sleep_hours, "sleep_quality": sleep_quality, "water_l": water, "stress": stress,
        "exercise_min": exercise, "alcohol_units": alcohol, "sun_min": sun, "cycle_day": cycle_day,
        "diet": diet, "note": note,
    }  # fmt: skip
    try:
        values = lifestyle.validate(raw)
        products = lifestyle.validate_products([(n, "AM") for n in am] + [(n, "PM") for n in pm])
        store.log_day(settings, day, values, products)
    except (lifestyle.InvalidLog, store.StoreError) as exc:
        st.error(str(exc))
    else:
        appstate.data_changed()
        st.toast(f"Saved {day:%d %b}", icon=":material/check:")
        st.success(f"Saved the log of {day:%A %d %B %Y}.")
