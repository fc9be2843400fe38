"""The ``backwalk`` command.

Exit codes: 0 success; 1 the data are invalid (every problem is listed);
2 the input cannot be read or the arguments are wrong; 3 an unexpected
internal error (run with ``--debug`` to see its traceback and report it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE, EXIT_INTERNAL = 0, 1, 2, 3


def _load(path: str, mapping: str | None):
    from ..data.readers import import_wide
    from ..data.study import load_study

    if mapping:
        return import_wide(path, mapping)
    if Path(path).is_file():
        from ..data.errors import StudyReadError

        raise StudyReadError(f"{path} is a file: give the study folder, or --mapping MAPPING.toml to import "
                             "a clinic's wide spreadsheet")
    return load_study(path)


def cmd_validate(args) -> int:
    from ..data.errors import StudyValidationError, format_problems
    from .dask_client import validate_on_dask, wants_dask

    if wants_dask(args):
        return validate_on_dask(args)

    try:
        study = _load(args.path, args.mapping)
    except StudyValidationError as exc:
        if args.json:
            print(json.dumps(exc.to_records(), indent=2, ensure_ascii=False, default=str))
        else:
            n = len(exc.problems)
            print(f"{args.path}: {n} problem{'s' if n != 1 else ''} found; nothing was changed.\n")
            print(format_problems(exc.problems))
        return EXIT_INVALID
    if args.json:
        print("[]")
    else:
        label = " (synthetic data)" if study.config.synthetic else ""
        print(f"{args.path}: valid{label}. {len(study.participants)} participants, {len(study.sessions)} "
              f"sessions, {len(study.assessments)} assessments of {study.assessments['measure'].nunique()} "
              "measures.")
        for note in study.notes:
            print(f"note: {note}")
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
    from ..data.errors import StudyValidationError, format_problems
    from ..data.readers import import_wide

    try:
        study = import_wide(args.path, args.mapping)
    except StudyValidationError as exc:
        print(f"{args.path}: {len(exc.problems)} problem(s); no study folder was written.\n")
        print(format_problems(exc.problems))
        return EXIT_INVALID
    out = Path(args.output)
    if out.exists() and any(out.iterdir()):
        print(f"backwalk: {out} exists and is not empty; choose a new folder", file=sys.stderr)
        return EXIT_UNREADABLE
    study.to_folder(out)
    print(f"wrote {out}: {study!r}")
    for note in study.notes:
        print(f"note: {note}")
    return EXIT_OK


def cmd_catalogue(args) -> int:
    from ..data.measures import measure_catalogue

    table = measure_catalogue()
    if args.json:
        print(table.to_json(orient="records", indent=2))
    else:
        cols = ["key", "name", "domain", "unit", "better", "mdc95", "mcid"]
        print(table[cols].to_string(index=False))
    return EXIT_OK


def cmd_run(args) -> int:
    from ..data.errors import StudyValidationError, format_problems
    from .dask_client import run_on_dask, wants_dask

    if wants_dask(args):
        return run_on_dask(args)
    from ..outputs.bundle import run_main_job

    try:
        written = run_main_job(args.path, args.output, mapping=args.mapping, notebooks=not args.no_notebooks)
    except StudyValidationError as exc:
        print(f"{args.path}: {len(exc.problems)} problem(s); fix them and run again.\n")
        print(format_problems(exc.problems))
        return EXIT_INVALID
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def cmd_meta(args) -> int:
    from ..data.errors import StudyValidationError, format_problems
    from ..outputs.meta_report import write_meta_report

    try:
        written = write_meta_report(args.table, args.output, by=args.by, moderators=args.moderator,
                                    method=args.method, test=args.test)
    except StudyValidationError as exc:
        print(f"{args.table}: {len(exc.problems)} problem(s); nothing was written.\n")
        print(format_problems(exc.problems))
        return EXIT_INVALID
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


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
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("catalogue", help="list the outcome measures and their published thresholds")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_catalogue)

    p = sub.add_parser("meta", help="meta-analysis of a table of extracted trial results")
    p.add_argument("table", help="CSV/XLSX, one row per study (format: backwalk_study.data.meta_table)")
    p.add_argument("--output", "-o", required=True, help="folder for tables, plots and index.html")
    p.add_argument("--by", action="append", default=[], help="subgroup analysis by this column (repeatable)")
    p.add_argument("--moderator", action="append", default=[], help="meta-regression moderator (repeatable)")
    p.add_argument("--method", choices=["REML", "DL", "PM", "FE"], default="REML", help="tau2 estimator")
    p.add_argument("--test", choices=["z", "hksj"], default="z", help="z test or Hartung-Knapp-Sidik-Jonkman")
    p.set_defaults(func=cmd_meta)

    _add_report_command(sub)
    return parser


def _add_dask_options(p) -> None:
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on this Dask scheduler (e.g. tcp://head:8786; or set BACKWALK_SCHEDULER); "
                        "the study is a folder of Parquet/CSV partitions per table")
    p.add_argument("--workers", type=int, metavar="N", help="run on a local Dask cluster of N worker processes")


def _add_report_command(sub) -> None:
    try:
        from ..outputs.report import add_report_command
    except ImportError:
        return
    add_report_command(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) is None:
        parser.print_help()
        return EXIT_UNREADABLE
    if getattr(args, "seed", "unset") is None:
        from ..data.simulate import EXAMPLE_SEED

        args.seed = EXAMPLE_SEED
    from ..data.errors import StudyReadError

    try:
        return args.func(args)
    except StudyReadError as exc:
        print(f"backwalk: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    except ValueError as exc:  # a clear message from an analysis about the user's data
        print(f"backwalk: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except Exception as exc:  # noqa: BLE001 - the user gets one line, not a traceback
        from .dask_client import explain_cluster_failure

        cluster = explain_cluster_failure(exc)
        if cluster and not args.debug:
            print(f"backwalk: {cluster}", file=sys.stderr)
            return EXIT_INTERNAL
        if args.debug:
            raise
        print(f"backwalk: internal error ({type(exc).__name__}: {exc}); run with --debug and report it",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
