"""Every CLI command meets the hostile values of values.py in each of its arguments, in-process on a copy of the trained
store: no traceback, a refusal exits non-zero naming the argument and what to type instead, and no stored row, model
version or champion is lost. A few cases run through a real `python -m lfb` process too.
"""
from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lfb.config import PROJECT_ROOT, Settings
from lfb.service import users
from tests.hostile.conftest import counts, run_cli, tally
from tests.hostile.values import FILES, LOCATIONS, MONTHS, NUMBERS, SCRIPT, STATIONS, TEXTS, TIMES, make_file

HINT = re.compile(r"\b(give|use|choose|choice|e\.g\.|see|write|add|type|check|remove|train|pick|upload|save)\b"
                  r"|--help",
                  re.IGNORECASE)
LONGEST_LINE = 1000  # a 10,000-character value must never come back whole
SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")  # a dataset slug the CLI cannot refuse offline
VALID_USERNAMES = {"number", "nan", "inf"}  # hostile-looking values that are valid usernames
PREDICT = {"--location": "SE1 7PB", "--station": "A21", "--time": "2024-09-01 10:00", "--incident-group": "Fire"}


@dataclass(frozen=True)
class Case:
    """One hostile command line: what it is, and whether it must be refused (naming one of `keywords`)."""

    id: str
    argv: list[str]
    accepted: bool = False
    keywords: tuple[str, ...] = ()
    stdin: str = ""
    files: dict[int, str] = field(default_factory=dict)  # argv index -> hostile file kind built at run time


def _predict(option: str, value: str | None) -> list[str]:
    """Return a predict command line whose `option` has `value` (None: left out)."""
    given = PREDICT | {option: value}
    return ["predict", *[part for name, v in given.items() if v is not None for part in (f"{name}={v}",)]]


def _field(command: list[str], option: str, table: list[tuple[str, str]], keywords: tuple[str, ...],
           accepted: set[str] = frozenset(), tail: list[str] | None = None) -> Iterator[Case]:
    """Yield one case per hostile value of `table` given to `option` of `command` ('' option: a positional)."""
    for name, value in table:
        argv = [*command, f"{option}={value}"] if option.startswith("--") else [*command, value]
        yield Case(f"{' '.join(command)} {option or 'ARG'} {name}", argv + (tail or []), name in accepted, keywords)


def _file_field(command: list[str], keywords: tuple[str, ...], accepted: set[str], tail: list[str] | None = None,
                use_name: bool = True) -> Iterator[Case]:
    """Yield one case per hostile file given as the positional file argument of `command`."""
    for kind in FILES:
        yield Case(f"{' '.join(command)} FILE {kind}", [*command, "FILE", *(tail or [])], kind in accepted,
                   keywords + (("<name>",) if use_name else ()), files={len(command): kind})


