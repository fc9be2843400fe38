"""Exact REML/ML engine for linear mixed models with one grouping factor.

The model is ``y_i = X_i beta + Z_i b_i + e_i`` for participant ``i``, with
``b_i ~ N(0, sigma^2 Lambda Lambda')`` and ``e_i ~ N(0, sigma^2 I)``; ``Z_i``
has one or two columns (random intercept, or intercept and slope). This is
lme4's parametrisation: ``theta`` holds the lower triangle of the relative
Cholesky factor ``Lambda`` column by column (``Subject.(Intercept)``,
``Subject.week.(Intercept)``, ``Subject.week``), diagonal entries bounded
below by zero.

Everything the likelihood needs is reduced once to per-participant sufficient
statistics (``Z_i'Z_i``, ``Z_i'X_i``, ``Z_i'y_i``) and global cross-products
(``X'X``, ``X'y``, ``y'y``). One evaluation of the profiled deviance is then a
batch of q x q algebra over participants, O(participants * p^2), with no
approximation: with ``M_i = Lambda' Z_i'Z_i Lambda + I`` and
``P_i = Lambda M_i^{-1} Lambda'``,

* ``X'V^{-1}X = X'X - sum_i (Z_i'X_i)' P_i (Z_i'X_i)`` (V relative to sigma^2),
  likewise ``X'V^{-1}y`` and ``y'V^{-1}y`` (Woodbury identity);
* ``log|V| = sum_i log|M_i|``;
* ML deviance ``sum log|M_i| + n (1 + log(2 pi r^2 / n))`` and REML deviance
  ``sum log|M_i| + log|X'V^{-1}X| + (n - p)(1 + log(2 pi r^2 / (n - p)))``,
  with ``r^2`` the penalised residual sum of squares at the GLS estimate,
  exactly lme4's profiled criteria (Bates et al. 2015, eqs. 34 and 41).

The gradient with respect to ``theta`` is analytic (envelope theorem for
``beta``; ``dP = S + S'`` with ``S = (I - P A)' dLambda K``, ``K = M^{-1}
Lambda'``), so the bounded L-BFGS-B optimiser converges to the tolerance
asked for. The Satterthwaite degrees of freedom follow lmerTest (Kuznetsova et
al. 2017): the Hessian of the unprofiled deviance in ``(theta, sigma)`` and the
Jacobian of ``cov(beta)`` in the same parameters, by central differences of
analytic first derivatives.

This module is private; :mod:`backwalk_study.dose` is the public face.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize

__all__ = ["GroupedLMM", "LMMFit"]

_LOG_2PI = np.log(2.0 * np.pi)


@dataclass
class LMMFit:
    """The optimum of one fit and what was learnt on the way there."""

    theta: np.ndarray
    beta: np.ndarray
    sigma: float
    deviance: float
    reml: bool
    converged: bool
    optimizer: str
    iterations: int
    n_evaluations: int
    gradient_max: float
    message: str
    singular: bool
    boundary: list = field(default_factory=list)


class GroupedLMM:
    """A Gaussian mixed model with one grouping factor, reduced to sufficient statistics.

    Parameters
    ----------
    X : ndarray (n, p)
        Fixed-effects design.
    Z : ndarray (n, q)
        Random-effects design, q = 1 or 2.
    y : ndarray (n,)
        Outcome.
    group : ndarray (n,) of int
        Participant codes 0..N-1 (any order).
    """

    def __init__(self, X, Z, y, group):
        X = np.asarray(X, dtype=float)
        Z = np.asarray(Z, dtype=float)
        y = np.asarray(y, dtype=float)
        group = np.asarray(group)
        if Z.ndim == 1:
            Z = Z[:, None]
        self.n, self.p = X.shape
        self.q = Z.shape[1]
        if self.q not in (1, 2):
            raise ValueError("only one or two random effects per participant are supported")
        order = np.argsort(group, kind="stable")
        g = group[order]
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        self.n_groups = len(starts)
        Xs, Zs, ys = X[order], Z[order], y[order]
        Xy = np.column_stack([Xs, ys])
        # per participant Z'[X y] and Z'Z, via segment sums (linear in rows)
        self.ZtXy = np.stack(
            [np.add.reduceat(Zs[:, [k]] * Xy, starts, axis=0) for k in range(self.q)],
            axis=1,
        )  # (N, q, p + 1)
        self.ZtZ = np.stack(
            [np.add.reduceat(Zs[:, [k]] * Zs, starts, axis=0) for k in range(self.q)],
            axis=1,
        )  # (N, q, q)
        self.XyXy = Xy.T @ Xy  # (p + 1, p + 1)
        self.group_sizes = np.diff(np.r_[starts, len(g)])
        self._tri = [(0, 0)] if self.q == 1 else [(0, 0), (1, 0), (1, 1)]
        self.n_theta = len(self._tri)

    # ------------------------------------------------------------------ algebra
    def lam(self, theta):
        lam = np.zeros((self.q, self.q))
        for value, (r, c) in zip(theta, self._tri):
            lam[r, c] = value
        return lam

    def _core(self, theta, want_grad=False):
        """Profiled quantities at theta; optionally the pieces of the gradient."""
        lam = self.lam(theta)
        A = self.ZtZ
        M = np.einsum("ji,njk,kl->nil", lam, A, lam)
        M[:, range(self.q), range(self.q)] += 1.0
        if self.q == 1:
            det = M[:, 0, 0]
            Minv = 1.0 / M
        else:
            a, b, d = M[:, 0, 0], M[:, 0, 1], M[:, 1, 1]
            det = a * d - b * b
            Minv = np.empty_like(M)
            Minv[:, 0, 0] = d / det
            Minv[:, 1, 1] = a / det
            Minv[:, 0, 1] = Minv[:, 1, 0] = -b / det
        K = Minv @ lam.T  # (N, q, q): M^{-1} Lambda'
        P = lam @ K  # Lambda M^{-1} Lambda'
        C = self.ZtXy
        S = self.XyXy - np.einsum("nqi,nqr,nrj->ij", C, P, C, optimize=True)
        p = self.p
        F = S[:p, :p]
        try:
            cf = linalg.cho_factor(F, lower=True)
        except linalg.LinAlgError as err:
            raise np.linalg.LinAlgError(
                "the fixed-effects design is rank deficient (collinear terms)"
            ) from err
        beta = linalg.cho_solve(cf, S[:p, p])
        r2 = S[p, p] - S[:p, p] @ beta
        out = {
            "lam": lam,
            "ldM": float(np.sum(np.log(det))),
            "ldF": 2.0 * float(np.sum(np.log(np.diag(cf[0])))),
            "cf": cf,
            "F": F,
            "beta": beta,
            "r2": max(float(r2), 1e-300),
            "P": P,
            "K": K,
        }
        if want_grad:
            gvec = C[:, :, p] - C[:, :, :p] @ beta  # Z_i'(y_i - X_i beta)
            Finv = linalg.cho_solve(cf, np.eye(p))
            Cx = C[:, :, :p]
            H = np.einsum("nqi,ij,nrj->nqr", Cx, Finv, Cx, optimize=True)
            R = np.eye(self.q) - A @ P  # (N, q, q)
            KA = (K @ A).sum(axis=0)
            KggR = np.einsum("nqa,na,nb,nrb->nqr", K, gvec, gvec, R, optimize=True).sum(axis=0)
            KHR = np.einsum("nqa,nab,nrb->nqr", K, H, R, optimize=True).sum(axis=0)
            # d/dtheta_k at Lambda entry (r, c) picks element [c, r]
            out["d_ldM"] = np.array([2.0 * KA[c, r] for r, c in self._tri])
            out["d_r2"] = np.array([-2.0 * KggR[c, r] for r, c in self._tri])
            out["d_ldF"] = np.array([-2.0 * KHR[c, r] for r, c in self._tri])
        return out

    def deviance(self, theta, reml=True, want_grad=False):
        """Profiled deviance (-2 log-likelihood, REML or ML) at theta."""
        core = self._core(theta, want_grad)
        n_eff = self.n - self.p if reml else self.n
        dev = core["ldM"] + n_eff * (1.0 + _LOG_2PI + np.log(core["r2"] / n_eff))
        if reml:
            dev += core["ldF"]
        if not want_grad:
            return dev
        grad = core["d_ldM"] + n_eff * core["d_r2"] / core["r2"]
        if reml:
            grad = grad + core["d_ldF"]
        return dev, grad

    # --------------------------------------------------------------------- fit
    def fit(self, reml=True, start=None, gtol=1e-10, maxiter=2000):
        """Minimise the profiled deviance over theta with bounded L-BFGS-B.

        A diagonal entry of Lambda at its bound 0 is a stationary point of the
        deviance whatever the data (the deviance depends on its square), so a
        gradient method can stall there. When the fit ends on that boundary
        and the deviance curves downward away from it, the optimiser is
        restarted from the interior and the better optimum kept.
        """
        if start is None:
            start = np.array([1.0] if self.q == 1 else [1.0, 0.0, 1.0])
        bounds = [(0.0, None) if r == c else (None, None) for r, c in self._tri]
        diag = [k for k, (r, c) in enumerate(self._tri) if r == c]
        n_eval = [0]

        def fun(theta):
            n_eval[0] += 1
            return self.deviance(theta, reml, want_grad=True)

        def run(x0):
            return optimize.minimize(
                fun, np.asarray(x0, dtype=float), jac=True, method="L-BFGS-B", bounds=bounds,
                options={"ftol": 1e-15, "gtol": gtol, "maxiter": maxiter, "maxcor": 20},
            )

        res = run(start)
        n_iter = res.nit
        restarts = 0
        for _ in range(2):
            at_bound = [k for k in diag if res.x[k] < 1e-4]
            if not at_bound:
                break
            # restart inside, with the boundary entries as large as their row's
            # off-diagonal (same variance, now uncorrelated) or a quarter of the largest
            x0 = res.x.copy()
            for k in at_bound:
                r = self._tri[k][0]
                row = [abs(res.x[j]) for j, (rr, cc) in enumerate(self._tri) if rr == r and cc != r]
                x0[k] = max([0.25 * float(np.max(res.x[diag])), 0.1, *row])
            again = run(x0)
            restarts += 1
            n_iter += again.nit
            if again.fun < res.fun - 1e-9:
                res = again
            else:
                break
        theta = res.x
        dev, grad = self.deviance(theta, reml, want_grad=True)
        # a projected gradient: components pushing against a bound do not count
        proj = grad.copy()
        for k in diag:
            if theta[k] <= 0.0 and grad[k] > 0:
                proj[k] = 0.0
        gmax = float(np.max(np.abs(proj)))
        # L-BFGS-B may stop on a line-search failure when it cannot improve in
        # floating point; that is convergence if the projected gradient is tiny
        # (lme4's own check uses 0.002 on the deviance scale)
        converged = bool(res.success) or gmax < 2e-3
        core = self._core(theta)
        n_eff = self.n - self.p if reml else self.n
        sigma = float(np.sqrt(core["r2"] / n_eff))
        boundary = [k for k in diag if theta[k] < 1e-4]
        message = str(res.message) + (f" (after {restarts} restart(s) off the boundary)"
                                      if restarts else "")
        return LMMFit(
            theta=theta,
            beta=core["beta"],
            sigma=sigma,
            deviance=float(dev),
            reml=reml,
            converged=converged,
            optimizer="L-BFGS-B (scipy), analytic gradient",
            iterations=int(n_iter),
            n_evaluations=n_eval[0],
            gradient_max=gmax,
            message=message,
            singular=bool(boundary),
            boundary=boundary,
        )

    def fit_at(self, theta, reml=True, optimizer="given", converged=True, message=""):
        """An LMMFit at a theta found elsewhere (e.g. statsmodels MixedLM)."""
        theta = np.asarray(theta, dtype=float)
        dev, grad = self.deviance(theta, reml, want_grad=True)
        core = self._core(theta)
        n_eff = self.n - self.p if reml else self.n
        boundary = [k for k, (r, c) in enumerate(self._tri) if r == c and abs(theta[k]) < 1e-4]
        return LMMFit(
            theta=theta,
            beta=core["beta"],
            sigma=float(np.sqrt(core["r2"] / n_eff)),
            deviance=float(dev),
            reml=reml,
            converged=converged,
            optimizer=optimizer,
            iterations=0,
            n_evaluations=1,
            gradient_max=float(np.max(np.abs(grad))),
            message=message,
            singular=bool(boundary),
            boundary=boundary,
        )

    # ------------------------------------------------------- inference pieces
    def cov_beta(self, theta, sigma):
        core = self._core(theta)
        return sigma**2 * linalg.cho_solve(core["cf"], np.eye(self.p))

    def _varpar_grad(self, varpar, reml):
        """Gradient of lmerTest's unprofiled deviance in (theta, sigma)."""
        theta, sigma = varpar[:-1], varpar[-1]
        core = self._core(theta, want_grad=True)
        s2 = sigma * sigma
        g_theta = core["d_ldM"] + core["d_r2"] / s2
        n_eff = self.n - self.p if reml else self.n
        if reml:
            g_theta = g_theta + core["d_ldF"]
        g_sigma = -2.0 * core["r2"] / sigma**3 + 2.0 * n_eff / sigma
        return np.r_[g_theta, g_sigma]

    def varpar_deviance(self, varpar, reml):
        """lmerTest's ``devfun_vp``: -2 log-likelihood at (theta, sigma), beta profiled."""
        theta, sigma = varpar[:-1], varpar[-1]
        core = self._core(theta)
        s2 = sigma * sigma
        dev = core["ldM"] + core["r2"] / s2 + self.n * (_LOG_2PI + np.log(s2))
        if reml:
            dev += core["ldF"] - self.p * (_LOG_2PI + np.log(s2))
        return dev

    def satterthwaite_parts(self, fit, rel_step=1e-5):
        """Asymptotic covariance of (theta, sigma) and the Jacobian of cov(beta).

        Returns ``(A, jac, vcov_beta, hessian_eigenvalues)`` where ``A = 2 H^+``
        (H the Hessian of the deviance, pseudo-inverse over positive
        eigenvalues as in lmerTest) and ``jac`` has shape (k, p, p).
        """
        varpar = np.r_[fit.theta, fit.sigma]
        k = len(varpar)
        H = np.empty((k, k))
        steps = rel_step * np.maximum(np.abs(varpar), 1e-2)
        for j in range(k):
            e = np.zeros(k)
            e[j] = steps[j]
            H[:, j] = (
                self._varpar_grad(varpar + e, fit.reml) - self._varpar_grad(varpar - e, fit.reml)
            ) / (2 * steps[j])
        H = (H + H.T) / 2
        evals, evecs = np.linalg.eigh(H)
        pos = evals > 1e-8
        h_inv = (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T
        A = 2.0 * h_inv
        jac = np.empty((k, self.p, self.p))
        for j in range(k - 1):
            e = np.zeros(k - 1)
            e[j] = steps[j]
            jac[j] = (
                self.cov_beta(fit.theta + e, fit.sigma) - self.cov_beta(fit.theta - e, fit.sigma)
            ) / (2 * steps[j])
        vcov = self.cov_beta(fit.theta, fit.sigma)
        jac[k - 1] = 2.0 * vcov / fit.sigma
        return A, jac, vcov, evals

    def random_effects(self, fit):
        """Conditional modes b_i and their conditional covariance sigma^2 P_i.

        Ordered by participant code.
        """
        core = self._core(fit.theta)
        C = self.ZtXy
        gvec = C[:, :, self.p] - C[:, :, : self.p] @ fit.beta
        b = np.einsum("nqr,nr->nq", core["P"], gvec)
        return b, fit.sigma**2 * core["P"]


def satterthwaite_df(L, A, jac, vcov):
    """Satterthwaite degrees of freedom for each row of L (a contrast matrix)."""
    L = np.atleast_2d(L)
    var = np.einsum("ci,ij,cj->c", L, vcov, L)
    grad = np.einsum("ci,kij,cj->ck", L, jac, L)
    denom = np.einsum("ck,kl,cl->c", grad, A, grad)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = 2.0 * var**2 / denom
    return var, df
