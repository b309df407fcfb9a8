"""skintrack: the Streamlit app. Run with `make run` (http://127.0.0.1:8501)."""

import streamlit as st

import appstate


def main() -> None:
    st.set_page_config(page_title="skintrack", page_icon=":material/face:", layout="wide")
    settings = appstate.settings()
    appstate.startup(str(settings.home))
    if settings.is_demo:
        st.warning("Demo home: this history is generated, not real photos of anyone.", icon=":material/science:")
    pages = [
        st.Page("pages/checkin.py", title="Check-in", icon=":material/photo_camera:", default=True),
        st.Page("pages/lifestyle.py", title="Lifestyle", icon=":material/edit_note:"),
        st.Page("pages/trends.py", title="Trends", icon=":material/monitoring:"),
    ]
    st.navigation(pages).run()
    st.sidebar.caption(f"Data home: `{settings.home}`  \nEverything stays on this computer. Not a medical device.")


main()
