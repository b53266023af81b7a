"""Tests of lfb.datastore against a local fake London Datastore (no internet)."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from lfb.data import datastore
from lfb.config import DATASTORE_DATASETS, get_settings
from lfb.data.datastore import DatastoreError, DownloadError, OfflineError, Resource
from lfb.data.reference import load_stations
from lfb.data.store import connect, count

INCIDENT_SLUG, MOBILISATION_SLUG = DATASTORE_DATASETS

INCIDENTS_CSV = (
    "IncidentNumber,DateOfCall,CalYear,TimeOfCall,HourOfCall,IncidentGroup,StopCodeDescription,SpecialServiceType,"
    "PropertyCategory,PropertyType,AddressQualifier,Postcode_full,Postcode_district,UPRN,USRN,IncGeo_BoroughCode,"
    "IncGeo_BoroughName,ProperCase,IncGeo_WardCode,IncGeo_WardName,IncGeo_WardNameNew,Easting_m,Northing_m,"
    "Easting_rounded,Northing_rounded,Latitude,Longitude,FRS,IncidentStationGround,FirstPumpArriving_AttendanceTime,"
    "FirstPumpArriving_DeployedFromStation,SecondPumpArriving_AttendanceTime,SecondPumpArriving_DeployedFromStation,"
    "NumStationsWithPumpsAttending,NumPumpsAttending,PumpCount,PumpMinutesRounded,Notional Cost (£),NumCalls\n"
    "235138081,01 Jan 2009,2009,00:00:37,0,Special Service,Special Service,RTC,Road Vehicle,Car ,In street close to "
    "gazetteer location,SW11 4LB,SW11,,,E09000032,WANDSWORTH,Wandsworth,E05014010,Battersea Park,Battersea Park,"
    "528652.0,176830.0,528650,176850,51.4758117319,-0.1488944358,London,Battersea,319.0,Battersea,342.0,Clapham,"
    "2.0,2.0,2,60.0,255.0,1.0\n"
    "2091,01 Jan 2009,2009,00:03:00,0,Fire,Secondary Fire,,Outdoor,Road surface/pavement ,In street outside "
    "gazetteer location,N9 9EL,N9,,,E09000010,ENFIELD,Enfield,E05013682,Haselbury,Haselbury,533773.0,194492.0,"
    "533750,194450,51.6333422942,-0.0684879648,London,Edmonton,308.0,Edmonton,,,1.0,1.0,1,60.0,255.0,2.0\n"
    "3091,01 Jan 2009,2009,00:04:27,0,Fire,Secondary Fire,,Outdoor,Domestic garden (vegetation not equipment) ,"
    "On land associated with building,UB10 0DG,UB10,100021491527.0,21401491.0,E09000017,HILLINGDON,Hillingdon,"
    "E05013571,Hillingdon East,Hillingdon East,507738.0,182805.0,507750,182850,51.533881706,-0.4480886091,London,"
    "Hillingdon,210.0,Hillingdon,,,1.0,1.0,1,60.0,255.0,2.0\n"
)
EXTRA_INCIDENT = (
    "4091,01 Jan 2009,2009,00:05:10,0,False Alarm,AFA,,Non Residential,Telephone exchange,Correct incident "
    "location,TW9 1LW,TW9,,,E09000027,RICHMOND UPON THAMES,Richmond Upon thames,E05013786,South Richmond,"
    "South Richmond,518296.0,174887.0,518250,174850,51.46061414,-0.298579113,London,Richmond,195.0,Richmond,,,"
    "1.0,1.0,1,60.0,255.0,1.0\n"
)
MOBILISATIONS_CSV = (
    "IncidentNumber,CalYear,HourOfCall,ResourceMobilisationId,Resource_Code,PerformanceReporting,"
    "DateAndTimeMobilised,DateAndTimeMobile,DateAndTimeArrived,TurnoutTimeSeconds,TravelTimeSeconds,"
    "AttendanceTimeSeconds,DateAndTimeLeft,DateAndTimeReturned,DeployedFromStation_Code,DeployedFromStation_Name,"
    "DeployedFromLocation,PumpOrder,PlusCode_Code,PlusCode_Description,DelayCodeId,DelayCode_Description\n"
    "235138081,2009,0,38426,H271,1,01/01/2009 00:02:27,,01/01/2009 00:07:46,,,319,01/01/2009 00:16:46,"
    "01/01/2009 00:23:55,H27,Battersea,Home Station,1,Initial,Initial Mobilisation,,\n"
    "235138081,2009,0,38427,H212,2,01/01/2009 00:02:27,01/01/2009 00:06:40,01/01/2009 00:08:09,253.0,89.0,342,"
    "01/01/2009 00:12:17,01/01/2009 00:12:17,H21,Clapham,Home Station,2,Initial,Initial Mobilisation,,\n"
    "2091,2009,0,38429,A341,1,01/01/2009 00:04:09,01/01/2009 00:06:40,01/01/2009 00:09:17,151.0,157.0,308,"
    "01/01/2009 00:16:33,01/01/2009 00:17:48,A34,Edmonton,Home Station,1,Initial,Initial Mobilisation,,\n"
    "3091,2009,0,38430,G232,1,01/01/2009 00:04:57,01/01/2009 00:06:45,01/01/2009 00:08:27,108.0,102.0,210,"
    "01/01/2009 00:20:38,01/01/2009 00:20:38,G23,Hillingdon,Home Station,1,Initial,Initial Mobilisation,,\n"
)
BIG_BODY = (INCIDENTS_CSV * 200).encode()  # several read chunks, so a dropped connection leaves some bytes


class Site:
    """What the fake Datastore publishes, scripted misbehaviour, and the requests it saw."""

    def __init__(self) -> None:
        self.base = ""
        self.files: dict[str, bytes] = {}  # URL path -> body
        self.resources: dict[str, list[dict]] = {INCIDENT_SLUG: [], MOBILISATION_SLUG: []}
        self.ckan = True  # False: package_show answers 404 and only the DataPress API works
        self.raw: dict[str, tuple[int, bytes, str]] = {}  # URL path -> canned (status, body, content type)
        self.script: dict[str, list[str]] = {}  # URL path -> misbehaviours for the next requests
        self.honour_range = True
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()

    def publish(self, slug: str, file_name: str, body: bytes, *, last_modified: str = "2024-01-05T10:00:00",
                fmt: str = "csv", relative: bool = True, hash_: str = "") -> dict:
        """Serve a file and list it in a dataset (replacing an entry of the same name); return its entry."""
        path = f"/download/{slug}/{file_name}"
        self.files[path] = body
        entry = {"id": hashlib.md5(path.encode()).hexdigest()[:12], "name": file_name,
                 "url": path if relative else self.base + path, "format": fmt, "size": len(body),
                 "last_modified": last_modified, "hash": hash_}
        self.resources[slug] = [r for r in self.resources[slug] if r["name"] != file_name] + [entry]
        return entry

    def file_requests(self) -> list[tuple[str, dict[str, str]]]:
        """Return the requests made for data files."""
        return [r for r in self.requests if r[0].startswith("/download/")]


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    """Return a request handler class that plays the Datastore described by `site`."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            """Stay quiet."""

        def _send(self, status: int, body: bytes, content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
            """Send a complete answer."""
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            """Answer catalogue and file requests."""
            url = urlparse(self.path)
            url = url._replace(path=unquote(url.path))
            with site.lock:
                site.requests.append((url.path, dict(self.headers)))
            if url.path in site.raw:
                status, body, content_type = site.raw[url.path]
                return self._send(status, body, content_type)
            if url.path == "/api/3/action/package_show":
                slug = parse_qs(url.query).get("id", [""])[0]
                if site.ckan and slug in site.resources:
                    result = {"name": slug, "resources": site.resources[slug]}
                    return self._send(200, json.dumps({"success": True, "result": result}).encode())
                return self._send(404, json.dumps({"success": False, "error": {"message": "Not found"}}).encode())
            if url.path.startswith("/api/dataset/"):
                slug = url.path.rsplit("/", 1)[1]
                if slug not in site.resources:
                    return self._send(404, b'{"error": "not found"}')
                resources = {r["id"]: {"title": r["name"], "url": r["url"], "format": r["format"],
                                       "check_size": r["size"], "check_timestamp": r["last_modified"]}
                             for r in site.resources[slug]}
                return self._send(200, json.dumps({"slug": slug, "resources": resources}).encode())
            if url.path in site.files:
                return self._file(url.path, site.files[url.path])
            return self._send(404, b"not found", "text/plain")

        def _file(self, path: str, body: bytes) -> None:
            """Serve a data file, honouring Range and any scripted misbehaviour."""
            with site.lock:
                action = site.script[path].pop(0) if site.script.get(path) else ""
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if action.startswith("status:"):
                _, status, retry_after = (action.split(":") + [""])[:3]
                return self._send(int(status), b"busy", "text/plain",
                                  {"Retry-After": retry_after} if retry_after else None)
            headers = {"ETag": etag, "Accept-Ranges": "bytes"}
            start = 0
            ranged = self.headers.get("Range", "")
            if site.honour_range and ranged.startswith("bytes=") and ranged.endswith("-"):
                start = int(ranged[6:-1])
                if start >= len(body):
                    return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{len(body)}"})
                headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            payload = body[start:]
            self.send_response(206 if start else 200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if action == "drop":  # promise the whole file, send half, hang up
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def site():
    """Run a fake Datastore on a free local port for the duration of a test."""
    state = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def settings(tmp_path, site):
    """Return settings pointing at the fake Datastore and at files under tmp_path, with short timeouts."""
    return dataclasses.replace(get_settings().relocated(tmp_path), datastore_url=site.base,
                               db_path=tmp_path / "x.db", http_timeout=3.0, http_retries=2)


@pytest.fixture
def db(tmp_path):
    """Return a fresh store with the reference stations loaded."""
    database = connect(tmp_path / "x.db")
    load_stations(database)
    yield database
    database.conn.close()


class Sleeps(list):
    """A stand-in for time.sleep that records the pauses asked for."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _publish_both(site: Site) -> None:
    """Publish an incident file, a mobilisation file and a PDF that is not data."""
    site.publish(INCIDENT_SLUG, "LFB Incident data from 2009.csv", INCIDENTS_CSV.encode())
    site.publish(INCIDENT_SLUG, "Metadata.pdf", b"%PDF-1.4 not data", fmt="pdf")
    site.publish(MOBILISATION_SLUG, "LFB Mobilisation data 2009.csv", MOBILISATIONS_CSV.encode(), relative=False,
                 hash_="abc123")


