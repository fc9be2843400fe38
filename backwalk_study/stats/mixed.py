"""Dose-response: how an outcome changes with weeks or minutes of practice.

One function, :func:`dose_response`, fits the standard growth-curve linear
mixed model (random intercept and slope per participant) and returns a
:class:`DoseResponseResult` with Satterthwaite t-tests, estimated marginal
means and contrasts, R², participant effects, predictions and a plot.
:func:`compare_shapes` and :func:`likelihood_ratio_test` compare trajectory
shapes by maximum likelihood.

The fit itself is done by :mod:`backwalk_study.stats._lmm`, an exact REML/ML engine
on per-participant sufficient statistics; statsmodels' ``MixedLM`` is the
fall-back (``engine="statsmodels"``) and the cross-check in the tests.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from backwalk_study.stats._lmm import GroupedLMM, satterthwaite_df
from backwalk_study.stats._splines import ns_basis, ns_knots

__all__ = [
    "dose_response",
    "DoseResponseResult",
    "likelihood_ratio_test",
    "compare_shapes",
    "ModelFitWarning",
]

SHAPES = ("linear", "quadratic", "spline", "plateau")


class ModelFitWarning(UserWarning):
    """A fit that needs a second look: singular, not converged, or simplified."""


# --------------------------------------------------------------------------
# design: how the columns of X and Z are made from time, arm and covariates
# --------------------------------------------------------------------------
@dataclass
class _Design:
    dv: str
    time: str
    subject: str
    between: str | None
    levels: list
    shape: str
    knots: tuple | None  # spline: all knots incl. boundary
    breakpoint: float | None
    numeric_covariates: list
    categorical_covariates: dict  # name -> levels
    covariate_means: dict
    random_slope: bool

    def time_columns(self, t):
        """Fixed-effect columns of the time trajectory and their names."""
        t = np.asarray(t, dtype=float)
        name = self.time
        if self.shape == "linear":
            return t[:, None], [name]
        if self.shape == "quadratic":
            return np.column_stack([t, t * t]), [name, f"I({name} ** 2)"]
        if self.shape == "spline":
            basis = ns_basis(t, knots=self.knots[1:-1],
                             boundary_knots=(self.knots[0], self.knots[-1]))
            return basis, [f"ns({name})[{j + 1}]" for j in range(basis.shape[1])]
        if self.shape == "plateau":
            return np.minimum(t, self.breakpoint)[:, None], [
                f"np.minimum({name}, {self.breakpoint:g})"
            ]
        raise AssertionError(self.shape)

    def slope_variable(self, t):
        t = np.asarray(t, dtype=float)
        return np.minimum(t, self.breakpoint) if self.shape == "plateau" else t

    def matrix(self, frame):
        """X for a frame holding time, between and covariate columns (patsy order)."""
        n = len(frame)
        cols, names = [np.ones(n)], ["Intercept"]
        dummies = []
        if self.between is not None:
            values = frame[self.between].to_numpy()
            for lvl in self.levels[1:]:
                dummies.append((values == lvl).astype(float))
                cols.append(dummies[-1])
                names.append(f"{self.between}[T.{lvl}]")
        for cov, levels in self.categorical_covariates.items():
            values = frame[cov].to_numpy()
            for lvl in levels[1:]:
                cols.append((values == lvl).astype(float))
                names.append(f"{cov}[T.{lvl}]")
        tcols, tnames = self.time_columns(frame[self.time].to_numpy())
        for j, tname in enumerate(tnames):
            cols.append(tcols[:, j])
            names.append(tname)
            for lvl, dummy in zip(self.levels[1:], dummies):
                cols.append(tcols[:, j] * dummy)
                names.append(f"{tname}:{self.between}[T.{lvl}]")
        for cov in self.numeric_covariates:
            cols.append(frame[cov].to_numpy(dtype=float))
            names.append(cov)
        return np.column_stack(cols), names

    def z_matrix(self, frame):
        n = len(frame)
        if not self.random_slope:
            return np.ones((n, 1))
        return np.column_stack([np.ones(n), self.slope_variable(frame[self.time].to_numpy())])

    def grid(self, at, levels=None):
        """Reference grid rows (one per level x time), covariates at means/averaged.

        Returns the grid frame and the matrix of averaged design rows.
        """
        at = dict(at or {})
        times = np.atleast_1d(at.pop(self.time)).astype(float)
        level_list = self.levels if levels is None else levels
        rows, keys = [], []
        cat_names = list(self.categorical_covariates)
        cat_combos = list(
            itertools.product(*[self.categorical_covariates[c] for c in cat_names])
        ) or [()]
        for t in times:
            for lvl in level_list if self.between is not None else [None]:
                base = {self.time: t}
                if self.between is not None:
                    base[self.between] = lvl
                for cov in self.numeric_covariates:
                    base[cov] = float(at.get(cov, self.covariate_means[cov]))
                combos = (
                    [tuple(at[c] if c in at else v for c, v in zip(cat_names, combo))
                     for combo in cat_combos]
                )
                combos = list(dict.fromkeys(combos))
                frame = pd.DataFrame([{**base, **dict(zip(cat_names, combo))} for combo in combos])
                X, _ = self.matrix(frame)
                rows.append(X.mean(axis=0))  # equal weights over other factors
                keys.append(base)
        key_frame = pd.DataFrame(keys)
        cols = ([self.between] if self.between is not None else []) + [self.time]
        return key_frame[cols], np.vstack(rows)


# --------------------------------------------------------------------------
# input checks, in one place
# --------------------------------------------------------------------------
def _check_and_prepare(data, dv, time, subject, between, covariates, reference):
    if not isinstance(data, pd.DataFrame):
        raise TypeError("data must be a pandas DataFrame")
    covariates = list(covariates or [])
    needed = [dv, time, subject] + ([between] if between else []) + covariates
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise ValueError(f"column(s) not found in data: {', '.join(map(str, missing))}")
    if len(set(needed)) != len(needed):
        raise ValueError("dv, time, subject, between and covariates must be different columns")
    if not pd.api.types.is_numeric_dtype(data[dv]) or pd.api.types.is_bool_dtype(data[dv]):
        raise ValueError(f"the outcome {dv!r} must be numeric")
    if data[dv].isna().all():
        raise ValueError(f"the outcome {dv!r} is missing for every row: nothing to analyse")
    if not pd.api.types.is_numeric_dtype(data[time]) or pd.api.types.is_bool_dtype(data[time]):
        raise ValueError(
            f"time {time!r} must be numeric (weeks, or minutes of practice); "
            f"it has dtype {data[time].dtype}"
        )
    frame = data[needed].copy()
    n_before = len(frame)
    frame = frame.dropna()
    if not np.isfinite(frame[[dv, time]].to_numpy(dtype=float)).all():
        raise ValueError(f"{dv!r} and {time!r} must be finite (no inf)")
    levels = None
    if between:
        observed = pd.unique(frame[between])
        if isinstance(data[between].dtype, pd.CategoricalDtype):
            levels = [c for c in data[between].cat.categories if c in set(observed)]
        else:
            levels = sorted(observed, key=lambda v: (str(type(v)), v))
        if reference is not None:
            if reference not in levels:
                raise ValueError(
                    f"reference level {reference!r} is not a level of {between!r} "
                    f"(levels: {', '.join(map(str, levels))})"
                )
            levels = [reference] + [lvl for lvl in levels if lvl != reference]
        if len(levels) < 2:
            raise ValueError(
                f"{between!r} has only one level ({levels[0] if levels else 'none'}) "
                "among the rows analysed: a comparison between groups needs at least two"
            )
        per_subject = frame.groupby(subject, sort=False)[between].nunique()
        if (per_subject > 1).any():
            bad = per_subject.index[per_subject > 1][:5].tolist()
            raise ValueError(
                f"{between!r} must be constant within each participant; "
                f"it changes for {', '.join(map(str, bad))}"
            )
    elif reference is not None:
        raise ValueError("reference is given but between is not")
    numeric_cov, categorical_cov = [], {}
    for cov in covariates:
        col = frame[cov]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            numeric_cov.append(cov)
        else:
            lv = sorted(pd.unique(col), key=lambda v: (str(type(v)), v))
            if len(lv) < 2:
                raise ValueError(f"covariate {cov!r} has only one level among the rows analysed")
            categorical_cov[cov] = lv
    means = {cov: float(frame[cov].mean()) for cov in numeric_cov}
    return frame, levels, numeric_cov, categorical_cov, means, n_before - len(frame)


def _random_slope_problem(frame, time, subject, slope_values):
    """Why a random slope cannot be estimated here, or None.

    At least three participants, then lme4's own checks: a slope needs at
    least two distinct times, and more
    observations than random effects (``check.nobs.vs.nRE``). Two distinct
    times are enough when people have more than one observation at them (a
    repeated trial, say), so such a slope is fitted, as lme4 fits it.
    """
    n_subj = frame[subject].nunique()
    n_times = len(np.unique(slope_values))
    if n_subj < 3:
        return f"only {n_subj} participants (a random slope needs at least 3)"
    if n_times < 2:
        return f"only {n_times} distinct time point (a random slope needs at least 2)"
    if len(frame) <= 2 * n_subj:
        return (
            f"{len(frame)} observations for {n_subj} participants: a random intercept and "
            "slope need more observations than random effects (2 per participant), "
            "as lme4 requires"
        )
    return None


# --------------------------------------------------------------------------
# fitting
# --------------------------------------------------------------------------
def _theta_from_cov(cov_rel):
    L = np.linalg.cholesky(cov_rel)
    return np.array([L[0, 0]]) if len(L) == 1 else np.array([L[0, 0], L[1, 0], L[1, 1]])


def _fit_statsmodels(X, Z, y, group, reml, notes):
    """statsmodels MixedLM, translated to theta; its warnings are kept, not hidden.

    MixedLM's default L-BFGS can stop far from the optimum while reporting
    convergence (seen on the synthetic trial in tests/reference), so three of
    its optimisers are run and the highest likelihood is kept.
    """
    from statsmodels.regression.mixed_linear_model import MixedLM

    model = MixedLM(y, X, groups=group, exog_re=Z)
    best = None
    for method in ("lbfgs", "bfgs", "cg"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = model.fit(reml=reml, method=[method], gtol=1e-10)
            except (np.linalg.LinAlgError, ValueError) as err:
                notes.append(f"statsmodels ({method}) failed: {err}")
                continue
        for w in caught:
            notes.append(f"statsmodels ({method}): {w.message}")
        if best is None or res.llf > best.llf:
            best = res
    if best is None:
        raise RuntimeError("statsmodels MixedLM failed with every optimiser")
    cov_rel = np.atleast_2d(np.asarray(best.cov_re) / best.scale)
    if not np.all(np.linalg.eigvalsh(cov_rel) > 0):
        cov_rel = cov_rel + 1e-12 * np.eye(len(cov_rel))
    return _theta_from_cov(cov_rel), bool(best.converged)


def _run_engine(model, X, Z, y, group, reml, engine, notes):
    if engine == "statsmodels":
        theta, converged = _fit_statsmodels(X, Z, y, group, reml, notes)
        return model.fit_at(theta, reml, optimizer="statsmodels MixedLM", converged=converged)
    try:
        fit = model.fit(reml=reml)
    except (np.linalg.LinAlgError, FloatingPointError) as err:
        if engine != "auto":
            raise
        notes.append(f"the exact engine failed ({err}); statsmodels MixedLM was used instead")
        theta, converged = _fit_statsmodels(X, Z, y, group, reml, notes)
        return model.fit_at(theta, reml, optimizer="statsmodels MixedLM", converged=converged)
    if not fit.converged:
        notes.append(
            f"the exact engine did not converge ({fit.message}; largest gradient "
            f"{fit.gradient_max:.2g})"
        )
        if engine == "auto":
            # a second opinion from statsmodels; keep whichever optimum is better
            try:
                theta, converged = _fit_statsmodels(X, Z, y, group, reml, notes)
                alt = model.fit_at(theta, reml, optimizer="statsmodels MixedLM",
                                   converged=converged)
                if alt.deviance < fit.deviance:
                    notes.append("statsmodels MixedLM reached a lower deviance and was used")
                    fit = alt
            except Exception as err:  # noqa: BLE001 - the reason is reported
                notes.append(f"statsmodels fall-back failed: {err}")
    return fit


def dose_response(
    data,
    dv,
    time,
    subject,
    between=None,
    covariates=None,
    random_slope=True,
    reml=True,
    shape="linear",
    *,
    knots=None,
    df=3,
    breakpoint=None,
    reference=None,
    engine="auto",
    confidence=0.95,
):
    """Growth-curve mixed model of an outcome over weeks or minutes of practice.

    Fits ``dv ~ f(time) * between + covariates + (1 + time | subject)``: a fixed
    trajectory ``f`` per group, a random intercept and slope per participant.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per participant and visit (missing visits and
        unequal numbers of visits are fine).
    dv : str
        Outcome column (numeric).
    time : str
        Numeric time column: ``week``, or a dose such as
        ``cumulative_backward_minutes`` from :meth:`Study.dose`.
    subject : str
        Participant identifier column.
    between : str, optional
        Group column (e.g. ``arm``), constant within participant. Its
        reference level is the first in sorted order (or the first category of
        a pandas Categorical), unless ``reference`` is given.
    covariates : list of str, optional
        Extra fixed effects: numeric columns enter linearly, others as
        treatment-coded factors (e.g. ``backward_sessions`` for consistency).
    random_slope : bool, default True
        Random slope on time. If the data cannot support one (fewer than 3
        participants or 2 distinct times, or no more observations than random effects: lme4's
        rules), a random intercept model is fitted instead, with a
        :class:`ModelFitWarning` and ``diagnostics.fallback`` saying why.
    reml : bool, default True
        REML (as ``lme4::lmer`` by default) or maximum likelihood.
    shape : {"linear", "quadratic", "spline", "plateau"}
        Fixed-effect trajectory. ``"quadratic"`` adds ``I(time ** 2)``;
        ``"spline"`` is a natural cubic spline (R's ``ns()`` basis) with
        interior ``knots`` (or ``df``) and boundary knots at the observed range; ``"plateau"`` is
        ``np.minimum(time, breakpoint)`` (linear, then flat), the breakpoint
        estimated by profile maximum likelihood when not given. The random
        slope is on ``time`` (on ``np.minimum(time, breakpoint)`` for plateau).
    knots : sequence of float, optional
        Interior knots for ``shape="spline"``.
    df : int, default 3
        Without ``knots``: the spline's degrees of freedom, with ``df - 1``
        interior knots at quantiles of the observed times, as R's
        ``splines::ns(time, df)``. The basis is R's own, column for column, so
        coefficients and REML likelihoods equal ``lmer(y ~ ns(time, df) ...)``.
    breakpoint : float, optional
        Fixed breakpoint for ``shape="plateau"``.
    reference : optional
        Reference level of ``between``.
    engine : {"auto", "exact", "statsmodels"}
        ``"exact"``: the sufficient-statistics REML/ML engine;
        ``"statsmodels"``: MixedLM's optimiser, then the same inference code;
        ``"auto"`` (default): exact, with MixedLM as a second opinion if the
        exact optimiser does not converge.
    confidence : float, default 0.95
        Level of the confidence intervals.

    Returns
    -------
    DoseResponseResult
        ``.fixed`` (columns term, estimate, se, dof, t, p_val, ci_low,
        ci_high), ``.random``, ``.r2``, ``.participant_effects``,
        ``.emmeans()``, ``.contrasts()``, ``.slopes()``, ``.predict()``,
        ``.plot()``, ``.summary()``, ``.aic``, ``.bic``, ``.loglik``,
        ``.diagnostics``.

    See Also
    --------
    compare_shapes : linear, quadratic, spline and plateau compared by ML.
    likelihood_ratio_test : nested models, refitted by ML.

    Notes
    -----
    To use the dose actually walked as time, merge :meth:`Study.dose` (per
    participant and week: ``cumulative_backward_minutes``,
    ``sessions_per_week``...) into the assessments on ``participant_id`` and
    ``week``; ``sessions_per_week`` as a covariate tests consistency. A group
    that never walks (a control arm with zero minutes) makes dose and group
    collinear: compare the walking arms, or use weeks.

    The model is lme4's: ``b_i ~ N(0, sigma^2 Lambda Lambda')`` with the
    relative Cholesky factor ``Lambda`` estimated by minimising the profiled
    REML (or ML) deviance (Bates et al. 2015). Degrees of freedom are
    Satterthwaite's, computed as lmerTest does (Kuznetsova et al. 2017); marginal
    means follow emmeans (Lenth 2023): numeric covariates at their mean, other
    factors averaged with equal weights.

    Checked against R (lme4 1.1-31, lmerTest 3.1-3, emmeans 1.8.4) on lme4's
    ``sleepstudy`` and synthetic trials with and without missing visits
    (``tests/reference/dose_response.R``): fixed effects within 1e-4 relative,
    standard errors and variance components within 1e-3, Satterthwaite dof
    within 1e-2, marginal means within 1e-4; and against statsmodels
    ``MixedLM`` (estimates within 1e-5).

    References
    ----------
    Bates, D., Mächler, M., Bolker, B., & Walker, S. (2015). Fitting linear
    mixed-effects models using lme4. *Journal of Statistical Software*, 67(1),
    1-48. https://doi.org/10.18637/jss.v067.i01

    Kuznetsova, A., Brockhoff, P. B., & Christensen, R. H. B. (2017). lmerTest
    package: tests in linear mixed effects models. *Journal of Statistical
    Software*, 82(13), 1-26. https://doi.org/10.18637/jss.v082.i13

    Lenth, R. V. (2023). emmeans: Estimated marginal means, aka least-squares
    means. R package version 1.8.4. https://CRAN.R-project.org/package=emmeans

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import backwalk_study as bws
    >>> rng = np.random.default_rng(4)   # synthetic data
    >>> n, weeks = 40, np.arange(0, 13, 2)
    >>> d = pd.DataFrame({"participant_id": np.repeat(np.arange(n), len(weeks)),
    ...                   "week": np.tile(weeks, n)})
    >>> d["arm"] = np.where(d.participant_id % 2 == 0, "backward", "control")
    >>> u = rng.normal(0, [10, 0.5], size=(n, 2))[d.participant_id]
    >>> d["score"] = (40 + u[:, 0] + (1.0 + u[:, 1] + (d.arm == "backward"))
    ...               * d.week + rng.normal(0, 3, len(d)))
    >>> fit = bws.dose_response(d, "score", "week", "participant_id", between="arm")
    >>> fit.fixed["term"].tolist()
    ['Intercept', 'arm[T.control]', 'week', 'week:arm[T.control]']
    >>> fit.emmeans(at={"week": 12}).columns.tolist()
    ['arm', 'week', 'estimate', 'se', 'dof', 'ci_low', 'ci_high']
    >>> fit.diagnostics["converged"]
    True
    """
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}; got {shape!r}")
    if engine not in ("auto", "exact", "statsmodels"):
        raise ValueError("engine must be 'auto', 'exact' or 'statsmodels'")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    frame, levels, num_cov, cat_cov, means, n_dropped = _check_and_prepare(
        data, dv, time, subject, between, covariates, reference
    )
    n_subj = frame[subject].nunique()
    if n_subj < 2:
        raise ValueError(
            f"only {n_subj} participant with usable rows: a mixed model needs at least two"
        )
    if len(frame) <= n_subj:
        raise ValueError(
            f"{len(frame)} observations for {n_subj} participants: each participant needs "
            "repeated measurements (more observations than participants)"
        )
    t = frame[time].to_numpy(dtype=float)
    notes = []
    spline_knots = None
    if shape == "spline":
        lo, hi = float(t.min()), float(t.max())
        if knots is None:
            if int(df) != df or df < 1:
                raise ValueError(f"dose_response: df must be a whole number >= 1; got {df!r}")
            inner = ns_knots(t, df=int(df))[0]
        else:
            inner = np.asarray(knots, float)
        inner = np.unique(inner)
        if np.any(inner <= lo) or np.any(inner >= hi):
            raise ValueError(
                f"spline knots must lie strictly inside the range of {time} ({lo:g}-{hi:g})"
            )
        spline_knots = (lo, *map(float, inner), hi)
    if shape == "plateau" and breakpoint is not None:
        if not t.min() < breakpoint < t.max():
            raise ValueError(
                f"breakpoint {breakpoint:g} must lie inside the observed range of {time} "
                f"({t.min():g}-{t.max():g})"
            )
    design = _Design(
        dv=dv, time=time, subject=subject, between=between, levels=levels or [],
        shape=shape, knots=spline_knots, breakpoint=breakpoint,
        numeric_covariates=num_cov, categorical_covariates=cat_cov,
        covariate_means=means, random_slope=random_slope,
    )
    fallback = None
    if random_slope:
        slope_values = t if shape != "plateau" or breakpoint is None else np.minimum(t, breakpoint)
        problem = _random_slope_problem(frame, time, subject, slope_values)
        if problem is not None:
            fallback = (
                f"random slope dropped: {problem}; fitted a random intercept model "
                f"(1 | {subject}) instead"
            )
            warnings.warn(fallback, ModelFitWarning, stacklevel=2)
            design.random_slope = False
    codes, subjects = pd.factorize(frame[subject], sort=True)
    y = frame[dv].to_numpy(dtype=float)

    def build_and_fit(design, fit_reml):
        X, names = design.matrix(frame)
        Z = design.z_matrix(frame)
        model = GroupedLMM(X, Z, y, codes)
        xtx = model.XyXy[:-1, :-1]
        scale = np.sqrt(np.diag(xtx))
        scale[scale == 0] = 1.0
        evals, evecs = np.linalg.eigh(xtx / np.outer(scale, scale))
        if evals[0] < 1e-10:
            involved = [names[j] for j in np.flatnonzero(np.abs(evecs[:, 0]) > 0.1)]
            raise ValueError(
                "the fixed effects are collinear: " + ", ".join(involved) + " are linearly "
                "dependent in these data (e.g. a group whose time or dose never varies, "
                "such as a control arm with zero minutes; or a covariate that duplicates "
                "another); drop a column or the group"
            )
        fit = _run_engine(model, X, Z, y, codes, fit_reml, engine, notes)
        return X, Z, names, model, fit

    bp_info = None
    if shape == "plateau" and breakpoint is None:
        bp_info = _estimate_breakpoint(design, build_and_fit, t)
        design.breakpoint = bp_info["breakpoint"]
        notes.append(
            f"breakpoint estimated by profile ML at {design.breakpoint:.4g} "
            f"(grid then bounded search); its uncertainty is not propagated"
        )
    X, Z, names, model, fit = build_and_fit(design, reml)
    result = DoseResponseResult(
        design=design, frame=frame, X=X, Z=Z, y=y, codes=codes, subjects=subjects,
        names=names, model=model, fit=fit, engine=engine, confidence=confidence,
        n_dropped=n_dropped, fallback=fallback, notes=notes,
        breakpoint_estimated=bp_info is not None,
    )
    for msg in result.diagnostics["warnings"]:
        warnings.warn(msg, ModelFitWarning, stacklevel=2)
    return result


def _estimate_breakpoint(design, build_and_fit, t):
    """Profile the ML deviance over the breakpoint: grid, then bounded search."""
    from scipy.optimize import minimize_scalar

    times = np.unique(t)
    if len(times) < 4:
        raise ValueError("estimating a plateau breakpoint needs at least 4 distinct times")
    cache = {}

    def deviance_at(bp):
        design.breakpoint = float(bp)
        if bp not in cache:
            cache[bp] = build_and_fit(design, False)[4].deviance
        return cache[bp]

    grid = times[1:-1]
    devs = [deviance_at(bp) for bp in grid]
    k = int(np.argmin(devs))
    lo = times[k]  # neighbours of the best grid point (times has one more below)
    hi = times[k + 2]
    res = minimize_scalar(deviance_at, bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-6 * (times[-1] - times[0])})
    best = res.x if res.fun < devs[k] else grid[k]
    return {"breakpoint": float(best), "ml_deviance": float(min(res.fun, devs[k]))}


# --------------------------------------------------------------------------
# the result
# --------------------------------------------------------------------------
def _t_table(estimate, se, dof, confidence):
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = estimate / se
    dof_eff = np.where(np.isfinite(dof) & (dof > 0), dof, np.inf)
    p = 2 * stats.t.sf(np.abs(tval), dof_eff)
    crit = stats.t.ppf(0.5 + confidence / 2, dof_eff)
    return tval, p, estimate - crit * se, estimate + crit * se


class DoseResponseResult:
    """Result of :func:`dose_response` (see there for the model).

    Attributes
    ----------
    fixed : DataFrame
        term, estimate, se, dof (Satterthwaite), t, p_val, ci_low, ci_high.
    random : DataFrame
        component (sd_intercept, sd_slope, corr_intercept_slope, sd_residual)
        and estimate.
    r2 : pandas.Series
        marginal and conditional R² (Nakagawa & Schielzeth 2013; Johnson 2014
        for random slopes) with var_fixed, var_random and var_residual.
    participant_effects : DataFrame
        Per participant: the subject column, n_obs, intercept and slope (BLUP
        deviations from the group trajectory) and sd_intercept, sd_slope
        (conditional SDs, lme4's ``condVar``).
    loglik, aic, bic : float
        On the fit's criterion (REML or ML), as lme4 reports them; compare
        shapes with :func:`compare_shapes` or :func:`likelihood_ratio_test`,
        which refit by ML.
    diagnostics : dict
        converged, optimizer, iterations, n_evaluations, gradient_max,
        singular, boundary_parameters, random_structure, fallback, warnings,
        notes, n_obs, n_participants, n_dropped, engine, criterion,
        hessian_eigenvalues, and for an estimated plateau the breakpoint.
    """

    def __init__(self, *, design, frame, X, Z, y, codes, subjects, names, model, fit,
                 engine, confidence, n_dropped, fallback, notes, breakpoint_estimated):
        self._design = design
        self._frame = frame
        self._X, self._Z, self._y, self._codes = X, Z, y, codes
        self._subjects = subjects
        self.names = names
        self._model = model
        self._fit = fit
        self._engine = engine
        self.confidence = confidence
        self._breakpoint_estimated = breakpoint_estimated
        self._satt = model.satterthwaite_parts(fit)
        self.shape = design.shape
        self.n_params = X.shape[1] + model.n_theta + 1 + int(breakpoint_estimated)
        self.loglik = -fit.deviance / 2
        self.aic = fit.deviance + 2 * self.n_params
        self.bic = fit.deviance + np.log(model.n) * self.n_params
        self.criterion = "REML" if fit.reml else "ML"
        self.fixed = self._make_fixed()
        self.random = self._make_random()
        self.r2 = self._make_r2()
        self.participant_effects = self._make_participant_effects()
        self.diagnostics = self._make_diagnostics(n_dropped, fallback, notes)

    # ---------------------------------------------------------------- tables
    def _inference(self, L, confidence=None):
        A, jac, vcov, _ = self._satt
        L = np.atleast_2d(L)
        est = L @ self._fit.beta
        var, dof = satterthwaite_df(L, A, jac, vcov)
        se = np.sqrt(var)
        tval, p, lo, hi = _t_table(est, se, dof, confidence or self.confidence)
        return est, se, dof, tval, p, lo, hi

    def _make_fixed(self):
        est, se, dof, tval, p, lo, hi = self._inference(np.eye(len(self.names)))
        return pd.DataFrame({"term": self.names, "estimate": est, "se": se, "dof": dof,
                             "t": tval, "p_val": p, "ci_low": lo, "ci_high": hi})

    @property
    def cov_re(self):
        """Covariance matrix of the random effects (absolute scale)."""
        lam = self._model.lam(self._fit.theta)
        return self._fit.sigma**2 * lam @ lam.T

    def _make_random(self):
        cov = self.cov_re
        rows = [("sd_intercept", np.sqrt(cov[0, 0]))]
        if cov.shape[0] == 2:
            rows.append(("sd_slope", np.sqrt(cov[1, 1])))
            denom = np.sqrt(cov[0, 0] * cov[1, 1])
            rows.append(("corr_intercept_slope", cov[0, 1] / denom if denom > 0 else np.nan))
        rows.append(("sd_residual", self._fit.sigma))
        return pd.DataFrame(rows, columns=["component", "estimate"])

    def _make_r2(self):
        var_f = float(np.var(self._X @ self._fit.beta, ddof=1))
        var_r = float(np.mean(np.einsum("ni,ij,nj->n", self._Z, self.cov_re, self._Z)))
        var_e = self._fit.sigma**2
        total = var_f + var_r + var_e
        return pd.Series({"marginal": var_f / total, "conditional": (var_f + var_r) / total,
                          "var_fixed": var_f, "var_random": var_r, "var_residual": var_e},
                         name="r2")

    def _make_participant_effects(self):
        b, cond = self._model.random_effects(self._fit)
        out = pd.DataFrame({self._design.subject: np.asarray(self._subjects),
                            "n_obs": self._model.group_sizes, "intercept": b[:, 0]})
        if b.shape[1] == 2:
            out["slope"] = b[:, 1]
        out["sd_intercept"] = np.sqrt(cond[:, 0, 0])
        if b.shape[1] == 2:
            out["sd_slope"] = np.sqrt(cond[:, 1, 1])
        return out

    def _make_diagnostics(self, n_dropped, fallback, notes):
        fit = self._fit
        evals = self._satt[3]
        warn = []
        if not fit.converged:
            warn.append(f"the model did not converge: {fit.message}")
        if fit.singular:
            warn.append(
                "boundary (singular) fit: a random-effect SD is estimated as (near) zero; "
                "consider a simpler random structure (random_slope=False)"
            )
        if fit.optimizer.startswith("statsmodels"):
            # its own warnings (e.g. "MLE on the boundary") are passed on
            warn.extend(n for n in notes if n.startswith("statsmodels ("))
        if np.any(evals < -1e-8) and not fit.singular:
            warn.append("the Hessian of the variance parameters has negative eigenvalues: "
                        "the fit may not be at a minimum")
        diag = {
            "converged": bool(fit.converged),
            "optimizer": fit.optimizer,
            "iterations": fit.iterations,
            "n_evaluations": fit.n_evaluations,
            "gradient_max": fit.gradient_max,
            "optimizer_message": fit.message,
            "singular": bool(fit.singular),
            "boundary_parameters": list(fit.boundary),
            "theta": fit.theta.tolist(),
            "random_structure": "intercept + slope" if self._model.q == 2 else "intercept",
            "fallback": fallback,
            "warnings": warn,
            "notes": list(notes),
            "n_obs": int(self._model.n),
            "n_participants": int(self._model.n_groups),
            "n_dropped": int(n_dropped),
            "engine": self._engine,
            "criterion": self.criterion,
            "hessian_eigenvalues": evals.tolist(),
            "optimality": fit.certificate,
            "best_start": fit.best_start,
            "starts": [dict(r, loglik=-r["deviance"] / 2) for r in fit.starts],
            "time_centre": fit.centre,
        }
        if self.shape == "plateau":
            diag["breakpoint"] = self._design.breakpoint
            diag["breakpoint_estimated"] = self._breakpoint_estimated
        return diag

    # ---------------------------------------------------- marginal means etc.
    def _default_at(self, at):
        d = self._design
        if at is None:
            return {d.time: float(self._frame[d.time].mean())}
        if d.time not in at:
            raise ValueError(f"at must give a value of {d.time!r}, e.g. at={{{d.time!r}: 12}}")
        unknown = set(at) - {d.time, *d.numeric_covariates, *d.categorical_covariates}
        if unknown:
            raise ValueError(f"at names unknown column(s): {', '.join(sorted(unknown))}")
        return at

    def emmeans(self, at=None, confidence=None):
        """Estimated marginal means per level of ``between`` at given times.

        Parameters
        ----------
        at : dict, optional
            ``{time: value or list}``, optionally covariate values; default:
            time at its mean, as emmeans does.
        confidence : float, optional

        Returns
        -------
        DataFrame
            The ``between`` column (if any), the time column, estimate, se,
            dof (Satterthwaite), ci_low, ci_high; one row per level and time.
        """
        keys, L = self._design.grid(self._default_at(at))
        est, se, dof, _, _, lo, hi = self._inference(L, confidence)
        out = keys.copy()
        out["estimate"], out["se"], out["dof"], out["ci_low"], out["ci_high"] = est, se, dof, lo, hi
        return out.reset_index(drop=True)

    def _slope_rows(self, at):
        d = self._design
        at = dict(self._default_at(at))
        times = np.atleast_1d(at[d.time]).astype(float)
        span = float(np.ptp(self._frame[d.time].to_numpy())) or 1.0
        h = 1e-4 * span
        if d.shape == "plateau":
            # the one-sided slope that matches the side of the breakpoint
            up = times < d.breakpoint
            plus, minus = np.where(up, times + h, times), np.where(up, times, times - h)
            width = h
        else:
            plus, minus, width = times + h, times - h, 2 * h
        keys, Lp = d.grid({**at, d.time: plus})
        _, Lm = d.grid({**at, d.time: minus})
        keys[d.time] = np.repeat(times, len(keys) // len(times))
        L = (Lp - Lm) / width
        if d.shape in ("linear", "quadratic"):
            L = np.round(L, 8)  # exact for polynomials up to rounding
        return keys, L

    def slopes(self, at=None, confidence=None):
        """Rate of change per unit time for each level (like emmeans::emtrends).

        Returns
        -------
        DataFrame
            The ``between`` column (if any), the time column, estimate, se,
            dof, t, p_val, ci_low, ci_high.
        """
        keys, L = self._slope_rows(at)
        est, se, dof, tval, p, lo, hi = self._inference(L, confidence)
        out = keys.copy()
        for name, col in zip(["estimate", "se", "dof", "t", "p_val", "ci_low", "ci_high"],
                             [est, se, dof, tval, p, lo, hi]):
            out[name] = col
        return out.reset_index(drop=True)

    def contrasts(self, at=None, adjust="none", confidence=None):
        """Pairwise differences between levels of ``between``: means and slopes.

        Parameters
        ----------
        at : dict, optional
            As in :meth:`emmeans`.
        adjust : {"none", "holm", "bonferroni"}
            p-value adjustment within each quantity and time.

        Returns
        -------
        DataFrame
            quantity ("mean" or "slope"), contrast ("a - b", in level order as
            emmeans' ``pairs``), the time column, estimate, se, dof, t,
            p_val, ci_low, ci_high.
        """
        d = self._design
        if d.between is None:
            raise ValueError("contrasts need a between factor (e.g. between='arm')")
        if adjust not in ("none", "holm", "bonferroni"):
            raise ValueError("adjust must be 'none', 'holm' or 'bonferroni'")
        at = self._default_at(at)
        frames = []
        for quantity, (keys, L) in (("mean", d.grid(at)), ("slope", self._slope_rows(at))):
            rows, labels, times = [], [], []
            for t in pd.unique(keys[d.time]):
                idx = {lvl: i for i, lvl in enumerate(keys[d.between]) if keys[d.time].iloc[i] == t}
                for a, b in itertools.combinations(d.levels, 2):
                    rows.append(L[idx[a]] - L[idx[b]])
                    labels.append(f"{a} - {b}")
                    times.append(t)
            est, se, dof, tval, p, lo, hi = self._inference(np.vstack(rows), confidence)
            part = pd.DataFrame({"quantity": quantity, "contrast": labels, d.time: times,
                                 "estimate": est, "se": se, "dof": dof, "t": tval,
                                 "p_val": p, "ci_low": lo, "ci_high": hi})
            if adjust != "none":
                part["p_val"] = part.groupby(d.time)["p_val"].transform(
                    lambda s: _adjust(s.to_numpy(), adjust))
            frames.append(part)
        return pd.concat(frames, ignore_index=True)

    # ------------------------------------------------------------ prediction
    def predict(self, new_data=None, include_random=False, confidence=None):
        """Predicted outcome with a confidence interval.

        Parameters
        ----------
        new_data : DataFrame, optional
            Columns time, between and covariates (and the subject column when
            ``include_random``). Default: the data fitted.
        include_random : bool
            Add each participant's BLUPs (participants not in the fit get
            zero, i.e. the group trajectory).

        Returns
        -------
        DataFrame
            new_data's columns plus predicted, se, ci_low, ci_high.
            Population intervals use Satterthwaite dof; with random effects
            the variance adds the BLUPs' conditional variance (ignoring their
            covariance with the fixed effects) and a normal quantile.
        """
        d = self._design
        new = self._frame.copy() if new_data is None else pd.DataFrame(new_data).copy()
        need = [d.time] + ([d.between] if d.between else []) + d.numeric_covariates + list(
            d.categorical_covariates)
        if include_random:
            need.append(d.subject)
        lacking = [c for c in need if c not in new.columns]
        if lacking:
            raise ValueError(f"new_data lacks column(s): {', '.join(lacking)}")
        if d.between:
            unknown = set(pd.unique(new[d.between])) - set(d.levels)
            if unknown:
                raise ValueError(f"unknown level(s) of {d.between}: {sorted(map(str, unknown))}")
        X, _ = d.matrix(new)
        est, se, dof, _, _, lo, hi = self._inference(X, confidence)
        if include_random:
            pe = self.participant_effects.set_index(d.subject)
            Z = d.z_matrix(new)
            cols = ["intercept", "slope"][: Z.shape[1]]
            known = new[d.subject].isin(pe.index).to_numpy()
            b = pe.reindex(new[d.subject])[cols].to_numpy()
            b[~known] = 0.0
            _, cond_all = self._model.random_effects(self._fit)
            pos = pd.Index(pe.index).get_indexer(new[d.subject])
            cond = np.where(known[:, None, None], cond_all[np.clip(pos, 0, None)],
                            self.cov_re[None])
            est = est + np.sum(Z * b, axis=1)
            se = np.sqrt(se**2 + np.einsum("ni,nij,nj->n", Z, cond, Z))
            z = stats.norm.ppf(0.5 + (confidence or self.confidence) / 2)
            lo, hi = est - z * se, est + z * se
        new["predicted"], new["se"], new["ci_low"], new["ci_high"] = est, se, lo, hi
        return new

    # --------------------------------------------------------------- display
    def plot(self, ax=None, xlabel=None, ylabel=None, n_points=60):
        """Observed trajectories (thin) with the fitted mean per group and its band.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt
        import seaborn as sns

        d = self._design
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        frame = self._frame.sort_values([d.subject, d.time])
        levels = d.levels if d.between else [None]
        palette = dict(zip(levels, sns.color_palette("colorblind", len(levels))))
        for subj, part in frame.groupby(d.subject, sort=False):
            color = palette[part[d.between].iloc[0]] if d.between else "0.5"
            ax.plot(part[d.time], part[d.dv], color=color, alpha=0.25, lw=0.7)
        t = frame[d.time]
        grid = np.linspace(t.min(), t.max(), n_points)
        emm = self.emmeans(at={d.time: grid})
        for lvl in levels:
            part = emm if lvl is None else emm[emm[d.between] == lvl]
            color = palette[lvl] if lvl is not None else "C0"
            ax.plot(part[d.time], part["estimate"], color=color, lw=2.5,
                    label="fitted mean" if lvl is None else f"{lvl}")
            ax.fill_between(part[d.time], part["ci_low"], part["ci_high"], color=color,
                            alpha=0.2, lw=0)
        ax.set_xlabel(xlabel or _label_with_unit(d.time))
        ax.set_ylabel(ylabel or d.dv)
        ax.legend(title=d.between or None, frameon=False)
        ax.set_title(f"{d.dv}: observed trajectories and fitted mean "
                     f"({int(self.confidence * 100)}% CI)", fontsize=10)
        return ax

    def summary(self):
        """A text summary in the manner of statsmodels and lme4."""
        dg = self.diagnostics
        lines = [
            f"Linear mixed model ({self.criterion}) — shape: {self.shape}",
            f"outcome: {self._design.dv}   time: {self._design.time}   "
            f"participants: {dg['n_participants']}   observations: {dg['n_obs']}",
            f"random effects: {dg['random_structure']} per {self._design.subject}",
            f"logLik {self.loglik:.3f}   AIC {self.aic:.3f}   BIC {self.bic:.3f}",
            f"R2 marginal {self.r2['marginal']:.3f}   conditional {self.r2['conditional']:.3f}",
            f"converged: {dg['converged']}   singular: {dg['singular']}   "
            f"optimizer: {dg['optimizer']} ({dg['iterations']} iterations)",
        ]
        if dg["fallback"]:
            lines.append(f"FALL-BACK: {dg['fallback']}")
        for w in dg["warnings"]:
            lines.append(f"WARNING: {w}")
        lines += ["", "Fixed effects (Satterthwaite dof):",
                  self.fixed.to_string(index=False, float_format=lambda v: f"{v:.4g}"),
                  "", "Random effects:",
                  self.random.to_string(index=False, float_format=lambda v: f"{v:.4g}")]
        return "\n".join(lines)

    def __repr__(self):
        return (f"<DoseResponseResult {self._design.dv} ~ {self.shape}({self._design.time})"
                f"{' * ' + self._design.between if self._design.between else ''}, "
                f"{self.criterion}, n={self._model.n}>")

    # ----------------------------------------------------------- comparisons
    def refit(self, reml):
        """The same model fitted by REML (``True``) or ML (``False``)."""
        if reml == self._fit.reml:
            return self
        notes = []
        fit = _run_engine(self._model, self._X, self._Z, self._y, self._codes, reml,
                          self._engine, notes)
        return DoseResponseResult(
            design=self._design, frame=self._frame, X=self._X, Z=self._Z, y=self._y,
            codes=self._codes, subjects=self._subjects, names=self.names, model=self._model,
            fit=fit, engine=self._engine, confidence=self.confidence,
            n_dropped=self.diagnostics["n_dropped"],
            fallback=self.diagnostics["fallback"], notes=notes,
            breakpoint_estimated=self._breakpoint_estimated)


