"""Random-effects meta-analysis and meta-regression, as R's metafor computes them.

:func:`meta_analysis` pools one effect per study (an estimate and its standard
error or variance, from :mod:`backwalk_study.stats.effect_sizes`) and returns a
:class:`MetaAnalysisResult`: the pooled effect, the between-study variance
tau2 with its Q-profile confidence interval, I2, H2, Cochran's Q, the
prediction interval, study weights, subgroups, leave-one-out and Egger's
test. :func:`meta_regression` adds study-level moderators (above all the
training dose) and returns a :class:`MetaRegressionResult`.

Conventions (the project's): result tables have the columns ``estimate, se,
dof, t, p_val, ci_low, ci_high``. ``t`` is the Wald statistic of the chosen
test: with ``test="z"`` (metafor's default) its reference distribution is the
standard normal and ``dof`` is ``inf``; with ``test="hksj"`` (metafor's
``test="knha"``) it is a t distribution with ``dof = k - p``. I2 is printed in
percent, as metafor and RevMan print it.

Estimators of tau2 (``method``):

- ``"REML"`` (default): restricted maximum likelihood. Its score equation is
  solved with a bracketing root-finder (Brent) on every sign change of the
  score over a grid, and the root with the largest restricted likelihood is
  kept, so a flat or multi-modal likelihood cannot stop it early; the
  boundary tau2 = 0 is taken when the score is not positive there.
- ``"DL"``: DerSimonian-Laird, the method-of-moments closed form.
- ``"PM"``: Paule-Mandel, the root of the generalised Q statistic equal to
  its degrees of freedom (Brent).
- ``"FE"``: the common (fixed) effect, tau2 = 0 (metafor's "FE"/"EE").

Verified against metafor 3.8 (``rma``, ``confint``, ``predict``, ``leave1out``,
``regtest``) on ``dat.normand1999`` (mean differences), ``dat.gibson2002``
(standardised mean differences) and ``dat.bcg`` (log risk ratios, and the
meta-regression on absolute latitude and year): ``tests/reference/meta.R``.

References
----------
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor
package. Journal of Statistical Software, 36(3), 1-48.
Viechtbauer, W. (2005). Bias and efficiency of meta-analytic variance
estimators in the random-effects model. Journal of Educational and
Behavioral Statistics, 30(3), 261-293 (REML, PM).
DerSimonian, R., & Laird, N. (1986). Meta-analysis in clinical trials.
Controlled Clinical Trials, 7(3), 177-188.
Paule, R. C., & Mandel, J. (1982). Consensus values and weighting factors.
Journal of Research of the National Bureau of Standards, 87(5), 377-385.
Viechtbauer, W. (2007). Confidence intervals for the amount of heterogeneity
in meta-analysis. Statistics in Medicine, 26(1), 37-52 (Q-profile CI).
Hartung, J., & Knapp, G. (2001). A refined method for the meta-analysis of
controlled clinical trials with binary outcome. Statistics in Medicine,
20(24), 3875-3889; Sidik, K., & Jonkman, J. N. (2002). A simple confidence
interval for meta-analysis. Statistics in Medicine, 21(21), 3153-3159 (HKSJ).
Higgins, J. P. T., & Thompson, S. G. (2002). Quantifying heterogeneity in a
meta-analysis. Statistics in Medicine, 21(11), 1539-1558 (I2, H2).
Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). Bias in
meta-analysis detected by a simple, graphical test. BMJ, 315, 629-634.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

__all__ = ["meta_analysis", "meta_regression", "MetaAnalysisResult", "MetaRegressionResult",
           "correlation_sensitivity", "METHODS", "TESTS"]

METHODS = ("REML", "DL", "PM", "FE")
TESTS = ("z", "hksj")
RESULT_COLUMNS = ["estimate", "se", "dof", "t", "p_val", "ci_low", "ci_high"]


# --- the engine: weighted least squares at a given tau2 --------------------------------------

def _wls(y, v, X, tau2):
    """GLS fit at ``tau2``: coefficients, their covariance, weights, residuals."""
    w = 1.0 / (v + tau2)
    XtW = X.T * w
    xtwx = XtW @ X
    xtwx_inv = np.linalg.inv(xtwx)
    beta = xtwx_inv @ (XtW @ y)
    resid = y - X @ beta
    return beta, xtwx_inv, w, resid


def _q_gen(y, v, X, tau2):
    """The generalised Q statistic: sum of w_i e_i^2 with w_i = 1/(v_i + tau2)."""
    _, _, w, resid = _wls(y, v, X, tau2)
    return float(np.sum(w * resid ** 2))


def _reml_score(y, v, X, tau2):
    """Derivative of the restricted log-likelihood in tau2 (times 2):
    e'W^2 e - tr(P), with tr(P) = sum(w) - tr((X'WX)^-1 X'W^2 X)."""
    _, xtwx_inv, w, resid = _wls(y, v, X, tau2)
    tr_p = np.sum(w) - np.trace(xtwx_inv @ ((X.T * w ** 2) @ X))
    return float(np.sum(w ** 2 * resid ** 2) - tr_p)


