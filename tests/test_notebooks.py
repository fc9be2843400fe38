"""The notebooks (stored clean, run top to bottom in a fresh kernel, no
unexplained warnings), their runner, and the helpers of
backwalk_study.notebooks checked against scipy and statsmodels."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import backwalk_study as bws
from backwalk_study.interfaces import notebooks as bwn
from backwalk_study.workflows import claims
from backwalk_study.workflows.balance import balance_person_table
from backwalk_study.workflows.practice import practice_features

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
BDS_FILE = ROOT.parent / "shared" / "data" / "bds" / "BDSinfoCOP.txt"
EXPECTED = [
    "01-the-data", "02-forward-vs-backward", "03-trial-effects", "04-dose-response", "05-client-report",
    "06-the-claims", "07-real-balance-data", "08-planning-a-trial", "09-evidence",
]
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]

# Warnings a notebook may print because its markdown explains them (04: singular mixed-model fits).
EXPLAINED_WARNINGS = {"04-dose-response": ("ModelFitWarning",), "08-planning-a-trial": ("ModelFitWarning",)}


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _parameters_cell(nb):
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return cells[0] if len(cells) == 1 else None


def _execute(path: Path, tmp_path: Path, parameters: dict | None = None):
    """Run a temporary copy with papermill, kernel cwd = notebooks/; return the executed notebook."""
    import papermill
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.fail("Jupyter kernel 'python3' missing: run `.venv/bin/python -m ipykernel install "
                    "--sys-prefix --name python3` (make test does)")
    copy = tmp_path / path.name
    shutil.copyfile(path, copy)
    out = tmp_path / f"executed-{path.name}"
    # the runner's start-up retry: two kernels starting at once under `pytest -n 2` can collide on ports
    bwn._execute_with_retry(papermill, copy, out, parameters or {}, "python3", NOTEBOOK_DIR, 600)
    return _read(out)


def _streams(nb, name: str) -> str:
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.output_type == "stream" and o.name == name)


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []))


# --------------------------------------------------------------------------
# The stored notebooks
# --------------------------------------------------------------------------
def test_the_notebooks_are_there():
    assert IDS == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_without_outputs(path):
    nb = _read(path)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells, 1) if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; clear them before committing"
    assert "papermill" not in nb.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_opens_with_who_it_is_for(path):
    first = _read(path).cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith("# ")
    assert "**Who this is for:**" in first.source and "**What it shows:**" in first.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_says_whether_the_data_are_synthetic(path):
    first = _read(path).cells[0].source
    if path.stem.startswith("07"):
        assert "real" in first and "CC BY 4.0" in first
    elif path.stem.startswith("09"):  # published results, each with its source
        assert "**The data here are real and published.**" in first and "data/evidence/" in first
    else:
        assert "**The example data are synthetic.**" in first and "not observations of real people" in first


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_has_a_parameters_cell(path):
    cell = _parameters_cell(_read(path))
    assert cell is not None, f"{path.name}: exactly one cell must be tagged 'parameters'"
    names = {}
    exec(cell.source, {}, names)  # plain assignments only
    if path.stem.startswith("09"):
        assert names == {"evidence_path": "../data/evidence/backward_walking.csv"}
        assert (NOTEBOOK_DIR / names["evidence_path"]).is_file()
        return
    assert names["data_path"] == "../data/example"
    if path.stem.startswith("05"):
        assert names["participant_id"] == "P003"
    if path.stem.startswith("07"):
        assert names["bds_path"] == "../../shared/data/bds/BDSinfoCOP.txt"
        assert names["mapping_path"] == "../data/mappings/santos_duarte_2016.toml"
        assert (NOTEBOOK_DIR / names["mapping_path"]).is_file()


def test_client_of_notebook_05_is_in_the_backward_arm(example_study):
    assert example_study.participant("P003")["arm"] == "backward"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_runs_top_to_bottom_in_a_fresh_kernel(path, tmp_path):
    before = path.read_bytes()
    nb = _execute(path, tmp_path)
    assert path.read_bytes() == before, "the stored notebook was modified"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    stderr = _streams(nb, "stderr")
    allowed = EXPLAINED_WARNINGS.get(path.stem, ())
    unexplained = [line for line in stderr.splitlines()
                   if "Warning" in line and not any(w in line for w in allowed)]
    assert not unexplained, f"{path.name} prints warnings its text does not explain: {unexplained}"
    if not path.stem.startswith("07") or BDS_FILE.is_file():
        assert _images(nb) >= 1, f"{path.name} draws no figure"


def test_05_for_a_client_without_sessions(tmp_path, example_study):
    arms = example_study.participants.set_index("participant_id")["arm"]
    client = sorted(arms[arms == example_study.config.reference_arm].index)[0]
    nb = _execute(NOTEBOOK_DIR / "05-client-report.ipynb", tmp_path, {"participant_id": client})
    out = _streams(nb, "stdout")
    assert f"No walking session is logged for client {client}" in out
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]


def test_run_notebooks_html_is_identical_on_re_runs(tmp_path):
    # 01 draws a jittered strip plot and names a temporary folder
    first = bwn.run_notebooks(tmp_path / "a", NOTEBOOK_DIR, notebooks=["01-the-data"])
    second = bwn.run_notebooks(tmp_path / "b", NOTEBOOK_DIR, notebooks=["01-the-data.ipynb"])
    assert first[0].read_bytes() == second[0].read_bytes()
    assert "SYNTHETIC DATA" in first[0].read_text(encoding="utf-8")


def test_07_with_the_real_data(tmp_path):
    if not BDS_FILE.is_file():
        pytest.skip(f"the public balance data set is not at {BDS_FILE}")
    nb = _execute(NOTEBOOK_DIR / "07-real-balance-data.ipynb", tmp_path, {"bds_path": str(BDS_FILE)})
    out = _streams(nb, "stdout")
    assert "reading" in out and "synthetic: False" in out
    raw = BDS_FILE.parent / "raw"
    has_raw = raw.is_dir() and any(raw.glob("BDS*.txt"))
    assert _images(nb) == (4 if has_raw else 3)
    if has_raw:
        assert "largest relative difference from the published COPvelo" in out


def test_07_stops_cleanly_without_the_data(tmp_path):
    missing = tmp_path / "nowhere" / "BDSinfoCOP.txt"
    nb = _execute(NOTEBOOK_DIR / "07-real-balance-data.ipynb", tmp_path, {"bds_path": str(missing)})
    out = _streams(nb, "stdout")
    assert "was not found" in out and "10.13026/C2WW2W" in out and "10.6084/m9.figshare.3394432" in out
    assert _images(nb) == 0
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]


# --------------------------------------------------------------------------
# The runner
# --------------------------------------------------------------------------
def _tiny_notebooks(folder: Path, fail: bool = False) -> Path:
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    folder.mkdir()
    params = new_code_cell('greeting = "hello"')
    params.metadata["tags"] = ["parameters"]
    cells = [new_markdown_cell("# Tiny\n\n**Who this is for:** tests."), params,
             new_code_cell("import time\nprint(greeting, time.time() > 0)"),
             new_code_cell("import warnings\nwarnings.warn('careful')")]
    if fail:
        cells.append(new_code_cell("raise ValueError('broken on purpose')"))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "01-tiny.ipynb")
    return folder


def test_run_notebooks_writes_deterministic_html_and_leaves_notebooks_alone(tmp_path):
    src = _tiny_notebooks(tmp_path / "nb")
    before = (src / "01-tiny.ipynb").read_bytes()
    first = bwn.run_notebooks(tmp_path / "out1", src, parameters={"greeting": "bonjour", "unused": 1})
    second = bwn.run_notebooks(tmp_path / "out2", src, parameters={"01-tiny": {"greeting": "bonjour"}})
    assert [p.name for p in first] == ["01-tiny.html"]
    html = first[0].read_text(encoding="utf-8")
    assert "bonjour True" in html and "papermill" not in html and "iopub" not in html
    assert "&lt;cell&gt;:2: UserWarning: careful" in html and "ipykernel_" not in html
    assert first[0].read_bytes() == second[0].read_bytes()
    assert (src / "01-tiny.ipynb").read_bytes() == before
    assert sorted(p.name for p in src.iterdir()) == ["01-tiny.ipynb"]


def test_run_notebooks_names_the_notebook_and_cell_that_failed(tmp_path):
    src = _tiny_notebooks(tmp_path / "nb", fail=True)
    with pytest.raises(bwn.NotebookError, match=r"01-tiny\.ipynb failed at cell 5 \(raise ValueError\('broken on purpose'\)\): "
                       r"ValueError: broken on purpose"):
        bwn.run_notebooks(tmp_path / "out", src)


def test_run_notebooks_can_warn_and_go_on(tmp_path):
    src = _tiny_notebooks(tmp_path / "nb", fail=True)
    shutil.copyfile(_tiny_notebooks(tmp_path / "ok") / "01-tiny.ipynb", src / "02-fine.ipynb")
    with pytest.warns(bwn.NotebookWarning, match=r"01-tiny\.ipynb failed at cell 5"):
        written = bwn.run_notebooks(tmp_path / "out", src, errors="warn")
    assert [p.name for p in written] == ["01-tiny.html", "02-fine.html"]
    assert "broken on purpose" in written[0].read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="errors must be"):
        bwn.run_notebooks(tmp_path / "out", src, errors="ignore")


def test_run_notebooks_input_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no notebooks"):
        bwn.run_notebooks(tmp_path / "out", tmp_path / "empty")
    src = _tiny_notebooks(tmp_path / "nb")
    with pytest.raises(FileNotFoundError, match="no notebook 09-missing.ipynb"):
        bwn.run_notebooks(tmp_path / "out", src, notebooks=["09-missing"])
    with pytest.raises(RuntimeError, match="ipykernel install"):
        bwn.run_notebooks(tmp_path / "out", src, kernel="no-such-kernel-here")


def test_parameters_for_one_notebook():
    given = {"data_path": "/study", "participant_id": "P1", "05-client-report": {"participant_id": "P9"}}
    assert bwn._parameters_for("01-the-data", ["data_path"], given) == {"data_path": "/study"}
    assert bwn._parameters_for("05-client-report", ["data_path", "participant_id"], given) == \
        {"data_path": "/study", "participant_id": "P9"}
    with pytest.raises(ValueError, match="must be a dict"):
        bwn._parameters_for("01-the-data", [], {"01-the-data": 3})


# --------------------------------------------------------------------------
# compare_groups against scipy and statsmodels
# --------------------------------------------------------------------------
def _groups_data(seed: int, n1: int, n2: int, ties: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(10, 2, n1)
    b = rng.lognormal(2.4, 0.3, n2)
    if ties:
        a, b = np.round(a), np.round(b)
    return pd.DataFrame({"group": ["a"] * n1 + ["b"] * n2, "value": np.r_[a, b]})


@pytest.mark.parametrize("seed,n1,n2,ties", [(1, 12, 17, False), (2, 40, 25, True)])
def test_compare_groups_against_scipy_and_statsmodels(seed, n1, n2, ties):
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    data = _groups_data(seed, n1, n2, ties)
    res = bws.compare_groups(data, "value", "group", first="a", second="b").iloc[0]
    a = data.loc[data.group == "a", "value"].to_numpy()
    b = data.loc[data.group == "b", "value"].to_numpy()
    welch = stats.ttest_ind(b, a, equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert res["t"] == pytest.approx(welch.statistic, rel=1e-10)
    assert res["p_val"] == pytest.approx(welch.pvalue, rel=1e-8)
    assert res["dof"] == pytest.approx(welch.df, rel=1e-10)
    assert (res["ci_low"], res["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-8)
    cm = CompareMeans(DescrStatsW(b), DescrStatsW(a))
    assert (res["ci_low"], res["ci_high"]) == pytest.approx(cm.tconfint_diff(usevar="unequal"), rel=1e-8)
    # Hedges' g written out independently (Hedges & Olkin 1985)
    sp = math.sqrt(((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / (n1 + n2 - 2))
    d = (b.mean() - a.mean()) / sp
    j = 1 - 3 / (4 * (n1 + n2) - 9)
    se = math.sqrt(1 / n1 + 1 / n2 + d ** 2 / (2 * (n1 + n2)))
    assert res["hedges_g"] == pytest.approx(d * j, rel=1e-10)
    assert res["hedges_g_ci_low"] == pytest.approx((d - 1.959963984540054 * se) * j, rel=1e-8)
    # Mann-Whitney U by counting pairs, p by the normal approximation with tie and continuity corrections
    u = sum((x > y) + 0.5 * (x == y) for x in b for y in a)
    assert res["mwu_u"] == pytest.approx(u)
    assert res["rank_biserial"] == pytest.approx(2 * u / (n1 * n2) - 1)
    if ties:
        ranks = stats.rankdata(np.r_[a, b])
        _, counts = np.unique(np.r_[a, b], return_counts=True)
        n = n1 + n2
        sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - (counts ** 3 - counts).sum() / (n * (n - 1))))
        z = (abs(u - n1 * n2 / 2) - 0.5) / sigma
        assert res["mwu_p_val"] == pytest.approx(2 * stats.norm.sf(z), rel=1e-8)
        assert ranks.size == n


def test_compare_groups_averages_per_participant_and_checks_input():
    data = pd.DataFrame({"pid": ["p1", "p1", "p2", "p3", "p3", "p4", "p5"],
                         "grp": ["x", "x", "x", "y", "y", "y", "y"],
                         "v": [1.0, 3.0, 2.5, 4.0, 6.0, 5.5, 4.5]})
    res = bws.compare_groups(data, "v", "grp", subject="pid").iloc[0]
    assert (res["n_first"], res["n_second"]) == (2, 3)
    assert res["mean_first"] == pytest.approx(2.25)
    with pytest.raises(ValueError, match="no dv column 'nope'"):
        bws.compare_groups(data, "nope", "grp")
    with pytest.raises(ValueError, match="first group 'z' is not in 'grp'"):
        bws.compare_groups(data, "v", "grp", first="z", second="x")
    with pytest.raises(ValueError, match="are in both groups"):
        bws.compare_groups(data.assign(grp=["x", "y", "x", "y", "y", "y", "x"]), "v", "grp", subject="pid")
    three = data.assign(grp=["x", "x", "y", "y", "z", "z", "z"])
    with pytest.raises(ValueError, match="has 3 groups"):
        bws.compare_groups(three, "v", "grp")
    with pytest.raises(ValueError, match="at least 2 are needed"):
        bws.compare_groups(data[data.pid.isin(["p1", "p3", "p4"])], "v", "grp", subject="pid")


# --------------------------------------------------------------------------
# correlate against scipy
# --------------------------------------------------------------------------
@pytest.mark.parametrize("seed,n", [(3, 15), (4, 80)])
def test_correlate_against_scipy(seed, n):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    data = pd.DataFrame({"x": x, "y": 0.5 * x + rng.normal(size=n)})
    pear = bws.correlate(data, "x", "y", method="pearson").iloc[0]
    ref = stats.pearsonr(data.x, data.y)
    ci = ref.confidence_interval(0.95)
    assert pear["r"] == pytest.approx(ref.statistic, rel=1e-10)
    assert pear["p_val"] == pytest.approx(ref.pvalue, rel=1e-8)
    assert (pear["ci_low"], pear["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-8)
    spear = bws.correlate(data, "x", "y").iloc[0]
    sref = stats.spearmanr(data.x, data.y)
    assert spear["r"] == pytest.approx(sref.statistic, rel=1e-10)
    assert spear["p_val"] == pytest.approx(sref.pvalue, rel=1e-8)
    r = sref.statistic
    se = math.sqrt((1 + r ** 2 / 2) / (n - 3))  # Bonett & Wright (2000)
    assert spear["ci_low"] == pytest.approx(math.tanh(math.atanh(r) - 1.959963984540054 * se), rel=1e-8)


def test_correlate_checks_input():
    data = pd.DataFrame({"x": [1, 2, 3, 4, 5], "y": [2, 2, 2, 2, 2], "z": [1, 3, 2, 5, 4]})
    with pytest.raises(ValueError, match="'y' does not vary"):
        bws.correlate(data, "x", "y")
    with pytest.raises(ValueError, match="method must be"):
        bws.correlate(data, "x", "z", method="kendall")
    with pytest.raises(ValueError, match="at least 4"):
        bws.correlate(data.head(3), "x", "z")


# --------------------------------------------------------------------------
# Claims and practice
# --------------------------------------------------------------------------
def test_claims_cover_the_issue_list():
    keys = [c.key for c in claims.CLAIMS]
    assert keys == ["balance", "coordination", "strength", "joints", "posture", "core", "brain_body",
                    "efficiency", "effort", "flexibility", "safety", "function", "short_regular", "consistency"]
    from backwalk_study import default_catalogue

    cat = default_catalogue()
    for c in claims.CLAIMS:
        assert all(k in cat for k in c.measures), c.key
        assert c.analysis in {"arms", "directions", "safety", "dose"}


def test_claims_table_on_the_example(example_study):
    table = claims.claims_table(example_study)
    assert list(table.columns) == ["claim", "benefit", "measures", "analysis", "caveat", "measures_missing",
                                   "n_tests", "n_favourable", "result"]
    assert len(table) == len(claims.CLAIMS)
    assert (table["n_tests"] > 0).all()
    assert (table["n_favourable"] <= table["n_tests"]).all()


def test_claim_results_rows_come_from_the_package(example_study):
    from backwalk_study import compare_all, compare_directions, safety

    comparisons = compare_all(example_study, direction="both")
    bal = claims.claim_results(example_study, "balance", comparisons=comparisons)
    assert list(bal.columns) == claims.CLAIM_RESULTS_COLUMNS
    ref = comparisons[(comparisons.measure == "berg") & (comparisons.arm == "backward")].iloc[0]
    row = bal[bal.measure == "berg"].iloc[0]
    assert row["estimate"] == ref["estimate"] and row["p_holm"] == ref["p_holm"]
    assert row["favourable"] == (bool(ref["improved"]) and ref["p_holm"] < 0.05)
    tug = bal[bal.measure == "tug"].iloc[0]
    assert tug["estimate"] < 0  # lower is better: favourable may hold with a negative estimate
    effort = claims.claim_results(example_study, "effort")
    hr = compare_directions(example_study.long("heart_rate"), measure="heart_rate", week=0).iloc[0]
    assert effort.set_index("measure").loc["heart_rate", "estimate"] == pytest.approx(hr["estimate"])
    safe = claims.claim_results(example_study, "safety")
    ref_any = safety(example_study, reference="forward")
    ref_any = ref_any[(ref_any.arm == "backward") & (ref_any.event == "any")].iloc[0]
    got = safe[safe.term.str.startswith("any:")].iloc[0]
    assert got["estimate"] == pytest.approx(ref_any["rate_ratio"])
    assert got["favourable"] == (ref_any["p_val"] < 0.05 and ref_any["rate_ratio"] < 1)
    with pytest.raises(ValueError, match="unknown claim 'telepathy'"):
        claims.claim_results(example_study, "telepathy")


def test_dose_claim_matches_a_direct_fit(example_study):
    from backwalk_study import dose_response

    res = claims.claim_results(example_study, "short_regular")
    feats = practice_features(example_study, arm="backward")
    visits = example_study.long("six_minute_walk").groupby(["participant_id", "week"], as_index=False)["value"].mean()
    data = visits.merge(feats, on=["participant_id", "week"])
    for col in ("sessions_per_week", "minutes_per_session"):
        data[f"z_{col}"] = (data[col] - data[col].mean()) / data[col].std()
    import warnings

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        fit = dose_response(data, "value", subject="participant_id", time="week",
                            covariates=["z_sessions_per_week", "z_minutes_per_session"])
    expected = fit.fixed.set_index("term").loc["z_sessions_per_week", "estimate"]
    assert res.iloc[0]["estimate"] == pytest.approx(expected, rel=1e-10)


def test_practice_features_by_hand(example_study):
    feats = practice_features(example_study, arm="backward")
    pid = feats["participant_id"].iloc[0]
    s = example_study.sessions
    s = s[(s.participant_id == pid) & (s.week <= 6)]
    row = feats[(feats.participant_id == pid) & (feats.week == 6)].iloc[0]
    assert row["sessions_per_week"] == pytest.approx(len(s) / 6)
    assert row["minutes_per_session"] == pytest.approx(s["minutes"].mean())
    assert row["mean_speed_m_s"] == pytest.approx(s["speed_m_s"].mean())
    assert row["mean_distance_m"] == pytest.approx(s["distance_m"].mean())
    assert set(feats["arm"]) == {"backward"} and feats["week"].min() == 1
    with pytest.raises(ValueError, match="arm 'sideways' is not in this study"):
        practice_features(example_study, arm="sideways")


def test_balance_person_table(bds_dir):
    from backwalk_study import import_wide

    study = import_wide(bds_dir / "BDSinfoCOP.txt", ROOT / "data" / "mappings" / "santos_duarte_2016.toml")
    people = balance_person_table(study)
    assert people["participant_id"].nunique() == 163
    assert people.groupby("participant_id").size().max() == 4
    raw = pd.read_csv(bds_dir / "BDSinfoCOP.txt", sep="\t")
    one = raw[(raw.Subject == 1) & (raw.Vision == "Closed") & (raw.Surface == "Foam")]
    row = people[(people.participant_id == "1") & (people.vision == "Closed") & (people.surface == "Foam")].iloc[0]
    assert row["cop_velocity"] == pytest.approx(one["COPvelo"].mean(), rel=1e-9)
    assert row["n_trials"] == len(one)
    assert row["mini_bestest"] == one["Best_T"].iloc[0]
    assert row["faller"] == (one["Falls12m"].iloc[0] >= 1)
    with pytest.raises(ValueError, match="no column 'posture'"):
        balance_person_table(study, by=("posture",))


def test_stream_chunks_split_by_a_busy_kernel_are_joined():
    # a loaded machine flushed one cell's printing in two messages, and the two HTML runs differed
    from backwalk_study.interfaces.notebooks import _coalesce_streams

    outputs = [{"output_type": "stream", "name": "stdout", "text": "a\n"},
               {"output_type": "stream", "name": "stdout", "text": "b\n"},
               {"output_type": "stream", "name": "stderr", "text": "w\n"},
               {"output_type": "display_data", "data": {}},
               {"output_type": "stream", "name": "stdout", "text": "c\n"}]
    joined = _coalesce_streams(outputs)
    assert [o.get("text") for o in joined] == ["a\nb\n", "w\n", None, "c\n"]