def cases() -> Iterator[Case]:
    """Yield every hostile case of every command."""
    # predict: each field in turn, the others valid
    for name, value in LOCATIONS:
        argv = _predict("--location", value)
        yield Case(f"predict --location {name}", argv, name == "swapped-latlon", ("location", "postcode"))
    for name, value in STATIONS:
        yield Case(f"predict --station {name}", _predict("--station", value), False, ("station",))
    for name, value in TIMES:
        yield Case(f"predict --time {name}", _predict("--time", value), False, ("time",))
    for name, value in TEXTS:
        yield Case(f"predict --incident-group {name}", _predict("--incident-group", value), False, ("incident group",))
    for option in ("--stop-code", "--special-service-type", "--property-category", "--property-type",
                   "--address-qualifier"):
        for name, value in TEXTS:  # unknown details are estimated without them, with a note
            yield Case(f"predict {option} {name}", [*_predict(option, value)], True)
    for name, value in TEXTS:
        yield Case(f"predict --version {name}", _predict("--version", value), name == "empty", ("version",))
    for name, value in NUMBERS:
        yield Case(f"predict --rank {name}", [*_predict("--station", None), f"--rank={value}"], name == "zero-ish",
                   ("--rank",))  # --rank 0 ranks every station
    # data commands
    yield from _field(["demo"], "--months", NUMBERS, ("--months",))
    yield from _field(["demo"], "--start", MONTHS, ("--start",))
    yield from _field(["demo"], "--seed", [v for v in NUMBERS if v[0] != "zero-ish"], ("--seed",))
    yield from _field(["demo"], "--incidents-per-year", NUMBERS, ("--incidents-per-year",))
    yield from _file_field(["ingest"], ("file", "folder"), {"truncated", "utf16", "huge-line"})
    yield from _field(["ingest"], "", [v for v in TEXTS if v[0] != "negative"], ("file", "folder"))
    yield from _field(["fetch"], "--dataset", [v for v in TEXTS if not SLUG.fullmatch(v[1])], ("--dataset",))
    yield from _field(["status"], "--months", NUMBERS, ("--months",), accepted={"zero-ish"})
    yield from _file_field(["calibration", "--real-dir"], ("--real-dir",), {"directory"}, use_name=False)
    yield Case("clear-demo extra", ["clear-demo", "--all"], False, ("unrecognized",))
    yield Case("setup extra", ["setup", "--demo=no"], False, ("unrecognized",))
    yield Case("serve extra", ["serve", "--port", "80"], False, ("unrecognized",))
    yield Case("serve positional", ["serve", "<script>alert(1)</script>"], False, ("unrecognized",))
    yield from _field(["health"], "", TEXTS, ("what",))
    # model commands
    yield from _field(["train"], "--until", MONTHS, ("--until",))
    yield from _field(["train"], "--test-months", NUMBERS, ("--test-months",))
    yield from _field(["evaluate"], "--since", MONTHS, ("--since",))
    yield from _field(["evaluate"], "--version", TEXTS, ("version",), accepted={"empty"})
    yield from _file_field(["evaluate"], ("file", "folder", "pump attendances"), {"truncated", "utf16"})
    yield from _file_field(["predict-batch"], ("file", "folder", "csv", "columns"), {"truncated", "utf16"},
                           tail=["OUT"])
    yield Case("predict-batch OUT folder", ["predict-batch", "FILE", "OUTDIR"], False, ("folder",),
               files={1: "truncated"})
    yield Case("predict-batch OUT missing folder", ["predict-batch", "FILE", "OUTMISSING"], False, ("folder",),
               files={1: "truncated"})
    yield from _field(["predict-batch", "IN", "OUT"], "--version", [v for v in TEXTS if v[0] != "empty"],
                      ("version",))
    yield from _field(["models", "show"], "", [v for v in TEXTS if v[0] != "negative"], ("version",),
                      accepted={"empty"})
    yield from _field(["models", "promote"], "", [v for v in TEXTS if v[0] != "negative"], ("version",))
    yield from _field(["models"], "", TEXTS, ("action",))
    yield from _field(["models", "rollback"], "--reason", TEXTS, ("roll back",))  # the first champion: nothing to
    yield from _field(["models", "promote", "CHAMPION"], "--who", TEXTS, ("already the champion",))
    yield Case("models list extra", ["models", "list", "v1", "v2"], False, ("unrecognized",))
    yield Case("users list extra", ["users", "list", "--all"], False, ("unrecognized",))
    yield Case("users init extra", ["users", "init", "admin"], False, ("unrecognized",))
    for name, value in TEXTS:  # a reason per case, so that no request is the same as one already waiting
        yield Case(f"request rollback --who {name}", ["request", "rollback", f"--reason=who {name}", f"--who={value}"],
                   bool(value.strip()) and len(value) <= 64 and value.isprintable(), ("who",))
    yield from _field(["backtest-refit"], "--test-months", NUMBERS, ("--test-months",))
    yield from _field(["bench-model"], "--incidents-per-year", NUMBERS, ("--incidents-per-year",))
    bench_hours = [v for v in NUMBERS if v[0] != "zero-ish"] + [("24", "24"), ("hour-minus", "-1")]
    yield from _field(["bench-coverage"], "--hour", bench_hours, ("--hour",))
    yield from _field(["bench-coverage"], "--weekday", [v for v in bench_hours if v[0] != "24"] + [("7", "7")],
                      ("--weekday",))
    yield from _field(["bench-coverage"], "--group", TEXTS, ("--group",))
    yield from _field(["bench-batch"], "--months", NUMBERS, ("--months",))
    yield from _field(["bench-batch"], "--incidents-per-year", NUMBERS, ("--incidents-per-year",))
    yield from _field(["bench-ingest"], "--rows", NUMBERS, ("--rows",))
    # operations
    yield Case("backup extra", ["backup", "--all"], False, ("unrecognized",))
    yield from _file_field(["restore"], ("backup",), set(), tail=["--yes"], use_name=False)
    yield from _field(["locks"], "", TEXTS, ("action",))
    yield from _field(["locks", "clear"], "", [v for v in TEXTS if v[0] != "negative"], ("lock",),
                      accepted={"whitespace", "long", "rtl", "emoji", "combining", "nul", "script", "markdown",
                                "number", "nan", "inf", "newline"}, tail=["--yes"])
    yield from _field(["request"], "", TEXTS, ("kind",))
    yield from _field(["request", "ingest"], "--path", TEXTS, ("--path", "file"), accepted=set())
    yield from _field(["request", "train"], "--until", MONTHS, ("--until",))
    yield from _field(["request", "train"], "--test-months", NUMBERS, ("--test-months",))
    yield from _field(["request", "evaluate"], "--since", MONTHS, ("--since",))
    yield from _field(["request", "promote"], "--version", TEXTS, ("version",),
                      accepted={name for name, _ in TEXTS if name not in ("empty", "long", "nul")})
    yield from _field(["request", "fetch"], "--version", [v for v in TEXTS if v[0] != "empty"], ("version",))
    yield from _field(["jobs"], "", [v for v in NUMBERS if not v[1].startswith("-")], ("id",))
    yield from _field(["jobs"], "--limit", NUMBERS, ("--limit",))
    yield from _field(["jobs"], "--status", TEXTS, ("--status",))
    yield Case("sidecar extra", ["sidecar", "now"], False, ("unrecognized",))
    # users
    for name, value in TEXTS:
        if name != "negative":
            yield Case(f"users add NAME {name}", ["users", "add", value, "--role", "dispatcher"],
                       name in VALID_USERNAMES, ("username",), stdin="a-good-password\n")
    for name, value in TEXTS:
        yield Case(f"users add --role {name}", ["users", "add", f"role-{name}", f"--role={value}"], False,
                   ("--role",), stdin="a-good-password\n")
        yield Case(f"users add --name {name}", ["users", "add", f"name-{name}", "--role", "dispatcher",
                                                f"--name={value}"],
                   name not in {"long", "newline", "nul", "rtl"}, ("name",), stdin="a-good-password\n")
        yield Case(f"users add --email {name}", ["users", "add", f"mail-{name}", "--role", "dispatcher",
                                                 f"--email={value}"],
                   name in {"empty", "whitespace"}, ("e-mail",), stdin="a-good-password\n")
        yield Case(f"users passwd password {name}", ["users", "passwd", "chief"],
                   name in {"combining", "script", "markdown"}, ("password",), stdin=value + "\n")
    for action in ("remove", "role", "unlock", "passwd"):
        for name, value in TEXTS:
            if name in {"negative", *VALID_USERNAMES}:  # '-5' is an option; the valid names are added above
                continue
            extra = {"remove": ["--yes"], "role": ["--role", "admin"], "unlock": [], "passwd": []}[action]
            yield Case(f"users {action} NAME {name}", ["users", action, value, *extra], False, ("user",),
                       stdin="a-good-password\n")
    yield from _field(["users"], "", TEXTS, ("action",))


