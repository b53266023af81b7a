"""Serving: estimates for the app, the CLI and batches, with input checks and explicit fallbacks."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlite_utils

from lfb.config import Settings
from lfb.model.features import MISSING_CATEGORY, REQUEST_COLUMNS, feature_arrays, stations_by_distance
from lfb.geo.location import DISTRICT_CENTROID, Location, in_greater_london, parse_location, parse_locations
from lfb.model.csvrows import write_rows
from lfb.model.estimator import ResponseModel
from lfb.model.times import TimeError, parse_time, parse_times
from lfb.data.reference import UnknownStation, resolve_station, station_codes_by_name, stations
from lfb.model.registry import ModelFileError, NoChampion, NothingServes, load_registered, load_serving
from lfb.model.flag import LATE_S, driver_index, served_flags
from lfb.model.spread import MIN_POINTS, Mixture, district_points, mixture
from lfb.text import quoted

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
        self.canonical = {k: {str(v).strip().casefold(): v for v in values} for k, values in self.categories.items()}
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

    def time_window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """Return the first and last times this model answers for: its data widened by the limits, in whole days."""
        first, last = self.time_range
        low = (first - pd.Timedelta(days=PAST_LIMIT_DAYS)).normalize()
        return low, (last + pd.Timedelta(days=FUTURE_LIMIT_DAYS + 1)).normalize() - pd.Timedelta(seconds=1)

    def time_problem(self, when: pd.Timestamp, label: str = "") -> str:
        """Return why a time is too far outside the data the model learned from ('' when it is not)."""
        low, high = self.time_window()
        if low <= when <= high:
            return ""
        first, last = self.time_range
        later = when > high
        shown = f"{label} ({when:%Y-%m-%d %H:%M})" if label else f"{when:%Y-%m-%d %H:%M}"
        advice = "train a model on newer data" if later else "use a model trained on data from that time"
        return (f"time {shown} is {_span(when - last if later else first - when)} {'after' if later else 'before'} "
                f"the data this model learned from ({first:%Y-%m-%d} to {last:%Y-%m-%d}): {advice}, or give a time "
                f"between {low:%Y-%m-%d} and {high:%Y-%m-%d}")

    def check_time(self, when: pd.Timestamp, label: str = "") -> None:
        """Refuse times far outside the data the model learned from."""
        problem = self.time_problem(when, label)
        if problem:
            raise RequestError(problem)

    def known_value(self, name: str, value: str) -> str | None:
        """Return a category as the model knows it, whatever its case and surrounding spaces (None if unseen)."""
        if name not in self.canonical:
            return value
        return self.canonical[name].get(str(value).strip().casefold())

    def _type_values(self, values: dict[str, str | None], notes: list[str]) -> dict[str, str]:
        """Check the incident type fields: an unknown incident group is an error, other unknowns fall back."""
        given = values.get("incident_group")
        group = self.known_value("incident_group", given) if given else None
        if group is None:
            known = sorted(self.categories.get("incident_group", []))
            raise RequestError(f"unknown incident group {quoted(given)}: choose one of {', '.join(known)}")
        out = {"incident_group": group}
        for name in OPTIONAL_TYPES:
            value = values.get(name)
            if value is None or not str(value).strip():
                out[name] = MISSING_CATEGORY
                continue
            out[name] = self.known_value(name, value) or MISSING_CATEGORY
            if out[name] == MISSING_CATEGORY:
                notes.append(f"{name.replace('_', ' ')} {quoted(value)} was not seen in training: estimated without it")
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

    def moment(self, when: str | dt.datetime | pd.Timestamp) -> pd.Timestamp:
        """Return a request's time as London local time, checked against the model's data (or raise RequestError)."""
        try:
            moment = parse_time(when)
        except TimeError as exc:
            raise RequestError(str(exc)) from None
        self.check_time(moment, "now" if isinstance(when, str) and when.strip().lower() == "now" else "")
        return moment

    def _over_district(self, one: dict[str, Any], where: Location, codes: list[str]) -> list[Mixture] | None:
        """Return, per station, the estimates mixed over the district's postcodes (None when the place is a point)."""
        if where.precision != DISTRICT_CENTROID or not where.postcode_district:
            return None
        lat, lon = district_points(where.postcode_district)
        n, k = len(lat), len(codes)
        if n < MIN_POINTS:
            return None
        requests = {name: [value] * (n * k) for name, value in one.items()}
        requests |= {"station_code": np.repeat(np.asarray(codes, dtype=object), n), "latitude": np.tile(lat, k),
                     "longitude": np.tile(lon, k)}
        prediction = self.model.predict(feature_arrays(requests))
        return [mixture(prediction.median[i * n:(i + 1) * n], prediction.p90[i * n:(i + 1) * n], LATE_S)
                for i in range(k)]

    def _widen(self, estimate: Estimate, spread: Mixture, where: Location) -> Estimate:
        """Return the estimate for a place known only to its district: the mixture over the district's postcodes."""
        centre_p90 = estimate.p90_s
        estimate.median_s, estimate.p90_s = round(spread.median_s, 1), round(max(spread.p90_s, centre_p90), 1)
        estimate.p_over_360, estimate.p_late = round(spread.p_over_360, 4), round(spread.p_late, 4)
        threshold = (self.flag_rule or {}).get("threshold")
        if not estimate.flag and threshold is not None and estimate.p_late >= threshold:
            estimate.flag = True
            estimate.flag_reason = (
                f"the place is known only to its postcode district {where.postcode_district}, whose addresses lie up "
                f"to {where.uncertainty_m / 1000:.1f} km from its centre: {estimate.p_late:.0%} chance of arriving "
                "over a minute later than the estimate; a full postcode narrows it")
        estimate.notes.append(f"estimated over {spread.points} postcodes spread through {where.postcode_district}: "
                              f"P90 {estimate.p90_s:.0f} s (at the district centre alone it would be {centre_p90:.0f} s)")
        return estimate

    def predict_one(self, station: str, location: str | Location, when: str | dt.datetime, incident_group: str,
                    home_station: bool | None = True, **types: str | None) -> Estimate:
        """Estimate the attendance time of one pump from `station` to `location` at `when`."""
        notes: list[str] = []
        try:
            row = resolve_station(station)
        except UnknownStation as exc:
            raise RequestError(str(exc)) from None
        where = location if isinstance(location, Location) else parse_location(location)
        if where.note:
            notes.append(where.note)
        moment = self.moment(when)
        checked = self._type_values({"incident_group": incident_group, **types}, notes)
        if row.station_code not in self.categories.get("station_code", {row.station_code}):
            notes.append(f"station {row.station_code} was not seen in training: the estimate leans on distance")
        one = self._request(row, where, moment, checked, home_station)
        out = {k: v[0] for k, v in self.estimate_arrays({k: [v] for k, v in one.items()}).items()}
        estimate = Estimate(row.station_code, row.station_name, float(out["median_s"]), float(out["p90_s"]),
                            float(out["p_over_360"]), float(out["distance_m"]), bool(out["flag"]),
                            str(out["flag_reason"]), notes, self.version, bool(self.metadata.get("is_demo")),
                            float(out["p_late"]))
        spread = self._over_district(one, where, [row.station_code])
        return self._widen(estimate, spread[0], where) if spread else estimate

    def day_profile(self, station: str, location: str | Location, when: str | dt.datetime, incident_group: str,
                    home_station: bool | None = True, **types: str | None) -> pd.DataFrame:
        """Return the same request's median and P90 at every hour of its day (columns hour, median_s, p90_s)."""
        try:
            row = resolve_station(station)
        except UnknownStation as exc:
            raise RequestError(str(exc)) from None
        where = location if isinstance(location, Location) else parse_location(location)
        day = self.moment(when).normalize()
        checked = self._type_values({"incident_group": incident_group, **types}, [])
        hours = [day + pd.Timedelta(hours=h) for h in range(24)]
        answers = []
        for moment in hours:
            one = self._request(row, where, moment, checked, home_station)
            spread = self._over_district(one, where, [row.station_code])
            if spread:
                answers.append((spread[0].median_s, max(spread[0].p90_s, 0.0)))
            else:
                answers.append(None)
        plain = [i for i, a in enumerate(answers) if a is None]
        if plain:
            requests = {k: [v] * len(plain) for k, v in self._request(row, where, hours[0], checked,
                                                                       home_station).items()}
            requests["when"] = [hours[i] for i in plain]
            prediction = self.model.predict(feature_arrays(requests))
            for j, i in enumerate(plain):
                answers[i] = (float(prediction.median[j]), float(prediction.p90[j]))
        return pd.DataFrame({"hour": range(24), "median_s": np.round([a[0] for a in answers], 1),
                             "p90_s": np.round([a[1] for a in answers], 1)})

    def rank_stations(self, location: str | Location, when: str | dt.datetime, incident_group: str,
                      nearest: int = 10, home_station: bool | None = True, **types: str | None) -> list[Estimate]:
        """Estimate arrival from the `nearest` LFB stations (0 = all) to one place, soonest first."""
        where = location if isinstance(location, Location) else parse_location(location)
        notes = [where.note] if where.note else []
        moment = self.moment(when)
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
        spreads = self._over_district(one, where, chosen.station_code.tolist())
        if spreads:
            answers = [self._widen(e, m, where) for e, m in zip(answers, spreads)]
        return sorted(answers, key=lambda e: e.median_s)


