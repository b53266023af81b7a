"""Property-based checks of the record parser: any cells give records and rejects, never an exception or a lost row."""
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lfb.data.formats import INCIDENTS, MOBILISATIONS
from lfb.data.records import parse_chunk
from tests.builders import INCIDENT_HEADER, MOBILISATION_HEADER, incident_row, mobilisation_row

CELLS = st.one_of(st.text(max_size=12), st.sampled_from(["", "NULL", "0", "-1", "99999999", "2099-01-01", "31/02/2023",
                                                         "1e9", "NaN", "Fire", "fire ", "12:00", "25:61"]))
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.lists(st.dictionaries(st.sampled_from(INCIDENT_HEADER), CELLS, max_size=6), min_size=1, max_size=15))
def test_incident_rows_are_either_kept_or_rejected_with_a_reason(changes):
    rows = [incident_row(f"{i:06d}-01012023", **change) for i, change in enumerate(changes)]
    frame = pd.DataFrame(rows, columns=INCIDENT_HEADER, dtype=object).astype(str)
    parsed = parse_chunk(INCIDENTS, frame, 2)
    assert len(parsed.records) + len(parsed.rejects) == len(rows)
    assert all(reason for _line, reason, _raw in parsed.rejects)


@FAST
@given(st.lists(st.dictionaries(st.sampled_from(MOBILISATION_HEADER), CELLS, max_size=6), min_size=1, max_size=15))
def test_mobilisation_rows_are_either_kept_or_rejected_with_a_reason(changes):
    rows = [mobilisation_row("000001-01012023", str(1000 + i), **change) for i, change in enumerate(changes)]
    frame = pd.DataFrame(rows, columns=MOBILISATION_HEADER, dtype=object).astype(str)
    parsed = parse_chunk(MOBILISATIONS, frame, 2)
    assert len(parsed.records) + len(parsed.rejects) == len(rows)
    kept = parsed.records
    assert kept["attendance_seconds"].dropna().between(0, 24 * 3600).all()
