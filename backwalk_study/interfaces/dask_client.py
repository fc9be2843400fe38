"""Where Dask work runs for the CLI: an existing cluster, a local one, or nowhere.

``--scheduler ADDRESS`` (or the environment variable ``BACKWALK_SCHEDULER``)
connects to a running Dask scheduler (a dask-jobqueue or Kubernetes cluster,
``dask scheduler`` on a head node); ``--workers N`` starts a
``distributed.LocalCluster`` of N single-threaded worker processes. Neither:
the commands stay in-process pandas.
"""

from __future__ import annotations

import contextlib
import os
import sys

from ..data.errors import StudyReadError
from .arguments import UsageError, check_output

__all__ = ["SCHEDULER_ENV", "wants_dask", "dask_client", "explain_cluster_failure"]

#: Environment variable naming a scheduler address (as ``--scheduler``).
SCHEDULER_ENV = "BACKWALK_SCHEDULER"
#: Seconds to wait for a scheduler before giving up with one clear line.
CONNECT_TIMEOUT_S = 10


def wants_dask(args) -> bool:
    return bool(getattr(args, "scheduler", None) or os.environ.get(SCHEDULER_ENV)
                or getattr(args, "workers", None) is not None)


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None, timeout: float | None = None):
    """A ``distributed.Client`` for the duration of the block.

    Raises
    ------
    StudyReadError
        Dask is not installed, or the scheduler cannot be reached within
        ``timeout`` seconds (one line naming the address).
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise StudyReadError("--scheduler and --workers need Dask: pip install 'backwalk-study[dask]'") from None
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{timeout}s")
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StudyReadError(f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s "
                                 f"({reason}); check the address and that the scheduler is running") from None
        with client:
            yield client
        return
    if workers is not None and workers < 1:
        raise StudyReadError(f"--workers must be 1 or more; got {workers}")
    _quiet_routine_shuffle_logs()
    with LocalCluster(n_workers=workers or 1, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


class _RoutineShuffleLog:
    """A logging filter: drops distributed's two routine P2P-shuffle lines.

    A local cluster's scheduler runs in this process and logs at WARNING level
    every shuffle starting and stopping ("Shuffle ... initialized by task ...",
    "... deactivated due to stimulus ..."): a dozen lines per ``validate``
    that say nothing about the data or the run. Every other record of that
    logger (a restarted shuffle, a failed broadcast) is kept.
    """

    ROUTINE = ("Shuffle %s initialized by task %r executed on worker %s",
               "Shuffle %s deactivated due to stimulus '%s'")

    def filter(self, record) -> bool:
        return record.msg not in self.ROUTINE


def _quiet_routine_shuffle_logs():
    import logging

    log = logging.getLogger("distributed.shuffle._scheduler_plugin")
    if not any(isinstance(f, _RoutineShuffleLog) for f in log.filters):
        log.addFilter(_RoutineShuffleLog())


def explain_cluster_failure(exc: BaseException) -> str | None:
    """One line for a failure of the cluster itself (a worker died), or None."""
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:  # pragma: no cover
        return None
    if not isinstance(exc, KilledWorker):
        return None
    from ..data.partitions import partition_of_failure

    where = partition_of_failure(exc)
    what = f"while reading {where}" if where else f"on task {getattr(exc, 'task', '?')}"
    return (f"a Dask worker died {what} (after the scheduler's retries); the run stopped. "
            "Check the workers' memory limit and logs, then run again")


def validate_on_dask(args) -> int:
    """``backwalk validate --scheduler/--workers``: a partitioned study, checked on the cluster."""
    import json

    from ..data.errors import format_problems
    from ..data.partitions import validate_partitions

    if args.limit < 1:
        raise UsageError(f"--limit must be 1 or more; got {args.limit}")
    with dask_client(getattr(args, "scheduler", None), getattr(args, "workers", None)):
        found = validate_partitions(args.path, limit=args.limit)
    if args.json:
        from ..data.errors import StudyValidationError

        # the in-memory --json shape (a list of problems); a capped list says so on stderr
        records = StudyValidationError(found.problems).to_records() if found.total else []
        print(json.dumps(records, indent=2, ensure_ascii=False, default=str))
        if found.capped:
            print(f"warning: the first {len(found.problems)} of {found.total} problems (raise --limit for more)",
                  file=sys.stderr)
    elif found.total:
        shown = f" (the first {len(found.problems)} shown)" if found.capped else ""
        print(f"{args.path}: {found.total} problem{'s' if found.total != 1 else ''} found{shown}; "
              "nothing was changed.\n")
        print(format_problems(found.problems))
    else:
        print(f"{args.path}: valid (checked on Dask).")
    return 1 if found.total else 0


def run_on_dask(args) -> int:
    """``backwalk run --scheduler/--workers``: validate, dose and the mixed models on the cluster.

    The same analyses, files and names as the in-memory run's dose-response
    step (``results/dose_response/``): per measure, the visits (trials
    averaged; walked measures walked forward) over weeks by arm,
    ``weeks_fixed_effects.csv``, ``weeks_variance_components.csv``,
    ``weeks_r2.csv``, ``weeks_emmeans.csv`` and ``weeks_contrasts.csv`` (at
    weeks 4, 8 and 12), ``weeks_slopes.csv`` and ``diagnostics.csv`` (every
    fit's warnings, and why a measure was not fitted), plus the BLUPs
    (``blups_<measure>/``) and the weekly dose (``dose/``) as Parquet. A
    measure that cannot be fitted is said and skipped; the others go on.
    """
    import warnings
    from pathlib import Path

    import pandas as pd

    from ..data.errors import StudyValidationError, format_problems
    from ..data.partitions import load_partitioned_study
    from ..data.readers import write_table
    from ..data.terminal import printable
    from ..outputs.bundle import DIAGNOSTIC_COLUMNS, DOSE_RESPONSE_FILES, stacked, weeks_tables
    from ..stats.mixed_dask import dose_response_dask

    unsupported = [flag for flag, value in (("--mapping", args.mapping), ("--pseudonymise", args.pseudonymise),
                                            ("--key-file", args.key_file)) if value]
    if unsupported:
        raise UsageError(f"{', '.join(unsupported)}: not available with --workers or --scheduler (a partitioned "
                         "study is analysed on Dask without a mapping or pseudonymisation); run without Dask "
                         "on a study that fits in memory")
    notes = check_output(args.output, args, kind="folder")
    out = Path(args.output)
    written = []
    with dask_client(getattr(args, "scheduler", None), getattr(args, "workers", None)):
        try:
            study = load_partitioned_study(args.path)
        except StudyValidationError as exc:
            shown = f" (the first {len(exc.problems)} shown)" if exc.total > len(exc.problems) else ""
            print(f"{printable(exc.source)}: {exc.total} problem{'s' if exc.total != 1 else ''} found{shown}; "
                  "fix them and run again.\n")
            print(format_problems(exc.problems))
            return 1
        import dask

        present, people, last = dask.compute(study.assessments["measure"].unique(),
                                             study.participants[["participant_id", "arm"]],
                                             study.assessments["week"].max())
        arms = people["arm"].dropna().unique()
        present = sorted(str(m) for m in present if pd.notna(m))
        unknown = [m for m in args.measure if m not in present]
        if unknown:
            raise UsageError(f"--measure {', '.join(unknown)}: not in this study's assessments; present: "
                             f"{', '.join(present)}")
        out.mkdir(parents=True, exist_ok=True)
        study.dose().astype({"participant_id": "string"}).to_parquet(out / "dose", write_index=False,
                                                                       overwrite=True)
        written.append(out / "dose")
        at_weeks = [w for w in (4, 8, 12) if w <= int(last)] or [int(last)]
        ref = study.config.reference_arm
        reference = ref if ref in set(arms) else None
        tables = {k: [] for k in ("fixed", "random", "r2", "emmeans", "contrasts", "slopes", "diagnostics")}
        for measure in args.measure or present:
            row = {"measure": measure, "model": "weeks by arm"}
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    fit = dose_response_dask(_visits(study, measure), "value", subject="participant_id",
                                             time="week", between="arm", participants=people,
                                             reference=reference)
                except ValueError as exc:
                    fit, row["error"] = None, str(exc)
            messages = list(dict.fromkeys(str(w.message) for w in caught))
            row["warnings"] = " | ".join(messages) or None
            for message in messages:
                print(f"warning: {printable(measure)}: {printable(message)}", file=sys.stderr)
            if fit is None:
                print(f"warning: {printable(measure)} not fitted: {printable(row['error'])}", file=sys.stderr)
                tables["diagnostics"].append(pd.DataFrame([row]))
                continue
            d = fit.diagnostics
            row.update({k: getattr(d, k) for k in DIAGNOSTIC_COLUMNS})
            tables["diagnostics"].append(pd.DataFrame([row]))
            for name, table in weeks_tables(fit, measure, at_weeks).items():
                tables[name].append(table)
            blups = out / "dose_response" / f"blups_{measure}"
            fit.blups().to_parquet(blups, write_index=False, overwrite=True)
            written.append(blups)
    for name, parts in tables.items():
        if parts:
            written.append(write_table(stacked(parts), out / "dose_response" / f"{DOSE_RESPONSE_FILES[name]}.csv"))
    for line in notes:
        print(f"warning: {printable(line)}", file=sys.stderr)
    for path in written:
        print(f"wrote {printable(path)}")
    return 0


def _visits(study, measure):
    """The measure's visits as the in-memory run fits them: walked forward if
    walked, the trials of a visit averaged (a Dask group-by only when a visit
    has more than one trial)."""
    direction = "forward" if study.catalogue[measure].walked else None
    rows = study.outcome(measure, direction)
    if "trial" in rows.columns and float(rows["trial"].max().compute() or 1) > 1:
        rows = (rows.groupby(["participant_id", "week"])["value"].mean(split_out=rows.npartitions)
                .reset_index())
    return rows[["participant_id", "week", "value"]]
