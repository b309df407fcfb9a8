"""Report: a file for the dermatologist over a chosen period, and a daily reminder for the calendar."""

from datetime import date, time

import streamlit as st

import appstate
from skintrack.report import document, guidance, reminders, report

st.title("Report and reminder")
settings = appstate.settings()
scores = appstate.scores(str(settings.home))

st.subheader("A report for your dermatologist")
if scores.empty:
    st.info(
        "No check-ins yet, so there is nothing to report. Start on the Check-in page; come back after a few weeks of photos."
    )
else:
    first_day = scores["taken_at"].min().date()
    start, end = report.default_period(scores)
    period = st.date_input(
        "Period", value=(max(start, first_day), end), min_value=first_day, max_value=date.today(), format="YYYY-MM-DD"
    )
    st.caption(
        "The report holds the trend charts, your aligned photos at the start and end, acne grades and lesion "
        "counts when the acne model scored them, the products you logged and the insights. It is made on this "
        "computer; nothing is uploaded."
    )
    if len(period) == 2 and st.button("Make the report", type="primary"):
        bar = st.progress(0.0, "Making the report...")
        try:
            rendered = document.make(settings, period[0], period[1], progress=lambda f, what: bar.progress(f, what))
        except report.EmptyPeriod as exc:
            bar.empty()
            st.info(f"{str(exc).capitalize()}.")
        else:
            bar.empty()
            st.session_state["report"] = rendered
            st.toast("Report ready", icon=":material/check:")
    rendered = st.session_state.get("report")
    if rendered is not None:
        rep = rendered.report
        stem = document.file_stem(rep.start, rep.end)
        st.success(
            f"Report of {rep.start:%d %b %Y} to {rep.end:%d %b %Y}: {rep.checkins} check-ins, "
            f"{len(rep.charts)} trend charts, {rep.days_logged} logged day{'' if rep.days_logged == 1 else 's'}."
        )
        c1, c2 = st.columns(2)
        c1.download_button(
            "Download HTML", rendered.html, f"{stem}.html", "text/html", icon=":material/download:", on_click="ignore"
        )
        if rendered.pdf is not None:
            c2.download_button(
                "Download PDF",
                rendered.pdf,
                f"{stem}.pdf",
                "application/pdf",
                icon=":material/picture_as_pdf:",
                on_click="ignore",
            )
        if rendered.note:
            st.caption(rendered.note)

st.subheader("A daily reminder")
at = st.time_input("Remind me every day at", value=time(8, 0), step=900)
st.caption(
    "Downloads a calendar file: open it with your calendar app (Google Calendar, Apple Calendar, Outlook) "
    "to add a repeating daily event with an alert. Importing a new one replaces the old time in most apps."
)
st.download_button(
    "Download reminder (.ics)",
    reminders.daily_reminder(at, uid="skintrack-daily-checkin"),
    f"skintrack-reminder-{at:%H%M}.ics",
    "text/calendar",
    icon=":material/event:",
    on_click="ignore",
)
st.caption(guidance.DISCLAIMER)
