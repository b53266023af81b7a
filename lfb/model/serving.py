"""Serving: estimates for the app, the CLI and batches, with input checks and explicit fallbacks."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlite_utils

from lfb.config import Settings
from lfb.model.features import MISSING_CATEGORY, REQUEST_COLUMNS, feature_arrays, stations_by_distance
from lfb.geo.location import Location, parse_location
from lfb.model.estimator import ResponseModel
from lfb.data.reference import UnknownStation, in_london, resolve_station, stations
from lfb.model.registry import ModelFileError, NoChampion, NothingServes, load_registered, load_serving
from lfb.model.flag import driver_index, served_flags

OPTIONAL_TYPES = ("stop_code", "special_service_type", "property_category", "property_type", "address_qualifier")
PAST_LIMIT_DAYS, FUTURE_LIMIT_DAYS = 365, 730


class NoModel(RuntimeError):
    """No model can serve: none trained yet, or every champion's files are damaged."""


class RequestError(ValueError):
    """A request the model must not answer silently (unknown station or type, place outside London...)."""


@dataclass
class Estimate:
    """One answer: when the pump will arrive, and whether that is likely to be too low."""

    station_code: str
    station_name: str
    median_s: float
    p90_s: float
    p_over_360: float
    distance_m: float
    flag: bool
    flag_reason: str
    notes: list[str] = field(default_factory=list)
    model_version: str = ""
    demo: bool = False
    p_late: float = float("nan")  # chance of arriving over a minute later than the median estimate

    def as_dict(self) -> dict[str, Any]:
        """Return the estimate as plain data."""
        return asdict(self)