def _reml_loglik(y, v, X, tau2):
    """Restricted log-likelihood as metafor reports it (``REMLf=TRUE``)."""
    k, p = X.shape
    _, xtwx_inv, w, resid = _wls(y, v, X, tau2)
    _, logdet_xtx = np.linalg.slogdet(X.T @ X)
    _, logdet_xtwx_inv = np.linalg.slogdet(xtwx_inv)
    return float(-0.5 * (k - p) * np.log(2 * np.pi) + 0.5 * logdet_xtx - 0.5 * np.sum(np.log(v + tau2))
                 + 0.5 * logdet_xtwx_inv - 0.5 * np.sum(w * resid ** 2))


def _scale(y, v):
    return max(float(np.var(y)), float(np.mean(v)), 1e-12)


def _upper_bracket(f, start):
    """A tau2 where the decreasing function ``f`` is negative (doubling from ``start``)."""
    hi = start
    for _ in range(200):
        if f(hi) < 0:
            return hi
        hi *= 2.0
    raise RuntimeError("no upper bracket for tau2 was found")


def _root(f, lo, hi):
    return optimize.brentq(f, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)


def _tau2_reml(y, v, X):
    score = lambda t: _reml_score(y, v, X, t)  # noqa: E731
    s = _scale(y, v)
    grid = np.concatenate([[0.0], np.geomspace(1e-8 * s, 1e3 * s, 45)])
    values = np.array([score(t) for t in grid])
    candidates = [] if values[0] > 0 else [0.0]
    for i in np.flatnonzero((values[:-1] > 0) & (values[1:] <= 0)):
        candidates.append(_root(score, grid[i], grid[i + 1]) if values[i + 1] < 0 else grid[i + 1])
    if values[-1] > 0:  # the score is still rising at the last grid point: follow it
        hi = _upper_bracket(score, grid[-1])
        candidates.append(_root(score, grid[-1], hi))
    lls = [_reml_loglik(y, v, X, t) for t in candidates]
    tau2 = candidates[int(np.argmax(lls))]
    # optimality: a maximum, not a minimum or saddle, of the restricted likelihood
    step = max(tau2 * 1e-4, 1e-10 * s)
    ll = max(lls)
    neighbours = [tau2 + step] + ([max(tau2 - step, 0.0)] if tau2 > 0 else [])
    if any(_reml_loglik(y, v, X, t) > ll + 1e-9 * abs(ll) for t in neighbours):
        raise RuntimeError(f"REML: tau2 = {tau2:g} is not a maximum of the restricted likelihood")
    return tau2


def _tau2_pm(y, v, X):
    k, p = X.shape
    f = lambda t: _q_gen(y, v, X, t) - (k - p)  # noqa: E731
    if f(0.0) <= 0:
        return 0.0
    return _root(f, 0.0, _upper_bracket(f, _scale(y, v)))


def _tau2_dl(y, v, X):
    k, p = X.shape
    _, xtwx_inv, w, resid = _wls(y, v, X, 0.0)
    tr_p = np.sum(w) - np.trace(xtwx_inv @ ((X.T * w ** 2) @ X))
    return max(0.0, (float(np.sum(w * resid ** 2)) - (k - p)) / tr_p)


def _typical_variance(v, X):
    """metafor's 'typical' within-study variance, (k - p) / tr(P) at the fixed-effect weights."""
    k, p = X.shape
    w = 1.0 / v
    xtwx_inv = np.linalg.inv((X.T * w) @ X)
    return (k - p) / (np.sum(w) - np.trace(xtwx_inv @ ((X.T * w ** 2) @ X)))


def _q_profile(y, v, X, confidence):
    """Q-profile CI of tau2 (Viechtbauer 2007), as metafor's ``confint(rma)``."""
    k, p = X.shape
    alpha = 1 - confidence
    crit_upper = stats.chi2.isf(alpha / 2, k - p)   # gives the lower bound
    crit_lower = stats.chi2.ppf(alpha / 2, k - p)   # gives the upper bound
    q0 = _q_gen(y, v, X, 0.0)
    bounds = []
    for crit in (crit_upper, crit_lower):
        if q0 < crit:
            bounds.append(0.0)
            continue
        f = lambda t, c=crit: _q_gen(y, v, X, t) - c  # noqa: E731
        bounds.append(_root(f, 0.0, _upper_bracket(f, _scale(y, v))))
    return bounds[0], bounds[1]


