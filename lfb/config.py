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
    http_timeout: float = 30.0
    http_retries: int = 4
    chunk_rows: int = 50_000
    test_months: int = 3
    promote_margin: float = 0.01
    coverage_tolerance: float = 0.02
    refit_on_all: bool = True
    model_threads: int = 2
    write_wait_s: float = 600.0
    lock_lease_s: float = 60.0
    map_style: str = ""  # a tile basemap for the app's maps ('' = none: the maps draw London's own layers only)
    datasets: tuple[str, ...] = field(default=DATASTORE_DATASETS)

    def relocated(self, data_dir: Path, models_dir: Path | None = None) -> Settings:
        """Return these settings with every state path under `data_dir` (and models in `models_dir`)."""
        return replace(self, data_dir=data_dir, models_dir=models_dir or data_dir / "models",
                       db_path=data_dir / "lfb.db", service_db_path=data_dir / "service.db",
                       downloads_dir=data_dir / "downloads")


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
        test_months=int(os.environ.get("LFB_TEST_MONTHS", "3")),
        promote_margin=float(os.environ.get("LFB_PROMOTE_MARGIN", "0.01")),
        coverage_tolerance=float(os.environ.get("LFB_COVERAGE_TOLERANCE", "0.02")),
        refit_on_all=os.environ.get("LFB_REFIT_ON_ALL", "1").strip().lower() not in ("0", "false", "no"),
        model_threads=int(os.environ.get("LFB_MODEL_THREADS", "2")),
        write_wait_s=float(os.environ.get("LFB_WRITE_WAIT", "600")),
        lock_lease_s=float(os.environ.get("LFB_LOCK_LEASE", "60")),
        map_style=os.environ.get("LFB_MAP_STYLE", "").strip(),
    )