def _fetch(db, settings, **kw) -> datastore.FetchReport:
    """Run fetch quietly with tiny backoff and no real sleeping."""
    return datastore.fetch(db, settings, log=lambda _: None, backoff=0.01, sleep=Sleeps(), **kw)


def _resource(site: Site, path: str, body: bytes) -> Resource:
    """Serve `body` at `path` and return a Resource describing it."""
    site.files[path] = body
    return Resource(dataset="test", name=Path(path).name, url=site.base + path, format="csv", size=len(body))


# ---- discovery ----

def test_discover_ckan(site, settings):
    _publish_both(site)
    found = datastore.discover(settings)
    assert [(r.dataset, r.name, r.is_data) for r in found] == [
        (INCIDENT_SLUG, "LFB Incident data from 2009.csv", True),
        (INCIDENT_SLUG, "Metadata.pdf", False),
        (MOBILISATION_SLUG, "LFB Mobilisation data 2009.csv", True)]
    incidents = found[0]
    assert incidents.url == site.base + "/download/" + INCIDENT_SLUG + "/LFB Incident data from 2009.csv"
    assert incidents.size == len(INCIDENTS_CSV.encode()) and incidents.last_modified == "2024-01-05T10:00:00"
    assert incidents.format == "csv" and incidents.hash is None and found[2].hash == "abc123"
    assert not any(p.startswith("/api/dataset/") for p, _ in site.requests)