@dataclass
class _Fit:
    beta: np.ndarray
    vcov: np.ndarray
    se: np.ndarray
    tau2: float
    weights: np.ndarray
    dof: float
    crit: float
    qe: float
    qe_dof: int
    vt: float


def _fit(y, v, X, method, test, confidence) -> _Fit:
    k, p = X.shape
    if method == "FE":
        tau2 = 0.0
    elif method == "DL":
        tau2 = _tau2_dl(y, v, X)
    elif method == "PM":
        tau2 = _tau2_pm(y, v, X)
    else:
        tau2 = _tau2_reml(y, v, X)
    beta, vcov, w, resid = _wls(y, v, X, tau2)
    if test == "hksj":
        # Knapp & Hartung's scaling of the covariance, without truncation (metafor's "knha")
        vcov = vcov * float(np.sum(w * resid ** 2)) / (k - p)
        dof = float(k - p)
        crit = float(stats.t.isf((1 - confidence) / 2, dof))
    else:
        dof = np.inf
        crit = float(stats.norm.isf((1 - confidence) / 2))
    _, _, w0, resid0 = _wls(y, v, X, 0.0)
    qe = float(np.sum(w0 * resid0 ** 2))
    vt = _typical_variance(v, X) if k > p else np.nan
    return _Fit(beta, vcov, np.sqrt(np.diag(vcov)), tau2, w, dof, crit, qe, k - p, vt)


def _coef_table(fit: _Fit, names: Sequence[str]) -> pd.DataFrame:
    t = fit.beta / fit.se
    p = 2 * (stats.norm.sf(np.abs(t)) if np.isinf(fit.dof) else stats.t.sf(np.abs(t), fit.dof))
    return pd.DataFrame({"term": list(names), "estimate": fit.beta, "se": fit.se, "dof": fit.dof, "t": t,
                         "p_val": p, "ci_low": fit.beta - fit.crit * fit.se,
                         "ci_high": fit.beta + fit.crit * fit.se})


def _i2(tau2, vt):
    return 100 * tau2 / (vt + tau2), tau2 / vt + 1


# --- input -----------------------------------------------------------------------------------

def _check_options(name, method, test, confidence):
    if method not in METHODS:
        raise ValueError(f"{name}: method must be one of {', '.join(METHODS)}, not {method!r}")
    if test not in TESTS:
        raise ValueError(f"{name}: test must be 'z' or 'hksj', not {test!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"{name}: confidence must be between 0 and 1, not {confidence!r}")


def _prepare(name, data, estimate, se, variance, study, min_k=2):
    """Checked arrays from ``data``: one place for the input rules."""
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"{name}: data must be a pandas DataFrame")
    if (se is None) == (variance is None):
        raise ValueError(f"{name}: give exactly one of se= and variance=")
    spread = se if se is not None else variance
    for col in (estimate, spread) + ((study,) if study is not None else ()):
        if col not in data.columns:
            raise ValueError(f"{name}: data has no column {col!r}")
    y = pd.to_numeric(data[estimate], errors="coerce").to_numpy(float)
    s = pd.to_numeric(data[spread], errors="coerce").to_numpy(float)
    labels = (data[study].astype(str).to_numpy() if study is not None
              else np.array([f"study {i + 1}" for i in range(len(data))]))
    for i in range(len(data)):
        if not np.isfinite(y[i]):
            raise ValueError(f"{name}: {labels[i]}: {estimate} is missing or not a number")
        if not np.isfinite(s[i]) or s[i] <= 0:
            raise ValueError(f"{name}: {labels[i]}: {spread} must be a positive number, not {data[spread].iloc[i]!r}")
    if study is not None:
        dup = pd.Series(labels).duplicated()
        if dup.any():
            raise ValueError(f"{name}: study {labels[int(np.flatnonzero(dup)[0])]!r} is listed twice")
    if len(y) < min_k:
        raise ValueError(f"{name}: needs at least {min_k} studies, got {len(y)}")
    v = s ** 2 if se is not None else s
    return y, v, labels


# --- results ---------------------------------------------------------------------------------