def _span(delta: pd.Timedelta) -> str:
    """Return a length of time in words a person reads at a glance ('45 days', '7 months', '2.1 years')."""
    days = delta.days
    if days < 62:
        return f"{days} days"
    if days < 730:
        return f"{days / 30.44:.0f} months"
    return f"{days / 365.25:.1f} years"


# ---- batches ------------------------------------------------------------------------------------------

REQUEST_FILE_COLUMNS = ("station", "location", "latitude", "longitude", "easting", "northing", "time",
                        "home_station", "incident_group") + OPTIONAL_TYPES
YES = frozenset({"yes", "y", "true", "1"})
NO = frozenset({"no", "n", "false", "0"})


def join_messages(first: pd.Series, second: pd.Series | np.ndarray) -> pd.Series:
    """Return two columns of messages joined per row with '; ' (an empty message adds nothing)."""
    a = first.to_numpy(dtype=object)
    b = np.asarray(second, dtype=object)
    both = (a != "") & (b != "")
    joined = np.where(a == "", b, a)
    if both.any():
        joined[both] = a[both] + "; " + b[both]
    return pd.Series(joined, index=first.index, dtype=object)


def _where(mask: np.ndarray, message: str, index: pd.Index) -> pd.Series:
    """Return a column holding `message` where `mask` is set and '' elsewhere."""
    return pd.Series(np.where(mask, message, ""), index=index, dtype=object)