def test_discover_falls_back_to_datapress(site, settings):
    _publish_both(site)
    site.ckan = False
    found = datastore.discover(settings, [MOBILISATION_SLUG])
    assert len(found) == 1
    res = found[0]
    assert res.name == "LFB Mobilisation data 2009.csv" and res.file_type == "csv"
    assert res.size == len(MOBILISATIONS_CSV.encode()) and res.last_modified == "2024-01-05T10:00:00"
    assert [p for p, _ in site.requests] == ["/api/3/action/package_show", f"/api/dataset/{MOBILISATION_SLUG}"]


def test_data_files_recognised_by_format_or_suffix():
    def res(url: str, fmt: str) -> Resource:
        return Resource("d", "n", url, fmt)
    assert res("https://x/a.CSV", "").file_type == "csv"
    assert res("https://x/download?id=1", "xlsx").file_type == "xlsx"
    assert res("https://x/a.xlsx", "").file_type == "xlsx"
    assert res("https://x/a.pdf", "pdf").file_type is None
    assert res("https://x/meta.json", "json").file_type is None
    assert datastore.local_name(res("https://x/download?id=1", "csv")) == "download.csv"
    assert datastore.local_name(res("https://x/a%20b/LFB%20data%202024.xlsx", "xlsx")) == "LFB data 2024.xlsx"