@dataclass
class MetaAnalysisResult:
    """A fitted random-effects (or common-effect) meta-analysis.

    Attributes
    ----------
    pooled : pandas.DataFrame
        One row: ``estimate, se, dof, t, p_val, ci_low, ci_high, pi_low,
        pi_high`` (the prediction interval for the effect in a new study:
        estimate +- q * sqrt(se^2 + tau2), q the test's quantile, as
        metafor's ``predict``).
    heterogeneity : pandas.DataFrame
        One row: ``tau2, tau2_ci_low, tau2_ci_high`` (Q-profile), ``tau`` and
        its CI, ``i2`` (percent) and its CI, ``h2`` and its CI, ``q``,
        ``q_dof``, ``q_p_val`` (Cochran's Q), ``k``.
    studies : pandas.DataFrame
        One row per study: ``study, estimate, se, ci_low, ci_high`` (normal
        CI of the study's own estimate) and ``weight`` (percent of the
        total random-effects weight).
    method, test, confidence : str, str, float
        The options of the fit.

    Examples
    --------
    Stroke units against general wards (metafor's ``dat.normand1999``, real):

    >>> import backwalk_study as bw
    >>> from backwalk_study.data.meta_table import read_meta_table
    >>> from backwalk_study.stats.effect_sizes import effect_sizes_from_table
    >>> table = read_meta_table("data/meta_example/normand1999_stroke_care.csv")
    >>> result = bw.meta_analysis(effect_sizes_from_table(table), se="se", study="study")
    >>> type(result).__name__, round(float(result.pooled["estimate"].iloc[0]), 3)
    ('MetaAnalysisResult', -15.106)
    """

    pooled: pd.DataFrame
    heterogeneity: pd.DataFrame
    studies: pd.DataFrame
    method: str
    test: str
    confidence: float
    data: pd.DataFrame = field(repr=False)
    columns: dict = field(repr=False)

    @property
    def estimate(self) -> float:
        return float(self.pooled["estimate"].iloc[0])

    @property
    def tau2(self) -> float:
        return float(self.heterogeneity["tau2"].iloc[0])

    @property
    def i2(self) -> float:
        return float(self.heterogeneity["i2"].iloc[0])

    @property
    def k(self) -> int:
        return len(self.studies)

    def _refit(self, rows: pd.DataFrame) -> "MetaAnalysisResult":
        return meta_analysis(rows, method=self.method, test=self.test, confidence=self.confidence,
                             **self.columns)

    def summary_row(self) -> pd.DataFrame:
        """Pooled result and heterogeneity in one row (for tables of many analyses)."""
        het = self.heterogeneity.drop(columns=["k"])
        return pd.concat([pd.DataFrame({"k": [self.k], "method": [self.method], "test": [self.test]}),
                          self.pooled.reset_index(drop=True), het.reset_index(drop=True)], axis=1)

    def subgroups(self, by: str) -> pd.DataFrame:
        """Separate meta-analyses per level of ``by``, and the test for subgroup differences.

        Each subgroup gets its own tau2 (same method and test; a subgroup of
        one study is reported as that study, tau2 = 0). The test for
        subgroup differences is RevMan's: Q_between = sum over subgroups of
        (estimate_g - m)^2 / se_g^2, m their inverse-variance mean, referred
        to chi2 with (groups - 1) degrees of freedom (Borenstein et al.
        2009, chapter 19, "separate estimates of tau2"); it equals the Q of a
        common-effect meta-analysis of the subgroup estimates (metafor:
        ``rma(yi = estimates, sei = ses, method = "FE")$QE``).

        Returns
        -------
        pandas.DataFrame
            One row per subgroup (``by`` value, ``k`` and the columns of
            :meth:`summary_row`), then a row ``by = "test for subgroup
            differences"`` with ``q_between, q_between_dof,
            q_between_p_val`` (repeated on every row for convenience).
        """
        if by not in self.data.columns:
            raise ValueError(f"subgroups: data has no column {by!r}")
        if self.data[by].isna().any():
            raise ValueError(f"subgroups: {by!r} is missing for some studies")
        rows = []
        for level, part in self.data.groupby(by, sort=True):
            if len(part) == 1:
                rec = meta_analysis(part, method="FE", test="z", confidence=self.confidence,
                                    **self.columns, _min_k=1).summary_row()
                rec["method"] = "single study"
            else:
                rec = self._refit(part).summary_row()
            rec.insert(0, by, level)
            rows.append(rec)
        table = pd.concat(rows, ignore_index=True)
        w = 1 / table["se"] ** 2
        m = np.sum(w * table["estimate"]) / np.sum(w)
        q = float(np.sum(w * (table["estimate"] - m) ** 2))
        dof = len(table) - 1
        table["q_between"] = q
        table["q_between_dof"] = dof
        table["q_between_p_val"] = stats.chi2.sf(q, dof) if dof > 0 else np.nan
        return table

    def leave_one_out(self) -> pd.DataFrame:
        """The meta-analysis refitted without each study in turn (metafor's ``leave1out``).

        Returns
        -------
        pandas.DataFrame
            One row per omitted study: ``omitted`` and the columns of
            :meth:`summary_row`.
        """
        if self.k < 3:
            raise ValueError("leave_one_out: needs at least 3 studies")
        rows = []
        for i in range(self.k):
            rec = self._refit(self.data.iloc[np.arange(self.k) != i]).summary_row()
            rec.insert(0, "omitted", self.studies["study"].iloc[i])
            rows.append(rec)
        return pd.concat(rows, ignore_index=True)

    def egger_test(self, model: str = "lm") -> pd.DataFrame:
        """Egger's regression test for funnel-plot asymmetry.

        Parameters
        ----------
        model : {"lm", "rma"}
            ``"lm"``: Egger et al.'s (1997) test, a weighted linear regression
            of the estimates on their standard errors with weights 1/se^2 and
            a residual variance (t with k - 2 degrees of freedom); metafor's
            ``regtest(fit, model = "lm")``. ``"rma"``: the standard errors as
            a moderator of this meta-analysis' model (same method and test);
            metafor's default ``regtest(fit)``.

        Returns
        -------
        pandas.DataFrame
            One row: the asymmetry coefficient (the slope on se) as
            ``estimate, se, dof, t, p_val, ci_low, ci_high``, and the
            ``limit_estimate, limit_ci_low, limit_ci_high`` (the intercept:
            the effect expected for a study of infinite size).
        """
        if self.k < 3:
            raise ValueError("egger_test: needs at least 3 studies")
        y = self.studies["estimate"].to_numpy(float)
        se = self.studies["se"].to_numpy(float)
        X = np.column_stack([np.ones_like(se), se])
        if model == "lm":
            beta, xtwx_inv, w, resid = _wls(y, se ** 2, X, 0.0)
            dof = float(self.k - 2)
            vcov = xtwx_inv * float(np.sum(w * resid ** 2)) / dof
            fit = _Fit(beta, vcov, np.sqrt(np.diag(vcov)), 0.0, w, dof,
                       float(stats.t.isf((1 - self.confidence) / 2, dof)), np.nan, 0, np.nan)
        elif model == "rma":
            fit = _fit(y, se ** 2, X, self.method, self.test, self.confidence)
        else:
            raise ValueError(f"egger_test: model must be 'lm' or 'rma', not {model!r}")
        table = _coef_table(fit, ["limit", "se"])
        out = table.iloc[[1]].drop(columns="term").reset_index(drop=True)
        out.insert(0, "model", model)
        out["limit_estimate"] = table["estimate"].iloc[0]
        out["limit_ci_low"] = table["ci_low"].iloc[0]
        out["limit_ci_high"] = table["ci_high"].iloc[0]
        return out

    def summary(self) -> str:
        """A short plain-text report."""
        p, h = self.pooled.iloc[0], self.heterogeneity.iloc[0]
        pct = round(100 * self.confidence)
        test = "z" if self.test == "z" else f"t({p['dof']:g}) (HKSJ)"
        return "\n".join([
            f"Random-effects meta-analysis, {self.method}, k = {self.k}" if self.method != "FE"
            else f"Common-effect meta-analysis, k = {self.k}",
            f"pooled estimate {p['estimate']:.4g} (SE {p['se']:.4g}), {pct}% CI {p['ci_low']:.4g} to "
            f"{p['ci_high']:.4g}; {test} = {p['t']:.3f}, p = {p['p_val']:.3g}",
            f"prediction interval {p['pi_low']:.4g} to {p['pi_high']:.4g}",
            f"tau2 = {h['tau2']:.4g} ({pct}% CI {h['tau2_ci_low']:.4g} to {h['tau2_ci_high']:.4g}), "
            f"I2 = {h['i2']:.1f}%, H2 = {h['h2']:.2f}, Q({h['q_dof']:g}) = {h['q']:.3f}, p = {h['q_p_val']:.3g}",
        ])