def _header_key(name: str) -> str:
    """Return a comparable form of a requests-file header ('Incident Group' -> 'incident_group')."""
    return "_".join(str(name).replace("\ufeff", "").strip().lower().replace("-", " ").split())


def request_columns(frame: pd.DataFrame) -> dict[str, str]:
    """Return, for each requests-file column present, the header that holds it; refuse a file missing any."""
    found: dict[str, str] = {}
    for header in frame.columns:
        key = _header_key(header)
        if key in REQUEST_FILE_COLUMNS and key not in found:
            found[key] = header
    place = "location" in found or {"latitude", "longitude"} <= set(found) or {"easting", "northing"} <= set(found)
    missing = [c for c in ("station", "time", "incident_group") if c not in found]
    if missing or not place:
        raise RequestError("a requests CSV needs columns station, time, incident_group and location (postcode, "
                           "'lat,lon' or 'easting,northing'), or latitude and longitude, or easting and northing"
                           + (f"; missing: {', '.join(missing + ([] if place else ['location']))}: add them, or give an incident-records "
                              "file"))
    return found


def read_each_value(values: pd.Series, read: Callable[[str], tuple[Any, str]],
                    missing: tuple[Any, str]) -> tuple[np.ndarray, pd.Series]:
    """Read each distinct cell once (a column holds few): return per row what `read` gives for its stripped text,
    a value and a message ('' if none); empty and missing cells get `missing`."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = [str(u).strip() for u in uniques]
    answers = [read(t) if t else missing for t in texts] + [missing]  # code -1 (missing) picks the last
    out, messages = np.empty(len(answers), dtype=object), np.empty(len(answers), dtype=object)
    for i, (value, message) in enumerate(answers):
        out[i], messages[i] = value, message
    return out[codes], pd.Series(messages[codes], index=values.index, dtype=object)


def resolve_stations(values: pd.Series, missing: str = "no station given") -> tuple[np.ndarray, pd.Series]:
    """Return the station code of many codes or names (any case; '' where unknown) and an error per row."""
    st = stations()
    lookup = {str(code).lower(): code for code in st.station_code} | station_codes_by_name()
    advice = f"give one of the {len(st)} station codes or names (e.g. A21 or Paddington)"

    def read(text: str) -> tuple[str, str]:
        """Return the code of one station code or name, or why there is none."""
        code = lookup.get(text.lower())
        return (code, "") if code else ("", f"unknown station {quoted(text)}: {advice}")
    return read_each_value(values, read, ("", missing))


def home_station_values(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Return 1.0 (at its home station), 0.0 (elsewhere) or NaN (not said) per row, and an error per row."""
    def read(text: str) -> tuple[float, str]:
        """Return 1.0, 0.0, or NaN with why the text is not yes or no."""
        if text.lower() in YES | NO:
            return (1.0 if text.lower() in YES else 0.0), ""
        return np.nan, f"home_station {text!r} is not yes or no (yes/no, y/n, true/false, 1/0; empty = unknown)"
    out, errors = read_each_value(values, read, (np.nan, ""))
    return out.astype(float), errors


