"""Find LFB record files on the London Datastore, download them safely and ingest the new ones."""
from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlparse

import requests
import sqlite_utils

from lfb import __version__
from lfb.config import Settings
from lfb.data.ingest import IngestReport, file_sha256, ingest_file, previous_ingest
from lfb.data.store import transaction

Progress = Callable[[int, int], None]  # (done, total); total 0 when unknown
Log = Callable[[str], None]
Sleep = Callable[[float], None]

DATA_SUFFIXES = {"csv": ".csv", "xlsx": ".xlsx"}
FORMAT_ALIASES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "spreadsheet": "xlsx",
}
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
DISCOVERY_CONNECT_ATTEMPTS = 2  # being offline should be reported in seconds, not minutes
CONNECT_TIMEOUT_S = 10.0  # longest wait for a TCP connection to download a file, whatever http_timeout says
DISCOVERY_TIMEOUT_S = (5.0, 15.0)  # longest (connect, read) waits for a small catalogue answer
MAX_WAIT_S = 120.0  # longest pause honoured from a Retry-After header
CHUNK_BYTES = 1 << 16


class DatastoreError(RuntimeError):
    """The London Datastore answered, but not with what we need."""


class OfflineError(DatastoreError):
    """The London Datastore cannot be reached at all; nothing was changed."""


class DownloadError(DatastoreError):
    """A file could not be downloaded completely, even after retries."""


@dataclass(frozen=True)
class Resource:
    """One file published in a Datastore dataset, as its catalogue describes it."""

    dataset: str
    name: str
    url: str
    format: str = ""  # as published, lower case ('csv', 'xlsx', 'pdf', ...)
    size: int | None = None
    last_modified: str | None = None
    hash: str | None = None

    @property
    def file_type(self) -> str | None:
        """Return 'csv' or 'xlsx' for a record file, None for anything else (PDF, metadata...)."""
        suffix = Path(urlparse(self.url).path).suffix.lower().lstrip(".")
        if suffix in DATA_SUFFIXES:
            return suffix
        fmt = FORMAT_ALIASES.get(self.format, self.format).lstrip(".")
        return fmt if fmt in DATA_SUFFIXES else None

    @property
    def is_data(self) -> bool:
        """Return True if this is a CSV or XLSX file that may hold records."""
        return self.file_type is not None


@dataclass
class ResourceOutcome:
    """What fetch did with one data file."""

    resource: Resource
    status: str  # downloaded | skipped | failed
    message: str = ""
    path: Path | None = None
    ingest: IngestReport | None = None
    bytes: int = 0  # bytes of the file on disk when it was downloaded (or re-used) this time

    def line(self) -> str:
        """Return a one-line human summary."""
        return f"{self.status:<10} {self.resource.dataset}: {self.resource.name}: {self.message}"


@dataclass
class FetchReport:
    """What one fetch did: an outcome per data file, the files ignored and the datasets that failed."""

    outcomes: list[ResourceOutcome] = field(default_factory=list)
    ignored: list[Resource] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # datasets that could not be listed
    seconds: float = 0.0

    def by_status(self, status: str) -> list[ResourceOutcome]:
        """Return the outcomes with the given status."""
        return [o for o in self.outcomes if o.status == status]

    @property
    def downloaded(self) -> list[ResourceOutcome]:
        """Return the outcomes of files downloaded (or re-read) and ingested."""
        return self.by_status("downloaded")

    @property
    def skipped(self) -> list[ResourceOutcome]:
        """Return the outcomes of files skipped as already ingested unchanged."""
        return self.by_status("skipped")

    @property
    def failed(self) -> list[ResourceOutcome]:
        """Return the outcomes of files that could not be downloaded or ingested."""
        return self.by_status("failed")

    @property
    def ok(self) -> bool:
        """Return True if every dataset was listed and no file failed."""
        return not self.errors and not self.failed

    def summary(self) -> str:
        """Return a one-line human summary of the whole fetch."""
        text = (f"{len(self.downloaded)} downloaded, {len(self.skipped)} unchanged, {len(self.failed)} failed, "
                f"{len(self.ignored)} non-data files ignored")
        if self.errors:
            text += f"; {len(self.errors)} dataset(s) could not be listed"
        return text + f" ({self.seconds:.1f} s)"

    def lines(self) -> list[str]:
        """Return the report as printable lines: dataset errors, one line per file, then the summary."""
        return ([f"error      {e}" for e in self.errors] + [o.line() for o in self.outcomes] + [self.summary()])


