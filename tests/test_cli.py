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


def test_main_job_reruns_are_byte_identical_in_another_folder(tmp_path, monkeypatch):
    """A re-run, on a copy of the study in another folder (as a second clone
    would be), writes the same bytes: no absolute path, no timestamp."""
    import shutil

    from backwalk_study.outputs.bundle import run_main_job

    first = run_main_job("data/example", tmp_path / "a")
    clone = tmp_path / "elsewhere" / "clone"
    shutil.copytree(ROOT / "data" / "example", clone / "data" / "example")
    monkeypatch.chdir(clone)
    run_main_job("data/example", "results")
    a, b = _tree_digest(tmp_path / "a"), _tree_digest(clone / "results")
    assert a == b and len(a) == len(first)
    assert {"comparisons/arms_ancova_all_measures.csv", "dose_response/weeks_fixed_effects.csv",
            "dose_response/diagnostics.csv", "reports/cohort.html"} <= set(a)


# --- one error handler, one exit-code table (issue 11) ---------------------------------------------

def test_every_command_shares_one_exit_code_table():
    from backwalk_study.interfaces import cli

    assert sorted(cli.EXIT_CODES) == [0, 1, 2, 3]
    assert "Exit codes: 0 ok, 1 invalid data, 2 unreadable input or bad arguments, 3 internal error" in \
        cli.build_parser().epilog


@pytest.mark.parametrize("command", [["validate"], ["run", "--no-notebooks"], ["report"],
                                     ["import", "--mapping", "data/example_clinic/mapping.toml", "-o", "x"]])
def test_unreadable_input_exits_2_for_every_command(command, tmp_path, capsys):
    code = main([command[0], str(tmp_path / "nowhere"), *command[1:]])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"backwalk {command[0]}: ")


def test_invalid_data_print_the_problem_table_for_every_command(study_copy, tmp_path, capsys):
    inject_faults(study_copy)
    for argv, not_done in ((["validate", study_copy], "nothing was changed"),
                           (["run", study_copy, "-o", tmp_path / "out", "--no-notebooks"], "nothing was written"),
                           (["report", study_copy, "-o", tmp_path / "c.html"], "no report was written")):
        code = main(list(map(str, argv)))
        out, err = capsys.readouterr()
        assert code == 1, err
        assert not_done in out and "what is wrong" in out and "P777" in out
    assert not (tmp_path / "out").exists() and not (tmp_path / "c.html").exists()


def test_an_unknown_participant_is_a_bad_argument(capsys, tmp_path):
    code = main(["report", "data/example", "-p", "P999", "-o", str(tmp_path / "r.html")])
    out, err = capsys.readouterr()
    assert code == 2 and "'P999' is not in this study" in err and not (tmp_path / "r.html").exists()


def test_internal_errors_exit_3_with_one_line(monkeypatch, capsys):
    from backwalk_study.data import measures

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(measures, "measure_catalogue", broken)
    code = main(["catalogue"])
    out, err = capsys.readouterr()
    assert code == 3 and "internal error (ZeroDivisionError: boom)" in err and "Traceback" not in err


def test_a_closed_pipe_ends_quietly(study_copy):
    """`backwalk validate --json | head -1`: no 'internal error', no traceback."""
    inject_faults(study_copy)
    for args, code in ((["validate", "--json", str(study_copy)], 1), (["catalogue", "--json"], 0)):
        proc = subprocess.run(f"{sys.executable} -m backwalk_study.interfaces.cli {' '.join(args)} | head -1; "
                              "echo \"exit=${PIPESTATUS[0]}\"", shell=True, executable="/bin/bash",
                              capture_output=True, text=True, cwd=ROOT)
        assert proc.stdout.splitlines()[0] in ("[", "[]")
        assert proc.stdout.splitlines()[-1] == f"exit={code}"
        assert proc.stderr == "", proc.stderr


def test_control_characters_from_the_data_are_shown_escaped(study_copy):
    a = read_csv(study_copy / "assessments.csv")
    a.loc[3, "participant_id"] = "P777\x1b[2J\x1b[31mRED\u202e"   # clear screen, colour, right-to-left override
    write_csv(a, study_copy / "assessments.csv")
    proc = run("validate", study_copy)
    assert proc.returncode == 1
    assert "\x1b" not in proc.stdout + proc.stderr and "\u202e" not in proc.stdout + proc.stderr
    assert "\\x1b[2J" in proc.stdout and "\\u202e" in proc.stdout


def test_printable_escapes_only_what_a_terminal_would_obey():
    from backwalk_study.data.terminal import printable

    assert printable("Müller, 5 cm²") == "Müller, 5 cm²"
    assert printable("a\tb\x07\n") == "a\\tb\\x07\\n"


class _ClosedPipe:
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("argv, code", [(["catalogue", "--json"], 0), (["validate", "--json", None], 1)])
def test_a_closed_pipe_in_process(argv, code, study_copy, monkeypatch, capsys):
    inject_faults(study_copy)
    argv = [str(study_copy) if a is None else a for a in argv]
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(argv) == code
    assert capsys.readouterr().err == ""
