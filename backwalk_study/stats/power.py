"""Power of a two-or-more-arm trial by simulation, fast, and its closed forms.

A simulated trial follows the growth-curve model the analysis will fit:
participant ``i`` of arm ``a`` has

    y_ik = mu + b0_i + (slope_control + delta_a * adherence_i + b1_i) * week_k + e_ik

with ``(b0_i, b1_i) ~ N(0, D)`` (SDs ``intercept_sd``, ``slope_sd``,
correlation ``intercept_slope_corr``), ``e_ik ~ N(0, residual_sd^2)``,
``adherence_i`` 1 or a Beta draw, and monotone dropout: each visit after
baseline is missed (and every later one) with probability
``dropout_per_visit``.

Three analyses are run on every simulated trial:

* ``mixed_slope``: the arm x week coefficient of the mixed model with a
  random intercept and slope per participant (REML), t-test with
  Satterthwaite degrees of freedom as lmerTest makes it;
* ``ancova``: outcome at the last visit on arm and baseline, completers;
* ``responders``: the difference in the proportion reaching the responder
  threshold (change from baseline to the last visit), Pearson's
  chi-square (pooled two-proportion z) test, completers.

Why it is fast
--------------
The REML deviance depends on the data only through per-participant
sufficient statistics ``Z_i'y_i`` and ``y_i'y_i`` (see
:mod:`backwalk_study.stats._lmm`). Every column of the fixed-effects design of
this model is a column of ``Z_i`` times an arm indicator, so ``X_i = Z_i
W_a``, and participants of the same arm who attended the same visits share
``Z_i'Z_i`` and ``W_a``. The whole trial therefore reduces exactly to, per
(arm, visits attended) group, the count, the sum of ``Z_i'y_i`` and the sum
of its outer products, plus ``y'y``: a few dozen numbers however many
participants. One evaluation of the deviance is O(groups), and is done for
hundreds of simulated trials at once with array algebra; the optimiser
(Newton with finite-difference derivatives, unbounded, the signs then
normalised to lme4's non-negative Cholesky diagonal) runs on the whole
batch. Simulated trials come in
chunks of :data:`CHUNK` with independent seeds from
``numpy.random.SeedSequence(seed).spawn``: a seed gives the same result on
any machine and with any number of worker processes, memory stays flat in
the number of simulations (only counts are kept), and chunks can run on
both cores.

References
----------
Bates D, Maechler M, Bolker B, Walker S (2015). Fitting linear mixed-effects
models using lme4. *J Stat Softw* 67(1).
Kuznetsova A, Brockhoff PB, Christensen RHB (2017). lmerTest package: tests
in linear mixed effects models. *J Stat Softw* 82(13).
Borm GF, Fransen J, Lemmens WAJG (2007). A simple sample size formula for
analysis of covariance in randomized clinical trials. *J Clin Epidemiol*
60(12):1234-1238.
Hedeker D, Gibbons RD, Waternaux C (1999). Sample size estimation for
longitudinal designs with attrition. *J Educ Behav Stat* 24(1):70-93.
Clopper CJ, Pearson ES (1934). The use of confidence or fiducial limits
illustrated in the case of the binomial. *Biometrika* 26:404-413.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
import multiprocessing

import numpy as np
import pandas as pd
from scipy import optimize, stats

__all__ = [
    "TrialModel",
    "PowerResult",
    "simulate_power",
    "fit_slope_batch",
    "slope_tests",
    "power_ci",
    "ancova_power_analytic",
    "slope_power_analytic",
    "responder_power_analytic",
    "TESTS",
    "CHUNK",
]

#: The analyses whose power is simulated, in report order.
TESTS = ("mixed_slope", "ancova", "responders")

#: Simulated trials per chunk: the unit of seeding and of parallel work.
CHUNK = 250

_SINGULAR_TOL = 1e-4  # lme4's isSingular() tolerance on the Cholesky diagonal
_LMERTEST_TOL = np.sqrt(np.finfo(float).eps)  # lmerTest's eigenvalue cut-off for the Hessian


@dataclass(frozen=True)
class TrialModel:
    """The numbers that define a simulated trial (units of the outcome; weeks).

    Parameters
    ----------
    arms : tuple of str
        Arm names; the first is the reference (control).
    n_per_arm : tuple of int
        Participants randomised to each arm.
    visit_weeks : tuple of float
        Weeks of the visits, the first being baseline.
    intercept_sd, slope_sd, residual_sd : float
        Between-person SD at baseline (of the random intercept), SD of
        personal slopes (per week), within-person residual SD.
    slope_differences : tuple of float
        Per arm, the difference in mean slope (per week) from the
        reference at full adherence; 0 for the reference.
    intercept_slope_corr : float
        Correlation of the random intercept and slope.
    control_slope : float
        Mean slope of the reference arm per week (does not affect power).
    dropout_per_visit : float
        Probability of being lost before each visit after baseline.
    adherence_mean, adherence_sd : float, optional
        Beta-distributed adherence (share of the planned dose) in the
        non-reference arms; each participant's slope difference is
        ``slope_difference * adherence``. None: everyone adheres fully.
    responder_threshold : float, optional
        Change from baseline to the last visit that makes a responder,
        in the better direction. None: the responder test is skipped.
    better : {"higher", "lower"}
        Direction of improvement (for responders).
    compare : int
        Index of the arm tested against the reference.
    alpha : float
        Two-sided significance level.
    """

    arms: tuple
    n_per_arm: tuple
    visit_weeks: tuple
    intercept_sd: float
    slope_sd: float
    residual_sd: float
    slope_differences: tuple
    intercept_slope_corr: float = 0.0
    control_slope: float = 0.0
    dropout_per_visit: float = 0.0
    adherence_mean: float | None = None
    adherence_sd: float | None = None
    responder_threshold: float | None = None
    better: str = "higher"
    compare: int = 1
    alpha: float = 0.05

    def __post_init__(self):
        _check_model(self)

    @property
    def n_arms(self) -> int:
        return len(self.arms)

    @property
    def follow_up(self) -> float:
        return float(self.visit_weeks[-1] - self.visit_weeks[0])

    def with_n(self, n_per_arm) -> "TrialModel":
        """The same trial with other arm sizes (an int: the same in every arm)."""
        if np.isscalar(n_per_arm):
            n_per_arm = (int(n_per_arm),) * self.n_arms
        return TrialModel(**{**asdict(self), "n_per_arm": tuple(int(n) for n in n_per_arm)})

    def with_visits(self, visit_weeks) -> "TrialModel":
        return TrialModel(**{**asdict(self), "visit_weeks": tuple(float(w) for w in visit_weeks)})


def _check_model(m: TrialModel) -> None:
    where = "TrialModel"
    if len(m.arms) < 2:
        raise ValueError(f"{where}: a trial needs at least two arms, got {list(m.arms)}")
    if len(m.n_per_arm) != len(m.arms) or len(m.slope_differences) != len(m.arms):
        raise ValueError(f"{where}: n_per_arm and slope_differences need one value per arm")
    if any(int(n) < 2 for n in m.n_per_arm):
        raise ValueError(f"{where}: every arm needs at least 2 participants, got {list(m.n_per_arm)}")
    weeks = np.asarray(m.visit_weeks, dtype=float)
    if len(weeks) < 2 or np.any(np.diff(weeks) <= 0):
        raise ValueError(f"{where}: visit_weeks must be at least two increasing weeks, got {list(weeks)}")
    for name in ("intercept_sd", "slope_sd", "residual_sd"):
        value = getattr(m, name)
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{where}: {name} must be a non-negative number, got {value}")
    if m.residual_sd <= 0:
        raise ValueError(f"{where}: residual_sd must be positive")
    if not -1 < m.intercept_slope_corr < 1:
        raise ValueError(f"{where}: intercept_slope_corr must be in (-1, 1)")
    if not 0 <= m.dropout_per_visit < 1:
        raise ValueError(f"{where}: dropout_per_visit must be in [0, 1)")
    if not 0 < m.alpha < 1:
        raise ValueError(f"{where}: alpha must be in (0, 1)")
    if not 1 <= m.compare < len(m.arms):
        raise ValueError(f"{where}: compare must index a non-reference arm")
    if m.better not in ("higher", "lower"):
        raise ValueError(f"{where}: better must be 'higher' or 'lower'")
    if m.adherence_mean is not None:
        sd = m.adherence_sd or 0.0
        if not 0 < m.adherence_mean <= 1 or sd < 0 or (sd > 0 and sd**2 >= m.adherence_mean * (1 - m.adherence_mean)):
            raise ValueError(f"{where}: adherence needs 0 < mean <= 1 and sd^2 < mean (1 - mean)")


# --------------------------------------------------------------------------
# simulation of one chunk of trials, reduced to sufficient statistics
# --------------------------------------------------------------------------
class _Layout:
    """What the simulated trials of one model share: arms, groups, W_a, A_g."""

    def __init__(self, m: TrialModel):
        self.weeks = np.asarray(m.visit_weeks, dtype=float)
        self.K = len(self.weeks)
        self.arm = np.repeat(np.arange(m.n_arms), m.n_per_arm)
        self.N = len(self.arm)
        A_arms = m.n_arms
        self.p = 2 * A_arms
        # W_a: X_i = Z_i W_a; columns Intercept, arm dummies, week, week:arm dummies (patsy order)
        W = np.zeros((A_arms, 2, self.p))
        for a in range(A_arms):
            W[a, 0, 0] = 1.0
            W[a, 1, A_arms] = 1.0
            if a > 0:
                W[a, 0, a] = 1.0
                W[a, 1, A_arms + a] = 1.0
        # groups: (arm, visits attended) -> g = arm * K + (n_obs - 1)
        self.G = A_arms * self.K
        self.W = np.repeat(W, self.K, axis=0)  # (G, 2, p)
        A = np.zeros((self.K, 2, 2))
        for k in range(self.K):
            t = self.weeks[: k + 1]
            A[k] = [[k + 1, t.sum()], [t.sum(), (t * t).sum()]]
        self.A = np.tile(A, (A_arms, 1, 1))  # (G, 2, 2)
        self.group_nobs = np.tile(np.arange(1, self.K + 1), A_arms)
        # W_a selects columns: Z's intercept feeds X columns cols[a][0], its week cols[a][1]
        self.n_arms = A_arms
        self.cols = [([0] + ([a] if a else []), [A_arms] + ([A_arms + a] if a else [])) for a in range(A_arms)]
        self.contrast = np.zeros(self.p)
        self.contrast[A_arms + m.compare] = 1.0


def _simulate_chunk(m: TrialModel, lay: _Layout, n_sims: int, rng: np.random.Generator):
    """Simulate n_sims trials: the full outcome array and visits attended."""
    N, K = lay.N, lay.K
    sd0, sd1, r = m.intercept_sd, m.slope_sd, m.intercept_slope_corr
    z = rng.standard_normal((n_sims, N, 2))
    b0 = sd0 * z[..., 0]
    b1 = sd1 * (r * z[..., 0] + np.sqrt(1 - r * r) * z[..., 1])
    delta = np.asarray(m.slope_differences, dtype=float)[lay.arm]
    if m.adherence_mean is not None and (m.adherence_sd or 0) > 0:
        mu, sd = m.adherence_mean, m.adherence_sd
        k = mu * (1 - mu) / sd**2 - 1  # Beta(mu k, (1 - mu) k) has mean mu and SD sd
        adherence = rng.beta(mu * k, (1 - mu) * k, size=(n_sims, N))
    elif m.adherence_mean is not None:
        adherence = np.full((n_sims, N), m.adherence_mean)
    else:
        adherence = np.ones((n_sims, N))
    adherence = np.where(lay.arm == 0, 1.0, adherence)
    slope = m.control_slope + delta * adherence + b1
    y = b0[..., None] + slope[..., None] * lay.weeks + m.residual_sd * rng.standard_normal((n_sims, N, K))
    if m.dropout_per_visit > 0:
        stays = rng.random((n_sims, N, K - 1)) >= m.dropout_per_visit
        n_obs = 1 + np.cumprod(stays, axis=2).sum(axis=2)
    else:
        n_obs = np.full((n_sims, N), K)
    return y, n_obs


def _reduce(y, n_obs, lay: _Layout):
    """Per-trial group sufficient statistics of the mixed model."""
    B = y.shape[0]
    observed = np.arange(lay.K) < n_obs[..., None]
    yo = np.where(observed, y, 0.0)
    c0 = yo.sum(axis=2)
    c1 = yo @ lay.weeks
    yy = np.einsum("bnk,bnk->b", yo, yo)
    g = lay.arm * lay.K + (n_obs - 1)  # (B, N)
    flat = (np.arange(B)[:, None] * lay.G + g).ravel()
    size = B * lay.G

    def gsum(v):
        return np.bincount(flat, weights=v.ravel(), minlength=size).reshape(B, lay.G)

    counts = np.bincount(flat, minlength=size).reshape(B, lay.G).astype(float)
    sc = np.stack([gsum(c0), gsum(c1)], axis=2)  # (B, G, 2)
    scc = np.stack([gsum(c0 * c0), gsum(c0 * c1), gsum(c1 * c1)], axis=2)  # (B, G, 3)
    n_total = (counts * lay.group_nobs).sum(axis=1)
    return {"counts": counts, "sc": sc, "scc": scc, "yy": yy, "n": n_total}


# --------------------------------------------------------------------------
# batched REML on the group statistics
# --------------------------------------------------------------------------
def _core(theta, red, lay: _Layout):
    """ldM, ldF (log|X'V^-1X|), S_Xy, F = X'V^-1X and r2 for a batch of theta (B, 3)."""
    l0, l1, l2 = theta[:, 0, None], theta[:, 1, None], theta[:, 2, None]
    a00, a01, a11 = lay.A[:, 0, 0], lay.A[:, 0, 1], lay.A[:, 1, 1]
    u = a00 * l0 + a01 * l1
    v = a01 * l0 + a11 * l1
    M00 = l0 * u + l1 * v + 1.0
    M01 = l2 * v
    M11 = l2 * l2 * a11 + 1.0
    det = M00 * M11 - M01 * M01
    i00, i01, i11 = M11 / det, -M01 / det, M00 / det
    K00, K01 = i00 * l0, i00 * l1 + i01 * l2
    K11 = i01 * l1 + i11 * l2
    P00, P01, P11 = l0 * K00, l0 * K01, l1 * K01 + l2 * K11
    # R = I - A P and Q = A - A P A = R A (symmetric)
    R00 = 1.0 - (a00 * P00 + a01 * P01)
    R01 = -(a00 * P01 + a01 * P11)
    R10 = -(a01 * P00 + a11 * P01)
    R11 = 1.0 - (a01 * P01 + a11 * P11)
    Q00 = R00 * a00 + R01 * a01
    Q01 = R00 * a01 + R01 * a11
    Q11 = R10 * a01 + R11 * a11
    n = red["counts"]
    B, A, K = n.shape[0], lay.n_arms, lay.K
    # sum_g W_g' Q_g W_g and sum_g W_g' (R s)_g: sum each arm's groups, then place the 2 x 2 sums
    # on the arm's columns (W is a selector; BLAS products this thin cost more in threads than sums)
    q00 = (n * Q00).reshape(B, A, K).sum(axis=2)
    q01 = (n * Q01).reshape(B, A, K).sum(axis=2)
    q11 = (n * Q11).reshape(B, A, K).sum(axis=2)
    sc = red["sc"]
    r0 = (R00 * sc[..., 0] + R01 * sc[..., 1]).reshape(B, A, K).sum(axis=2)
    r1 = (R10 * sc[..., 0] + R11 * sc[..., 1]).reshape(B, A, K).sum(axis=2)
    F = np.zeros((B, lay.p, lay.p))
    Sxy = np.zeros((B, lay.p))
    for a, (c0, c1) in enumerate(lay.cols):
        for i in c0:
            Sxy[:, i] += r0[:, a]
            for j in c0:
                F[:, i, j] += q00[:, a]
            for j in c1:
                F[:, i, j] += q01[:, a]
                F[:, j, i] += q01[:, a]
        for i in c1:
            Sxy[:, i] += r1[:, a]
            for j in c1:
                F[:, i, j] += q11[:, a]
    scc = red["scc"]
    Syy = red["yy"] - np.sum(P00 * scc[..., 0] + 2 * P01 * scc[..., 1] + P11 * scc[..., 2], axis=1)
    ldM = np.sum(n * np.log(det), axis=1)
    L = np.linalg.cholesky(F)
    ldF = 2.0 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
    beta = np.linalg.solve(F, Sxy[..., None])[..., 0]
    r2 = np.maximum(Syy - np.einsum("bi,bi->b", Sxy, beta), 1e-300)
    return ldM, ldF, F, beta, r2


def _reml_deviance(theta, red, lay):
    ldM, ldF, _, _, r2 = _core(theta, red, lay)
    n_eff = red["n"] - lay.p
    return ldM + ldF + n_eff * (1.0 + np.log(2 * np.pi * r2 / n_eff))


def _take(red, idx):
    return {k: v[idx] for k, v in red.items()}


def _fd_derivatives(fun, x, h, central=True):
    """Function value, central gradient and Hessian by finite differences, batched.

    ``fun`` maps (B, k) to (B,) or a tuple of such arrays; returns lists per
    output. The mixed second derivatives are central (4 points per pair) or,
    with ``central=False``, forward (1 point per pair: enough for Newton
    steps, at half the evaluations).
    """
    B, k = x.shape
    points = [x]
    for j in range(k):
        for s in (1, -1):
            e = np.zeros_like(x)
            e[:, j] = s * h[:, j]
            points.append(x + e)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    signs = ((1, 1), (1, -1), (-1, 1), (-1, -1)) if central else ((1, 1),)
    for i, j in pairs:
        for si, sj in signs:
            e = np.zeros_like(x)
            e[:, i] = si * h[:, i]
            e[:, j] = sj * h[:, j]
            points.append(x + e)
    stacked = np.concatenate(points, axis=0)
    values = fun(stacked)
    single = not isinstance(values, tuple)
    values = (values,) if single else values
    out = []
    for val in values:
        val = val.reshape(len(points), B)
        f0 = val[0]
        g = np.empty((B, k))
        H = np.empty((B, k, k))
        for j in range(k):
            fp, fm = val[1 + 2 * j], val[2 + 2 * j]
            g[:, j] = (fp - fm) / (2 * h[:, j])
            H[:, j, j] = (fp - 2 * f0 + fm) / h[:, j] ** 2
        base = 1 + 2 * k
        for n_pair, (i, j) in enumerate(pairs):
            if central:
                fpp, fpm, fmp, fmm = val[base + 4 * n_pair: base + 4 * n_pair + 4]
                H[:, i, j] = H[:, j, i] = (fpp - fpm - fmp + fmm) / (4 * h[:, i] * h[:, j])
            else:
                fpp, fi, fj = val[base + n_pair], val[1 + 2 * i], val[1 + 2 * j]
                H[:, i, j] = H[:, j, i] = (fpp - fi - fj + f0) / (h[:, i] * h[:, j])
        out.append((f0, g, H))
    return out[0] if single else out


def _stack_red(red, reps):
    return {k: np.concatenate([v] * reps, axis=0) for k, v in red.items()}


def _fit_batch(red, lay, theta0, tol=1e-9, maxiter=60):
    """Newton's method on the REML deviance for every trial of the batch at once.

    The Hessian's eigenvalues are taken in absolute value (a descent step
    where the curvature is negative) and the step is halved until the
    deviance decreases (Armijo); a trial stops when its Newton decrement
    falls below ``tol``.
    """
    x = theta0.copy()
    B = x.shape[0]
    # Unbounded: the deviance depends on Lambda Lambda' only, which is the
    # same at (-l0, -l1, l2) and (l0, l1, -l2), so the unbounded optimum is
    # the bounded one after a change of signs (see _normalise), and the
    # optimiser cannot stall on a boundary where the gradient vanishes.
    converged = np.zeros(B, dtype=bool)
    f_now = np.full(B, np.nan)
    iterations = np.zeros(B, dtype=int)
    active = np.arange(B)
    n_points = 1 + 2 * 3 + 3
    for _ in range(maxiter):
        if len(active) == 0:
            break
        xa = x[active]
        ra = _take(red, active)
        h = 1e-4 * np.maximum(0.1, np.abs(xa))
        rr = _stack_red(ra, n_points)
        f0, g, H = _fd_derivatives(lambda t: _reml_deviance(t, rr, lay), xa, h, central=False)
        f_now[active] = f0
        evals, evecs = np.linalg.eigh(H)
        floor = 1e-8 * np.maximum(1.0, np.max(np.abs(evals), axis=1, keepdims=True))
        evals = np.maximum(np.abs(evals), floor)
        step = -np.einsum("bij,bj->bi", evecs / evals[:, None, :], np.einsum("bji,bj->bi", evecs, g))
        decrement = -np.einsum("bi,bi->b", g, step)
        done = decrement < tol
        converged[active[done]] = True
        iterations[active] += 1
        keep = ~done
        active, xa, step, f0, g = active[keep], xa[keep], step[keep], f0[keep], g[keep]
        if len(active) == 0:
            break
        ra = _take(red, active)
        alpha = np.ones(len(active))
        accepted = np.zeros(len(active), dtype=bool)
        x_new = xa.copy()
        for _ in range(30):
            trial = xa + alpha[:, None] * step
            ok_idx = np.flatnonzero(~accepted)
            f_try = _reml_deviance(trial[ok_idx], _take(ra, ok_idx), lay)
            armijo = f_try <= f0[ok_idx] + 1e-4 * np.einsum("bi,bi->b", g[ok_idx], trial[ok_idx] - xa[ok_idx])
            good = ok_idx[armijo | (f_try < f0[ok_idx] - 1e-12 * np.abs(f0[ok_idx]))]
            x_new[good] = trial[good]
            accepted[good] = True
            if accepted.all():
                break
            alpha = np.where(accepted, alpha, alpha / 2)
        # no decrease possible in floating point: at the optimum if the decrement is tiny
        stuck = ~accepted
        tiny = decrement[keep][stuck] < 1e-6
        converged[active[stuck][tiny]] = True
        x[active] = x_new
        active = active[accepted]
    return x, converged, iterations


def _normalise(theta):
    """Signs as lme4 reports theta: non-negative diagonal of Lambda."""
    theta = theta.copy()
    flip0 = theta[:, 0] < 0
    theta[flip0, 0] *= -1
    theta[flip0, 1] *= -1
    theta[:, 2] = np.abs(theta[:, 2])
    return theta


def _fit_one_scipy(red1, lay, theta0):
    """Fallback for a trial the batch Newton did not settle: L-BFGS-B from two starts."""
    best = None
    for start in (theta0, np.array([1.0, 0.0, 1.0])):
        res = optimize.minimize(lambda t: float(_reml_deviance(t[None], red1, lay)[0]), start,
                                method="L-BFGS-B", bounds=[(0, None), (None, None), (0, None)])
        if best is None or res.fun < best.fun:
            best = res
    return best.x, bool(best.success)


def fit_slope_batch(red, lay, theta0, alternative="two-sided", ddf="satterthwaite"):
    """REML fits and t-tests of the arm x week contrast for a batch.

    ``ddf``: "satterthwaite" (lmerTest's default) or "kenward-roger"
    (pbkrtest's adjusted covariance and dof, lmerTest's ``ddf =
    "Kenward-Roger"``).

    Returns a dict of arrays: estimate, se, dof, t, p_val, sigma, theta,
    singular, failed.
    """
    B = red["yy"].shape[0]
    theta, converged, _ = _fit_batch(red, lay, np.tile(theta0, (B, 1)))
    # restart from the interior those that ended on the boundary (a stationary
    # point whatever the data), keeping the better optimum, as the engine does
    edge = np.flatnonzero((theta[:, 0] < _SINGULAR_TOL) | (theta[:, 2] < _SINGULAR_TOL))
    if len(edge):
        re = _take(red, edge)
        start = theta[edge].copy()
        start[:, 0] = np.maximum(start[:, 0], 0.25)
        start[:, 2] = np.maximum(start[:, 2], 0.25)
        t2, c2, _ = _fit_batch(re, lay, start)
        better = _reml_deviance(t2, re, lay) < _reml_deviance(theta[edge], re, lay) - 1e-9
        theta[edge[better]] = t2[better]
        converged[edge[better]] = c2[better]
    failed = ~converged
    theta = _normalise(theta)
    for i in np.flatnonzero(failed):
        t1, ok = _fit_one_scipy(_take(red, [i]), lay, theta0)
        theta[i], failed[i] = t1, not ok
    if ddf == "satterthwaite":
        out = _satterthwaite_batch(theta, red, lay, alternative)
    elif ddf == "kenward-roger":
        r2 = _core(theta, red, lay)[4]
        out = _kenward_roger_batch(theta, np.sqrt(r2 / (red["n"] - lay.p)), red, lay, alternative)
    else:
        raise ValueError(f"ddf must be 'satterthwaite' or 'kenward-roger', got {ddf!r}")
    out["theta"] = theta
    out["singular"] = (theta[:, 0] < _SINGULAR_TOL) | (theta[:, 2] < _SINGULAR_TOL)
    out["failed"] = failed | ~np.isfinite(out["p_val"])
    return out


def slope_tests(data, dv, subject, time, between, trial=None, reference=None, alternative="two-sided",
                ddf="satterthwaite"):
    """The arm x time test of the growth-curve mixed model for many trials at once.

    Fits ``dv ~ between * time + (time | subject)`` by REML to every trial
    of ``data`` (one batch through the sufficient-statistics engine) and
    returns lmerTest's Satterthwaite t-test of each non-reference arm's
    ``time`` interaction. Every participant must have been seen at the first
    k visits of the common schedule (monotone dropout), which is what the
    batch algebra needs.

    Parameters
    ----------
    data : DataFrame
    dv, subject, time, between : str
        Columns: outcome, participant, time (weeks), arm.
    trial : str, optional
        Column naming the simulated trial; None: one trial.
    reference : optional
        Reference level of ``between`` (default: the first in sorted order).
    ddf : {"satterthwaite", "kenward-roger"}
        Degrees of freedom (and, for Kenward-Roger, the adjusted SE).

    Returns
    -------
    DataFrame
        One row per trial: trial, term, estimate, se, dof, t, p_val, reml
        (the REML criterion, as lme4's ``REMLcrit``), singular.

    Examples
    --------
    REAL data: lme4's sleepstudy, its 18 subjects split by order into two
    groups (an arbitrary grouping, not a treatment); lmerTest gives
    estimate 6.1576, se 2.7902, df 16.0.

    >>> import pandas as pd
    >>> from pathlib import Path
    >>> d = pd.read_csv(Path(__file__).parents[2] / "tests/reference/dose_sleepstudy.csv")
    >>> d["group"] = (d["Subject"].rank(method="dense") > 9).map({False: "a", True: "b"})
    >>> out = slope_tests(d, dv="Reaction", subject="Subject", time="Days", between="group")
    >>> out[["term", "estimate", "se", "dof"]].round(4).to_dict("records")
    [{'term': 'Days:group[T.b]', 'estimate': 6.1576, 'se': 2.7902, 'dof': 16.0}]
    """
    frame = data.copy()
    if trial is None:
        trial = "_trial"
        frame[trial] = 0
    levels = sorted(pd.unique(frame[between]).tolist())
    if reference is not None:
        if reference not in levels:
            raise ValueError(f"slope_tests: reference {reference!r} is not a level of {between!r}")
        levels = [reference] + [lv for lv in levels if lv != reference]
    weeks = np.sort(pd.unique(frame[time]).astype(float))
    K = len(weeks)
    trials = list(pd.unique(frame[trial]))
    frame = frame.sort_values([trial, subject, time])
    pos = np.searchsorted(weeks, frame[time].to_numpy(float))
    keys = list(zip(frame[trial], frame[subject]))
    people = pd.Index(pd.unique(pd.Series(keys, dtype=object)))
    person = people.get_indexer(pd.Series(keys, dtype=object))
    first = np.r_[True, person[1:] != person[:-1]]
    rank = np.arange(len(person)) - np.maximum.accumulate(np.where(first, np.arange(len(person)), 0))
    if np.any(pos != rank):
        raise ValueError("slope_tests: every participant must have the first k visits of the schedule "
                         f"{weeks.tolist()} (monotone dropout)")
    arm_of = pd.Series(frame[between].to_numpy()).groupby(person).first()
    trial_of = pd.Series(frame[trial].to_numpy()).groupby(person).first()
    # per trial, lay participants out as (trial, person) with padding
    t_index = pd.Index(trials)
    t_code = t_index.get_indexer(trial_of.to_numpy())
    counts = np.bincount(t_code, minlength=len(trials))
    N = counts.max()
    slot = np.zeros(len(people), dtype=int)
    for code in range(len(trials)):
        idx = np.flatnonzero(t_code == code)
        slot[idx] = np.arange(len(idx))
    B = len(trials)
    y = np.zeros((B, N, K))
    y[t_code[person], slot[person], pos] = frame[dv].to_numpy(float)
    n_obs = np.zeros((B, N), dtype=int)
    np.add.at(n_obs, (t_code[person], slot[person]), 1)
    arm_codes = np.full((B, N), -1)
    arm_codes[t_code, slot] = pd.Index(levels).get_indexer(arm_of.to_numpy())
    model = TrialModel(arms=tuple(map(str, levels)), n_per_arm=(2,) * len(levels), visit_weeks=tuple(weeks),
                       intercept_sd=1.0, slope_sd=1.0, residual_sd=1.0,
                       slope_differences=(0.0,) * len(levels))
    lay = _Layout(model)
    out_rows = []
    for cmp in range(1, len(levels)):
        lay.contrast = np.zeros(lay.p)
        lay.contrast[len(levels) + cmp] = 1.0
        red = _reduce_padded(y, n_obs, arm_codes, lay)
        res = fit_slope_batch(red, lay, np.array([1.0, 0.0, 1.0]), alternative, ddf)
        reml = _reml_deviance(res["theta"], red, lay)
        for b in range(B):
            out_rows.append({"trial": trials[b], "term": f"{time}:{between}[T.{levels[cmp]}]",
                             "estimate": res["estimate"][b], "se": res["se"][b], "dof": res["dof"][b],
                             "t": res["t"][b], "p_val": res["p_val"][b], "reml": reml[b],
                             "singular": bool(res["singular"][b])})
    out = pd.DataFrame(out_rows)
    return out.drop(columns="trial") if trial == "_trial" else out


def _reduce_padded(y, n_obs, arm_codes, lay):
    """Like _reduce, for trials of different sizes: slots with arm -1 are empty."""
    B, N, K = y.shape
    present = arm_codes >= 0
    observed = (np.arange(K) < n_obs[..., None]) & present[..., None]
    yo = np.where(observed, y, 0.0)
    c0, c1 = yo.sum(axis=2), yo @ lay.weeks
    yy = np.einsum("bnk,bnk->b", yo, yo)
    g = np.where(present, arm_codes * lay.K + (np.maximum(n_obs, 1) - 1), lay.G)  # empty -> overflow bin
    flat = (np.arange(B)[:, None] * (lay.G + 1) + g).ravel()
    size = B * (lay.G + 1)

    def gsum(v):
        return np.bincount(flat, weights=v.ravel(), minlength=size).reshape(B, lay.G + 1)[:, : lay.G]

    counts = np.bincount(flat, minlength=size).reshape(B, lay.G + 1)[:, : lay.G].astype(float)
    sc = np.stack([gsum(c0), gsum(c1)], axis=2)
    scc = np.stack([gsum(c0 * c0), gsum(c0 * c1), gsum(c1 * c1)], axis=2)
    n_total = (counts * lay.group_nobs).sum(axis=1)
    return {"counts": counts, "sc": sc, "scc": scc, "yy": yy, "n": n_total}


def _satterthwaite_batch(theta, red, lay, alternative):
    """lmerTest's Satterthwaite t-test of the contrast, batched.

    Hessian of the REML deviance in (theta, sigma) with beta profiled out
    (lmerTest's ``devfun_vp``) and the gradient of var(L beta) in the same
    parameters; ``df = 2 var^2 / (grad' (2 H^+) grad)``.
    """
    B = theta.shape[0]
    ldM, ldF, F, beta, r2 = _core(theta, red, lay)
    n_eff = red["n"] - lay.p
    sigma2 = r2 / n_eff
    L = lay.contrast
    Finv_L = np.linalg.solve(F, np.broadcast_to(L, (B, lay.p))[..., None])[..., 0]
    v_rel = Finv_L @ L
    var = sigma2 * v_rel
    h = 1e-3 * np.maximum(np.abs(theta), 0.1)
    n_points = 1 + 2 * 3 + 4 * 3
    rr = _stack_red(red, n_points)

    def parts(t):
        a, b, Fs, _, r = _core(t, rr, lay)
        vr = np.linalg.solve(Fs, np.broadcast_to(L, (len(t), lay.p))[..., None])[..., 0] @ L
        return a + b, r, vr

    (_, _, H1), (_, g2, H2), (_, gv, _) = _fd_derivatives(parts, theta, h)
    s = np.sqrt(sigma2)
    k = theta.shape[1] + 1
    H = np.empty((B, k, k))
    H[:, :3, :3] = H1 + H2 / sigma2[:, None, None]
    H[:, :3, 3] = H[:, 3, :3] = -2.0 * g2 / s[:, None] ** 3
    H[:, 3, 3] = 6.0 * r2 / s**4 - 2.0 * n_eff / sigma2
    evals, evecs = np.linalg.eigh(H)
    pos = evals > _LMERTEST_TOL
    inv_vals = np.where(pos, 1.0 / np.where(pos, evals, 1.0), 0.0)
    A = 2.0 * np.einsum("bij,bj,bkj->bik", evecs, inv_vals, evecs)
    grad = np.empty((B, k))
    grad[:, :3] = sigma2[:, None] * gv
    grad[:, 3] = 2.0 * var / s
    denom = np.einsum("bi,bij,bj->b", grad, A, grad)
    with np.errstate(divide="ignore", invalid="ignore"):
        dof = 2.0 * var**2 / denom
    est = beta @ L
    se = np.sqrt(var)
    tval = est / se
    dof_eff = np.where(np.isfinite(dof) & (dof > 0), dof, np.inf)
    p = _p_from_t(tval, dof_eff, alternative)
    return {"estimate": est, "se": se, "dof": dof, "t": tval, "p_val": p, "sigma": s}


def _kenward_roger_batch(theta, sigma, red, lay, alternative):
    """Kenward-Roger t-test of the contrast, batched over trials.

    The algebra of :mod:`backwalk_study.stats._kenward_roger` (pbkrtest's
    ``vcovAdj`` and ``Lb_ddf``, as lmerTest calls them), with every sum over
    participants written as a sum over (arm, visits attended) groups weighted
    by their counts: participants of a group share ``Z'Z``, ``Z'X`` and
    ``X'X``. For one contrast row ``l`` the dof reduce to ``2 / a'Wa`` with
    ``a_r = l' Phi P_r Phi l / l' Phi l``.
    """
    B = theta.shape[0]
    c = red["counts"]  # (B, G)
    S = lay.A  # (G, 2, 2)
    SX = np.einsum("gij,gjp->gip", lay.A, lay.W)  # (G, 2, p)
    XX = np.einsum("gip,gij,gjq->gpq", lay.W, lay.A, lay.W)  # (G, p, p)
    lam = np.zeros((B, 2, 2))
    lam[:, 0, 0], lam[:, 1, 0], lam[:, 1, 1] = theta[:, 0], theta[:, 1], theta[:, 2]
    s2 = (sigma**2)[:, None, None, None]
    M = np.eye(2) + np.einsum("bji,gjk,bkl->bgil", lam, S, lam)
    P = np.einsum("bij,bgjk,blk->bgil", lam, np.linalg.inv(M), lam)
    P = (P + np.swapaxes(P, 2, 3)) / 2
    K2 = 2 * P - P @ S @ P
    K2 = (K2 + np.swapaxes(K2, 2, 3)) / 2
    K3 = P + K2 - K2 @ S @ P
    K3 = (K3 + np.swapaxes(K3, 2, 3)) / 2
    SXt = np.swapaxes(SX, 1, 2)
    A = (S - S @ P @ S) / s2
    Bm = (SX - S @ P @ SX) / s2
    C = (XX - SXt @ P @ SX) / s2
    A2 = (S - S @ K2 @ S) / s2**2
    F = (SX - S @ K2 @ SX) / s2**2
    D2 = (XX - SXt @ K2 @ SX) / s2**2
    D3 = (XX - SXt @ K3 @ SX) / s2**3
    trW2 = (lay.group_nobs - np.einsum("bgij,gji->bg", K2, S)) / sigma[:, None] ** 4
    E = []
    for r_, c_ in ((0, 0), (1, 0), (1, 1)):
        e = np.zeros((2, 2))
        e[r_, c_] = e[c_, r_] = 1.0
        E.append(e)
    k, p = 4, lay.p
    EB = [np.einsum("ij,bgjp->bgip", e, Bm) for e in E]
    EA = [np.einsum("ij,bgjk->bgik", e, A) for e in E]
    Phi = np.linalg.inv(np.einsum("bg,bgpq->bpq", c, C))
    Phi = (Phi + np.swapaxes(Phi, 1, 2)) / 2
    Pm = np.empty((B, k, p, p))
    for r in range(3):
        Pm[:, r] = -np.einsum("bg,bgip,bgiq->bpq", c, Bm, EB[r])
    Pm[:, 3] = -np.einsum("bg,bgpq->bpq", c, D2)
    Pm = (Pm + np.swapaxes(Pm, 2, 3)) / 2
    Q = np.empty((B, k, k, p, p))
    Ktr = np.empty((B, k, k))
    for r in range(k):
        for s_ in range(r, k):
            if s_ < 3:
                Q[:, r, s_] = np.einsum("bg,bgip,bgij,bgjq->bpq", c, EB[r], A, EB[s_])
                Ktr[:, r, s_] = np.einsum("bg,bgij,bgji->b", c, EA[r], EA[s_])
            elif r < 3:
                Q[:, r, s_] = np.einsum("bg,bgip,bgiq->bpq", c, EB[r], F)
                Ktr[:, r, s_] = np.einsum("bg,ij,bgji->b", c, E[r], A2)
            else:
                Q[:, r, s_] = np.einsum("bg,bgpq->bpq", c, D3)
                Ktr[:, r, s_] = np.einsum("bg,bg->b", c, trW2)
            Q[:, s_, r] = np.swapaxes(Q[:, r, s_], 1, 2)
            Ktr[:, s_, r] = Ktr[:, r, s_]
    PhiP = np.einsum("bpq,brqs->brps", Phi, Pm)  # Phi P_r
    PPhi = np.einsum("brpq,bqs->brps", Pm, Phi)  # P_r Phi
    info = (Ktr - 2 * np.einsum("bpq,brspq->brs", Phi, Q)
            + np.einsum("brpq,bspq->brs", PhiP, PPhi))
    evals, evecs = np.linalg.eigh(info)
    small = np.abs(evals) <= 1e-10  # pbkrtest's pseudo-inverse for a near-singular information
    inv_vals = np.where(small, 0.0, 1.0 / np.where(small, 1.0, evals))
    W = 2.0 * np.einsum("bij,bj,bkj->bik", evecs, inv_vals, evecs)
    L = lay.contrast
    PhiL = Phi @ L
    lphil = PhiL @ L
    a = np.einsum("bp,brpq,bq->br", PhiL, Pm, PhiL) / lphil[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        dof = 2.0 / np.einsum("br,brs,bs->b", a, W, a)
    # U = sum_rs W_rs (Q_rs - P_r Phi P_s); Phi_A = Phi + 2 Phi U Phi
    PrPhiPs = np.einsum("brpq,bsqt->brspt", Pm, PhiP)
    U = np.einsum("brs,brspq->bpq", W, Q - PrPhiPs)
    U = (U + np.swapaxes(U, 1, 2)) / 2
    var = lphil + 2 * np.einsum("bp,bpq,bq->b", PhiL, U, PhiL)
    beta = _core(theta, red, lay)[3]
    est = beta @ L
    se = np.sqrt(var)
    tval = est / se
    dof_eff = np.where(np.isfinite(dof) & (dof > 0), dof, np.inf)
    return {"estimate": est, "se": se, "dof": dof, "t": tval, "p_val": _p_from_t(tval, dof_eff, alternative),
            "sigma": sigma}


def _p_from_t(tval, dof, alternative):
    if alternative == "two-sided":
        return 2 * stats.t.sf(np.abs(tval), dof)
    if alternative == "greater":
        return stats.t.sf(tval, dof)
    if alternative == "less":
        return stats.t.cdf(tval, dof)
    raise ValueError(f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}")


def _theta_start(m: TrialModel):
    """Relative Cholesky factor of the generating covariance: the optimiser's start."""
    D = np.array([[m.intercept_sd**2, m.intercept_slope_corr * m.intercept_sd * m.slope_sd],
                  [m.intercept_slope_corr * m.intercept_sd * m.slope_sd, m.slope_sd**2]])
    D = D / m.residual_sd**2 + 1e-4 * np.eye(2)
    c = np.linalg.cholesky(D)
    return np.array([c[0, 0], c[1, 0], c[1, 1]])


# --------------------------------------------------------------------------
# the other two analyses, batched
# --------------------------------------------------------------------------
def _ancova_batch(y, n_obs, lay, m, alternative):
    """yF ~ arm + y0 among completers; t-test of the compared arm's coefficient."""
    B = y.shape[0]
    comp = (n_obs == lay.K).astype(float)
    y0, yF = y[..., 0], y[..., -1]
    cols = [np.ones_like(y0)] + [np.broadcast_to((lay.arm == a).astype(float), y0.shape)
                                 for a in range(1, m.n_arms)] + [y0]
    X = np.stack(cols, axis=2) * comp[..., None]
    XtX = np.einsum("bni,bnj->bij", X, X)
    Xty = np.einsum("bni,bn->bi", X, yF)
    n = comp.sum(axis=1)
    q = X.shape[2]
    arm_counts = np.stack([(comp * (lay.arm == a)).sum(axis=1) for a in range(m.n_arms)], axis=1)
    ok = (n - q >= 1) & (arm_counts.min(axis=1) >= 1)
    XtX = np.where(ok[:, None, None], XtX, np.eye(q))
    beta = np.linalg.solve(XtX, Xty[..., None])[..., 0]
    resid = (yF - np.einsum("bni,bi->bn", X, beta)) * comp
    dof = np.maximum(n - q, 1)
    s2 = np.einsum("bn,bn->b", resid, resid) / dof
    j = m.compare
    cov_jj = np.linalg.inv(XtX)[:, j, j]
    se = np.sqrt(s2 * cov_jj)
    tval = beta[:, j] / se
    p = np.where(ok, _p_from_t(tval, dof, alternative), np.nan)
    return {"estimate": beta[:, j], "se": se, "dof": dof.astype(float), "t": tval, "p_val": p,
            "failed": ~ok}


def _responder_batch(y, n_obs, lay, m, alternative):
    """Pooled two-proportion z test (Pearson chi-square, no continuity correction)."""
    comp = n_obs == lay.K
    change = y[..., -1] - y[..., 0]
    if m.better == "lower":
        change = -change
    resp = (change >= m.responder_threshold) & comp
    in_ref, in_cmp = lay.arm == 0, lay.arm == m.compare
    n1 = (comp & in_ref).sum(axis=1).astype(float)
    n2 = (comp & in_cmp).sum(axis=1).astype(float)
    x1 = (resp & in_ref).sum(axis=1)
    x2 = (resp & in_cmp).sum(axis=1)
    ok = (n1 > 0) & (n2 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = x1 / n1, x2 / n2
        pooled = (x1 + x2) / (n1 + n2)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = (p2 - p1) / se
    # no responders or all responders in both arms: no evidence of a difference
    z = np.where(se > 0, z, 0.0)
    if alternative == "two-sided":
        p = 2 * stats.norm.sf(np.abs(z))
    elif alternative == "greater":
        p = stats.norm.sf(z)
    else:
        p = stats.norm.cdf(z)
    return {"estimate": p2 - p1, "se": se, "dof": np.full(len(z), np.inf), "t": z,
            "p_val": np.where(ok, p, np.nan), "failed": ~ok}


# --------------------------------------------------------------------------
# the driver
# --------------------------------------------------------------------------
def _run_chunk(args):
    m, seed_seq, n_sims, tests, alternative, ddf = args
    lay = _Layout(m)
    rng = np.random.default_rng(seed_seq)
    y, n_obs = _simulate_chunk(m, lay, n_sims, rng)
    out = {}
    for test in tests:
        if test == "mixed_slope":
            res = fit_slope_batch(_reduce(y, n_obs, lay), lay, _theta_start(m), alternative, ddf)
        elif test == "ancova":
            res = _ancova_batch(y, n_obs, lay, m, alternative)
            res["singular"] = np.zeros(n_sims, dtype=bool)
        else:
            res = _responder_batch(y, n_obs, lay, m, alternative)
            res["singular"] = np.zeros(n_sims, dtype=bool)
        good = ~res["failed"]
        est = res["estimate"][good]
        out[test] = {
            "n": int(good.sum()),
            "rejected": int(np.sum(res["p_val"][good] < m.alpha)),
            "singular": int(res["singular"].sum()),
            "failed": int(res["failed"].sum()),
            "sum_estimate": float(est.sum()),
            "sum_estimate2": float((est * est).sum()),
        }
    return out


def power_ci(successes, trials, confidence=0.95):
    """Clopper-Pearson (exact binomial) confidence interval of a proportion.

    Examples
    --------
    >>> lo, hi = power_ci(800, 1000)
    >>> round(lo, 4), round(hi, 4)
    (0.7738, 0.8244)
    """
    a = 1 - confidence
    lo = stats.beta.ppf(a / 2, successes, trials - successes + 1) if successes > 0 else 0.0
    hi = stats.beta.ppf(1 - a / 2, successes + 1, trials - successes) if successes < trials else 1.0
    return float(lo), float(hi)


@dataclass
class PowerResult:
    """Simulated power of each test (see :func:`simulate_power`).

    ``table`` has one row per test: test, power, ci_low, ci_high (Clopper-
    Pearson 95 %), n_sims (fits used), n_rejected, n_singular, n_failed,
    mean_estimate, sd_estimate, note (why a test was not run, e.g. a random
    slope with two visits); ``seed``, ``model`` and ``ci_method`` say how it
    was made.
    """

    table: pd.DataFrame
    seed: int
    model: TrialModel
    n_simulations: int
    ci_method: str = "Clopper-Pearson exact binomial"
    notes: list = field(default_factory=list)

    def power(self, test="mixed_slope") -> float:
        return float(self.table.set_index("test").loc[test, "power"])


_EXECUTOR = None


def _executor(workers):
    global _EXECUTOR
    if _EXECUTOR is None or _EXECUTOR._max_workers != workers:
        if _EXECUTOR is not None:
            _EXECUTOR.shutdown()
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        _EXECUTOR = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    return _EXECUTOR


def simulate_power(model: TrialModel, n_simulations=1000, seed=2026, tests=TESTS,
                   alternative="two-sided", workers=None, progress=False, confidence=0.95,
                   ddf="satterthwaite", executor=None):
    """Power of each test by simulating ``n_simulations`` trials of ``model``.

    Parameters
    ----------
    model : TrialModel
    n_simulations : int
    seed : int
        The same seed gives the same result on any machine and with any
        number of workers (chunks of :data:`CHUNK` trials, each with its
        own ``SeedSequence(seed).spawn`` child).
    tests : sequence of {"mixed_slope", "ancova", "responders"}
    alternative : {"two-sided", "greater", "less"}
    workers : int, optional
        Processes; default 1 for fewer than 4 chunks, else ``min(2, cpus)``.
    progress : bool or tqdm bar
        True: a tqdm progress bar; a bar (anything with ``update(n)``):
        advanced by the trials simulated, so several calls share one bar.
    confidence : float
        Of the binomial CI of each power.
    ddf : {"satterthwaite", "kenward-roger"}
        The mixed model's t-test, as the analysis will be run.
    executor : concurrent.futures.Executor, optional
        Run the chunks there instead, e.g. on a Dask cluster with
        ``distributed.Client(...).get_executor()``; chunks keep their seeds,
        so the result is the same as in one process.

    Returns
    -------
    PowerResult

    Examples
    --------
    A SYNTHETIC two-arm trial: 40 per arm, visits at weeks 0, 4, 8, 12,
    a 0.1 m/s greater gain by week 12.

    >>> model = TrialModel(arms=("control", "backward"), n_per_arm=(40, 40),
    ...                    visit_weeks=(0, 4, 8, 12), intercept_sd=0.2, slope_sd=0.005,
    ...                    residual_sd=0.05, slope_differences=(0.0, 0.1 / 12))
    >>> res = simulate_power(model, n_simulations=250, seed=1, tests=("ancova",))
    >>> res.table[["test", "n_sims"]].to_dict("records")
    [{'test': 'ancova', 'n_sims': 250}]
    >>> 0.6 < res.power("ancova") < 1
    True
    """
    tests = tuple(tests)
    unknown = set(tests) - set(TESTS)
    if unknown:
        raise ValueError(f"simulate_power: unknown test(s) {sorted(unknown)}; choose from {TESTS}")
    if "responders" in tests and model.responder_threshold is None:
        raise ValueError("simulate_power: the responder test needs model.responder_threshold")
    if int(n_simulations) < 1:
        raise ValueError("simulate_power: n_simulations must be at least 1")
    n_simulations = int(n_simulations)
    sizes = [CHUNK] * (n_simulations // CHUNK) + ([n_simulations % CHUNK] if n_simulations % CHUNK else [])
    seeds = np.random.SeedSequence(int(seed)).spawn(len(sizes))
    if ddf not in ("satterthwaite", "kenward-roger"):
        raise ValueError(f"simulate_power: ddf must be 'satterthwaite' or 'kenward-roger', got {ddf!r}")
    requested = tests
    notes = {}
    if "mixed_slope" in tests and len(model.visit_weeks) < 3:
        # with two visits each person has as many observations as random effects: lme4 refuses the
        # model ("number of observations <= number of random effects"), and so do we
        notes["mixed_slope"] = ("not fitted: a random intercept and slope need at least 3 visits "
                                "(with 2, observations <= random effects, as lme4 says)")
        tests = tuple(t for t in tests if t != "mixed_slope")
    jobs = [(model, s, n, tests, alternative, ddf) for s, n in zip(seeds, sizes)] if tests else []
    if workers is None:
        workers = 1 if len(jobs) < 4 else min(2, os.cpu_count() or 1)
    if executor is not None:
        results = executor.map(_run_chunk, jobs)
    elif workers > 1:
        results = _executor(workers).map(_run_chunk, jobs)
    else:
        results = map(_run_chunk, jobs)
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_simulations, desc="simulated trials", unit="trial")
    elif progress is not False and progress is not None:
        bar = progress  # a caller's bar, shared over several calls
    totals = {t: dict.fromkeys(("n", "rejected", "singular", "failed", "sum_estimate", "sum_estimate2"), 0)
              for t in tests}
    for size, chunk in zip(sizes, results):
        if bar is not None:
            bar.update(size)
        for t in tests:
            for k, v in chunk[t].items():
                totals[t][k] += v
    rows = []
    for t in requested:
        if t in notes:
            rows.append({"test": t, "power": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n_sims": 0,
                         "n_rejected": 0, "n_singular": 0, "n_failed": 0, "mean_estimate": np.nan,
                         "sd_estimate": np.nan, "note": notes[t]})
            continue
        tot = totals[t]
        n = tot["n"]
        power = tot["rejected"] / n if n else np.nan
        lo, hi = power_ci(tot["rejected"], n, confidence) if n else (np.nan, np.nan)
        mean = tot["sum_estimate"] / n if n else np.nan
        var = (tot["sum_estimate2"] - n * mean**2) / (n - 1) if n > 1 else np.nan
        rows.append({"test": t, "power": power, "ci_low": lo, "ci_high": hi, "n_sims": n,
                     "n_rejected": tot["rejected"], "n_singular": tot["singular"],
                     "n_failed": tot["failed"], "mean_estimate": mean,
                     "sd_estimate": np.sqrt(max(var, 0.0)) if n > 1 else np.nan, "note": ""})
    if progress is True:
        bar.close()
    return PowerResult(table=pd.DataFrame(rows), seed=int(seed), model=model, n_simulations=n_simulations)


# --------------------------------------------------------------------------
# closed forms
# --------------------------------------------------------------------------
def _completers(m: TrialModel):
    return (1 - m.dropout_per_visit) ** (len(m.visit_weeks) - 1)


def _baseline_followup_moments(m: TrialModel):
    T = m.follow_up
    t0 = float(m.visit_weeks[0])
    cov01 = m.intercept_slope_corr * m.intercept_sd * m.slope_sd

    def var_at(t):
        return m.intercept_sd**2 + 2 * t * cov01 + t * t * m.slope_sd**2 + m.residual_sd**2

    tF = t0 + T
    cov = m.intercept_sd**2 + (t0 + tF) * cov01 + t0 * tF * m.slope_sd**2
    return var_at(t0), var_at(tF), cov


def ancova_power_analytic(model: TrialModel, alternative="two-sided"):
    """Closed-form ANCOVA power: a two-sample t-test with variance sigma^2 (1 - rho^2).

    Borm, Fransen & Lemmens (2007): the ANCOVA of the follow-up value on
    baseline needs ``(1 - rho^2)`` times the participants of a t-test,
    ``rho`` the baseline-follow-up correlation. Here ``sigma`` and ``rho``
    follow from the model's random effects; expected completers per arm
    (``n (1 - dropout)^(visits - 1)``) enter statsmodels' ``TTestIndPower``.
    Adherence variation is ignored (the mean effect is used).
    """
    from statsmodels.stats.power import TTestIndPower

    v0, vF, cov = _baseline_followup_moments(model)
    rho2 = cov**2 / (v0 * vF)
    effect = model.slope_differences[model.compare] * (model.adherence_mean or 1.0) * model.follow_up
    keep = _completers(model)
    n1 = model.n_per_arm[0] * keep
    n2 = model.n_per_arm[model.compare] * keep
    # a random covariate adds E[F(1, N - 2)] / ... : var factor (N - 3) / (N - 4)
    n_all = sum(model.n_per_arm) * keep
    if n_all <= 4:
        return float("nan")
    d = effect / np.sqrt(vF * (1 - rho2) * (n_all - 3) / (n_all - 4))
    alt = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}[alternative]
    return float(TTestIndPower().power(effect_size=d, nobs1=n2, ratio=n1 / n2, alpha=model.alpha,
                                       alternative=alt))


def slope_power_analytic(model: TrialModel, alternative="two-sided"):
    """Power of the arm x week test from the expected information (GLS).

    ``var(beta) = (sum_i X_i' V_i^-1 X_i)^-1`` with ``V_i = Z_i D Z_i' +
    sigma^2 I``, summed over arms and dropout patterns with their expected
    counts (Hedeker, Gibbons & Waternaux 1999). With no dropout and a
    balanced design this is ``(slope_sd^2 + sigma^2 / sum (t - tbar)^2)
    (1/n1 + 1/n2)``, their eq. for the difference of mean slopes. Power from
    a noncentral t with ``N - 2 * arms`` degrees of freedom via
    statsmodels' ``TTestIndPower`` (effect size scaled so its noncentrality
    is ``delta / se``).
    """
    from statsmodels.stats.power import TTestIndPower

    lay = _Layout(model)
    D = np.array([[model.intercept_sd**2, model.intercept_slope_corr * model.intercept_sd * model.slope_sd],
                  [model.intercept_slope_corr * model.intercept_sd * model.slope_sd, model.slope_sd**2]])
    d = model.dropout_per_visit
    K = lay.K
    probs = np.array([(1 - d) ** (k) * (d if k < K - 1 else 1.0) for k in range(K)])  # n_obs = k + 1
    info = np.zeros((lay.p, lay.p))
    for g in range(lay.G):
        arm, k = divmod(g, K)
        t = lay.weeks[: k + 1]
        Z = np.column_stack([np.ones(k + 1), t])
        V = Z @ D @ Z.T + model.residual_sd**2 * np.eye(k + 1)
        X = Z @ lay.W[g]
        info += model.n_per_arm[arm] * probs[k] * X.T @ np.linalg.solve(V, X)
    var = lay.contrast @ np.linalg.solve(info, lay.contrast)
    delta = model.slope_differences[model.compare] * (model.adherence_mean or 1.0)
    n1, n2 = model.n_per_arm[0], model.n_per_arm[model.compare]
    # TTestIndPower's noncentrality is d * sqrt(n1 n2 / (n1 + n2)); df = n1 + n2 - 2
    d_equiv = (delta / np.sqrt(var)) / np.sqrt(n1 * n2 / (n1 + n2))
    alt = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}[alternative]
    return float(TTestIndPower().power(effect_size=d_equiv, nobs1=n2, ratio=n1 / n2, alpha=model.alpha,
                                       alternative=alt))


def responder_power_analytic(model: TrialModel, alternative="two-sided"):
    """Normal-approximation power of the responder comparison (Cohen's h).

    The change from baseline is normal with the model's variance, so each
    arm's responder proportion is a normal tail; statsmodels'
    ``NormalIndPower`` with ``proportion_effectsize`` (arcsine) on expected
    completers. Adherence variation is ignored.
    """
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    v0, vF, cov = _baseline_followup_moments(model)
    sd_change = np.sqrt(v0 + vF - 2 * cov)
    sign = 1.0 if model.better == "higher" else -1.0
    T = model.follow_up
    base = sign * model.control_slope * T
    gain = sign * model.slope_differences[model.compare] * (model.adherence_mean or 1.0) * T
    p1 = stats.norm.sf((model.responder_threshold - base) / sd_change)
    p2 = stats.norm.sf((model.responder_threshold - base - gain) / sd_change)
    h = proportion_effectsize(p2, p1)
    keep = _completers(model)
    n1 = model.n_per_arm[0] * keep
    n2 = model.n_per_arm[model.compare] * keep
    alt = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}[alternative]
    return float(NormalIndPower().power(effect_size=h, nobs1=n2, ratio=n1 / n2, alpha=model.alpha,
                                        alternative=alt))
