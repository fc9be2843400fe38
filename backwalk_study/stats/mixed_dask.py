"""The growth-curve mixed model of :func:`~backwalk_study.stats.mixed.dose_response` on Dask.

The exact REML/ML engine (:mod:`backwalk_study.stats._lmm`) needs only
per-participant sufficient statistics (``Z_i'[X_i y_i]``, ``Z_i'Z_i``) and
the global cross-products ``[X y]'[X y]``, so the fit is a map-reduce:

1. one pass for what the design needs (factor levels, covariate means, the
   range of time, counts) and the checks of the in-memory model (a factor
   constant within each participant, enough participants and times);
2. one pass for the column means of ``X`` and ``y`` (the engine centres
   them, an exact reparametrisation that keeps sums of squares precise);
3. one pass in which each partition turns its rows into per-row products
   ``z_k * [x y]`` and ``z_k * z_l``, summed per participant (a Dask
   group-by, shuffled by participant across partitions), and a
   ``(p + 1) x (p + 1)`` cross-product summed over partitions.

The statistics (a few numbers per participant) come to the client, where
the engine's optimisation, certification and Satterthwaite inference run
unchanged; :class:`DaskDoseResponseResult` then gives the same ``.fixed``,
``.random``, ``.emmeans()``, ``.slopes()``, ``.contrasts()``, ``.r2`` and
``.participant_effects`` as in memory, and :meth:`DaskDoseResponseResult.blups`
hands the participants' BLUPs back as a Dask DataFrame.

Differences from the in-memory model, all stated:

* ``r2``: the variances are computed from the reduced statistics,
  ``var_fixed = (v'X~'X~v - (1'X~v)^2 / n) / (n - 1)`` with ``v`` the fixed
  effects without the intercept and ``X~`` the centred design, and
  ``var_random = tr(Sigma sum_i Z_i'Z_i) / n``: algebraically the same as
  ``np.var(X beta, ddof=1)`` and ``mean(z' Sigma z)``, equal to rounding;
* shapes: linear, quadratic and plateau with a given breakpoint (a spline's
  knots are quantiles of time and an estimated breakpoint needs refits: fit
  those in memory); no site intercept, no Kenward-Roger (it needs the
  per-row design), no statsmodels fall-back (a fit that does not converge is
  reported as such);
* ``predict`` needs ``new_data`` and the population prediction; ``plot`` is
  not available (it draws every participant's rows).

The engine's constructor is bypassed (:func:`grouped_lmm_from_statistics`
sets the attributes ``GroupedLMM.__init__`` sets); if the engine gains an
attribute there, this module must follow.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ._lmm import GroupedLMM
from .mixed import (SHAPES, DoseResponseResult, ModelFitWarning, _Design)

__all__ = ["dose_response_dask", "DaskMixedModel", "DaskDoseResponseResult", "grouped_lmm_from_statistics"]

_WHAT = "dose_response_dask"


def grouped_lmm_from_statistics(ZtXy, ZtZ, XyXy, n, means, y_mean) -> GroupedLMM:
    """A :class:`GroupedLMM` from precomputed (centred) sufficient statistics.

    Parameters
    ----------
    ZtXy : ndarray (N, q, p + 1)
        Per participant ``Z_i'[X~_i y~_i]`` on the centred design and outcome.
    ZtZ : ndarray (N, q, q)
        Per participant ``Z_i'Z_i`` (``Z`` not centred; its first column is 1).
    XyXy : ndarray (p + 1, p + 1)
        ``[X~ y~]'[X~ y~]``.
    n : int
        Rows.
    means : ndarray (p,)
        Column means of ``X`` (the intercept column, index 0, is not centred).
    y_mean : float
        Mean of ``y``.
    """
    lmm = object.__new__(GroupedLMM)
    lmm.n_groups, lmm.q, p1 = ZtXy.shape
    lmm.n, lmm.p = int(n), p1 - 1
    if lmm.q not in (1, 2):
        raise ValueError("only one or two random effects per participant are supported")
    lmm.ZtXy = np.ascontiguousarray(ZtXy, dtype=float)
    lmm.ZtZ = np.ascontiguousarray(ZtZ, dtype=float)
    lmm.XyXy = np.asarray(XyXy, dtype=float)
    lmm.group_sizes = np.rint(ZtZ[:, 0, 0]).astype(np.int64)
    lmm._tri = [(0, 0)] if lmm.q == 1 else [(0, 0), (1, 0), (1, 1)]
    lmm.n_theta = len(lmm._tri)
    lmm._intercept = 0
    means = np.asarray(means, dtype=float).copy()
    means[0] = 0.0
    lmm._T = np.eye(lmm.p)
    lmm._T[0] -= means
    lmm._y_shift = float(y_mean)
    return lmm


# ------------------------------------------------------------ per partition
def _design_rows(part: pd.DataFrame, design: _Design, dv: str):
    X, _ = design.matrix(part)
    Z = design.z_matrix(part)
    y = part[dv].to_numpy(dtype=float)
    return X, Z, y


def _column_sums(part, design, dv):
    X, _, y = _design_rows(part, design, dv)
    return np.r_[X.sum(axis=0), y.sum(), len(y)]


def _participant_sums(part, design, dv, subject, means, y_mean):
    """Per participant sums of z_k [x~ y~] and z_k z, and this partition's [X~ y~]'[X~ y~]."""
    X, Z, y = _design_rows(part, design, dv)
    X = X - means  # means[0] == 0 keeps the intercept column
    Xy = np.column_stack([X, y - y_mean])
    q = Z.shape[1]
    cols = {}
    for k in range(q):
        for j in range(Xy.shape[1]):
            cols[f"c{k}_{j}"] = Z[:, k] * Xy[:, j]
        for j in range(q):
            cols[f"a{k}_{j}"] = Z[:, k] * Z[:, j]
    frame = pd.DataFrame(cols, index=pd.Index(part[subject].to_numpy(), name=subject))
    return frame[_ordered(q, Xy.shape[1])].groupby(level=0, sort=False).sum().reset_index()


def _cross_product(part, design, dv, means, y_mean):
    X, _, y = _design_rows(part, design, dv)
    X = X - means
    Xy = np.column_stack([X, y - y_mean])
    return Xy.T @ Xy


class DaskMixedModel:
    """The design and reduced statistics of a mixed model fitted on a Dask DataFrame.

    Has the attributes :class:`DoseResponseResult` reads from a
    :class:`~backwalk_study.stats.mixed.MixedModel` (``design``,
    ``design_names``, ``engine_model``, ``subjects``, counts); ``data`` is
    only the two extremes of time (for the finite-difference step of slopes),
    not the rows.
    """

    engine = "exact"
    breakpoint_estimated = False
    n_sites = None

    def __init__(self, design, names, engine_model, subjects, *, n_dropped, time_mean, time_range,
                 fallback=None, notes=(), column_sums=None):
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

    @property
    def n_obs(self):
        return int(self.engine_model.n)

    @property
    def n_participants(self):
        return int(self.engine_model.n_groups)

    @property
    def n_params(self):
        return self.engine_model.p + self.engine_model.n_theta + 1


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
        var_r = float(np.sum(self.cov_re * zz) / lmm.n)
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
    if isinstance(dtype, pd.CategoricalDtype) and dtype.categories is not None and len(dtype.categories):
        cats = list(dtype.categories)
        empty = [c for c in cats if c not in set(values)]
        if empty:
            raise ValueError(f"{_WHAT}: level(s) {', '.join(map(repr, empty))} of {column!r} have no "
                             "participants among the rows analysed; remove the unused categories")
        levels = cats
    else:
        levels = sorted(values, key=lambda v: (str(type(v)), v))
    if reference is not None:
        if reference not in levels:
            raise ValueError(f"{_WHAT}: reference level {reference!r} is not a level of {column!r} "
                             f"(levels: {', '.join(map(str, levels))})")
        levels = [reference] + [v for v in levels if v != reference]
    return levels


def dose_response_dask(data, dv, *, subject, time, between=None, covariates=None, random_slope=True,
                       shape="linear", breakpoint=None, reference=None, reml=True, confidence=0.95,
                       split_out=None):
    """Fit :func:`~backwalk_study.stats.mixed.dose_response`'s model to a Dask DataFrame.

    Parameters
    ----------
    data : dask.dataframe.DataFrame
        Long data, one row per observation (e.g. ``PartitionedStudy.long(measure)``).
    dv, subject, time, between, covariates, random_slope, reference, reml, confidence
        As in :func:`~backwalk_study.stats.mixed.dose_response`.
    shape : {"linear", "quadratic", "plateau"}
        "plateau" needs ``breakpoint``.
    split_out : int, optional
        Partitions of the per-participant group-by (default: as many as the
        data have).

    Returns
    -------
    DaskDoseResponseResult

    Notes
    -----
    Runs on the current Dask scheduler. The per-participant statistics
    (``q (p + 2) + q^2`` numbers per participant, ~150 bytes) come to the
    client: a million participants take ~150 MB there.

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

    if shape not in SHAPES or shape == "spline" or (shape == "plateau" and breakpoint is None):
        raise ValueError(f"{_WHAT}: shape must be 'linear', 'quadratic' or 'plateau' with a breakpoint "
                         "(fit splines and estimated breakpoints in memory)")
    if not hasattr(data, "map_partitions"):
        raise ValueError(f"{_WHAT}: data must be a Dask DataFrame, not {type(data).__name__}")
    covariates = list(covariates or [])
    factors = [] if between is None else ([between] if isinstance(between, str) else list(between))
    needed = [dv, time, subject] + factors + covariates
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise ValueError(f"{_WHAT}: column(s) not found in data: {', '.join(map(str, missing))}")
    if len(set(needed)) != len(needed):
        raise ValueError(f"{_WHAT}: dv, time, subject, between and covariates must be different columns")
    dtypes = data.dtypes
    for col, what in ((dv, "the outcome"), (time, "time")):
        if not pd.api.types.is_numeric_dtype(dtypes[col]) or pd.api.types.is_bool_dtype(dtypes[col]):
            raise ValueError(f"{_WHAT}: {what} {col!r} must be numeric; it has dtype {dtypes[col]}")
    numeric_cov = [c for c in covariates
                   if pd.api.types.is_numeric_dtype(dtypes[c]) and not pd.api.types.is_bool_dtype(dtypes[c])]
    cat_cov = [c for c in covariates if c not in numeric_cov]

    # three passes read these columns: keep them in the workers' memory
    columns = data[needed].persist()
    n_before = columns.shape[0]
    frame = columns.dropna()
    t = frame[time]
    slope_t = t.clip(upper=breakpoint) if shape == "plateau" else t
    todo = {
        "n_before": n_before, "n": frame.shape[0], "n_subj": frame[subject].nunique(),
        "t_min": t.min(), "t_max": t.max(), "t_sum": t.sum(), "n_times": slope_t.nunique(),
    }
    for col in factors + cat_cov:
        todo[f"levels:{col}"] = frame[col].unique()
    for col in factors:
        todo[f"const:{col}"] = frame.groupby(subject)[col].nunique().max()
    for col in numeric_cov:
        todo[f"mean:{col}"] = frame[col].mean()
        todo[f"nuniq:{col}"] = frame[col].nunique()
    if len(factors) > 1:
        todo["cells"] = frame[factors].drop_duplicates()
    got = dict(zip(todo, dask.compute(*todo.values())))
    n, n_subj = int(got["n"]), int(got["n_subj"])
    if n == 0:
        raise ValueError(f"{_WHAT}: no rows with {', '.join(needed)} all present")
    if n_subj < 2:
        raise ValueError(f"{_WHAT}: only {n_subj} participant with usable rows: a mixed model needs at least two")
    if n <= n_subj:
        raise ValueError(f"{_WHAT}: {n} observations for {n_subj} participants: each participant needs "
                         "repeated measurements")
    ref = (lambda col: reference.get(col) if isinstance(reference, dict)
           else (reference if factors == [col] else None))
    levels = {}
    for col in factors:
        lv = _levels(list(got[f"levels:{col}"]), dtypes[col], ref(col), col)
        if len(lv) < 2:
            raise ValueError(f"{_WHAT}: {col!r} has only one level among the rows analysed: a comparison "
                             "between groups needs at least two")
        if int(got[f"const:{col}"]) > 1:
            raise ValueError(f"{_WHAT}: {col!r} must be constant within each participant")
        levels[col] = lv
    if len(factors) > 1:
        import itertools

        present = set(map(tuple, got["cells"].itertuples(index=False)))
        empty = [" / ".join(map(str, c)) for c in itertools.product(*[levels[f] for f in factors])
                 if c not in present]
        if empty:
            raise ValueError(f"{_WHAT}: no participants in the combination(s) {'; '.join(empty)} of "
                             f"{' x '.join(factors)}")
    categorical = {}
    for col in cat_cov:
        lv = _levels(list(got[f"levels:{col}"]), dtypes[col], ref(col), col)
        if len(lv) < 2:
            raise ValueError(f"{_WHAT}: covariate {col!r} is constant among the rows analysed; drop it")
        categorical[col] = lv
    for col in numeric_cov:
        if int(got[f"nuniq:{col}"]) < 2:
            raise ValueError(f"{_WHAT}: covariate {col!r} is constant among the rows analysed; drop it")
    means_cov = {c: float(got[f"mean:{c}"]) for c in numeric_cov}
    fallback = None
    if random_slope:
        problem = None
        if n_subj < 3:
            problem = f"only {n_subj} participants (a random slope needs at least 3)"
        elif int(got["n_times"]) < 2:
            problem = f"only {int(got['n_times'])} distinct time point (a random slope needs at least 2)"
        elif n <= 2 * n_subj:
            problem = (f"{n} observations for {n_subj} participants: a random intercept and slope need more "
                       "observations than random effects (2 per participant), as lme4 requires")
        if problem is not None:
            fallback = (f"random slope dropped: {problem}; fitted a random intercept model "
                        f"(1 | {subject}) instead")
            warnings.warn(fallback, ModelFitWarning, stacklevel=2)
            random_slope = False
    design = _Design(dv=dv, time=time, subject=subject, factors=factors, levels=levels, shape=shape,
                     knots=None, breakpoint=breakpoint, numeric_covariates=numeric_cov,
                     categorical_covariates=categorical, covariate_means=means_cov, random_slope=random_slope)
    names = design.matrix(frame._meta)[1]

    # pass 2: column means of X and y (the engine's centring)
    sums = frame.map_partitions(lambda part: pd.DataFrame([_column_sums(part, design, dv)]),
                                meta=pd.DataFrame({i: pd.Series(dtype=float) for i in range(len(names) + 2)}))
    totals = sums.sum().compute().to_numpy()
    means = totals[:len(names)] / n
    means[0] = 0.0
    y_mean = totals[len(names)] / n

    # pass 3: per-participant statistics and the cross-product
    q = 2 if random_slope else 1
    p1 = len(names) + 1
    stat_cols = [f"c{k}_{j}" for k in range(q) for j in range(p1)] + [f"a{k}_{j}" for k in range(q) for j in range(q)]
    meta = pd.DataFrame({subject: pd.Series(dtype=frame._meta[subject].dtype),
                         **{c: pd.Series(dtype=float) for c in stat_cols}})
    per_part = frame.map_partitions(_participant_sums, design, dv, subject, means, y_mean, meta=meta)
    per_subject = per_part.groupby(subject).sum(split_out=split_out or frame.npartitions)
    cross = frame.map_partitions(
        lambda part: pd.DataFrame(_cross_product(part, design, dv, means, y_mean).reshape(1, -1)),
        meta=pd.DataFrame({i: pd.Series(dtype=float) for i in range(p1 * p1)})).sum()
    stats_frame, cross_sum = dask.compute(per_subject, cross)
    XyXy = cross_sum.to_numpy().reshape(p1, p1)
    stats_frame = stats_frame.sort_index()
    subjects = stats_frame.index.to_numpy()
    values = stats_frame[_ordered(q, p1)].to_numpy()
    ZtXy = values[:, : q * p1].reshape(-1, q, p1)
    ZtZ = values[:, q * p1:].reshape(-1, q, q)
    lmm = grouped_lmm_from_statistics(ZtXy, ZtZ, XyXy, n, means, y_mean)
    col_sums = ZtXy[:, 0, :-1].sum(axis=0)  # 1'X~ (Z's first column is 1)
    model = DaskMixedModel(design, names, lmm, subjects, n_dropped=int(got["n_before"]) - n,
                           time_mean=float(got["t_sum"]) / n, time_range=(got["t_min"], got["t_max"]),
                           fallback=fallback, column_sums=col_sums)
    notes = list(model.notes)
    fit = lmm.fit(reml=reml)
    if not fit.converged:
        notes.append(f"the exact engine did not converge ({fit.message}; largest gradient {fit.gradient_max:.2g})")
    result = DaskDoseResponseResult(model, fit, dof="satterthwaite", confidence=confidence, notes=notes)
    for msg in result.diagnostics.warnings:
        warnings.warn(msg, ModelFitWarning, stacklevel=2)
    return result


def _ordered(q, p1):
    return [f"c{k}_{j}" for k in range(q) for j in range(p1)] + [f"a{k}_{j}" for k in range(q) for j in range(q)]
