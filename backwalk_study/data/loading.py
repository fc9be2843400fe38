"""Opening a study: the one place where a path from the user becomes a
:class:`~backwalk_study.data.study.Study` (a study folder, or a clinic's
wide spreadsheet with its column mapping)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["open_study"]


def open_study(path: str | os.PathLike, mapping: str | os.PathLike | None = None):
    """Load and validate the study at ``path``.

    Parameters
    ----------
    path : path
        A study folder, or with ``mapping`` a clinic's wide spreadsheet
        (CSV or XLSX).
    mapping : path, optional
        The column-mapping TOML file of a wide spreadsheet.

    Returns
    -------
    Study

    Raises
    ------
    StudyReadError
        The input cannot be read (no such folder, a file given without its
        mapping, an unreadable spreadsheet or mapping).
    StudyValidationError
        The data break rules; every problem is listed.

    Examples
    --------
    >>> from backwalk_study.data.loading import open_study
    >>> open_study("data/example_clinic/clients.csv",
    ...            mapping="data/example_clinic/mapping.toml").config.synthetic
    True
    >>> open_study("data/example_clinic/clients.csv")
    Traceback (most recent call last):
    ...
    backwalk_study.data.errors.StudyReadError: data/example_clinic/clients.csv is a file: ...
    """
    from .errors import StudyReadError
    from .wide import import_wide
    from .study import load_study

    if mapping is not None:
        return import_wide(path, mapping)
    if Path(path).is_file():
        raise StudyReadError(f"{path} is a file: give the study folder, or --mapping MAPPING.toml to import "
                             "a clinic's wide spreadsheet")
    return load_study(path)
