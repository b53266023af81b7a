"""Rebuild the project's reference tables in lfb/data/tables/ from the real public LFB data.

Run from the project root with the real data beside the checkout:
    python tools/build_reference.py [--shared ../shared/data]
The outputs are small CSV files of facts (station coordinates, postcode-district
centroids and spread, holiday dates, 1-km grid cells of incident density, the distributions the
demo-data generator is calibrated on), a gzip CSV of every London postcode's point and compact GeoJSON
map layers (boroughs, tidal Thames); they are committed;
the project never needs the source files at run time.
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lfb.geo.grid import bng_to_wgs84, wgs84_to_bng  # noqa: E402
from lfb.geo.layers import BOROUGHS_FILE, LAYER_ATTRIBUTION, THAMES_FILE  # noqa: E402
from lfb.geo.postcodes import ATTRIBUTION as POSTCODE_ATTRIBUTION, normalise_postcode  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "lfb" / "data" / "tables"
CELL_M = 1000
PRIOR_LAST_YEAR = 2022  # travel priors use only years before the real sample's evaluation window
SOURCE = ("# source: London Fire Brigade incident records 2023 sample (London Datastore, "
          "Open Government Licence v3), {extra}\n")


def _mode(series: pd.Series) -> str | None:
    """Return the most frequent non-null value of a series, or None."""
    values = series.dropna()
    return None if values.empty else values.value_counts().index[0]


def _write(df: pd.DataFrame, name: str, source: str) -> None:
    """Write a reference table with its one-line source comment."""
    path = OUT / name
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(source)
        df.to_csv(fh, index=False, lineterminator="\n")
    print(f"wrote {path.relative_to(OUT.parent.parent)} ({len(df)} rows)")


def _distance_rows(name: str, incidents: pd.DataFrame, travel: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """Return incident x, y and the published station-to-incident distance for a station's travel rows."""
    rows = travel[travel.DeployedFromStation_Name == name].merge(incidents, on="IncidentNumber")
    x = rows.Easting_m.fillna(rows.Easting_rounded).to_numpy(float)
    y = rows.Northing_m.fillna(rows.Northing_rounded).to_numpy(float)
    return x, y, rows.DistanceMetres.to_numpy(float)


def locate_station(name: str, incidents: pd.DataFrame, travel: pd.DataFrame) -> tuple[float, float, float, int]:
    """Estimate a station's grid position from LFB's straight-line distances to incidents it attended.

    Multilateration: least squares on |station - incident| = DistanceMetres over the incidents of the
    travel-time file that are also in the incident sample, started at the median of the station's ground.
    Returns easting, northing, the largest residual (m) and the number of incidents used.
    """
    x, y, d = _distance_rows(name, incidents, travel)
    if len(d) < 3:
        raise ValueError(f"cannot locate {name}: only {len(d)} incidents with a known distance")
    ground = incidents[incidents.IncidentStationGround == name]
    p = np.array([ground.Easting_rounded.median(), ground.Northing_rounded.median()], dtype=float)
    for _ in range(100):
        r = np.maximum(np.hypot(x - p[0], y - p[1]), 1.0)
        jac = np.c_[(p[0] - x) / r, (p[1] - y) / r]
        p = p + np.linalg.lstsq(jac, d - r, rcond=None)[0]
    residual = float(np.abs(np.hypot(x - p[0], y - p[1]) - d).max())
    return float(p[0]), float(p[1]), residual, len(d)


def checked_position(name: str, lat: float, lon: float, incidents: pd.DataFrame,
                     travel: pd.DataFrame) -> tuple[float, float, str]:
    """Return a station's coordinates, replaced by the multilaterated ones when the source's are missing or
    clearly disagree with LFB's own distances (>= 5 incidents fitting within 60 m, source > 250 m away)."""
    missing = lat == 0 and lon == 0
    try:
        e, n, residual, used = locate_station(name, incidents, travel)
    except ValueError:
        if missing:
            raise
        return lat, lon, ""
    e0, n0 = wgs84_to_bng(lat, lon)
    offset = float(np.hypot(e - e0, n - n0))
    if missing or (used >= 5 and residual < 60 and offset > 250):
        new_lat, new_lon = (float(v) for v in bng_to_wgs84(e, n))
        why = "no coordinates in the source" if missing else f"source position {offset:,.0f} m off"
        return new_lat, new_lon, f"{name}: {why}; located from {used} LFB distances (max residual {residual:.0f} m)"
    return lat, lon, ""