def test_unknown_slug_is_a_clear_error(site, settings):
    with pytest.raises(DatastoreError, match="dataset 'no-such-dataset' not found"):
        datastore.discover(settings, ["no-such-dataset"])


def test_invalid_json_is_a_clear_error(site, settings):
    site.raw["/api/3/action/package_show"] = (200, b"<html>maintenance</html>", "text/html")
    with pytest.raises(DatastoreError, match="did not return valid JSON.*text/html"):
        datastore.discover(settings, [INCIDENT_SLUG])


def test_catalogue_retries_a_busy_server(site, settings):
    _publish_both(site)
    site.raw["/api/3/action/package_show"] = (503, b"busy", "text/plain")
    sleeps = Sleeps()
    with pytest.raises(DatastoreError, match="HTTP 503.*after 3 attempts"):
        datastore.discover(settings, [INCIDENT_SLUG], backoff=0.01, sleep=sleeps)
    assert sleeps == [0.01, 0.02]


# ---- fetch ----

def test_fetch_downloads_and_ingests_both_datasets(site, settings, db):
    _publish_both(site)
    report = _fetch(db, settings)
    assert report.ok, report.lines()
    assert [o.status for o in report.outcomes] == ["downloaded", "downloaded"]
    assert [r.name for r in report.ignored] == ["Metadata.pdf"]
    assert all(o.ingest and o.ingest.status == "ok" for o in report.outcomes)
    assert count(db, "incidents") == 3
    assert count(db, "mobilisations", "derived = 0") == 4
    assert count(db, "downloads") == 2
    files = sorted(p.relative_to(settings.downloads_dir).as_posix() for p in settings.downloads_dir.rglob("*")
                   if p.is_file())
    assert files == [f"{INCIDENT_SLUG}/LFB Incident data from 2009.csv",
                     f"{MOBILISATION_SLUG}/LFB Mobilisation data 2009.csv"]
    row = datastore.download_row(db, report.outcomes[1].resource.url)
    assert row["etag"] == "abc123" and row["size_bytes"] == len(MOBILISATIONS_CSV.encode())
    assert row["sha256"] == hashlib.sha256(MOBILISATIONS_CSV.encode()).hexdigest()
    assert not any(p.endswith(".pdf") for p, _ in site.requests)
    assert "2 downloaded, 0 unchanged, 0 failed, 1 non-data files ignored" in report.summary()


def test_second_fetch_skips_unchanged_files_without_downloading(site, settings, db):
    _publish_both(site)
    assert _fetch(db, settings).ok
    before = len(site.file_requests())
    report = _fetch(db, settings)
    assert [o.status for o in report.outcomes] == ["skipped", "skipped"]
    assert "already ingested" in report.outcomes[0].message
    assert len(site.file_requests()) == before
    assert count(db, "ingests") == 2


def test_changed_file_is_downloaded_and_ingested_again(site, settings, db):
    _publish_both(site)
    assert _fetch(db, settings).ok
    site.publish(INCIDENT_SLUG, "LFB Incident data from 2009.csv", (INCIDENTS_CSV + EXTRA_INCIDENT).encode(),
                 last_modified="2024-02-05T10:00:00")
    report = _fetch(db, settings)
    assert report.ok, report.lines()
    by_name = {o.resource.name: o for o in report.outcomes}
    changed = by_name["LFB Incident data from 2009.csv"]
    assert changed.status == "downloaded" and changed.ingest.status == "ok"
    assert changed.ingest.rows_inserted == 1 and changed.ingest.rows_updated == 3
    assert by_name["LFB Mobilisation data 2009.csv"].status == "skipped"
    assert count(db, "incidents") == 4
    assert datastore.download_row(db, changed.resource.url)["last_modified"] == "2024-02-05T10:00:00"


def test_unchanged_file_not_yet_ingested_is_reingested_from_disk(site, settings, db):
    _publish_both(site)
    assert _fetch(db, settings).ok
    db.execute("UPDATE ingests SET status = 'failed'")  # as if both ingests had failed
    before = len(site.file_requests())
    report = _fetch(db, settings)
    assert [o.status for o in report.outcomes] == ["downloaded", "downloaded"]
    assert all("re-read from the earlier download" in o.message for o in report.outcomes)
    assert len(site.file_requests()) == before


