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

from backwalk_study.stats._lmm import GroupedLMM, NestedLMM, satterthwaite_df
from backwalk_study.stats._splines import ns_basis, ns_knots

__all__ = [
    "dose_response",
    "MixedModel",
    "DoseResponseResult",
    "FitDiagnostics",
    "likelihood_ratio_test",
    "compare_shapes",
    "ModelFitWarning",
]

SHAPES = ("linear", "quadratic", "spline", "plateau")
DOF_METHODS = ("satterthwaite", "kenward-roger")


class ModelFitWarning(UserWarning):
    """A fit that needs a second look: singular, not converged, or simplified."""


# --------------------------------------------------------------------------
# design: how the columns of X and Z are made from time, arm and covariates
# --------------------------------------------------------------------------
@dataclass
class _Design:
    """How the columns of X and Z are made from time, factors and covariates.

    Between-participant factors enter as a full factorial (treatment coding,
    reference level first), each term also interacting with every column of
    the time trajectory, as R's ``y ~ f(time) * a * b``.
    """

    dv: str
    time: str
    subject: str
    factors: list  # between-participant factors
    levels: dict  # factor -> levels, reference first
    shape: str
    knots: tuple | None  # spline: all knots incl. boundary
    breakpoint: float | None
    numeric_covariates: list
    categorical_covariates: dict  # name -> levels, reference first
    covariate_means: dict
    random_slope: bool
    site: str | None = None

    @property
    def between(self):
        """The single between factor's name (None without one; a tuple for several)."""
        if not self.factors:
            return None
        return self.factors[0] if len(self.factors) == 1 else tuple(self.factors)

    @property
    def cells(self):
        """Every combination of between-factor levels, in R's order (first factor fastest)."""
        if not self.factors:
            return [()]
        combos = itertools.product(*[self.levels[f] for f in reversed(self.factors)])
        return [tuple(reversed(c)) for c in combos]

    def cell_label(self, cell):
        return " ".join(map(str, cell))

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

    def between_columns(self, frame):
        """Treatment-coded factorial columns of the between factors, R's term order."""
        out = []
        values = {f: frame[f].to_numpy() for f in self.factors}
        for r in range(1, len(self.factors) + 1):
            for subset in itertools.combinations(self.factors, r):
                for lvls in itertools.product(*[self.levels[f][1:] for f in subset]):
                    col = np.ones(len(frame))
                    for f, lvl in zip(subset, lvls):
                        col = col * (values[f] == lvl)
                    out.append((":".join(f"{f}[T.{lvl}]" for f, lvl in zip(subset, lvls)), col))
        return out

    def matrix(self, frame):
        """X for a frame holding time, between and covariate columns (patsy order)."""
        n = len(frame)
        cols, names = [np.ones(n)], ["Intercept"]
        dummies = self.between_columns(frame)
        for name, col in dummies:
            cols.append(col)
            names.append(name)
        for cov, levels in self.categorical_covariates.items():
            values = frame[cov].to_numpy()
            for lvl in levels[1:]:
                cols.append((values == lvl).astype(float))
                names.append(f"{cov}[T.{lvl}]")
        tcols, tnames = self.time_columns(frame[self.time].to_numpy())
        for j, tname in enumerate(tnames):
            cols.append(tcols[:, j])
            names.append(tname)
            for name, col in dummies:
                cols.append(tcols[:, j] * col)
                names.append(f"{tname}:{name}")
        for cov in self.numeric_covariates:
            cols.append(frame[cov].to_numpy(dtype=float))
            names.append(cov)
        return np.column_stack(cols), names

    def z_matrix(self, frame):
        n = len(frame)
        if not self.random_slope:
            return np.ones((n, 1))
        return np.column_stack([np.ones(n), self.slope_variable(frame[self.time].to_numpy())])

    def grid(self, at):
        """Reference grid rows (one per time x cell), covariates at means or averaged.

        Returns the key frame (between factors and time) and the matrix of
        design rows averaged with equal weights over categorical covariates,
        as emmeans does.
        """
        at = dict(at or {})
        times = np.atleast_1d(at.pop(self.time)).astype(float)
        rows, keys = [], []
        cat_names = list(self.categorical_covariates)
        cat_combos = list(
            itertools.product(*[self.categorical_covariates[c] for c in cat_names])
        ) or [()]
        for t in times:
            for cell in self.cells:
                base = {self.time: t, **dict(zip(self.factors, cell))}
                for cov in self.numeric_covariates:
                    base[cov] = float(at.get(cov, self.covariate_means[cov]))
                combos = list(dict.fromkeys(
                    tuple(at[c] if c in at else v for c, v in zip(cat_names, combo))
                    for combo in cat_combos))
                frame = pd.DataFrame([{**base, **dict(zip(cat_names, combo))} for combo in combos])
                X, _ = self.matrix(frame)
                rows.append(X.mean(axis=0))
                keys.append(base)
        key_frame = pd.DataFrame(keys)
        return key_frame[self.factors + [self.time]], np.vstack(rows)


# --------------------------------------------------------------------------
# input checks, in one place
# --------------------------------------------------------------------------
def _levels_of(data, frame, column, reference, what):
    """Levels of a factor among the rows analysed, reference first (see :func:`levels_of`)."""
    return levels_of(pd.unique(frame[column]), data[column].dtype, column, reference, what)


def levels_of(observed, dtype, column, reference, what):
    """Levels of a factor from the values observed and the column's dtype, reference first.

    A pandas Categorical's order is the level order (as R's factor levels);
    otherwise sorted. A declared category with no rows is an error, never a
    silently dropped level.
    """
    if isinstance(dtype, pd.CategoricalDtype) and dtype.categories is not None:
        categories = list(dtype.categories)
        empty = [c for c in categories if c not in set(observed)]
        if empty:
            raise ValueError(
                f"{what}: level(s) {', '.join(map(repr, empty))} of {column!r} have no "
                "participants among the rows analysed; remove the unused categories "
                f"(data[{column!r}].cat.remove_unused_categories()) or add their data"
            )
        levels = categories
    else:
        levels = sorted(observed, key=lambda v: (str(type(v)), v))
    if reference is not None:
        if reference not in levels:
            raise ValueError(
                f"{what}: reference level {reference!r} is not a level of {column!r} "
                f"(levels: {', '.join(map(str, levels))})"
            )
        levels = [reference] + [lvl for lvl in levels if lvl != reference]
    return levels


def _reference_for(reference, column, factors):
    """The reference level asked for ``column``: a dict by column, or one value
    for the only between factor."""
    if reference is None:
        return None
    if isinstance(reference, dict):
        return reference.get(column)
    return reference if factors == [column] else None


