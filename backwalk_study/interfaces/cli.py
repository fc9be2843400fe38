"""The ``backwalk`` command: the one place where errors become messages and
exit codes.

Exit codes (:data:`EXIT_CODES`), the same for every command: 0 success;
1 the data are invalid (every problem is listed); 2 the input cannot be read
or written, or the arguments are wrong; 3 an unexpected internal error (run
with ``--debug`` to see its traceback and report it). Text from the data is
printed with control characters escaped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..data.terminal import printable
from .arguments import UsageError, check_output

#: The exit codes of every command, in one table.
EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_CODES = {
    EXIT_OK: "success (the data are valid; the results were written)",
    EXIT_INVALID: "the data are invalid (every problem is listed) or an analysis cannot use them",
    EXIT_UNREADABLE: "the input cannot be read or written, or the arguments are wrong",
    EXIT_INTERNAL: "an unexpected internal error (run with --debug and report it)",
}

#: What was left undone when the data are invalid, per command.
_NOT_DONE = {"validate": "nothing was changed", "import": "no study folder was written",
             "run": "nothing was written; fix them and run again", "report": "no report was written",
             "meta": "nothing was written"}




def _load(args):
    """The study the command's ``path`` (and ``--mapping``) names."""
    from ..data.loading import open_study

    return open_study(args.path, getattr(args, "mapping", None))


def _one_line(exc: BaseException) -> str:
    # a bulleted line ("- ...") loses its bullet, not an option's dashes ("--workers")
    lines = [ln.strip()[2:].strip() if ln.strip().startswith("- ") else ln.strip()
             for ln in str(exc).splitlines() if ln.strip()]
    return printable("; ".join(lines).replace(":;", ":") or type(exc).__name__)


def _privacy_warnings(study) -> None:
    """Personal data found by the one privacy detector, as warnings on stderr."""
    from ..data.privacy import scan_study
    from ..outputs.report import privacy_lines

    for line in privacy_lines(scan_study(study)):
        print(f"warning: {printable(line)}", file=sys.stderr)


def cmd_validate(args) -> int:
    from .dask_client import validate_on_dask, wants_dask

    if wants_dask(args):
        return validate_on_dask(args)
    study = _load(args)
    _privacy_warnings(study)
    if args.json:
        print("[]")
    else:
        label = " (synthetic data)" if study.config.synthetic else ""
        print(f"{printable(args.path)}: valid{label}. {len(study.participants)} participants, "
              f"{len(study.sessions)} sessions, {len(study.assessments)} assessments of "
              f"{study.assessments['measure'].nunique()} measures.")
        for note in study.notes:
            print(f"note: {printable(note)}")
    return EXIT_OK


def cmd_simulate(args) -> int:
    from ..data.simulate import write_clinic_example, write_example

    if args.clinic:
        write_clinic_example(args.output, seed=args.seed)
        print(f"wrote a SYNTHETIC clinic spreadsheet, its mapping and session log to {args.output}")
        return EXIT_OK
    study = write_example(args.output, seed=args.seed, n_participants=args.participants)
    print(f"wrote a SYNTHETIC study to {args.output}: {study!r}")
    return EXIT_OK


def cmd_import(args) -> int:
    study = _load(args)
    _privacy_warnings(study)
    out = Path(args.output)
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} exists and is not empty; choose a new folder")
    # the study folder is an output like any report: IDs that look like names
    # become codes unless asked otherwise, or every ID with --pseudonymise
    study = _private(study, args, out.resolve())
    study.to_folder(out)
    print(f"wrote {printable(out)}: {printable(repr(study))}")
    for note in study.notes:
        print(f"note: {printable(note)}")
    return EXIT_OK