# ---- HTTP helpers ----

def new_session() -> requests.Session:
    """Return a requests session that names this project in its User-Agent."""
    session = requests.Session()
    session.headers["User-Agent"] = f"lfb-dashboard/{__version__} (python-requests)"
    return session


def _timeout(settings: Settings, cap: tuple[float, float] = (CONNECT_TIMEOUT_S, float("inf"))) -> tuple[float, float]:
    """Return the (connect, read) timeouts for one request: settings.http_timeout, within `cap`."""
    return min(settings.http_timeout, cap[0]), min(settings.http_timeout, cap[1])


def _reason(exc: BaseException) -> str:
    """Return a short human reason for a network failure."""
    text = str(exc)
    if isinstance(exc, requests.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.ReadTimeout):
        return "no answer in time (read timed out)"
    if re.search(r"Name or service not known|nodename nor servname|getaddrinfo failed|"
                 r"Temporary failure in name resolution|NameResolutionError|No address associated", text):
        return "DNS lookup failed"
    if re.search(r"Connection refused|ConnectionRefused|actively refused", text):
        return "connection refused"
    if re.search(r"Network is unreachable|No route to host", text):
        return "network unreachable"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return f"connection broken mid-transfer ({_short(text)})"
    return f"{type(exc).__name__}: {_short(text)}"


def _short(text: str, limit: int = 160) -> str:
    """Return `text` on one line, cut to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(response: requests.Response) -> float | None:
    """Return the wait in seconds asked for by a Retry-After header (seconds or HTTP date), if any."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def _pause(attempt: int, backoff: float, asked: float | None) -> float:
    """Return the pause before retry number `attempt`: the server's Retry-After, else exponential backoff."""
    wait = asked if asked is not None else backoff * 2 ** (attempt - 1)
    return min(max(wait, 0.0), MAX_WAIT_S)


# ---- discovery ----

def _get_json(session: requests.Session, url: str, settings: Settings, backoff: float, sleep: Sleep) -> Any | None:
    """GET a JSON document; return None on HTTP 404; retry busy servers; raise OfflineError if unreachable."""
    base = settings.datastore_url.rstrip("/")
    attempts = settings.http_retries + 1
    connect_failures = 0
    attempt = 0
    while True:
        attempt += 1
        try:
            response = session.get(url, timeout=_timeout(settings, DISCOVERY_TIMEOUT_S),
                                   headers={"Accept": "application/json"})
        except (requests.ConnectionError, requests.Timeout) as exc:
            connect_failures += 1
            if connect_failures >= DISCOVERY_CONNECT_ATTEMPTS:
                raise OfflineError(f"offline: cannot reach the London Datastore at {base} ({_reason(exc)}); "
                                   "nothing was changed") from exc
            sleep(min(backoff, 0.5))
            continue
        except requests.RequestException as exc:
            raise DatastoreError(f"cannot ask {url}: {_reason(exc)}") from exc
        with response:
            status = response.status_code
            if status == 404:
                return None
            if status in RETRY_STATUSES and attempt < attempts:
                sleep(_pause(attempt, backoff, _retry_after(response)))
                continue
            if status != 200:
                raise DatastoreError(f"{url} answered HTTP {status} {response.reason or ''}".rstrip()
                                     + (f" after {attempt} attempts" if status in RETRY_STATUSES else ""))
            try:
                return response.json()
            except ValueError:
                kind = response.headers.get("Content-Type", "no content type")
                raise DatastoreError(f"{url} did not return valid JSON ({kind}; starts with "
                                     f"{_short(response.text, 80)!r})") from None


def _int(value: object) -> int | None:
    """Return a size as an int, or None if absent or not a number."""
    try:
        return None if value in (None, "") else int(float(str(value)))
    except ValueError:
        return None


def _text(*values: object) -> str | None:
    """Return the first non-empty value as stripped text."""
    for value in values:
        if value not in (None, "") and str(value).strip():
            return str(value).strip()
    return None