def build_stations(shared: Path, incidents: pd.DataFrame) -> None:
    """Stations with coordinates, grid references and the borough of their ground."""
    st = pd.read_csv(shared / "stations.csv")
    travel = pd.read_csv(shared / "travel_times_2020_2023.csv")
    for i in st.index[st.brigade == "London Fire Brigade"]:
        lat, lon, note = checked_position(st.station_name[i], st.latitude[i], st.longitude[i], incidents, travel)
        if note:
            st.loc[i, ["latitude", "longitude"]] = lat, lon
            print(f"station {note}")
    borough = incidents.groupby("IncidentStationGround")["IncGeo_BoroughName"].agg(_mode)
    e, n = wgs84_to_bng(st.latitude, st.longitude)
    out = pd.DataFrame({
        "station_code": st.station_code,
        "station_name": st.station_name,
        "brigade": st.brigade,
        "is_lfb": (st.brigade == "London Fire Brigade").astype(int),
        "borough_name": st.station_name.map(borough),
        "latitude": st.latitude.round(6),
        "longitude": st.longitude.round(6),
        "easting": np.round(e, 1),
        "northing": np.round(n, 1),
    })
    _write(out, "stations.csv", "# source: LFB station list with coordinates (London Datastore / LFB, OGL v3); "
           "borough = most frequent borough of the station ground's incidents in the 2023 sample; stations without "
           "coordinates, or whose published position disagrees with LFB's own station-to-incident distances, "
           "located from those distances (tools/build_reference.py: checked_position)\n")


def build_postcodes(shared: Path, incidents: pd.DataFrame) -> None:
    """London postcode districts: a central point of their live London postcodes, the spread, main borough."""
    stats = incidents.groupby("Postcode_district").agg(
        borough_name=("IncGeo_BoroughName", _mode), borough_code=("IncGeo_BoroughCode", _mode),
        incidents=("IncidentNumber", "size"))
    live = _live_postcodes(shared)
    lfb_name = pd.read_csv(OUT / "boroughs.csv", skiprows=1).set_index("gss_code").lfb_name  # built above
    added = live.groupby("postcode_district").borough_code.agg(_mode).drop(stats.index, errors="ignore")
    print(f"districts with live London postcodes added to the incidents' {len(stats)}: {len(added)} "
          f"({', '.join(added.index)})")
    stats = pd.concat([stats, pd.DataFrame({"borough_name": added.map(lfb_name), "borough_code": added,
                                            "incidents": 0})]).sort_index()
    centre = _district_centres(shared, incidents, _central_postcodes(live), stats.index)
    distance = np.hypot(live.easting - live.postcode_district.map(centre.easting),
                        live.northing - live.postcode_district.map(centre.northing))
    spread = pd.Series(distance).groupby(live.postcode_district)
    out = stats.join(pd.DataFrame({"postcodes": spread.size(), "spread_p50_m": spread.quantile(0.5).round(),
                                   "spread_p90_m": spread.quantile(0.9).round()}))
    out = out.fillna({"postcodes": 0}).astype({"postcodes": int, "spread_p50_m": "Int64", "spread_p90_m": "Int64"})
    lat, lon = bng_to_wgs84(centre.easting.to_numpy(float), centre.northing.to_numpy(float))
    out = out.join(pd.DataFrame({"latitude": np.round(lat, 6), "longitude": np.round(lon, 6)}, index=centre.index))
    out = out.reset_index(names="postcode_district")
    _write(out[["postcode_district", "latitude", "longitude", "borough_code", "borough_name", "incidents",
                "postcodes", "spread_p50_m", "spread_p90_m"]],
           "postcode_districts.csv", SOURCE.format(
               extra="incidents = sample incidents of the district; districts = those of the sample and those of "
                     "live London postcodes in OS Code-Point Open; latitude/longitude = the district's centre: its "
                     "live London postcode nearest the mean position of them all (the ONS/Doogal outcode list's "
                     "centroid where it has none), postcodes = their number, spread_p50_m/spread_p90_m = median and "
                     f"90th percentile of their distance (m) from the centre; Code-Point: {POSTCODE_ATTRIBUTION}"))


def _live_postcodes(shared: Path) -> pd.DataFrame:
    """Return the live London postcodes of the Code-Point extract: district, grid point and borough."""
    pc = pd.read_csv(shared / "london_postcodes.csv",
                     usecols=["postcode_district", "easting", "northing", "in_use", "borough_code", "borough_name"])
    ended = sorted(set(pc.postcode_district) - set(pc.postcode_district[pc.in_use == 1]))
    print(f"districts with only terminated London postcodes (left out): {', '.join(ended) or 'none'}")
    return pc[pc.in_use == 1].reset_index(drop=True)


def _central_postcodes(live: pd.DataFrame) -> pd.DataFrame:
    """Return, per district, the grid point of its live postcode nearest the mean position of them all."""
    mean = live.groupby("postcode_district")[["easting", "northing"]].transform("mean")
    distance = pd.Series(np.hypot(live.easting - mean.easting, live.northing - mean.northing))
    nearest = distance.groupby(live.postcode_district).idxmin().to_numpy()
    return live.loc[nearest, ["postcode_district", "easting", "northing"]].set_index("postcode_district")


