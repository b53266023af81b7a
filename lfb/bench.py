"""Benchmarks: ingestion, training and serving speed and memory on generated (demo) data."""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lfb.data.ingest import Progress

MOBILISATIONS_PER_INCIDENT = 1.47  # what the demo generator produces (531k mobilisations for 360k incidents)


def _concatenate_csv(sources: list[Path], target: Path, rows: int) -> int:
    """Write the first `rows` data rows of same-header CSV files into one file; return rows written."""
    written = 0
    with target.open("w", encoding="utf-8", newline="") as out:
        for i, src in enumerate(sources):
            with src.open("r", encoding="utf-8", newline="") as fh:
                header = fh.readline()
                if i == 0:
                    out.write(header)
                for line in fh:
                    if written >= rows:
                        return written
                    out.write(line)
                    written += 1
    return written


def _peak_rss_mb_of_children() -> float:
    """Return the peak resident memory of finished child processes, in MB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def bench_ingest(rows: int = 1_000_000, *, seed: int = 7, progress: Any = None, keep: Path | None = None) -> dict:
    """Generate `rows` demo mobilisation rows in one CSV, ingest it in a fresh process and database, measure it."""
    from lfb.data.demo import generate_demo

    work = Path(keep or tempfile.mkdtemp(prefix="lfb-bench-"))
    try:
        months = 36
        per_year = int(rows / MOBILISATIONS_PER_INCIDENT / months * 12 * 1.15) + 1
        made: Progress | None = progress("generate demo") if callable(progress) else None
        result = generate_demo(work / "demo", months=months, seed=seed, incidents_per_year=per_year, progress=made)
        mob_files = sorted(p for p in result.paths if "mobilisations" in p.name)
        data_file = work / "mobilisations_bench.csv"
        n = _concatenate_csv(mob_files, data_file, rows)
        env = dict(os.environ, LFB_DATA_DIR=str(work / "state"), LFB_DB=str(work / "state" / "bench.db"))
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "lfb", "--no-progress", "ingest", str(data_file)],
                              env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"ingestion failed: {proc.stdout}{proc.stderr}")
        peak = _peak_rss_mb_of_children()
        size_mb = data_file.stat().st_size / 1e6
        summary = (f"ingested {n:,} mobilisation rows ({size_mb:,.0f} MB CSV) in {seconds:.1f} s "
                   f"= {n / seconds:,.0f} rows/s; peak memory {peak:,.0f} MB (whole process, fresh database)")
        return {"rows": n, "csv_mb": round(size_mb, 1), "seconds": round(seconds, 2),
                "rows_per_second": round(n / seconds), "peak_rss_mb": round(peak), "output": proc.stdout.strip(),
                "summary": summary}
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _run_measured(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a command; return its wall seconds, its peak resident memory (MB, polled) and its output."""
    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watched, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.1)
    output = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[2:])} failed:\n{output}")
    return time.perf_counter() - started, peak / 1e6, output


def _percentiles_ms(samples: list[float]) -> tuple[float, float]:
    """Return p50 and p95 of durations in seconds, in milliseconds."""
    import numpy as np

    return float(np.percentile(samples, 50) * 1000), float(np.percentile(samples, 95) * 1000)