def cmd_mapping(args) -> int:
    from ..data.draft import draft_mapping

    sheet = Path(args.sheet)
    if not sheet.is_file():
        raise UsageError(f"{sheet}: no such spreadsheet")
    draft = draft_mapping(sheet)
    if args.output is None:
        print(draft.toml, end="")
        return EXIT_OK
    out = Path(args.output)
    if out.resolve() == sheet.resolve():
        raise UsageError(f"{out} is the spreadsheet itself; choose another file for the mapping")
    if out.exists() and not args.force:
        raise UsageError(f"{out} exists; choose a new name, or --force to replace it")
    out.write_text(draft.toml, encoding="utf-8")
    where = f"sheet {draft.sheet!r}, " if draft.sheet else ""
    print(f"wrote {printable(out)}: {printable(where)}header row {draft.header_row}; {len(draft.fields)} study "
          f"fields and {len(draft.measures)} measures placed, {len(draft.unplaced)} column(s) left for you "
          f"(commented). Check it, then: backwalk validate {printable(sheet)} --mapping {printable(out)}")
    return EXIT_OK


def cmd_catalogue(args) -> int:
    from ..data.measures import catalogue_records, format_catalogue

    if args.json:
        print(json.dumps(catalogue_records(), indent=2, ensure_ascii=False))
    else:
        print(format_catalogue())
    return EXIT_OK




def _private(study, args, report_folder: Path):
    """The study to report on under the privacy options: pseudonymised with
    --pseudonymise (key table apart from ``report_folder``), else IDs that
    look like names replaced by display codes unless --names-in-output."""
    from ..data.privacy import pseudonymise
    from ..outputs.report import code_names

    if args.pseudonymise:
        try:
            return pseudonymise(study, args.pseudonymise, key_file=args.key_file, outputs=[report_folder])
        except ValueError as exc:  # the key table or key file: a bad argument, not bad data
            raise UsageError(str(exc)) from None
    if args.key_file:
        raise UsageError("--key-file needs --pseudonymise KEYS.csv")
    return code_names(study, allow_names=args.names_in_output)


def _privacy_report(study) -> list[str]:
    from ..outputs.report import privacy_lines, privacy_warnings

    return privacy_lines(privacy_warnings(study))


def cmd_run(args) -> int:
    from ..outputs.bundle import write_results
    from .dask_client import run_on_dask, wants_dask

    if wants_dask(args):
        return run_on_dask(args)

    notes = check_output(args.output, args, kind="folder")
    study = _load(args)
    warnings_seen = _privacy_report(study)
    study = _private(study, args, Path(args.output).resolve())
    written = write_results(study, args.output, report_options={"show_flagged_text": args.show_flagged_text,
                                                                "allow_names": args.names_in_output})
    notebooks_dir = Path(__file__).resolve().parents[2] / "notebooks"
    if not args.no_notebooks and not args.mapping and notebooks_dir.is_dir():
        written += _run_notebooks(study, Path(args.path), Path(args.output), notebooks_dir)
    for line in warnings_seen + notes:
        print(f"warning: {printable(line)}", file=sys.stderr)
    for path in written:
        print(f"wrote {printable(path)}")
    return EXIT_OK


def cmd_plan(args) -> int:
    from ..outputs.plan_report import write_plan
    from ..workflows.planning import TrialDesign, plan_power, power_curve, sample_size

    design = TrialDesign.from_toml(args.design)  # unreadable: exit 2; a wrong value: exit 1 naming the field
    n_sims = args.simulations or design.n_simulations
    seed = design.seed if args.plan_seed is None else args.plan_seed
    from tqdm.auto import tqdm

    # one bar for every simulation of the plan (the search decides how many points)
    progress = tqdm(desc="simulated trials", unit="trial")
    table = plan_power(design, n_sims, seed, args.workers, progress)
    curve, size, visits = None, None, None
    if not args.no_curve:
        if design.search_n_per_arm:
            curve = power_curve(design, n_per_arm=design.search_n_per_arm, n_simulations=n_sims, seed=seed,
                                workers=args.workers, progress=progress)
        test = design.tests[0]
        size = sample_size(design, test, n_simulations=n_sims, seed=seed, workers=args.workers,
                           progress=progress)
        if curve is None:
            curve = size.curve
        if design.search_visit_weeks:
            visits = power_curve(design, visit_weeks=design.search_visit_weeks, n_simulations=n_sims, seed=seed,
                                 workers=args.workers, progress=progress)
    progress.close()
    for path in write_plan(design, table, args.output, curve, size, visits):
        print(f"wrote {path}")
    return EXIT_OK


