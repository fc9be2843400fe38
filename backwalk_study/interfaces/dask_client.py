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

from ..data.errors import StudyReadError

__all__ = ["SCHEDULER_ENV", "wants_dask", "dask_client", "explain_cluster_failure"]

#: Environment variable naming a scheduler address (as ``--scheduler``).
SCHEDULER_ENV = "BACKWALK_SCHEDULER"
#: Seconds to wait for a scheduler before giving up with one clear line.
CONNECT_TIMEOUT_S = 10


def wants_dask(args) -> bool:
    return bool(getattr(args, "scheduler", None) or os.environ.get(SCHEDULER_ENV) or getattr(args, "workers", None))


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
    with LocalCluster(n_workers=workers or 1, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


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

    with dask_client(getattr(args, "scheduler", None), getattr(args, "workers", None)):
        found = validate_partitions(args.path, limit=args.limit)
    if args.json:
        from ..data.errors import StudyValidationError

        records = StudyValidationError(found.problems).to_records() if found.total else []
        print(json.dumps({"total": found.total, "problems": records}, indent=2, ensure_ascii=False, default=str))
    elif found.total:
        shown = f" (the first {len(found.problems)} shown)" if found.capped else ""
        print(f"{args.path}: {found.total} problem{'s' if found.total != 1 else ''} found{shown}; "
              "nothing was changed.\n")
        print(format_problems(found.problems))
    else:
        print(f"{args.path}: valid (checked on Dask).")
    return 1 if found.total else 0


def run_on_dask(args) -> int:
    """``backwalk run --scheduler/--workers``: validate, dose and the mixed model on the cluster.

    Writes ``dose/`` (Parquet partitions), and per measure
    ``fixed_<measure>.csv``, ``random_<measure>.csv``, ``emmeans_<measure>.csv``
    and ``blups_<measure>/`` (Parquet partitions), with weeks as time and the
    study's arms as the between factor.
    """
    from pathlib import Path

    from ..data.errors import StudyValidationError, format_problems
    from ..data.partitions import load_partitioned_study
    from ..data.readers import write_table
    from ..stats.mixed_dask import dose_response_dask

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with dask_client(getattr(args, "scheduler", None), getattr(args, "workers", None)):
        try:
            study = load_partitioned_study(args.path)
        except StudyValidationError as exc:
            print(f"{args.path}: {exc.source}: problems found; fix them and run again.\n")
            print(format_problems(exc.problems))
            return 1
        study.dose().astype({"participant_id": "string"}).to_parquet(out / "dose", write_index=False)
        written.append(out / "dose")
        measures = args.measure or sorted(study.assessments["measure"].unique().compute())
        for measure in measures:
            fit = dose_response_dask(study.outcome(measure), "value", subject="participant_id", time="week",
                                     between="arm", participants=study.participants,
                                     reference=study.config.reference_arm)
            for name, table in (("fixed", fit.fixed), ("random", fit.random), ("emmeans", fit.emmeans())):
                written.append(write_table(table, out / f"{name}_{measure}.csv"))
            fit.blups().to_parquet(out / f"blups_{measure}", write_index=False)
            written.append(out / f"blups_{measure}")
    for path in written:
        print(f"wrote {path}")
    return 0