def test_one_failing_file_does_not_stop_the_others(site, settings, db):
    _publish_both(site)
    site.script[f"/download/{INCIDENT_SLUG}/LFB Incident data from 2009.csv"] = ["status:500"] * 10
    report = _fetch(db, settings)
    assert not report.ok
    failed, done = report.outcomes
    assert failed.status == "failed" and "after 3 attempts: HTTP 500" in failed.message
    assert "LFB Incident data from 2009.csv" in failed.message
    assert done.status == "downloaded" and count(db, "mobilisations", "derived = 0") == 4
    assert datastore.download_row(db, failed.resource.url) is None
    assert any(line.startswith("failed") for line in report.lines())


def test_unknown_slug_in_fetch_is_reported_and_others_carry_on(site, settings, db):
    _publish_both(site)
    report = _fetch(db, settings, datasets=["no-such-dataset", MOBILISATION_SLUG])
    assert not report.ok
    assert len(report.errors) == 1 and "no-such-dataset" in report.errors[0]
    assert [o.status for o in report.outcomes] == ["downloaded"]


def test_a_file_that_is_not_lfb_records_fails_clearly(site, settings, db):
    site.publish(INCIDENT_SLUG, "notes.csv", b"a,b\n1,2\n")
    report = _fetch(db, settings, datasets=[INCIDENT_SLUG])
    (outcome,) = report.outcomes
    assert outcome.status == "failed" and "ingest failed" in outcome.message and "not an LFB" in outcome.message


def test_offline_raises_quickly_and_changes_nothing(tmp_path, settings, db):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    offline = dataclasses.replace(settings, datastore_url=f"http://127.0.0.1:{port}")
    clock = time.perf_counter()
    with pytest.raises(OfflineError) as info:
        datastore.fetch(db, offline, log=lambda _: None)  # real sleeps and the default backoff
    assert time.perf_counter() - clock < 5
    message = str(info.value)
    assert "offline" in message and f"127.0.0.1:{port}" in message and "nothing was changed" in message
    assert "connection refused" in message
    assert not settings.downloads_dir.exists()
    for table in ("downloads", "ingests", "incidents", "mobilisations"):
        assert count(db, table) == 0


def test_a_server_that_never_answers_counts_as_offline(settings, db):
    with socket.socket() as sock:  # listens (the kernel completes the handshake) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        silent = dataclasses.replace(settings, datastore_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
                                     http_timeout=0.3)
        clock = time.perf_counter()
        with pytest.raises(OfflineError, match="no answer in time.*nothing was changed"):
            datastore.fetch(db, silent, log=lambda _: None, backoff=0.01)
        assert time.perf_counter() - clock < 3
    assert not settings.downloads_dir.exists() and count(db, "ingests") == 0


def test_fetch_ingests_an_xlsx_file_whose_url_has_no_suffix(site, settings, db):
    import openpyxl

    book = openpyxl.Workbook()
    for line in MOBILISATIONS_CSV.splitlines():
        book.active.append(line.split(","))
    buffer = io.BytesIO()
    book.save(buffer)
    entry = site.publish(MOBILISATION_SLUG, "resource-7", buffer.getvalue(), fmt="XLSX")
    entry["name"] = "LFB Mobilisation data 2009 (Excel)"
    report = _fetch(db, settings, datasets=[MOBILISATION_SLUG])
    assert report.ok, report.lines()
    (outcome,) = report.outcomes
    assert outcome.path.name == "resource-7.xlsx" and outcome.ingest.kind == "mobilisations"
    assert count(db, "mobilisations", "derived = 0") == 4


# ---- download ----

def test_download_resumes_a_partial_file_with_range(site, settings, tmp_path):
    body = MOBILISATIONS_CSV.encode()
    res = _resource(site, "/download/x/mob.csv", body)
    dest = tmp_path / "dl"
    dest.mkdir()
    (dest / "mob.csv.part").write_bytes(body[:100])
    seen: list[tuple[int, int]] = []
    path = datastore.download(res, dest, settings, progress=lambda d, t: seen.append((d, t)), sleep=Sleeps())
    assert path == dest / "mob.csv" and path.read_bytes() == body
    ((_, headers),) = site.file_requests()
    assert headers["Range"] == "bytes=100-"
    assert seen[0] == (100, len(body)) and seen[-1] == (len(body), len(body))
    assert sorted(p.name for p in dest.iterdir()) == ["mob.csv"]


