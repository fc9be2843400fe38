"""The `backwalk` command: exit codes, readable and JSON reports, no
tracebacks, and input files left byte-identical."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from backwalk_study.interfaces.cli import main

from conftest import ROOT, digest, read_csv, write_csv


def run(*args):
    proc = subprocess.run([sys.executable, "-m", "backwalk_study.interfaces.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT)
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc


def inject_faults(folder):
    """The six faults of the foundation issue; returns where each should be reported."""
    a = read_csv(folder / "assessments.csv")
    a.loc[3, "participant_id"] = "P777"                       # orphan participant, row 5
    a = pd.concat([a.iloc[:10], a.iloc[[8]], a.iloc[10:]], ignore_index=True)  # duplicate of row 10 at row 12
    berg = a.index[a["measure"] == "berg"][2]
    a.loc[berg, "value"] = "80"                                # out of range
    a.loc[20, "measure"] = "balance_magic"                     # unknown measure, row 22
    a.loc[30, "value"] = "n/a - refused"                       # text in a number column, row 32
    write_csv(a, folder / "assessments.csv")
    s = read_csv(folder / "sessions.csv").drop(columns=["direction"])  # a missing column
    write_csv(s, folder / "sessions.csv")
    return [("assessments.csv", 5, "participant_id"), ("assessments.csv", 12, "measure"),
            ("assessments.csv", int(berg) + 2, "value"), ("assessments.csv", 22, "measure"),
            ("assessments.csv", 32, "value"), ("sessions.csv", None, "direction")]


def test_validate_valid_example_exits_0():
    proc = run("validate", "data/example")
    assert proc.returncode == 0 and "valid (synthetic data)" in proc.stdout


def test_validate_injected_faults(study_copy):
    expected = inject_faults(study_copy)
    before = digest(study_copy)
    proc = run("validate", study_copy, "--json")
    assert proc.returncode == 1
    problems = json.loads(proc.stdout)
    assert all({"file", "row", "column", "participant_id", "value", "message"} <= set(p) for p in problems)
    for file, row, column in expected:
        assert any(p["file"] == file and p["row"] == row and p["column"] == column for p in problems), \
            (file, row, column)
    assert digest(study_copy) == before

    text = run("validate", study_copy)
    assert text.returncode == 1
    for word in ("P777", "balance_magic", "n/a - refused", "no column 'direction'", "duplicates row 10",
                 "must be between 0 and 56"):
        assert word in text.stdout
    assert digest(study_copy) == before


def test_unreadable_input_exits_2(tmp_path):
    proc = run("validate", tmp_path / "nowhere")
    assert proc.returncode == 2 and "no such folder" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_arguments_exit_2():
    assert run("validate").returncode == 2
    assert run("frobnicate").returncode == 2


def test_wide_import_through_cli(tmp_path):
    proc = run("validate", "data/example_clinic/clients.csv", "--mapping", "data/example_clinic/mapping.toml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "converted from in to cm" in proc.stdout
    out = tmp_path / "clinic_study"
    assert run("import", "data/example_clinic/clients.csv", "--mapping", "data/example_clinic/mapping.toml",
               "-o", out).returncode == 0
    assert run("validate", out).returncode == 0


def test_bad_mapping_exits_2(tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text('participant_id = "Nope"\n[measures]\n"Berg" = "berg"\n')
    proc = run("validate", "data/example_clinic/clients.csv", "--mapping", mapping)
    assert proc.returncode == 2 and "no column 'Nope'" in proc.stderr


def test_main_returns_codes_in_process(capsys):
    assert main(["validate", "data/example"]) == 0
    assert main(["catalogue"]) == 0
    assert "mini_bestest" in capsys.readouterr().out


def test_simulate_command_is_byte_identical(tmp_path):
    assert run("simulate", tmp_path / "a").returncode == 0
    assert digest(tmp_path / "a") == digest(ROOT / "data" / "example")
    assert run("simulate", "--clinic", tmp_path / "c").returncode == 0
    assert digest(tmp_path / "c") == digest(ROOT / "data" / "example_clinic")


def test_run_writes_results(tmp_path):
    out = tmp_path / "results"
    proc = run("run", "data/example", "-o", out, "--no-notebooks")
    assert proc.returncode == 0, proc.stderr
    assert (out / "validation.txt").read_text().startswith("Study: Synthetic example")
    assert "SYNTHETIC" in (out / "validation.txt").read_text()
    summary = pd.read_csv(out / "study_summary.csv")
    assert summary["participants"].sum() == 90


def _tree_digest(folder):
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_main_job_reruns_are_byte_identical(tmp_path):
    from backwalk_study.outputs.bundle import run_main_job

    first = run_main_job("data/example", tmp_path / "a", notebooks=False)
    run_main_job("data/example", tmp_path / "b", notebooks=False)
    a, b = _tree_digest(tmp_path / "a"), _tree_digest(tmp_path / "b")
    assert a == b and len(a) == len(first)
    assert {"comparisons/arms_ancova_all_measures.csv", "dose_response/weeks_fixed_effects.csv",
            "dose_response/diagnostics.csv", "reports/cohort.html"} <= set(a)