def meta_analysis(data: pd.DataFrame, estimate: str = "estimate", se: str | None = None,
                  variance: str | None = None, study: str | None = None, method: str = "REML",
                  test: str = "z", confidence: float = 0.95, _min_k: int = 2) -> MetaAnalysisResult:
    """Pool one effect per study in a random-effects (or common-effect) model.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per study.
    estimate : str
        Column of effect estimates (MD, SMD, log RR, ...; ratio measures on
        the log scale).
    se, variance : str
        Column of their standard errors, or of their variances (give one).
    study : str, optional
        Column of study labels (must be unique).
    method : {"REML", "DL", "PM", "FE"}
        Estimator of the between-study variance tau2 (see the module notes).
    test : {"z", "hksj"}
        Wald z test and CI (metafor's default), or the Hartung-Knapp-Sidik-
        Jonkman t test and CI with k - 1 degrees of freedom.
    confidence : float
        Level of every interval.

    Returns
    -------
    MetaAnalysisResult

    Notes
    -----
    With weights w_i = 1/(v_i + tau2): estimate = sum(w y)/sum(w), se =
    1/sqrt(sum(w)). Q = sum((y - y_FE)^2 / v_i); I2 = 100 tau2/(tau2 + v~)
    and H2 = (tau2 + v~)/v~, with v~ = (k - 1) sum(1/v) / ((sum 1/v)^2 -
    sum(1/v^2)) the "typical" within-study variance (Higgins & Thompson
    2002; metafor's definition, which reduces to (Q - (k - 1))/Q for DL).
    The CIs of tau, I2 and H2 follow from the Q-profile CI of tau2.
    Tested against metafor 3.8's ``rma``, ``confint`` and ``predict``.

    Examples
    --------
    Specialist versus routine stroke care: length of hospital stay in days
    (metafor's ``dat.normand1999``, first four trials):

    >>> from backwalk_study.stats.effect_sizes import mean_difference
    >>> trials = pd.DataFrame({"study": ["Edinburgh", "Orpington-Mild", "Orpington-Moderate",
    ...                                  "Orpington-Severe"],
    ...                        "n1": [155, 31, 75, 18], "m1": [55, 27, 64, 66], "sd1": [47, 7, 17, 20],
    ...                        "n2": [156, 32, 71, 18], "m2": [75, 29, 119, 137], "sd2": [64, 4, 29, 48]})
    >>> md = mean_difference(trials.m1, trials.sd1, trials.n1, trials.m2, trials.sd2, trials.n2)
    >>> fit = meta_analysis(pd.concat([trials, md], axis=1), se="se", study="study")
    >>> round(fit.estimate, 2), round(fit.i2, 1)
    (-35.88, 98.1)
    """
    name = "meta_analysis"
    _check_options(name, method, test, confidence)
    y, v, labels = _prepare(name, data, estimate, se, variance, study, min_k=_min_k)
    k = len(y)
    X = np.ones((k, 1))
    fit = _fit(y, v, X, method, test, confidence) if k > 1 else _fit(y, v, X, "FE", "z", confidence)
    coef = _coef_table(fit, ["intercept"]).drop(columns="term")
    half = fit.crit * np.sqrt(fit.se[0] ** 2 + fit.tau2)
    coef["pi_low"] = fit.beta[0] - half
    coef["pi_high"] = fit.beta[0] + half
    if k > 1:
        lo, hi = _q_profile(y, v, X, confidence)
        vt = fit.vt
    else:
        lo = hi = vt = np.nan
    if method == "FE" and k > 1:
        # no tau2 to compare with: I2 and H2 from Q itself, as metafor reports them for a common effect
        i2, h2 = max(0.0, 100 * (fit.qe - (k - 1)) / fit.qe), fit.qe / (k - 1)
    else:
        i2, h2 = _i2(fit.tau2, vt)
    i2_lo, h2_lo = _i2(lo, vt)
    i2_hi, h2_hi = _i2(hi, vt)
    het = pd.DataFrame({
        "tau2": [fit.tau2], "tau2_ci_low": [lo], "tau2_ci_high": [hi],
        "tau": [np.sqrt(fit.tau2)], "tau_ci_low": [np.sqrt(lo)], "tau_ci_high": [np.sqrt(hi)],
        "i2": [i2], "i2_ci_low": [i2_lo], "i2_ci_high": [i2_hi],
        "h2": [h2], "h2_ci_low": [h2_lo], "h2_ci_high": [h2_hi],
        "q": [fit.qe], "q_dof": [k - 1], "q_p_val": [stats.chi2.sf(fit.qe, k - 1) if k > 1 else np.nan],
        "k": [k]})
    z = stats.norm.isf((1 - confidence) / 2)
    sd = np.sqrt(v)
    studies = pd.DataFrame({"study": labels, "estimate": y, "se": sd, "ci_low": y - z * sd,
                            "ci_high": y + z * sd, "weight": 100 * fit.weights / np.sum(fit.weights)})
    columns = {"estimate": estimate, "se": se, "variance": variance, "study": study}
    return MetaAnalysisResult(coef, het, studies, method, test, confidence, data.copy(), columns)