def _label_with_unit(name):
    lowered = name.lower()
    if "minute" in lowered:
        return f"{name} (min)"
    if lowered in ("week", "weeks"):
        return "week (weeks of practice)"
    if lowered in ("day", "days"):
        return f"{name} (days)"
    if "hour" in lowered:
        return f"{name} (h)"
    return name


def _adjust(p, method):
    m = len(p)
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    order = np.argsort(p)
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def likelihood_ratio_test(model_1, model_2):
    """Likelihood-ratio test between two nested fits of the same data.

    REML fits are refitted by maximum likelihood first (as ``anova()`` does in
    lme4), because REML likelihoods of models with different fixed effects are
    not comparable.

    Parameters
    ----------
    model_1, model_2 : DoseResponseResult
        The simpler model first is conventional; the order is taken from the
        number of parameters.

    Returns
    -------
    DataFrame
        One row per model, ordered by number of parameters: model (shape),
        n_params, loglik, aic, bic (all ML), chisq, dof, p_val (on the second
        row).

    Notes
    -----
    ``chisq = 2 (loglik_2 - loglik_1)`` on ``n_params_2 - n_params_1`` degrees
    of freedom; checked against ``anova(m1, m2)`` in lme4 in the tests. A
    variance parameter tested on its boundary makes the test conservative.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from backwalk_study import dose_response, likelihood_ratio_test
    >>> rng = np.random.default_rng(2)   # synthetic: a curved trajectory
    >>> d = pd.DataFrame({"pid": np.repeat(np.arange(30), 7),
    ...                   "week": np.tile(np.arange(0, 13, 2), 30)})
    >>> u = rng.normal(0, [5, 0.3], size=(30, 2))[d.pid]
    >>> d["score"] = (50 + u[:, 0] + (2 + u[:, 1]) * d.week - 0.08 * d.week ** 2
    ...               + rng.normal(0, 1, len(d)))
    >>> line = dose_response(d, "score", "week", "pid")
    >>> curve = dose_response(d, "score", "week", "pid", shape="quadratic")
    >>> lrt = likelihood_ratio_test(line, curve)
    >>> lrt["model"].tolist(), int(lrt["dof"].iloc[1]), bool(lrt["p_val"].iloc[1] < 0.001)
    (['linear', 'quadratic'], 1, True)
    """
    fits = sorted([model_1.refit(False), model_2.refit(False)], key=lambda m: m.n_params)
    if fits[0]._model.n != fits[1]._model.n or not np.array_equal(fits[0]._y, fits[1]._y):
        raise ValueError(
            "the two models were fitted to different rows; refit them on the same data"
        )
    if fits[0].n_params == fits[1].n_params:
        raise ValueError("the two models have the same number of parameters: they are not nested")
    chisq = max(2 * (fits[1].loglik - fits[0].loglik), 0.0)
    dof = fits[1].n_params - fits[0].n_params
    return pd.DataFrame({
        "model": [f.shape for f in fits],
        "n_params": [f.n_params for f in fits],
        "loglik": [f.loglik for f in fits],
        "aic": [f.aic for f in fits],
        "bic": [f.bic for f in fits],
        "chisq": [np.nan, chisq],
        "dof": [np.nan, dof],
        "p_val": [np.nan, stats.chi2.sf(chisq, dof)],
    })


