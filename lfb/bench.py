"""Benchmarks: ingestion speed and memory on generated (demo) data."""
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

from lfb.ingest import Progress

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
    from lfb.demo import generate_demo

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
