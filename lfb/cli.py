"""Command-line interface: `python -m lfb COMMAND --help`."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from lfb import __version__, jobs
from lfb.config import Settings, get_settings
from lfb.ingest import Progress

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_OFFLINE = 0, 1, 2, 3


def _progress_factory(enabled: bool):
    """Return a function that makes a tqdm progress callback for a label (or None when disabled)."""
    def make(label: str) -> Progress | None:
        if not enabled:
            return None
        from tqdm import tqdm

        bar = tqdm(desc=label[:40], total=1, unit="", leave=False, file=sys.stderr, dynamic_ncols=True)

        def update(done: int, total: int) -> None:
            bar.total = max(total, 1)
            bar.n = done
            bar.refresh()
            if done >= total:
                bar.close()
        return update
    return make


def _err(message: str) -> None:
    """Print an error line to stderr."""
    print(f"error: {message}", file=sys.stderr)


def cmd_setup(args: argparse.Namespace, settings: Settings) -> int:
    """Create or upgrade the database; load demo data if it is empty."""
    db = jobs.setup(settings, demo_if_empty=not args.no_demo, progress=args.progress)
    from lfb.status import data_status

    st = data_status(db)
    print(f"database {settings.db_path}: schema v{st['schema_version']}, {st['incidents']:,} incidents, "
          f"{st['mobilisations']:,} mobilisations" + (" (DEMO data)" if st["demo_incidents"] else ""))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Generate demo files in the published schema and ingest them."""
    db = jobs.open_store(settings)
    if args.replace:
        from lfb.store import delete_demo_rows

        gone = delete_demo_rows(db)
        print(f"removed {gone['incidents']:,} demo incidents and {gone['mobilisations']:,} demo mobilisations")
    reports = jobs.load_demo(db, settings, start=args.start, months=args.months, seed=args.seed,
                             incidents_per_year=args.incidents_per_year, progress=args.progress)
    return EXIT_OK if all(r.status != "failed" for r in reports) else EXIT_FAILED


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Ingest incident or mobilisation files (CSV or XLSX)."""
    db = jobs.open_store(settings)
    reports = jobs.ingest_files(db, args.files, settings=settings, force=args.force, progress=args.progress)
    if any(r.status == "ok" and not r.is_demo for r in reports):
        from lfb.store import count

        if count(db, "incidents", "is_demo = 1"):
            print("note: the database still holds DEMO rows; remove them with `python -m lfb clear-demo`")
    return EXIT_OK if all(r.status != "failed" for r in reports) else EXIT_FAILED


def cmd_fetch(args: argparse.Namespace, settings: Settings) -> int:
    """Download new files from the London Datastore and ingest them."""
    from lfb.datastore import OfflineError, fetch

    db = jobs.open_store(settings)
    try:
        report = fetch(db, settings, datasets=args.dataset or None, progress=args.progress("fetch"))
    except OfflineError as exc:
        _err(str(exc))
        return EXIT_OFFLINE
    print("\n".join(report.lines()))
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Show what the database holds."""
    from lfb.status import data_status

    st = data_status(jobs.open_store(settings))
    if args.json:
        print(json.dumps(st, indent=2, default=str))
        return EXIT_OK
    demo = " — DEMO DATA (synthetic)" if st["demo_incidents"] else ""
    print(f"database: {settings.db_path} (schema v{st['schema_version']}){demo}")
    print(f"records:  {st['incidents']:,} incidents, {st['mobilisations']:,} mobilisations, "
          f"{st['derived_attendances']:,} pump attendances derived from incident records")
    print(f"stations: {st['stations']} ({st['lfb_stations']} LFB); rejected rows kept: {st['rejects']:,}")
    months = st["months"][-args.months:] if args.months else st["months"]
    if months:
        print(f"\n{'month':<8} {'incidents':>10} {'mobilisations':>14} {'derived':>9}")
        for m in months:
            tag = "  demo" if m["demo"] else ""
            print(f"{m['month']:<8} {m['incidents']:>10,} {m['mobilisations']:>14,} {m['derived']:>9,}{tag}")
        if len(months) < len(st["months"]):
            print(f"... {len(st['months']) - len(months)} earlier months (use --months 0 for all)")
    if st["ingests"]:
        print("\nlast ingests:")
        for i in st["ingests"]:
            print(f"  #{i['id']:<4} {i['status']:<8} {i['file_name']}: {i['message']}")
    if st["reject_reasons"]:
        print("\nmost frequent reject reasons:")
        for r in st["reject_reasons"]:
            print(f"  {r['rows']:>8,}  {r['reason']}")
    if st["unknown_stations"]:
        print("\nstations in the records but not in the reference table:")
        for s in st["unknown_stations"]:
            print(f"  {s['station_code']} {s['station_name'] or ''}: {s['rows']:,} rows")
    return EXIT_OK


