"""Caching at the edge: the shared resources and cached queries of the Streamlit app.

Pages import this module; the core (``skintrack/``) never imports streamlit.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from skintrack.config import Settings
from skintrack.db import store

if TYPE_CHECKING:
    from skintrack.capture import face
    from skintrack.stats import insights, trends


def _module(name: str):
    """A core module imported when first used, not when the app starts: MediaPipe (face),
    SciPy (trends, insights) and ONNX Runtime (serving) would hold up the first page by
    about 1.5 s, and the page does not need them until a photo or a chart does."""
    return importlib.import_module(f"skintrack.{name}")


def settings() -> Settings:
    """The data home of this app process ($SKINTRACK_HOME or ~/.skintrack)."""
    return Settings.for_home()


@st.cache_resource(show_spinner=False)
def startup(home: str) -> int:
    """Once per process and home: remove files left by a check-in that was killed half-way."""
    return len(store.remove_orphan_files(Settings.for_home(home)))


@st.cache_resource(show_spinner="Loading the face model...")
def mesh() -> face.FaceMesh:
    return _module("capture.face").FaceMesh()


@st.cache_resource(show_spinner="Loading the acne model...")
def classifier():
    """The installed trained classifier (see ``serving.installed``), or None."""
    return _module("model.serving").installed()


def data_version(home: str) -> tuple[int, ...]:
    """Changes whenever the database file does, whichever process wrote it (the command
    line may check in while the app is open), so cached query results never go stale."""
    db = Settings.for_home(home).db_path
    return tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in (db, db.with_name(db.name + ".wal")))


@st.cache_data(show_spinner=False, max_entries=8)
def _scores(home: str, version: tuple[int, ...]) -> pd.DataFrame:
    return store.scores(Settings.for_home(home))


@st.cache_data(show_spinner=False, max_entries=8)
def _lifestyle(home: str, version: tuple[int, ...]) -> pd.DataFrame:
    return store.lifestyle(Settings.for_home(home))


@st.cache_data(show_spinner=False, max_entries=8)
def _catalogue(home: str, version: tuple[int, ...]) -> pd.DataFrame:
    return _module("stats.trends").catalogue(Settings.for_home(home))


@st.cache_data(show_spinner=False, max_entries=16)
def _trend(home: str, version: tuple[int, ...], condition: str, region: str) -> trends.TrendData:
    return _module("stats.trends").load(Settings.for_home(home), condition, region)


@st.cache_data(show_spinner="Looking for patterns...", max_entries=4)
def _insights(home: str, version: tuple[int, ...]) -> insights.Report:
    return _module("stats.insights").report(Settings.for_home(home))


def scores(home: str) -> pd.DataFrame:
    return _scores(home, data_version(home))


def lifestyle(home: str) -> pd.DataFrame:
    return _lifestyle(home, data_version(home))


def catalogue(home: str) -> pd.DataFrame:
    """The stored (condition, region) pairs, without loading the scores."""
    return _catalogue(home, data_version(home))


def trend(home: str, condition: str, region: str) -> trends.TrendData:
    """One measurement's chart data (aggregated by DuckDB), until the data changes."""
    return _trend(home, data_version(home), condition, region)


def insights_report(home: str) -> insights.Report:
    """The insights of the home, computed once per version of the data."""
    return _insights(home, data_version(home))


def data_changed() -> None:
    """Forget cached query results after anything is written."""
    for cached in (_scores, _lifestyle, _catalogue, _trend, _insights):
        cached.clear()