@dataclass
class MetaRegressionResult:
    """A fitted mixed-effects meta-regression (metafor's ``rma(yi, vi, mods = ~ ...)``).

    Attributes
    ----------
    coefficients : pandas.DataFrame
        One row per term (``intercept`` first): ``term, estimate, se, dof,
        t, p_val, ci_low, ci_high``.
    fit : pandas.DataFrame
        One row: ``tau2`` (residual), ``tau``, ``i2``, ``h2`` (residual
        heterogeneity, percent for I2), ``r2`` (percent of tau2 accounted
        for, relative to the model without moderators fitted the same way;
        metafor's pseudo-R2), ``qm, qm_dof, qm_dof2, qm_p_val`` (omnibus test
        of the moderators: chi2 with ``qm_dof`` degrees of freedom for
        ``test="z"``, F(``qm_dof``, ``qm_dof2``) for ``test="hksj"``), ``qe,
        qe_dof, qe_p_val`` (residual heterogeneity), ``k``.
    """

    coefficients: pd.DataFrame
    fit: pd.DataFrame
    method: str
    test: str
    confidence: float

    @property
    def tau2(self) -> float:
        return float(self.fit["tau2"].iloc[0])

    @property
    def r2(self) -> float:
        return float(self.fit["r2"].iloc[0])


