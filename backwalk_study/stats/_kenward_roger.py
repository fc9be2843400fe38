"""Kenward-Roger small-sample inference for the grouped mixed model of ``_lmm``.

For a REML fit of ``y_i = X_i beta + Z_i b_i + e_i`` (one grouping factor,
``b_i ~ N(0, D)``, ``e_i ~ N(0, sigma^2 I)``), Kenward & Roger (1997) replace
the plug-in covariance ``Phi = (X' V^-1 X)^-1`` of the fixed effects, which
ignores that the variance parameters were estimated, by

    Phi_A = Phi + 2 Phi U Phi,
    U = sum_rs W_rs (Q_rs - P_r Phi P_s),

and give a denominator degrees of freedom for each contrast. This module
follows pbkrtest's ``vcovAdj`` and ``Lb_ddf`` (Halekoh & Højsgaard 2014), as
``lmerTest`` calls them for ``ddf = "Kenward-Roger"``: the variance parameters
are the entries of the lower triangle of ``D`` (``D[0,0]``, ``D[1,0]``,
``D[1,1]``) and ``sigma^2``; ``V`` is linear in them, ``V = sum_r gamma_r G_r``,
so the second-derivative term of Kenward & Roger vanishes. With
``W_V = V^-1``,

* ``P_r = -X' W_V G_r W_V X``,
* ``Q_rs = X' W_V G_r W_V G_s W_V X``,
* ``W = 2 I_E^-1`` with ``I_E[r, s] = tr(W_V G_r W_V G_s) - 2 tr(Phi Q_rs)
  + tr(Phi P_r Phi P_s)`` (the expected information, REML),

and the per-contrast dof from pbkrtest's ``Lb_ddf`` (for one row ``l`` it
reduces to ``2 / a'Wa``, ``a_r = l' Phi P_r Phi l / l' Phi l``).

``V`` is block diagonal by participant and ``G_r = Z_i E_r Z_i'`` within a
block (``E_r`` the unit pattern of entry r; the identity for ``sigma^2``), so
every term is a sum over participants of q x q and q x p algebra on the
participant's ``Z_i'Z_i`` and ``Z_i'X_i`` (and the total ``X'X``), through the Woodbury
form ``W_V = (I - Z P Z') / sigma^2`` with lme4's ``P = Lambda (Lambda' Z'Z
Lambda + I)^-1 Lambda'``, and its powers ``(I - Z P Z')^2 = I - Z K_2 Z'``,
``(I - Z P Z')^3 = I - Z K_3 Z'``. No n x n matrix is formed: the cost is
linear in the number of observations, and the observations themselves are
not needed (:func:`kenward_roger_parts_from_statistics`).

References
----------
Kenward, M. G., & Roger, J. H. (1997). Small sample inference for fixed
effects from restricted maximum likelihood. *Biometrics*, 53(3), 983-997.
https://doi.org/10.2307/2533558

Halekoh, U., & Højsgaard, S. (2014). A Kenward-Roger approximation and
parametric bootstrap methods for tests in linear mixed models - the R package
pbkrtest. *Journal of Statistical Software*, 59(9), 1-32.
https://doi.org/10.18637/jss.v059.i09
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ._lmm import GroupedLMM, NestedLMM

__all__ = [
    "KenwardRoger",
    "kenward_roger",
    "kenward_roger_parts",
    "kenward_roger_parts_from_statistics",
    "kenward_roger_parts_of_engine",
    "kenward_roger_dof",
    "kenward_roger_ftest",
]


@dataclass
class KenwardRoger:
    """What Kenward-Roger inference needs from one REML fit.

    Attributes
    ----------
    vcov : ndarray (p, p)
        Plug-in covariance of beta, ``(X' V^-1 X)^-1`` (lme4's ``vcov``).
    vcov_adjusted : ndarray (p, p)
        Kenward-Roger adjusted covariance (pbkrtest's ``vcovAdj``).
    P : ndarray (k, p, p)
        ``P_r`` for the k variance parameters (covariance entries, then
        sigma^2).
    W : ndarray (k, k)
        Twice the inverse expected information of the variance parameters.
    information_condition : float
        Smallest absolute eigenvalue of the expected information; at or below
        1e-10 a pseudo-inverse was used, as pbkrtest does.
    """

    vcov: np.ndarray
    vcov_adjusted: np.ndarray
    P: np.ndarray
    W: np.ndarray
    information_condition: float


def _lambda(theta, q):
    lam = np.zeros((q, q))
    if q == 1:
        lam[0, 0] = theta[0]
    else:
        lam[0, 0], lam[1, 0], lam[1, 1] = theta
    return lam


def _check_reml(fit):
    if not getattr(fit, "reml", False):
        raise ValueError(
            "kenward_roger: Kenward-Roger needs a REML fit (as pbkrtest and lmerTest do); "
            "refit with reml=True"
        )


def kenward_roger_parts(X, Z, group, fit):
    """Kenward-Roger adjusted covariance and the pieces its dof need.

    Computes the model's sufficient statistics (those of
    :class:`~backwalk_study.stats._lmm.GroupedLMM`) and hands them to
    :func:`kenward_roger_parts_from_statistics`.

    Parameters
    ----------
    X : ndarray (n, p)
        Fixed-effects design, as passed to :class:`~backwalk_study.stats._lmm.GroupedLMM`.
    Z : ndarray (n, q)
        Random-effects design, q = 1 or 2.
    group : ndarray (n,)
        Participant codes.
    fit : LMMFit
        A REML fit of that model (``theta`` in lme4's parametrisation, and
        ``sigma``).

    Returns
    -------
    KenwardRoger
    """
    _check_reml(fit)
    X = np.asarray(X, dtype=float)
    Z = np.asarray(Z, dtype=float)
    if Z.ndim == 1:
        Z = Z[:, None]
    n = len(X)
    if Z.shape[1] not in (1, 2) or len(Z) != n or len(group) != n:
        raise ValueError("kenward_roger: X, Z and group must have the same rows, Z 1 or 2 columns")
    # the engine's statistics of the design; y plays no part in Kenward-Roger
    return kenward_roger_parts_of_engine(GroupedLMM(X, Z, np.zeros(n), group), fit)


def kenward_roger_parts_of_engine(lmm, fit):
    """:func:`kenward_roger_parts_from_statistics` on an engine's statistics.

    Parameters
    ----------
    lmm : GroupedLMM
        Built from rows or from statistics
        (:meth:`~backwalk_study.stats._lmm.GroupedLMM.from_statistics`); not a
        model with sites (Kenward-Roger is implemented for one grouping
        factor).
    fit : LMMFit
        A REML fit of ``lmm``.

    Returns
    -------
    KenwardRoger
    """
    if isinstance(lmm, NestedLMM):
        raise ValueError("kenward_roger: Kenward-Roger is not available with a site intercept "
                         "(it is implemented for one grouping factor); use Satterthwaite")
    p = lmm.p
    return kenward_roger_parts_from_statistics(lmm.ZtXy[:, :, :p], lmm.ZtZ, lmm.XyXy[:p, :p],
                                               lmm.n, fit, transform=lmm.design_transform)


def kenward_roger_parts_from_statistics(ZtX, ZtZ, XtX, n, fit, transform=None):
    """Kenward-Roger adjusted covariance and the pieces its dof need, from statistics.

    The one implementation: everything is a sum over participants of their
    ``Z_i'Z_i`` and ``Z_i'X_i`` (and the total ``X'X``), so the rows are not
    needed (data on a cluster: map-reduce the statistics first).

    Parameters
    ----------
    ZtX : ndarray (N, q, p)
        Per participant ``Z_i'X_i``, q = 1 or 2.
    ZtZ : ndarray (N, q, q)
        Per participant ``Z_i'Z_i``.
    XtX : ndarray (p, p)
        ``X'X`` over all rows.
    n : int
        Number of rows.
    fit : LMMFit
        A REML fit of the model (``theta`` in lme4's parametrisation, and
        ``sigma``).
    transform : ndarray (p, p), optional
        ``T`` when the statistics are of the design ``X T`` rather than the
        caller's ``X`` (``beta = T beta~``), as the engine's centred design
        (:attr:`~backwalk_study.stats._lmm.GroupedLMM.design_transform`).
        The results are for the caller's ``X``: covariances ``T Phi T'``,
        ``P_r`` as ``T^-T P_r T^-1`` (the dof do not depend on ``T``).
        Default: the identity.

    Returns
    -------
    KenwardRoger

    Notes
    -----
    Give the statistics of a centred design (non-intercept columns minus
    their means, as the engine keeps them) and its ``transform``: on the
    caller's columns the differences ``X'X - sum_i X_i'Z_i P_i Z_i'X_i``
    cancel most of their digits when time is large (time squared in days,
    thousands of rows).
    """
    _check_reml(fit)
    SX = np.asarray(ZtX, dtype=float)  # Z_i'X_i
    S = np.asarray(ZtZ, dtype=float)  # Z_i'Z_i
    XtX = np.asarray(XtX, dtype=float)  # X_i'X_i enters only summed over participants
    if SX.ndim != 3 or SX.shape[1] not in (1, 2):
        raise ValueError(f"kenward_roger: ZtX must have shape (participants, q, p) with q = 1 or "
                         f"2, not {SX.shape}")
    N, q, p = SX.shape
    if S.shape != (N, q, q) or XtX.shape != (p, p):
        raise ValueError(f"kenward_roger: ZtZ must have shape {(N, q, q)} and XtX {(p, p)}, "
                         f"not {S.shape} and {XtX.shape}")
    theta = np.asarray(fit.theta, dtype=float)
    if len(theta) != (1 if q == 1 else 3):
        raise ValueError(f"kenward_roger: the fit has {len(theta)} variance parameters, not those "
                         f"of one grouping factor with {q} random effect(s)")
    T = np.eye(p) if transform is None else np.asarray(transform, dtype=float)
    if T.shape != (p, p):
        raise ValueError(f"kenward_roger: transform must have shape {(p, p)}, not {T.shape}")
    s2 = float(fit.sigma) ** 2
    lam = _lambda(theta, q)

    # Woodbury: V_i^-1 = (I - Z P Z') / s2, its square (I - Z K2 Z') / s2^2
    # and its cube (I - Z K3 Z') / s2^3
    M = np.eye(q) + np.einsum("ji,njk,kl->nil", lam, S, lam)
    P = lam @ np.linalg.solve(M, np.broadcast_to(lam.T, M.shape))
    P = (P + np.swapaxes(P, 1, 2)) / 2
    K2 = 2 * P - P @ S @ P
    K2 = (K2 + np.swapaxes(K2, 1, 2)) / 2
    K3 = P + K2 - K2 @ S @ P
    K3 = (K3 + np.swapaxes(K3, 1, 2)) / 2

    def total(a, b):  # sum over participants of a_i' b_i
        return np.tensordot(a, b, axes=([0, 1], [0, 1]))

    A = (S - S @ P @ S) / s2  # Z'W Z per participant
    B = (SX - S @ P @ SX) / s2  # Z'W X
    A2 = (S - S @ K2 @ S) / s2**2  # Z'W^2 Z
    F = (SX - S @ K2 @ SX) / s2**2  # Z'W^2 X
    C = (XtX - total(SX, P @ SX)) / s2  # sum of X'W X
    D2 = (XtX - total(SX, K2 @ SX)) / s2**2  # sum of X'W^2 X
    D3 = (XtX - total(SX, K3 @ SX)) / s2**3  # sum of X'W^3 X
    trW2 = (n - np.einsum("nij,nji->", K2, S)) / s2**2  # tr(W^2)

    # the variance parameters: lower triangle of D (column by column), then sigma^2
    pattern = [(0, 0)] if q == 1 else [(0, 0), (1, 0), (1, 1)]
    E = []
    for r, c in pattern:
        e = np.zeros((q, q))
        e[r, c] = e[c, r] = 1.0
        E.append(e)
    k = len(E) + 1
    res = k - 1
    EB = [e @ B for e in E]  # E_r Z'W X
    EA = [e @ A for e in E]  # E_r Z'W Z

    Phi = np.linalg.inv(C)
    Phi = (Phi + Phi.T) / 2
    Pm = np.empty((k, p, p))
    for r in range(res):
        Pm[r] = -total(B, EB[r])
    Pm[res] = -D2
    Pm = (Pm + np.swapaxes(Pm, 1, 2)) / 2  # pbkrtest's forceSymmetric
    Q = np.empty((k, k, p, p))
    Ktrace = np.empty((k, k))
    for r in range(k):
        for s in range(r, k):
            if s < res:  # both covariance entries
                Q[r, s] = total(EB[r], A @ EB[s])
                Ktrace[r, s] = np.einsum("nij,nji->", EA[r], EA[s])
            elif r < res:  # covariance entry r, sigma^2
                Q[r, s] = total(EB[r], F)
                Ktrace[r, s] = np.einsum("ij,nji->", E[r], A2)
            else:
                Q[r, s] = D3
                Ktrace[r, s] = trW2
            Q[s, r] = Q[r, s].T
            Ktrace[s, r] = Ktrace[r, s]
    info = np.empty((k, k))
    for r in range(k):
        PhiPr = Phi @ Pm[r]
        for s in range(r, k):
            info[r, s] = info[s, r] = (Ktrace[r, s] - 2 * np.sum(Phi * Q[r, s])
                                       + np.sum(PhiPr * (Pm[s] @ Phi)))
    condition = float(np.min(np.abs(np.linalg.eigvalsh(info))))
    W = 2 * (np.linalg.inv(info) if condition > 1e-10 else np.linalg.pinv(info))
    W = (W + W.T) / 2
    U = np.zeros((p, p))
    for r in range(k):
        for s in range(k):
            U += W[r, s] * (Q[r, s] - Pm[r] @ Phi @ Pm[s])
    U = (U + U.T) / 2
    adjusted = Phi + 2 * Phi @ U @ Phi
    # back to the caller's columns: cov(beta) = T cov(beta_c) T', P_r = T^-T P_r T^-1
    T_inv = np.linalg.inv(T)
    Phi = T @ Phi @ T.T
    adjusted = T @ adjusted @ T.T
    Pm = np.einsum("ji,rjk,kl->ril", T_inv, Pm, T_inv)
    return KenwardRoger(vcov=(Phi + Phi.T) / 2, vcov_adjusted=(adjusted + adjusted.T) / 2,
                        P=Pm, W=W, information_condition=condition)


def _lb_ddf(L, parts, with_a2=False):
    """pbkrtest's ``Lb_ddf``: KR denominator dof of the joint test of the rows of L
    (and, on request, its A2 term, which the F scaling needs)."""
    V0, P, W = parts.vcov, parts.P, parts.W
    q = L.shape[0]
    Theta = L.T @ np.linalg.solve(L @ V0 @ L.T, L)
    u = [Theta @ V0 @ Pr @ V0 for Pr in P]
    A1 = A2 = 0.0
    k = len(P)
    for i in range(k):
        for j in range(i, k):
            e = 1.0 if i == j else 2.0
            A1 += e * W[i, j] * np.trace(u[i]) * np.trace(u[j])
            A2 += e * W[i, j] * np.sum(u[i] * u[j].T)
    if A2 <= 0:  # the contrast does not depend on the variance parameters
        return (np.inf, 0.0) if with_a2 else np.inf
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    denom = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
    v0 = 1 + c1 * B
    v1 = 1 - c2 * B
    v2 = 1 - c3 * B
    v0 = 0.0 if abs(v0) < 1e-10 else v0
    x = 1 - A2 / q
    ratio = 1.0 if abs(x) < 1e-14 and abs(v1) < 1e-14 else x / v1
    rho = ratio**2 * v0 / (q * v2)
    dof = 4 + (q + 2) / (q * rho - 1)
    return (dof, A2) if with_a2 else dof


def kenward_roger_dof(L, parts):
    """Kenward-Roger denominator dof for each row of L (each a 1-df contrast).

    As ``lmerTest::contest1D(m, l, ddf = "Kenward-Roger")`` and
    ``summary(m, ddf = "Kenward-Roger")`` for unit rows.
    """
    L = np.atleast_2d(np.asarray(L, dtype=float))
    return np.array([_lb_ddf(row[None, :], parts) for row in L])


def kenward_roger_ftest(L, beta, parts, rhs=0.0):
    """Kenward-Roger F-test of ``L beta = rhs`` (all rows jointly).

    As ``pbkrtest::KRmodcomp`` and ``lmerTest::contest(m, L, ddf =
    "Kenward-Roger", joint = TRUE)``: the Wald statistic on the adjusted
    covariance, ``F = scaling * (L b - rhs)' (L Phi_A L')^-1 (L b - rhs) / q``,
    on ``q`` and the KR denominator dof, with Kenward and Roger's scaling
    ``ddf (1 - A2 / q) / (ddf - 2)`` (1 when ddf is within 0.01 of 2).

    Parameters
    ----------
    L : array_like (q, p)
        Rows of full rank.
    beta : array_like (p,)
        Fixed-effect estimates of the fit that ``parts`` belongs to.
    parts : KenwardRoger
        From :func:`kenward_roger_parts`.
    rhs : float or array_like (q,), default 0

    Returns
    -------
    dict
        ``F``, ``ndf``, ``ddf``, ``p_val`` and ``f_scaling``.
    """
    L = np.atleast_2d(np.asarray(L, dtype=float))
    beta = np.asarray(beta, dtype=float)
    if L.shape[1] != len(beta) or L.shape[1] != parts.vcov.shape[0]:
        raise ValueError(f"kenward_roger_ftest: L must have {len(beta)} columns")
    q = L.shape[0]
    if np.linalg.matrix_rank(L) < q:
        raise ValueError("kenward_roger_ftest: the rows of L are linearly dependent; "
                         "drop the redundant ones")
    ddf, a2 = _lb_ddf(L, parts, with_a2=True)
    scaling = 1.0 if abs(ddf - 2) < 0.01 else ddf * (1 - a2 / q) / (ddf - 2)
    diff = L @ beta - np.broadcast_to(np.asarray(rhs, dtype=float), (q,))
    wald = float(diff @ np.linalg.solve(L @ parts.vcov_adjusted @ L.T, diff))
    F = scaling * wald / q
    return {"F": F, "ndf": q, "ddf": ddf, "p_val": float(stats.f.sf(F, q, ddf)),
            "f_scaling": scaling}


def kenward_roger(X, Z, group, fit, L=None):
    """Kenward-Roger adjusted covariance of beta and dof per contrast.

    Parameters
    ----------
    X, Z, group, fit
        The model's designs, participant codes and a REML
        :class:`~backwalk_study.stats._lmm.LMMFit` of it (see
        :func:`kenward_roger_parts`).
    L : array_like (m, p), optional
        Contrast rows; default the identity (one row per coefficient).

    Returns
    -------
    vcov_adjusted : ndarray (p, p)
        pbkrtest's ``vcovAdj(m)``: the standard error of ``l'beta`` is
        ``sqrt(l' vcov_adjusted l)``.
    dof : ndarray (m,)
        Kenward-Roger denominator dof of each row of L.

    Notes
    -----
    Checked against pbkrtest 0.5.2 (``vcovAdj``) and lmerTest 3.1-3
    (``summary(m, ddf = "Kenward-Roger")``, ``contest(m, L, ddf =
    "Kenward-Roger")``) on lme4's sleepstudy (random intercept, and intercept
    and slope), nlme's Orthodont by sex, ChickWeight by diet (drop-out) and
    BodyWeight by diet with a quadratic trajectory, and nlme's Dialyzer
    (``tests/reference/kenward_roger.R``): adjusted covariance and dof within
    1e-11 relative at lme4's optimum. Once, outside the tests, on a SYNTHETIC
    trial of 5,000 participants (58,940 rows, ``benchmarks/kenward_roger.py``'s
    data): within 1e-11 too.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from backwalk_study.stats._lmm import GroupedLMM
    >>> rng = np.random.default_rng(5)   # synthetic: 12 people, 6 visits
    >>> pid = np.repeat(np.arange(12), 6)
    >>> week = np.tile(np.arange(6.0), 12)
    >>> u = rng.normal(0, [3.0, 0.5], size=(12, 2))[pid]
    >>> y = 20 + u[:, 0] + (1 + u[:, 1]) * week + rng.normal(0, 1, 72)
    >>> X = np.column_stack([np.ones(72), week])
    >>> Z = X.copy()
    >>> fit = GroupedLMM(X, Z, y, pid).fit(reml=True)
    >>> vcov_kr, dof = kenward_roger(X, Z, pid, fit)
    >>> np.round(dof, 6)   # balanced: the between-person dof, N - 1
    array([11., 11.])
    """
    parts = kenward_roger_parts(X, Z, group, fit)
    p = parts.vcov.shape[0]
    L = np.eye(p) if L is None else np.atleast_2d(np.asarray(L, dtype=float))
    if L.shape[1] != p:
        raise ValueError(f"kenward_roger: L must have {p} columns (one per coefficient)")
    return parts.vcov_adjusted, kenward_roger_dof(L, parts)
