"""Settings for the whole project, read once from environment variables."""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DATASTORE_DATASETS = (
    "london-fire-brigade-incident-records",
    "london-fire-brigade-mobilisation-records",
)


class ConfigError(ValueError):
    """An LFB_* environment variable whose value cannot be used."""


def _raw(name: str) -> str | None:
    """Return the stripped value of environment variable `name`, or None when it is unset or empty."""
    value = os.environ.get(name, "").strip()
    return value or None


LARGEST_SETTING = 1_000_000_000  # no count, size or limit of this app is larger


def _nice(name: str, default: int) -> int:
    """Return the nice value (0 to 19) in environment variable `name`, or `default`."""
    value = _int(name, default, 0)
    if value > 19:
        raise ConfigError(f"{name} must be a nice value from 0 (same priority as the app) to 19 (lowest), got {value}")
    return value


def _int(name: str, default: int, minimum: int) -> int:
    """Return the whole number in environment variable `name` (at least `minimum`), or `default`."""
    text = _raw(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {text!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {text!r}")
    if value > LARGEST_SETTING:
        raise ConfigError(f"{name} must be at most {LARGEST_SETTING:,}, got {text[:40]!r}"
                          + ("…" if len(text) > 40 else ""))
    return value


def _float(name: str, default: float, low: float, high: float | None = None, *, above: bool = False) -> float:
    """Return the number in environment variable `name` (from `low`, or over it if `above`, to `high`), or `default`."""
    text = _raw(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {text!r}") from None
    if above:
        ok, rule = value > low, f"more than {low:g}"
    elif high is None:
        ok, rule = value >= low, f"at least {low:g}"
    else:
        ok, rule = low <= value <= high, f"between {low:g} and {high:g}"
    if not ok:  # NaN fails every rule
        raise ConfigError(f"{name} must be {rule}, got {text!r}")
    if value == float("inf"):  # an endless wait is no setting
        raise ConfigError(f"{name} must be a finite number ({rule}), got {text!r}")
    return value


def _bool(name: str, default: bool) -> bool:
    """Return the yes/no value in environment variable `name` (1/0, yes/no, true/false), or `default`."""
    text = _raw(name)
    if text is None:
        return default
    if text.lower() in ("1", "yes", "true", "on"):
        return True
    if text.lower() in ("0", "no", "false", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (yes/no, true/false), got {text!r}")


def _path(name: str, default: Path) -> Path:
    """Return the path in environment variable `name`, or `default`."""
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else default


def _cron(name: str, default: str) -> str:
    """Return the 5-field crontab expression in environment variable `name` (checked), or `default`."""
    text = _raw(name)
    if text is None:
        return default
    from lfb.service.cron import CronError, crontab_trigger

    try:
        crontab_trigger(text)
    except CronError as exc:
        raise ConfigError(f"{name} must be a 5-field crontab expression (minute hour day-of-month month "
                          f"day-of-week, e.g. '0 2 15 * *'), got {text!r}: {exc}") from None
    return " ".join(text.split())


def _port(name: str, default: int) -> int:
    """Return the TCP port in environment variable `name`, or `default`; anything else is a clear ValueError."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError(f"{name}={text!r} is not a port number: use 1 to 65535 (default {default})")
    return int(text)


def _command(name: str, default: str) -> str:
    """Return the command line in environment variable `name` (split into words as a shell would), or `default`."""
    text = _raw(name)
    if text is None:
        return default
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a command line such as {default!r}: {exc} in {text!r}") from None
    if not words:
        raise ConfigError(f"{name} must be a command line such as {default!r}, got {text!r}")
    return text


@dataclass(frozen=True)
class Settings:
    """Where state lives and how the project talks to the outside world."""

    data_dir: Path
    models_dir: Path
    db_path: Path
    service_db_path: Path
    downloads_dir: Path
    shared_data_dir: Path
    datastore_url: str
    credentials_path: Path  # users of the app: bcrypt hashes and roles (streamlit-authenticator's layout)
    cookie_key_path: Path  # the sign-in cookie's signing key, when LFB_COOKIE_KEY is not set
    http_timeout: float = 30.0
    http_retries: int = 4
    chunk_rows: int = 50_000
    date_margin_days: int = 2
    test_months: int = 3
    promote_margin: float = 0.01
    coverage_tolerance: float = 0.02
    refit_on_all: bool = True
    flag_share: float = 0.15  # the underestimation flag's threshold flags this share of validation estimates
    flag_driver_rows: int = 30  # a flag reason names a group of at least this many validation pumps
    model_threads: int = 2
    model_learning_rate: float = 0.05
    model_max_iterations: int = 3000
    write_wait_s: float = 600.0
    lock_lease_s: float = 60.0
    backup_keep: int = 7
    signin_max_failures: int = 5  # failed sign-ins within the window that lock an account
    signin_window_s: float = 900.0  # how long failed sign-ins count, and how long a lock lasts after the last
    session_idle_s: float = 12 * 3600.0  # a session idle this long is signed out (a control-room shift)
    backup_cron: str = "30 3 * * *"  # the sidecar's daily backup, London time (crontab: every day at 03:30)
    map_style: str = ""  # a tile basemap for the app's maps ('' = none: the maps draw London's own layers only)
    datasets: tuple[str, ...] = field(default=DATASTORE_DATASETS)
    cookie_key: str = field(default="", repr=False)  # LFB_COOKIE_KEY; empty: generated and kept in cookie_key_path
    cookie_expiry_days: float = 1.0
    admin_user: str = ""
    admin_password: str = field(default="", repr=False)
    port: int = 8501
    upload_max_mb: int = 300  # the largest record file the admin console accepts for ingestion
    drift_tolerance: float = 0.15  # live accuracy: a month's MAE this much above the test-window MAE is drift
    drift_min_pumps: int = 500  # live accuracy: a month with fewer pumps is shown but not judged
    # ./start.sh's supervisor (lfb/service/supervisor.py): the sidecar's command, restarts and how long a stop waits
    sidecar_cmd: str = "python scheduler.py"
    restart_limit: int = 5  # restarts in a row of a child that keeps dying, before the supervisor gives up
    restart_backoff_s: float = 1.0  # wait before the first restart; doubled for each next one, up to 30 s
    stop_timeout_s: float = 10.0  # on a stop, how long a child has to end after SIGTERM before it is killed
    pipeline_cron: str = "0 2 15 * *"  # the monthly pipeline, London time (crontab: 15th of the month at 02:00)
    misfire_grace_s: float = 6 * 3600.0  # a run missed while the sidecar was down still runs if this late at most
    poll_s: float = 3.0  # how often the sidecar looks for requests
    sidecar_threads: int = 1  # CatBoost threads of a training run by the sidecar (the app keeps the other cores)
    sidecar_nice: int = 10  # the sidecar's CPU priority (nice 0-19): the app's dispatchers come first on the cores
    fault_trials: int = 20  # tests/faults: SIGKILL trials per scenario (LFB_FAULT_TRIALS=100 for a longer run)

    def relocated(self, data_dir: Path, models_dir: Path | None = None) -> Settings:
        """Return these settings with every state path under `data_dir` (and models in `models_dir`)."""
        return replace(self, data_dir=data_dir, models_dir=models_dir or data_dir / "models",
                       db_path=data_dir / "lfb.db", service_db_path=data_dir / "service.db",
                       downloads_dir=data_dir / "downloads", credentials_path=data_dir / "credentials.yaml",
                       cookie_key_path=data_dir / "cookie_key")

    @property
    def uploads_dir(self) -> Path:
        """Where files uploaded in the admin console are kept for ingestion."""
        return self.data_dir / "uploads"

    @property
    def error_log(self) -> Path:
        """Where the CLI writes the traceback of an unexpected error."""
        return self.data_dir / "errors.log"


def get_settings() -> Settings:
    """Build the settings from the environment (LFB_* variables) and defaults."""
    data_dir = _path("LFB_DATA_DIR", PROJECT_ROOT / "data")
    return Settings(
        data_dir=data_dir,
        models_dir=_path("LFB_MODELS_DIR", PROJECT_ROOT / "models"),
        db_path=_path("LFB_DB", data_dir / "lfb.db"),
        service_db_path=_path("LFB_SERVICE_DB", data_dir / "service.db"),
        downloads_dir=_path("LFB_DOWNLOADS_DIR", data_dir / "downloads"),
        shared_data_dir=_path("LFB_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"),
        datastore_url=os.environ.get("LFB_DATASTORE_URL", "https://data.london.gov.uk").rstrip("/"),
        http_timeout=_float("LFB_HTTP_TIMEOUT", 30.0, 0.0, above=True),
        http_retries=_int("LFB_HTTP_RETRIES", 4, 0),
        chunk_rows=_int("LFB_CHUNK_ROWS", 50_000, 1),
        date_margin_days=_int("LFB_DATE_MARGIN_DAYS", 2, 0),
        test_months=_int("LFB_TEST_MONTHS", 3, 1),
        promote_margin=_float("LFB_PROMOTE_MARGIN", 0.01, 0.0, 1.0),
        coverage_tolerance=_float("LFB_COVERAGE_TOLERANCE", 0.02, 0.0, 1.0),
        refit_on_all=_bool("LFB_REFIT_ON_ALL", True),
        flag_share=_float("LFB_FLAG_SHARE", 0.15, 0.0, 1.0),
        flag_driver_rows=_int("LFB_FLAG_DRIVER_ROWS", 30, 1),
        model_threads=_int("LFB_MODEL_THREADS", 2, 1),
        model_learning_rate=_float("LFB_MODEL_LEARNING_RATE", 0.05, 0.001, 1.0),
        model_max_iterations=_int("LFB_MODEL_MAX_ITERATIONS", 3000, 1),
        write_wait_s=_float("LFB_WRITE_WAIT", 600.0, 0.0),
        lock_lease_s=_float("LFB_LOCK_LEASE", 60.0, 0.0, above=True),
        backup_keep=_int("LFB_BACKUP_KEEP", 7, 1),
        signin_max_failures=_int("LFB_SIGNIN_MAX_FAILURES", 5, 1),
        signin_window_s=_float("LFB_SIGNIN_WINDOW_S", 900.0, 0.0, above=True),
        session_idle_s=_float("LFB_SESSION_IDLE_S", 12 * 3600.0, 0.0, above=True),
        backup_cron=_cron("LFB_BACKUP_CRON", "30 3 * * *"),
        credentials_path=_path("LFB_CREDENTIALS", data_dir / "credentials.yaml"),
        cookie_key_path=data_dir / "cookie_key",
        cookie_key=os.environ.get("LFB_COOKIE_KEY", "").strip(),
        cookie_expiry_days=_float("LFB_COOKIE_EXPIRY_DAYS", 1.0, 0.0, above=True),
        admin_user=os.environ.get("LFB_ADMIN_USER", "").strip(),
        admin_password=os.environ.get("LFB_ADMIN_PASSWORD", ""),
        port=_port("LFB_PORT", 8501),
        sidecar_cmd=_command("LFB_SIDECAR_CMD", "python scheduler.py"),
        restart_limit=_int("LFB_RESTART_LIMIT", 5, 0),
        restart_backoff_s=_float("LFB_RESTART_BACKOFF", 1.0, 0.0),
        stop_timeout_s=_float("LFB_STOP_TIMEOUT", 10.0, 0.0, above=True),
        map_style=os.environ.get("LFB_MAP_STYLE", "").strip(),
        upload_max_mb=_int("LFB_UPLOAD_MAX_MB", 300, 1),
        drift_tolerance=_float("LFB_DRIFT_TOLERANCE", 0.15, 0.0, above=True),
        drift_min_pumps=_int("LFB_DRIFT_MIN_PUMPS", 500, 1),
        pipeline_cron=_cron("LFB_PIPELINE_CRON", "0 2 15 * *"),
        misfire_grace_s=_float("LFB_MISFIRE_GRACE_S", 6 * 3600.0, 0.0),
        poll_s=_float("LFB_POLL_S", 3.0, 0.1),
        sidecar_threads=_int("LFB_SIDECAR_THREADS", 1, 1),
        sidecar_nice=_nice("LFB_SIDECAR_NICE", 10),
        fault_trials=_int("LFB_FAULT_TRIALS", 20, 1),
    )
