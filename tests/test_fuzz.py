"""Fuzzing the loaders (issue 13, item 10).

The property: whatever a user brings, loading gives a Study, or a
StudyValidationError / StudyReadError (or, for force-plate files, the
documented ForcePlateError), and nothing else; and when a Study comes back,
no row was lost.

Input classes (hypothesis strategies): cell damage, byte mutations,
study.toml types, mapping types, Parquet dtypes, XLSX cells and force-plate
bytes. Most examples exercise the readers and the typed coercion (fast);
a share of each class goes through the whole of ``load_study`` or
``import_wide`` (about 0.1-0.4 s each, mostly pandera).

``make test`` runs about 2,000 examples; ``make fuzz`` sets
``BACKWALK_FUZZ_EXAMPLES=20000`` and prints what was tried (classes,
cases, outcomes, time).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backwalk_study import ForcePlateError, Study, StudyReadError, StudyValidationError, import_wide, load_study
from backwalk_study.data.config import parse_mapping, parse_study_settings, read_toml
from backwalk_study.data.readers import coerce_columns, read_table
from backwalk_study.data.schema import COLUMN_KINDS
from backwalk_study.stats.sway import read_force_plate

from conftest import EXAMPLE

TOTAL = int(os.environ.get("BACKWALK_FUZZ_EXAMPLES", "2000"))
SCALE = TOTAL / 2000
OUTCOMES: Counter = Counter()   # (input class, outcome) -> cases
STARTED = time.perf_counter()
ALLOWED = (StudyValidationError, StudyReadError)
# every generated file goes below one folder, removed when the module ends
WORK = tempfile.TemporaryDirectory(prefix="backwalk-fuzz-")


def scratch() -> Path:
    return Path(tempfile.mkdtemp(dir=WORK.name))


def examples(n: int) -> settings:
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    WORK.cleanup()
    seconds = time.perf_counter() - STARTED
    classes = sorted({c for c, _ in OUTCOMES})
    print(f"\nfuzz: {sum(OUTCOMES.values())} cases in {seconds:.1f} s over {len(classes)} input classes "
          f"({', '.join(classes)}); outcomes:")
    for (cls, outcome), n in sorted(OUTCOMES.items()):
        print(f"  {cls:<16} {outcome:<22} {n}")


def record(cls: str, outcome) -> None:
    OUTCOMES[(cls, outcome if isinstance(outcome, str) else type(outcome).__name__)] += 1


# --- small inputs made from the example study ------------------------------------------------------

def _example(name: str, n: int) -> pd.DataFrame:
    return pd.read_csv(EXAMPLE / f"{name}.csv", dtype=str, keep_default_na=False).head(n)


PARTS = _example("participants", 4)
SESS = _example("sessions", 8)
SESS = SESS[SESS["participant_id"].isin(PARTS["participant_id"])]
ASSESS = _example("assessments", 400)
ASSESS = ASSESS[ASSESS["participant_id"].isin(PARTS["participant_id"])].head(10)
TABLES = {"participants": PARTS, "sessions": SESS, "assessments": ASSESS}
STUDY_TOML = (EXAMPLE / "study.toml").read_bytes()

CELLS = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["", " ", "1", "-3", "2.5", "12,5", "12,5 s", "1e9", "1e400", "nan", "inf", "-0",
                     "2026-01-05", "2026-02-30", "2026-13-01", "31/02/2026", "05/01/2026", "20000-01-01",
                     "0000-00-00", "P001", "backward", "berg", "yes", "no", "TRUE", "=1+1", "@SUM(A1)", "NA",
                     "\x1b[31m", "\u202e", "😀", "\x00", '"', "'", ",", ";", "\t", "\n"]))


def write_folder(tables: dict[str, pd.DataFrame], toml: bytes = STUDY_TOML) -> Path:
    folder = scratch()
    (folder / "study.toml").write_bytes(toml)
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def check_load(cls: str, folder: Path, expected_assessment_rows: int | None) -> None:
    try:
        study = load_study(folder)
    except ALLOWED as exc:
        record(cls, exc)
        if isinstance(exc, StudyValidationError):
            assert len(exc.problems) and exc.problems["message"].map(lambda m: isinstance(m, str) and m).all()
            assert (exc.problems["row"].dropna() >= 1).all()
        return
    record(cls, "Study")
    assert isinstance(study, Study)
    if expected_assessment_rows is not None:
        assert len(study.assessments) == expected_assessment_rows   # no row lost


def check_read_and_coerce(cls: str, path: Path, table_name: str) -> None:
    try:
        table = read_table(path)
    except StudyReadError as exc:
        record(cls, exc)
        return
    kinds = {c: k for c, k in COLUMN_KINDS[table_name].items() if c in table.frame.columns}
    typed, problems = coerce_columns(table, kinds)
    assert len(typed) == len(table.frame)                       # no row lost
    assert all(p["row"] in table.frame.index for p in problems)  # every problem at a real row
    record(cls, "read")


# --- cell damage -----------------------------------------------------------------------------------

@st.composite
def damaged(draw, name: str) -> pd.DataFrame:
    frame = TABLES[name].copy()
    drop = draw(st.lists(st.sampled_from(list(frame.columns)), max_size=2, unique=True))
    frame = frame.drop(columns=drop)
    for _ in range(draw(st.integers(0, 6))):
        if frame.shape[1] == 0 or len(frame) == 0:
            break
        frame.iloc[draw(st.integers(0, len(frame) - 1)), draw(st.integers(0, frame.shape[1] - 1))] = draw(CELLS)
    if draw(st.booleans()):
        frame[draw(st.sampled_from(["extra", "Notes", " week ", "value"]))] = draw(CELLS)
    return frame


@examples(250)
@given(frame=damaged("sessions"), name=st.sampled_from(["sessions"]))
def test_fuzz_cell_damage_readers(frame, name):
    folder = write_folder({name: frame})
    check_read_and_coerce("cell damage", folder / f"{name}.csv", name)


@examples(10)
@given(p=damaged("participants"), s=damaged("sessions"), a=damaged("assessments"))
def test_fuzz_cell_damage_load_study(p, s, a):
    folder = write_folder({"participants": p, "sessions": s, "assessments": a})
    check_load("cell damage", folder, len(a))


# --- byte mutations -----------------------------------------------------------------------------------

@st.composite
def mutated_bytes(draw, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from([b",", b";", b"\t", b"\n", b"\r", b'"', b"\x00", b"\xff\xfe",
                                                  b"\xef\xbb\xbf", b"=", b" ", b"2026-02-30", b"\xe9"]))
        elif op == "delete" and data:
            del data[pos:pos + draw(st.integers(1, 20))]
        elif op == "truncate":
            data = data[:pos]
    return bytes(data)


ASSESS_BYTES = ASSESS.to_csv(index=False).encode()


@examples(250)
@given(data=mutated_bytes(ASSESS_BYTES))
def test_fuzz_byte_mutations_readers(data):
    folder = scratch()
    (folder / "assessments.csv").write_bytes(data)
    check_read_and_coerce("byte mutations", folder / "assessments.csv", "assessments")


@examples(10)
@given(data=mutated_bytes(ASSESS_BYTES))
def test_fuzz_byte_mutations_load_study(data):
    folder = write_folder({"participants": PARTS, "sessions": SESS})
    (folder / "assessments.csv").write_bytes(data)
    check_load("byte mutations", folder, None)


# --- study.toml types ------------------------------------------------------------------------------

TOML_VALUES = st.recursive(
    st.one_of(st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True), st.text(max_size=8),
              st.sampled_from(["no", "yes", "abc", "control", "backward"]), st.dates().map(str)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)
STUDY_KEYS = st.sampled_from(["name", "synthetic", "description", "arms", "conditions", "reference_arm", "plan",
                              "measures", "nmae", "plan.weeks", "plan.weks", "plan.sessions_per_week",
                              "measures.grip", "measures.grip.mdc95", "measures.grip.low"])


def nest(key: str, value) -> dict:
    out: dict = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def merge(a: dict, b: dict) -> dict:
    for k, v in b.items():
        a[k] = merge(a[k], v) if isinstance(a.get(k), dict) and isinstance(v, dict) else v
    return a


@examples(600)
@given(pairs=st.lists(st.tuples(STUDY_KEYS, TOML_VALUES), max_size=5))
def test_fuzz_study_toml_types(pairs):
    raw: dict = {}
    for key, value in pairs:
        raw = merge(raw, nest(key, value))
    settings_, problems = parse_study_settings(raw, "study.toml")
    assert settings_ is not None
    assert all(isinstance(p["message"], str) and p["message"] for p in problems)
    record("study.toml types", "problems" if problems else "valid")


@examples(100)
@given(data=mutated_bytes(STUDY_TOML))
def test_fuzz_study_toml_bytes(data):
    path = scratch() / "study.toml"
    path.write_bytes(data)
    try:
        raw = read_toml(path, "study.toml")
    except StudyReadError as exc:
        assert "study.toml" in str(exc)
        record("study.toml types", exc)
        return
    parse_study_settings(raw, "study.toml")
    record("study.toml types", "parsed")


# --- mapping types ---------------------------------------------------------------------------------

MAPPING_KEYS = st.sampled_from(["participant_id", "week", "arm", "age_years", "sex", "condition", "trial",
                                "assessed_on", "enrolled_on", "measures", "measures.Berg", "measures.Berg.trial",
                                "measures.Berg.measure", "measures.Berg.repeated", "measures.TUG (s)",
                                "defaults", "defaults.arm", "defaults.week", "values", "values.sex", "keep",
                                "dates", "decimal", "sheet", "header_row", "synthetic", "plan", "foo"])
SHEET = scratch() / "clients.csv"
SHEET.write_text("Client,Week,Programme,Age,Sex,Diagnosis,Berg,TUG (s),Visit date,Start date\n"
                 "K-1,0,backward,80,female,older_adult,40,14.2,2026-01-05,2026-01-05\n"
                 "K-1,4,backward,80,female,older_adult,44,12.5,2026-02-02,2026-01-05\n"
                 "K-2,0,forward,70,male,stroke,38,16.1,2026-01-06,2026-01-06\n", encoding="utf-8")
BASE_MAPPING = {"participant_id": "Client", "week": "Week", "arm": "Programme", "age_years": "Age", "sex": "Sex",
                "condition": "Diagnosis", "measures": {"Berg": "berg", "TUG (s)": "tug"}}
MAPPING_VALUES = st.one_of(TOML_VALUES, st.sampled_from(["Client", "Week", "Berg", "auto", "backward", "berg",
                                                         "day-first", ",", "trials", "Visit date"]))


@st.composite
def mappings(draw) -> dict:
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE_MAPPING.items()}
    for key, value in draw(st.lists(st.tuples(MAPPING_KEYS, MAPPING_VALUES), max_size=4)):
        raw = merge(raw, nest(key, value)) if draw(st.booleans()) else raw
        if draw(st.integers(0, 5)) == 0 and key.split(".")[0] in raw:
            raw.pop(key.split(".")[0])
    return raw


@examples(600)
@given(raw=mappings())
def test_fuzz_mapping_types(raw):
    try:
        parse_mapping(raw, "mapping.toml")
    except StudyReadError as exc:
        assert exc.to_records() and all(r["message"] for r in exc.to_records())
        record("mapping types", exc)
        return
    record("mapping types", "valid")


@examples(15)
@given(raw=mappings())
def test_fuzz_mapping_types_import(raw):
    try:
        study = import_wide(SHEET, raw)
    except ALLOWED as exc:
        record("mapping types", exc)
        return
    record("mapping types", "Study")
    assert len(study.participants) == 2


# --- Parquet dtypes --------------------------------------------------------------------------------

N_SESS = len(SESS)
ARROW_COLUMNS = st.sampled_from([
    lambda: pa.array(np.arange(N_SESS, dtype="int8")),
    lambda: pa.array(np.linspace(0, 300, N_SESS).astype("float16")),
    lambda: pa.array([True, False] * (N_SESS // 2) + [True] * (N_SESS % 2)),
    lambda: pa.array(["backward"] * N_SESS).dictionary_encode(),
    lambda: pa.array([[1, 2]] * N_SESS),
    lambda: pa.array([{"a": 1}] * N_SESS),
    lambda: pa.array([b"\xff\x00"] * N_SESS, pa.binary()),
    lambda: pa.array([dt.timedelta(minutes=15)] * N_SESS),
    lambda: pa.array([dt.time(10, 30)] * N_SESS),
    lambda: pa.array([6_600_000] * N_SESS, pa.int32()).cast(pa.date32()),
    lambda: pa.array([-800_000] * N_SESS, pa.int32()).cast(pa.date32()),
    lambda: pa.array([dt.datetime(2026, 1, 5, 23, 30)] * N_SESS).cast(pa.timestamp("us", tz="Pacific/Auckland")),
    lambda: pa.array([10**15] * N_SESS, pa.int64()).cast(pa.timestamp("s")),
    lambda: pa.nulls(N_SESS),
    lambda: pa.array([__import__("decimal").Decimal("15.5")] * N_SESS),
    lambda: pa.array([2**63 - 1] * N_SESS, pa.uint64()),
    lambda: pa.array([float("nan"), float("inf")] * (N_SESS // 2) + [1.0] * (N_SESS % 2)),
])


@st.composite
def parquet_tables(draw) -> pa.Table:
    table = pa.Table.from_pandas(SESS, preserve_index=False)
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(list(SESS.columns) + ["extra"]))
        col = draw(ARROW_COLUMNS)()
        if name in table.column_names:
            table = table.set_column(table.schema.get_field_index(name), name, col)
        else:
            table = table.append_column(name, col)
    return table


@examples(150)
@given(table=parquet_tables())
def test_fuzz_parquet_dtypes_readers(table):
    path = scratch() / "sessions.parquet"
    pq.write_table(table, path)
    check_read_and_coerce("parquet dtypes", path, "sessions")


@examples(10)
@given(table=parquet_tables())
def test_fuzz_parquet_dtypes_load_study(table):
    folder = write_folder({"participants": PARTS, "assessments": ASSESS})
    pq.write_table(table, folder / "sessions.parquet")
    check_load("parquet dtypes", folder, len(ASSESS))


# --- XLSX cells ------------------------------------------------------------------------------------

XLSX_CELLS = st.one_of(CELLS.filter(lambda s: "\x00" not in s and not any(ord(c) < 32 and c not in "\t\n\r" for c in s)),
                       st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                       st.booleans(), st.datetimes(min_value=dt.datetime(1900, 3, 1)),
                       st.dates(min_value=dt.date(1900, 3, 1)), st.times(), st.sampled_from(["#DIV/0!", "#N/A"]))


@examples(100)
@given(cells=st.lists(st.tuples(st.integers(0, len(ASSESS) - 1), st.integers(0, ASSESS.shape[1] - 1), XLSX_CELLS),
                      max_size=6))
def test_fuzz_xlsx_cells(cells):
    import openpyxl

    folder = write_folder({"participants": PARTS, "sessions": SESS})
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(ASSESS.columns))
    for rec in ASSESS.itertuples(index=False):
        sheet.append(list(rec))
    for r, c, value in cells:
        sheet.cell(r + 2, c + 1).value = value
    book.save(folder / "assessments.xlsx")
    check_read_and_coerce("xlsx cells", folder / "assessments.xlsx", "assessments")
    if cells and cells[0][0] == 0 and cells[0][1] < 4:  # a share (about 1 in 8) goes through the whole load
        check_load("xlsx cells", folder, None)


# --- force-plate bytes ---------------------------------------------------------------------------------

FORCE_PLATE = ("Time[s]\tCOPx[mm]\tCOPy[mm]\n" + "".join(f"{i / 50:.2f}\t{i % 3}\t{i % 5}\n"
                                                        for i in range(60))).encode()


@examples(150)
@given(data=mutated_bytes(FORCE_PLATE))
def test_fuzz_force_plate_bytes(data):
    path = scratch() / "trial.txt"
    path.write_bytes(data)
    try:
        cop = read_force_plate(path)
    except ForcePlateError as exc:
        assert "trial.txt" in str(exc)
        record("force plate", exc)
        return
    record("force plate", "read")
    assert np.isfinite(cop[["cop_x", "cop_y"]].to_numpy()).all()
