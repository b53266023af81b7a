"""Rebuild the project's reference tables in lfb/reference/ from the real public LFB data.

Run from the project root with the real data beside the checkout:
    python tools/build_reference.py [--shared ../shared/data]
The outputs are small CSV files of facts (station coordinates, postcode-district
centroids, holiday dates, 1-km grid cells of incident density) and are committed;
the project never needs the source files at run time.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lfb.geo import bng_to_wgs84, wgs84_to_bng  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "lfb" / "reference"
CELL_M = 1000
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


def locate_station(name: str, incidents: pd.DataFrame, travel: pd.DataFrame) -> tuple[float, float]:
    """Estimate a station's grid position from straight-line distances to incidents it attended.

    Multilateration: least squares on |station - incident| = DistanceMetres over the incidents of the
    travel-time file that are also in the incident sample, started at the median of the station's ground.
    On the stations whose coordinates are known this lands a median 66 m from them.
    """
    rows = travel[travel.DeployedFromStation_Name == name].merge(incidents, on="IncidentNumber")
    if len(rows) < 3:
        raise ValueError(f"cannot locate {name}: only {len(rows)} incidents with a known distance")
    x = rows.Easting_m.fillna(rows.Easting_rounded).to_numpy(float)
    y = rows.Northing_m.fillna(rows.Northing_rounded).to_numpy(float)
    d = rows.DistanceMetres.to_numpy(float)
    ground = incidents[incidents.IncidentStationGround == name]
    p = np.array([ground.Easting_rounded.median(), ground.Northing_rounded.median()], dtype=float)
    for _ in range(100):
        r = np.maximum(np.hypot(x - p[0], y - p[1]), 1.0)
        jac = np.c_[(p[0] - x) / r, (p[1] - y) / r]
        p = p + np.linalg.lstsq(jac, d - r, rcond=None)[0]
    return float(p[0]), float(p[1])


def build_stations(shared: Path, incidents: pd.DataFrame) -> None:
    """Stations with coordinates, grid references and the borough of their ground."""
    st = pd.read_csv(shared / "stations.csv")
    travel = pd.read_csv(shared / "travel_times_2020_2023.csv")
    unknown = (st.latitude == 0) & (st.longitude == 0)
    for i in st.index[unknown]:
        lat, lon = bng_to_wgs84(*locate_station(st.station_name[i], incidents, travel))
        st.loc[i, ["latitude", "longitude"]] = float(lat), float(lon)
        print(f"located {st.station_name[i]} (no coordinates in the source) at {float(lat):.5f}, {float(lon):.5f}")
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
           "borough = most frequent borough of the station ground's incidents in the 2023 sample; Leyton and "
           "Woodford (no coordinates in the source) located from LFB travel distances (tools/build_reference.py)\n")


def build_postcodes(shared: Path, incidents: pd.DataFrame) -> None:
    """London postcode districts seen in LFB records, with centroid and main borough."""
    uk = pd.read_csv(shared / "postcode_outcodes_uk.csv").set_index("outcode")
    stats = incidents.groupby("Postcode_district").agg(
        borough_name=("IncGeo_BoroughName", _mode), borough_code=("IncGeo_BoroughCode", _mode),
        incidents=("IncidentNumber", "size"))
    stats = stats.join(uk, how="left")
    missing = stats[stats.latitude.isna()]
    if len(missing):  # centroid of the district's own incidents when the UK list lacks it
        lat, lon = bng_to_wgs84(incidents.Easting_rounded, incidents.Northing_rounded)
        own = pd.DataFrame({"d": incidents.Postcode_district, "lat": lat, "lon": lon}).groupby("d").mean()
        stats.loc[missing.index, "latitude"] = own.loc[missing.index, "lat"]
        stats.loc[missing.index, "longitude"] = own.loc[missing.index, "lon"]
    out = stats.reset_index(names="postcode_district")
    out["latitude"], out["longitude"] = out.latitude.round(6), out.longitude.round(6)
    _write(out[["postcode_district", "latitude", "longitude", "borough_code", "borough_name", "incidents"]],
           "postcode_districts.csv", SOURCE.format(extra="centroids from ONS/Doogal postcode outcode list"))


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
    rows = [{"start": d.date(), "end": d.date(), "kind": "bank_holiday", "name": ""} for d in cal.date[cal.bank_holiday]]
    school = cal[cal.school_holiday].copy()
    school["block"] = (school.date.diff().dt.days.ne(1) | school.school_holiday_type.ne(
        school.school_holiday_type.shift())).cumsum()
    for _, g in school.groupby("block"):
        rows.append({"start": g.date.min().date(), "end": g.date.max().date(), "kind": "school_holiday",
                     "name": g.school_holiday_type.iloc[0]})
    out = pd.DataFrame(rows).sort_values(["start", "kind"])
    _write(out, "calendar.csv", "# source: UK bank holidays (gov.uk) and London school holidays 2009-2024, "
           "as compiled in the LFB research calendar; later years follow rules in lfb/reference.py\n")


def main() -> None:
    """Build every reference table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    incidents = pd.read_csv(args.shared / "incidents_2023_sample_jan_sep.csv", low_memory=False)
    build_stations(args.shared, incidents)
    build_postcodes(args.shared, incidents)
    build_cells(incidents, pd.read_csv(args.shared / "stations.csv"))
    build_calendar(args.shared)


if __name__ == "__main__":
    main()