def bench_model(*, incidents_per_year: int = 135_000, seed: int = 7, progress: Any = None,
                keep: Path | None = None) -> dict:
    """Generate 3 London-scale demo years, train, and time single predictions, station ranking and batches."""

    import numpy as np

    from lfb.config import get_settings
    from lfb.model.serving import Predictor
    from lfb.data.store import connect

    work = Path(keep or tempfile.mkdtemp(prefix="lfb-bench-model-"))
    try:
        env = dict(os.environ, LFB_DATA_DIR=str(work / "data"), LFB_MODELS_DIR=str(work / "models"))
        env.pop("LFB_DB", None)
        py = [sys.executable, "-m", "lfb", "--no-progress"]
        _run_measured(py + ["demo", "--months", "36", "--seed", str(seed), "--incidents-per-year",
                            str(incidents_per_year)], env)
        train_s, train_mb, train_out = _run_measured(py + ["train"], env)
        settings = get_settings().relocated(work / "data", work / "models")
        db = connect(settings.db_path)
        pumps = db.execute("SELECT COUNT(*) FROM attendances").fetchone()[0]
        predictor = Predictor.from_registry(db, settings)
        rng = np.random.default_rng(seed)
        st = predictor.metadata["categories"]["station_code"]
        last = predictor.time_range[1]
        places = [f"{51.40 + rng.uniform(0, 0.2):.5f},{-0.30 + rng.uniform(0, 0.35):.5f}" for _ in range(300)]
        singles, ranks = [], []
        for i, place in enumerate(places):
            t = time.perf_counter()
            predictor.predict_one(st[i % len(st)], place, last, "Fire", stop_code="Primary Fire",
                                  property_category="Dwelling")
            singles.append(time.perf_counter() - t)
        for place in places[:100]:
            t = time.perf_counter()
            predictor.rank_stations(place, last, "Fire", nearest=0)
            ranks.append(time.perf_counter() - t)
        newest = sorted((work / "data" / "demo").glob("lfb-demo-incidents-*.csv"))[-1]
        batches = bench_batches(predictor, newest, work, seed=seed)
        batch = batches["incidents"]
        one50, one95 = _percentiles_ms(singles)
        rank50, rank95 = _percentiles_ms(ranks)
        result = {"pump_attendances": pumps, "train_seconds": round(train_s, 1), "train_peak_mb": round(train_mb),
                  "single_prediction_ms": {"p50": round(one50, 2), "p95": round(one95, 2)},
                  "rank_all_stations_ms": {"p50": round(rank50, 2), "p95": round(rank95, 2)},
                  "batch": batch, "batch_requests": batches["requests"],
                  "train_output": train_out.strip().splitlines()[-14:]}
        result["summary"] = (
            f"{pumps:,} pump attendances (3 demo years): training {train_s:.0f} s, peak memory {train_mb:,.0f} MB; "
            f"single prediction p50 {one50:.1f} ms / p95 {one95:.1f} ms; ranking all 102 stations p50 {rank50:.1f} "
            f"ms / p95 {rank95:.1f} ms; {batches['summary']}")
        return result
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def write_requests_csv(incidents: Path, target: Path, *, seed: int = 7, bad_every: int = 500) -> int:
    """Write a requests CSV made from an incident-records file, as a control room would send one; return its rows.

    A realistic mix: stations by code or by name; locations as postcode districts, full postcodes, 'lat,lon'
    and 'easting,northing'; times written day first ('01/08/2024 14:30') or in ISO; a few bad rows (unknown
    station, unreadable place or time, a place outside London, an unknown incident group).
    """
    import numpy as np
    import pandas as pd

    from lfb.geo.grid import bng_to_wgs84
    from lfb.data.reference import station_codes_by_name

    raw = pd.read_csv(incidents, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    n = len(raw)
    easting, northing = raw["Easting_rounded"].astype(float), raw["Northing_rounded"].astype(float)
    lat, lon = bng_to_wgs84(easting, northing)
    district = raw["Postcode_district"]
    inward = pd.Series(rng.integers(1, 10, n).astype(str)) + pd.Series(
        ["".join(pair) for pair in rng.choice(list("ABDEFGHJLNPQRSTUWXYZ"), (n, 2))])
    kind = rng.choice(4, n, p=[0.3, 0.25, 0.25, 0.2])
    location = np.select([kind == 0, kind == 1, kind == 2],
                         [district, district + " " + inward,
                          pd.Series(lat).map("{:.5f}".format) + "," + pd.Series(lon).map("{:.5f}".format)],
                         easting.map("{:.0f}".format) + "," + northing.map("{:.0f}".format))
    when = pd.to_datetime(raw["DateOfCall"] + " " + raw["TimeOfCall"])
    time_text = np.where(rng.random(n) < 0.5, when.dt.strftime("%d/%m/%Y %H:%M"), when.dt.strftime("%Y-%m-%dT%H:%M"))
    codes = station_codes_by_name()
    name = raw["FirstPumpArriving_DeployedFromStation"]
    station = np.where(rng.random(n) < 0.5, name.str.strip().str.lower().map(codes).fillna(name), name)
    table = pd.DataFrame({
        "station": station, "location": location, "time": time_text, "incident_group": raw["IncidentGroup"],
        "stop_code": raw["StopCodeDescription"], "property_category": raw["PropertyCategory"],
        "property_type": raw["PropertyType"], "home_station": rng.choice(["yes", "1", "Y", "no", "0", ""], n),
    })
    bad = np.arange(0, n, bad_every)
    for i, (column, value) in zip(bad, [("station", "Atlantis"), ("location", "behind the bakery"),
                                         ("time", "yesterday-ish"), ("location", "52.2050,0.1218"),
                                         ("incident_group", "Alien landing")] * len(bad)):
        table.loc[i, column] = value
    table.to_csv(target, index=False)
    return n


def bench_batches(predictor: Any, incidents: Path, work: Path, *, seed: int = 7, repeats: int = 3) -> dict:
    """Time predict_batch end to end (read, check, estimate, write) on incident records and on a requests CSV; each
    runs `repeats` times and the fastest run is reported (the machine may be shared), with every run's speed."""
    from lfb.model.serving import predict_batch

    requests = work / "requests.csv"
    write_requests_csv(incidents, requests, seed=seed)
    result: dict[str, Any] = {}
    for kind, source in (("incidents", incidents), ("requests", requests)):
        runs = [predict_batch(predictor, source, work / f"batch_{kind}_out.csv") for _ in range(repeats)]
        result[kind] = max(runs, key=lambda r: r["rows_per_second"] or 0) | {
            "runs_rows_per_second": [r["rows_per_second"] for r in runs]}
    inc, req = result["incidents"], result["requests"]
    result["summary"] = (f"batch {inc['rows_per_second']:,} rows/s on {inc['rows']:,} incident records, "
                         f"{req['rows_per_second']:,} rows/s on a {req['rows']:,}-row requests CSV (read, checked, "
                         f"estimated and written; best of {repeats} runs)")
    return result


def bench_batch(*, months: int = 12, incidents_per_year: int = 120_000, seed: int = 7, threads: int = 2,
                progress: Any = None, keep: Path | None = None) -> dict:
    """Generate a demo year in a temporary store, train a fast model, and time batches of both input kinds."""
    import dataclasses

    from lfb.config import get_settings
    from lfb.model.estimator import ModelSettings
    from lfb.model.serving import Predictor
    from lfb.model.training import train
    from lfb.service import jobs

    work = Path(keep or tempfile.mkdtemp(prefix="lfb-bench-batch-"))
    try:
        settings = dataclasses.replace(get_settings(), data_dir=work / "data", models_dir=work / "models",
                                       db_path=work / "data" / "lfb.db", downloads_dir=work / "data" / "downloads")
        db = jobs.open_store(settings)
        factory = progress if callable(progress) else (lambda _label: None)
        jobs.load_demo(db, settings, months=months, seed=seed, incidents_per_year=incidents_per_year,
                       progress=factory, log=lambda _m: None)
        fast = ModelSettings(max_iterations=200, learning_rate=0.2, early_stopping_rounds=30, ensemble=1,
                             threads=threads)
        train(db, settings, model_settings=fast, who="bench", log=lambda _m: None)
        predictor = Predictor.from_registry(db, settings)
        newest = sorted((work / "data" / "demo").glob("lfb-demo-incidents-*.csv"))[-1]
        result = bench_batches(predictor, newest, work, seed=seed)
        result["model"] = {"version": predictor.version, "iterations": predictor.metadata.get("iterations"),
                           "settings": "fast (200 iterations at most, one model): for throughput, not accuracy"}
        return result
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _timed(make: Any) -> tuple[Any, float]:
    """Return what `make()` returns and the seconds it took."""
    started = time.perf_counter()
    value = make()
    return value, time.perf_counter() - started


def bench_coverage(settings: Any, *, hour: int = 17, weekday: int = 2, incident_group: str = "Fire") -> dict:
    """Time the station map's library work on the store in `settings`: station figures, London's coverage, a what-if.

    Each figure is the first call in this process (its caches cold) and, for the cached ones, a second call.
    """
    import dataclasses

    from lfb.data import station_stats
    from lfb.model import coverage
    from lfb.model.serving import Predictor
    from lfb.service.jobs import open_store

    db = open_store(settings)
    try:
        pumps = db.execute("SELECT COUNT(*) FROM attendances").fetchone()[0]
        months, t_months = _timed(lambda: station_stats.month_table(db))
        if months.empty:
            raise ValueError("the store holds no pump attendances: load data first (`python -m lfb setup`)")
        recent = station_stats.default_filter(db)
        whole = dataclasses.replace(recent, first_month=str(months["month"].iloc[0]))
        summary, t_recent = _timed(lambda: station_stats.station_summary(db, recent))
        _, t_whole = _timed(lambda: station_stats.station_summary(db, whole))
        _, t_fire = _timed(lambda: station_stats.station_summary(db, dataclasses.replace(whole, incident_group="Fire")))
        busiest = str(summary["pumps"].idxmax())
        _, t_station = _timed(lambda: station_stats.attendance_seconds(db, busiest, whole))
        predictor, t_load = _timed(lambda: Predictor.from_registry(db, settings))
    finally:
        db.close()
    coverage.clear_cache()
    base, t_cov = _timed(lambda: coverage.coverage(predictor, hour, weekday, incident_group))
    _, t_cov2 = _timed(lambda: coverage.coverage(predictor, hour, weekday, incident_group))
    fastest = str(base.cells["station_code"].value_counts().idxmax())
    change, t_what = _timed(lambda: coverage.what_if(predictor, fastest, hour, weekday, incident_group))
    _, t_what2 = _timed(lambda: coverage.what_if(predictor, fastest, hour, weekday, incident_group))
    ms = (lambda s: round(s * 1000, 1))  # noqa: E731
    result = {
        "pump_attendances": pumps, "months": len(months), "model_version": predictor.version,
        "station_figures_ms": {"months": ms(t_months), f"last {recent.first_month}..{recent.last_month}": ms(t_recent),
                               f"all {whole.first_month}..{whole.last_month}": ms(t_whole),
                               "all months, Fire": ms(t_fire), f"one station ({busiest})": ms(t_station)},
        "model_load_ms": ms(t_load),
        "coverage_ms": {"first": ms(t_cov), "cached": ms(t_cov2), "requests": int(base.candidates.size)},
        "what_if_ms": {"station": fastest, "first": ms(t_what), "cached": ms(t_what2),
                       "cells_slower": change.summary.cells_slower},
    }
    result["summary"] = (
        f"{pumps:,} pump attendances over {len(months)} months: station figures {ms(t_recent):,.0f} ms for the last "
        f"12 months, {ms(t_whole):,.0f} ms for all months ({ms(t_fire):,.0f} ms Fire only), one station's "
        f"distribution {ms(t_station):,.0f} ms; model {predictor.version} loaded in {ms(t_load):,.0f} ms; London's "
        f"coverage ({base.summary.cells:,} cells x {base.candidates.shape[1]} stations = {base.candidates.size:,} "
        f"estimates in one batch) {ms(t_cov):,.0f} ms, then {ms(t_cov2):,.1f} ms cached; what-if without "
        f"{fastest} {ms(t_what):,.0f} ms ({change.summary.cells_slower} cells slower), then {ms(t_what2):,.2f} ms cached")
    return result
