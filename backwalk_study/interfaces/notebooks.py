"""The notebook runner: execute the teaching notebooks in ``notebooks/`` with
papermill in a fresh kernel and export each to HTML (the ``make run`` step).

What the notebooks compute lives in the package (the claims in
:mod:`backwalk_study.workflows.claims`, practice features in
:mod:`backwalk_study.workflows.practice`, the balance data's person table in
:mod:`backwalk_study.workflows.balance`), so the notebooks stay thin.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping

__all__ = [
    "NotebookError",
    "NotebookWarning",
    "run_notebooks",
]


class NotebookError(RuntimeError):
    """A notebook failed to run.

    Attributes
    ----------
    notebook : str
        The notebook's file name.
    cell : int or None
        The 1-based position of the failing cell in the notebook (counting
        every cell, markdown included), when known; the message also quotes
        the cell's first line.
    ename, evalue : str
        The exception's name and message inside the kernel.
    """

    def __init__(self, notebook: str, cell: int | None, ename: str, evalue: str, source: str = ""):
        self.notebook, self.cell, self.ename, self.evalue = notebook, cell, ename, evalue
        where = f"cell {cell}" if cell is not None else "before any cell ran"
        first = source.strip().splitlines()[0][:80] if source.strip() else ""
        code = f" ({first})" if first else ""
        super().__init__(f"notebook {notebook} failed at {where}{code}: {ename}: {evalue}")


class NotebookWarning(UserWarning):
    """A notebook failed and ``run_notebooks(..., errors="warn")`` went on
    with the others; the message names the notebook, the cell and the error."""


_VOLATILE_CELL_METADATA = ("execution", "papermill", "collapsed", "scrolled")
_KERNEL_FILE = re.compile(r"\S*ipykernel_\d+[/\\]\d+\.py")


def _strip_volatile(nb) -> None:
    """Remove timestamps, durations and kernel details so that the HTML of two
    runs on the same data is identical."""
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    lang = nb.metadata.get("language_info")
    if isinstance(lang, dict):
        lang.pop("version", None)
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = "injected-parameters"  # papermill gives it a random id
        for key in _VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                out.get("metadata", {}).pop("execution", None)
                if out.get("output_type") == "stream":
                    # warnings name the kernel's temporary file for the cell, different on every run
                    out["text"] = _KERNEL_FILE.sub("<cell>", out.get("text", ""))
            cell["outputs"] = _coalesce_streams(cell.get("outputs", []))


def _coalesce_streams(outputs: list) -> list:
    """One output per run of consecutive stdout (or stderr) chunks.

    A busy kernel flushes a cell's printing in as many messages as timing
    gives it, and each becomes its own block in the HTML: joining them makes
    the page independent of the machine's load.
    """
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and prev is not None
                and prev.get("output_type") == "stream" and prev.get("name") == out.get("name")):
            prev["text"] = prev.get("text", "") + out.get("text", "")
        else:
            merged.append(out)
    return merged


def _parameters_for(name: str, declared: Iterable[str], parameters: Mapping[str, Any] | None) -> dict:
    """Parameters for one notebook: the flat entries it declares, then the
    entries given under its own name (which may add new ones)."""
    parameters = dict(parameters or {})
    own = parameters.pop(name, None)
    stems = {k for k, v in parameters.items() if isinstance(v, Mapping)}
    out = {k: v for k, v in parameters.items() if k in set(declared) and k not in stems}
    if own is not None:
        if not isinstance(own, Mapping):
            raise ValueError(f"parameters[{name!r}] must be a dict of parameter values")
        out.update(own)
    return out


def run_notebooks(output_dir: str | Path, notebooks_dir: str | Path = "notebooks",
                  parameters: Mapping[str, Any] | None = None, kernel: str = "python3",
                  *, notebooks: Iterable[str] | None = None, timeout: float | None = 600,
                  errors: str = "raise") -> list[Path]:
    """Execute the notebooks in a fresh kernel and write each one as HTML.

    Each notebook is run by papermill from a temporary copy (nothing in
    ``notebooks_dir`` is written), with the kernel's working directory set to
    ``notebooks_dir`` so that the relative paths of its parameters cell
    (``../data/example``) resolve as they do in JupyterLab. The executed
    notebook is then stripped of timestamps and run metadata and exported
    with nbconvert's HTML exporter, figures embedded.

    Parameters
    ----------
    output_dir : str or Path
        Folder for the HTML files (``01-the-data.html``...); created if
        needed.
    notebooks_dir : str or Path
        Folder holding the numbered ``*.ipynb`` notebooks.
    parameters : dict, optional
        Values injected into the ``parameters`` cells. A flat entry
        (``{"data_path": "/abs/study"}``) goes to every notebook whose
        parameters cell declares that name; an entry keyed by a notebook's
        name without extension (``{"05-client-report": {"participant_id":
        "P010"}}``) goes to that notebook only.
    kernel : str
        Name of the Jupyter kernel (default ``"python3"``; ``make`` installs it
        into the virtual environment with ``python -m ipykernel install
        --sys-prefix --name python3``).
    notebooks : iterable of str, optional
        Run only these notebooks (file names, with or without ``.ipynb``).
    timeout : float, optional
        Seconds a single cell may run (default 600; ``None``: no limit).
    errors : {"raise", "warn"}
        What a failing cell does: ``"raise"`` (default) stops with a
        :class:`NotebookError`; ``"warn"`` writes that notebook's HTML up to
        and including the error (papermill marks it at the top), issues a
        :class:`NotebookWarning` with the same message and runs the next
        notebook.

    Returns
    -------
    list of Path
        The HTML files written, in notebook order.

    Raises
    ------
    NotebookError
        A cell raised (with ``errors="raise"``): the message names the
        notebook, the cell (its position and first line) and the error.
    FileNotFoundError
        ``notebooks_dir`` holds no notebook, or a requested one is missing.
    RuntimeError
        The kernel is not installed (the message says how to install it).

    Examples
    --------
    >>> from backwalk_study.interfaces.notebooks import run_notebooks
    >>> paths = run_notebooks("results/notebooks",
    ...                       notebooks=["01-the-data"])    # doctest: +SKIP
    """
    import nbformat
    import papermill
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    from nbconvert import HTMLExporter

    if errors not in ("raise", "warn"):
        raise ValueError(f"errors must be 'raise' or 'warn', not {errors!r}")
    notebooks_dir = Path(notebooks_dir).resolve()
    output_dir = Path(output_dir)
    found = sorted(p for p in notebooks_dir.glob("*.ipynb") if not p.name.startswith("."))
    if notebooks is not None:
        wanted = [n if n.endswith(".ipynb") else f"{n}.ipynb" for n in notebooks]
        missing = [n for n in wanted if not (notebooks_dir / n).is_file()]
        if missing:
            raise FileNotFoundError(f"no notebook {', '.join(missing)} in {notebooks_dir}")
        found = [notebooks_dir / n for n in wanted]
    if not found:
        raise FileNotFoundError(f"{notebooks_dir} holds no notebooks (*.ipynb)")
    try:
        KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        raise RuntimeError(f"the Jupyter kernel {kernel!r} is not installed; install it with "
                           f"`python -m ipykernel install --sys-prefix --name {kernel}`") from None
    output_dir.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter()
    written = []
    with tempfile.TemporaryDirectory(prefix="backwalk-notebooks-") as tmp:
        for src in found:
            copy = Path(tmp) / src.name
            shutil.copyfile(src, copy)
            executed = Path(tmp) / f"executed-{src.name}"
            declared = papermill.inspect_notebook(str(copy)).keys()
            params = _parameters_for(src.stem, declared, parameters)
            try:
                _execute_with_retry(papermill, copy, executed, params, kernel, notebooks_dir, timeout)
            except papermill.PapermillExecutionError as exc:
                pos = _failed_cell(executed, exc.exec_count)
                cells = nbformat.read(src, as_version=4).cells
                source = cells[pos - 1].source if pos is not None and pos <= len(cells) else ""
                error = NotebookError(src.name, pos, exc.ename, _plain_text(exc.evalue), source)
                if errors == "raise" or not executed.is_file():
                    raise error from None
                warnings.warn(str(error), NotebookWarning, stacklevel=2)
            nb = nbformat.read(executed, as_version=4)
            _strip_volatile(nb)
            body, _ = exporter.from_notebook_node(nb)
            html_path = output_dir / f"{src.stem}.html"
            html_path.write_text(body, encoding="utf-8")
            written.append(html_path)
    return written


def _execute_with_retry(papermill, source: Path, executed: Path, params: dict, kernel: str, cwd: Path,
                        timeout: float | None, attempts: int = 2):
    """papermill.execute_notebook, started again once when the kernel dies (a
    kernel can lose the race for its TCP ports when several start at once);
    an error raised by a cell is never retried."""
    for attempt in range(1, attempts + 1):
        try:
            return papermill.execute_notebook(str(source), str(executed), parameters=params, kernel_name=kernel,
                                              cwd=str(cwd), progress_bar=False, log_output=False,
                                              execution_timeout=timeout)
        except RuntimeError as exc:  # nbclient's DeadKernelError and kernel start-up failures
            if attempt == attempts:
                raise RuntimeError(f"notebook {source.name}: the Jupyter kernel {kernel!r} died or did not "
                                   f"start ({exc})") from exc


def _plain_text(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", str(text))


def _failed_cell(executed: Path, exec_count) -> int | None:
    """Position (1-based, all cells) of the cell papermill marked as failed."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # the output may not have been written
        return None
    added = {"injected-parameters", "papermill-error-cell-tag"}
    cells = [c for c in nb.cells if not added & set(c.get("metadata", {}).get("tags", []))]
    for pos, cell in enumerate(cells, start=1):
        if cell.get("metadata", {}).get("papermill", {}).get("exception"):
            return pos
    for pos, cell in enumerate(cells, start=1):
        if exec_count is not None and cell.cell_type == "code" and cell.get("execution_count") == exec_count:
            return pos
    return None