def _resource(slug: str, base: str, item: dict, name_keys: tuple[str, ...], modified_keys: tuple[str, ...],
              size_keys: tuple[str, ...], hash_keys: tuple[str, ...]) -> Resource | None:
    """Return a Resource from one catalogue entry, or None if it has no URL."""
    url = _text(item.get("url"))
    if url is None:
        return None
    url = urljoin(base + "/", url)
    name = _text(*(item.get(k) for k in name_keys)) or unquote(Path(urlparse(url).path).name) or url
    return Resource(
        dataset=slug, name=name, url=url, format=(_text(item.get("format")) or "").lower(),
        size=next((s for s in (_int(item.get(k)) for k in size_keys) if s is not None), None),
        last_modified=_text(*(item.get(k) for k in modified_keys)),
        hash=_text(*(item.get(k) for k in hash_keys)))


def _ckan_resources(slug: str, base: str, url: str, data: Any) -> list[Resource]:
    """Return the resources of a CKAN package_show answer."""
    if not isinstance(data, dict):
        raise DatastoreError(f"{url} returned JSON that is not a CKAN answer (a {type(data).__name__})")
    if not data.get("success", True):
        error = data.get("error")
        detail = error.get("message") if isinstance(error, dict) else error
        raise DatastoreError(f"dataset {slug!r}: the Datastore refused the request: {detail or 'no reason given'}")
    result = data.get("result")
    items = result.get("resources") if isinstance(result, dict) else None
    if not isinstance(items, list):
        raise DatastoreError(f"{url} returned JSON without a list of resources (result.resources)")
    found = (_resource(slug, base, item, ("name", "title"), ("last_modified", "metadata_modified", "created"),
                       ("size",), ("hash",)) for item in items if isinstance(item, dict))
    return [r for r in found if r is not None]


def _datapress_resources(slug: str, base: str, url: str, data: Any) -> list[Resource]:
    """Return the resources of a DataPress /api/dataset answer (resources keyed by id)."""
    if isinstance(data, dict) and "resources" not in data and isinstance(data.get("result"), dict):
        data = data["result"]
    items = data.get("resources") if isinstance(data, dict) else None
    if isinstance(items, dict):
        items = sorted((v for v in items.values() if isinstance(v, dict)), key=lambda v: _int(v.get("order")) or 0)
    if not isinstance(items, list):
        raise DatastoreError(f"{url} returned JSON without resources")
    found = (_resource(slug, base, item, ("title", "name"), ("check_timestamp", "timestamp", "modified"),
                       ("check_size", "size"), ("check_hash", "hash")) for item in items if isinstance(item, dict))
    return [r for r in found if r is not None]


def discover_dataset(settings: Settings, slug: str, *, session: requests.Session | None = None,
                     backoff: float = 1.0, sleep: Sleep = time.sleep) -> list[Resource]:
    """Return every resource of one dataset (CKAN package_show, else the DataPress native API)."""
    base = settings.datastore_url.rstrip("/")
    session = session or new_session()
    ckan_url = f"{base}/api/3/action/package_show?id={quote(slug, safe='')}"
    data = _get_json(session, ckan_url, settings, backoff, sleep)
    if data is not None:
        return _ckan_resources(slug, base, ckan_url, data)
    native_url = f"{base}/api/dataset/{quote(slug, safe='')}"
    data = _get_json(session, native_url, settings, backoff, sleep)
    if data is None:
        raise DatastoreError(f"dataset {slug!r} not found on {base} (HTTP 404 from both {ckan_url} and "
                             f"{native_url}); check the dataset name")
    return _datapress_resources(slug, base, native_url, data)


def discover(settings: Settings, datasets: Iterable[str] | None = None, *, session: requests.Session | None = None,
             backoff: float = 1.0, sleep: Sleep = time.sleep) -> list[Resource]:
    """Return every resource of the datasets (default: settings.datasets), data files or not."""
    session = session or new_session()
    return [r for slug in (datasets or settings.datasets)
            for r in discover_dataset(settings, slug, session=session, backoff=backoff, sleep=sleep)]


# ---- download ----

