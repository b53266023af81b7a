"""Command-line interface: `python -m lfb COMMAND --help`."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn
from pathlib import Path

from lfb import __version__
from lfb.service import jobs
from lfb.config import Settings, get_settings
from lfb.data.ingest import Progress
from lfb.text import quoted, shortened

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


class _Notes(logging.Handler):
    """Print library log records as 'note:' lines on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record."""
        print(f"note: {record.getMessage()}", file=sys.stderr, flush=True)


def _show_library_notes() -> None:
    """Show the library's warnings (waiting for the database, lock take-overs...) as notes on stderr."""
    root = logging.getLogger("lfb")
    if not any(isinstance(h, _Notes) for h in root.handlers):
        root.addHandler(_Notes())
    root.setLevel(logging.WARNING)


def _err(message: str) -> None:
    """Print an error line to stderr."""
    print(f"error: {message}", file=sys.stderr)


def cmd_setup(args: argparse.Namespace, settings: Settings) -> int:
    """Create or upgrade the database; load demo data if it is empty."""
    db = jobs.setup(settings, demo_if_empty=not args.no_demo, train_if_missing=not args.no_train,
                    quick_demo_model=not args.full_training, progress=args.progress)
    from lfb.data.status import data_status
    from lfb.model import registry

    st = data_status(db)
    print(f"database {settings.db_path}: schema v{st['schema_version']}, {st['incidents']:,} incidents, "
          f"{st['mobilisations']:,} mobilisations" + (" (DEMO data)" if st["demo_incidents"] else ""))
    try:
        serving = registry.load_serving(db, settings.models_dir)
        in_service = serving.version + (f" ({serving.warning})" if serving.warning else "")
    except registry.NoChampion:
        in_service = "none (train one with `python -m lfb train`)"
    except registry.NothingServes as exc:
        in_service = f"none can load ({'; '.join(exc.problems)}): train a fresh one with `python -m lfb train`"
    print(f"model in service: {in_service}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Set up, then run and supervise the app and the scheduler sidecar until stopped."""
    from lfb.service.supervisor import serve

    return serve(settings, setup=not args.no_setup, sidecar=not args.no_sidecar)


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    """Say whether the app or the sidecar is alive; exit 0 if it is, 1 if not (for health checks)."""
    from lfb.service.health import app_health, sidecar_health

    alive, words = app_health(settings) if args.what == "app" else sidecar_health(settings)
    print(words)
    return EXIT_OK if alive else EXIT_FAILED


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Generate demo files in the published schema and ingest them."""
    db = jobs.open_store(settings)
    if args.replace:
        gone = jobs.clear_demo(db, settings)
        print(f"removed {gone['incidents']:,} demo incidents and {gone['mobilisations']:,} demo mobilisations")
    reports = jobs.load_demo(db, settings, start=args.start, months=args.months, seed=args.seed,
                             incidents_per_year=args.incidents_per_year, progress=args.progress)
    return EXIT_OK if all(r.status != "failed" for r in reports) else EXIT_FAILED


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Ingest incident or mobilisation files (CSV or XLSX)."""
    db = jobs.open_store(settings)
    reports = jobs.ingest_files(db, args.files, settings=settings, force=args.force, progress=args.progress)
    if any(r.status == "ok" and not r.is_demo for r in reports):
        from lfb.data.store import count

        if count(db, "incidents", "is_demo = 1"):
            print("note: the database still holds DEMO rows; remove them with `python -m lfb clear-demo`")
    return EXIT_OK if all(r.status != "failed" for r in reports) else EXIT_FAILED


def cmd_fetch(args: argparse.Namespace, settings: Settings) -> int:
    """Download new files from the London Datastore and ingest them."""
    from lfb.data.datastore import OfflineError

    db = jobs.open_store(settings)
    try:
        report = jobs.fetch(db, settings, datasets=args.dataset or None, progress=args.progress)
    except OfflineError as exc:
        _err(str(exc))
        return EXIT_OFFLINE
    print("\n".join(report.lines()))
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Show what the database holds."""
    from lfb.data.status import data_status

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
    from lfb.data.calibration import run_report

    if args.real_dir is not None and not args.real_dir.is_dir():
        _err(f"--real-dir {args.real_dir} is not a folder: give the folder holding the real LFB sample")
        return EXIT_USAGE
    print(run_report(jobs.open_store(settings), args.real_dir or settings.shared_data_dir))
    return EXIT_OK


def cmd_clear_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Delete all demo rows from the database."""
    gone = jobs.clear_demo(jobs.open_store(settings), settings)
    print(f"removed {gone['incidents']:,} demo incidents and {gone['mobilisations']:,} demo mobilisations")
    return EXIT_OK


def cmd_bench_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Measure ingestion speed and peak memory on generated mobilisation rows."""
    from lfb.bench import bench_ingest

    result = bench_ingest(args.rows, progress=args.progress)
    print(json.dumps(result, indent=2) if args.json else result["summary"])
    return EXIT_OK


LARGEST = 2**63 - 1  # the largest whole number the stores keep


def count_arg(minimum: int, maximum: int = LARGEST) -> Callable[[str], int]:
    """Return an argparse type that reads a whole number from `minimum` to `maximum`."""
    def read(text: str) -> int:
        """Return the number, or refuse it as bad usage."""
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{quoted(text)} must be a whole number of at least {minimum}")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"{quoted(text)} is too large: give a whole number from {minimum} to "
                                             f"{maximum:,}")
        return value
    return read


def slug_arg(text: str) -> str:
    """Return a London Datastore dataset slug (lower-case letters, digits and dashes), or refuse it."""
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,99}", text):
        raise argparse.ArgumentTypeError(f"{quoted(text)} is not a dataset slug: use lower-case letters, digits and "
                                         "dashes, e.g. london-fire-brigade-incident-records")
    return text


GROUPS = ("Fire", "Special Service", "False Alarm")


def group_arg(text: str) -> str:
    """Return an incident group given in any case, or refuse it naming the three groups."""
    for group in GROUPS:
        if text.strip().lower() == group.lower():
            return group
    raise argparse.ArgumentTypeError(f"{quoted(text)} is not an incident group: use one of {', '.join(GROUPS)}")


def time_arg(text: str) -> str:
    """Check a --time value reads as a London date and time (or 'now'); return it as given."""
    from lfb.model.times import TimeError, parse_time

    try:
        parse_time(text)
    except TimeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def month_arg(text: str) -> str:
    """Return 'YYYY-MM' from a month (YYYY-MM) or date (YYYY-MM-DD) argument; anything else is a usage error."""
    import datetime as dt
    import re

    match = re.fullmatch(r"(\d{4})-(\d{2})(?:-(\d{2}))?", text.strip())
    try:
        if match is None:
            raise ValueError
        dt.date(int(match[1]), int(match[2]), int(match[3] or 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month or a date: use YYYY-MM or YYYY-MM-DD, "
                                         "e.g. 2024-05 or 2024-05-01") from None
    return f"{match[1]}-{match[2]}"


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    """Train a candidate model and promote it if the rule says so."""
    from lfb.model.evaluation import format_report
    from lfb.model.training import train

    result = train(jobs.open_store(settings), settings, until=args.until, test_months=args.test_months,
                   who=args.who)
    print(format_report(result.metadata["evaluation"], title=f"\n{result.version}: held-out test window "
                        f"{result.metadata['windows']['test_from']}..{result.metadata['windows']['test_until']}"))
    print(f"training took {result.metadata['train_seconds']:.0f} s; champion: "
          f"{result.version if result.promoted else 'unchanged'}")
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    """Score the champion (or a version) on stored data or a file."""
    from lfb.model.evaluation import format_report
    from lfb.model.scoring import score_version

    report = score_version(jobs.open_store(settings), settings, version=args.version, file=args.file,
                           since=args.since)
    if report["fallback"]:
        print(f"warning: {report['fallback']}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return EXIT_OK
    print(format_report(report, title=f"{report['version']} on {report['source']}"))
    if report.get("warning"):
        print(f"warning: {report['warning']}")
    return EXIT_OK


def _predictor(settings: Settings, version: str | None = None):
    """Return the serving predictor, printing its warning if it fell back."""
    from lfb.model.serving import Predictor

    predictor = Predictor.from_registry(jobs.open_store(settings), settings, version)
    if predictor.warning:
        print(f"warning: {predictor.warning}", file=sys.stderr)
    return predictor


def _types(args: argparse.Namespace) -> dict[str, str | None]:
    """Return the incident-type options given on the command line."""
    return {name: getattr(args, name) for name in ("stop_code", "special_service_type", "property_category",
                                                   "property_type", "address_qualifier")}


def cmd_predict(args: argparse.Namespace, settings: Settings) -> int:
    """Estimate one pump's arrival, or rank the nearest stations."""
    predictor = _predictor(settings, args.version)
    when = args.time or "now"
    if args.rank is not None:
        estimates = predictor.rank_stations(args.location, when, args.incident_group, nearest=args.rank,
                                            home_station=not args.away, **_types(args))
    else:
        estimates = [predictor.predict_one(args.station, args.location, when, args.incident_group,
                                           home_station=not args.away, **_types(args))]
    if args.json:
        print(json.dumps([e.as_dict() for e in estimates], indent=2))
        return EXIT_OK
    demo = " (model trained on DEMO data)" if predictor.metadata.get("is_demo") else ""
    print(f"model {predictor.version}{demo}: median = central estimate, P90 = upper bound")
    for e in estimates:
        flag = f"  ⚠ {e.flag_reason}" if e.flag else ""
        print(f"  {e.station_code} {e.station_name:<20} median {e.median_s:5.0f} s  P90 {e.p90_s:5.0f} s  "
              f"P(>6 min) {e.p_over_360:4.0%}  P(over a minute late) {e.p_late:4.0%}  "
              f"{e.distance_m / 1000:4.1f} km{flag}")
    for note in estimates[0].notes:
        print(f"  note: {note}")
    return EXIT_OK


def cmd_predict_batch(args: argparse.Namespace, settings: Settings) -> int:
    """Estimate every row of a file."""
    from lfb.model.serving import predict_batch

    result = predict_batch(_predictor(settings, args.version), args.input, args.output)
    print(f"{result['estimated']:,} of {result['rows']:,} rows estimated ({result['errors']:,} refused, see the "
          f"error column) in {result['seconds']:.2f} s = {result['rows_per_second']:,} rows/s -> {result['out']}")
    return EXIT_OK


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    """List, show, promote or roll back model versions."""
    from lfb.model import registry

    db = jobs.open_store(settings)
    if args.action == "list":
        rows = registry.list_versions(db, settings.models_dir)
        if args.json:
            print(json.dumps(rows, indent=2, default=str))
            return EXIT_OK
        if not rows:
            print("no model versions yet: train one with `python -m lfb train`")
        for r in rows:
            mark = "*" if r["champion"] else " "
            demo = " demo" if r["is_demo"] else ""
            damaged = f"  DAMAGED: {r['damaged']}" if r["damaged"] else ""
            print(f"{mark} {r['version']}  data ..{r['data_until']}  test {r['test_from']}..{r['test_until']}  "
                  f"MAE {r['mae']:.1f} s  P90 cov {r['p90_coverage']:.1%}  lift {r['lift_vs_distance']:+.1%}"
                  f"{demo}{damaged}\n      {r['decision']}")
        return EXIT_OK
    if args.action == "show":
        version = args.version or registry.champion(db)
        if not version:
            raise registry.RegistryError("no champion yet; give a version")
        metadata = registry.checked_metadata(settings.models_dir, version, registry.metadata_checksum(db, version))
        try:
            registry.check_files(settings.models_dir, version, metadata)
            damaged = None
        except registry.ModelFileError as exc:
            damaged = exc.problem
        print(json.dumps(metadata | {"damaged": damaged}, indent=2, default=str) if args.json else json.dumps(
            {k: metadata[k] for k in ("version", "created", "code_version", "is_demo", "windows", "data_until", "rows",
                                      "iterations", "ensemble", "refit", "train_seconds", "decision")
             if k in metadata} | {"evaluation": {k: metadata["evaluation"][k] for k in
                                                 ("n", "mae", "rmse", "r2", "p90_coverage", "lift")},
                                  "risk_groups": len(metadata["risks"]["groups"]),
                                  "risk_flag": metadata["risks"].get("active_reason"),
                                  "flag": _flag_summary(metadata), "damaged": damaged},
            indent=2, default=str))
        if damaged:
            _err(f"model {version} cannot serve: {damaged}; promote or roll back to a version that loads "
                 "(`python -m lfb models list`)")
            return EXIT_FAILED
        return EXIT_OK
    if args.action == "promote":
        if not args.version:
            raise ValueError("give the version to promote")
        previous = registry.set_champion(db, settings.models_dir, args.version, who=args.who, action="manual promote",
                                         reason=args.reason or "manual promotion")
        print(f"champion: {args.version} (was {previous or 'none'})")
        return EXIT_OK
    done = registry.rollback(db, settings.models_dir, who=args.who, reason=args.reason or "manual rollback")
    for note in done.skipped:
        print(f"note: skipped {note}")
    print(f"rolled back: champion is {done.version} again")
    return EXIT_OK


def _flag_summary(metadata: dict) -> dict | str:
    """Return how a version's flag serves: its rule and its figures on validation and test windows."""
    rule = metadata.get("flag_rule")
    if not rule:
        return "station rule only (trained before the flag threshold existed)"
    return {"rule": rule["text"], "validation": rule["validation"], "test": metadata["evaluation"].get("flag")}


def cmd_backtest_refit(args: argparse.Namespace, settings: Settings) -> int:
    """Measure whether refitting the served model on the newest months helps."""
    from lfb.model.training import refit_backtest

    result = refit_backtest(jobs.open_store(settings), settings, test_months=args.test_months)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return EXIT_OK
    w = result["window"]
    for label, r in result["results"].items():
        print(f"{label:<9} trained up to {r['trained_until']}: MAE {r['mae']:.1f} s, P90 coverage "
              f"{r['p90_coverage']:.1%} on {w[0]}..{w[1]} ({r['n']:,} pumps)")
    print(f"refit {'helps' if result['refit_helps'] else 'does not help'}: MAE {result['mae_gain_s']:+.1f} s")
    return EXIT_OK


def cmd_bench_model(args: argparse.Namespace, settings: Settings) -> int:
    """Measure training and serving on London-scale demo data."""
    from lfb.bench import bench_model

    result = bench_model(incidents_per_year=args.incidents_per_year, progress=args.progress)
    print(json.dumps(result, indent=2) if args.json else result["summary"])
    return EXIT_OK


def cmd_bench_coverage(args: argparse.Namespace, settings: Settings) -> int:
    """Time the station map's figures, London's coverage and a what-if on the current store and model."""
    from lfb.bench import bench_coverage

    result = bench_coverage(settings, hour=args.hour, weekday=args.weekday, incident_group=args.group)
    print(json.dumps(result, indent=2) if args.json else result["summary"])
    return EXIT_OK


def cmd_locks(args: argparse.Namespace, settings: Settings) -> int:
    """Show the job locks, or clear one after confirmation."""
    from lfb.service.locks import clear_lock, holder, list_locks

    if args.action == "clear":
        if not args.name:
            print("error: give the name of the lock to clear, e.g. `python -m lfb locks clear train`", file=sys.stderr)
            return EXIT_USAGE
        current = holder(settings, args.name)
        if current is None:
            print(f"no {shortened(args.name)} lock is held; nothing to clear")
            return EXIT_OK
        state = current.as_dict()
        print(f"the {args.name} lock is held by {current.owner}, process {current.pid} on {current.host}, since "
              f"{current.started} UTC ({'stale: ' + state['stale_reason'] if state['stale_reason'] else 'its lease is being renewed: the job looks alive'})")
        if not args.yes:
            if not sys.stdin.isatty():
                print("error: not clearing without confirmation; add --yes to clear it from a script", file=sys.stderr)
                return EXIT_USAGE
            if input(f"clear the {args.name} lock? A job still running would lose it. [y/N] ").strip().lower() \
                    not in ("y", "yes"):
                print("left as it is")
                return EXIT_OK
        clear_lock(settings, args.name)
        print(f"cleared the {args.name} lock")
        return EXIT_OK
    rows = [lock.as_dict() for lock in list_locks(settings)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("no job holds a lock")
    for r in rows:
        state = (f"STALE: {r['stale_reason']}; the next {r['name']} job takes it over" if r["state"] == "stale"
                 else f"held, lease renewed, expires in {r['expires_in_s']:.0f} s unless renewed")
        print(f"{r['name']:<10} {r['owner']}, process {r['pid']} on {r['host']}, since {r['started']} UTC: {state}")
    return EXIT_OK


def _new_password(username: str) -> str:
    """Read a new password: prompted twice on a terminal, else the first line of standard input."""
    import getpass

    from lfb.service.users import BadInput

    if sys.stdin.isatty():
        first = getpass.getpass(f"new password for {username}: ")
        if first != getpass.getpass("the same password again: "):
            raise BadInput("the two passwords differ; nothing changed")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _users_init(settings: Settings) -> None:
    """Create the first admin when there is no user (printing a generated password once) and the cookie key."""
    from lfb.service import users

    username, generated = users.ensure_admin(settings)
    users.cookie_key(settings)
    if username and generated:
        print(f"created the first admin account of the app:\n  username: {username}\n  password: {generated}\n"
              f"this password is shown only this once: sign in with it and change it with "
              f"`python -m lfb users passwd {username}`")
    elif username:
        print(f"created the first admin account of the app: {username} (password from LFB_ADMIN_PASSWORD)")
    else:
        admins = [u.username for u in users.list_users(settings) if u.is_admin]
        print(f"users of the app: {len(users.list_users(settings))} (admin: {', '.join(admins) or 'none'})")


def _users_list(settings: Settings, as_json: bool) -> None:
    """Print every user with their roles (never a password hash)."""
    from lfb.service.users import list_users

    rows = list_users(settings)
    if as_json:
        print(json.dumps([{"username": u.username, "name": u.name, "roles": list(u.roles), "email": u.email}
                          for u in rows], indent=2))
        return
    if not rows:
        print("no users yet: start the app (or run `python -m lfb users init`) to create the first admin")
        return
    print(f"{'username':<20} {'roles':<20} name")
    for u in rows:
        print(f"{u.username:<20} {', '.join(u.roles):<20} {u.name}")


def _users_change(args: argparse.Namespace, settings: Settings) -> int:
    """Add a user, remove one, change a password or a role; return the exit code."""
    from lfb.service import users

    username = users.normalise_username(args.username)
    current = users.get_user(settings, username)
    if args.users_action != "add" and current is None:
        raise users.Refused(f"there is no user {quoted(username)} (see `python -m lfb users list`)")
    if args.users_action == "add":
        if current is not None:
            raise users.Refused(f"user {username!r} already exists: change it with `python -m lfb users passwd|role`")
        users.check_role(args.role)
        user = users.add_user(settings, username, _new_password(username), args.role, name=args.full_name or "",
                              email=args.email)
        print(f"added {user.username} ({', '.join(user.roles)})")
    elif args.users_action == "passwd":
        users.set_password(settings, username, _new_password(username))
        print(f"changed the password of {username}")
    elif args.users_action == "role":
        user = users.set_role(settings, username, args.role)
        print(f"{user.username} is now: {', '.join(user.roles)}")
    else:
        if not args.yes:
            if not sys.stdin.isatty():
                _err("not removing without confirmation; add --yes to remove from a script")
                return EXIT_USAGE
            answer = input(f"remove user {username} ({', '.join(current.roles)})? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("left as it is")
                return EXIT_OK
        users.remove_user(settings, username)
        print(f"removed {username}")
    return EXIT_OK


def _users_unlock(settings: Settings, username: str) -> None:
    """Forget a user's failed sign-ins, so a locked account opens again at once."""
    from lfb.service.signin import clear_failures
    from lfb.service.users import UserError, get_user

    if get_user(settings, username) is None:
        raise UserError(f"no user {quoted(username)}: see `python -m lfb users list`")
    gone = clear_failures(settings, username)
    print(f"{username}: {gone} failed sign-in(s) forgotten; the account is not locked")


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    """Manage the app's users: list, add, remove, passwd, role, init, unlock."""
    from lfb.service.users import BadInput, UserError

    try:
        if args.users_action == "init":
            _users_init(settings)
        elif args.users_action == "list":
            _users_list(settings, args.json)
        elif args.users_action == "unlock":
            _users_unlock(settings, args.username)
        else:
            return _users_change(args, settings)
    except BadInput as exc:
        _err(str(exc))
        return EXIT_USAGE
    except UserError as exc:
        _err(str(exc))
        return EXIT_FAILED
    return EXIT_OK


def cmd_bench_batch(args: argparse.Namespace, settings: Settings) -> int:
    """Measure batch throughput on both input kinds with a fast model on a demo year."""
    from lfb.bench import bench_batch

    result = bench_batch(months=args.months, incidents_per_year=args.incidents_per_year, threads=settings.model_threads,
                         progress=args.progress)
    print(json.dumps(result, indent=2) if args.json else result["summary"])
    return EXIT_OK


REQUEST_OPTIONS = ("path", "until", "test_months", "since", "version", "reason")


def cmd_request(args: argparse.Namespace, settings: Settings) -> int:
    """Ask the scheduler sidecar to run a job; print the request's id."""
    from lfb.service.requests import RequestRefused, sidecar_status, submit

    given = {name: getattr(args, name) for name in REQUEST_OPTIONS if getattr(args, name) is not None}
    if "path" in given:
        try:
            path = Path(given["path"]).expanduser().resolve()
        except (OSError, ValueError, RuntimeError):
            path = None
        from lfb.data.readers import is_file

        if path is None or not is_file(path):
            _err(f"no such file: {shortened(path or given['path'])}: give --path the path of a .csv or .xlsx file")
            return EXIT_USAGE
        given["path"] = str(path)
    try:
        job_id = submit(settings, args.kind, given, who=args.who)
    except RequestRefused as exc:
        _err(str(exc))
        return EXIT_USAGE
    print(job_id)
    status = sidecar_status(settings)
    print(f"note: {args.kind} request #{job_id} queued; follow it with `python -m lfb jobs {job_id}`",
          file=sys.stderr)
    if not status.alive:
        print(f"note: {status.words()}", file=sys.stderr)
    return EXIT_OK


def _duration(seconds: float | None) -> str:
    """Return a duration as h:mm:ss or m:ss ('-' when unknown)."""
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _job_state(job: dict) -> str:
    """Return a job's outcome, or its progress while it runs."""
    if job["status"] == "running":
        pct = f" ({job['progress_pct']:.0f}%)" if job["progress_pct"] is not None else ""
        return f"{job['progress'] or 'running'}{pct}"
    if job["status"] == "pending":
        return "waiting for the sidecar"
    return job["outcome"] or ""


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    """List the requests and scheduled runs, newest first; or show one with its log."""
    from lfb.service.requests import get_job, list_jobs

    if args.id is not None:
        job = get_job(settings, args.id)
        if job is None:
            _err(f"there is no job #{args.id} (see `python -m lfb jobs`)")
            return EXIT_FAILED
        if args.json:
            print(json.dumps(job, indent=2, default=str))
            return EXIT_OK
        given = f" {json.dumps(job['args'])}" if job["args"] else ""
        print(f"job #{job['id']} {job['kind']}{given}: {job['status']}, asked by {job['requested_by']} "
              f"at {job['requested_at']} UTC; started {job['started'] or '-'}, finished {job['finished'] or '-'} "
              f"({_duration(job['seconds'])})\n{_job_state(job)}")
        if job["log"]:
            print("\nlog (the end of it, UTC):\n" + job["log"])
        return EXIT_OK
    rows = list_jobs(settings, limit=args.limit, status=args.status)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return EXIT_OK
    if not rows:
        print("no jobs yet: the sidecar records every scheduled run and request here (`python -m lfb request KIND`)")
        return EXIT_OK
    print(f"{'id':>5}  {'kind':<9} {'status':<8} {'asked by':<10} {'started (UTC)':<19} {'took':>7}  outcome")
    for job in rows:
        started = job["started"] or job["requested_at"]
        print(f"{job['id']:>5}  {job['kind']:<9} {job['status']:<8} {job['requested_by'][:10]:<10} {started:<19} "
              f"{_duration(job['seconds']):>7}  {_job_state(job)}")
    return EXIT_OK


def cmd_sidecar(args: argparse.Namespace, settings: Settings) -> int:
    """Say whether the scheduler sidecar runs, what it runs now and what it plans next."""
    from lfb.service.requests import PENDING, list_jobs, sidecar_status

    status = sidecar_status(settings)
    waiting = len(list_jobs(settings, limit=1000, status=PENDING))
    if args.json:
        print(json.dumps({"alive": status.alive, "seen_s_ago": status.seen_s_ago, "host": status.host,
                          "pid": status.pid, "started": status.started, "info": status.info, "waiting": waiting},
                         indent=2, default=str))
        return EXIT_OK
    print(status.words())
    info = status.info
    if status.alive and info.get("next_runs", {}).get("pipeline"):
        print(f"next monthly pipeline: {info['next_runs']['pipeline']} (LFB_PIPELINE_CRON '{info.get('cron')}', "
              "London time)")
    else:
        from lfb.service.scheduler import next_fire

        print(f"the monthly pipeline runs at {next_fire(settings.pipeline_cron)} next if a sidecar runs then "
              f"(LFB_PIPELINE_CRON '{settings.pipeline_cron}', London time)")
    if status.alive and info.get("current_job"):
        job = info["current_job"]
        print(f"running: job #{job['id']} {job['kind']} asked by {job['requested_by']} (`python -m lfb jobs "
              f"{job['id']}`)")
    print(f"requests waiting: {waiting}")
    return EXIT_OK if status.alive else EXIT_FAILED


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line: what is wrong, and where the help is (exit 2)."""

    def error(self, message: str) -> NoReturn:
        """Print the usage mistake on one line (a very long value cut short) and exit with the usage exit code."""
        import re

        message = re.sub(r"'([^']{60})[^']{20,}'", r"'\1…'", " ".join(message.split()))
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    """Back up the stores, the registered models and the users (or list the backups)."""
    from lfb.service.backup import describe, list_backups, make_backup

    if args.list:
        found = list_backups(settings)
        print("\n".join(describe(p) for p in found) if found else "no backups yet: make one with `python -m lfb backup`")
        return EXIT_OK
    make_backup(settings)
    return EXIT_OK


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    """Restore a backup over the current data, after a confirmation."""
    from lfb.service.backup import describe, restore_backup

    if not Path(args.file).is_file():
        _err(f"no backup file {args.file}: see `python -m lfb backup --list`")
        return EXIT_USAGE
    print(describe(Path(args.file)))
    if not args.yes:
        if not sys.stdin.isatty():
            _err("not restoring without confirmation; add --yes to restore from a script")
            return EXIT_USAGE
        answer = input(f"replace the records store, the models' registry and the users in {settings.data_dir} with "
                       "this backup? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing restored")
            return EXIT_OK
    restore_backup(settings, Path(args.file))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    from lfb.service.requests import KINDS

    parser = Parser(prog="python -m lfb", description="London Fire Brigade response-time "
                                     "dashboard: data, model and jobs. Exit codes: 0 ok, 1 failed, 2 bad usage, "
                                     "3 offline.")
    parser.add_argument("--version", action="version", version=f"lfb {__version__}")
    parser.add_argument("--no-progress", action="store_true", help="do not draw progress bars")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("setup", help="create/upgrade the database; load demo data if it is empty")
    p.add_argument("--no-demo", action="store_true", help="do not load demo data into an empty database")
    p.add_argument("--no-train", action="store_true", help="do not train a first model when none serves")
    p.add_argument("--full-training", action="store_true", help="train a first model on DEMO data with the full "
                   "settings (about 3 minutes) instead of the quick ones (about 1 minute, as accurate on the demo)")
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser("serve", help="set up, then run the app and the scheduler sidecar until Ctrl-C "
                                     "(what ./start.sh runs): restarts a child that dies, stops both cleanly")
    p.add_argument("--no-setup", action="store_true", help="do not run `setup` first (demo data, a first model)")
    p.add_argument("--no-sidecar", action="store_true", help="run the app alone (the sidecar runs elsewhere)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("health", help="exit 0 when the app (or the scheduler sidecar) is alive, 1 when not")
    p.add_argument("what", choices=["app", "sidecar"], help="app: it answers on LFB_PORT; sidecar: its heartbeat "
                   "is recent")
    p.set_defaults(func=cmd_health)

    p = sub.add_parser("demo", help="generate DEMO data in the published schema and ingest it")
    p.add_argument("--months", type=count_arg(1, 600), default=36, help="months of data (default 36)")
    p.add_argument("--start", type=month_arg, help="first month, YYYY-MM (default: so the data ends last month)")
    p.add_argument("--seed", type=count_arg(0, 2**32 - 1), default=2024, help="random seed (default 2024)")
    p.add_argument("--incidents-per-year", type=count_arg(1, 10_000_000), default=120_000,
                   help="scale (default 120000, London)")
    p.add_argument("--replace", action="store_true", help="delete existing demo rows first")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("ingest", help="ingest LFB incident or mobilisation files (CSV or XLSX)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--force", action="store_true", help="re-read files already ingested unchanged")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("fetch", help="download new files from the London Datastore and ingest them")
    p.add_argument("--dataset", action="append", type=slug_arg, metavar="SLUG",
                   help="dataset slug (default: both LFB datasets)")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("status", help="rows per month and kind, stations, last ingests, rejects")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--months", type=count_arg(0), default=24, help="show the last N months (0 = all; default 24)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("calibration", help="compare the demo data's figures with the real LFB sample")
    p.add_argument("--real-dir", type=Path, help="folder of the real sample (default: LFB_SHARED_DATA)")
    p.set_defaults(func=cmd_calibration)

    p = sub.add_parser("clear-demo", help="delete all demo rows from the database")
    p.set_defaults(func=cmd_clear_demo)

    p = sub.add_parser("train", help="train a model; the first becomes champion, later ones go through the rule")
    p.add_argument("--until", type=month_arg, help="last month of data to use, YYYY-MM or YYYY-MM-DD (default: all); "
                   "the test window is the newest months with data up to it")
    p.add_argument("--test-months", type=count_arg(1, 120),
                   help="newest months held out as the test window (default 3)")
    p.add_argument("--who", default="cli", help="who asks (recorded in the promotions log)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score the champion (or --version) on stored data or on a record file")
    p.add_argument("file", nargs="?", type=Path, metavar="FILE", help="incident or mobilisation file (not stored)")
    p.add_argument("--since", type=month_arg, help="score on stored data from this month (YYYY-MM or YYYY-MM-DD)")
    p.add_argument("--version", help="model version (default: the champion)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="estimate when a pump will arrive (or rank the nearest stations)")
    p.add_argument("--station", help="station code or name, e.g. A21 or Paddington")
    p.add_argument("--location", required=True, help="postcode ('SE1 7SG'), 'lat,lon' or 'easting,northing' "
                   "(a value starting with '-' needs no '=')")
    p.add_argument("--time", type=time_arg, help="date and time of the call, London time, day first "
                   "('01/08/2024 14:30') or ISO ('2024-08-01T14:30', an offset like +01:00 or Z is converted); "
                   "default: now")
    p.add_argument("--incident-group", required=True, help="Fire, Special Service or False Alarm (any case)")
    p.add_argument("--stop-code", help="e.g. 'Primary Fire', 'AFA'")
    p.add_argument("--special-service-type", help="e.g. 'RTC', 'Flooding'")
    p.add_argument("--property-category", help="e.g. Dwelling")
    p.add_argument("--property-type", help="e.g. 'House - single occupancy'")
    p.add_argument("--address-qualifier", help="e.g. 'Correct incident location'")
    p.add_argument("--away", action="store_true", help="the pump is not at its home station")
    p.add_argument("--rank", type=count_arg(0), metavar="N",
                   help="compare the N nearest stations instead (0 = all; no --station needed)")
    p.add_argument("--version", help="model version (default: the champion)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("predict-batch", help="estimate every row of a requests CSV or an incident-records file")
    p.add_argument("input", type=Path, metavar="IN.csv")
    p.add_argument("output", type=Path, metavar="OUT.csv")
    p.add_argument("--version", help="model version (default: the champion)")
    p.set_defaults(func=cmd_predict_batch)

    p = sub.add_parser("models", help="list, show, promote or roll back model versions")
    p.add_argument("action", choices=["list", "show", "promote", "rollback"])
    p.add_argument("version", nargs="?", help="version (show, promote)")
    p.add_argument("--reason", help="why (recorded in the promotions log)")
    p.add_argument("--who", default="cli", help="who asks (recorded in the promotions log)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("backtest-refit", help="measure whether refitting on the newest months helps")
    p.add_argument("--test-months", type=count_arg(1, 120), help="window length in months (default 3)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_backtest_refit)

    p = sub.add_parser("bench-model", help="measure training time and memory, prediction latency and throughput")
    p.add_argument("--incidents-per-year", type=count_arg(1, 10_000_000), default=135_000,
                   help="scale (default 135000: ~600k pumps)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_bench_model)

    p = sub.add_parser("bench-coverage", help="time the station map's figures, London's coverage and a what-if on "
                                              "the current store and model")
    p.add_argument("--hour", type=count_arg(0, 23), default=17, help="hour of the day (default 17)")
    p.add_argument("--weekday", type=count_arg(0, 6), default=2, help="weekday, Monday = 0 (default 2, Wednesday)")
    p.add_argument("--group", type=group_arg, default="Fire", help="incident group (default Fire)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_bench_coverage)

    p = sub.add_parser("backup", help="back up the stores, the registered models and the users into data/backups")
    p.add_argument("--list", action="store_true", help="list the backups instead")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="restore a backup file (asks first; --yes in scripts)")
    p.add_argument("file", type=Path, metavar="FILE", help="a backup file, e.g. data/backups/lfb-backup-....tar.gz")
    p.add_argument("--yes", action="store_true", help="restore without asking")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("locks", help="show the job locks (train, ingest...); clear a stuck one")
    p.add_argument("action", nargs="?", choices=["list", "clear"], default="list")
    p.add_argument("name", nargs="?", help="lock to clear (e.g. train)")
    p.add_argument("--yes", action="store_true", help="clear without asking")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_locks)

    p = sub.add_parser("request", help="ask the scheduler sidecar to run a job; prints the request's id")
    p.add_argument("kind", choices=list(KINDS), metavar="KIND", help="fetch | ingest --path FILE | train [--until M] [--test-months N] | "
                   "evaluate [--since M] [--version V] | promote --version V [--reason R] | rollback [--reason R] | "
                   "pipeline")
    p.add_argument("--path", help="file to ingest (a path on the sidecar's machine)")
    p.add_argument("--until", type=month_arg, help="train: last month of data, YYYY-MM or YYYY-MM-DD")
    p.add_argument("--test-months", type=count_arg(1, 120), help="train: newest months held out as the test window")
    p.add_argument("--since", type=month_arg, help="evaluate: score on stored data from this month")
    p.add_argument("--version", help="evaluate or promote: the model version")
    p.add_argument("--reason", help="promote or rollback: why (recorded in the promotions log)")
    p.add_argument("--who", default="cli", help="who asks (recorded with the job)")
    p.set_defaults(func=cmd_request)

    p = sub.add_parser("jobs", help="the requests and scheduled runs, newest first (or one job with its log)")
    p.add_argument("id", nargs="?", type=count_arg(1), metavar="ID", help="show this job with its log")
    p.add_argument("--limit", type=count_arg(1), default=20, help="how many (default 20)")
    p.add_argument("--status", choices=["pending", "running", "done", "failed"], help="only jobs in this state")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("sidecar", help="whether the scheduler sidecar runs, its current job and next planned runs")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_sidecar)

    p = sub.add_parser("users", help="the app's users: list, add, remove, passwd, role; init makes the first admin")
    users_sub = p.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    u = users_sub.add_parser("list", help="users and their roles (never passwords)")
    u.add_argument("--json", action="store_true", help="print JSON")
    u = users_sub.add_parser("add", help="add a user (password from standard input, or asked twice on a terminal)")
    u.add_argument("username", metavar="NAME", help="2-32 characters among a-z 0-9 . _ -")
    u.add_argument("--role", required=True, choices=["dispatcher", "admin"])
    u.add_argument("--name", dest="full_name", help="full name shown in the app")
    u.add_argument("--email", help="e-mail address (optional)")
    u = users_sub.add_parser("remove", help="remove a user (never the last admin)")
    u.add_argument("username", metavar="NAME")
    u.add_argument("--yes", action="store_true", help="remove without asking")
    u = users_sub.add_parser("passwd", help="set a user's password (standard input, or asked twice on a terminal)")
    u.add_argument("username", metavar="NAME")
    u = users_sub.add_parser("role", help="set a user's role (the last admin stays admin)")
    u.add_argument("username", metavar="NAME")
    u.add_argument("--role", required=True, choices=["dispatcher", "admin"])
    users_sub.add_parser("init", help="create the first admin if there is no user (prints a generated password once)")
    u = users_sub.add_parser("unlock", help="forget a user's failed sign-ins (an account locked by them opens again)")
    u.add_argument("username", metavar="NAME")
    p.set_defaults(func=cmd_users)
    p = sub.add_parser("bench-batch", help="measure predict-batch throughput on incident records and a requests CSV")
    p.add_argument("--months", type=count_arg(1, 600), default=12, help="demo months to generate (default 12)")
    p.add_argument("--incidents-per-year", type=count_arg(1, 10_000_000), default=120_000,
                   help="scale (default 120000, London)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_bench_batch)

    p = sub.add_parser("bench-ingest", help="measure ingestion speed and memory on generated mobilisation rows")
    p.add_argument("--rows", type=count_arg(1, 100_000_000), default=1_000_000,
                   help="mobilisation rows (default 1,000,000)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_bench_ingest)
    for command in sub.choices.values():
        command.set_defaults(usage_parser=command)
    return parser


def _log_unexpected(settings: Settings, exc: BaseException, argv: list[str]) -> Path | None:
    """Append the traceback of an unexpected error to the error log; return its path (None if it cannot be written)."""
    import datetime as dt

    from lfb.errorlog import append_traceback

    return append_traceback(settings, f"{dt.datetime.now():%Y-%m-%d %H:%M:%S} lfb {__version__}: python -m lfb "
                                      f"{' '.join(argv)}", exc)


OPTIONS_TAKING_NEGATIVE_TEXT = ("--location",)  # '--location -0.12,51.5' is a value, not an option


def _attach_dash_values(argv: list[str]) -> list[str]:
    """Return argv with a value starting with '-' joined to its option ('--location=-0.12,51.5'), as argparse needs."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in OPTIONS_TAKING_NEGATIVE_TEXT and i + 1 < len(argv) and argv[i + 1].startswith("-") \
                and not argv[i + 1].startswith("--"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def usage_problem(args: argparse.Namespace) -> str | None:
    """Return what is wrong with a combination of arguments argparse cannot check alone (None if nothing)."""
    if args.command == "predict" and args.station is None and args.rank is None:
        return "give --station S, or --rank N to compare the N nearest stations (--rank 0 = all)"
    if args.command == "models" and args.action == "promote" and not args.version:
        return "give the version to promote, e.g. `python -m lfb models promote v20240601-120000` (see `models list`)"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(_attach_dash_values(arguments))
    problem = usage_problem(args)
    if problem:
        args.usage_parser.error(problem)
    args.progress = _progress_factory(not args.no_progress and sys.stderr.isatty())
    _show_library_notes()
    from lfb.config import ConfigError
    from lfb.data.formats import FormatError
    from lfb.service.backup import BackupError
    from lfb.service.locks import JobBusy, LockLost
    from lfb.model.registry import RegistryError
    from lfb.model.serving import NoModel
    from lfb.data.store import StoreError

    try:
        settings = get_settings()
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_USAGE
    try:
        return args.func(args, settings)
    except (StoreError, FormatError, ValueError, OSError, RegistryError, NoModel, JobBusy, LockLost,
            BackupError) as exc:
        _err(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback reaches the user
        if args.debug:
            raise
        log = _log_unexpected(settings, exc, arguments)
        where = f"the traceback is in {log}, or" if log else "to see the traceback,"
        _err(f"unexpected {type(exc).__name__}: {exc} ({where} run again as `python -m lfb --debug ...`)")
        return EXIT_FAILED
