"""The calibration report: the demo data's figures side by side with the real LFB sample's.

The demo side comes from the project database (demo rows of the `incidents` and `mobilisations`
tables) or from a folder of generated demo files; both are read into the store's canonical
columns. The real side is the 2023 incident sample and the 2020-2023 travel-time file in the
shared data folder; when that folder is absent the report says so and shows the demo alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlite_utils

from lfb.data.formats import INCIDENTS
from lfb.data.readers import RecordFile
from lfb.data.records import parse_chunk
from lfb.data.reference import stations

REAL_INCIDENTS = "incidents_2023_sample_jan_sep.csv"
REAL_TRAVEL = "travel_times_2020_2023.csv"
REPORT_BANDS_M = (0, 500, 1000, 1500, 2000, 3000, 4000, 6000, 50_000)
TURNOUT_README = (70.0, 38.0)  # mean and SD (s) quoted in the shared data README; turnout is not in the sample
INCIDENT_FIELDS = ("incident_number", "hour_of_call", "incident_group", "property_category", "station_ground",
                   "first_pump_seconds", "first_pump_station", "second_pump_seconds", "second_pump_station",
                   "num_pumps_attending", "easting_m", "northing_m", "easting_rounded", "northing_rounded")
MOBILISATION_FIELDS = ("incident_number", "hour_of_call", "turnout_seconds", "travel_seconds",
                       "attendance_seconds", "station_code", "deployed_from_location", "pump_order",
                       "delay_code_id")


@dataclass
class Row:
    """One line of the report: a figure for the demo data and, where known, for the real data."""

    section: str
    metric: str
    demo: float | None
    real: float | None = None
    unit: str = ""  # 's' seconds, 'm' metres, '%', 'n' count, 'h' hour of day, 'r' correlation, '' ratio
    note: str = ""


@dataclass
class Frames:
    """Incident and mobilisation records in the store's canonical columns."""

    incidents: pd.DataFrame
    mobilisations: pd.DataFrame
    source: str


# ---- loading -----------------------------------------------------------------------------------