def _design(name, data, moderators):
    parts, names = [np.ones((len(data), 1))], ["intercept"]
    for col in moderators:
        if col not in data.columns:
            raise ValueError(f"{name}: data has no column {col!r}")
        values = data[col]
        if values.isna().any():
            raise ValueError(f"{name}: moderator {col!r} is missing for {int(values.isna().sum())} studies")
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            parts.append(values.to_numpy(float)[:, None])
            names.append(col)
        else:  # a factor: treatment contrasts against its first level in sorted order, as R's
            levels = sorted(values.astype(str).unique())
            for level in levels[1:]:
                parts.append((values.astype(str) == level).to_numpy(float)[:, None])
                names.append(f"{col}[{level}]")
    X = np.hstack(parts)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ValueError(f"{name}: the moderators are collinear (some are constant or repeat another)")
    return X, names


def meta_regression(data: pd.DataFrame, estimate: str = "estimate", se: str | None = None,
                    variance: str | None = None, moderators: Sequence[str] = (), study: str | None = None,
                    method: str = "REML", test: str = "z", confidence: float = 0.95) -> MetaRegressionResult:
    """Mixed-effects meta-regression of study effects on study-level moderators.

    Parameters
    ----------
    data, estimate, se, variance, study, method, test, confidence
        As :func:`meta_analysis`.
    moderators : sequence of str
        Columns of study-level moderators (the training dose: minutes per
        session x sessions per week x weeks). Numeric columns enter as
        they are; text columns as treatment contrasts against their first
        level in sorted order (as R's factors).

    Returns
    -------
    MetaRegressionResult

    Notes
    -----
    The model y_i = x_i'b + u_i + e_i, u_i ~ N(0, tau2), e_i ~ N(0, v_i);
    b by weighted least squares at the estimated residual tau2 (REML, DL,
    PM as in :func:`meta_analysis`, with k - p in place of k - 1). With
    ``test="hksj"`` the covariance of b is scaled by sum(w e^2)/(k - p)
    (metafor's ``test="knha"``). Tested against metafor 3.8's
    ``rma(yi, vi, mods = ~ ablat + year, data = dat.bcg)``.

    Examples
    --------
    BCG vaccine trials, log risk ratio on absolute latitude (metafor's
    ``dat.bcg``, six trials):

    >>> from backwalk_study.stats.effect_sizes import log_risk_ratio
    >>> bcg = pd.DataFrame({"tpos": [4, 6, 3, 62, 33, 180], "tneg": [119, 300, 228, 13536, 5036, 1361],
    ...                     "cpos": [11, 29, 11, 248, 47, 372], "cneg": [128, 274, 209, 12619, 5761, 1079],
    ...                     "ablat": [44, 55, 42, 52, 13, 44]})
    >>> rr = log_risk_ratio(bcg.tpos, bcg.tpos + bcg.tneg, bcg.cpos, bcg.cpos + bcg.cneg)
    >>> reg = meta_regression(pd.concat([bcg, rr], axis=1), se="se", moderators=["ablat"])
    >>> reg.coefficients[["term", "estimate"]].round(4)
            term  estimate
    0  intercept    0.2533
    1      ablat   -0.0294
    """
    name = "meta_regression"
    _check_options(name, method, test, confidence)
    y, v, _ = _prepare(name, data, estimate, se, variance, study)
    X, names = _design(name, data, list(moderators))
    k, p = X.shape
    if k <= p:
        raise ValueError(f"{name}: {k} studies cannot estimate {p} coefficients")
    fit = _fit(y, v, X, method, test, confidence)
    coefficients = _coef_table(fit, names)
    m = p - 1
    if m > 0:
        b, vb = fit.beta[1:], fit.vcov[1:, 1:]
        qm = float(b @ np.linalg.solve(vb, b))
        if test == "hksj":
            qm /= m
            qm_p = float(stats.f.sf(qm, m, k - p))
        else:
            qm_p = float(stats.chi2.sf(qm, m))
    else:
        qm, qm_p = np.nan, np.nan
    null = _fit(y, v, np.ones((k, 1)), method, test, confidence)
    r2 = max(0.0, 100 * (null.tau2 - fit.tau2) / null.tau2) if null.tau2 > 0 else np.nan
    i2, h2 = _i2(fit.tau2, fit.vt)
    table = pd.DataFrame({
        "tau2": [fit.tau2], "tau": [np.sqrt(fit.tau2)], "i2": [i2], "h2": [h2], "r2": [r2],
        "qm": [qm], "qm_dof": [m], "qm_dof2": [k - p if test == "hksj" else np.nan], "qm_p_val": [qm_p],
        "qe": [fit.qe], "qe_dof": [k - p], "qe_p_val": [stats.chi2.sf(fit.qe, k - p)], "k": [k]})
    return MetaRegressionResult(coefficients, table, method, test, confidence)


