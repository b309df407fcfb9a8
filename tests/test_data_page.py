"""The Data page through AppTest: export, restore (a bad archive, then a good one), delete, backups, model."""

from __future__ import annotations

import io

import pytest
from conftest import ROOT
from datakit import fill
from streamlit.testing.v1 import AppTest

from skintrack.db import archive, store

TIMEOUT = 90


@pytest.fixture
def page(home):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("views/data.py").run()
    assert not at.exception
    return at


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def test_export_backups_and_model_information(settings, page):
    fill(settings, days=2)
    _button(page, "Prepare the export").click().run()
    assert not page.exception and not page.error
    assert page.get("download_button"), "no download button after preparing the export"
    _button(page, "Back up now").click().run()
    assert any("Backed up to" in s.value for s in page.success)
    assert not page.dataframe[0].value.empty
    model_texts = [i.value for i in page.info] + [s.value for s in page.subheader]
    assert any("No trained acne model" in t or "Installed model" in t for t in model_texts)


def test_restore_refuses_a_bad_archive_then_restores_a_good_one(tmp_path, settings, page):
    other = type(settings).for_home(tmp_path / "other")
    fill(other, days=3)
    buf = io.BytesIO()
    archive.export(other, buf)
    uploader = page.get("file_uploader")[0]
    uploader.set_value(("broken.zip", buf.getvalue()[:5000], "application/zip"))
    page.run()
    assert not page.exception
    assert any("cannot be restored" in e.value and "Nothing was changed" in e.value for e in page.error)
    page.get("file_uploader")[0].set_value(("good.zip", buf.getvalue(), "application/zip"))
    page.run()
    assert any("A valid export" in s.value and "3 entries" in s.value for s in page.success)
    assert _button(page, "Restore").disabled
    page.checkbox[0].check().run()
    _button(page, "Restore").click().run()
    assert not page.exception and any(s.value.startswith("Restored 3 entries") for s in page.success)
    assert len(store.entries(settings)) == 3


def test_delete_needs_confirmation_then_deletes(settings, page):
    ids = fill(settings, days=3)
    page.run()
    assert _button(page, "Delete").disabled  # nothing confirmed yet
    page.checkbox[-1].check().run()  # "Yes, delete it"
    _button(page, "Delete").click().run()
    assert not page.exception
    assert any("Deleted 1 entries, 2 photo files" in s.value for s in page.success)
    assert store.entries(settings)["id"].tolist() == ids[:-1]  # the newest is offered first
    page.radio[0].set_value("Everything").run()
    page.text_input[0].input("delete").run()
    assert _button(page, "Delete").disabled  # must be typed exactly
    page.text_input[0].input("DELETE").run()
    _button(page, "Delete").click().run()
    assert any("Deleted 2 entries" in s.value for s in page.success)
    assert store.entries(settings).empty and store.lifestyle(settings).empty


def test_phones_tab_pairs_lists_and_revokes(settings, home, monkeypatch):
    """While LAN mode runs, the Data page makes a one-time pairing link (with its QR code), lists
    the paired phones and revokes one: its token stops being valid."""
    from skintrack.db import devices
    from skintrack.lan import serve

    monkeypatch.setenv(serve.LAN_URL_ENV, "https://127.0.0.2:8443")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("views/data.py").run()
    assert any("https://127.0.0.2:8443" in m.value for m in at.markdown)
    _button(at, "Pair a phone").click().run()
    assert not at.exception
    link = next(c.value for c in at.code if c.value.startswith("https://127.0.0.2:8443/pair?code="))
    assert len(at.image) == 1  # the QR code of that link
    token, _ = devices.pair(settings, link.split("code=")[1], name="test phone")
    assert devices.valid_tokens(settings)
    at.run()
    assert not at.dataframe[-1].value.empty and "test phone" in at.dataframe[-1].value["name"].tolist()
    _button(at, "Revoke").click().run()
    assert not at.exception
    assert not devices.valid_tokens(settings)
