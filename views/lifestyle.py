"""Lifestyle: the day's log (sleep, water, stress, exercise, diet, alcohol, cycle, sun, products,
a note), and the product catalogue and routine."""

from datetime import date

import streamlit as st

import appstate
from skintrack.db import lifestyle, products, store
from skintrack.stats import analytics

st.title("Lifestyle")
settings = appstate.settings()
home = str(settings.home)
log_tab, products_tab = st.tabs(["Day log", "Products and routine"])
ERRORS = (lifestyle.InvalidLog, store.StoreError)

with log_tab:
    if "saved-log" in st.session_state:
        st.success(st.session_state.pop("saved-log"))
    day = st.date_input("Day", value=date.today(), max_value=date.today(), help="No dates in the future.")
    saved = store.get_day(settings, day)
    previous = analytics.previous_log_day(appstate.lifestyle(home), day)
    carried = st.session_state.get("carried") == (day, previous)
    if carried:
        start = lifestyle.carry_forward(store.get_day(settings, previous), (day - previous).days)
        st.info(f"Filled in from {previous:%A %d %B}: check it, change what differed, and save.")
    elif saved:
        start = saved
        st.caption(f"{day:%A %d %B %Y} is logged; change anything and save again.")
    else:
        start = {"products": products.active_on(settings, day)}
    if previous and not saved and not carried:
        if st.button(
            f"Carry {previous:%A %d %B} forward",
            icon=":material/content_copy:",
            help="Same sleep, water, stress, exercise, diet and products; no note.",
        ):
            st.session_state["carried"] = (day, previous)
            st.rerun()
    version = f"{day}-{'carried' if carried else 'saved'}"
    track_cycle = st.toggle(
        "Track my menstrual cycle",
        value=analytics.logged_any(appstate.lifestyle(home), "cycle_day"),
        help="Opt in: adds a cycle-day field; nothing about the cycle is asked otherwise.",
    )

    def _num(name: str, step: float = 1.0):
        spec = lifestyle.NUMERIC_FIELDS[name]
        kind = int if spec.integer else float  # whole numbers show as whole numbers
        value = start.get(name)
        return st.number_input(
            f"{spec.label} ({spec.unit})",
            min_value=kind(spec.low),
            max_value=kind(spec.high),
            value=None if value is None else kind(value),
            step=kind(step),
            key=f"{name}-{version}",
        )

    with st.form(f"log-{version}"):
        c1, c2, c3 = st.columns(3)
        with c1:
            sleep_hours = _num("sleep_hours", 0.5)
            sleep_quality = _num("sleep_quality")
            water = _num("water_l", 0.25)
        with c2:
            stress = _num("stress")
            exercise = _num("exercise_min", 5.0)
            alcohol = _num("alcohol_units", 0.5)
        with c3:
            sun = _num("sun_min", 5.0)
            cycle_day = _num("cycle_day") if track_cycle else start.get("cycle_day")
        known_tags = sorted(set(lifestyle.DIET_TAGS) | set(start.get("diet") or []))
        diet = st.multiselect("Diet", known_tags, default=start.get("diet") or [], accept_new_options=True)
        used = start.get("products") or []
        names = sorted(set(store.product_names(settings)) | {n for n, _ in used})
        am = st.multiselect(
            "Products in the morning", names, default=[n for n, t in used if t == "AM"], accept_new_options=True
        )
        pm = st.multiselect(
            "Products in the evening", names, default=[n for n, t in used if t == "PM"], accept_new_options=True
        )
        note = st.text_area("Note", value=start.get("note") or "", max_chars=lifestyle.MAX_NOTE)
        submitted = st.form_submit_button("Save the day", type="primary")

    if submitted:
        raw = {
            "sleep_hours": sleep_hours,
            "sleep_quality": sleep_quality,
            "water_l": water,
            "stress": stress,
            "exercise_min": exercise,
            "alcohol_units": alcohol,
            "sun_min": sun,
            "cycle_day": cycle_day,
            "diet": diet,
            "note": note,
        }
        try:
            lifestyle.parse_day(day)
            values = lifestyle.validate(raw)
            used_now = lifestyle.validate_products([(n, "AM") for n in am] + [(n, "PM") for n in pm])
            store.log_day(settings, day, values, used_now)
        except ERRORS as exc:
            st.error(f"Not saved: {exc}")
        else:
            st.session_state.pop("carried", None)
            st.session_state["saved-log"] = f"Saved the log of {day:%A %d %B %Y}."
            appstate.data_changed()
            st.rerun()

    if saved:
        with st.popover("Delete this day's log", icon=":material/delete:"):
            st.write(f"Delete the log of {day:%A %d %B %Y}? Photos and scores stay.")
            if st.button("Yes, delete it", type="primary", key=f"delete-{day}"):
                store.delete_day(settings, day)
                appstate.data_changed()
                st.rerun()