def local_name(resource: Resource) -> str:
    """Return a safe local file name for a resource, with the suffix its reader needs."""
    name = unquote(Path(urlparse(resource.url).path).name) or resource.name
    name = re.sub(r"[^\w.\-() ]+", "_", name).strip(" ._") or "resource"
    suffix = DATA_SUFFIXES.get(resource.file_type or "")
    if suffix and Path(name).suffix.lower() != suffix:
        name += suffix
    return name


def _fingerprint(resource: Resource) -> list:
    """Return what identifies one published version of a resource."""
    return [resource.url, resource.size, resource.last_modified, resource.hash]


class _Retry(Exception):
    """One download attempt failed in a way worth retrying."""

    def __init__(self, message: str, wait: float | None = None):
        super().__init__(message)
        self.wait = wait


class _Fatal(Exception):
    """One download attempt failed in a way that retrying cannot fix."""


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """Return (first byte, total size) from a Content-Range header; None for what is absent."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not match:
        return None, None
    first, total = match.groups()
    return (int(first) if first else None), (int(total) if total and total != "*" else None)


def _discard(*paths: Path) -> None:
    """Delete the files, if they exist."""
    for path in paths:
        path.unlink(missing_ok=True)


def _read_meta(meta: Path) -> dict:
    """Return the sidecar of a partial download, or {} if there is none or it is unreadable."""
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _if_range(meta: dict) -> str | None:
    """Return the validator to send in If-Range: a strong ETag, else the Last-Modified date."""
    etag = meta.get("etag") or ""
    if etag and not etag.startswith("W/"):
        return etag
    return meta.get("http_last_modified") or None


def _attempt(session: requests.Session, resource: Resource, part: Path, meta: Path, settings: Settings,
             progress: Progress | None) -> dict:
    """Make one request and append what arrives to `part`; return the response's validators once complete."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity"}  # byte ranges count stored bytes, not decoded ones
    known = _read_meta(meta)
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if validator := _if_range(known):
            headers["If-Range"] = validator
    with session.get(resource.url, stream=True, timeout=_timeout(settings), headers=headers) as response:
        status = response.status_code
        validators = {"etag": response.headers.get("ETag"),
                      "http_last_modified": response.headers.get("Last-Modified")}
        if status == 416 and offset:
            _, total = _content_range(response.headers.get("Content-Range"))
            if total == offset:  # the partial file was in fact complete
                return known or validators
            _discard(part, meta)
            raise _Retry("the server refused to resume the partial file; starting again", wait=0)
        if status in RETRY_STATUSES:
            raise _Retry(f"HTTP {status} {response.reason or ''}".rstrip(), wait=_retry_after(response))
        if status not in (200, 206):
            raise _Fatal(f"HTTP {status} {response.reason or ''}".rstrip())
        encoded = response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
        if status == 206 and offset:
            first, total = _content_range(response.headers.get("Content-Range"))
            if first != offset:
                _discard(part, meta)
                raise _Retry(f"the server resumed at byte {first}, not {offset}; starting again", wait=0)
            mode, done = "ab", offset
        else:  # a full answer: the server ignored Range, or the file changed since the partial download
            length = _int(response.headers.get("Content-Length"))
            total = None if encoded else length
            mode, done = "wb", 0
            known = validators | {"fingerprint": _fingerprint(resource)}
            meta.write_text(json.dumps(known), encoding="utf-8")
        expected = total or resource.size or 0
        if progress:
            progress(done, expected)
        with part.open(mode) as fh:
            for block in response.iter_content(CHUNK_BYTES):
                fh.write(block)
                done += len(block)
                if progress:
                    progress(done, expected)
        if total is not None and done != total:
            raise _Retry(f"connection closed after {done:,} of {total:,} bytes")
    return validators


