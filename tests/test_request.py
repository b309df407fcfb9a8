"""The LAN gate's reading of a request head, and the device cookie it keeps from Streamlit."""

from __future__ import annotations

from skintrack.lan.request import COOKIE, parse_head, without_device_cookie


def test_the_device_cookie_never_reaches_streamlit():
    assert without_device_cookie(f"a=1; {COOKIE}=secret; _streamlit_xsrf=2|x") == "a=1; _streamlit_xsrf=2|x"
    assert parse_head(b"GET /x?y=1 HTTP/1.1\r\nHost: h\r\n\r\n").path == "/x"
