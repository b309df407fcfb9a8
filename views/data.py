"""Data: export, restore, delete, backups, and what the acne model is."""

from datetime import date

import streamlit as st

import appstate
from skintrack.config import PROJECT_ROOT
from skintrack.db import archive, backup, dbcopy, devices, erase, restore, store
from skintrack.lan import certificate, serve

RESTORE_LIMIT_MB = 1024  # a restore reads the whole archive into memory; bigger ones: `python -m skintrack restore`

st.title("Your data")
settings = appstate.settings()
st.caption(f"Everything is stored in `{settings.home}` on this computer and nowhere else.")
export_tab, restore_tab, delete_tab, backups_tab, model_tab, phones_tab = st.tabs(
    ["Export", "Restore", "Delete", "Backups", "Model", "Phones"]
)

with export_tab:
    st.write(
        "One zip file with every table (Parquet and CSV), every stored photo, and a manifest "
        "with checksums and the schema version. Keep it somewhere safe: it holds your face photos."
    )
    if st.button("Prepare the export", icon=":material/archive:"):
        try:
            with st.spinner("Packing your data..."):
                st.session_state["export_zip"] = archive.export_bytes(settings)
        except store.StoreError as exc:
            st.error(str(exc))
    if st.session_state.get("export_zip"):
        st.download_button(
            "Download the export",
            st.session_state["export_zip"],
            file_name=f"skintrack-{date.today()}.zip",
            mime="application/zip",
            type="primary",
            icon=":material/download:",
        )

with restore_tab:
    st.write(
        "Replaces **all** current data with an export. The archive is checked completely first; "
        "the current data is saved as an archive in the backups folder before it is replaced."
    )
    upload = st.file_uploader("An export made by skintrack (.zip)", type=["zip"], max_upload_size=RESTORE_LIMIT_MB)
    if upload is not None:
        try:
            info = restore.check(settings, upload.getvalue())
        except store.StoreError as exc:
            st.error(f"This archive cannot be restored: {exc}. Nothing was changed.")
        else:
            st.success(
                f"A valid export from {info.created}: {info.entries} entries, {info.images} photos, "
                f"{info.rows.get('lifestyle', 0)} logged days (schema version {info.schema_version})."
            )
            sure = st.checkbox("Replace all my current data with this archive")
            if st.button("Restore", type="primary", disabled=not sure):
                try:
                    with st.spinner("Restoring..."):
                        restore.restore(settings, upload.getvalue())
                except store.StoreError as exc:
                    st.error(f"Not restored: {exc}. Nothing was changed.")
                else:
                    appstate.data_changed()
                    st.success(f"Restored {info.entries} entries. The previous data is in `{settings.backups_dir}`.")

with delete_tab:
    what = st.radio("Delete", ["One entry", "One day", "A date range", "Everything"], horizontal=True)
    entries = store.entries(settings)
    if what == "One entry":
        if entries.empty:
            st.info("There are no entries.")
        entry_id = st.selectbox(
            "Entry",
            entries["id"].tolist()[::-1],
            disabled=entries.empty,
            format_func=lambda i: f"#{i}, {entries.set_index('id').at[i, 'taken_at']:%Y-%m-%d %H:%M}",
        )
    elif what == "One day":
        day = st.date_input("Day", value=date.today(), max_value=date.today())
    elif what == "A date range":
        span = st.date_input("From - to", value=(date.today(), date.today()), max_value=date.today())
    keep_log = what in ("One day", "A date range") and st.checkbox("Keep the lifestyle log of those days")
    purge = what != "Everything" and st.checkbox("Also delete the backups (they hold older copies of this data)")
    if what == "Everything":
        st.warning("This deletes every photo, score, log, product and backup. Export first if you may want them back.")
        sure = st.text_input("Type DELETE to confirm") == "DELETE"
    else:
        sure = st.checkbox("Yes, delete it; this cannot be undone")
    nothing = what == "One entry" and entries.empty
    if st.button("Delete", type="primary", disabled=not sure or nothing, icon=":material/delete_forever:"):
        try:
            if what == "One entry":
                done = erase.delete_entry(settings, entry_id)
            elif what == "One day":
                done = erase.delete_span(settings, day, day, include_log=not keep_log)
            elif what == "A date range":
                if len(span) != 2:
                    raise store.StoreError("pick the first and the last day of the range")
                done = erase.delete_span(settings, span[0], span[1], include_log=not keep_log)
            else:
                done = erase.delete_everything(settings)
            if purge:
                backup.remove_all(settings)
        except store.StoreError as exc:
            st.error(str(exc))
        else:
            appstate.data_changed()
            st.session_state.pop("export_zip", None)
            st.success(f"Deleted {done.entries} entries, {done.files} photo files and {done.days_logged} logged days.")

with backups_tab:
    st.write(
        f"The database is copied here before every schema upgrade and when you ask; the newest "
        f"{dbcopy.KEEP} of each kind are kept. Photos are not copied: the export is the complete copy."
    )
    if st.button("Back up now", icon=":material/backup:"):
        try:
            made = backup.create(settings)
        except store.StoreError as exc:
            st.error(str(exc))
        else:
            st.success(f"Backed up to `{made.name}`.")
    backups = backup.table(settings)
    if backups.empty:
        st.info("No backups yet.")
    else:
        st.dataframe(backups, hide_index=True, use_container_width=True)
        st.caption(f"Folder: `{settings.backups_dir}`")

with model_tab:
    model = appstate.classifier()
    if model is None:
        st.info(
            "No trained acne model is installed, so no acne grade or lesion count is shown. "
            "The measurements (redness, tone, texture...) need no model."
        )
    else:
        st.subheader(f"Installed model: `{model.source}`")
        st.json(model.card, expanded=False)
    card = PROJECT_ROOT / "models" / "README.md"
    if card.is_file():
        with st.expander("Model card (models/README.md)", expanded=model is not None):
            st.markdown(card.read_text())

with phones_tab:
    lan_url = serve.announced()
    if lan_url is None:
        st.info(
            "Phone check-ins are off. Start skintrack with `make run-phone` (or `python -m skintrack serve --lan`) "
            "to use it from a phone on this Wi-Fi, over HTTPS, after pairing the phone once."
        )
    else:
        cert = certificate.load(settings)
        st.write(
            f"Phones on this Wi-Fi can use skintrack at **{lan_url}** once paired. A pairing link works once, "
            f"for {devices.CODE_TTL.seconds // 60} minutes."
        )
        if st.button("Pair a phone", icon=":material/qr_code_2:"):
            st.session_state["pairing_link"] = serve.pairing_link(lan_url, devices.new_code(settings))
        if link := st.session_state.get("pairing_link"):
            st.image(serve.qr_png(link), caption="Scan with the phone's camera", width=260)
            st.code(link, language=None)
        if cert is not None:
            st.caption(f"Certificate SHA-256 fingerprint (the phone shows the same): `{cert.fingerprint}`")
    paired = devices.listing(settings)
    if paired.empty:
        st.caption("No paired devices.")
    else:
        st.dataframe(paired.drop(columns="id"), hide_index=True, width="stretch")
        active = paired[paired["revoked_at"].isna()]
        if not active.empty:
            chosen = st.selectbox(
                "Device", active["id"].tolist(), format_func=lambda i: f"{active.set_index('id').at[i, 'name']} (#{i})"
            )
            left, right = st.columns(2)
            if left.button("Revoke", icon=":material/block:"):
                devices.revoke(settings, chosen)
                st.rerun()
            if right.button("Revoke all", icon=":material/phonelink_erase:"):
                devices.revoke_all(settings)
                st.rerun()
