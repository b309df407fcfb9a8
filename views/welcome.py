"""Welcome: what skintrack does, where the data stays, how to take a good photo, and where to start."""

import streamlit as st

import appstate
from skintrack import demo
from skintrack.errors import Refused
from skintrack.report import guidance

settings = appstate.settings()
st.title("Welcome to skintrack")
st.markdown(
    "Take one selfie a day. skintrack lines your face up with every earlier photo, measures redness, "
    "skin tone, texture and spots region by region, and charts how your skin changes beside what you log: "
    "sleep, stress, diet and the products you use. It says how sure it is, and it refuses a photo that would "
    "give a misleading number."
)
st.success(
    f"**Everything stays on this computer.** Photos and scores are kept in `{settings.home}`; the app only "
    "listens on this computer (127.0.0.1), sends nothing anywhere, and strips location data from photos.",
    icon=":material/lock:",
)

st.subheader("How to take a good photo")
st.markdown(guidance.capture_tips_markdown())
st.caption("The same light, distance and time each day is what makes one day comparable with the next.")

own, explore = st.columns(2)
with own:
    st.subheader("Start your own")
    st.write("Take or upload today's photo on the Check-in page. One photo a day is enough.")
    if st.button("Take my first photo", type="primary", icon=":material/photo_camera:"):
        st.switch_page("views/checkin.py")
with explore:
    st.subheader("Explore a demo first")
    st.write(
        "A demo home holds four months of generated history (not anyone's real photos), so you can try the "
        "charts and insights before you have data. It lives in its own folder; your data is not touched."
    )
    demo_home = demo.default_home()
    if st.button("Make the demo home", icon=":material/science:"):
        try:
            with st.spinner("Generating four months of demo history (about half a minute)..."):
                demo.build(demo_home)
        except Refused as exc:
            st.error(str(exc))
        else:
            st.success(f"Demo home ready in `{demo_home}`. Open it with the second line below.")
    st.code(
        f".venv/bin/python -m skintrack demo\nSKINTRACK_HOME={demo_home} make run", language="bash", wrap_lines=True
    )
    st.caption(
        "The button does what the first line does. To open the demo, stop this app (Ctrl+C in its terminal; both "
        "use port 8501) and run the second line. Plain `make run` brings you back to your own data."
    )

st.info(guidance.DISCLAIMER, icon=":material/medical_information:")
