"""What the app tells people: capture tips, one-line fixes for refused photos, the medical
disclaimer, and when to suggest a dermatologist.

Plain text and one rule over the scores frame; the pages decide how to show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from skintrack.stats import analytics

DISCLAIMER = (
    "skintrack is not a medical device. Its scores are estimates from photos, for tracking "
    "your own skin over time; they are not a diagnosis. For anything that worries you, see a "
    "doctor or a dermatologist."
)
DISCLAIMER_SHORT = "Not a medical device: estimates for tracking, not a diagnosis."

# Before the photo: what makes one day's photo comparable with the next.
BEFORE_TIPS = (
    # The first three are what most often withholds a measurement (tools/gate_report.py, README):
    # a head turned past 10 degrees loses dark circles (past 20 redness and texture), a soft photo
    # loses texture and red spots, a warm lamp's cast loses redness and skin tone.
    (
        "Straight",
        "camera at eye level and arm's length, look straight into it: a turned head loses dark circles first",
    ),
    ("Light", "face a window in even daylight; no flash, no warm lamp, no lamp behind you"),
    ("Still", "hold the phone still and let it focus: a soft photo keeps its colours but not texture or red spots"),
    ("Face", "hair off the forehead, no glasses, no make-up, a neutral expression"),
    ("Routine", "same place and time of day, before skincare products go on"),
)
# After the photo: what to look at before saving.
AFTER_TIPS = (
    "Check that the outlined regions sit on your forehead, cheeks, nose and chin.",
    "A refused photo says why and what to change: retake it rather than save a poor one.",
    "One photo a day is enough; several on one day are averaged.",
)

# Keyword of a refusal -> the fix, for reasons that do not already say what to do.
_FIXES = (
    ("no face", "face the camera in even light with your whole face in the frame"),
    ("faces found", "crop the photo so only your face is in it"),
    ("blur", "hold still, clean the lens and tap to focus on your face"),
    ("dark", "face a window or a lamp"),
    ("bright", "move out of direct sun and turn the flash off"),
    ("blown", "avoid flash and direct sun"),
    ("turned", "look straight at the camera"),
    ("tilted", "hold the camera at eye level and keep your head upright"),
    ("small", "come closer or use the full camera resolution"),
    ("edge", "keep your whole face inside the frame"),
    ("not an image", "upload a JPEG, PNG, WebP or HEIC photo"),
    ("truncated", "upload the photo again; the file was cut short"),
    ("too large", "upload a smaller photo, such as the phone's normal camera size"),
)
_GENERIC_FIX = "retake the photo facing a window, at arm's length, looking straight at the camera"

# A face-shaped oval over the live camera view (Streamlit's webcam box), so each day's photo
# is framed alike. Pure CSS: it draws over the video and never touches the captured photo.
CAMERA_GUIDE = "Fit your face inside the oval, eyes level, at arm's length."
CAMERA_GUIDE_CSS = """
[data-testid="stCameraInputWebcamStyledBox"] { position: relative; }
[data-testid="stCameraInputWebcamStyledBox"]::after {
  content: ""; position: absolute; left: 50%; top: 50%; height: 76%; aspect-ratio: 3 / 4;
  transform: translate(-50%, -50%); border-radius: 50%; pointer-events: none;
  border: 3px dashed rgba(255, 255, 255, 0.95); box-shadow: 0 0 0 2px rgba(0, 114, 178, 0.85);
}
"""

SEVERE_GRADE = 2  # Hayashi grades 0 mild, 1 moderate, 2 severe, 3 very severe
REFERRAL_DAYS = 14


def capture_tips_markdown() -> str:
    """The before-the-photo tips as a short markdown list."""
    return "\n".join(f"- **{name}:** {tip}" for name, tip in BEFORE_TIPS)


def capture_tips_line() -> str:
    """The before-the-photo tips in one sentence (for captions and the camera view)."""
    return "; ".join(tip for _, tip in BEFORE_TIPS).capitalize() + "."


def refusal_line(reason: str) -> str:
    """One line: why the photo cannot be used, and the fix.

    Reasons from ``images`` and ``face`` mostly say "what: what to do" already; those are
    kept as they are. A reason without a fix gets the matching one (or a generic retake).
    """
    reason = str(reason).strip().rstrip(".")
    if not reason:
        return f"This photo cannot be used: {_GENERIC_FIX}."
    if ":" in reason:
        what, fix = (part.strip() for part in reason.split(":", 1))
        if fix:
            return f"This photo cannot be used ({what}): {fix}."
        reason = what
    lowered = reason.lower()
    fix = next((f for key, f in _FIXES if key in lowered), _GENERIC_FIX)
    return f"This photo cannot be used ({reason}): {fix}."


@dataclass(frozen=True)
class Referral:
    """The acne grade has been severe or very severe at every check-in for ``days`` days."""

    since: date
    latest: date
    checkins: int

    @property
    def days(self) -> int:
        return (self.latest - self.since).days

    @property
    def message(self) -> str:
        return (
            f"The acne model has graded your skin severe or very severe at every check-in since "
            f"{self.since:%d %B %Y} ({self.days} days, {self.checkins} check-ins). Please see a "
            f"dermatologist: effective treatments exist, and a model's grade is not a diagnosis."
        )


def entry_grades(scores: pd.DataFrame) -> pd.DataFrame:
    """The acne grade of each entry from its latest model: columns taken_at, entry_id, grade.

    The grade is the most probable Hayashi grade (from ``acne_grade_p0..3``) when the model
    stored its probabilities, else the rounded expected grade (``acne_grade``).
    """
    columns = ["taken_at", "entry_id", "grade"]
    if scores.empty:
        return pd.DataFrame(columns=columns)
    acne = scores[scores["condition"].str.startswith("acne_grade") & (scores["region"] == "face")]
    if acne.empty:
        return pd.DataFrame(columns=columns)
    # The model that graded last: the latest source of the expected grade, which every acne model stores.
    sources = analytics.latest_sources(acne)
    acne = acne[acne["source"] == sources.get("acne_grade", sources.iloc[0])]
    wide = acne.pivot_table(index=["taken_at", "entry_id"], columns="condition", values="value", aggfunc="first")
    probs = [c for c in (f"acne_grade_p{k}" for k in range(4)) if c in wide]
    if len(probs) == 4:
        grade = wide[probs].to_numpy().argmax(axis=1)
    elif "acne_grade" in wide:
        grade = wide["acne_grade"].round().clip(0, 3).to_numpy()
    else:
        return pd.DataFrame(columns=columns)
    out = wide.reset_index()[["taken_at", "entry_id"]].assign(grade=pd.Series(grade).astype(int).to_numpy())
    return out.sort_values(["taken_at", "entry_id"]).reset_index(drop=True)


def dermatologist_referral(scores: pd.DataFrame, days: int = REFERRAL_DAYS) -> Referral | None:
    """A referral when the latest check-ins were all graded severe or worse for ``days`` days.

    Looks at the unbroken run of severe-or-worse check-ins that ends with the latest one;
    the run must span at least ``days`` days (first to latest check-in) and hold at least
    two check-ins. One milder check-in in between ends the run.
    """
    grades = entry_grades(scores)
    if grades.empty or grades["grade"].iloc[-1] < SEVERE_GRADE:
        return None
    mild = grades.index[grades["grade"] < SEVERE_GRADE]
    run = grades.loc[(mild.max() + 1 if len(mild) else 0) :]
    since = pd.Timestamp(run["taken_at"].iloc[0]).date()
    latest = pd.Timestamp(run["taken_at"].iloc[-1]).date()
    if len(run) < 2 or latest - since < timedelta(days=days):
        return None
    return Referral(since=since, latest=latest, checkins=len(run))
