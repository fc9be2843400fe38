"""Property: whatever tables a user brings, loading gives a Study or a
StudyValidationError listing the problems, and nothing else (no other
exception, no traceback)."""

from __future__ import annotations

import shutil

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backwalk_study import Study, StudyValidationError, load_study
from backwalk_study.data.schema import COLUMN_KINDS

from conftest import EXAMPLE, read_csv

cells = st.one_of(st.text(max_size=8), st.sampled_from(["", "1", "-3", "2.5", "1e9", "nan", "inf", "2026-01-05",
                                                         "P001", "backward", "berg", "yes", "=1+1", "NA"]))


@st.composite
def damaged_table(draw, name):
    base = read_csv(EXAMPLE / f"{name}.csv").head(6)
    cols = list(base.columns)
    drop = draw(st.lists(st.sampled_from(cols), max_size=2, unique=True))
    frame = base.drop(columns=drop)
    for _ in range(draw(st.integers(0, 6))):
        if frame.shape[1] == 0:
            break
        r = draw(st.integers(0, len(frame) - 1))
        c = draw(st.sampled_from(list(frame.columns)))
        frame.loc[r, c] = draw(cells)
    if draw(st.booleans()):
        frame[draw(st.sampled_from(["extra", "Notes", " week "]))] = draw(cells)
    return frame


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(p=damaged_table("participants"), s=damaged_table("sessions"), a=damaged_table("assessments"))
def test_malformed_tables_give_study_or_validation_error(tmp_path_factory, p, s, a):
    folder = tmp_path_factory.mktemp("prop")
    shutil.copy(EXAMPLE / "study.toml", folder / "study.toml")
    for name, frame in (("participants", p), ("sessions", s), ("assessments", a)):
        frame.to_csv(folder / f"{name}.csv", index=False)
    try:
        result = load_study(folder)
    except StudyValidationError as exc:
        assert len(exc.problems) > 0
        assert exc.problems["message"].map(lambda m: isinstance(m, str) and len(m) > 0).all()
        rows = exc.problems["row"].dropna()
        assert (rows >= 1).all()  # header problems are on row 1, data from row 2
    else:
        assert isinstance(result, Study)
        assert set(COLUMN_KINDS["assessments"]) >= {"participant_id", "week", "measure", "value"}
        assert len(result.assessments) == len(a)  # nothing silently dropped