def _district_centres(shared: Path, incidents: pd.DataFrame, postcode_centre: pd.DataFrame,
                      districts: pd.Index) -> pd.DataFrame:
    """Return each district's centre (easting, northing): its central live London postcode, else the outcode list's
    centroid, else the mean of its incidents; print how far the outcode list's centroid is from the first."""
    uk = pd.read_csv(shared / "postcode_outcodes_uk.csv").set_index("outcode").reindex(districts)
    listed = pd.DataFrame(np.column_stack(wgs84_to_bng(uk.latitude.to_numpy(float), uk.longitude.to_numpy(float))),
                          index=districts, columns=["easting", "northing"])
    own = incidents.groupby("Postcode_district")[["Easting_rounded", "Northing_rounded"]].mean()
    own.columns = ["easting", "northing"]
    centre = postcode_centre.reindex(districts).fillna(listed).fillna(own.reindex(districts))
    offset = np.hypot(*(listed - postcode_centre.reindex(districts)).to_numpy().T)
    far = pd.Series(offset, index=districts).dropna().sort_values(ascending=False)
    print("outcode-list centroids > 1 km from the districts' London postcodes: "
          + ", ".join(f"{d} {m:,.0f} m" for d, m in far[far > 1000].items()))
    if centre.isna().any().any():
        raise ValueError(f"no centroid for {list(centre.index[centre.isna().any(axis=1)])}")
    return centre