def _run_notebooks(study, path: Path, out: Path, notebooks_dir: Path) -> list[Path]:
    """Execute the teaching notebooks on this study, written as HTML into
    ``out/notebooks`` (a source checkout only: installed packages have no
    notebooks)."""
    import os

    from ..outputs.report import example_participant
    from .notebooks import run_notebooks

    # relative to the notebooks' working folder, so no absolute path reaches the HTML
    parameters = {"data_path": Path(os.path.relpath(path.resolve(), notebooks_dir)).as_posix(),
                  "05-client-report": {"participant_id": example_participant(study)}}
    # the notebooks are written for a trial like the example; on another design a cell may fail: the
    # failed notebook is still written (showing the error) and a NotebookWarning is printed
    return run_notebooks(out / "notebooks", notebooks_dir, parameters=parameters, errors="warn")


def cmd_meta(args) -> int:
    from ..outputs.meta_report import write_meta_report

    written = write_meta_report(args.table, args.output, by=args.by, moderators=args.moderator,
                                method=args.method, test=args.test)
    for path in written:
        print(f"wrote {printable(path)}")
    return EXIT_OK


def cmd_report(args) -> int:
    from ..data.privacy import display_id
    from ..outputs.report import _file_id, write_client_report, write_cohort_report

    notes = check_output(args.output, args, kind="HTML page") if args.output else []
    study = _load(args)
    warnings_seen = _privacy_report(study)
    options = {"show_flagged_text": args.show_flagged_text, "allow_names": args.names_in_output}
    folder = Path(args.output).resolve().parent if args.output else Path.cwd()
    if args.participant is not None:
        try:
            study.participant(args.participant)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        pid = args.participant
        if args.pseudonymise:
            from ..data.privacy import _read_key_table

            study = _private(study, args, folder)
            pid = _read_key_table(Path(args.pseudonymise))[str(args.participant)]
        elif args.key_file:
            raise UsageError("--key-file needs --pseudonymise KEYS.csv")
        shown = display_id(study, pid, allow_names=args.names_in_output)
        out = Path(args.output) if args.output else Path.cwd() / f"report-{_file_id(shown)}.html"
        if not args.output:
            notes += check_output(out, args, kind="HTML page")
        written = write_client_report(study, pid, out, **options)
    else:
        if args.pseudonymise:
            study = _private(study, args, folder)
        out = Path(args.output) if args.output else Path.cwd() / "cohort.html"
        if not args.output:
            notes += check_output(out, args, kind="HTML page")
        written = write_cohort_report(study, out, **options)
    for line in warnings_seen + notes:
        print(f"warning: {printable(line)}", file=sys.stderr)
    label = " (SYNTHETIC data)" if study.config.synthetic else ""
    print(f"wrote {printable(written)}{label}")
    return EXIT_OK