CASES = list(cases())


@pytest.fixture(scope="module")
def cli_store(store: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The module's store with an admin 'chief' (cheap password hashes) for the users commands."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(users, "BCRYPT_ROUNDS", 4)
        users.add_user(store, "chief", "chief-password", "admin")
    return store


def _champion() -> str:
    """Return the version in service in the module's store."""
    import contextlib
    import sqlite3

    from lfb.config import get_settings

    with contextlib.closing(sqlite3.connect(get_settings().db_path)) as db:
        return db.execute("SELECT version FROM aliases WHERE name = 'champion'").fetchone()[0]


def _argv(case: Case, folder: Path) -> list[str]:
    """Return the case's command line with its placeholders replaced by real paths."""
    argv = list(case.argv)
    for index, kind in case.files.items():
        argv[index] = str(make_file(kind, folder))
    good = make_file("truncated", folder / "good")
    replace = {"IN": str(good), "OUT": str(folder / "out.csv"), "OUTDIR": str(folder), "CHAMPION": _champion(),
               "OUTMISSING": str(folder / "no-folder" / "out.csv")}
    return [replace.get(part, part) if i not in case.files else part for i, part in enumerate(argv)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_hostile_command_line_is_answered_clearly(case: Case, cli_store: Settings, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "BCRYPT_ROUNDS", 4)
    argv = _argv(case, tmp_path)
    before = counts(cli_store)
    run = run_cli(argv, case.stdin)
    after = counts(cli_store)
    output = run.out + run.err
    tally(f"cli {case.argv[0]}", output, before.lost(after))
    assert "Traceback" not in output and "unexpected" not in run.err, output[-2000:]
    assert max(map(len, output.splitlines() or [""])) < LONGEST_LINE, "a long value came back whole"
    assert before.lost(after) == 0 and after.champion == before.champion, (before, after)
    if case.accepted:
        assert run.code == 0, output[-2000:]
        return
    assert run.code != 0, f"accepted: {output[-1000:]}"
    said = output.lower()
    names = [k for k in case.keywords if k != "<name>"]
    if "<name>" in case.keywords:
        names.append(Path(argv[case.files and min(case.files) or 1]).name.lower()[:40])
    assert any(k.lower() in said for k in names), f"the refusal does not name {names}: {output[-1000:]}"
    assert HINT.search(output), f"the refusal does not say what to type instead: {output[-1000:]}"


def test_a_swapped_latitude_and_longitude_is_read_with_a_note(cli_store: Settings) -> None:
    run = run_cli(_predict("--location", "-0.1, 51.5"))
    tally("cli predict", run.out + run.err)
    assert run.code == 0 and "read longitude first" in run.out and "write latitude first" in run.out


def test_html_in_a_station_name_is_not_a_known_station(cli_store: Settings) -> None:
    run = run_cli(_predict("--station", "<b>Paddington</b>"))
    tally("cli predict", run.out + run.err)
    assert run.code == 1 and "unknown station '<b>Paddington</b>'" in run.err


SUBPROCESS_CASES = [
    ["predict", "--location", "-0.1, 51.5x", "--station", "A21", "--time", "2024-09-01 10:00", "--incident-group",
     "Fire"],
    ["predict", "--location", "SE1 7PB", "--station", "A21", "--time", "2999-12-31 23:59", "--incident-group", "Fire"],
    ["ingest", "FILE"],
    ["predict-batch", "FILE", "OUT"],
    ["jobs", "9" * 40],
    ["users", "add", "<script>alert(1)</script>", "--role", "admin"],
]


@pytest.mark.parametrize("argv", SUBPROCESS_CASES, ids=[" ".join(a[:2]) + f" {i}" for i, a in
                                                        enumerate(SUBPROCESS_CASES)])
def test_no_traceback_reaches_a_terminal(argv: list[str], cli_store: Settings, tmp_path: Path) -> None:
    junk = make_file("huge-line", tmp_path)
    argv = [str(junk) if a == "FILE" else str(tmp_path / "out.csv") if a == "OUT" else a for a in argv]
    before = counts(cli_store)
    done = subprocess.run([sys.executable, "-m", "lfb", "--no-progress", *argv], capture_output=True, text=True,
                          input="a-good-password\n", cwd=PROJECT_ROOT, timeout=120)
    output = done.stdout + done.stderr
    tally("cli (real process)", output, before.lost(counts(cli_store)))
    assert "Traceback" not in output and "unexpected" not in output, output[-2000:]
    assert before.lost(counts(cli_store)) == 0
    assert done.returncode != 0 or argv[0] == "ingest", output  # the huge line is a rejected row, kept with a reason


ENVIRONMENT = [("LFB_PORT", "abc"), ("LFB_PORT", "99999"), ("LFB_CHUNK_ROWS", "-1"), ("LFB_CHUNK_ROWS", "9" * 400),
               ("LFB_PIPELINE_CRON", SCRIPT), ("LFB_UPLOAD_MAX_MB", "nan"), ("LFB_HTTP_TIMEOUT", "inf"),
               ("LFB_HTTP_TIMEOUT", "nan"), ("LFB_MODEL_THREADS", "🚒"), ("LFB_REFIT_ON_ALL", "maybe"),
               ("LFB_PROMOTE_MARGIN", "2"), ("LFB_BACKUP_CRON", "* * *"), ("LFB_SESSION_IDLE_S", "-inf")]


@pytest.mark.parametrize("name, value", ENVIRONMENT, ids=[f"{n}={v[:12]}" for n, v in ENVIRONMENT])
def test_a_hostile_setting_is_refused_naming_the_variable(cli_store: Settings, monkeypatch: pytest.MonkeyPatch,
                                                          name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    before = counts(cli_store)
    run = run_cli(["status"])
    tally("cli settings (environment)", run.out + run.err, before.lost(counts(cli_store)))
    assert run.code == 2 and run.err.startswith(f"error: {name}") and "Traceback" not in run.err, run.err
    assert max(map(len, run.err.splitlines())) < LONGEST_LINE
