"""LAN mode: the HTTPS proxy in front of Streamlit, its certificate, device pairing."""