def check_sites(frame, subject, site, what):
    """Each participant's site, after the checks of a site intercept.

    ``frame`` has a row per observation (or per participant): participants
    must be nested in sites, there must be two sites or more, and not every
    site may have one participant (errors); sites with one participant are
    named in a note, also warned. Returns ``(site_of, note)``: the site per
    participant (sorted) and the note or None.
    """
    per_subject = frame.groupby(subject, sort=False)[site].nunique()
    if (per_subject > 1).any():
        bad = per_subject.index[per_subject > 1][:5].tolist()
        raise ValueError(f"{what}: participants must be nested in sites; {site!r} changes "
                         f"for {', '.join(map(str, bad))}")
    site_of = frame.groupby(subject, sort=True)[site].first()
    sizes = site_of.value_counts()
    if len(sizes) < 2:
        raise ValueError(f"{what}: a random intercept for {site!r} needs at least two sites; "
                         f"the rows analysed have {len(sizes)}")
    if (sizes < 2).all():
        raise ValueError(
            f"{what}: every site has one participant, so a site intercept cannot be told "
            "apart from the participant intercept; fit without site")
    single = sorted(sizes.index[sizes < 2].tolist(), key=lambda v: (str(type(v)), v))
    note = None
    if single:
        note = (f"site(s) {', '.join(map(str, single[:10]))} have one participant: their "
                "site and participant intercepts are not told apart")
    return site_of, note


def _check_and_prepare(data, dv, time, subject, between, covariates, reference, site=None):
    what = "dose_response"
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"{what}: data must be a pandas DataFrame, not {type(data).__name__}")
    covariates = list(covariates or [])
    if between is None:
        factors = []
    elif isinstance(between, str):
        factors = [between]
    else:
        factors = list(between)
    needed = [dv, time, subject] + factors + covariates + ([site] if site else [])
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise ValueError(f"{what}: column(s) not found in data: {', '.join(map(str, missing))}")
    if len(set(needed)) != len(needed):
        raise ValueError(
            f"{what}: dv, time, subject, between, covariates and site must be different columns")
    if not pd.api.types.is_numeric_dtype(data[dv]) or pd.api.types.is_bool_dtype(data[dv]):
        raise ValueError(f"{what}: the outcome {dv!r} must be numeric")
    if data[dv].isna().all():
        raise ValueError(f"{what}: the outcome {dv!r} is missing for every row: nothing to analyse")
    if not pd.api.types.is_numeric_dtype(data[time]) or pd.api.types.is_bool_dtype(data[time]):
        raise ValueError(
            f"{what}: time {time!r} must be numeric (weeks, or minutes of practice); "
            f"it has dtype {data[time].dtype}"
        )
    if isinstance(reference, dict):
        unknown = set(reference) - set(factors) - set(covariates)
        if unknown:
            raise ValueError(f"{what}: reference names column(s) that are not between factors "
                             f"or covariates: {', '.join(map(str, sorted(unknown)))}")
    elif reference is not None and len(factors) != 1:
        raise ValueError(
            f"{what}: reference={reference!r} needs exactly one between factor; with several "
            "(or for covariates) give a dict, e.g. reference={'arm': 'control'}")
    frame = data[needed].copy()
    n_before = len(frame)
    frame = frame.dropna()
    if not np.isfinite(frame[[dv, time]].to_numpy(dtype=float)).all():
        raise ValueError(f"{what}: {dv!r} and {time!r} must be finite (no inf)")
    levels = {}
    for factor in factors:
        lv = _levels_of(data, frame, factor, _reference_for(reference, factor, factors), what)
        if len(lv) < 2:
            raise ValueError(
                f"{what}: {factor!r} has only one level ({lv[0] if lv else 'none'}) "
                "among the rows analysed: a comparison between groups needs at least two"
            )
        per_subject = frame.groupby(subject, sort=False)[factor].nunique()
        if (per_subject > 1).any():
            bad = per_subject.index[per_subject > 1][:5].tolist()
            raise ValueError(
                f"{what}: {factor!r} must be constant within each participant; "
                f"it changes for {', '.join(map(str, bad))}"
            )
        levels[factor] = lv
    if len(factors) > 1:
        present = set(map(tuple, frame[factors].drop_duplicates().itertuples(index=False)))
        cells = itertools.product(*[levels[f] for f in factors])
        empty = [" / ".join(map(str, c)) for c in cells if c not in present]
        if empty:
            raise ValueError(
                f"{what}: no participants in the combination(s) {'; '.join(empty)} of "
                f"{' x '.join(factors)}: their interaction cannot be estimated; drop a factor "
                "or analyse the groups that have data"
            )
    numeric_cov, categorical_cov = [], {}
    for cov in covariates:
        col = frame[cov]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            if col.nunique() < 2:
                raise ValueError(
                    f"{what}: covariate {cov!r} is constant ({col.iloc[0] if len(col) else 'no rows'}) "
                    "among the rows analysed: it cannot be estimated beside the intercept; drop it"
                )
            numeric_cov.append(cov)
        else:
            lv = _levels_of(data, frame, cov, _reference_for(reference, cov, factors), what)
            if len(lv) < 2:
                raise ValueError(
                    f"{what}: covariate {cov!r} is constant ({lv[0] if lv else 'no rows'}) among "
                    "the rows analysed: it cannot be estimated beside the intercept; drop it")
            categorical_cov[cov] = lv
    if site is not None:
        check_sites(frame, subject, site, what)
    means = {cov: float(frame[cov].mean()) for cov in numeric_cov}
    return frame, factors, levels, numeric_cov, categorical_cov, means, n_before - len(frame)


def random_slope_fallback(n_obs, n_subj, n_times, subject):
    """The fall-back message when a random slope cannot be estimated (see
    :func:`_random_slope_problem`), or None; ``n_times`` may be 2 for "two or more"."""
    problem = _random_slope_problem(n_obs, n_subj, n_times)
    if problem is None:
        return None
    return f"random slope dropped: {problem}; fitted a random intercept model (1 | {subject}) instead"


