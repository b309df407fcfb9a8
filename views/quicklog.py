"""Today's quick log (sleep, stress, the routine's products) as one small form; the Check-in page
shows it right after a save, so a phone check-in and the day's log take a few taps."""

from datetime import date

import streamlit as st

import appstate
from skintrack import quicklog
from skintrack.config import Settings
from skintrack.db import lifestyle, store

STRESS_WORDS = {1: "1 calm", 2: "2", 3: "3", 4: "4", 5: "5 high"}


def quick_log(settings: Settings) -> None:
    today = date.today()
    start = quicklog.start(settings, today)
    st.subheader("Today's log")
    with st.form(f"quick-log-{today}", border=False):
        slept = int(start.sleep_hours) if start.sleep_hours in quicklog.SLEEP_CHOICES else None
        sleep = st.segmented_control(
            "Sleep last night (hours)", quicklog.SLEEP_CHOICES, default=slept, format_func=lambda h: f"{h} h"
        )
        stress = st.segmented_control(
            "Stress", quicklog.STRESS_CHOICES, default=start.stress, format_func=STRESS_WORDS.get
        )
        used = (
            st.pills(
                "Products used today (your routine)",
                start.offered,
                selection_mode="multi",
                default=start.used,
                format_func=lambda u: f"{u[0]} ({u[1]})",
            )
            if start.offered
            else []
        )
        saved = st.form_submit_button("Save today's log", type="primary", width="stretch")
    if saved:
        try:
            quicklog.save(settings, today, sleep, stress, list(used or []))
        except (lifestyle.InvalidLog, store.StoreError) as exc:
            st.error(f"Not saved: {exc}")
        else:
            appstate.data_changed()
            st.success(f"Logged {today:%A %d %B}. More fields (water, diet, a note) are on the Lifestyle page.")