def _read_records(paths: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse record files with the ingestion code; return canonical incidents and mobilisations."""
    parts: dict[str, list[pd.DataFrame]] = {"incidents": [], "mobilisations": []}
    for path in paths:
        records = RecordFile(path)
        for chunk in records.chunks(100_000):
            parsed = parse_chunk(records.kind, chunk.frame, chunk.first_row)
            fields = INCIDENT_FIELDS if records.kind == INCIDENTS else MOBILISATION_FIELDS
            parts[records.kind].append(parsed.records[list(fields)])
    empty = {"incidents": INCIDENT_FIELDS, "mobilisations": MOBILISATION_FIELDS}
    frames = [pd.concat(parts[k], ignore_index=True) if parts[k] else pd.DataFrame(columns=list(empty[k]))
              for k in ("incidents", "mobilisations")]
    return frames[0], frames[1]


DemoSource = sqlite_utils.Database | Path | str | Frames | tuple[pd.DataFrame, pd.DataFrame]


def load_demo(source: DemoSource) -> Frames:
    """Return demo records from a database (or its file), a folder of demo files, or (incidents, mobilisations)."""
    if isinstance(source, Frames):
        return source
    if isinstance(source, tuple):
        incidents, mobilisations = source
        return Frames(incidents, mobilisations, "data frames")
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            from lfb.data.demo import demo_files

            files = demo_files(path)
            if not files:
                raise FileNotFoundError(f"no demo files (lfb-demo-*.csv) in {path}")
            incidents, mobilisations = _read_records(files)
            return Frames(incidents, mobilisations, f"demo files in {path}")
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such database or folder")
        from lfb.data.store import connect

        db = connect(path)
        try:
            return load_demo(db)
        finally:
            db.close()
    db = source
    inc = pd.read_sql_query(f"SELECT {', '.join(INCIDENT_FIELDS)} FROM incidents WHERE is_demo = 1", db.conn)
    mob = pd.read_sql_query(f"SELECT {', '.join(MOBILISATION_FIELDS)} FROM mobilisations "
                            "WHERE is_demo = 1 AND derived = 0", db.conn)
    name = db.conn.execute("PRAGMA database_list").fetchone()[2] or "in-memory database"
    return Frames(inc, mob, f"demo rows of {name}")


def load_real(real_dir: Path) -> tuple[Frames | None, pd.DataFrame | None]:
    """Return the real incident sample (canonical columns) and travel-time file, or None where absent."""
    real_dir = Path(real_dir)
    sample, travel = real_dir / REAL_INCIDENTS, real_dir / REAL_TRAVEL
    frames = None
    if sample.is_file():
        incidents, _ = _read_records([sample])
        frames = Frames(incidents, pd.DataFrame(columns=list(MOBILISATION_FIELDS)), str(sample))
    table = pd.read_csv(travel) if travel.is_file() else None
    return frames, table


# ---- figures -----------------------------------------------------------------------------------

def _num(series: pd.Series) -> pd.Series:
    """Return a column as floats (None -> NaN)."""
    return pd.to_numeric(series, errors="coerce").astype(float)


def _station_xy() -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    """Return station grid positions by code and by lower-case name."""
    st = stations()
    by_code = {c: (e, n) for c, e, n in zip(st.station_code, st.easting, st.northing)}
    by_name = {s.lower(): (e, n) for s, e, n in zip(st.station_name, st.easting, st.northing)}
    return by_code, by_name


def _location(incidents: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return incident easting/northing: exact where published, else the rounded (100 m) position."""
    east = _num(incidents.easting_m).fillna(_num(incidents.easting_rounded))
    north = _num(incidents.northing_m).fillna(_num(incidents.northing_rounded))
    return east.to_numpy(), north.to_numpy()


def _first_pump_distance(incidents: pd.DataFrame) -> np.ndarray:
    """Return the straight-line distance (m) from the first pump's station to each incident that has one."""
    _, by_name = _station_xy()
    east, north = _location(incidents)
    names = incidents.first_pump_station.astype("string").str.strip().str.lower()
    xy = np.array([by_name.get(n, (np.nan, np.nan)) if isinstance(n, str) else (np.nan, np.nan) for n in names])
    if not len(xy):
        return np.zeros(0)
    d = np.hypot(xy[:, 0] - east, xy[:, 1] - north)
    return d[np.isfinite(d)]


def _mobilisation_distance(frames: Frames) -> pd.DataFrame:
    """Return demo mobilisations with travel time, hour and straight-line station-to-incident distance."""
    by_code, _ = _station_xy()
    inc = frames.incidents.set_index("incident_number")
    east, north = _location(inc)
    pos = pd.DataFrame({"e": east, "n": north}, index=inc.index)
    mob = frames.mobilisations
    here = pos.reindex(mob.incident_number)
    xy = np.array([by_code.get(str(c).upper(), (np.nan, np.nan)) for c in mob.station_code]).reshape(-1, 2)
    dist = np.hypot(xy[:, 0] - here.e.to_numpy(), xy[:, 1] - here.n.to_numpy())
    return pd.DataFrame({"distance": dist, "travel": _num(mob.travel_seconds).to_numpy(),
                         "hour": _num(mob.hour_of_call).to_numpy()}).dropna()


def _shares(values: pd.Series) -> pd.Series:
    """Return the share (%) of each value."""
    return values.value_counts(normalize=True) * 100.0


def _hour_profile(hours: pd.Series) -> np.ndarray:
    """Return the share of incidents by hour of call (24 values)."""
    h = _num(hours).dropna().astype(int)
    counts = np.bincount(h.clip(0, 23), minlength=24).astype(float)
    return counts / max(counts.sum(), 1.0)


def _attendance_rows(section: str, demo: pd.Series, real: pd.Series | None) -> list[Row]:
    """Rows of summary figures of attendance times (s)."""
    d = _num(demo).dropna()
    r = _num(real).dropna() if real is not None else None
    figures = [("mean", lambda s: s.mean()), ("median", lambda s: s.median()),
               ("lower quartile (P25)", lambda s: s.quantile(0.25)),
               ("upper quartile (P75)", lambda s: s.quantile(0.75)), ("P90", lambda s: s.quantile(0.9))]
    return [Row(section, name, f(d) if len(d) else None, f(r) if r is not None and len(r) else None, "s")
            for name, f in figures]


def _travel_band_rows(demo: pd.DataFrame, real: pd.DataFrame | None) -> list[Row]:
    """Travel time median / P10 / P90 by straight-line distance band, demo vs the real travel file."""
    rows = []
    edges = REPORT_BANDS_M
    for lo, hi in zip(edges[:-1], edges[1:]):
        label = f"{lo / 1000:g}-{hi / 1000:g} km" if hi < 50_000 else f"over {lo / 1000:g} km"
        d = demo.travel[(demo.distance >= lo) & (demo.distance < hi)]
        r = None
        if real is not None:
            r = real.TravelTimeSeconds[(real.DistanceMetres >= lo) & (real.DistanceMetres < hi)]
        for name, q in (("P10", 0.1), ("median", 0.5), ("P90", 0.9)):
            rows.append(Row("travel time by distance (all pumps)", f"{label}: {name}",
                            d.quantile(q) if len(d) else None,
                            r.quantile(q) if r is not None and len(r) else None, "s"))
        rows.append(Row("travel time by distance (all pumps)", f"{label}: share of pumps",
                        len(d) / max(len(demo), 1) * 100,
                        len(r) / max(len(real), 1) * 100 if r is not None else None, "%"))
    return rows


def _hour_effect(table: pd.DataFrame, distance: str, travel: str, hour: str) -> float | None:
    """Return median travel at 11:00-16:59 over that at 21:00-05:59, for journeys of 1-3 km."""
    t = table[(table[distance] >= 1000) & (table[distance] < 3000)]
    day = t[travel][t[hour].between(11, 16)]
    night = t[travel][(t[hour] >= 21) | (t[hour] <= 5)]
    if not len(day) or not len(night):
        return None
    return float(day.median() / night.median())


def calibration_report(demo: DemoSource, real_dir: Path | str) -> list[Row]:
    """Return the report rows: each figure of the demo data next to the real data's (None where unknown)."""
    frames = load_demo(demo)
    real, travel = load_real(Path(real_dir))
    inc, mob = frames.incidents, frames.mobilisations
    rinc = real.incidents if real is not None else None
    have_real = real is not None or travel is not None

    def about_real(note: str) -> str:
        """Return a note that speaks of the real data, or nothing when there is none."""
        return note if have_real else ""
    rows: list[Row] = [Row("volume", "incidents", float(len(inc)), float(len(rinc)) if rinc is not None else None,
                           "n", about_real("the real side is a sample")),
                       Row("volume", "mobilisations", float(len(mob)), None, "n")]

    section = "first pump attendance (mobilised to arrived)"
    rows += _attendance_rows(section, inc.first_pump_seconds,
                             rinc.first_pump_seconds if rinc is not None else None)

    def over(series: pd.Series | None, limit: float) -> float | None:
        """Return the share (%) of values above `limit`."""
        s = _num(series).dropna() if series is not None else None
        return float((s > limit).mean() * 100) if s is not None and len(s) else None

    rows.append(Row(section, "share over 360 s (6 min target)", over(inc.first_pump_seconds, 360),
                    over(rinc.first_pump_seconds, 360) if rinc is not None else None, "%"))
    rows.append(Row(section, "maximum", _num(inc.first_pump_seconds).max(),
                    _num(rinc.first_pump_seconds).max() if rinc is not None else None, "s",
                    "published files hold nothing over 1200 s"))
    section = "second pump attendance"
    rows += _attendance_rows(section, inc.second_pump_seconds,
                             rinc.second_pump_seconds if rinc is not None else None)[:2]

    section = "pumps"

    def share(frame: pd.DataFrame | None, mask_fn) -> float | None:
        """Return the share (%) of rows of `frame` where `mask_fn` holds."""
        if frame is None or not len(frame):
            return None
        return float(mask_fn(frame).mean() * 100)

    rows.append(Row(section, "incidents with a first-pump time", share(inc, lambda f: f.first_pump_seconds.notna()),
                    share(rinc, lambda f: f.first_pump_seconds.notna()), "%"))
    rows.append(Row(section, "incidents with a second pump", share(inc, lambda f: f.second_pump_seconds.notna()),
                    share(rinc, lambda f: f.second_pump_seconds.notna()), "%"))
    own = lambda f: (f.first_pump_station == f.station_ground)[f.first_pump_seconds.notna()]  # noqa: E731
    rows.append(Row(section, "first pump from the incident's own station ground", share(inc, own),
                    share(rinc, own), "%", about_real("README: about 69% in the full data")))
    rows.append(Row(section, "mean pumps attending", _num(inc.num_pumps_attending).mean(),
                    _num(rinc.num_pumps_attending).mean() if rinc is not None else None))
    for name, q in (("first pump's station to incident: median distance", 0.5),
                    ("first pump's station to incident: P90 distance", 0.9)):
        d = _first_pump_distance(inc)
        r = _first_pump_distance(rinc) if rinc is not None else None
        rows.append(Row(section, name, float(np.quantile(d, q)) if len(d) else None,
                        float(np.quantile(r, q)) if r is not None and len(r) else None, "m"))

    for col, title in (("incident_group", "incident group"), ("property_category", "property category")):
        d = _shares(inc[col].dropna())
        r = _shares(rinc[col].dropna()) if rinc is not None else pd.Series(dtype=float)
        for key in sorted(set(d.index) | set(r.index), key=lambda k: -(r.get(k, 0) + d.get(k, 0))):
            rows.append(Row(f"{title} shares", str(key), float(d.get(key, 0.0)),
                            float(r.get(key, 0.0)) if rinc is not None else None, "%"))

    section = "hour of call"
    dp = _hour_profile(inc.hour_of_call)
    rp = _hour_profile(rinc.hour_of_call) if rinc is not None else None
    for start in range(0, 24, 4):
        rows.append(Row(section, f"calls {start:02d}:00-{start + 3:02d}:59", dp[start:start + 4].sum() * 100,
                        rp[start:start + 4].sum() * 100 if rp is not None else None, "%"))
    rows.append(Row(section, "busiest hour", float(np.argmax(dp)), float(np.argmax(rp)) if rp is not None else None,
                    "h"))
    rows.append(Row(section, "hourly profile: correlation demo vs real",
                    float(np.corrcoef(dp, rp)[0, 1]) if rp is not None else None, None, "r",
                    "of the two 24-hour profiles"))

    demo_travel = _mobilisation_distance(frames)
    rows += _travel_band_rows(demo_travel, travel)
    rows.append(Row("travel time by distance (all pumps)", "midday / night median ratio (1-3 km)",
                    _hour_effect(demo_travel, "distance", "travel", "hour"),
                    _hour_effect(travel, "DistanceMetres", "TravelTimeSeconds", "HourOfCall")
                    if travel is not None else None, "", "11:00-16:59 over 21:00-05:59"))

    section = "turnout (mobilised to mobile)"
    turnout = _num(mob.turnout_seconds).dropna()
    rows.append(Row(section, "mean", turnout.mean() if len(turnout) else None,
                    TURNOUT_README[0] if have_real else None, "s",
                    about_real("real value = README figure; the sample has no turnout")))
    rows.append(Row(section, "standard deviation", turnout.std() if len(turnout) > 1 else None,
                    TURNOUT_README[1] if have_real else None, "s", about_real("real value = README figure")))
    night = _num(mob.hour_of_call).isin(range(0, 7))[_num(mob.turnout_seconds).notna()]
    if len(turnout):
        rows.append(Row(section, "mean, calls 00:00-06:59 / 07:00-23:59",
                        turnout[night.to_numpy()].mean() / turnout[~night.to_numpy()].mean(), None, "",
                        "demo only"))
    section = "mobilisations (demo only)"
    location = mob.deployed_from_location.astype("string")
    rows.append(Row(section, "pumps not at their home station", float((location == "Other Station").mean() * 100)
                    if len(mob) else None, None, "%", "brief: about 10%"))
    rows.append(Row(section, "rows with a delay code", float(mob.delay_code_id.notna().mean() * 100)
                    if len(mob) else None, None, "%"))
    rows.append(Row(section, "maximum attendance", _num(mob.attendance_seconds).max() if len(mob) else None,
                    None, "s", "cap 1200 s"))
    return rows


# ---- text --------------------------------------------------------------------------------------

def _fmt(value: float | None, unit: str) -> str:
    """Return a figure as short text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "r":
        return f"{value:.3f}"
    if unit == "n":
        return f"{value:,.0f}"
    if unit == "h":
        return f"{value:02.0f}:00"
    if unit in ("s", "m"):
        return f"{value:,.0f} {unit}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value != int(value) else f"{int(value)}"


def _diff(row: Row) -> str:
    """Return demo minus real as text (points for shares, percent for times)."""
    if row.demo is None or row.real is None or any(math.isnan(v) for v in (row.demo, row.real)):
        return ""
    if row.unit == "%":
        return f"{row.demo - row.real:+.1f} pts"
    if row.unit in ("s", "m") and row.real:
        return f"{(row.demo / row.real - 1) * 100:+.0f}%"
    if row.unit == "":
        return f"{row.demo - row.real:+.2f}"
    if row.unit == "h":
        return f"{row.demo - row.real:+.0f} h"
    return ""


def format_report(rows: list[Row], *, demo_source: str = "", real_dir: Path | str | None = None,
                  real_found: bool = True) -> str:
    """Return the report as a plain-text table, one section after another."""
    lines = ["CALIBRATION REPORT: DEMO data (synthetic) vs real LFB data"]
    if demo_source:
        lines.append(f"demo: {demo_source}")
    if real_found:
        lines.append(f"real: {real_dir} (2023 incident sample Jan-Sep; travel times 2020-2023)")
    else:
        lines.append(f"real: ABSENT - no real LFB data in {real_dir}; showing the demo figures alone")
    width = max([len(r.metric) for r in rows] + [20]) + 2
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            lines += ["", section.upper()]
            lines.append(f"  {'':<{width}}{'demo':>12}" + (f"{'real':>12}{'diff':>11}" if real_found else ""))
        line = f"  {row.metric:<{width}}{_fmt(row.demo, row.unit):>12}"
        if real_found:
            line += f"{_fmt(row.real, row.unit):>12}{_diff(row):>11}"
        if row.note:
            line += f"   ({row.note})"
        lines.append(line.rstrip())
    return "\n".join(lines)


def run_report(db: DemoSource, real_dir: Path | str | None = None) -> str:
    """Return the formatted calibration report (the `python -m lfb calibration` command)."""
    if real_dir is None:
        from lfb.config import get_settings

        real_dir = get_settings().shared_data_dir
    real_dir = Path(real_dir)
    frames = load_demo(db)
    if not len(frames.incidents):
        return (f"CALIBRATION REPORT: no demo rows in {frames.source}; generate them with `python -m lfb demo`"
                + ("" if real_dir.is_dir() else f"\n(real LFB data also absent: {real_dir})"))
    real_found = (real_dir / REAL_INCIDENTS).is_file() or (real_dir / REAL_TRAVEL).is_file()
    rows = calibration_report(frames, real_dir)
    return format_report(rows, demo_source=frames.source, real_dir=real_dir, real_found=real_found)
