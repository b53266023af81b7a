"""A dispatcher's request answered whole: where, which station, how soon, who would be sooner, and the log entry.

The estimate page lays this out; it holds no model code of its own. Every answer is logged with who asked.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pandas as pd

from lfb.config import Settings
from lfb.data.reference import stations
from lfb.geo.location import Location, LocationError, parse_location
from lfb.model.features import MISSING_CATEGORY
from lfb.model.serving import OPTIONAL_TYPES, Estimate, Predictor, RequestError
from lfb.service.predictions import LoggedEstimate, log_estimate
from lfb.text import quoted

LONDON = ZoneInfo("Europe/London")
MAX_INCIDENT_NUMBER = 40  # LFB incident numbers are like 123456-16092024
RANKED_STATIONS = 10  # the nearest stations compared on the map and in the ranking
DETAIL_FIELDS = ("stop_code", "special_service_type", "property_category", "property_type")


class AnswerError(ValueError):
    """A request the page must refuse with a message saying what to type instead."""


@dataclass(frozen=True)
class DispatchRequest:
    """What a dispatcher gives: the place, the station (None = the fastest), the time, the incident type."""

    location: str
    when: str
    incident_group: str
    station: str | None = None
    home_station: bool = True
    details: dict[str, str | None] = field(default_factory=dict)  # stop_code, special_service_type, property_*
    incident_number: str | None = None


@dataclass
class Answer:
    """Everything the page shows for one request."""

    where: Location
    chosen: Estimate
    ranking: list[Estimate]
    profile: pd.DataFrame  # hour, median_s, p90_s for the chosen route over the day
    when: pd.Timestamp  # London local time of the call
    fastest_code: str
    log_id: int | None = None

    @property
    def sooner(self) -> list[Estimate]:
        """Return the ranked stations whose median arrival beats the chosen station's."""
        return [e for e in self.ranking if e.median_s < self.chosen.median_s and e.station_code != self.chosen.station_code]


def now_london() -> dt.datetime:
    """Return the current London time to the minute, without its zone (as dispatchers read the clock)."""
    return dt.datetime.now(LONDON).replace(second=0, microsecond=0, tzinfo=None)


def station_options() -> list[tuple[str, str]]:
    """Return (code, 'code name') of every LFB station, by name: the choices of the station field."""
    table = stations()
    lfb = table[table.is_lfb == 1].sort_values("station_name")
    return [(code, f"{name} ({code})") for code, name in zip(lfb.station_code, lfb.station_name)]


def type_options(predictor: Predictor) -> dict[str, list[str]]:
    """Return the incident groups and the detail values the model knows, for the form's lists."""
    known = {name: sorted(v for v in predictor.categories.get(name, set()) if v != MISSING_CATEGORY)
             for name in ("incident_group", *OPTIONAL_TYPES)}
    return known


def _details(request: DispatchRequest) -> dict[str, str | None]:
    """Return the request's optional details, blanks as None."""
    return {name: (str(value).strip() or None) if value is not None else None
            for name, value in request.details.items() if name in OPTIONAL_TYPES}


def incident_number(text: str | None) -> str | None:
    """Return an incident number stripped (None when blank), or raise AnswerError unless it is one short line."""
    value = (text or "").strip()
    if not value:
        return None
    if len(value) > MAX_INCIDENT_NUMBER or not value.isprintable():
        raise AnswerError(f"incident number {quoted(value)} is not one: give it as on the call, on one line of at most "
                          f"{MAX_INCIDENT_NUMBER} characters (e.g. 123456-16092024), or leave it blank")
    return value


def answer(settings: Settings, predictor: Predictor, request: DispatchRequest, username: str,
           nearest: int = RANKED_STATIONS) -> Answer:
    """Answer one request (rank the nearest stations, estimate the chosen one, its day) and log it."""
    number = incident_number(request.incident_number)
    try:
        where = parse_location(request.location)
        when = predictor.moment(request.when)
        details = _details(request)
        ranking = predictor.rank_stations(where, when, request.incident_group, nearest=nearest,
                                          home_station=request.home_station, **details)
        station = request.station or ranking[0].station_code
        chosen = next((e for e in ranking if e.station_code == station), None) or predictor.predict_one(
            station, where, when, request.incident_group, home_station=request.home_station, **details)
        profile = predictor.day_profile(chosen.station_code, where, when, request.incident_group,
                                        home_station=request.home_station, **details)
    except (LocationError, RequestError) as exc:
        raise AnswerError(str(exc)) from None
    result = Answer(where, chosen, ranking, profile, when, ranking[0].station_code)
    result.log_id = log_estimate(settings, LoggedEstimate(
        username=username, station_code=chosen.station_code, location_text=request.location.strip(),
        call_time=f"{when:%Y-%m-%d %H:%M}", incident_group=request.incident_group, median_s=chosen.median_s,
        p90_s=chosen.p90_s, model_version=chosen.model_version, p_over_360=chosen.p_over_360, flag=chosen.flag,
        flag_reason=chosen.flag_reason, incident_number=number, latitude=where.latitude,
        longitude=where.longitude, precision=where.precision,
        details={**{k: v for k, v in details.items() if v}, "home_station": request.home_station,
                 "station_chosen": "fastest" if not request.station else "given", "p_late": chosen.p_late},
        is_demo=chosen.demo))
    return result