class Predictor:
    """A loaded model version ready to answer requests."""

    def __init__(self, model: ResponseModel, metadata: dict[str, Any], warning: str = ""):
        self.model, self.metadata, self.warning = model, metadata, warning
        self.version = metadata["version"]
        self.categories = {k: set(v) for k, v in metadata.get("categories", {}).items()}
        first, last = metadata["time_range"]
        self.time_range = (pd.Timestamp(first), pd.Timestamp(last))
        self.flag_rule = metadata.get("flag_rule")  # None for versions trained before it: station rule only
        self.flag_index = driver_index(self.flag_rule)

    @classmethod
    def from_registry(cls, db: sqlite_utils.Database, settings: Settings, version: str | None = None) -> Predictor:
        """Load a version (default: the champion); if the champion's files are damaged, serve the previous one."""
        if version:
            try:
                return cls(*load_registered(db, settings.models_dir, version))
            except ModelFileError as exc:
                raise ModelFileError(version, f"{exc.problem}; it cannot serve: choose a version that loads "
                                              "(`python -m lfb models list`)") from None
        try:
            serving = load_serving(db, settings.models_dir)
        except (NoChampion, NothingServes) as exc:
            raise NoModel(str(exc)) from None
        return cls(serving.model, serving.metadata, serving.warning)

    # ---- checks -----------------------------------------------------------------------------

    def check_time(self, when: pd.Timestamp) -> None:
        """Refuse times far outside the data the model learned from."""
        first, last = self.time_range
        if when < first - pd.Timedelta(days=PAST_LIMIT_DAYS) or when > last + pd.Timedelta(days=FUTURE_LIMIT_DAYS):
            raise RequestError(f"time {when:%Y-%m-%d %H:%M} is far outside the data this model learned from "
                               f"({first:%Y-%m-%d} to {last:%Y-%m-%d})")

    def _type_values(self, values: dict[str, str | None], notes: list[str]) -> dict[str, str]:
        """Check the incident type fields: an unknown incident group is an error, other unknowns fall back."""
        group = values.get("incident_group")
        known = sorted(self.categories.get("incident_group", []))
        if not group or group not in self.categories.get("incident_group", {group}):
            raise RequestError(f"unknown incident group {group!r}: choose one of {', '.join(known)}")
        out = {"incident_group": group}
        for name in OPTIONAL_TYPES:
            value = values.get(name)
            if value in (None, ""):
                out[name] = MISSING_CATEGORY
            elif value not in self.categories.get(name, {value}):
                notes.append(f"{name.replace('_', ' ')} {value!r} was not seen in training: estimated without it")
                out[name] = MISSING_CATEGORY
            else:
                out[name] = value
        return out

    # ---- answers ----------------------------------------------------------------------------

    def estimate_arrays(self, requests: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Return median, P90, P(>360 s), distance, chance of a minute late and flag for checked requests."""
        features = feature_arrays(requests)
        prediction = self.model.predict(features)
        flags = served_flags(self.flag_rule, self.metadata.get("risks", {}), features, prediction,
                             index=self.flag_index)
        return {"median_s": np.round(prediction.median, 1), "p90_s": np.round(prediction.p90, 1),
                "p_over_360": np.round(prediction.p_over_target, 4), "distance_m": np.round(features["distance_m"]),
                "p_late": np.round(flags.p_late, 4), "flag": flags.flag, "flag_reason": flags.reason}

    def estimate_table(self, requests: pd.DataFrame) -> pd.DataFrame:
        """Return the estimates of a table of checked requests as a table."""
        return pd.DataFrame(self.estimate_arrays(requests), index=requests.index)

    def _request(self, station: pd.Series, where: Location, when: pd.Timestamp, types: dict[str, str],
                 home_station: bool | None) -> dict[str, Any]:
        """Return one request row (REQUEST_COLUMNS)."""
        return {"station_code": station.station_code, "latitude": where.latitude, "longitude": where.longitude,
                "when": when, "home_station": np.nan if home_station is None else float(home_station),
                "borough": where.borough, "postcode_district": where.postcode_district, **types}

    def predict_one(self, station: str, location: str | Location, when: str | dt.datetime, incident_group: str,
                    home_station: bool | None = True, **types: str | None) -> Estimate:
        """Estimate the attendance time of one pump from `station` to `location` at `when`."""
        notes: list[str] = []
        try:
            row = resolve_station(station)
        except UnknownStation as exc:
            raise RequestError(str(exc)) from None
        where = location if isinstance(location, Location) else parse_location(location)
        if where.precision != "point":
            notes.append(f"location taken as the centre of postcode district {where.postcode_district}")
        moment = _timestamp(when)
        self.check_time(moment)
        checked = self._type_values({"incident_group": incident_group, **types}, notes)
        if row.station_code not in self.categories.get("station_code", {row.station_code}):
            notes.append(f"station {row.station_code} was not seen in training: the estimate leans on distance")
        request = {k: [v] for k, v in self._request(row, where, moment, checked, home_station).items()}
        out = {k: v[0] for k, v in self.estimate_arrays(request).items()}
        return Estimate(row.station_code, row.station_name, float(out["median_s"]), float(out["p90_s"]),
                        float(out["p_over_360"]), float(out["distance_m"]), bool(out["flag"]), str(out["flag_reason"]),
                        notes, self.version, bool(self.metadata.get("is_demo")), float(out["p_late"]))

    def rank_stations(self, location: str | Location, when: str | dt.datetime, incident_group: str,
                      nearest: int = 10, home_station: bool | None = True, **types: str | None) -> list[Estimate]:
        """Estimate arrival from the `nearest` LFB stations (0 = all) to one place, soonest first."""
        notes: list[str] = []
        where = location if isinstance(location, Location) else parse_location(location)
        moment = _timestamp(when)
        self.check_time(moment)
        checked = self._type_values({"incident_group": incident_group, **types}, notes)
        order = stations_by_distance(where.latitude, where.longitude)
        chosen = stations().loc[order[: nearest or len(order)]]
        one = self._request(chosen.iloc[0], where, moment, checked, home_station)
        requests = {k: [v] * len(chosen) for k, v in one.items()} | {"station_code": chosen.station_code.tolist()}
        t = self.estimate_arrays(requests)
        demo = bool(self.metadata.get("is_demo"))
        answers = [Estimate(code, name, float(t["median_s"][i]), float(t["p90_s"][i]), float(t["p_over_360"][i]),
                            float(t["distance_m"][i]), bool(t["flag"][i]), str(t["flag_reason"][i]), list(notes),
                            self.version, demo, float(t["p_late"][i]))
                   for i, (code, name) in enumerate(zip(chosen.station_code, chosen.station_name))]
        return sorted(answers, key=lambda e: e.median_s)


def _timestamp(when: str | dt.datetime | pd.Timestamp) -> pd.Timestamp:
    """Return a timestamp from text or a datetime, or raise RequestError."""
    try:
        moment = pd.Timestamp(when)
    except (ValueError, TypeError):
        raise RequestError(f"cannot read time {when!r}: use e.g. '2024-05-01 14:30'") from None
    if pd.isna(moment):
        raise RequestError("a time is needed, e.g. '2024-05-01 14:30'")
    return moment.tz_localize(None) if moment.tzinfo else moment


def requests_from_records(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return requests (first-arriving station = the station) and the records of an incident-records file."""
    from lfb.model.features import incident_location
    from lfb.data.readers import RecordFile
    from lfb.data.records import parse_incidents
    from lfb.data.reference import station_codes_by_name

    source = RecordFile(path)
    parts = [parse_incidents(chunk.frame, chunk.rows, derive=False, refuse_impossible=False).records
             for chunk in source.chunks()]
    records = pd.concat(parts, ignore_index=True)
    lat, lon = incident_location(records)
    codes = station_codes_by_name()
    requests = pd.DataFrame({
        "station_code": records["first_pump_station"].map(lambda s: codes.get(str(s).strip().lower(), "")
                                                          if isinstance(s, str) else ""),
        "latitude": lat, "longitude": lon, "when": pd.to_datetime(records["call_datetime"]), "home_station": np.nan,
        "borough": records["borough_name"], "postcode_district": records["postcode_district"],
        **{name: records[name] for name in ("incident_group",) + OPTIONAL_TYPES},
    })
    return requests, records


def requests_from_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Return requests from a plain CSV table: station, location (or latitude/longitude), time, incident_group..."""
    needed = {"station", "time", "incident_group"}
    if not needed <= set(frame.columns) or not ({"location"} <= set(frame.columns)
                                                or {"latitude", "longitude"} <= set(frame.columns)):
        raise RequestError("a requests CSV needs columns station, time, incident_group and location (postcode, "
                           "'lat,lon' or 'easting,northing') or latitude and longitude")
    rows = []
    for _, r in frame.iterrows():
        lat = lon = np.nan
        district = borough = None
        try:
            where = parse_location(r["location"]) if "location" in frame.columns else parse_location(
                f"{r['latitude']},{r['longitude']}")
            lat, lon, district, borough = where.latitude, where.longitude, where.postcode_district, where.borough
        except ValueError:
            pass
        try:
            code = resolve_station(r["station"]).station_code
        except UnknownStation:
            code = f"? {r['station']}".strip()  # kept, so the row is reported as an unknown station
        rows.append({"station_code": code, "latitude": lat, "longitude": lon, "when": pd.to_datetime(
            r["time"], errors="coerce"), "home_station": float(r["home_station"]) if "home_station" in frame.columns
            and pd.notna(r["home_station"]) else np.nan, "borough": borough, "postcode_district": district,
            **{name: (r[name] if name in frame.columns and pd.notna(r[name]) else None)
               for name in ("incident_group",) + OPTIONAL_TYPES}})
    return pd.DataFrame(rows, columns=REQUEST_COLUMNS, index=frame.index)


def check_batch(predictor: Predictor, requests: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Return the servable requests (with fallbacks applied), an error per row ('' if fine) and notes per row."""
    errors = pd.Series("", index=requests.index, dtype=object)
    notes = pd.Series("", index=requests.index, dtype=object)
    known = stations().index
    codes = requests["station_code"].fillna("").astype(str)
    errors[codes == ""] = "no station (for incident records: no first pump arrived)"
    errors[(codes != "") & ~codes.isin(known)] = "unknown station"
    lat, lon = requests["latitude"].to_numpy(float), requests["longitude"].to_numpy(float)
    located = np.isfinite(lat) & np.isfinite(lon)
    inside = np.zeros(len(requests), bool)
    inside[located] = in_london(lat[located], lon[located])
    errors[(errors == "") & ~located] = "no readable location"
    errors[(errors == "") & located & ~inside] = "location not in Greater London"
    when = pd.to_datetime(requests["when"], errors="coerce")
    first, last = predictor.time_range
    far = when.isna() | (when < first - pd.Timedelta(days=PAST_LIMIT_DAYS)) | \
        (when > last + pd.Timedelta(days=FUTURE_LIMIT_DAYS))
    errors[(errors == "") & far.to_numpy()] = "time missing or far outside the model's data"
    groups = predictor.categories.get("incident_group", set())
    errors[(errors == "") & ~requests["incident_group"].isin(groups).to_numpy()] = "unknown incident group"
    fixed = requests.copy()
    for name in OPTIONAL_TYPES:
        values = fixed[name].astype(object)
        unseen = values.notna() & ~values.isin(predictor.categories.get(name, set()))
        notes[unseen] = notes[unseen] + f"{name} not seen in training; "
        fixed[name] = values.where(~unseen, MISSING_CATEGORY)
    return fixed, errors, notes


def predict_batch(predictor: Predictor, in_path: Path, out_path: Path) -> dict[str, Any]:
    """Estimate every row of a requests CSV or incident-records file; write the input with the estimates."""
    import time

    started = time.perf_counter()
    from lfb.data.readers import RecordFile

    try:
        kind = RecordFile(in_path).kind
    except ValueError:
        kind = None
    if kind == "mobilisations":
        raise RequestError(f"{Path(in_path).name}: batch prediction reads incident records or a requests CSV, "
                           "not mobilisation records (they carry no incident location)")
    if kind == "incidents":
        requests, source = requests_from_records(in_path)
        output = source[["incident_number", "call_datetime", "first_pump_station", "first_pump_seconds"]].copy()
    else:
        source = pd.read_csv(in_path, dtype=str, keep_default_na=False)
        requests, output = requests_from_table(source), source.copy()
    fixed, errors, notes = check_batch(predictor, requests)
    ok = (errors == "").to_numpy()
    table = predictor.estimate_table(fixed[ok]) if ok.any() else pd.DataFrame()
    for column in ("median_s", "p90_s", "p_over_360", "distance_m", "p_late", "flag", "flag_reason"):
        output[column] = None
        if ok.any():
            output.loc[ok, column] = table[column].to_numpy()
    output["notes"], output["error"] = notes.to_numpy(), errors.to_numpy()
    output["model_version"] = predictor.version
    output.to_csv(out_path, index=False)
    seconds = time.perf_counter() - started
    return {"rows": len(output), "estimated": int(ok.sum()), "errors": int((~ok).sum()), "seconds": round(seconds, 3),
            "rows_per_second": round(len(output) / seconds) if seconds else None, "out": str(out_path)}
