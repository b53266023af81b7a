"""One impossible row (an incident dated in the future) in an older database never stops training."""
import datetime as dt

from lfb.model.dataset import load_examples
from lfb.model.estimator import ModelSettings
from lfb.model.training import train
from tests.builders import FAST_MODEL

FUTURE = "incident month after the current month (impossible date)"


def _add_future_incident(db) -> int:
    """Copy a stored incident and its pumps to 2099, as an older ingest let through; return its pump count."""
    number = db.execute("SELECT incident_number FROM incidents ORDER BY incident_number LIMIT 1").fetchone()[0]
    db.execute("CREATE TEMP TABLE i AS SELECT * FROM incidents WHERE incident_number = ?", [number])
    db.execute("UPDATE i SET incident_number = 'FUTURE-1', month = '2099-01', call_datetime = '2099-01-05 10:00:00'")
    db.execute("INSERT INTO incidents SELECT * FROM i")
    db.execute("CREATE TEMP TABLE m AS SELECT * FROM mobilisations WHERE incident_number = ?", [number])
    db.execute("UPDATE m SET incident_number = 'FUTURE-1', month = '2099-01', mobilised_at = '2099-01-05 10:01:00'")
    db.execute("INSERT INTO mobilisations SELECT * FROM m")
    return db.execute("SELECT COUNT(*) FROM attendances WHERE incident_number = 'FUTURE-1'").fetchone()[0]


def test_future_examples_are_dropped_and_counted(trained_copy):
    settings, db, _ = trained_copy
    pumps = _add_future_incident(db)
    examples = load_examples(db)
    assert pumps > 0 and examples.dropped[FUTURE] == pumps
    assert examples.frame["month"].max() <= dt.date.today().strftime("%Y-%m")
    assert "FUTURE-1" not in set(examples.frame["incident_number"])


def test_training_succeeds_with_a_2099_row_in_the_store(trained_copy):
    settings, db, _ = trained_copy
    _add_future_incident(db)
    result = train(db, settings, test_months=2, model_settings=ModelSettings(**FAST_MODEL), log=lambda _m: None)
    assert result.metadata["windows"]["test_until"] == "2024-10"
    assert result.metadata["rows"]["dropped"][FUTURE] > 0
