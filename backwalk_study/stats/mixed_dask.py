"""The growth-curve mixed model of :func:`~backwalk_study.stats.mixed.dose_response` on Dask.

The exact REML/ML engine (:mod:`backwalk_study.stats._lmm`) needs only
per-participant sufficient statistics (``Z_i'[X_i y_i]``, ``Z_i'Z_i``) and
the global cross-products ``[X y]'[X y]``, so the fit is a map-reduce in one
pass over the rows, with no shuffle:

1. each partition reduces its rows to per-participant sums of ``u u'``,
   where ``u = [1, time basis, time, numeric covariates, y]`` is taken
   relative to the partition's means (so the sums keep their precision),
   grouped by participant and by the categorical columns of the rows, with
   the least and greatest time and covariates;
2. the client moves every partition's sums to one common shift (the overall
   means; an exact affine map), adds up participants spread over several
   partitions, joins participant-level columns (``participants=``: the arm,
   the age) to these one-row-per-participant sums, and runs the checks of
   the in-memory model (levels, a factor constant within participants,
   enough participants and times);
3. within one combination of categories every column of ``X`` and ``Z`` is
   a linear function of ``u``; the design's own ``matrix`` is read off as
   that linear map (probing it with unit vectors), so ``Z_i'[X~_i y~_i]``,
   ``Z_i'Z_i`` and ``[X~ y~]'[X~ y~]`` (on the centred design the engine
   uses) are products of small matrices with the sums.

The engine's optimisation, certification and Satterthwaite inference then
run unchanged; :class:`DaskDoseResponseResult` gives the same ``.fixed``,
``.random``, ``.emmeans()``, ``.slopes()``, ``.contrasts()``, ``.r2`` and
``.participant_effects`` as in memory, and :meth:`DaskDoseResponseResult.blups`
hands the participants' BLUPs back as a Dask DataFrame.

Differences from the in-memory model, all stated:

* ``r2``: the variances are computed from the reduced statistics,
  ``var_fixed = (v'X~'X~v - (1'X~v)^2 / n) / (n - 1)`` with ``v`` the fixed
  effects without the intercept and ``X~`` the centred design, and
  ``var_random = tr(Sigma sum_i Z_i'Z_i) / n``: algebraically the same as
  ``np.var(X beta, ddof=1)`` and ``mean(z' Sigma z)``, equal to rounding;
* shapes: linear, quadratic, spline (its knots from a first pass that
  counts each time: R's quantiles of the frequency table, exact) and
  plateau with a given breakpoint (an estimated breakpoint needs a refit
  per candidate: fit it in memory); no statsmodels fall-back (a fit that
  does not converge is reported as such);
* ``predict`` needs ``new_data`` and the population prediction; ``plot`` is
  not available (it draws every participant's rows).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._lmm import GroupedLMM, NestedLMM
from .mixed import (SHAPES, DoseResponseResult, ModelFitWarning, _Design, _EngineCounts,
                    check_collinear, check_fit_arguments, check_sites, levels_of, random_slope_fallback,
                    spline_knots_of)

__all__ = ["dose_response_dask", "DaskMixedModel", "DaskDoseResponseResult"]

_WHAT = "dose_response_dask"


# ------------------------------------------------------------ per partition
@dataclass(frozen=True)
class _RowSpec:
    """What each partition reduces: the row columns and the raw vector u of a row.

    ``u = [1, time basis..., time (if not in the basis), numeric row
    covariates..., y]``; every column of ``X`` and ``Z`` is, within one
    combination of the categorical columns, a linear function of ``u``.
    """

    dv: str
    time: str
    subject: str
    keys: tuple  # categorical columns of the rows (between factors, categorical covariates)
    numeric: tuple  # numeric covariates of the rows
    shape: str
    breakpoint: float | None
    knots: tuple | None = None  # a spline's knots, boundary ones included

    def basis(self, t):
        design = _Design(dv=self.dv, time=self.time, subject=self.subject, factors=[], levels={},
                         shape=self.shape, knots=self.knots, breakpoint=self.breakpoint, numeric_covariates=[],
                         categorical_covariates={}, covariate_means={}, random_slope=True)
        return design.time_columns(t)[0]

    @property
    def n_basis(self):
        if self.shape == "spline":
            return len(self.knots) - 1
        return 2 if self.shape == "quadratic" else 1

    @property
    def time_in_basis(self):
        return self.shape in ("linear", "quadratic")

    @property
    def width(self):
        """Length of u including its leading 1."""
        return 1 + self.n_basis + (0 if self.time_in_basis else 1) + len(self.numeric) + 1

    # positions in u
    @property
    def i_time(self):
        return 1 if self.time_in_basis else 1 + self.n_basis

    @property
    def i_slope(self):
        # the time itself, or min(time, breakpoint) for a plateau
        return 1 if self.shape in ("linear", "quadratic", "plateau") else self.i_time

    @property
    def i_numeric(self):
        return self.width - 1 - len(self.numeric)

    @property
    def i_y(self):
        return self.width - 1


def _triangle(m):
    return [(a, b) for a in range(m) for b in range(a, m)]


def _partition_statistics(part: pd.DataFrame, spec: _RowSpec):
    """One partition's per-participant sums of u u' (u shifted by the partition's means).

    Returns a dict: the table (participant, keys, the upper triangle of the
    sums, the least and greatest time and numeric covariates), the shift,
    and the rows before and after dropping incomplete ones.
    """
    cols = [spec.dv, spec.time, spec.subject, *spec.keys, *spec.numeric]
    n_before = len(part)
    part = part[cols].dropna()
    t = part[spec.time].to_numpy(dtype=float)
    raw = [spec.basis(t)]
    if not spec.time_in_basis:
        raw.append(t[:, None])
    raw += [part[c].to_numpy(dtype=float)[:, None] for c in spec.numeric]
    raw.append(part[spec.dv].to_numpy(dtype=float)[:, None])
    U = np.hstack(raw)
    finite = np.isfinite(U).all(axis=1)
    n_inf = int((~finite).sum())
    if n_inf:  # reported on the client, as in memory; the sums use the finite rows
        U, part, t = U[finite], part[finite], t[finite]
    shift = U.mean(axis=0) if len(U) else np.zeros(U.shape[1])
    U = np.hstack([np.ones((len(U), 1)), U - shift])
    table = {spec.subject: part[spec.subject].to_numpy()}
    for k in spec.keys:
        table[k] = part[k].to_numpy()
    for a, b in _triangle(spec.width):
        table[f"s{a}_{b}"] = U[:, a] * U[:, b]
    extremes = {"t": t, **{f"v{j}": part[c].to_numpy(dtype=float) for j, c in enumerate(spec.numeric)}}
    frame = pd.DataFrame(table)
    for name, values in extremes.items():
        frame[f"{name}_min"] = values
        frame[f"{name}_max"] = values
    return {"table": _sum_groups(frame, [spec.subject, *spec.keys]), "shift": shift,
            "n_before": n_before, "n": len(part), "n_inf": n_inf}


def _time_counts(part, columns, time, subject, keep=None):
    """How often each time occurs among the complete rows (of the participants in ``keep``)."""
    part = part[columns].dropna()
    if keep is not None:
        part = part[part[subject].isin(keep)]
    return part[time].astype(float).value_counts()


def _sum_groups(frame, by):
    """Sum the s columns, min/max the extremes, per combination of ``by``."""
    how = {c: ("min" if c.endswith("_min") else "max" if c.endswith("_max") else "sum")
           for c in frame.columns if c not in by}
    return frame.groupby(by, sort=False, observed=True, dropna=False).agg(how).reset_index()


def _to_matrices(table, m):
    """The (groups, m, m) symmetric sums from the triangle columns."""
    out = np.empty((len(table), m, m))
    for a, b in _triangle(m):
        out[:, a, b] = out[:, b, a] = table[f"s{a}_{b}"].to_numpy(dtype=float)
    return out


class _ProbeDesign(_Design):
    """The design with the time basis taken as given (to read X off as a linear map)."""

    def __init__(self, design, basis):
        self.__dict__.update(design.__dict__)
        self._basis = basis

    def time_columns(self, t):
        names = _Design.time_columns(self, np.zeros(len(t)))[1]
        return self._basis, names


def _linear_map(design, spec, cell, columns, covariates):
    """``A`` (width x p) with ``X row = [1, u...] A`` for rows of one combination ``cell``
    of the categorical columns (raw, unshifted u; participant-level numeric
    covariates appended to u after y)."""
    width = spec.width + len(covariates)
    probes = np.zeros((width, width))
    probes[:, 0] = 1.0
    probes[np.arange(1, width), np.arange(1, width)] = 1.0
    frame = pd.DataFrame({c: [v] * width for c, v in zip(columns, cell)}, index=range(width))
    frame[design.time] = 0.0
    for j, c in enumerate(spec.numeric):
        frame[c] = probes[:, spec.i_numeric + j]
    for j, c in enumerate(covariates):
        frame[c] = probes[:, spec.width + j]
    X, _ = _ProbeDesign(design, probes[:, 1:1 + spec.n_basis]).matrix(frame)
    A = X - X[0]
    A[0] = X[0]
    return A


class DaskMixedModel(_EngineCounts):
    """The design and reduced statistics of a mixed model fitted on a Dask DataFrame.

    Has the attributes :class:`DoseResponseResult` reads from a
    :class:`~backwalk_study.stats.mixed.MixedModel` (``design``,
    ``design_names``, ``engine_model``, ``subjects``, counts); ``data`` is
    only the two extremes of time (for the finite-difference step of slopes),
    not the rows.
    """

    engine = "exact"
    breakpoint_estimated = False
    _site_of_group = None  # each participant's site, with site=

    def __init__(self, design, names, engine_model, subjects, *, n_dropped, time_mean, time_range,
                 fallback=None, notes=(), column_sums=None, outcome=None):
        self.design = design
        self.design_names = list(names)
        self.engine_model = engine_model
        self.subjects = subjects
        self.n_dropped = int(n_dropped)
        self.time_mean = float(time_mean)
        self.data = pd.DataFrame({design.time: list(time_range)})
        self.fallback = fallback
        self.notes = list(notes)
        self.column_sums = column_sums  # of the centred X (1'X~), for r2
        # not the rows: (n, mean, sum of squares about the mean) of the outcome,
        # so that likelihood_ratio_test can tell whether two fits saw the same data
        self.y = np.asarray(outcome if outcome is not None else [], dtype=float)

    def fit(self, reml=True, dof="satterthwaite", confidence=0.95):
        """The exact fit by REML or ML, as :meth:`MixedModel.fit` (no statsmodels fall-back).

        Returns
        -------
        DaskDoseResponseResult
        """
        check_fit_arguments(_WHAT, dof, reml, self.design.site, confidence)
        notes = self.fit_notes()
        fit = self.engine_model.fit(reml=reml)
        if not fit.converged:
            notes.append(f"the exact engine did not converge ({fit.message}; largest gradient "
                         f"{fit.gradient_max:.2g})")
        result = DaskDoseResponseResult(self, fit, dof=dof, confidence=confidence, notes=notes)
        for msg in result.diagnostics.warnings:
            warnings.warn(msg, ModelFitWarning, stacklevel=3)
        return result


class DaskDoseResponseResult(DoseResponseResult):
    """:class:`DoseResponseResult` of a model fitted from reduced statistics (see the module notes)."""

    def _make_r2(self):
        lmm = self.model.engine_model
        beta = np.asarray(self._fit.beta, dtype=float).copy()
        beta[0] = 0.0  # the intercept shifts X beta, it does not spread it
        G = lmm.XyXy[:-1, :-1]
        s = float(self.model.column_sums @ beta)
        var_f = float((beta @ G @ beta - s * s / lmm.n) / (lmm.n - 1))
        zz = lmm.ZtZ.sum(axis=0)
        var_r = float(np.sum(self.cov_re * zz) / lmm.n) + (self.var_site or 0.0)
        var_e = self._fit.sigma**2
        total = var_f + var_r + var_e
        return pd.Series({"marginal": var_f / total, "conditional": (var_f + var_r) / total,
                          "var_fixed": var_f, "var_random": var_r, "var_residual": var_e}, name="r2")

    def _default_at(self, at):
        d = self.model.design
        if at is None:
            return {d.time: self.model.time_mean}
        return super()._default_at(at)

    def predict(self, new_data=None, include_random=False, confidence=None):
        """Population predictions for ``new_data`` (required; the rows fitted stay on the cluster)."""
        if new_data is None or include_random:
            raise ValueError(f"{_WHAT}: predict needs new_data and include_random=False; for each "
                             "participant's trajectory use .blups()")
        return super().predict(new_data, include_random=False, confidence=confidence)

    def plot(self, *args, **kwargs):
        raise ValueError(f"{_WHAT}: plot draws every participant's rows; fit a sample in memory to plot")

    def blups(self, npartitions: int | None = None):
        """The participants' BLUPs (``participant_effects``) as a Dask DataFrame."""
        import dask.dataframe as dd

        pe = self.participant_effects
        n = npartitions or max(1, len(pe) // 100_000)
        return dd.from_pandas(pe, npartitions=n)


# ---------------------------------------------------------------- the model
def _levels(values, dtype, reference, column):
    """:func:`~backwalk_study.stats.mixed.levels_of`, after Dask's categoricals of unknown categories."""
    if isinstance(dtype, pd.CategoricalDtype) and dtype.categories is not None and \
            "__UNKNOWN_CATEGORIES__" in list(dtype.categories):
        raise ValueError(f"{_WHAT}: {column!r} is a Dask categorical whose categories are unknown, so its "
                         f"level order is too; use data[{column!r}].cat.as_known() (or plain text) first")
    return levels_of(values, dtype, column, reference, _WHAT)


def dose_response_dask(data, dv, *, subject, time, between=None, covariates=None, site=None,
                       participants=None, random_slope=True, shape="linear", knots=None, df=3, breakpoint=None,
                       reference=None, reml=True, dof="satterthwaite", confidence=0.95):
    """Fit :func:`~backwalk_study.stats.mixed.dose_response`'s model to a Dask DataFrame.

    Parameters
    ----------
    data : dask.dataframe.DataFrame
        Long data, one row per observation (e.g. ``PartitionedStudy.outcome(measure)``).
    dv, subject, time, between, covariates, site, random_slope, reference, reml, dof, confidence
        As in :func:`~backwalk_study.stats.mixed.dose_response`. A factor in
        ``between`` and the ``site`` must be constant within each participant.
    participants : DataFrame or dask.dataframe.DataFrame, optional
        One row per participant (``subject`` and participant-level columns,
        such as the arm or age). ``between``, ``covariates`` and ``site``
        columns not in ``data`` are taken from here, joined to the reduced
        statistics (one row per participant) rather than to every row; a
        participant without a row here, or with an empty value, is left out
        with their rows (counted as dropped).
    shape : {"linear", "quadratic", "spline", "plateau"}
        "plateau" needs ``breakpoint`` (an estimated breakpoint needs refits:
        fit it in memory). A spline's knots (``knots``, or ``df``: quantiles
        of time as R's ``ns()``) come from a first pass that counts each
        time (a frequency table, exact).
    knots, df
        As in :func:`~backwalk_study.stats.mixed.dose_response`.

    Returns
    -------
    DaskDoseResponseResult

    Notes
    -----
    One pass over the data: each partition reduces its rows to
    per-participant sums of ``u u'``, with ``u`` the time basis, numeric
    covariates and outcome, grouped by participant and by the categorical
    columns of the rows (taken relative to the partition's means, so the
    sums keep their precision). No shuffle: the sums (a few dozen numbers
    per participant, ~0.3 kB) come to the client, where participants spread
    over several partitions are added up, the design's columns are read off
    each combination of categories as a linear map of ``u``, and the exact
    engine runs as in memory. A million participants need ~1 GB on the
    client.

    Examples
    --------
    lme4's sleepstudy (real data) in three partitions gives lme4's fit:

    >>> import dask.dataframe as dd
    >>> from backwalk_study.data.datasets import sleepstudy
    >>> from backwalk_study.stats.mixed_dask import dose_response_dask
    >>> parts = dd.from_pandas(sleepstudy(), npartitions=3)
    >>> fit = dose_response_dask(parts, "Reaction", subject="Subject", time="Days")
    >>> round(fit.loglik, 3)                     # lme4: -871.814
    -871.814
    """
    import dask

    if shape not in SHAPES or (shape == "plateau" and breakpoint is None):
        raise ValueError(f"{_WHAT}: shape must be 'linear', 'quadratic', 'spline' or 'plateau' with a "
                         "breakpoint (estimate a breakpoint in memory)")
    if shape == "spline" and knots is None and (isinstance(df, bool) or int(df) != df or df < 1):
        raise ValueError(f"{_WHAT}: df must be a whole number >= 1; got {df!r}")  # before any pass
    check_fit_arguments(_WHAT, dof, reml, site, confidence)  # before any pass over the data
    if not hasattr(data, "map_partitions"):
        raise ValueError(f"{_WHAT}: data must be a Dask DataFrame, not {type(data).__name__}")
    covariates = list(covariates or [])
    factors = [] if between is None else ([between] if isinstance(between, str) else list(between))
    sites = [] if site is None else [site]
    named = [dv, time, subject] + factors + covariates + sites
    if len(set(named)) != len(named):
        raise ValueError(f"{_WHAT}: dv, time, subject, between, covariates and site must be different columns")
    missing = [c for c in (dv, time, subject) if c not in data.columns]
    if participants is not None:
        if subject not in participants.columns:
            raise ValueError(f"{_WHAT}: participants has no column {subject!r}")
        from_people = [c for c in factors + covariates + sites
                       if c not in data.columns and c in participants.columns]
    else:
        from_people = []
    missing += [c for c in factors + covariates + sites if c not in data.columns and c not in from_people]
    if missing:
        where = "data" if participants is None else "data or participants"
        raise ValueError(f"{_WHAT}: column(s) not found in {where}: {', '.join(map(str, missing))}")
    dtypes = dict(data.dtypes)
    if from_people:
        dtypes.update({c: participants.dtypes[c] for c in from_people})
    for col, what in ((dv, "the outcome"), (time, "time")):
        if not pd.api.types.is_numeric_dtype(dtypes[col]) or pd.api.types.is_bool_dtype(dtypes[col]):
            raise ValueError(f"{_WHAT}: {what} {col!r} must be numeric; it has dtype {dtypes[col]}")

    def numeric(c):
        return pd.api.types.is_numeric_dtype(dtypes[c]) and not pd.api.types.is_bool_dtype(dtypes[c])

    numeric_cov = [c for c in covariates if numeric(c)]
    cat_cov = [c for c in covariates if not numeric(c)]
    spec = _RowSpec(dv=dv, time=time, subject=subject,
                    keys=tuple(c for c in factors + cat_cov + sites if c not in from_people),
                    numeric=tuple(c for c in numeric_cov if c not in from_people),
                    shape=shape, breakpoint=None if breakpoint is None else float(breakpoint))
    person_num = [c for c in numeric_cov if c in from_people]

    people = None
    if from_people:
        people = participants[[subject] + from_people]
        if not isinstance(people, pd.DataFrame):
            people = people.compute()
    if shape == "spline":
        spec = _with_spline_knots(data, spec, people, from_people, knots, df)
    # the one pass over the rows
    tasks = [dask.delayed(_partition_statistics)(part, spec) for part in data.to_delayed()]
    got = dask.compute(*tasks)
    if any(g["n_inf"] for g in got):
        numeric_cols = [dv, time, *spec.numeric]
        raise ValueError(f"{_WHAT}: {', '.join(map(repr, numeric_cols))} must be finite (no inf); "
                         f"{sum(g['n_inf'] for g in got)} row(s) are not")
    m = spec.width
    parts = [g for g in got if g["n"] > 0]
    n_before = int(sum(g["n_before"] for g in got))
    n_rows = int(sum(g["n"] for g in parts))
    if n_rows == 0:
        raise ValueError(f"{_WHAT}: no rows with {', '.join([dv, time, subject] + list(spec.keys) + list(spec.numeric))} "
                         "all present")
    # a common shift (the overall means), then one table of sums
    shift = sum(g["n"] * g["shift"] + _to_matrices(g["table"], m)[:, 0, 1:].sum(axis=0) for g in parts) / n_rows
    tables = []
    for g in parts:
        L = np.eye(m)
        L[1:, 0] = g["shift"] - shift  # [1, u - s] = L [1, u - s_k]
        M = np.einsum("ab,gbc,dc->gad", L, _to_matrices(g["table"], m), L)
        table = g["table"].drop(columns=[f"s{a}_{b}" for a, b in _triangle(m)])
        for a, b in _triangle(m):
            table[f"s{a}_{b}"] = M[:, a, b]
        tables.append(table)
    by = [subject, *spec.keys]
    table = pd.concat(tables, ignore_index=True)
    if len(parts) > 1 and table.duplicated(by).any():
        table = _sum_groups(table, by)
    n_dropped = n_before - n_rows
    if people is not None:
        dup = people[subject].duplicated()
        if dup.any():
            raise ValueError(f"{_WHAT}: participants lists {subject} {people[subject][dup].iloc[0]!r} "
                             "more than once")
        kinds = (table[subject].dtype, people[subject].dtype)
        if pd.api.types.is_numeric_dtype(kinds[0]) != pd.api.types.is_numeric_dtype(kinds[1]):
            raise ValueError(f"{_WHAT}: {subject!r} holds {kinds[0]} values in data but {kinds[1]} in "
                             "participants; give both the same type")
        table = table.merge(people, on=subject, how="left", validate="many_to_one")
        lost = table[from_people].isna().any(axis=1).to_numpy()
        if lost.any():
            n_dropped += int(table.loc[lost, "s0_0"].sum())
            table = table.loc[~lost].reset_index(drop=True)
            n_rows = int(table["s0_0"].sum())
            if n_rows == 0:
                raise ValueError(f"{_WHAT}: no participant has {', '.join(from_people)} in participants")
    table = table.sort_values(subject, kind="stable").reset_index(drop=True)
    codes, subjects = pd.factorize(table[subject], sort=True)
    n_subj = len(subjects)
    if n_subj < 2:
        raise ValueError(f"{_WHAT}: only {n_subj} participant with usable rows: a mixed model needs at least two")
    if n_rows <= n_subj:
        raise ValueError(f"{_WHAT}: {n_rows} observations for {n_subj} participants: each participant needs "
                         "repeated measurements")

    # factors, levels and the checks of the in-memory model
    site_notes = []
    ref = (lambda col: reference.get(col) if isinstance(reference, dict)
           else (reference if factors == [col] else None))
    levels = {}
    for col in factors:
        lv = _levels(list(pd.unique(table[col])), dtypes[col], ref(col), col)
        if len(lv) < 2:
            raise ValueError(f"{_WHAT}: {col!r} has only one level among the rows analysed: a comparison "
                             "between groups needs at least two")
        changes = table.groupby(subject, sort=False)[col].nunique()
        if (changes > 1).any():
            bad = changes.index[changes > 1][:5].tolist()
            raise ValueError(f"{_WHAT}: {col!r} must be constant within each participant; it changes for "
                             f"{', '.join(map(str, bad))}")
        levels[col] = lv
    if len(factors) > 1:
        import itertools

        present = set(map(tuple, table[factors].drop_duplicates().itertuples(index=False)))
        empty = [" / ".join(map(str, c)) for c in itertools.product(*[levels[f] for f in factors])
                 if c not in present]
        if empty:
            raise ValueError(f"{_WHAT}: no participants in the combination(s) {'; '.join(empty)} of "
                             f"{' x '.join(factors)}")
    site_of_group = None
    if site is not None:
        site_of, note = check_sites(table, subject, site, _WHAT)
        site_of_group = site_of.reindex(subjects).to_numpy()
        if note:
            site_notes.append(note)
            warnings.warn(note, ModelFitWarning, stacklevel=2)
    categorical = {}
    for col in cat_cov:
        lv = _levels(list(pd.unique(table[col])), dtypes[col], ref(col), col)
        if len(lv) < 2:
            raise ValueError(f"{_WHAT}: covariate {col!r} is constant among the rows analysed; drop it")
        categorical[col] = lv
    counts = table["s0_0"].to_numpy()
    means_cov = {}
    for j, col in enumerate(spec.numeric):
        if table[f"v{j}_min"].min() == table[f"v{j}_max"].max():
            raise ValueError(f"{_WHAT}: covariate {col!r} is constant among the rows analysed "
                             f"({table[f'v{j}_min'].min():g} throughout); drop it")
        means_cov[col] = float(shift[spec.i_numeric - 1 + j] + table[f"s0_{spec.i_numeric + j}"].sum() / n_rows)
    for col in person_num:
        values = table[col].to_numpy(dtype=float)
        if values.min() == values.max():
            raise ValueError(f"{_WHAT}: covariate {col!r} is constant among the rows analysed "
                             f"({values.min():g} throughout); drop it")
        means_cov[col] = float(counts @ values / n_rows)
    t_min, t_max = float(table["t_min"].min()), float(table["t_max"].max())
    if shape == "plateau" and not t_min < breakpoint < t_max:
        raise ValueError(f"{_WHAT}: breakpoint {breakpoint:g} must lie inside the observed range of {time} "
                         f"({t_min:g}-{t_max:g})")
    fallback = None
    if random_slope:
        slope = (lambda v: min(v, breakpoint)) if shape == "plateau" else (lambda v: v)
        # the slope variable rises with time: two distinct values or more iff its ends differ
        fallback = random_slope_fallback(n_rows, n_subj, 2 if slope(t_max) > slope(t_min) else 1, subject)
        if fallback is not None:
            warnings.warn(fallback, ModelFitWarning, stacklevel=2)
            random_slope = False
    design = _Design(dv=dv, time=time, subject=subject, factors=factors, levels=levels, shape=shape,
                     knots=spec.knots, breakpoint=breakpoint, numeric_covariates=numeric_cov,
                     categorical_covariates=categorical, covariate_means=means_cov, random_slope=random_slope,
                     site=site)

    # sums of [1, u - s, c - mean c] (participant-level numeric covariates c appended)
    M = _to_matrices(table, m)
    if person_num:
        c = np.column_stack([table[col].to_numpy(dtype=float) - means_cov[col] for col in person_num])
        w = m + len(person_num)
        big = np.zeros((len(table), w, w))
        big[:, :m, :m] = M
        big[:, m:, :m] = c[:, :, None] * M[:, None, 0, :]
        big[:, :m, m:] = big[:, m:, :m].transpose(0, 2, 1)
        big[:, m:, m:] = c[:, :, None] * c[:, None, :] * M[:, 0, 0][:, None, None]
        M = big
    w = M.shape[1]
    # raw = L h, with h = [1, u - s, c - mean c]
    L = np.eye(w)
    L[1:m, 0] = shift
    L[m:, 0] = [means_cov[col] for col in person_num]
    # Z = [1, slope] and y, as linear maps of h
    q = 2 if random_slope else 1
    R = L.T[:, [0, spec.i_slope]][:, :q]
    e_y = np.zeros(w)
    e_y[spec.i_y] = 1.0
    cells_cols = factors + cat_cov
    if cells_cols:
        cell_codes = table.groupby(cells_cols, sort=False, observed=True).ngroup().to_numpy()
        cells = list(table[cells_cols].drop_duplicates().itertuples(index=False, name=None))
    else:
        cell_codes, cells = np.zeros(len(table), dtype=np.intp), [()]
    maps = [L.T @ _linear_map(design, spec, cell, cells_cols, person_num) for cell in cells]
    names = design.matrix(pd.DataFrame({**{c: [levels.get(c, categorical.get(c, [None]))[0]]
                                           for c in cells_cols},
                                        time: [0.0], **{c: [0.0] for c in numeric_cov}}))[1]
    p = len(names)
    # column means of X (the engine centres X and y; y's mean is its shift)
    first = M[:, 0, :]
    col_sums = np.zeros(p)
    for k, A in enumerate(maps):
        col_sums += first[cell_codes == k].sum(axis=0) @ A
    x_means = col_sums / n_rows
    x_means[0] = 0.0
    if len(table) == n_subj:  # one row of sums per participant

        def add(out, at, values):
            out[at] = values
    else:
        add = np.add.at
    ZtXy = np.zeros((n_subj, q, p + 1))
    ZtZ = np.zeros((n_subj, q, q))
    XyXy = np.zeros((p + 1, p + 1))
    for k, A in enumerate(maps):
        sel = cell_codes == k
        Q = np.column_stack([A - np.outer(np.eye(w)[0], x_means), e_y])
        Ms = M[sel]
        MQ = Ms @ Q
        add(ZtXy, codes[sel], np.einsum("ha,gab->ghb", R.T, MQ))
        add(ZtZ, codes[sel], np.einsum("ha,gab,bk->ghk", R.T, Ms, R))
        XyXy += np.einsum("ab,ac->bc", Q, MQ.sum(axis=0))
    y_mean = float(shift[spec.i_y - 1])
    if site is None:
        lmm = GroupedLMM.from_statistics(ZtXy, ZtZ, XyXy, n_rows, x_means, y_mean)
    else:
        lmm = NestedLMM.from_statistics(ZtXy, ZtZ, XyXy, n_rows, x_means, y_mean, site_of_group=site_of_group)
    check_collinear(XyXy[:-1, :-1], names, _WHAT)
    model = DaskMixedModel(design, names, lmm, np.asarray(subjects), n_dropped=n_dropped,
                           time_mean=float(shift[spec.i_time - 1] + table[f"s0_{spec.i_time}"].sum() / n_rows),
                           time_range=(t_min, t_max), fallback=fallback,
                           column_sums=ZtXy[:, 0, :-1].sum(axis=0),
                           outcome=[n_rows, y_mean, XyXy[-1, -1]])
    model._site_of_group = site_of_group
    model.notes += site_notes
    return model.fit(reml=reml, dof=dof, confidence=confidence)


def _with_spline_knots(data, spec, people, from_people, knots, df):
    """``spec`` with R's ``ns()`` knots, from a frequency table of time over the rows analysed."""
    import dask
    from dataclasses import replace

    columns = [spec.dv, spec.time, spec.subject, *spec.keys, *spec.numeric]
    keep = None
    if people is not None:
        keep = dask.delayed(people.dropna(subset=from_people)[spec.subject].unique())
    tables = dask.compute(*[dask.delayed(_time_counts)(part, columns, spec.time, spec.subject, keep)
                            for part in data.to_delayed()])
    table = pd.concat(tables).groupby(level=0).sum()
    if table.empty:
        raise ValueError(f"{_WHAT}: no rows with {', '.join(columns)} all present")
    values, counts = table.index.to_numpy(dtype=float), table.to_numpy()
    return replace(spec, knots=spline_knots_of(values, knots, df, spec.time, _WHAT, counts=counts))
