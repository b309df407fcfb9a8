"""skintrack: the Streamlit app. Run with `make run` (http://127.0.0.1:8501)."""

import streamlit as st

import appstate
from skintrack.report import guidance


def main() -> None:
    st.set_page_config(page_title="skintrack", page_icon=":material/face:", layout="wide")
    settings = appstate.settings()
    appstate.startup(str(settings.home))
    if settings.is_demo:
        st.warning("Demo home: this history is generated, not real photos of anyone.", icon=":material/science:")
    scores = appstate.scores(str(settings.home))
    referral = guidance.dermatologist_referral(scores)
    if referral is not None:
        st.warning(referral.message, icon=":material/medical_information:")
    welcome = st.Page("views/welcome.py", title="Welcome", icon=":material/waving_hand:")
    pages = [
        welcome,
        st.Page("views/checkin.py", title="Check-in", icon=":material/photo_camera:", default=True),
        st.Page("views/lifestyle.py", title="Lifestyle", icon=":material/edit_note:"),
        st.Page("views/trends.py", title="Trends", icon=":material/monitoring:"),
        st.Page("views/compare.py", title="Compare", icon=":material/compare:"),
        st.Page("views/report.py", title="Report", icon=":material/description:"),
        st.Page("views/data.py", title="Data", icon=":material/folder_managed:"),
    ]
    page = st.navigation(pages)
    if scores.empty and page.url_path == "" and not st.session_state.get("welcomed"):
        # First run: open once on the welcome page; Check-in keeps "/" as its address for every later day.
        st.session_state["welcomed"] = True
        st.switch_page(welcome)
    # Before run(): a page that stops early (st.stop) must not take the standing note with it.
    st.sidebar.caption(
        f"Data home: `{settings.home}`  \nEverything stays on this computer.  \n{guidance.DISCLAIMER_SHORT}"
    )
    page.run()


main()
