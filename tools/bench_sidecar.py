"""Measure the scheduler sidecar: how soon a request is picked up, and a full pipeline run on small demo data.

    python tools/bench_sidecar.py [--requests 20] [--poll-s 3] [--incidents-per-year 20000]

In a temporary folder it generates 15 demo months (2024-01..2025-03), ingests the first 12 and trains the first
champion with the sidecar's settings (LFB_SIDECAR_THREADS threads, the full model settings), then starts a real
`python scheduler.py` process (LFB_POLL_S as given; the London Datastore unreachable, as offline):
  - pick-up: writes `--requests` evaluate requests one after another, each at a random moment, and times each
    from being written to the sidecar marking it running;
  - pipeline: ingests months 13-15 (as a fetch would) and times a `pipeline` request from being written to done
    (offline check, the stored-data check, training a candidate, scoring it and the champion on the same months,
    the decision), with the job's own duration; then a second one, which finds nothing new to learn from.
Your real data and models are untouched.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lfb.config import get_settings  # noqa: E402


def _wait(condition, seconds: float, what: str) -> None:
    """Poll every 5 ms until condition() is true, or stop naming what was awaited."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.005)
    raise SystemExit(f"error: timed out waiting for {what}")


def prepare(root: Path, incidents_per_year: int, threads: int):
    """Generate the demo months, ingest 2024 and train the first champion; return the settings and the demo folder."""
    from lfb.data.demo import generate_demo
    from lfb.model.training import train
    from lfb.service import jobs

    settings = dataclasses.replace(get_settings().relocated(root / "data", root / "models"),
                                   datastore_url="http://127.0.0.1:9", model_threads=threads)
    demo = root / "demo"
    generate_demo(demo, start="2024-01", months=15, incidents_per_year=incidents_per_year)
    db = jobs.open_store(settings)
    jobs.ingest_files(db, sorted(demo.glob("*-2024.csv")), settings=settings, log=lambda _m: None)
    started = time.perf_counter()
    result = train(db, settings, who="bench", log=lambda _m: None)
    print(f"first champion {result.version}: trained in {time.perf_counter() - started:.1f} s on "
          f"{result.metadata['rows']['train'] + result.metadata['rows']['valid']:,} pump attendances "
          f"({threads} thread(s))")
    db.close()
    return settings, demo


def pick_up(settings, count: int, poll_s: float) -> list[float]:
    """Time `count` evaluate requests from being written to being marked running."""
    from lfb.service.requests import PENDING, get_job, submit

    delays = []
    rng = random.Random(8)
    for _ in range(count):
        time.sleep(rng.uniform(0, poll_s))  # a person asks at any moment of the poll cycle
        written = time.monotonic()
        job_id = submit(settings, "evaluate", who="bench")
        _wait(lambda job_id=job_id: get_job(settings, job_id)["status"] != PENDING, 10 * poll_s + 30,
              "the request to be taken")
        delays.append(time.monotonic() - written)
        _wait(lambda job_id=job_id: get_job(settings, job_id)["status"] in ("done", "failed"), 60, "the evaluation")
    return delays


def ingest_new_months(settings, demo: Path) -> None:
    """Ingest months 13-15 (2025), as a fetch would."""
    from lfb.service import jobs

    db = jobs.open_store(settings)
    jobs.ingest_files(db, sorted(demo.glob("*-2025.csv")), settings=settings, log=lambda _m: None)
    db.close()


def pipeline(settings) -> tuple[float, dict]:
    """Time a pipeline request from being written to done; return (seconds, job)."""
    from lfb.service.requests import get_job, submit

    written = time.monotonic()
    job_id = submit(settings, "pipeline", who="bench")
    _wait(lambda: get_job(settings, job_id)["status"] in ("done", "failed"), 3600, "the pipeline")
    return time.monotonic() - written, get_job(settings, job_id)


def main() -> int:
    """Run the measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="evaluate requests to time (default 20)")
    parser.add_argument("--poll-s", type=float, default=3.0, help="the sidecar's LFB_POLL_S (default 3)")
    parser.add_argument("--incidents-per-year", type=int, default=20_000, help="demo scale (default 20000)")
    args = parser.parse_args()
    threads = get_settings().sidecar_threads
    with tempfile.TemporaryDirectory(prefix="lfb-bench-sidecar-") as tmp:
        root = Path(tmp)
        settings, demo = prepare(root, args.incidents_per_year, threads)
        env = dict(os.environ, LFB_DATA_DIR=str(settings.data_dir), LFB_MODELS_DIR=str(settings.models_dir),
                   LFB_DB=str(settings.db_path), LFB_SERVICE_DB=str(settings.service_db_path),
                   LFB_DATASTORE_URL=settings.datastore_url, LFB_POLL_S=str(args.poll_s),
                   LFB_SIDECAR_THREADS=str(threads), PYTHONPATH=str(ROOT))
        with (root / "sidecar.log").open("w") as out:
            process = subprocess.Popen([sys.executable, str(ROOT / "scheduler.py")], env=env, stdout=out,
                                       stderr=subprocess.STDOUT)
        try:
            from lfb.service.requests import sidecar_status

            _wait(lambda: sidecar_status(settings).alive, 120, "the sidecar to start")
            delays = pick_up(settings, args.requests, args.poll_s)
            print(f"pick-up with LFB_POLL_S={args.poll_s:g}: median {statistics.median(delays):.2f} s, "
                  f"mean {statistics.mean(delays):.2f} s, worst {max(delays):.2f} s over {len(delays)} requests")
            ingest_new_months(settings, demo)
            for label in ("pipeline request, 3 new months", "pipeline request again, nothing new"):
                seconds, job = pipeline(settings)
                print(f"{label}: {job['status']} {seconds:.1f} s from request to done (the job itself "
                      f"{job['seconds']:.0f} s)\n  {job['outcome']}")
        finally:
            process.terminate()
            process.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
