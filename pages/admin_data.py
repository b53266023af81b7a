"""Admin console, Data: what the store holds month by month, the ingests with the rows they refused, and new data
(a file uploaded for ingestion, or a fetch from the London Datastore), each a request run by the sidecar."""
from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from lfb.config import Settings, get_settings
from lfb.data.status import data_marker, ingest_rejects, recent_ingests, rows_by_month
from lfb.service.uploads import UploadRefused, remove_upload, store_upload
from ui import admin
from ui.navigation import page_guard
from ui.widgets import show_error

# The browser's file picker offers these; listing the CSV MIME type leaves the check of what arrives to
# lfb.service.uploads (name and content), whose refusals are one clear line.
UPLOAD_TYPES = [".csv", ".xlsx", "text/csv"]
LOAD_KINDS = {"fetch", "ingest", "pipeline"}
HISTORY = 30  # ingests listed
SAMPLE = 20  # refused rows shown per ingest
KIND_COLOURS = {"incidents (real)": "#1f5fa8", "mobilisations (real)": "#2e9e5b",
                "derived attendances (real)": "#e08a1e", "incidents (demo)": "#9bb8dc",
                "mobilisations (demo)": "#a6d8b9", "derived attendances (demo)": "#f2c58f"}


@st.cache_data(max_entries=4, show_spinner="Counting the stored rows ...")
def _rows_by_month(db_path: str, marker: tuple, _settings: Settings) -> pd.DataFrame:
    """Return the rows per month, kind and origin (cached per store until an ingest changes it: `marker`)."""
    with admin.existing_store(_settings) as db:
        return pd.DataFrame(rows_by_month(db), columns=["month", "kind", "origin", "rows"]) if db else pd.DataFrame()


def _months_chart(rows: pd.DataFrame) -> None:
    """Show the stored rows per month by kind, demo and real apart."""
    rows = rows.assign(series=rows["kind"] + " (" + rows["origin"] + ")")
    fig = px.bar(rows, x="month", y="rows", color="series", barmode="group", color_discrete_map=KIND_COLOURS,
                 labels={"rows": "rows", "month": "", "series": ""})
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      legend={"orientation": "h", "y": -0.2})
    st.plotly_chart(fig, config={"displayModeBar": False}, key="data_months_chart")
    totals = rows.pivot_table(index="kind", columns="origin", values="rows", aggfunc="sum", fill_value=0)
    parts = [f"{kind}: " + ", ".join(f"{int(n):,} {origin}" for origin, n in counts.items() if n)
             for kind, counts in totals.iterrows()]
    st.caption(f"{rows['month'].min()} to {rows['month'].max()}. " + "; ".join(parts) + ".")


def _history(db: Any) -> None:
    """Show the latest ingests and, for each that refused rows, why, with a sample of those rows as read."""
    ingests = recent_ingests(db, limit=HISTORY)
    if not ingests:
        st.info("No file has been ingested yet.")
        return
    st.dataframe(pd.DataFrame([{
        "#": i["id"], "File": i["file_name"], "Kind": i["kind"] or "", "Status": i["status"], "Read": i["rows_read"],
        "Inserted": i["rows_inserted"], "Updated": i["rows_updated"], "Refused": i["rows_rejected"],
        "Derived": i["rows_derived"], "Seconds": i["seconds"], "Finished (UTC)": i["finished"] or "",
        "Demo": "demo" if i["is_demo"] else "", "Message": i["message"] or ""} for i in ingests]),
        hide_index=True, width="stretch")
    for ingest in (i for i in ingests if i["rows_rejected"]):
        label = f"Ingest #{ingest['id']} ({admin.plain(ingest['file_name'])}): {ingest['rows_rejected']:,} rows refused"
        with st.expander(label):
            found = ingest_rejects(db, ingest["id"], sample=SAMPLE)
            st.dataframe(pd.DataFrame(found["reasons"]).rename(columns={"reason": "Reason", "rows": "Rows"}),
                         hide_index=True, width="stretch")
            st.caption(f"The first {len(found['sample'])} refused rows, as read from the file (line: reason, then the "
                       "row):")
            st.code("\n".join(f"line {r['line']}: {r['reason']}\n  {r['raw']}" for r in found["sample"]),
                    language=None, wrap_lines=True)