def _add_privacy_arguments(parser) -> None:
    """The privacy options of ``backwalk report`` and ``backwalk run``."""
    g = parser.add_argument_group("privacy")
    g.add_argument("--pseudonymise", metavar="KEYS.csv",
                   help="replace participant IDs with stable codes and write the key table (ID, code) to KEYS.csv; "
                        "keep that file apart from the reports (it may not be inside the output). An existing key "
                        "table is reused, so codes stay the same from run to run")
    g.add_argument("--key-file", metavar="SECRET",
                   help="with --pseudonymise: a file holding a secret key; codes are then a keyed hash "
                        "(HMAC-SHA256) of the ID, the same on every machine with the same key. Without it codes "
                        "are drawn at random")
    g.add_argument("--show-flagged-text", action="store_true",
                   help="print free-text cells (notes, assessor) that seem to hold names, phone numbers or dates; "
                        "by default they are withheld")
    g.add_argument("--names-in-output", action="store_true",
                   help="use participant IDs in file names and page titles even when they look like names "
                        "(by default a code is used)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backwalk",
        description="Validate, analyse and report studies of backward walking.",
        epilog="Exit codes: 0 ok, 1 invalid data, 2 unreadable input or bad arguments, 3 internal error.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check a study folder (or a wide spreadsheet with --mapping)")
    p.add_argument("path", help="study folder, or a clinic spreadsheet with --mapping")
    p.add_argument("--mapping", help="column-mapping TOML file for a wide clinic spreadsheet")
    p.add_argument("--json", action="store_true", help="print problems as a JSON list")
    _add_dask_options(p)
    p.add_argument("--limit", type=int, default=1000, help="with Dask: report at most this many problems")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("run", help="validate and analyse a study, writing results/")
    p.add_argument("path", help="study folder (or a wide spreadsheet with --mapping)")
    p.add_argument("--output", "-o", default="results", help="folder for results (default: results)")
    p.add_argument("--mapping", help="column-mapping TOML file for a wide clinic spreadsheet")
    p.add_argument("--no-notebooks", action="store_true", help="skip executing the notebooks")
    p.add_argument("--force", action="store_true",
                   help="write even when the results folder is inside the input folder")
    _add_privacy_arguments(p)
    _add_dask_options(p)
    p.add_argument("--measure", action="append", default=[], help="with Dask: fit only this measure (repeatable)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("simulate", help="write the SYNTHETIC example study (byte-identical for a seed)")
    p.add_argument("output", nargs="?", default="data/example", help="folder to write (default: data/example)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the example's)")
    p.add_argument("--participants", type=int, default=90, help="number of participants (default: 90)")
    p.add_argument("--clinic", action="store_true",
                   help="write the clinic's wide spreadsheet example instead (data/example_clinic)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("import", help="turn a clinic's wide spreadsheet into a study folder")
    p.add_argument("path", help="the spreadsheet (CSV or XLSX)")
    p.add_argument("--mapping", required=True, help="column-mapping TOML file")
    p.add_argument("--output", "-o", required=True, help="new study folder to write")
    g = p.add_argument_group("privacy")
    g.add_argument("--pseudonymise", metavar="KEYS.csv",
                   help="replace participant IDs with stable codes in the study folder and write the key "
                        "table (ID, code) to KEYS.csv, outside the folder")
    g.add_argument("--key-file", metavar="SECRET", help="with --pseudonymise: codes are a keyed hash")
    g.add_argument("--names-in-output", action="store_true",
                   help="keep participant IDs that look like names (by default they become codes)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("mapping", help="write a starter column-mapping file for a clinic's wide spreadsheet")
    p.add_argument("sheet", help="the spreadsheet (CSV or XLSX)")
    p.add_argument("--output", "-o", help="mapping file to write (default: print it)")
    p.add_argument("--force", action="store_true", help="replace the output file if it exists")
    p.set_defaults(func=cmd_mapping)

    p = sub.add_parser("catalogue", help="list the outcome measures and their published thresholds",
                       description="The outcome measures: unit, plausible range, better direction, and the "
                                   "published MDC95, MCID and fall-risk cut-offs with the population they were "
                                   "studied in and their source. Missing figures say 'none published'.")
    p.add_argument("--json", action="store_true",
                   help="print the catalogue as JSON: one record per measure with every published figure "
                        "(value, condition, population, source and the sentence it was read in) and each "
                        "fall-risk cut-off (value, comparison, level, population, direction, source)")
    p.set_defaults(func=cmd_catalogue)

    p = sub.add_parser("plan", help="power and sample size of a planned trial, by simulation")
    p.add_argument("design", help="trial design TOML file (see data/designs/example_design.toml)")
    p.add_argument("--output", "-o", default="plan", help="folder for the plan (default: plan)")
    p.add_argument("--simulations", type=int, default=None, help="simulated trials per point (default: the design's)")
    p.add_argument("--seed", dest="plan_seed", type=int, default=None, help="random seed (default: the design's)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: both cores on long runs)")
    p.add_argument("--no-curve", action="store_true", help="only the design's own power, no curve or sample size")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("meta", help="meta-analysis of a table of extracted trial results")
    p.add_argument("table", help="CSV/XLSX, one row per study (format: backwalk_study.data.meta_table)")
    p.add_argument("--output", "-o", required=True, help="folder for tables, plots and index.html")
    p.add_argument("--by", action="append", default=[], help="subgroup analysis by this column (repeatable)")
    p.add_argument("--moderator", action="append", default=[], help="meta-regression moderator (repeatable)")
    p.add_argument("--method", choices=["REML", "DL", "PM", "FE"], default="REML", help="tau2 estimator")
    p.add_argument("--test", choices=["z", "hksj"], default="z", help="z test or Hartung-Knapp-Sidik-Jonkman")
    p.set_defaults(func=cmd_meta)

    p = sub.add_parser(
        "report", help="write a self-contained HTML report: one client's progress, or the cohort page",
        description="Write one self-contained HTML page (figures embedded, no network needed): a client's "
                    "progress with --participant, otherwise the cohort page.")
    p.add_argument("path", help="study folder, or a clinic's wide spreadsheet (CSV/XLSX) with --mapping")
    p.add_argument("--participant", "-p", metavar="ID", help="participant ID for a client report")
    p.add_argument("--output", "-o", metavar="OUT.html",
                   help="file to write (default: report-ID.html or cohort.html in the current folder)")
    p.add_argument("--mapping", metavar="MAPPING.toml", help="column-mapping file for a wide spreadsheet")
    p.add_argument("--force", action="store_true",
                   help="write even when OUT.html is one of the inputs or inside the input folder, or an existing "
                        "file that is not an HTML page")
    _add_privacy_arguments(p)
    p.set_defaults(func=cmd_report)
    return parser


def _add_dask_options(p) -> None:
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on this Dask scheduler (e.g. tcp://head:8786; or set BACKWALK_SCHEDULER); "
                        "the study is a folder of Parquet/CSV partitions per table")
    p.add_argument("--workers", type=int, metavar="N", help="run on a local Dask cluster of N worker processes")


def main(argv: list[str] | None = None) -> int:
    """Run one ``backwalk`` command; returns its exit code (:data:`EXIT_CODES`).

    Every command's errors end here: invalid data print the problem table
    (or JSON with ``validate --json``), unreadable input and bad arguments
    print one line on stderr, a closed output pipe ends quietly, anything
    else is an internal error.
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in argv[1:]:  # accepted after the command too (backwalk validate STUDY --debug)
        argv = ["--debug"] + [a for a in argv if a != "--debug"]
    args = parser.parse_args(argv)
    if getattr(args, "command", None) is None:
        parser.print_help()
        return EXIT_UNREADABLE
    if getattr(args, "seed", "unset") is None:
        from ..data.simulate import EXAMPLE_SEED

        args.seed = EXAMPLE_SEED
    try:
        return _handled(args)
    except BrokenPipeError:  # the reader went away (`backwalk validate --json | head -1`): stop quietly
        _silence_stdout()
        return getattr(args, "exit_code", EXIT_OK)


def _handled(args) -> int:
    from ..data.errors import StudyReadError, StudyValidationError, format_problems

    where = f"backwalk {args.command}"
    try:
        return args.func(args)
    except StudyValidationError as exc:
        args.exit_code = EXIT_INVALID
        if getattr(args, "json", False):
            print(json.dumps(exc.to_records(), indent=2, ensure_ascii=False, default=str))
        else:
            n = len(exc.problems)
            source = getattr(args, "path", None) or getattr(args, "table", "")
            print(f"{printable(source)}: {n} problem{'s' if n != 1 else ''} found; "
                  f"{_NOT_DONE.get(args.command, 'nothing was written')}.\n")
            print(format_problems(exc.problems))
        return EXIT_INVALID
    except (StudyReadError, UsageError) as exc:
        if isinstance(exc, StudyReadError) and getattr(args, "json", False):
            print(json.dumps(exc.to_records(), indent=2, ensure_ascii=False, default=str))
        print(f"{where}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_UNREADABLE
    except ValueError as exc:  # a clear message from an analysis about the user's data
        print(f"{where}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_INVALID
    except BrokenPipeError:
        raise
    except OSError as exc:  # a file that cannot be read or written
        print(f"{where}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_UNREADABLE
    except Exception as exc:  # noqa: BLE001 - the user gets one line, not a traceback
        from .dask_client import explain_cluster_failure

        cluster = explain_cluster_failure(exc)
        if cluster and not args.debug:
            print(f"backwalk: {cluster}", file=sys.stderr)
            return EXIT_INTERNAL
        if args.debug:
            raise
        print(f"{where}: internal error ({type(exc).__name__}: {_one_line(exc)}); run with --debug and "
              "report it", file=sys.stderr)
        return EXIT_INTERNAL


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does
    not fail again on the closed pipe (Python's documented recipe)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real stdout (captured in tests)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
