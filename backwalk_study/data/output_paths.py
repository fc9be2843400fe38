"""Where a writer may write: never over an input, never over a file of
another kind without saying so.

Every writer of the project (``backwalk report``, ``run``, ``import``,
``Study.to_folder``) calls :func:`check_output_path` before it writes. It
lives in the data layer so that every layer above may use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

__all__ = ["check_output_path", "OutputPathError", "file_kind"]


class OutputPathError(ValueError):
    """A writer was pointed at an input, or at an existing file of another
    kind, without ``force``."""


_SUFFIX_KINDS = {".html": "HTML page", ".htm": "HTML page", ".csv": "table (CSV)", ".tsv": "table (TSV)",
                 ".txt": "text file", ".xlsx": "spreadsheet (XLSX)", ".xls": "spreadsheet (XLS)",
                 ".parquet": "table (Parquet)", ".toml": "settings file (TOML)", ".json": "JSON file",
                 ".png": "image (PNG)", ".ipynb": "notebook", ".py": "Python file", ".key": "key file"}


def file_kind(path: str | Path) -> str:
    """What an existing file is, from its first bytes (HTML, XLSX, Parquet,
    PNG) or else its suffix.

    >>> file_kind("report.html"), file_kind("clients.csv")
    ('HTML page', 'table (CSV)')
    """
    path = Path(path)
    head = b""
    if path.is_file():
        try:
            with path.open("rb") as fh:
                head = fh.read(512)
        except OSError:
            head = b""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return "HTML page"
    if head.startswith(b"PK\x03\x04") and path.suffix.lower() in ("", ".xlsx", ".xlsm", ".html", ".htm"):
        return "spreadsheet (XLSX)"
    if head.startswith(b"PAR1"):
        return "table (Parquet)"
    if head.startswith(b"\x89PNG"):
        return "image (PNG)"
    return _SUFFIX_KINDS.get(path.suffix.lower(), f"{path.suffix or 'extension-less'} file")


def check_output_path(path: str | Path, inputs: Iterable[str | Path] = (), force: bool = False, *,
                      kind: str | None = None) -> list[str]:
    """Check that ``path`` may be written; return notes to show the user.

    Parameters
    ----------
    path : path
        The file (or folder) about to be written.
    inputs : paths
        What was read: the study folder, a clinic sheet, its mapping, a
        session log. ``path`` may be none of them and may not lie inside an
        input folder.
    force : bool, default False
        Write anyway (the ``--force`` option); the notes then say what is
        being replaced.
    kind : str, optional
        What the writer writes ("HTML page", "table (CSV)", ...; default:
        from the suffix of ``path``). An existing file of another kind is
        not replaced without ``force``. ``"folder"`` for writers of a
        results folder: it may exist, but not as a file.

    Returns
    -------
    list of str
        Notes for the user (empty when nothing is replaced).

    Raises
    ------
    OutputPathError
        (a ValueError) when ``path`` is an input, inside an input folder, an
        existing folder where a file is written, or an existing file of
        another kind, and ``force`` is not given.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     sheet = pathlib.Path(tmp, "clients.csv"); _ = sheet.write_text("Client,Berg\\n")
    ...     try:
    ...         check_output_path(sheet, inputs=[sheet])
    ...     except OutputPathError as exc:
    ...         print(str(exc).split(";")[0].replace(tmp, "TMP"))
    TMP/clients.csv is one of the inputs (the table (CSV) that was read)
    """
    path = Path(path)
    target = path.resolve()
    notes: list[str] = []
    hint = "; write somewhere else (-o), or give --force to write anyway"
    for item in inputs:
        if item is None:
            continue
        source = Path(item).resolve()
        if target == source:
            msg = f"{path} is one of the inputs (the {file_kind(source)} that was read)"
            if not force:
                raise OutputPathError(msg + hint)
            notes.append(msg + ": replaced because of --force")
        elif source.is_dir() and source in target.parents:
            msg = f"{path} is inside the input folder {Path(item)}"
            if not force:
                raise OutputPathError(msg + hint)
            notes.append(msg + ": written there because of --force")
    if kind == "folder":
        if target.is_file():
            raise OutputPathError(f"{path} is a {file_kind(target)}, not a folder; give a folder for the results")
        return notes
    if target.is_dir():
        raise OutputPathError(f"{path} is a folder; give a file name")
    if target.is_file():
        expected = kind or _SUFFIX_KINDS.get(path.suffix.lower())
        found = file_kind(target)
        if expected is not None and found != expected:
            msg = f"{path} exists and is a {found}, not a {expected}"
            if not force:
                raise OutputPathError(msg + hint)
            notes.append(msg + ": replaced because of --force")
    return notes