def _download(resource: Resource, dest_dir: Path | str, settings: Settings, progress: Progress | None = None, *,
              filename: str | None = None, session: requests.Session | None = None, backoff: float = 1.0,
              sleep: Sleep = time.sleep) -> tuple[Path, dict]:
    """Download a resource as `download` does; also return the server's validators (ETag, Last-Modified)."""
    dest_dir = Path(dest_dir)
    session = session or new_session()
    final = dest_dir / (filename or local_name(resource))
    part = final.with_name(final.name + ".part")
    meta = final.with_name(final.name + ".part.json")
    if part.exists() and meta.exists() and _read_meta(meta).get("fingerprint") != _fingerprint(resource):
        _discard(part, meta)  # a partial download of an older version of the file
    attempts = settings.http_retries + 1
    last_error = "no attempt made"
    for attempt in range(1, attempts + 1):
        wait: float | None = None
        try:
            dest_dir.mkdir(parents=True, exist_ok=True)
            validators = _attempt(session, resource, part, meta, settings, progress)
        except _Retry as exc:
            last_error, wait = str(exc), exc.wait
        except _Fatal as exc:
            raise DownloadError(f"cannot download {resource.name!r} from {resource.url}: {exc}") from None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            last_error = _reason(exc)
        except requests.RequestException as exc:
            raise DownloadError(f"cannot download {resource.name!r} from {resource.url}: {_reason(exc)}") from exc
        except OSError as exc:
            raise DownloadError(f"cannot write {part}: {exc}") from exc
        else:
            os.replace(part, final)
            _discard(meta)
            return final, validators
        if attempt < attempts:
            sleep(_pause(attempt, backoff, wait))
    kept = part.exists() and part.stat().st_size > 0
    raise DownloadError(f"could not download {resource.name!r} from {resource.url} after {attempts} attempts: "
                        f"{last_error}" + ("; the partial file is kept and the next fetch resumes it" if kept else ""))


def download(resource: Resource, dest_dir: Path | str, settings: Settings, progress: Progress | None = None, *,
             filename: str | None = None, session: requests.Session | None = None, backoff: float = 1.0,
             sleep: Sleep = time.sleep) -> Path:
    """Download a resource into `dest_dir`, resuming a partial .part file; return the complete file's path."""
    return _download(resource, dest_dir, settings, progress, filename=filename, session=session,
                     backoff=backoff, sleep=sleep)[0]


# ---- fetch: discover, download what changed, ingest ----