def compare_shapes(data, dv, time, subject, shapes=("linear", "quadratic", "spline", "plateau"),
                   **kwargs):
    """Fit several trajectory shapes by ML and compare them.

    Parameters
    ----------
    data, dv, time, subject :
        As in :func:`dose_response`; further keywords are passed on
        (``between``, ``covariates``, ``knots``, ``breakpoint``...).
    shapes : sequence of str

    Returns
    -------
    DataFrame
        shape, n_params, loglik, aic, bic (ML), delta_aic (to the best), and
        chisq, dof, p_val of the likelihood-ratio test against "linear" for
        shapes that nest it (quadratic, spline); NaN otherwise (a plateau does
        not nest the line in the usual sense).

    Notes
    -----
    An estimated plateau breakpoint counts as one parameter in AIC and BIC.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from backwalk_study.stats.mixed import compare_shapes
    >>> rng = np.random.default_rng(3)   # synthetic: improves until week 6, then flat
    >>> d = pd.DataFrame({"pid": np.repeat(np.arange(40), 13),
    ...                   "week": np.tile(np.arange(13), 40)})
    >>> u = rng.normal(0, [4, 0.2], size=(40, 2))[d.pid]
    >>> d["score"] = (30 + u[:, 0] + (1.5 + u[:, 1]) * np.minimum(d.week, 6)
    ...               + rng.normal(0, 1, len(d)))
    >>> table = compare_shapes(d, "score", "week", "pid", shapes=("linear", "plateau"))
    >>> table.sort_values("aic")["shape"].tolist()
    ['plateau', 'linear']
    """
    kwargs.pop("reml", None)
    fits = {s: dose_response(data, dv, time, subject, shape=s, reml=False, **kwargs)
            for s in shapes}
    rows = []
    for s, f in fits.items():
        row = {"shape": s, "n_params": f.n_params, "loglik": f.loglik, "aic": f.aic,
               "bic": f.bic, "chisq": np.nan, "dof": np.nan, "p_val": np.nan}
        if s in ("quadratic", "spline") and "linear" in fits:
            lrt = likelihood_ratio_test(fits["linear"], f)
            row.update(chisq=lrt["chisq"].iloc[1], dof=lrt["dof"].iloc[1],
                       p_val=lrt["p_val"].iloc[1])
        rows.append(row)
    out = pd.DataFrame(rows)
    out.insert(5, "delta_aic", out["aic"] - out["aic"].min())
    return out