def _random_slope_problem(n_obs, n_subj, n_times):
    """Why a random slope cannot be estimated here, or None.

    At least three participants, then lme4's own checks: a slope needs at
    least two distinct times, and more
    observations than random effects (``check.nobs.vs.nRE``). Two distinct
    times are enough when people have more than one observation at them (a
    repeated trial, say), so such a slope is fitted, as lme4 fits it.
    """
    if n_subj < 3:
        return f"only {n_subj} participants (a random slope needs at least 3)"
    if n_times < 2:
        return f"only {n_times} distinct time point (a random slope needs at least 2)"
    if n_obs <= 2 * n_subj:
        return (
            f"{n_obs} observations for {n_subj} participants: a random intercept and "
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


def spline_knots_of(t, knots, df, time, what, counts=None):
    """All knots of a spline in ``time`` (boundary ones first and last), R's ``ns()`` rule.

    ``knots`` given, or ``df`` quantiles of ``t``; with ``counts``, ``t``
    holds distinct times and ``counts`` how often each occurs (a frequency
    table reduced over a cluster: the same knots).
    """
    t = np.asarray(t, dtype=float)
    lo, hi = float(t.min()), float(t.max())
    if knots is None:
        if isinstance(df, bool) or int(df) != df or df < 1:
            raise ValueError(f"{what}: df must be a whole number >= 1; got {df!r}")
        inner = ns_knots(t, df=int(df), counts=counts)[0]
    else:
        inner = np.asarray(knots, float)
    inner = np.unique(inner)
    if np.any(inner <= lo) or np.any(inner >= hi):
        raise ValueError(
            f"{what}: spline knots must lie strictly inside the range of {time} "
            f"({lo:g}-{hi:g})")
    return (lo, *map(float, inner), hi)


def check_collinear(xtx, names, what):
    """An error naming the fixed effects that are linearly dependent in ``X'X`` (any centring)."""
    scale = np.sqrt(np.diag(xtx))
    scale[scale == 0] = 1.0
    evals, evecs = np.linalg.eigh(xtx / np.outer(scale, scale))
    if evals[0] < 1e-10:
        involved = [names[j] for j in np.flatnonzero(np.abs(evecs[:, 0]) > 0.1)]
        raise ValueError(
            f"{what}: the fixed effects are collinear: " + ", ".join(involved)
            + " are linearly dependent in these data (e.g. a group whose time or dose never "
            "varies, such as a control arm with zero minutes; or a covariate that duplicates "
            "another); drop a column or the group")


def check_fit_arguments(what, dof, reml, site, confidence):
    """The checks of a fit's arguments, for the in-memory and the Dask model."""
    if dof not in DOF_METHODS:
        raise ValueError(f"{what}: dof must be one of {', '.join(DOF_METHODS)}; got {dof!r}")
    if dof == "kenward-roger" and not reml:
        raise ValueError(f"{what}: Kenward-Roger needs a REML fit (as pbkrtest and lmerTest); use "
                         "reml=True or dof='satterthwaite'")
    if dof == "kenward-roger" and site is not None:
        raise ValueError(f"{what}: Kenward-Roger is not available with a site intercept; use "
                         "dof='satterthwaite'")
    if not 0 < confidence < 1:
        raise ValueError(f"{what}: confidence must be between 0 and 1; got {confidence!r}")


class _EngineCounts:
    """Counts a fitted model reports, read off its engine (in memory and on Dask)."""

    @property
    def n_obs(self):
        return int(self.engine_model.n)

    @property
    def n_participants(self):
        return int(self.engine_model.n_groups)

    @property
    def n_sites(self):
        return int(self.engine_model.n_sites) if self.design.site is not None else None

    @property
    def n_params(self):
        """Fixed effects, variance parameters, sigma, and an estimated breakpoint."""
        return (self.engine_model.p + self.engine_model.n_theta + 1
                + int(self.breakpoint_estimated))

    def fit_notes(self):
        """The model's notes, with the rows left out for missing values (said in every fit)."""
        notes = list(self.notes)
        if self.n_dropped:
            notes.append(f"{self.n_dropped} row(s) with a missing value in a column of the model "
                         "were left out (as lme4 does)")
        return notes


class MixedModel(_EngineCounts):
    """A growth-curve linear mixed model: the data and the design, not yet fitted.

    The model of :func:`dose_response` (see there for every argument), split
    as statsmodels splits a model from its results: ``MixedModel(...)``
    checks the data and builds the design; :meth:`fit` estimates it and
    returns a :class:`DoseResponseResult` whose ``.model`` points back here.

    Attributes
    ----------
    data : DataFrame
        The rows analysed (rows with a missing value in a used column dropped).
    design_names : list of str
        Fixed-effect terms, in R's order.
    n_obs, n_participants, n_sites, n_dropped : int
    y : ndarray
        The outcome of the rows analysed.
    fallback : str or None
        Why the random slope was dropped, if it was.

    Examples
    --------
    >>> from backwalk_study.stats.mixed import MixedModel
    >>> from backwalk_study.data.datasets import sleepstudy   # lme4's real data
    >>> model = MixedModel(sleepstudy(), "Reaction", subject="Subject", time="Days")
    >>> result = model.fit()
    >>> result.model is model, round(result.loglik, 3)       # lme4: -871.814
    (True, -871.814)
    """

    def __init__(self, data, dv, *, subject, time, between=None, covariates=None, site=None,
                 random_slope=True, shape="linear", knots=None, df=3, breakpoint=None,
                 reference=None, engine="auto"):
        what = "dose_response"
        if shape not in SHAPES:
            raise ValueError(f"{what}: shape must be one of {', '.join(SHAPES)}; got {shape!r}")
        if engine not in ("auto", "exact", "statsmodels"):
            raise ValueError(f"{what}: engine must be 'auto', 'exact' or 'statsmodels'")
        if site is not None and engine == "statsmodels":
            raise ValueError(f"{what}: a site intercept needs engine='exact' or 'auto'")
        frame, factors, levels, num_cov, cat_cov, means, n_dropped = _check_and_prepare(
            data, dv, time, subject, between, covariates, reference, site)
        n_subj = frame[subject].nunique()
        if n_subj < 2:
            raise ValueError(
                f"{what}: only {n_subj} participant with usable rows: a mixed model needs at "
                "least two")
        if len(frame) <= n_subj:
            raise ValueError(
                f"{what}: {len(frame)} observations for {n_subj} participants: each participant "
                "needs repeated measurements (more observations than participants)")
        t = frame[time].to_numpy(dtype=float)
        spline_knots = spline_knots_of(t, knots, df, time, what) if shape == "spline" else None
        if shape == "plateau" and breakpoint is not None:
            if not t.min() < breakpoint < t.max():
                raise ValueError(
                    f"{what}: breakpoint {breakpoint:g} must lie inside the observed range of "
                    f"{time} ({t.min():g}-{t.max():g})")
        self.design = _Design(
            dv=dv, time=time, subject=subject, factors=factors, levels=levels,
            shape=shape, knots=spline_knots, breakpoint=breakpoint,
            numeric_covariates=num_cov, categorical_covariates=cat_cov,
            covariate_means=means, random_slope=random_slope, site=site,
        )
        self.fallback = None
        if random_slope:
            slope_values = (t if shape != "plateau" or breakpoint is None
                            else np.minimum(t, breakpoint))
            self.fallback = random_slope_fallback(len(frame), frame[subject].nunique(),
                                                  len(np.unique(slope_values)), subject)
            if self.fallback is not None:
                warnings.warn(self.fallback, ModelFitWarning, stacklevel=3)
                self.design.random_slope = False
        self.data = frame
        self.engine = engine
        self.n_dropped = int(n_dropped)
        self.groups, self.subjects = pd.factorize(frame[subject], sort=True)
        self.y = frame[dv].to_numpy(dtype=float)
        self.notes = []
        self.breakpoint_estimated = False
        if site is not None:
            site_of, note = check_sites(frame, subject, site, what)
            self._site_of_group = site_of.reindex(self.subjects).to_numpy()
            if note:
                self.notes.append(note)
                warnings.warn(note, ModelFitWarning, stacklevel=3)
        if shape == "plateau" and breakpoint is None:
            self._estimate_breakpoint(t)
        self._build()

    # ----------------------------------------------------------- the design
    def _build(self):
        d = self.design
        X, names = d.matrix(self.data)
        Z = d.z_matrix(self.data)
        if d.site is not None:
            engine = NestedLMM(X, Z, self.y, self.groups, self._site_of_group)
        else:
            engine = GroupedLMM(X, Z, self.y, self.groups)
        check_collinear(engine.XyXy[:-1, :-1], names, "dose_response")
        self.X, self.Z, self.design_names, self.engine_model = X, Z, names, engine

    def _estimate_breakpoint(self, t):
        """Profile the ML deviance over the breakpoint: grid, then bounded search."""
        from scipy.optimize import minimize_scalar

        times = np.unique(t)
        if len(times) < 4:
            raise ValueError(
                "dose_response: estimating a plateau breakpoint needs at least 4 distinct times")
        cache = {}

        def deviance_at(bp):
            self.design.breakpoint = float(bp)
            if bp not in cache:
                self._build()
                cache[bp] = _run_engine(self, False, []).deviance
            return cache[bp]

        grid = times[1:-1]
        devs = [deviance_at(bp) for bp in grid]
        k = int(np.argmin(devs))
        res = minimize_scalar(deviance_at, bounds=(times[k], times[k + 2]), method="bounded",
                              options={"xatol": 1e-6 * (times[-1] - times[0])})
        self.design.breakpoint = float(res.x if res.fun < devs[k] else grid[k])
        self.breakpoint_estimated = True
        self.notes.append(
            f"breakpoint estimated by profile ML at {self.design.breakpoint:.4g} "
            "(grid then bounded search); its uncertainty is not propagated")

        if (self.design.breakpoint > times[-2] + 0.99 * (times[-1] - times[-2])
                or self.design.breakpoint < times[1] - 0.99 * (times[1] - times[0])):
            msg = (f"no plateau inside the observed range of {self.design.time}: the best "
                   f"breakpoint ({self.design.breakpoint:.4g}) is at the edge of the data "
                   f"({times[0]:g}-{times[-1]:g}), so the trajectory is as linear as the data "
                   "can show; prefer shape='linear'")
            self.notes.append(msg)
            warnings.warn(msg, ModelFitWarning, stacklevel=4)

    def fit(self, reml=True, dof="satterthwaite", confidence=0.95):
        """Estimate the model.

        Parameters
        ----------
        reml : bool, default True
            REML (as ``lme4::lmer``) or maximum likelihood.
        dof : {"satterthwaite", "kenward-roger"}
            Degrees of freedom of the t-tests (Kenward-Roger also adjusts the
            covariance of the fixed effects; it needs REML).
        confidence : float, default 0.95

        Returns
        -------
        DoseResponseResult
        """
        check_fit_arguments("dose_response", dof, reml, self.design.site, confidence)
        notes = self.fit_notes()
        engine_fit = _run_engine(self, reml, notes)
        result = DoseResponseResult(self, engine_fit, dof=dof, confidence=confidence,
                                    notes=notes)
        for msg in result.diagnostics.warnings:
            warnings.warn(msg, ModelFitWarning, stacklevel=3)
        return result


def _run_engine(model, reml, notes):
    """The engine's fit, with statsmodels as fall-back or second opinion."""
    lmm, engine = model.engine_model, model.engine
    X, Z, y, group = model.X, model.Z, model.y, model.groups

    def statsmodels_fit():
        theta, converged = _fit_statsmodels(X, Z, y, group, reml, notes)
        return lmm.fit_at(theta, reml, optimizer="statsmodels MixedLM", converged=converged)

    if engine == "statsmodels":
        return statsmodels_fit()
    try:
        fit = lmm.fit(reml=reml)
    except (np.linalg.LinAlgError, FloatingPointError) as err:
        if engine != "auto" or model.design.site is not None:
            raise
        notes.append(f"the exact engine failed ({err}); statsmodels MixedLM was used instead")
        return statsmodels_fit()
    if not fit.converged:
        notes.append(f"the exact engine did not converge ({fit.message}; largest gradient "
                     f"{fit.gradient_max:.2g})")
        if engine == "auto" and model.design.site is None:
            # a second opinion from statsmodels; keep whichever optimum is better
            try:
                alt = statsmodels_fit()
                if alt.deviance < fit.deviance:
                    notes.append("statsmodels MixedLM reached a lower deviance and was used")
                    fit = alt
            except Exception as err:  # noqa: BLE001 - the reason is reported
                notes.append(f"statsmodels fall-back failed: {err}")
    return fit


def dose_response(
    data,
    dv,
    *,
    subject,
    time,
    between=None,
    covariates=None,
    site=None,
    random_slope=True,
    reml=True,
    shape="linear",
    knots=None,
    df=3,
    breakpoint=None,
    reference=None,
    dof="satterthwaite",
    engine="auto",
    confidence=0.95,
):
    """Growth-curve mixed model of an outcome over weeks or minutes of practice.

    Fits ``dv ~ f(time) * between + covariates + (1 + time | subject)``
    (``+ (1 | site)`` with ``site``): a fixed trajectory ``f`` per group, a
    random intercept and slope per participant.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per participant and visit (missing visits and
        unequal numbers of visits are fine).
    dv : str
        Outcome column (numeric).
    subject : str
        Participant identifier column (keyword).
    time : str
        Numeric time column (keyword): ``week``, or a dose such as
        ``cumulative_backward_minutes`` from :meth:`Study.dose`.
    between : str or list of str, optional
        Between-participant factor(s) (e.g. ``"arm"`` or ``["arm",
        "condition"]``), each constant within participant; several enter as a
        full factorial with all their interactions, each interacting with
        time. Levels are sorted, or a pandas Categorical's categories in their
        order (as R's factor levels); the first is the reference unless
        ``reference`` says otherwise. A level or combination with no
        participants is an error, never silently dropped.
    covariates : list of str, optional
        Extra fixed effects: numeric columns enter linearly, others as
        treatment-coded factors (e.g. ``backward_sessions`` for consistency). A
        constant covariate is an error.
    site : str, optional
        Column of the site each participant belongs to: adds a random
        intercept per site, participants nested in sites, as ``lmer(... +
        (1 | site))``.
    random_slope : bool, default True
        Random slope on time. If the data cannot support one (fewer than 3
        participants or 2 distinct times, or no more observations than random
        effects: lme4's rules), a random intercept model is fitted instead,
        with a :class:`ModelFitWarning` and ``diagnostics.fallback`` saying
        why. Two distinct times suffice when people have repeats at them.
    reml : bool, default True
        REML (as ``lme4::lmer`` by default) or maximum likelihood.
    shape : {"linear", "quadratic", "spline", "plateau"}
        Fixed-effect trajectory. ``"quadratic"`` adds ``I(time ** 2)``;
        ``"spline"`` is a natural cubic spline on R's ``ns()`` basis;
        ``"plateau"`` is ``np.minimum(time, breakpoint)`` (linear, then flat),
        the breakpoint estimated by profile maximum likelihood when not given.
        The random slope is on ``time`` (on ``np.minimum(time, breakpoint)``
        for plateau).
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
        Reference level of the one between factor, or a dict ``{column:
        level}`` for any between factor or categorical covariate.
    dof : {"satterthwaite", "kenward-roger"}
        Degrees of freedom of every t-test, CI, EMM and contrast:
        Satterthwaite's (lmerTest's default) or Kenward-Roger's, which also
        adjusts the covariance of the fixed effects (pbkrtest; REML only, and
        not with ``site``).
    engine : {"auto", "exact", "statsmodels"}
        ``"exact"``: the sufficient-statistics REML/ML engine;
        ``"statsmodels"``: MixedLM's optimiser, then the same inference code;
        ``"auto"`` (default): exact, with MixedLM as a second opinion if the
        exact optimum does not pass its optimality checks.
    confidence : float, default 0.95
        Level of the confidence intervals.

    Returns
    -------
    DoseResponseResult
        ``.fixed`` (columns term, estimate, se, dof, t, p_val, ci_low,
        ci_high), ``.random``, ``.r2``, ``.participant_effects``,
        ``.emmeans()``, ``.contrasts()``, ``.slopes()``, ``.predict()``,
        ``.plot()``, ``.summary()``, ``.aic``, ``.bic``, ``.loglik``,
        ``.diagnostics`` (a :class:`FitDiagnostics`) and ``.model`` (the
        :class:`MixedModel`).

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
    REML (or ML) deviance (Bates et al. 2015), from several starts on a
    centred time; a fit is called converged only where first- and
    second-order optimality conditions hold, the boundary included.
    Degrees of freedom are Satterthwaite's, as lmerTest computes them
    (Kuznetsova et al. 2017), or Kenward-Roger's, as pbkrtest (Halekoh &
    Højsgaard 2014); marginal means follow emmeans (Lenth 2023): numeric
    covariates at their mean, other factors averaged with equal weights.

    What was measured against R (lme4 1.1-31, lmerTest 3.1-3, emmeans 1.8.4,
    pbkrtest 0.5.2), ``tests/test_mixed_real.py`` and
    ``tests/reference/mixed_real.R``: on R's real longitudinal data sets
    (lme4's sleepstudy; nlme's Orthodont, both sexes and each alone;
    ChickWeight, with drop-out and four diets; BodyWeight, three diets;
    Loblolly, a near-zero variance; Dialyzer, a zero variance), linear,
    quadratic and spline shapes, REML and ML, every optimum is at least as
    good as lme4's with tight bobyqa (log-likelihood within 1e-6), and where
    lme4 converged the fixed effects, SEs, Satterthwaite dof and EMMs agree
    to 1e-4 of the larger of the value and its SE.

    References
    ----------
    Bates, D., Mächler, M., Bolker, B., & Walker, S. (2015). Fitting linear
    mixed-effects models using lme4. *Journal of Statistical Software*, 67(1),
    1-48. https://doi.org/10.18637/jss.v067.i01

    Kuznetsova, A., Brockhoff, P. B., & Christensen, R. H. B. (2017). lmerTest
    package: tests in linear mixed effects models. *Journal of Statistical
    Software*, 82(13), 1-26. https://doi.org/10.18637/jss.v082.i13

    Halekoh, U., & Højsgaard, S. (2014). A Kenward-Roger approximation and
    parametric bootstrap methods for tests in linear mixed models - the R
    package pbkrtest. *Journal of Statistical Software*, 59(9), 1-32.
    https://doi.org/10.18637/jss.v059.i09

    Lenth, R. V. (2023). emmeans: Estimated marginal means, aka least-squares
    means. R package version 1.8.4. https://CRAN.R-project.org/package=emmeans

    Examples
    --------
    nlme's Orthodont, girls only (real data; lme4 reaches log-likelihood
    -68.714 and an intercept SD of 1.88):

    >>> import backwalk_study as bw
    >>> from backwalk_study.data.datasets import orthodont
    >>> girls = orthodont().query("Sex == 'Female'")
    >>> fit = bw.dose_response(girls, "distance", subject="Subject", time="age")
    >>> round(fit.loglik, 3), fit.diagnostics.converged, fit.diagnostics.singular
    (-68.714, True, False)
    >>> fit.fixed.set_index("term").loc["age", ["se", "dof"]].round(4).tolist()
    [0.0662, 10.0]
    >>> fit.random["component"].tolist()
    ['sd_intercept', 'sd_slope', 'corr_intercept_slope', 'sd_residual']
    """
    model = MixedModel(data, dv, subject=subject, time=time, between=between,
                       covariates=covariates, site=site, random_slope=random_slope,
                       shape=shape, knots=knots, df=df, breakpoint=breakpoint,
                       reference=reference, engine=engine)
    return model.fit(reml=reml, dof=dof, confidence=confidence)


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


@dataclass(frozen=True)
class FitDiagnostics:
    """How a mixed-model fit went: what to check before trusting it.

    Attributes are typed; ``diagnostics["name"]`` also works for any of them,
    and an unknown name raises ``KeyError`` (never a silent ``None``).
    """

    converged: bool
    optimality: str
    optimizer: str
    optimizer_message: str
    iterations: int
    n_evaluations: int
    gradient_max: float
    singular: bool
    boundary_parameters: list
    theta: list
    random_structure: str
    fallback: str | None
    warnings: list
    notes: list
    n_obs: int
    n_participants: int
    n_sites: int | None
    n_dropped: int
    engine: str
    criterion: str
    dof_method: str
    hessian_eigenvalues: list
    best_start: str
    starts: list
    time_centre: float | None
    breakpoint: float | None = None
    breakpoint_estimated: bool = False

    def __getitem__(self, name):
        if name not in self.__dataclass_fields__:
            raise KeyError(f"FitDiagnostics has no {name!r}; it has "
                           f"{', '.join(self.__dataclass_fields__)}")
        return getattr(self, name)

    def __contains__(self, name):
        return name in self.__dataclass_fields__

    def as_dict(self):
        """Every field, as a plain dict."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


class DoseResponseResult:
    """Result of :func:`dose_response` (see there for the model).

    Attributes
    ----------
    model : MixedModel
        The model (data and design) this result estimates.
    fixed : DataFrame
        term, estimate, se, dof (Satterthwaite or Kenward-Roger), t, p_val,
        ci_low, ci_high.
    random : DataFrame
        component (sd_intercept, sd_slope, corr_intercept_slope, sd_site,
        sd_residual) and estimate.
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
    n_params : int
    criterion : {"REML", "ML"}
    dof_method : {"satterthwaite", "kenward-roger"}
    diagnostics : FitDiagnostics

    Examples
    --------
    >>> import backwalk_study as bw
    >>> from backwalk_study.data.datasets import sleepstudy      # lme4's, real
    >>> result = bw.dose_response(sleepstudy(), "Reaction", subject="Subject", time="Days")
    >>> result.fixed["term"].tolist(), result.diagnostics.converged
    (['Intercept', 'Days'], True)
    """

    def __init__(self, model, engine_fit, *, dof="satterthwaite", confidence=0.95, notes=()):
        self.model = model
        self._fit = engine_fit
        self.confidence = confidence
        self.dof_method = dof
        self.names = list(model.design_names)
        self.shape = model.design.shape
        lmm = model.engine_model
        self._satt = lmm.satterthwaite_parts(engine_fit)
        self._kr = None
        if dof == "kenward-roger":
            # from the engine's statistics, not the rows: a model built from
            # statistics alone (Dask) gets Kenward-Roger too
            from backwalk_study.stats._kenward_roger import kenward_roger_parts_of_engine

            self._kr = kenward_roger_parts_of_engine(lmm, engine_fit)
        self.n_params = model.n_params
        self.loglik = -engine_fit.deviance / 2
        self.aic = engine_fit.deviance + 2 * self.n_params
        self.bic = engine_fit.deviance + np.log(lmm.n) * self.n_params
        self.criterion = "REML" if engine_fit.reml else "ML"
        self.fixed = self._make_fixed()
        self.random = self._make_random()
        self.r2 = self._make_r2()
        self.participant_effects = self._make_participant_effects()
        self.diagnostics = self._make_diagnostics(list(notes))

    # ---------------------------------------------------------------- tables
    def _inference(self, L, confidence=None):
        L = np.atleast_2d(L)
        est = L @ self._fit.beta
        if self._kr is not None:
            from backwalk_study.stats._kenward_roger import kenward_roger_dof

            var = np.einsum("ci,ij,cj->c", L, self._kr.vcov_adjusted, L)
            dof = kenward_roger_dof(L, self._kr)
        else:
            A, jac, vcov, _ = self._satt
            var, dof = satterthwaite_df(L, A, jac, vcov)
        se = np.sqrt(var)
        tval, p, lo, hi = _t_table(est, se, dof, confidence or self.confidence)
        return est, se, dof, tval, p, lo, hi

    @property
    def cov_fixed(self):
        """Covariance of the fixed effects (Kenward-Roger's adjusted one when used)."""
        return self._kr.vcov_adjusted if self._kr is not None else self._satt[2]

    def _make_fixed(self):
        est, se, dof, tval, p, lo, hi = self._inference(np.eye(len(self.names)))
        return pd.DataFrame({"term": self.names, "estimate": est, "se": se, "dof": dof,
                             "t": tval, "p_val": p, "ci_low": lo, "ci_high": hi})

    @property
    def cov_re(self):
        """Covariance matrix of the participants' random effects (absolute scale)."""
        lmm = self.model.engine_model
        return self._fit.sigma**2 * lmm.relcov(self._fit.theta)

    @property
    def var_site(self):
        """Variance of the site intercepts (None without sites)."""
        if self.model.design.site is None:
            return None
        return float((self._fit.sigma * self._fit.theta[-1]) ** 2)

    def _make_random(self):
        cov = self.cov_re
        rows = [("sd_intercept", np.sqrt(cov[0, 0]))]
        if cov.shape[0] == 2:
            rows.append(("sd_slope", np.sqrt(cov[1, 1])))
            denom = np.sqrt(cov[0, 0] * cov[1, 1])
            rows.append(("corr_intercept_slope", cov[0, 1] / denom if denom > 0 else np.nan))
        if self.var_site is not None:
            rows.append(("sd_site", np.sqrt(self.var_site)))
        rows.append(("sd_residual", self._fit.sigma))
        return pd.DataFrame(rows, columns=["component", "estimate"])

    def _make_r2(self):
        Z = self.model.Z
        var_f = float(np.var(self.model.X @ self._fit.beta, ddof=1))
        var_r = float(np.mean(np.einsum("ni,ij,nj->n", Z, self.cov_re, Z)))
        var_r += self.var_site or 0.0
        var_e = self._fit.sigma**2
        total = var_f + var_r + var_e
        return pd.Series({"marginal": var_f / total, "conditional": (var_f + var_r) / total,
                          "var_fixed": var_f, "var_random": var_r, "var_residual": var_e},
                         name="r2")

    def _make_participant_effects(self):
        lmm = self.model.engine_model
        b, cond = lmm.random_effects(self._fit)
        out = pd.DataFrame({self.model.design.subject: np.asarray(self.model.subjects),
                            "n_obs": lmm.group_sizes, "intercept": b[:, 0]})
        if b.shape[1] == 2:
            out["slope"] = b[:, 1]
        out["sd_intercept"] = np.sqrt(cond[:, 0, 0])
        if b.shape[1] == 2:
            out["sd_slope"] = np.sqrt(cond[:, 1, 1])
        if self.model.design.site is not None:
            out.insert(1, self.model.design.site, self.model._site_of_group)
        return out

    @property
    def site_effects(self):
        """Per site: the site intercept's conditional mode and SD (None without sites)."""
        if self.model.design.site is None:
            return None
        lmm = self.model.engine_model
        lmm.random_effects(self._fit)
        u, var = lmm.site_effects
        return pd.DataFrame({self.model.design.site: lmm.sites, "intercept": u,
                             "sd_intercept": np.sqrt(var)})

    def _singular_reason(self):
        """Which variance is on its boundary, in words."""
        cov = self.cov_re
        sd = np.sqrt(np.maximum(np.diag(cov), 0.0))
        largest = max(float(np.max(sd)), float(self._fit.sigma), 1e-300)
        names = ["intercept", "slope"]
        zero = [names[k] for k in range(len(sd)) if sd[k] < 1e-4 * largest]
        reasons = [f"the participants' {name} SD is estimated as zero" for name in zero]
        if len(sd) == 2 and not zero:
            corr = cov[0, 1] / (sd[0] * sd[1])
            if abs(corr) > 1 - 1e-6:
                reasons.append(f"intercept and slope are perfectly correlated ({corr:+.0f})")
        if self.var_site is not None and self.var_site < (1e-4 * largest) ** 2:
            reasons.append("the site SD is estimated as zero")
        return "; ".join(reasons) or "a random-effect variance is on its boundary"

    def _make_diagnostics(self, notes):
        fit, model = self._fit, self.model
        evals = self._satt[3]
        warn = []
        if not fit.converged:
            warn.append(f"the model did not converge: {fit.message}")
        if fit.singular:
            warn.append(f"boundary (singular) fit: {self._singular_reason()}; checked to be the "
                        "optimum (the data cannot tell these random effects apart; lme4 reports "
                        "such fits as singular too)")
        if fit.optimizer.startswith("statsmodels"):
            # its own warnings (e.g. "MLE on the boundary") are passed on
            warn.extend(n for n in notes if n.startswith("statsmodels ("))
        if np.any(evals < -1e-8) and not fit.singular:
            warn.append("the Hessian of the variance parameters has negative eigenvalues: "
                        "the fit may not be at a minimum")
        q = model.engine_model.q
        structure = "intercept + slope" if q == 2 else "intercept"
        if model.design.site is not None:
            structure += f" per {model.design.subject}; intercept per {model.design.site}"
        return FitDiagnostics(
            converged=bool(fit.converged), optimality=fit.certificate, optimizer=fit.optimizer,
            optimizer_message=fit.message, iterations=int(fit.iterations),
            n_evaluations=int(fit.n_evaluations), gradient_max=float(fit.gradient_max),
            singular=bool(fit.singular), boundary_parameters=list(fit.boundary),
            theta=[float(v) for v in fit.theta], random_structure=structure,
            fallback=model.fallback, warnings=warn, notes=list(notes),
            n_obs=model.n_obs, n_participants=model.n_participants, n_sites=model.n_sites,
            n_dropped=model.n_dropped, engine=model.engine, criterion=self.criterion,
            dof_method=self.dof_method, hessian_eigenvalues=[float(v) for v in evals],
            best_start=fit.best_start,
            starts=[dict(r, loglik=-r["deviance"] / 2) for r in fit.starts],
            time_centre=fit.centre,
            breakpoint=model.design.breakpoint if self.shape == "plateau" else None,
            breakpoint_estimated=model.breakpoint_estimated,
        )

    # ---------------------------------------------------- marginal means etc.
    def _default_at(self, at):
        d = self.model.design
        if at is None:
            return {d.time: float(self.model.data[d.time].mean())}
        if d.time not in at:
            unknown = set(at) - {d.time, *d.numeric_covariates, *d.categorical_covariates}
            extra = f" ({', '.join(map(repr, sorted(unknown)))} is not a column of the model)" \
                if unknown else ""
            raise ValueError(f"at must give a value of {d.time!r}, e.g. at={{{d.time!r}: 12}}"
                             + extra)
        unknown = set(at) - {d.time, *d.numeric_covariates, *d.categorical_covariates}
        if unknown:
            raise ValueError(f"at names unknown column(s): {', '.join(sorted(unknown))}")
        return at

    def emmeans(self, at=None, confidence=None):
        """Estimated marginal means per cell of the between factors at given times.

        Parameters
        ----------
        at : dict, optional
            ``{time: value or list}``, optionally covariate values; default:
            time at its mean, as emmeans does.
        confidence : float, optional

        Returns
        -------
        DataFrame
            The between factor column(s) (if any), the time column, estimate,
            se, dof, ci_low, ci_high; one row per cell and time.
        """
        keys, L = self.model.design.grid(self._default_at(at))
        est, se, dof, _, _, lo, hi = self._inference(L, confidence)
        out = keys.copy()
        out["estimate"], out["se"], out["dof"], out["ci_low"], out["ci_high"] = est, se, dof, lo, hi
        return out.reset_index(drop=True)

    def _slope_rows(self, at):
        d = self.model.design
        at = dict(self._default_at(at))
        times = np.atleast_1d(at[d.time]).astype(float)
        span = float(np.ptp(self.model.data[d.time].to_numpy())) or 1.0
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
        """Rate of change per unit time for each cell (like emmeans::emtrends).

        Returns
        -------
        DataFrame
            The between factor column(s) (if any), the time column, estimate,
            se, dof, t, p_val, ci_low, ci_high.
        """
        keys, L = self._slope_rows(at)
        est, se, dof, tval, p, lo, hi = self._inference(L, confidence)
        out = keys.copy()
        for name, col in zip(["estimate", "se", "dof", "t", "p_val", "ci_low", "ci_high"],
                             [est, se, dof, tval, p, lo, hi]):
            out[name] = col
        return out.reset_index(drop=True)

    def contrasts(self, at=None, adjust="none", by=None, confidence=None):
        """Pairwise differences between cells of the between factors: means and slopes.

        Parameters
        ----------
        at : dict, optional
            As in :meth:`emmeans`.
        adjust : {"none", "tukey", "holm", "bonferroni", "bh"}
            Adjustment within each family (quantity, time and ``by`` level),
            as emmeans' ``pairs(..., adjust=)``: Tukey's studentized range
            (p-values and simultaneous intervals), or Holm, Bonferroni, BH
            p-values with Bonferroni intervals.
        by : str, optional
            With several between factors: compare the cells of the others
            within each level of this one (emmeans' ``pairs(emm, by =)``).
        confidence : float, optional

        Returns
        -------
        DataFrame
            quantity ("mean" or "slope"), contrast ("a - b", in level order as
            emmeans' ``pairs``), the ``by`` column, the time column, estimate,
            se, dof, t, p_val, ci_low, ci_high (unadjusted), and with an
            adjustment its p-value column (``p_tukey``, ``p_holm``, ``p_bh``,
            ``p_bonferroni``), the simultaneous interval as emmeans gives it
            (``ci_low_tukey``/``ci_high_tukey``; Bonferroni's,
            ``ci_low_bonferroni``, for Holm, Bonferroni and BH) and ``adjust``.
        """
        from backwalk_study.stats.multiplicity import adjust_contrasts

        d = self.model.design
        if not d.factors:
            raise ValueError("contrasts: the model has no between factor (e.g. between='arm')")
        if adjust not in ("none", "tukey", "holm", "bonferroni", "bh"):
            raise ValueError("contrasts: adjust must be 'none', 'tukey', 'holm', 'bonferroni' or "
                             f"'bh', not {adjust!r}")
        if by is not None and by not in d.factors:
            raise ValueError(f"by must be one of the between factors: {', '.join(d.factors)}")
        if by is not None and len(d.factors) < 2:
            raise ValueError("by needs at least two between factors")
        level = confidence or self.confidence
        at = self._default_at(at)
        others = [f for f in d.factors if f != by]
        frames = []
        for quantity, (keys, L) in (("mean", d.grid(at)), ("slope", self._slope_rows(at))):
            for t in pd.unique(keys[d.time]):
                at_t = keys[d.time].to_numpy() == t
                groups = [None] if by is None else d.levels[by]
                for g in groups:
                    mask = at_t if g is None else at_t & (keys[by].to_numpy() == g)
                    idx = np.flatnonzero(mask)
                    cells = [tuple(keys[f].iloc[i] for f in others) for i in idx]
                    rows, labels = [], []
                    for (ia, ca), (ib, cb) in itertools.combinations(zip(idx, cells), 2):
                        rows.append(L[ia] - L[ib])
                        labels.append(f"{_cell_text(ca)} - {_cell_text(cb)}")
                    est, se, dof, tval, p, lo, hi = self._inference(np.vstack(rows), level)
                    part = pd.DataFrame({"quantity": quantity, "contrast": labels})
                    if by is not None:
                        part[by] = g
                    part[d.time] = t
                    part = part.assign(estimate=est, se=se, dof=dof, t=tval, p_val=p,
                                       ci_low=lo, ci_high=hi)
                    if adjust != "none":
                        adj = adjust_contrasts(tval, dof, adjust, n_means=len(idx),
                                               confidence=level)
                        part[adj.p_column] = adj.p_adjusted
                        if adj.interval != "none":
                            part[f"ci_low_{adj.interval}"] = est - adj.critical * se
                            part[f"ci_high_{adj.interval}"] = est + adj.critical * se
                        part["adjust"] = f"{adjust} ({len(idx)} means)"
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
            Population intervals use the fit's dof; with random effects
            the variance adds the BLUPs' conditional variance (ignoring their
            covariance with the fixed effects) and a normal quantile.
        """
        d = self.model.design
        new = self.model.data.copy() if new_data is None else pd.DataFrame(new_data).copy()
        need = [d.time] + d.factors + d.numeric_covariates + list(d.categorical_covariates)
        if include_random:
            need.append(d.subject)
        lacking = [c for c in need if c not in new.columns]
        if lacking:
            raise ValueError(f"new_data lacks column(s): {', '.join(lacking)}")
        for column, levels in [*d.levels.items(), *d.categorical_covariates.items()]:
            unknown = set(pd.unique(new[column])) - set(levels)
            if unknown:
                raise ValueError(f"unknown level(s) of {column}: {sorted(map(str, unknown))}")
        X, _ = d.matrix(new)
        est, se, dof, _, _, lo, hi = self._inference(X, confidence)
        if include_random:
            pe = self.participant_effects.set_index(d.subject)
            Z = d.z_matrix(new)
            cols = ["intercept", "slope"][: Z.shape[1]]
            known = new[d.subject].isin(pe.index).to_numpy()
            b = pe.reindex(new[d.subject])[cols].to_numpy()
            b[~known] = 0.0
            _, cond_all = self.model.engine_model.random_effects(self._fit)
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
        """Observed trajectories (thin) with the fitted mean per cell and its band.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt
        import seaborn as sns

        d = self.model.design
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        frame = self.model.data.sort_values([d.subject, d.time])
        cells = d.cells
        palette = dict(zip(cells, sns.color_palette("colorblind", len(cells))))
        for _, part in frame.groupby(d.subject, sort=False):
            cell = tuple(part[f].iloc[0] for f in d.factors)
            ax.plot(part[d.time], part[d.dv], color=palette[cell] if d.factors else "0.5",
                    alpha=0.25, lw=0.7)
        t = frame[d.time]
        grid = np.linspace(t.min(), t.max(), n_points)
        emm = self.emmeans(at={d.time: grid})
        for cell in cells:
            mask = np.ones(len(emm), dtype=bool)
            for f, lvl in zip(d.factors, cell):
                mask &= (emm[f] == lvl).to_numpy()
            part = emm[mask]
            color = palette[cell] if d.factors else "C0"
            ax.plot(part[d.time], part["estimate"], color=color, lw=2.5,
                    label=d.cell_label(cell) if d.factors else "fitted mean")
            ax.fill_between(part[d.time], part["ci_low"], part["ci_high"], color=color,
                            alpha=0.2, lw=0)
        ax.set_xlabel(xlabel or _label_with_unit(d.time))
        ax.set_ylabel(ylabel or d.dv)
        ax.legend(title=" x ".join(d.factors) or None, frameon=False)
        ax.set_title(f"{d.dv}: observed trajectories and fitted mean "
                     f"({int(self.confidence * 100)}% CI)", fontsize=10)
        return ax

    def summary(self):
        """A text summary in the manner of statsmodels and lme4."""
        dg, d = self.diagnostics, self.model.design
        lines = [
            f"Linear mixed model ({self.criterion}) — shape: {self.shape}",
            f"outcome: {d.dv}   time: {d.time}   participants: {dg.n_participants}   "
            f"observations: {dg.n_obs}" + (f"   sites: {dg.n_sites}" if dg.n_sites else ""),
            f"random effects: {dg.random_structure} per {d.subject}",
            f"logLik {self.loglik:.3f}   AIC {self.aic:.3f}   BIC {self.bic:.3f}",
            f"R2 marginal {self.r2['marginal']:.3f}   conditional {self.r2['conditional']:.3f}",
            f"converged: {dg.converged} ({dg.optimality})   singular: {dg.singular}   "
            f"optimizer: {dg.optimizer} ({dg.iterations} iterations, best start: "
            f"{dg.best_start})",
        ]
        if dg.fallback:
            lines.append(f"FALL-BACK: {dg.fallback}")
        for w in dg.warnings:
            lines.append(f"WARNING: {w}")
        dof_name = "Kenward-Roger" if self.dof_method == "kenward-roger" else "Satterthwaite"
        lines += ["", f"Fixed effects ({dof_name} dof):",
                  self.fixed.to_string(index=False, float_format=lambda v: f"{v:.4g}"),
                  "", "Random effects:",
                  self.random.to_string(index=False, float_format=lambda v: f"{v:.4g}")]
        return "\n".join(lines)

    def __repr__(self):
        d = self.model.design
        factors = " * ".join(d.factors)
        return (f"<DoseResponseResult {d.dv} ~ {self.shape}({d.time})"
                f"{' * ' + factors if factors else ''}, {self.criterion}, "
                f"n={self.model.n_obs}>")

    # ----------------------------------------------------------- comparisons
    def refit(self, reml):
        """The same model fitted by REML (``True``) or ML (``False``)."""
        if reml == self._fit.reml:
            return self
        dof = self.dof_method if reml else "satterthwaite"
        return self.model.fit(reml=reml, dof=dof, confidence=self.confidence)



def _cell_text(cell):
    """A cell of levels for a contrast label; bracketed, as emmeans does, when a
    level holds a space or an operator."""
    text = " ".join(map(str, cell))
    return f"({text})" if any(ch in text for ch in "+-*/") else text


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
    >>> line = dose_response(d, "score", subject="pid", time="week")
    >>> curve = dose_response(d, "score", subject="pid", time="week", shape="quadratic")
    >>> lrt = likelihood_ratio_test(line, curve)
    >>> lrt["model"].tolist(), int(lrt["dof"].iloc[1]), bool(lrt["p_val"].iloc[1] < 0.001)
    (['linear', 'quadratic'], 1, True)
    """
    fits = sorted([model_1.refit(False), model_2.refit(False)], key=lambda m: m.n_params)
    if (fits[0].model.n_obs != fits[1].model.n_obs
            or not np.array_equal(fits[0].model.y, fits[1].model.y)):
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


def compare_shapes(data, dv, *, subject, time,
                   shapes=("linear", "quadratic", "spline", "plateau"), **kwargs):
    """Fit several trajectory shapes by ML and compare them.

    Parameters
    ----------
    data, dv, subject, time :
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
    >>> table = compare_shapes(d, "score", subject="pid", time="week",
    ...                        shapes=("linear", "plateau"))
    >>> table.sort_values("aic")["shape"].tolist()
    ['plateau', 'linear']
    """
    kwargs.pop("reml", None)
    fits = {s: dose_response(data, dv, subject=subject, time=time, shape=s, reml=False, **kwargs)
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