def cmd_calibration(args: argparse.Namespace, settings: Settings) -> int:
    """Print the demo data's figures next to the real sample's."""
    from lfb.calibration import run_report

    print(run_report(jobs.open_store(settings), args.real_dir or settings.shared_data_dir))
    return EXIT_OK


def cmd_clear_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Delete all demo rows from the database."""
    from lfb.store import delete_demo_rows

    gone = delete_demo_rows(jobs.open_store(settings))
    print(f"removed {gone['incidents']:,} demo incidents and {gone['mobilisations']:,} demo mobilisations")
    return EXIT_OK


def cmd_bench_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Measure ingestion speed and peak memory on generated mobilisation rows."""
    from lfb.bench import bench_ingest

    result = bench_ingest(args.rows, progress=args.progress)
    print(json.dumps(result, indent=2) if args.json else result["summary"])
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m lfb", description="London Fire Brigade response-time "
                                     "dashboard: data, model and jobs. Exit codes: 0 ok, 1 failed, 2 bad usage, "
                                     "3 offline.")
    parser.add_argument("--version", action="version", version=f"lfb {__version__}")
    parser.add_argument("--no-progress", action="store_true", help="do not draw progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("setup", help="create/upgrade the database; load demo data if it is empty")
    p.add_argument("--no-demo", action="store_true", help="do not load demo data into an empty database")
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser("demo", help="generate DEMO data in the published schema and ingest it")
    p.add_argument("--months", type=int, default=36, help="months of data (default 36)")
    p.add_argument("--start", help="first month, YYYY-MM (default: so the data ends last month)")
    p.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    p.add_argument("--incidents-per-year", type=int, default=120_000, help="scale (default 120000, London)")
    p.add_argument("--replace", action="store_true", help="delete existing demo rows first")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("ingest", help="ingest LFB incident or mobilisation files (CSV or XLSX)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--force", action="store_true", help="re-read files already ingested unchanged")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("fetch", help="download new files from the London Datastore and ingest them")
    p.add_argument("--dataset", action="append", metavar="SLUG", help="dataset slug (default: both LFB datasets)")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("status", help="rows per month and kind, stations, last ingests, rejects")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--months", type=int, default=24, help="show the last N months (0 = all; default 24)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("calibration", help="compare the demo data's figures with the real LFB sample")
    p.add_argument("--real-dir", type=Path, help="folder of the real sample (default: LFB_SHARED_DATA)")
    p.set_defaults(func=cmd_calibration)

    p = sub.add_parser("clear-demo", help="delete all demo rows from the database")
    p.set_defaults(func=cmd_clear_demo)

    p = sub.add_parser("bench-ingest", help="measure ingestion speed and memory on generated mobilisation rows")
    p.add_argument("--rows", type=int, default=1_000_000, help="mobilisation rows (default 1,000,000)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_bench_ingest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.progress = _progress_factory(not args.no_progress and sys.stderr.isatty())
    from lfb.formats import FormatError
    from lfb.store import StoreError

    try:
        return args.func(args, get_settings())
    except (StoreError, FormatError, ValueError, OSError) as exc:
        _err(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
