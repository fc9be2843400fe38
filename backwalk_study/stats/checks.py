"""Input checks, in one place: every statistics function calls
:func:`check_input` first, and every problem is a ``ValueError`` whose
message starts with the function's name ("compare_arms: ...") and names the
column, value or argument at fault.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

__all__ = ["check_input", "check_confidence", "check_alternative", "check_choice", "numeric_column",
           "listing", "renamed", "ALTERNATIVES"]

ALTERNATIVES = ("two-sided", "less", "greater")


def listing(values, limit: int = 12) -> str:
    """``"a, b, c and 4 more"``: values for a message, at most ``limit``."""
    values = [str(v) for v in values]
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more


def check_confidence(confidence, what: str) -> float:
    """``confidence`` as a float strictly between 0 and 1."""
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.floating)) \
            or not 0 < confidence < 1:
        raise ValueError(f"{what}: confidence must be a number between 0 and 1 (e.g. 0.95), not {confidence!r}")
    return float(confidence)


def check_alternative(alternative, what: str) -> str:
    """``alternative`` is one of ``"two-sided"``, ``"less"``, ``"greater"``."""
    return check_choice(alternative, "alternative", ALTERNATIVES, what)


def check_choice(value, name: str, allowed: Iterable, what: str):
    """``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{what}: {name} must be one of {', '.join(map(repr, allowed))}, not {value!r}")
    return value


def numeric_column(data: pd.DataFrame, column: str, what: str) -> pd.Series:
    """``data[column]`` as floats; text that is not a number is an error
    naming the values, an empty cell stays missing."""
    values = data[column]
    if pd.api.types.is_bool_dtype(values):
        raise ValueError(f"{what}: column {column!r} holds true/false values, not numbers")
    converted = pd.to_numeric(values, errors="coerce")
    bad = values[converted.isna() & values.notna()]
    if len(bad):
        raise ValueError(f"{what}: column {column!r} holds values that are not numbers: "
                         f"{listing(pd.unique(bad.astype(str)))}")
    return converted.astype(float)


def check_input(what: str, data=None, *, columns: Mapping[str, str | None] | None = None,
                numeric: Iterable[str] = (), confidence=None, alternative=None,
                choices: Mapping[str, tuple] | None = None, allow_empty: bool = False) -> pd.DataFrame | None:
    """Check a statistics function's input; raise ``ValueError`` naming ``what``.

    Parameters
    ----------
    what : str
        The calling function's name, the start of every message.
    data : pandas.DataFrame, optional
        Must be a DataFrame with rows (unless ``allow_empty``).
    columns : dict, optional
        ``{role: column}`` that must be in ``data`` (``None`` columns are
        skipped), e.g. ``{"dv": "value", "subject": "participant_id"}``.
    numeric : iterable of str
        Columns that must hold numbers; they are converted to float in the
        returned copy (empty cells stay missing).
    confidence : float, optional
        Checked to lie strictly between 0 and 1.
    alternative : str, optional
        Checked to be ``"two-sided"``, ``"less"`` or ``"greater"``.
    choices : dict, optional
        ``{argument name: (value, allowed values)}``.
    allow_empty : bool
        Accept a DataFrame without rows.

    Returns
    -------
    pandas.DataFrame or None
        ``data`` with its ``numeric`` columns as float (a copy when any was
        converted), or ``None`` when no data were given.

    Examples
    --------
    >>> import pandas as pd
    >>> from backwalk_study.stats.checks import check_input
    >>> data = pd.DataFrame({"value": ["1.5", "2"], "participant_id": ["a", "b"]})
    >>> check_input("my_test", data, columns={"dv": "value"}, numeric=["value"])["value"].tolist()
    [1.5, 2.0]
    >>> check_input("my_test", data, columns={"subject": "id"})
    Traceback (most recent call last):
    ...
    ValueError: my_test: the data have no subject column 'id'; columns present: value, participant_id
    """
    if confidence is not None:
        check_confidence(confidence, what)
    if alternative is not None:
        check_alternative(alternative, what)
    for name, (value, allowed) in (choices or {}).items():
        check_choice(value, name, allowed, what)
    if data is None:
        return None
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"{what}: data must be a pandas DataFrame, not {type(data).__name__}")
    columns = {role: col for role, col in (columns or {}).items() if col is not None}
    for role, col in columns.items():
        if not isinstance(col, str) and not np.isscalar(col):
            raise ValueError(f"{what}: {role} must name one column, not {col!r}")
    missing = [f"{role} column {col!r}" for role, col in columns.items() if col not in data.columns]
    if missing:
        raise ValueError(f"{what}: the data have no {' and no '.join(missing)}; "
                         f"columns present: {listing(data.columns)}")
    if data.empty and not allow_empty:
        raise ValueError(f"{what}: the data have no rows")
    numeric = [c for c in numeric if c is not None]
    absent = [c for c in numeric if c not in data.columns]
    if absent:
        raise ValueError(f"{what}: the data have no column {listing(map(repr, absent))}; "
                         f"columns present: {listing(data.columns)}")
    if numeric:
        data = data.assign(**{c: numeric_column(data, c, what) for c in numeric})
    return data


def renamed(**old_to_new):
    """Decorator: accept a keyword's old name with a ``DeprecationWarning``.

    ``@renamed(arm="between")`` lets ``f(data, arm="group")`` keep working as
    ``f(data, between="group")`` after the role names of issue 11; passing
    both names is a ``ValueError``.
    """
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise ValueError(f"{func.__name__}: pass {new}= only ({old}= is its old name)")
                    warnings.warn(f"{func.__name__}: {old}= is now called {new}=", DeprecationWarning,
                                  stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)
        return wrapper
    return decorate
