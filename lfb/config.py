"""Settings for the whole project, read once from environment variables."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DATASTORE_DATASETS = (
    "london-fire-brigade-incident-records",
    "london-fire-brigade-mobilisation-records",
)


def _path(name: str, default: Path) -> Path:
    """Return the path in environment variable `name`, or `default`."""
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else default


def _port(name: str, default: int) -> int:
    """Return the TCP port in environment variable `name`, or `default`; anything else is a clear ValueError."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{name}={text!r} is not a port number: use 1 to 65535 (default {default})")
    return int(text)


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
    write_wait_s: float = 600.0
    lock_lease_s: float = 60.0
    datasets: tuple[str, ...] = field(default=DATASTORE_DATASETS)
    cookie_key: str = field(default="", repr=False)  # LFB_COOKIE_KEY; empty: generated and kept in cookie_key_path
    cookie_expiry_days: float = 1.0
    admin_user: str = ""
    admin_password: str = field(default="", repr=False)
    port: int = 8501

    def relocated(self, data_dir: Path, models_dir: Path | None = None) -> Settings:
        """Return these settings with every state path under `data_dir` (and models in `models_dir`)."""
        return replace(self, data_dir=data_dir, models_dir=models_dir or data_dir / "models",
                       db_path=data_dir / "lfb.db", service_db_path=data_dir / "service.db",
                       downloads_dir=data_dir / "downloads", credentials_path=data_dir / "credentials.yaml",
                       cookie_key_path=data_dir / "cookie_key")


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
        http_timeout=float(os.environ.get("LFB_HTTP_TIMEOUT", "30")),
        http_retries=int(os.environ.get("LFB_HTTP_RETRIES", "4")),
        chunk_rows=int(os.environ.get("LFB_CHUNK_ROWS", "50000")),
        date_margin_days=int(os.environ.get("LFB_DATE_MARGIN_DAYS", "2")),
        test_months=int(os.environ.get("LFB_TEST_MONTHS", "3")),
        promote_margin=float(os.environ.get("LFB_PROMOTE_MARGIN", "0.01")),
        coverage_tolerance=float(os.environ.get("LFB_COVERAGE_TOLERANCE", "0.02")),
        refit_on_all=os.environ.get("LFB_REFIT_ON_ALL", "1").strip().lower() not in ("0", "false", "no"),
        flag_share=float(os.environ.get("LFB_FLAG_SHARE", "0.15")),
        flag_driver_rows=int(os.environ.get("LFB_FLAG_DRIVER_ROWS", "30")),
        model_threads=int(os.environ.get("LFB_MODEL_THREADS", "2")),
        write_wait_s=float(os.environ.get("LFB_WRITE_WAIT", "600")),
        lock_lease_s=float(os.environ.get("LFB_LOCK_LEASE", "60")),
        credentials_path=_path("LFB_CREDENTIALS", data_dir / "credentials.yaml"),
        cookie_key_path=data_dir / "cookie_key",
        cookie_key=os.environ.get("LFB_COOKIE_KEY", "").strip(),
        cookie_expiry_days=float(os.environ.get("LFB_COOKIE_EXPIRY_DAYS", "1")),
        admin_user=os.environ.get("LFB_ADMIN_USER", "").strip(),
        admin_password=os.environ.get("LFB_ADMIN_PASSWORD", ""),
        port=_port("LFB_PORT", 8501),
    )