with products_tab:
    catalogue = products.catalogue(settings)
    periods = products.routine(settings)
    st.subheader("Routine")
    if periods.empty:
        st.caption("No products in the routine yet. Start one below; stopping it ends its period.")
    else:
        st.dataframe(
            periods.drop(columns=["id"]),
            hide_index=True,
            width="stretch",
            column_config={"start": st.column_config.DateColumn(), "stop": st.column_config.DateColumn()},
        )
    c1, c2 = st.columns(2)
    with c1, st.form("start-product", clear_on_submit=True):
        st.markdown("**Start a product**")
        name = st.selectbox(
            "Product",
            list(catalogue["name"]),
            index=None,
            accept_new_options=True,
            placeholder="choose or type a new name",
        )
        since = st.date_input("From", value=date.today(), max_value=date.today())
        when = st.radio("When", products.ROUTINE_TIMES, horizontal=True, index=2)
        if st.form_submit_button("Start"):
            try:
                products.start(settings, name or "", since, when)
            except ERRORS as exc:
                st.error(str(exc))
            else:
                appstate.data_changed()
                st.success(f"{name} is in the routine from {since:%d %b %Y}.")
    with c2, st.form("stop-product", clear_on_submit=True):
        st.markdown("**Stop a product**")
        open_now = list(periods.loc[periods["stop"].isna(), "product"]) if not periods.empty else []
        stopping = st.selectbox("Product in use", open_now, index=None)
        until = st.date_input("Last day of use", value=date.today(), max_value=date.today())
        if st.form_submit_button("Stop"):
            try:
                products.stop(settings, stopping or "", until)
            except ERRORS as exc:
                st.error(str(exc))
            else:
                appstate.data_changed()
                st.success(f"{stopping} stopped after {until:%d %b %Y}.")

    st.subheader("Catalogue")
    if not catalogue.empty:
        st.dataframe(
            catalogue.drop(columns=["id"]),
            hide_index=True,
            width="stretch",
            column_config={
                "in_use_since": st.column_config.DateColumn("in use since"),
                "days_logged": st.column_config.NumberColumn("days logged"),
            },
        )
    editing = st.selectbox(
        "Edit a product", [None, *catalogue["name"]], format_func=lambda n: "a new product" if n is None else n
    )
    current = catalogue[catalogue["name"] == editing].iloc[0].to_dict() if editing else {}
    with st.form(f"product-{editing}"):
        name = st.text_input("Name", value=current.get("name") or "", max_chars=lifestyle.MAX_NAME)
        brand = st.text_input("Brand", value=current.get("brand") or "")
        kind = st.selectbox(
            "Type",
            products.KINDS,
            index=products.KINDS.index(current["kind"]) if current.get("kind") in products.KINDS else None,
        )
        ingredients = st.text_input(
            "Key ingredients", value=current.get("ingredients") or "", placeholder="e.g. azelaic acid 10%, niacinamide"
        )
        notes = st.text_area("Notes", value=current.get("notes") or "")
        if st.form_submit_button("Save product", type="primary"):
            try:
                products.save_product(
                    settings, name, brand, kind, ingredients, notes, int(current["id"]) if current else None
                )
            except ERRORS as exc:
                st.error(str(exc))
            else:
                appstate.data_changed()
                st.success(f"Saved {name.strip()}.")
    if editing:
        with st.popover(f"Delete {editing}", icon=":material/delete:"):
            st.write("This removes the product, its routine periods and its logged uses.")
            if st.button("Yes, delete it", type="primary", key=f"delete-product-{editing}"):
                products.delete_product(settings, int(current["id"]))
                appstate.data_changed()
                st.rerun()