def test_download_restarts_when_the_server_ignores_range(site, settings, tmp_path):
    body = MOBILISATIONS_CSV.encode()
    res = _resource(site, "/download/x/mob.csv", body)
    site.honour_range = False
    dest = tmp_path / "dl"
    dest.mkdir()
    (dest / "mob.csv.part").write_bytes(b"stale bytes of something else")
    path = datastore.download(res, dest, settings, sleep=Sleeps())
    assert path.read_bytes() == body
    assert sorted(p.name for p in dest.iterdir()) == ["mob.csv"]


def test_partial_file_of_an_older_version_is_discarded(site, settings, tmp_path):
    body = MOBILISATIONS_CSV.encode()
    res = _resource(site, "/download/x/mob.csv", body)
    dest = tmp_path / "dl"
    dest.mkdir()
    (dest / "mob.csv.part").write_bytes(b"X" * 100)
    old = dataclasses.replace(res, last_modified="2020-01-01")
    (dest / "mob.csv.part.json").write_text(json.dumps({"fingerprint": datastore._fingerprint(old)}))
    path = datastore.download(res, dest, settings, sleep=Sleeps())
    assert path.read_bytes() == body
    ((_, headers),) = site.file_requests()
    assert "Range" not in headers


def test_download_survives_a_dropped_connection(site, settings, tmp_path):
    body = BIG_BODY
    res = _resource(site, "/download/x/inc.csv", body)
    site.script["/download/x/inc.csv"] = ["drop"]
    sleeps = Sleeps()
    path = datastore.download(res, tmp_path / "dl", settings, backoff=0.01, sleep=sleeps)
    assert path.read_bytes() == body
    first, second = site.file_requests()
    assert "Range" not in first[1]
    resumed_at = int(second[1]["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= len(body) // 2  # what arrived before the drop was kept (bar the last read)
    assert sleeps == [0.01]
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == ["inc.csv"]


def test_dropped_connection_with_range_ignored_starts_again(site, settings, tmp_path):
    body = BIG_BODY
    res = _resource(site, "/download/x/inc.csv", body)
    site.honour_range = False
    site.script["/download/x/inc.csv"] = ["drop", "drop"]
    path = datastore.download(res, tmp_path / "dl", settings, backoff=0.01, sleep=Sleeps())
    assert path.read_bytes() == body and len(site.file_requests()) == 3


def test_download_honours_retry_after(site, settings, tmp_path):
    body = MOBILISATIONS_CSV.encode()
    res = _resource(site, "/download/x/mob.csv", body)
    site.script["/download/x/mob.csv"] = ["status:503:2", "status:429:1"]
    sleeps = Sleeps()
    path = datastore.download(res, tmp_path / "dl", settings, backoff=0.01, sleep=sleeps)
    assert path.read_bytes() == body
    assert sleeps == [2.0, 1.0]


def test_download_gives_up_after_retries_and_keeps_the_partial_file(site, settings, tmp_path):
    body = BIG_BODY
    res = _resource(site, "/download/x/inc.csv", body)
    site.honour_range = False
    site.script["/download/x/inc.csv"] = ["drop"] * 3
    sleeps = Sleeps()
    with pytest.raises(DownloadError, match=r"'inc.csv'.*after 3 attempts: connection broken.*next fetch resumes"):
        datastore.download(res, tmp_path / "dl", settings, backoff=0.01, sleep=sleeps)
    assert sleeps == [0.01, 0.02]
    assert not (tmp_path / "dl" / "inc.csv").exists()
    assert 0 < (tmp_path / "dl" / "inc.csv.part").stat().st_size <= len(body) // 2


def test_download_404_fails_at_once(site, settings, tmp_path):
    res = Resource("test", "gone.csv", site.base + "/download/x/gone.csv", "csv")
    sleeps = Sleeps()
    with pytest.raises(DownloadError, match="'gone.csv'.*HTTP 404"):
        datastore.download(res, tmp_path / "dl", settings, sleep=sleeps)
    assert sleeps == [] and len(site.file_requests()) == 1


def test_retry_after_http_date():
    class Answer:
        headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    assert datastore._retry_after(Answer()) == 0.0
    Answer.headers = {"Retry-After": "7"}
    assert datastore._retry_after(Answer()) == 7.0
