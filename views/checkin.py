"""Check-in: a photo in, the aligned face, the quality verdict and the scores out; Save stores it."""

from datetime import datetime

import streamlit as st

import appstate
from skintrack.capture import images
from skintrack.report import guidance

GUIDE = "**For a good photo:** " + guidance.capture_tips_line()

st.title("Check-in")
settings = appstate.settings()
upload_tab, camera_tab = st.tabs(["Upload a photo", "Take a photo"])
with upload_tab:
    uploaded = st.file_uploader(
        "Your selfie (JPEG, PNG, WebP or HEIC)", type=["jpg", "jpeg", "png", "webp", "heic", "heif"]
    )
with camera_tab:
    st.caption(guidance.capture_tips_line())
    st.html(f"<style>{guidance.CAMERA_GUIDE_CSS}</style>")  # an oval to frame the face on the live view
    shot = st.camera_input(guidance.CAMERA_GUIDE)
photo = uploaded or shot
if photo is None:
    st.info(GUIDE)
    st.stop()

# Imported once there is a photo: MediaPipe and SciPy would hold up the first page by a second.
from skintrack import pipeline  # noqa: E402
from skintrack.capture import face, measure  # noqa: E402
from skintrack.db import store  # noqa: E402
from skintrack.model import acne, modelcard  # noqa: E402

data = photo.getvalue()
key = images.sha256(data)
if st.session_state.get("analysis_key") != key:
    try:
        with st.spinner("Finding and measuring your face..."):
            analysis = pipeline.analyse(data, settings, appstate.classifier(), appstate.mesh())
    except (images.ImageRejected, face.FaceRejected) as exc:
        st.error(guidance.refusal_line(str(exc)))
        st.caption(GUIDE)
        st.stop()
    st.session_state.update(analysis_key=key, analysis=analysis, saved_entry=None)
analysis: pipeline.Analysis = st.session_state["analysis"]

measured = analysis.quality.visible(analysis.masks)  # not a region outside the photo or turned away
left, right = st.columns([1, 1])
with left:
    view = st.selectbox(
        "Show on the face",
        ["regions", *(c for c in measure.HEATMAP_CONDITIONS if analysis.quality.supports(c))],
        format_func=lambda c: c if c == "regions" else measure.CONDITIONS[c].label,
    )
    if view == "regions":
        st.image(
            face.draw_regions(analysis.aligned.image, measured),
            caption="Aligned face with the measured regions",
            width="stretch",
        )
    else:
        overlay = measure.heatmap(analysis.aligned.image, measured, view)
        st.image(overlay, caption=f"{measure.CONDITIONS[view].label} over the skin", width="stretch")
    st.caption(guidance.AFTER_TIPS[0])
with right:
    st.subheader("Photo quality")
    for note in pipeline.notes(analysis):
        st.info(note)
    if analysis.quality.ok:
        st.success("Good photo: every quality check passed.")
    elif analysis.quality.refused:
        for reason in analysis.quality.refusal_reasons:
            st.error(reason)
        st.caption(GUIDE)
    else:
        for line in pipeline.withheld_lines(analysis):
            st.warning(line)
        st.caption(GUIDE)
    st.subheader("Acne model")
    model = appstate.classifier()
    prediction = analysis.prediction
    if prediction is None and model is not None:
        st.info(f"Not graded: {pipeline.model_withheld(analysis) or 'the photo does not support a grade'}")
    elif prediction is None:
        st.info("No trained acne model is installed, so no acne grade or lesion count is shown.")
    else:
        c1, c2 = st.columns(2)
        c1.metric("Acne grade (Hayashi)", prediction.grade_name, help="mild, moderate, severe or very severe")
        c2.metric("Estimated lesions", f"{prediction.lesions:.0f}")
        st.caption(
            f"Model confidence {prediction.confidence:.0%}; expected grade {prediction.expected_grade:.2f} of 3. "
            + modelcard.accuracy_line(model.card)
        )
        if (note := acne.tone_note(model.card, measure.value(analysis.measurements, "ita"))) is not None:
            (st.warning if note[1] else st.info)(note[0])
        st.dataframe(
            pipeline.prediction_frame(prediction, model.card["class_names"]),
            hide_index=True,
            column_config={
                "probability": st.column_config.ProgressColumn(
                    "probability", min_value=0.0, max_value=1.0, format="percent"
                )
            },
        )
        if model.can_gradcam:
            label = "Show where the model looked (Grad-CAM)"
        else:
            label = "Show where the model counted lesions (its lesion-density map)"
        if st.toggle(label):
            heat, caption = acne.heatmap(model, analysis.aligned.image, prediction)
            st.image(face.overlay_heatmap(analysis.aligned.image, heat), caption=caption, width="stretch")

st.subheader("Measurements")
st.dataframe(measure.describe(analysis.measurements), hide_index=True, width="stretch")
st.caption(guidance.DISCLAIMER_SHORT)

default_time = analysis.loaded.taken_at or datetime.now().replace(second=0, microsecond=0)
taken_day = st.date_input("Taken on", value=default_time.date(), max_value=datetime.now().date())
taken_time = st.time_input("at", value=default_time.time())
if st.session_state.get("saved_entry"):
    st.success(f"Saved as entry {st.session_state['saved_entry']}. See it on the Trends page.")
elif st.button("Save check-in", type="primary", disabled=not pipeline.can_store(analysis)):
    try:
        entry_id = pipeline.save(settings, analysis, datetime.combine(taken_day, taken_time))
    except (pipeline.CheckinRefused, store.StoreError) as exc:
        st.error(str(exc))
    else:
        appstate.data_changed()
        st.session_state["saved_entry"] = entry_id
        st.toast("Check-in saved", icon=":material/check:")
        st.success(f"Saved as entry {entry_id}. See it on the Trends page.")

if st.session_state.get("saved_entry"):
    from views.quicklog import quick_log  # the day's log, one tap per answer, right after the save

    quick_log(settings)
