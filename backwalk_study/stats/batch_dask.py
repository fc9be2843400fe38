"""Batches of independent jobs mapped over a ``distributed.Client``.

:func:`sway_batch_dask` runs :func:`~backwalk_study.stats.sway.sway_batch`
on chunks of a folder of force-plate recordings, one chunk per task, and
puts the chunks back together in file order: the same ``metrics`` and
``failures`` as the one-process batch, with a progress bar over the chunks.
The files must be readable by the workers (a shared file system on a
cluster).
"""

from __future__ import annotations

import sys

import pandas as pd

from .sway import SwayBatch, _candidate_files, _read_trials, sway_batch

__all__ = ["sway_batch_dask"]


def sway_batch_dask(recordings, trials=None, *, client=None, files_per_task: int = 200, progress: bool | None = None,
                    file_col: str = "file", pattern: str = "*.txt", **kwargs) -> SwayBatch:
    """:func:`~backwalk_study.stats.sway.sway_batch` mapped over a Dask cluster.

    Parameters
    ----------
    recordings, trials, file_col, pattern, **kwargs
        As in :func:`~backwalk_study.stats.sway.sway_batch` (``kwargs``:
        ``fs_hz``, ``units``, ``cop_columns``, ``lowpass_hz``,
        ``filter_order``, ``detrend``, ``drop_first_s``, ``ellipse``).
    client : distributed.Client, optional
        Default: the current client (``distributed.get_client()``).
    files_per_task : int
        Recordings (or trial-table rows) per task.
    progress : bool, optional
        A tqdm bar over the recordings on stderr (default: when stderr is a
        terminal).

    Returns
    -------
    SwayBatch
        As the one-process batch: rows in the same order.

    Examples
    --------
    Three SYNTHETIC random-walk recordings and a broken file, one file per
    task, on an in-process client (a cluster's address works the same):

    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from distributed import Client
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> rng = np.random.default_rng(1)
    >>> for name in ("synthetic_a", "synthetic_b", "synthetic_c"):
    ...     xy = np.cumsum(rng.normal(0, 0.01, size=(500, 2)), axis=0)
    ...     rows = "".join(f"{i / 50:.2f}\\t{x:.5f}\\t{y:.5f}\\n" for i, (x, y) in enumerate(xy))
    ...     _ = (folder / f"{name}.txt").write_text("Time[s]\\tCOPx[cm]\\tCOPy[cm]\\n" + rows)
    >>> _ = (folder / "broken.txt").write_text("Time[s]\\tCOPx[cm]\\tCOPy[cm]\\n0\\t1\\tabc\\n")
    >>> with Client(processes=False, dashboard_address=":0") as client:
    ...     batch = sway_batch_dask(folder, client=client, files_per_task=1)
    >>> batch
    SwayBatch: 3 recordings measured, 1 failed
      broken.txt: line 2, column 'COPy[cm]': 'abc' is not a number
    >>> import pandas as pd
    >>> pd.testing.assert_frame_equal(batch.metrics, sway_batch(folder).metrics, check_exact=True)
    """
    from distributed import as_completed, get_client
    from tqdm import tqdm

    if isinstance(files_per_task, bool) or not isinstance(files_per_task, int) or files_per_task < 1:
        raise ValueError(f"sway_batch_dask: files_per_task must be a whole number of at least 1; "
                         f"got {files_per_task!r}")
    if client is None:
        try:
            client = get_client()
        except ValueError:
            raise ValueError("sway_batch_dask: no Dask client: pass client=, or start one first "
                             "(distributed.Client() for this machine, Client('tcp://host:8786') for a "
                             "cluster)") from None
    files = _candidate_files(recordings, pattern)
    if trials is not None:
        table = _read_trials(trials)
        chunks = [dict(recordings=files, trials=table.iloc[i:i + files_per_task].reset_index(drop=True))
                  for i in range(0, len(table), files_per_task)]
        sizes = [len(c["trials"]) for c in chunks]
    else:
        chunks = [dict(recordings=files[i:i + files_per_task]) for i in range(0, len(files), files_per_task)]
        sizes = [len(c["recordings"]) for c in chunks]
    if not chunks:
        return sway_batch(files, trials, file_col=file_col, pattern=pattern, progress=False, **kwargs)
    futures = [client.submit(sway_batch, progress=False, file_col=file_col, pattern=pattern, **kwargs, **chunk,
                             pure=False) for chunk in chunks]
    index = {f.key: i for i, f in enumerate(futures)}
    results = [None] * len(futures)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    with tqdm(total=sum(sizes), desc="sway", unit="file", disable=not show, file=sys.stderr) as bar:
        for future in as_completed(futures):
            i = index[future.key]
            results[i] = future.result()
            bar.update(sizes[i])
    # a chunk with no measured recording (or no failure) has an empty table of
    # object columns: leave it out, or the concatenation turns numbers into objects
    metrics, failures = (pd.concat([t for t in tables if len(t)] or tables[:1], ignore_index=True)
                         for tables in ([r.metrics for r in results], [r.failures for r in results]))
    # text columns come back from the workers as object; restore pandas' string dtype
    metrics, failures = (frame.astype({c: "str" for c in frame.columns if frame[c].dtype == object})
                         for frame in (metrics, failures))
    return SwayBatch(metrics, failures, dict(results[0].settings))