def correlation_sensitivity(data: pd.DataFrame, r: Sequence[float] = (0.2, 0.5, 0.8), measure: str = "MD",
                            study: str | None = "study", method: str = "REML", test: str = "z",
                            confidence: float = 0.95) -> pd.DataFrame:
    """Pooled change-from-baseline effect for several assumed pre-post correlations.

    Trials seldom print the correlation r between baseline and follow-up
    that the SD of change needs (:func:`~backwalk_study.stats.effect_sizes.change_score_sd`).
    This refits the meta-analysis for each assumed ``r`` so that a reader
    sees how much the conclusion depends on it.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per study with ``pre_mean_1, pre_sd_1, post_mean_1,
        post_sd_1, n_1`` (experimental arm) and the same with ``_2``
        (comparator).
    r : sequence of float
        Correlations to assume (each in [-1, 1]).
    measure : {"MD", "SMD"}
        Mean difference of the changes, or Hedges' g of the changes.

    Returns
    -------
    pandas.DataFrame
        One row per ``r``: ``r`` and the columns of
        :meth:`MetaAnalysisResult.summary_row`.

    Examples
    --------
    SYNTHETIC pre/post summaries of three two-arm trials:

    >>> trials = pd.DataFrame({"study": ["A", "B", "C"],
    ...     "pre_mean_1": [40., 35., 42.], "pre_sd_1": [8., 7., 9.], "post_mean_1": [46., 41., 45.],
    ...     "post_sd_1": [9., 8., 9.], "n_1": [20, 30, 25],
    ...     "pre_mean_2": [41., 36., 41.], "pre_sd_2": [8., 6., 9.], "post_mean_2": [43., 37., 43.],
    ...     "post_sd_2": [8., 7., 10.], "n_2": [20, 28, 25]})
    >>> correlation_sensitivity(trials, r=[0.3, 0.7])[["r", "estimate", "se"]].round(3)
         r  estimate     se
    0  0.3     3.754  1.547
    1  0.7     3.634  1.188
    """
    from .effect_sizes import change_from_pre_post, mean_difference, standardized_mean_difference

    if measure not in ("MD", "SMD"):
        raise ValueError(f"correlation_sensitivity: measure must be 'MD' or 'SMD', not {measure!r}")
    compute = mean_difference if measure == "MD" else standardized_mean_difference
    rows = []
    for value in r:
        arms = [change_from_pre_post(data[f"pre_mean_{g}"], data[f"pre_sd_{g}"], data[f"post_mean_{g}"],
                                     data[f"post_sd_{g}"], value) for g in (1, 2)]
        effects = compute(arms[0]["mean_change"], arms[0]["sd_change"], data["n_1"],
                          arms[1]["mean_change"], arms[1]["sd_change"], data["n_2"])
        table = effects.assign(**({"study": data[study].to_numpy()} if study else {}))
        rec = meta_analysis(table, se="se", study="study" if study else None, method=method, test=test,
                            confidence=confidence).summary_row()
        rec.insert(0, "r", value)
        rows.append(rec)
    return pd.concat(rows, ignore_index=True)
