"""`request`, `jobs` and `sidecar`: ask the sidecar for work, follow it, see whether the sidecar runs; one line for
every mistake (exit 2 for a refused request)."""
import json
import re

import pytest

from lfb.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from lfb.service.locks import job_lock
from lfb.service.requests import PENDING, beat, claim_next, finish, get_job, list_jobs, report_progress


def _one_error(err: str, needle: str) -> None:
    """Assert that stderr is one error line holding the needle."""
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert needle in err, err


def test_a_request_prints_its_id_and_waits_for_the_sidecar(settings, capsys, tmp_path, monkeypatch):
    upload = tmp_path / "incidents.csv"
    upload.write_text("IncidentNumber\n")
    monkeypatch.chdir(tmp_path)
    assert main(["request", "ingest", "--path", "incidents.csv", "--who", "chief"]) == EXIT_OK
    out, err = capsys.readouterr()
    job = get_job(settings, int(out))
    assert (job["kind"], job["status"], job["requested_by"], job["args"]) == \
        ("ingest", PENDING, "chief", {"path": str(upload)})  # the path as the sidecar will find it
    assert f"ingest request #{job['id']} queued" in err and "never run with this data folder" in err
    assert main(["request", "train", "--until", "2024-08-15", "--test-months", "2"]) == EXIT_OK
    assert get_job(settings, int(capsys.readouterr().out))["args"] == {"until": "2024-08", "test_months": 2}


@pytest.mark.parametrize(("argv", "message"), [
    (["request", "fetch", "--version", "v1"], "a fetch request takes no version (it takes nothing)"),
    (["request", "promote"], "a promote request needs version"),
    (["request", "rollback", "--since", "2024-01"], "a rollback request takes no since (it takes reason)"),
    (["request", "ingest", "--path", "nowhere.csv"], "no such file: "),
    (["request", "retrain"], "invalid choice: 'retrain'"),
    (["request", "train", "--until", "August"], "'August' is not a month or a date"),
    (["request", "train", "--test-months", "0"], "'0' must be a whole number of at least 1"),
])
def test_a_refused_request_is_one_line_and_exit_2(settings, capsys, argv, message):
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own checks end the program
        code = stop.code
    assert code == EXIT_USAGE
    _one_error(capsys.readouterr().err, message)
    assert list_jobs(settings) == []


def test_the_same_request_waiting_twice_is_refused(settings, capsys):
    assert main(["request", "pipeline"]) == EXIT_OK
    first = int(capsys.readouterr().out)
    assert main(["request", "pipeline"]) == EXIT_USAGE
    _one_error(capsys.readouterr().err, f"the same pipeline request is already waiting (#{first}, asked by cli")


def _history(settings) -> tuple[int, int]:
    """Record a finished training and a pending fetch; return their ids."""
    assert main(["request", "train", "--who", "chief"]) == EXIT_OK
    assert main(["request", "fetch"]) == EXIT_OK
    trained = claim_next(settings, "box:1")["id"]
    report_progress(settings, trained, "fitting model 1/1", 0.4)
    finish(settings, trained, True, "v20261201-020312 promoted: MAE 61.2 s vs champion 63.0 s on 2026-09..2026-11",
           "02:03:12 loading pump attendances\n02:05:40 registered v20261201-020312")
    return trained, list_jobs(settings, status=PENDING)[0]["id"]


def test_jobs_lists_requests_and_runs_newest_first(settings, capsys):
    trained, waiting = _history(settings)
    capsys.readouterr()
    assert main(["jobs"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert re.match(r"\s+id\s+kind\s+status\s+asked by\s+started \(UTC\)\s+took\s+outcome", lines[0])
    assert re.match(rf"\s+{waiting}\s+fetch\s+pending\s+cli\s+.*waiting for the sidecar$", lines[1])
    assert re.match(rf"\s+{trained}\s+train\s+done\s+chief\s+\S+ \S+\s+0:0\d\s+v20261201-020312 promoted: MAE 61.2",
                    lines[2])
    assert main(["jobs", "--limit", "1"]) == EXIT_OK and len(capsys.readouterr().out.splitlines()) == 2


def test_jobs_json_has_what_a_script_needs(settings, capsys):
    trained, waiting = _history(settings)
    capsys.readouterr()
    assert main(["jobs", "--json"]) == EXIT_OK
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [waiting, trained]
    for row in rows:
        assert {"id", "kind", "status", "started", "finished", "outcome", "requested_by", "progress",
                "seconds"} <= set(row)
    done = rows[1]
    assert (done["kind"], done["status"], done["requested_by"]) == ("train", "done", "chief")
    assert done["outcome"].startswith("v20261201-020312 promoted") and done["seconds"] >= 0 and done["finished"]
    assert rows[0]["started"] is None and rows[0]["seconds"] is None


def test_one_job_with_its_log(settings, capsys):
    trained, _ = _history(settings)
    capsys.readouterr()
    assert main(["jobs", str(trained)]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith(f"job #{trained} train: done, asked by chief at ")
    assert "v20261201-020312 promoted" in out and "02:05:40 registered v20261201-020312" in out
    assert main(["jobs", "999"]) == EXIT_FAILED
    _one_error(capsys.readouterr().err, "there is no job #999")


def test_a_running_job_shows_its_progress(settings, capsys):
    assert main(["request", "train"]) == EXIT_OK
    job_id = claim_next(settings, "box:1")["id"]
    report_progress(settings, job_id, "fitting model 2/3 with early stopping on 1,234 validation rows ...", 0.43)
    capsys.readouterr()
    assert main(["jobs"]) == EXIT_OK
    assert "running  cli" in capsys.readouterr().out.splitlines()[1]
    main(["jobs"])
    assert capsys.readouterr().out.rstrip().endswith("fitting model 2/3 with early stopping on 1,234 validation "
                                                     "rows ... (43%)")


def test_sidecar_says_whether_it_runs(settings, capsys):
    assert main(["sidecar"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "has never run with this data folder" in out and "runs at 20" in out
    beat(settings, "box", 4242, "2026-11-30 10:00:00", {"next_runs": {"pipeline": "2026-12-15 02:00 GMT"},
                                                        "cron": "0 2 15 * *", "current_job": None})
    assert main(["sidecar"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "is running (process 4242 on box" in out and "next monthly pipeline: 2026-12-15 02:00 GMT" in out
    assert main(["sidecar", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["alive"] is True


def test_the_cli_train_while_the_sidecar_trains_is_refused_with_one_line(settings, capsys):
    with job_lock(settings, "train", owner="scheduler sidecar"):
        assert main(["train"]) == EXIT_FAILED
    _one_error(capsys.readouterr().err, "a train job is already running (started ")