def _optional(values: pd.Series) -> np.ndarray:
    """Return text cells stripped, with empty ones as None (a missing category, not an unseen one)."""
    return read_each_value(values, lambda text: (text, ""), (None, ""))[0]


def _location_texts(frame: pd.DataFrame, columns: dict[str, str]) -> pd.Series:
    """Return one location text per row: the location column, else 'lat,lon', else 'easting,northing'."""
    if "location" in columns:
        return frame[columns["location"]]
    a, b = ("latitude", "longitude") if "latitude" in columns else ("easting", "northing")
    first = frame[columns[a]].astype("string").fillna("").str.strip()
    second = frame[columns[b]].astype("string").fillna("").str.strip()
    return (first + "," + second).where((first != "") | (second != ""), "")


def requests_from_table(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Return requests (REQUEST_COLUMNS) from a requests CSV read as text, an error and a note per row ('' if none).

    Columns: station (code or name), location (postcode, 'lat,lon' or 'easting,northing'; or latitude and
    longitude, or easting and northing), time (London time, day first or ISO), incident_group, and optionally
    home_station (yes/no) and the incident type columns. Every column is read at once, row order kept.
    """
    columns = request_columns(frame)
    empty = pd.Series("", index=frame.index, dtype=object)
    cell = (lambda name: frame[columns[name]] if name in columns else empty)  # noqa: E731
    codes, errors = resolve_stations(cell("station"))
    where = parse_locations(_location_texts(frame, columns))
    times, time_errors = parse_times(cell("time"))
    home, home_errors = home_station_values(cell("home_station"))
    for more in (where["error"], time_errors, home_errors):
        errors = join_messages(errors, more)
    requests = _table({
        "station_code": codes, "latitude": where["latitude"].to_numpy(float),
        "longitude": where["longitude"].to_numpy(float), "when": times.to_numpy(), "home_station": home,
        "borough": where["borough"].to_numpy(object), "postcode_district": where["postcode_district"].to_numpy(object),
        **{name: _optional(cell(name)) for name in ("incident_group",) + OPTIONAL_TYPES},
    }, frame.index)
    return requests, errors, where["note"].astype(object)


RECORD_COLUMNS = ("incident_number", "date_of_call", "time_of_call", "incident_group", "postcode_district",
                  "borough_name", "easting_m", "northing_m", "easting_rounded", "northing_rounded", "latitude",
                  "longitude", "first_pump_seconds", "first_pump_station") + OPTIONAL_TYPES  # what a request needs


def _record_headers(headers: list[str]) -> list[str]:
    """Return the headers of an incident-records file that hold what a request needs (RECORD_COLUMNS)."""
    from lfb.data.formats import INCIDENTS, match_columns

    found = match_columns(headers, INCIDENTS)
    return [headers[found[name]] for name in RECORD_COLUMNS if name in found]


def _incident_frames(path: Path) -> tuple[list[pd.DataFrame], pd.Series]:
    """Return the raw rows of an incident-records file in blocks (only the columns a request needs: a bad value
    elsewhere does not stop an estimate), and what is wrong with each row's shape."""
    from lfb.data.readers import RecordFile
    from lfb.model.csvrows import read_rows

    source = RecordFile(path)
    if source.format == "csv":
        frame, shape = read_rows(path, _record_headers)
        step = 50_000
        return [frame.iloc[i:i + step] for i in range(0, max(len(frame), 1), step)], shape
    frames = [chunk.frame[_record_headers(list(chunk.frame.columns))] for chunk in source.chunks()]
    rows = sum(len(f) for f in frames)
    return frames, pd.Series("", index=pd.RangeIndex(rows), dtype=object)


def requests_from_records(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Return requests (the first-arriving station is the station), output columns, an error per row and, per row,
    why it could not be read ('' when read) of an incident-records file: rows the reader rejects keep their place,
    with its reason."""
    from lfb.data.formats import INCIDENTS, match_columns
    from lfb.data.records import parse_incidents
    from lfb.model.features import incident_location

    frames, shape = _incident_frames(path)
    parts, errors = [], []
    for frame in frames:
        parsed = parse_incidents(frame.reset_index(drop=True), 2, derive=False, refuse_impossible=False)
        reasons = np.full(len(frame), "", dtype=object)
        for number, reason, _raw in parsed.rejects:
            reasons[number - 2] = reason
        records = parsed.records.set_index(np.flatnonzero(reasons == "")).reindex(range(len(frame)))
        raw_number = frame.iloc[:, match_columns(list(frame.columns), INCIDENTS)["incident_number"]]
        records["incident_number"] = records["incident_number"].where(reasons == "", raw_number.to_numpy(object))
        parts.append(records)
        errors.append(reasons)
    records = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    lat, lon = incident_location(records)
    codes, station_errors = resolve_stations(records["first_pump_station"],
                                             "no station (for incident records: no first pump arrived)")
    requests = _table({
        "station_code": codes, "latitude": lat, "longitude": lon,
        "when": pd.to_datetime(records["call_datetime"], format="%Y-%m-%d %H:%M:%S").to_numpy(),
        "home_station": np.full(len(records), np.nan),
        **{name: records[column].to_numpy(dtype=object) for name, column in (
            ("borough", "borough_name"), ("postcode_district", "postcode_district"),
            *((t, t) for t in ("incident_group",) + OPTIONAL_TYPES))},
    }, records.index)
    output = records[["incident_number", "call_datetime", "first_pump_station", "first_pump_seconds"]].copy()
    reasons = pd.Series(np.concatenate(errors) if errors else [], index=records.index, dtype=object)
    return requests, output, station_errors, join_messages(shape.set_axis(records.index), reasons)


def check_batch(predictor: Predictor, requests: pd.DataFrame, errors: pd.Series | None = None,
                notes: pd.Series | None = None) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Return the servable requests (categories as the model knows them, unseen details as missing), an error per
    row ('' if fine) and notes per row; `errors` and `notes` found while reading the rows are kept."""
    index = requests.index
    errors = pd.Series("", index=index, dtype=object) if errors is None else errors.astype(object)
    notes = pd.Series("", index=index, dtype=object) if notes is None else notes.fillna("").astype(object)
    unread = (errors != "").to_numpy()
    errors = join_messages(errors, _station_errors(requests["station_code"], unread))
    errors = join_messages(errors, _place_errors(requests["latitude"], requests["longitude"], unread))
    errors = join_messages(errors, _time_errors(predictor, requests["when"], unread))
    group, group_errors = _known_groups(predictor, requests["incident_group"])
    errors = join_messages(errors, group_errors)
    columns = {name: requests[name].to_numpy() for name in REQUEST_COLUMNS} | {"incident_group": group}
    for name in OPTIONAL_TYPES:
        columns[name], unseen = _known_details(predictor, name, requests[name])
        notes = join_messages(notes, unseen)
    return _table(columns, index), errors, notes


def _station_errors(codes: pd.Series, unread: np.ndarray) -> pd.Series:
    """Return, per row, what is wrong with its station code (none given, or not a known station)."""
    text = codes.astype("string").fillna("").to_numpy(dtype=object)
    unknown = (text != "") & ~pd.Index(text).isin(stations().index)
    return join_messages(_where(~unread & (text == ""), "no station", codes.index),
                         _where(unknown, "unknown station", codes.index))


def _place_errors(latitude: pd.Series, longitude: pd.Series, unread: np.ndarray) -> pd.Series:
    """Return, per row, what is wrong with its place (none, or outside Greater London)."""
    lat, lon = latitude.to_numpy(float), longitude.to_numpy(float)
    located = np.isfinite(lat) & np.isfinite(lon)
    outside = np.zeros(len(lat), bool)
    outside[located] = ~in_greater_london(lat[located], lon[located])
    return join_messages(_where(~unread & ~located, "no readable location", latitude.index),
                         _where(outside, "location not in Greater London", latitude.index))


def _time_errors(predictor: Predictor, when: pd.Series, unread: np.ndarray) -> pd.Series:
    """Return, per row, why its time cannot be served: missing, or too far outside the model's data."""
    moments = pd.to_datetime(when, errors="coerce")
    low, high = predictor.time_window()
    far = (moments < low) | (moments > high)
    out = _where(~unread & moments.isna().to_numpy(), "no time", when.index)
    for i in np.flatnonzero(far.to_numpy()):
        out.iat[i] = predictor.time_problem(moments.iat[i])
    return out


def _known_groups(predictor: Predictor, values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Return incident groups as the model knows them (any case) and an error where a group is unknown."""
    choices = ", ".join(sorted(predictor.categories.get("incident_group", [])))

    def read(text: str) -> tuple[str | None, str]:
        """Return the incident group as the model knows it, or why it is unknown."""
        group = predictor.known_value("incident_group", text)
        return (group, "") if group else (None, f"unknown incident group {quoted(text)} (choose one of {choices})")
    return read_each_value(values, read, (None, f"no incident group (choose one of {choices})"))


def _known_details(predictor: Predictor, name: str, values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Return an optional type detail as the model knows it (any case; missing = the missing category) and a note
    where a given value was not seen in training (then estimated without it)."""
    def read(text: str) -> tuple[str, str]:
        """Return the detail as the model knows it, or the missing category with a note."""
        value = predictor.known_value(name, text)
        return (value, "") if value else (MISSING_CATEGORY, f"{name} {text!r} not seen in training: estimated "
                                                            "without it")
    return read_each_value(values, read, (MISSING_CATEGORY, ""))


def _table(columns: dict[str, Any], index: pd.Index) -> pd.DataFrame:
    """Return a table whose text columns stay plain Python objects (no conversion to Arrow strings and back)."""
    return pd.DataFrame({name: pd.Series(values, index=index, dtype=object)
                         if isinstance(values, np.ndarray) and values.dtype == object else values
                         for name, values in columns.items()}, index=index)


@dataclass
class BatchInput:
    """The rows of a batch file, one per input row, in order."""

    output: pd.DataFrame  # the input's columns, written back beside the estimates
    requests: pd.DataFrame  # REQUEST_COLUMNS
    errors: pd.Series  # what is wrong with a row's values ('' if nothing)
    notes: pd.Series  # how a row's values were read, when that needs saying
    unread: pd.Series  # why a row could not be read at all ('' when read): its only error


def read_batch(in_path: Path) -> BatchInput:
    """Read a requests CSV or an incident-records file for batch prediction."""
    import csv

    from lfb.data.formats import FormatError
    from lfb.data.readers import RecordFile, is_file, not_a_file
    from lfb.model.csvrows import read_rows

    path = Path(in_path)
    if not is_file(path):
        raise RequestError(not_a_file(path))
    try:
        kind = RecordFile(path).kind
    except FormatError as exc:
        if path.suffix.lower() not in (".csv", ".txt"):
            raise RequestError(f"{path.name}: a requests file must be a CSV ({exc})") from None
        kind = None
    if kind == "mobilisations":
        raise RequestError(f"{path.name}: batch prediction reads incident records or a requests CSV, "
                           "not mobilisation records (they carry no incident location)")
    try:
        if kind == "incidents":
            requests, output, errors, unread = requests_from_records(path)
            return BatchInput(output, requests, errors, pd.Series("", index=requests.index, dtype=object), unread)
        frame, shape = read_rows(path)
    except csv.Error as exc:
        raise RequestError(f"{path.name}: not a readable CSV ({exc}): give a requests CSV or an incident-records "
                           "file") from None
    requests, errors, notes = requests_from_table(frame)
    return BatchInput(frame.copy(), requests, errors, notes, shape)


def predict_batch(predictor: Predictor, in_path: Path, out_path: Path) -> dict[str, Any]:
    """Estimate every row of a requests CSV or incident-records file; write the input with the estimates, one output
    row per input row, in order (a row that cannot be estimated says why in the error column)."""
    import time

    started = time.perf_counter()
    if Path(out_path).is_dir():
        raise RequestError(f"{out_path}: a folder: give the name of the output file, e.g. {Path(out_path) / 'out.csv'}")
    if not Path(out_path).parent.is_dir():
        raise RequestError(f"{out_path}: the folder {Path(out_path).parent} does not exist: create it, or give an output "
                           "file in a folder that exists")
    batch = read_batch(in_path)
    fixed, errors, notes = check_batch(predictor, batch.requests, batch.errors, batch.notes)
    unread = (batch.unread != "").to_numpy()
    errors, notes = errors.where(~unread, batch.unread), notes.where(~unread, "")
    ok = (errors == "").to_numpy()
    estimates = predictor.estimate_arrays(fixed[ok]) if ok.any() else {}
    columns = {str(name): batch.output[name].to_numpy() for name in batch.output.columns}
    columns |= _estimate_columns(estimates, ok)
    columns |= {"notes": notes.to_numpy(dtype=object), "error": errors.to_numpy(dtype=object),
                "model_version": np.full(len(ok), predictor.version, dtype=object)}
    write_rows(columns, out_path)
    seconds = time.perf_counter() - started
    return {"rows": len(ok), "estimated": int(ok.sum()), "errors": int((~ok).sum()), "seconds": round(seconds, 3),
            "rows_per_second": round(len(ok) / seconds) if seconds else None, "out": str(out_path)}


def _estimate_columns(estimates: dict[str, np.ndarray], ok: np.ndarray) -> dict[str, np.ndarray]:
    """Return the estimate columns of a batch's output: values on the rows estimated, empty on the others."""
    out: dict[str, np.ndarray] = {}
    for name in ("median_s", "p90_s", "p_over_360", "distance_m", "p_late"):
        out[name] = np.full(len(ok), np.nan)
        if ok.any():
            out[name][ok] = estimates[name]
    out["flag"] = np.full(len(ok), None, dtype=object)
    out["flag_reason"] = np.full(len(ok), None, dtype=object)
    if ok.any():
        out["flag"][ok] = np.where(estimates["flag"], "True", "False")
        out["flag_reason"][ok] = estimates["flag_reason"]
    return out