def _ingest_upload(settings: Settings, uploaded: UploadedFile) -> None:
    """Keep an uploaded file under data/uploads/ and queue its ingest, as the signed-in admin (checked now)."""
    who = admin.require_admin(settings)
    if who is None:
        return
    try:
        kept = store_upload(settings, uploaded.name, uploaded, uploaded.size)
    except UploadRefused as exc:
        show_error(f"Not kept: {admin.plain(exc)}.")
        return
    except OSError as exc:
        show_error(f"Could not keep the file in {settings.uploads_dir}: {exc.strerror or exc}.")
        return
    job_id = admin.try_submit(settings, who, "ingest", {"path": str(kept.path)})
    if job_id is None:
        remove_upload(settings, kept.path)
        return
    admin.done(admin.queued_words(settings, f"{admin.plain(kept.original_name)} kept as {admin.plain(kept.path.name)} "
                                  f"({kept.size_bytes / 1024 / 1024:,.1f} MB); ingest", job_id, who))


def _upload(settings: Settings) -> None:
    """Upload a CSV or XLSX file of LFB records and queue its ingest."""
    server_cap = int(st.get_option("server.maxUploadSize"))
    limit = min(settings.upload_max_mb, server_cap)
    uploaded = st.file_uploader("LFB records file (CSV or XLSX)", type=UPLOAD_TYPES, max_upload_size=limit,
                                key="data_upload", help="Incident or mobilisation records as published on the "
                                                        f"London Datastore, up to {limit:,} MB (LFB_UPLOAD_MAX_MB)")
    if uploaded is not None and st.button("Ingest this file", key="data_upload_ingest", type="primary"):
        _ingest_upload(settings, uploaded)
    st.caption("The file is kept under data/uploads/ with a name made by the app, then ingested by the sidecar: "
               "the same file twice adds nothing.")
    if server_cap < settings.upload_max_mb:
        st.caption(f"LFB_UPLOAD_MAX_MB is {settings.upload_max_mb:,} MB but Streamlit accepts {server_cap:,} MB "
                   "(server.maxUploadSize in .streamlit/config.toml): raise that too for larger files.")


def _fetch(settings: Settings) -> None:
    """Queue a fetch of new files from the London Datastore."""
    if st.button("Fetch from the London Datastore", key="data_fetch", type="primary"):
        admin.queue_request(settings, "fetch", {}, "Fetch from the London Datastore")
    st.caption("Downloads the incident and mobilisation files that are new or changed, then ingests them.")


def _load_jobs(found: list[dict[str, Any]]) -> None:
    """Show the data jobs that wait or run, with their progress, and the outcome of the last one that ended."""
    active = [j for j in found if admin.is_active(j)]
    for job in active:
        admin.job_progress(job)
    ended = next((j for j in found if not admin.is_active(j)), None)
    if ended:
        st.caption(f"Last ended: {admin.plain(admin.job_title(ended))}, {ended['status']} at {ended['finished']} UTC: "
                   f"{admin.plain(ended['outcome'] or '')}")
    elif not active:
        st.caption("No fetch or ingest has been requested yet.")


def main() -> None:
    """Lay out the page."""
    settings = get_settings()
    admin.header("Data", settings)
    upload, fetch = st.columns([3, 2], gap="medium")
    with upload:
        _upload(settings)
    with fetch:
        _fetch(settings)
    admin.live_jobs(settings, _load_jobs, kinds=LOAD_KINDS, limit=20)
    with admin.existing_store(settings) as db:
        if db is None:
            st.info("No data store yet: upload a file of LFB records or fetch them from the London Datastore (or run "
                    "`python -m lfb setup` for the demo data).")
            return
        st.subheader("Rows per month", anchor=False)
        rows = _rows_by_month(str(settings.db_path), data_marker(db), settings)
        if rows.empty:
            st.info("The store holds no records yet: upload a file or fetch from the London Datastore.")
        else:
            _months_chart(rows)
        st.subheader("Ingests", anchor=False)
        _history(db)


page_guard(__file__)
main()