def _now() -> str:
    """Return the current UTC time as ISO text."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def download_row(db: sqlite_utils.Database, url: str) -> dict | None:
    """Return the downloads row of a URL, or None if it was never downloaded."""
    cursor = db.execute("SELECT * FROM downloads WHERE url = ?", [url])
    row = cursor.fetchone()
    return None if row is None else dict(zip([c[0] for c in cursor.description], row))


def _unchanged(row: dict | None, resource: Resource) -> bool:
    """Return True if the catalogue describes the file exactly as when it was last downloaded."""
    if row is None:
        return False
    checks = []
    if resource.size is not None:
        checks.append(row["size_bytes"] == resource.size)
    if resource.last_modified:
        checks.append(row["last_modified"] == resource.last_modified)
    if resource.hash:
        checks.append(row["etag"] == resource.hash)
    return bool(checks) and all(checks)  # a catalogue that says nothing cannot vouch for anything


def _record_download(db: sqlite_utils.Database, resource: Resource, path: Path, sha256: str,
                     validators: dict) -> None:
    """Insert or replace the downloads row of a resource, as the catalogue described it."""
    # size_bytes and last_modified are the catalogue's, so the next fetch compares like with like (size falls back
    # to the file's); etag holds the catalogue's hash when it publishes one, else the server's ETag.
    with transaction(db):
        db.execute(
            "INSERT INTO downloads (url, dataset, name, path, size_bytes, last_modified, etag, sha256, downloaded) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (url) DO UPDATE SET dataset = excluded.dataset, "
            "name = excluded.name, path = excluded.path, size_bytes = excluded.size_bytes, "
            "last_modified = excluded.last_modified, etag = excluded.etag, sha256 = excluded.sha256, "
            "downloaded = excluded.downloaded",
            [resource.url, resource.dataset, resource.name, str(path),
             resource.size if resource.size is not None else path.stat().st_size, resource.last_modified,
             resource.hash or validators.get("etag"), sha256, _now()])


def _unique_names(resources: list[Resource]) -> dict[str, str]:
    """Return a local file name per URL, made unique within each dataset."""
    names: dict[str, str] = {}
    taken: set[tuple[str, str]] = set()
    for res in resources:
        name = local_name(res)
        if (res.dataset, name.lower()) in taken:
            stem, suffix = os.path.splitext(name)
            name = f"{stem}-{hashlib.sha1(res.url.encode()).hexdigest()[:8]}{suffix}"
        taken.add((res.dataset, name.lower()))
        names[res.url] = name
    return names


def _fetch_one(db: sqlite_utils.Database, settings: Settings, res: Resource, filename: str,
               progress: Progress | None, log: Log, session: requests.Session, backoff: float,
               sleep: Sleep) -> ResourceOutcome:
    """Bring one data file up to date: skip it, or download (or re-read) and ingest it."""
    row = download_row(db, res.url)
    unchanged = _unchanged(row, res) and bool(row and row["sha256"])
    if unchanged and (earlier := previous_ingest(db, row["sha256"])) is not None:
        return ResourceOutcome(res, "skipped", f"unchanged since downloaded {row['downloaded']} and already "
                                               f"ingested (ingest #{earlier})", path=Path(row["path"]))
    local = Path(row["path"]) if unchanged else None
    if local is not None and local.is_file() and file_sha256(local) == row["sha256"]:
        log(f"{res.name}: unchanged on the Datastore; ingesting the copy downloaded earlier ({local})")
        path, validators, how = local, {"etag": row["etag"]}, "re-read from the earlier download"
    else:
        size = f" ({res.size / 1e6:,.1f} MB)" if res.size else ""
        log(f"{res.name}: downloading{size} from {res.url}")
        try:
            path, validators = _download(res, settings.downloads_dir / _safe_dir(res.dataset), settings, progress,
                                         filename=filename, session=session, backoff=backoff, sleep=sleep)
        except DownloadError as exc:
            return ResourceOutcome(res, "failed", str(exc))
        how = "downloaded"
    sha = file_sha256(path)
    _record_download(db, res, path, sha, validators)
    log(f"{res.name}: ingesting {path.name}")
    report = ingest_file(db, path, chunk_rows=settings.chunk_rows, progress=progress)
    nbytes = path.stat().st_size
    if report.status == "failed":
        return ResourceOutcome(res, "failed", f"{how}, but the ingest failed: {report.message}", path, report, nbytes)
    return ResourceOutcome(res, "downloaded", f"{how} ({nbytes:,} bytes); {report.message}", path, report, nbytes)


def _safe_dir(dataset: str) -> str:
    """Return a dataset slug usable as a directory name."""
    return re.sub(r"[^\w.\-]+", "_", dataset).strip("._") or "dataset"


def fetch(db: sqlite_utils.Database, settings: Settings, datasets: Iterable[str] | None = None,
          progress: Progress | None = None, log: Log = print, *, session: requests.Session | None = None,
          backoff: float = 1.0, sleep: Sleep = time.sleep) -> FetchReport:
    """Download the data files that are new or changed on the Datastore, ingest them, and report every file."""
    # Every dataset is listed before anything is written, so an OfflineError leaves files and database untouched.
    # A dataset that cannot be listed, or a file that cannot be downloaded or ingested, is reported; the others
    # carry on. `progress` gets (bytes done, bytes total) while downloading, then the ingest's own progress;
    # `log` gets a line when each file starts downloading or ingesting, and one per outcome.
    clock = time.perf_counter()
    own_session = session is None
    session = session or new_session()
    report = FetchReport()
    try:
        resources: list[Resource] = []
        for slug in datasets or settings.datasets:
            try:
                resources += discover_dataset(settings, slug, session=session, backoff=backoff, sleep=sleep)
            except OfflineError:
                raise
            except DatastoreError as exc:
                report.errors.append(str(exc))
                log(f"error: {exc}")
        data = []
        for res in resources:
            if res.is_data:
                data.append(res)
            else:
                report.ignored.append(res)
                log(f"{res.dataset}: ignoring {res.name!r} ({res.format or 'unknown format'}): "
                    "not a CSV or XLSX data file")
        names = _unique_names(data)
        for res in data:
            try:
                outcome = _fetch_one(db, settings, res, names[res.url], progress, log, session, backoff, sleep)
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
                outcome = ResourceOutcome(res, "failed", f"{type(exc).__name__}: {exc}")
            report.outcomes.append(outcome)
            log(outcome.line())
    finally:
        if own_session:
            session.close()
    report.seconds = time.perf_counter() - clock
    return report