def build_cells(incidents: pd.DataFrame, stations: pd.DataFrame) -> None:
    """1-km grid cells of Greater London with incident counts and the cell's usual attributes."""
    df = incidents.assign(cx=incidents.Easting_rounded // CELL_M, cy=incidents.Northing_rounded // CELL_M)
    cells = df.groupby(["cx", "cy"]).agg(
        incidents=("IncidentNumber", "size"), station_ground=("IncidentStationGround", _mode),
        borough_code=("IncGeo_BoroughCode", _mode), borough_name=("IncGeo_BoroughName", _mode),
        ward_code=("IncGeo_WardCode", _mode), ward_name=("IncGeo_WardName", _mode),
        postcode_district=("Postcode_district", _mode)).reset_index()
    seen = set(zip(cells.cx, cells.cy))
    ring = sorted({(x + i, y + j) for x, y in seen for i in (-1, 0, 1) for j in (-1, 0, 1)} - seen)
    rim = pd.DataFrame(ring, columns=["cx", "cy"])
    # attributes of a rim cell: those of the nearest populated cell
    px, py = cells.cx.to_numpy(), cells.cy.to_numpy()
    nearest = [int(np.argmin((px - x) ** 2 + (py - y) ** 2)) for x, y in ring]
    for col in ["station_ground", "borough_code", "borough_name", "ward_code", "ward_name", "postcode_district"]:
        rim[col] = cells[col].to_numpy()[nearest]
    rim["incidents"] = 0
    out = pd.concat([cells, rim], ignore_index=True).sort_values(["cx", "cy"])
    out.insert(0, "easting", out.pop("cx") * CELL_M)
    out.insert(1, "northing", out.pop("cy") * CELL_M)
    _write(out, "london_cells.csv", SOURCE.format(
        extra="counted on a 1 km British National Grid (easting/northing = south-west corner); "
              "cells with 0 incidents are the one-cell rim around populated cells"))


def build_calendar(shared: Path) -> None:
    """Bank holidays and London school-holiday periods as compact date ranges."""
    cal = pd.read_csv(shared / "london_calendar_2009_2024.csv", parse_dates=["date"])
    rows = [{"start": d.date(), "end": d.date(), "kind": "bank_holiday", "name": ""}
            for d in cal.date[cal.bank_holiday]]
    school = cal[cal.school_holiday].copy()
    school["block"] = (school.date.diff().dt.days.ne(1) | school.school_holiday_type.ne(
        school.school_holiday_type.shift())).cumsum()
    for _, g in school.groupby("block"):
        rows.append({"start": g.date.min().date(), "end": g.date.max().date(), "kind": "school_holiday",
                     "name": g.school_holiday_type.iloc[0]})
    out = pd.DataFrame(rows).sort_values(["start", "kind"])
    _write(out, "calendar.csv", "# source: UK bank holidays (gov.uk) and London school holidays 2009-2024, "
           "as compiled in the LFB research calendar; later years follow rules in lfb/reference.py\n")


# ---- demo-data calibration ------------------------------------------------------------------

DEMO_SOURCE = ("# source: London Fire Brigade incident records 2023 sample (Jan-Sep) and per-vehicle travel "
               "times 2020-2023 (London Datastore, Open Government Licence v3), {extra}\n")
TRAVEL_EDGES_M = (0, 250, 500, 750, 1000, 1250, 1500, 1750, 2000, 2500, 3000, 3500, 4000, 5000, 6000, 8000, 16000)
U_KNOTS = (0.0025, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99, 0.9975)
MAX_PUMPS = 10


def _r(values, digits: int = 5) -> list:
    """Return numbers as a plain list rounded for a compact, stable JSON table."""
    return [round(float(v), digits) for v in np.asarray(values, dtype=float)]


def _smooth_circular(values: np.ndarray, kernel: tuple[float, ...]) -> np.ndarray:
    """Smooth a 24-hour profile with a symmetric kernel, wrapping round midnight."""
    k = np.asarray(kernel, float) / sum(kernel)
    half = len(k) // 2
    padded = np.concatenate([values[-half:], values, values[:half]])
    return np.convolve(padded, k, mode="valid")


def _stop_keys(incidents: pd.DataFrame, min_rows: int = 20) -> dict[str, str]:
    """Map each stop code to itself, or a rare one to its incident group's commonest stop code."""
    counts = incidents.groupby(["IncidentGroup", "StopCodeDescription"]).size()
    keys = {}
    for (group, stop), n in counts.items():
        keys[stop] = stop if n >= min_rows else counts[group].idxmax()
    return keys


def _travel_model(travel: pd.DataFrame) -> tuple[dict, pd.Series]:
    """Fit travel time ~ distance curve x hour x station x residual quantiles by distance band."""
    d = travel.DistanceMetres.clip(lower=25.0).to_numpy()
    y = np.log(travel.TravelTimeSeconds.clip(lower=1.0).to_numpy())
    edges = np.asarray(TRAVEL_EDGES_M, float)
    band = np.clip(np.digitize(d, edges) - 1, 0, len(edges) - 2)
    frame = pd.DataFrame({"band": band, "d": d, "y": y, "hour": travel.HourOfCall.to_numpy(),
                          "station": travel.DeployedFromStation_Name.to_numpy()})
    by_band = frame.groupby("band")
    centre, median = by_band.d.median().to_numpy(), by_band.y.median().to_numpy()
    frame["r"] = frame.y - np.interp(np.log(frame.d), np.log(centre), median)
    hour = frame.groupby("hour").r.median().reindex(range(24)).fillna(0.0)
    frame["r"] -= frame.hour.map(hour)
    stats = frame.groupby("station").r.agg(["median", "size"])
    station = stats["median"] * stats["size"] / (stats["size"] + 50.0)  # shrunk towards no effect
    frame["r"] -= frame.station.map(station)
    year = travel.IncidentNumber.astype(str).str.extract(r"(\d{4})$")[0].astype(int).to_numpy()
    by_year = frame.r.groupby(year).median()
    quantiles = [_r(np.quantile(g.r, U_KNOTS), 4) for _, g in frame.groupby("band")]
    seconds = np.exp(frame.y).groupby(frame.band)
    model = {
        "band_edges_m": list(TRAVEL_EDGES_M),
        "band_centre_m": _r(centre, 1),
        "band_median_s": _r(np.exp(median), 1),
        "hour_factor": _r(np.exp(hour.to_numpy()), 4),
        "year_factor": {str(y): round(float(np.exp(v)), 4) for y, v in by_year.items()},
        "residual_knots": list(U_KNOTS),
        "residual_quantiles": quantiles,
        "real_p10_s": _r(seconds.quantile(0.1), 1),
        "real_p90_s": _r(seconds.quantile(0.9), 1),
        "real_rows": [int(v) for v in seconds.size()],
    }
    return model, np.exp(station)


def _type_factors(incidents: pd.DataFrame, coords: pd.DataFrame, keys: dict[str, str]) -> dict:
    """Attendance effects of stop code and property category beyond distance (log-median, shrunk)."""
    x = incidents[incidents.FirstPumpArriving_AttendanceTime.notna()]
    xy = coords.set_index("station_name").loc[x.FirstPumpArriving_DeployedFromStation, ["easting", "northing"]]
    xy = xy.to_numpy(float)
    dist = np.hypot(xy[:, 0] - x.Easting_rounded.to_numpy(), xy[:, 1] - x.Northing_rounded.to_numpy())
    ld, ly = np.log(np.clip(dist, 50, None)), np.log(x.FirstPumpArriving_AttendanceTime.clip(lower=30).to_numpy())
    resid = pd.Series(ly - np.polyval(np.polyfit(ld, ly, 2), ld), index=x.index)
    out = {}
    for name, col in (("stop_code", x.StopCodeDescription.map(keys)), ("property_category", x.PropertyCategory)):
        stats = resid.groupby(col).agg(["median", "size"])
        effect = (stats["median"] - resid.median()) * stats["size"] / (stats["size"] + 100.0)
        out[name] = {k: round(float(np.exp(v)), 4) for k, v in effect.items()}
    return out


def _hour_profiles(incidents: pd.DataFrame, keys: dict[str, str], when: pd.Series) -> dict:
    """Hour-of-call probabilities by stop-code key and day type (weekday / weekend)."""
    hour = incidents.HourOfCall.astype(int)
    weekend = when.dt.day_of_week >= 5
    key = incidents.StopCodeDescription.map(keys)
    overall = np.bincount(hour, minlength=24).astype(float)
    overall /= overall.sum()
    out: dict[str, dict[str, list]] = {"weekday": {}, "weekend": {}}
    base = {}
    for day, mask in (("weekday", ~weekend), ("weekend", weekend)):
        counts = np.bincount(hour[mask], minlength=24).astype(float)
        base[day] = _smooth_circular(counts / counts.sum(), (1, 2, 1))
    for k in sorted(set(keys.values())):
        counts = np.bincount(hour[key == k], minlength=24).astype(float)
        counts = _smooth_circular(counts, (1, 2, 3, 2, 1))
        ratio = (counts + 200 * overall) / (counts.sum() + 200) / overall
        for day in out:
            p = base[day] * ratio
            out[day][k] = _r(p / p.sum(), 5)
    return out


def _month_factors(incidents: pd.DataFrame, keys: dict[str, str], when: pd.Series) -> tuple[list, dict]:
    """Relative daily incident rate by month and each stop-code key's share by month."""
    month = when.dt.month
    days = when.dt.normalize().groupby(month).nunique()
    rate = incidents.groupby(month).size() / days
    rate = 0.5 * rate + 0.5 * rate.mean()  # one year's weather is noise; keep half of it
    seen = sorted(rate.index)
    cool = rate.loc[[m for m in (1, 2, 3) if m in rate.index]].mean()
    rates = np.array([rate.get(m, cool) for m in range(1, 13)])
    key = incidents.StopCodeDescription.map(keys)
    share = pd.crosstab(key, month)
    overall = share.sum(axis=0)
    factors = {}
    for k, row in share.iterrows():
        p_key = row.sum() / overall.sum()
        by_month = (row + 50 * p_key) / (overall + 50) / p_key
        cool_k = by_month.loc[[m for m in (1, 2, 3) if m in seen]].mean()
        factors[k] = _r([by_month.get(m, cool_k) for m in range(1, 13)], 4)
    return _r(rates / rates.mean(), 4), factors


def _pump_distributions(incidents: pd.DataFrame, keys: dict[str, str]) -> dict:
    """Number of pumps attending, by 'stop key|property category' (enough rows) and by stop key."""
    x = incidents[incidents.FirstPumpArriving_AttendanceTime.notna() & incidents.NumPumpsAttending.notna()]
    pumps = x.NumPumpsAttending.clip(upper=MAX_PUMPS).astype(int)
    key = x.StopCodeDescription.map(keys)
    out = {}
    for k, group in pumps.groupby(key):
        out[k] = _r(np.bincount(group, minlength=MAX_PUMPS + 1)[1:] / len(group), 5)
    for (k, cat), group in pumps.groupby([key, x.PropertyCategory]):
        if len(group) >= 40:
            out[f"{k}|{cat}"] = _r(np.bincount(group, minlength=MAX_PUMPS + 1)[1:] / len(group), 5)
    return out


def _no_first_pump(incidents: pd.DataFrame, keys: dict[str, str]) -> dict:
    """Share of incidents with no first-pump attendance time, by 'stop key|special service type'."""
    missing = incidents.FirstPumpArriving_AttendanceTime.isna()
    key = incidents.StopCodeDescription.map(keys)
    special = incidents.SpecialServiceType.fillna("")
    out = {k: round(float(v), 4) for k, v in missing.groupby(key).mean().items()}
    for (k, s), group in missing.groupby([key, special]):
        if s and len(group) >= 20:
            out[f"{k}|{s}"] = round(float(group.mean()), 4)
    return out


ON_SCENE_MEDIAN_MIN = {"False Alarm": 7.0, "Fire": 15.0, "Special Service": 15.0}  # assumed body of the curve


def _busy_minutes(incidents: pd.DataFrame) -> dict:
    """Lognormal minutes a pump stays at the scene, by incident group: assumed median, tail from pump minutes.

    Pump minutes are published rounded up to at least 60, so only their tail is seen: sigma is set so that a
    one-pump incident (about 5 minutes to arrive) passes 60 pump minutes as often as in the sample.
    """
    from statistics import NormalDist

    x = incidents[(incidents.NumPumpsAttending == 1) & incidents.FirstPumpArriving_AttendanceTime.notna()]
    out = {}
    for group, minutes in x.groupby("IncidentGroup").PumpMinutesRounded:
        over = float(np.clip((minutes > 60).mean(), 0.002, 0.4))
        median = ON_SCENE_MEDIAN_MIN[group]
        sigma = (np.log(55.0) - np.log(median)) / NormalDist().inv_cdf(1 - over)
        out[group] = {"median_min": median, "sigma": round(float(sigma), 4), "share_over_60": round(over, 4)}
    return out


def _notional_cost_rates(shared: Path, incidents: pd.DataFrame, when: pd.Series) -> dict:
    """Notional cost (pounds) per pump hour by fiscal year (April start), from the records."""
    rates: dict[int, float] = {}
    fiscal = when.dt.year - (when.dt.month < 4).astype(int)
    per_hour = incidents["Notional Cost (£)"] / (incidents.PumpMinutesRounded / 60.0)
    for year, values in per_hour.groupby(fiscal):
        rates[int(year)] = float(values.median())
    for name, hours_col in (("incidents_2009_first_rows.csv", "PumpMinutesRounded"),
                            ("incidents_2020_first_rows.csv", "PumpHoursRoundUp")):
        raw = pd.read_csv(shared / "raw_format_samples" / name)
        day = pd.to_datetime(raw.DateOfCall, format="mixed", dayfirst=True)
        hours = raw[hours_col] / (60.0 if hours_col == "PumpMinutesRounded" else 1.0)
        ok = hours.notna() & raw["Notional Cost (£)"].notna()
        year = int((day.dt.year - (day.dt.month < 4).astype(int))[ok].iloc[0])
        rates.setdefault(year, float((raw["Notional Cost (£)"][ok] / hours[ok]).median()))
    years = sorted(rates)
    recent = [y for y in years if y >= 2019]
    growth = (rates[recent[-1]] / rates[recent[0]]) ** (1 / (recent[-1] - recent[0])) - 1
    return {"by_fiscal_year": {str(y): round(rates[y]) for y in years}, "yearly_growth": round(growth, 4)}


def _demo_stations(incidents: pd.DataFrame, st: pd.DataFrame, travel_factor: pd.Series) -> pd.DataFrame:
    """Stations with pump count (inferred from the sample), travel-time factor and ground workload."""
    multi = incidents[(incidents.NumPumpsAttending >= 2) & incidents.SecondPumpArriving_DeployedFromStation.notna()]
    same = (multi.SecondPumpArriving_DeployedFromStation == multi.FirstPumpArriving_DeployedFromStation)
    share = same.groupby(multi.FirstPumpArriving_DeployedFromStation).agg(["mean", "size"])
    two = share[(share["mean"] >= 0.2) & (share["size"] >= 8)].index
    ground = incidents.IncidentStationGround.value_counts()
    out = pd.DataFrame({
        "station_code": st.station_code,
        "station_name": st.station_name,
        "is_lfb": st.is_lfb,
        "pumps": np.where(st.station_name.isin(two), 2, 1),
        "travel_factor": st.station_name.map(travel_factor).fillna(1.0).round(4),
        "ground_incidents": st.station_name.map(ground).fillna(0).astype(int),
    })
    return out


def _compact_json(value: object) -> str:
    """Return indented JSON with each list of numbers kept on one line."""
    text = json.dumps(value, indent=1, ensure_ascii=False)
    return re.sub(r"\[\s+([-+\d.eE,\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)


def build_demo_calibration(shared: Path, incidents: pd.DataFrame) -> None:
    """Distributions the demo-data generator (lfb/demo.py) is calibrated on, as three compact tables."""
    incidents = incidents.copy()
    when = pd.to_datetime(incidents.DateOfCall)
    keys = _stop_keys(incidents)
    travel = pd.read_csv(shared / "travel_times_2020_2023.csv")
    st = pd.read_csv(OUT / "stations.csv", skiprows=1)  # built above: coordinates of every station known
    travel_model, station_factor = _travel_model(travel)
    _write(_demo_stations(incidents, st, station_factor), "demo_stations.csv", DEMO_SOURCE.format(
        extra="pumps = 2 where the sample shows both pumps of a station attending together, travel_factor = the "
              "station's travel-time effect beyond distance and hour (shrunk), ground_incidents = sample incidents "
              "on its ground"))

    columns = {"IncidentGroup": "incident_group", "StopCodeDescription": "stop_code",
               "SpecialServiceType": "special_service_type", "PropertyCategory": "property_category",
               "PropertyType": "property_type", "AddressQualifier": "address_qualifier"}
    types = incidents.fillna({"SpecialServiceType": ""}).groupby(list(columns)).agg(
        count=("IncidentNumber", "size"), redacted=("Postcode_full", lambda s: int(s.isna().mean() > 0.5)))
    types = types.reset_index().rename(columns=columns)
    redacted_types = types.groupby(["property_category", "property_type"]).redacted.max()
    types["redacted"] = [redacted_types[(c, t)] for c, t in zip(types.property_category, types.property_type)]
    types.insert(0, "stop_key", types.stop_code.map(keys))
    _write(types.sort_values(["incident_group", "stop_code", "count"], ascending=[True, True, False]),
           "demo_incident_types.csv", DEMO_SOURCE.format(
               extra="joint mix of incident type, property and address qualifier with sample counts; redacted = "
                     "the published files blank the exact location of this property type"))

    month_rate, month_type = _month_factors(incidents, keys, when)
    weekday = incidents.groupby(when.dt.day_of_week).size() / when.dt.normalize().groupby(when.dt.day_of_week).nunique()
    first = incidents.FirstPumpArriving_AttendanceTime.dropna()
    calls = incidents.NumCalls.fillna(1).clip(lower=1).astype(int)
    calibration = {
        "stop_keys": keys,
        "hour_profile": _hour_profiles(incidents, keys, when),
        "weekday_factor": _r(weekday / weekday.mean(), 4),
        "month_rate": month_rate,
        "month_type_factor": month_type,
        "pumps": _pump_distributions(incidents, keys),
        "no_first_pump": _no_first_pump(incidents, keys),
        "no_first_pump_count_missing": round(float(
            incidents.NumPumpsAttending.isna().sum() / incidents.FirstPumpArriving_AttendanceTime.isna().sum()), 4),
        "num_calls": {k: {str(v): int(n) for v, n in sorted(c.value_counts().items())}
                      for k, c in calls.groupby(incidents.StopCodeDescription.map(keys))},
        "busy_minutes": _busy_minutes(incidents),
        "travel": travel_model,
        "type_factor": _type_factors(incidents, st, keys),
        "ward_missing_share": round(float(incidents.IncGeo_WardCode.isna().mean()), 5),
        "borough_proper_case": dict(sorted(zip(incidents.IncGeo_BoroughName, incidents.ProperCase))),
        "notional_cost_rate": _notional_cost_rates(shared, incidents, when),
        "delay_codes": {
            "note": "ids and descriptions as they appear in the published mobilisation files (raw format "
                    "samples); shares approximate the full published file (most rows carry no code)",
            "codes": [{"id": 12, "description": "Not held up", "share": 0.11},
                      {"id": 9, "description": "Traffic, roadworks, etc", "share": 0.034},
                      {"id": 5, "description": "Address incomplete/wrong", "share": 0.0075}],
        },
        "turnout": {"mean_s": 70.0, "sd_s": 38.0,
                    "note": "LFB figure quoted in the shared data README (turnout is not in the sample)"},
        "other_station_share": 0.10,
        "real_figures": {
            "first_pump_mean_s": round(float(first.mean()), 1),
            "first_pump_quartiles_s": _r(first.quantile([0.25, 0.5, 0.75]), 1),
            "own_ground_first_share": round(float((incidents.FirstPumpArriving_DeployedFromStation
                                                   == incidents.IncidentStationGround)[first.index].mean()), 4),
            "second_pump_share": round(float(incidents.SecondPumpArriving_AttendanceTime.notna().mean()), 4),
        },
    }
    path = OUT / "demo_calibration.json"
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(DEMO_SOURCE.format(extra="shared-data README figures for turnout; the first line is this comment, "
                                          "the rest is JSON"))
        fh.write(_compact_json(calibration) + "\n")
    print(f"wrote {path.relative_to(OUT.parent.parent)}")

def build_travel_priors(shared: Path) -> None:
    """Typical travel speed of each station and each hour, relative to a distance-only curve (2020-2022)."""
    from sklearn.isotonic import IsotonicRegression

    travel = pd.read_csv(shared / "travel_times_2020_2023.csv")
    travel = travel[travel.IncidentNumber.str[-4:].astype(int) <= PRIOR_LAST_YEAR]  # never the 2023 test months
    d, t = travel.DistanceMetres.to_numpy(float), travel.TravelTimeSeconds.to_numpy(float)
    bins = np.unique(np.quantile(d, np.linspace(0, 1, 41)))
    idx = np.clip(np.searchsorted(bins, d) - 1, 0, len(bins) - 2)
    mids = pd.Series(d).groupby(idx).median().to_numpy()
    meds = IsotonicRegression().fit_transform(mids, pd.Series(t).groupby(idx).median().to_numpy())
    ratio = t / np.interp(d, mids, meds)
    codes = dict(zip(*[pd.read_csv(OUT / "stations.csv", skiprows=1)[c] for c in ("station_name", "station_code")]))
    rows = []
    for kind, key in (("station", travel.DeployedFromStation_Name.map(codes)), ("hour", travel.HourOfCall)):
        stats = pd.DataFrame({"key": key, "ratio": ratio}).dropna().groupby("key").ratio.agg(["median", "size"])
        # shrink towards 1 by sample size: factor = 1 + (median - 1) * n / (n + 50)
        factor = 1 + (stats["median"] - 1) * stats["size"] / (stats["size"] + 50)
        rows += [{"kind": kind, "key": k, "factor": round(f, 4), "rows": int(n)}
                 for k, f, n in zip(stats.index, factor, stats["size"])]
    _write(pd.DataFrame(rows), "travel_priors.csv",
           f"# source: LFB per-vehicle travel times 2020-{PRIOR_LAST_YEAR} (London Datastore, OGL v3): median travel "
           "time of each station and each hour of call over a distance-only curve, shrunk towards 1 by sample size\n")


# ---- postcodes, boroughs and map layers --------------------------------------------------------

CODE_POINT = ("# source: OS Code-Point Open, every postcode of the 33 London boroughs (release 2025.4.0 for live "
              "postcodes, in_use=1; terminated ones, in_use=0, from the 2024.1, 2018.3 and 2014.3 releases), {extra}. "
              + POSTCODE_ATTRIBUTION + "\n")
BOUNDARIES = ("London Datastore, Statistical GIS Boundary Files for London (London_Borough_Excluding_MHW), WGS84, "
              "{extra}; coordinates rounded to 5 decimals (about 1 m)")


def build_boroughs(shared: Path, incidents: pd.DataFrame) -> None:
    """The 33 London boroughs: id (the GSS number), GSS code, name, the LFB records' spelling, inner London."""
    features = json.loads((shared / "london_boroughs.geojson").read_text(encoding="utf-8"))["features"]
    props = pd.DataFrame([f["properties"] for f in features])
    lfb_name = incidents.groupby("IncGeo_BoroughCode").IncGeo_BoroughName.agg(_mode)
    code_point = pd.read_csv(shared / "london_postcodes.csv", usecols=["borough_code", "borough_name"])
    code_point = code_point.drop_duplicates().set_index("borough_code").borough_name
    out = pd.DataFrame({"borough_id": props.gss_code.str[3:].astype(int), "gss_code": props.gss_code,
                        "name": props.name, "lfb_name": props.gss_code.map(lfb_name),
                        "inner": (props.ons_inner == "T").astype(int)}).sort_values("borough_id")
    if len(out) != 33 or not out.gss_code.is_unique or out.lfb_name.isna().any():
        raise ValueError("boroughs: expected 33 distinct GSS codes, each spelled in the LFB records")
    if not out.name.equals(out.gss_code.map(code_point)):
        raise ValueError("boroughs: names differ between the boundary file and Code-Point")
    _write(out, "boroughs.csv", "# source: the borough boundary layer's gss_code, name and ons_inner (inner = 1); "
           "lfb_name = the spelling of the LFB incident records 2023 sample (London Datastore, OGL v3); "
           "borough_id = the number of the GSS code (E090000nn). " + LAYER_ATTRIBUTION + "\n")


def _write_gzip(df: pd.DataFrame, name: str, source: str) -> None:
    """Write a reference table as a gzip CSV (first line its source comment), byte-identical on every rebuild."""
    path = OUT / name
    text = source + df.to_csv(index=False, lineterminator="\n")
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as fh:
        fh.write(text.encode("utf-8"))
    print(f"wrote {path.relative_to(OUT.parent.parent)} ({len(df)} rows, {path.stat().st_size:,} bytes)")


def build_postcode_points(shared: Path) -> None:
    """Every London postcode, live and terminated, with its grid point (m) and borough id, as a gzip CSV."""
    pc = pd.read_csv(shared / "london_postcodes.csv", dtype={"postcode": str})
    if not pc.postcode.is_unique or not pc.postcode.map(normalise_postcode).equals(pc.postcode):
        raise ValueError("london_postcodes.csv: postcodes must be unique and in standard form")
    if not pc.postcode.str[:-4].equals(pc.postcode_district):
        raise ValueError("london_postcodes.csv: postcode_district is not the outward code of every postcode")
    out = pd.DataFrame({"postcode": pc.postcode, "easting": pc.easting, "northing": pc.northing,
                        "in_use": pc.in_use, "borough_id": pc.borough_code.str[3:].astype(int)})
    _write_gzip(out.sort_values("postcode"), "london_postcodes.csv.gz", CODE_POINT.format(
        extra="easting/northing = British National Grid metres as published; borough_id = the number of the "
              "borough's GSS code (E090000nn, see boroughs.csv); district = the outward code"))


def _ring(ring: list) -> list[list[float]]:
    """Return a ring with coordinates rounded to 5 decimals, repeated points dropped, closed."""
    points = [[round(float(p[0]), 5), round(float(p[1]), 5)] for p in ring]
    kept = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
    if kept[0] != kept[-1]:
        kept.append(kept[0])
    if len(kept) < 4:
        raise ValueError("ring degenerate after rounding")
    return kept


def _geometry(geometry: dict) -> dict:
    """Return a Polygon or MultiPolygon geometry with compact rings."""
    if geometry["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": [_ring(r) for r in geometry["coordinates"]]}
    if geometry["type"] == "MultiPolygon":
        return {"type": "MultiPolygon", "coordinates": [[_ring(r) for r in p] for p in geometry["coordinates"]]}
    raise ValueError(f"not an area geometry: {geometry['type']}")


def _write_geojson(name: str, features: list[dict], source: str) -> None:
    """Write a compact GeoJSON FeatureCollection, a feature a line, with top-level source and attribution."""
    compact = {"separators": (",", ":"), "ensure_ascii": False}
    head = json.dumps({"type": "FeatureCollection", "name": name.removesuffix(".geojson"), "source": source,
                       "attribution": LAYER_ATTRIBUTION}, **compact)[:-1]
    text = head + ',"features":[\n' + ",\n".join(json.dumps(f, **compact) for f in features) + "\n]}\n"
    path = OUT / name
    path.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {path.relative_to(OUT.parent.parent)} ({len(features)} features, {path.stat().st_size:,} bytes)")


def build_layers(shared: Path) -> None:
    """Borough boundaries and the tidal Thames as the project's compact GeoJSON (the outline is derived at run time)."""
    read = lambda name: json.loads((shared / name).read_text(encoding="utf-8"))["features"]  # noqa: E731
    boroughs = sorted(read("london_boroughs.geojson"), key=lambda f: f["properties"]["gss_code"])
    _write_geojson(BOROUGHS_FILE, [
        {"type": "Feature", "properties": {"name": f["properties"]["name"], "gss_code": f["properties"]["gss_code"],
                                           "inner": f["properties"]["ons_inner"] == "T"},
         "geometry": _geometry(f["geometry"])} for f in boroughs],
        BOUNDARIES.format(extra="simplified at 15 m with shared edges identical; inner = ONS Inner London"))
    _write_geojson(THAMES_FILE, [
        {"type": "Feature", "properties": {"name": "River Thames (tidal)"}, "geometry": _geometry(f["geometry"])}
        for f in read("thames.geojson")],
        BOUNDARIES.format(extra="the tidal Thames within Greater London (Hampton Court to Erith) derived from that "
                                "layer, simplified at 8 m"))


def main() -> None:
    """Build every reference table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    incidents = pd.read_csv(args.shared / "incidents_2023_sample_jan_sep.csv", low_memory=False)
    build_stations(args.shared, incidents)
    build_boroughs(args.shared, incidents)
    build_postcode_points(args.shared)
    build_postcodes(args.shared, incidents)
    build_cells(incidents, pd.read_csv(args.shared / "stations.csv"))
    build_calendar(args.shared)
    build_demo_calibration(args.shared, incidents)
    build_travel_priors(args.shared)
    build_layers(args.shared)


if __name__ == "__main__":
    main()
