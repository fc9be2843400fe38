"""Forest and funnel plots of a meta-analysis (matplotlib; byte-identical files on re-run).

:func:`forest_plot` draws a RevMan-style forest plot of a
:class:`~backwalk_study.stats.meta.MetaAnalysisResult`: one row per study with
its estimate [CI] and weight, the pooled diamond, the prediction interval
and a heterogeneity line. :func:`funnel_plot` draws the funnel plot.
:func:`save_figure` writes PNG or SVG without timestamps or random IDs.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["forest_plot", "funnel_plot", "save_figure"]

_STYLE = {"font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "axes.spines.left": False,
          "svg.hashsalt": "backwalk-meta", "svg.fonttype": "path"}


@contextmanager
def _styled():
    """A fixed style, so figures do not depend on a user's matplotlibrc."""
    import matplotlib
    import matplotlib.style

    with matplotlib.rc_context():
        matplotlib.style.use("default")
        matplotlib.rcParams.update(_STYLE)
        yield


def save_figure(fig, path: str | Path) -> Path:
    """Save ``fig`` as PNG or SVG (by suffix), byte-identical for identical input:
    no software/date metadata, a fixed SVG hash salt."""
    import matplotlib

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lower().lstrip(".")
    metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None} if fmt in ("svg", "pdf") else None
    with matplotlib.rc_context({"svg.hashsalt": "backwalk-meta"}):
        fig.savefig(path, format=fmt, dpi=100, metadata=metadata)
    return path


def _fmt(value: float, digits: int) -> str:
    return f"{value:.{digits}f}".replace("-", "\u2212")


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def forest_plot(result, *, measure: str = "Mean difference", exp: bool = False, digits: int = 2,
                favours: tuple[str, str] | None = None, title: str | None = None):
    """A RevMan-style forest plot.

    Parameters
    ----------
    result : MetaAnalysisResult
        From :func:`backwalk_study.stats.meta.meta_analysis`.
    measure : str
        Name of the effect measure for the axis and column header.
    exp : bool
        Ratio measures pooled on the log scale: show exp(estimate) on a log axis.
    digits : int
        Decimals of the printed estimates.
    favours : (str, str), optional
        Labels under the left and right halves of the axis
        (e.g. ``("Favours backward walking", "Favours control")``).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Study rows (square sized by weight, CI line), the pooled diamond
        with its CI, the prediction interval as a bar under it, and the
        heterogeneity and overall-effect lines.

    Examples
    --------
    >>> import pandas as pd
    >>> from backwalk_study.stats.meta import meta_analysis
    >>> bcg = pd.DataFrame({"study": ["Aronson 1948", "Ferguson & Simes 1949", "Rosenthal et al 1960"],
    ...                     "estimate": [-0.8893, -1.5854, -1.3481], "se": [0.5706, 0.4411, 0.6426]})
    >>> fig = forest_plot(meta_analysis(bcg, se="se", study="study"), measure="Risk ratio", exp=True)
    >>> len(fig.axes)
    1
    """
    from matplotlib import transforms
    from matplotlib.figure import Figure
    from matplotlib.patches import Polygon

    studies, pooled, het = result.studies, result.pooled.iloc[0], result.heterogeneity.iloc[0]
    k = len(studies)
    back = np.exp if exp else (lambda x: x)
    pct = round(100 * result.confidence)
    with _styled():
        height = 1.6 + 0.28 * (k + 4) + (0.3 if title else 0)
        bottom, top = 1.2 / height, (0.15 + (0.3 if title else 0)) / height
        fig = Figure(figsize=(11, height), dpi=100)
        ax = fig.add_axes([0.33, bottom, 0.37, 1 - bottom - top])
        rows = np.arange(k)[::-1] + 3.0           # studies top-down; pooled at 1.5, PI at 0.6
        lo, hi = back(studies["ci_low"].to_numpy()), back(studies["ci_high"].to_numpy())
        est = back(studies["estimate"].to_numpy())
        w = studies["weight"].to_numpy()
        ax.hlines(rows, lo, hi, color="black", lw=1)
        ax.scatter(est, rows, marker="s", s=20 + 180 * w / w.max(), color="#1f5fa8", zorder=3)
        c_lo, c_hi, c = back(pooled["ci_low"]), back(pooled["ci_high"]), back(pooled["estimate"])
        ax.add_patch(Polygon([[c_lo, 1.5], [c, 1.85], [c_hi, 1.5], [c, 1.15]], closed=True, color="black"))
        has_pi = result.method != "FE"
        if has_pi:
            ax.hlines(0.6, back(pooled["pi_low"]), back(pooled["pi_high"]), color="#b2182b", lw=3)
        null = 1.0 if exp else 0.0
        ax.axvline(null, color="grey", lw=0.8)
        ax.set_ylim(0, k + 3.6)
        ax.set_yticks([])
        if exp:
            ax.set_xscale("log")
        ax.set_xlabel(f"{measure} ({pct}% CI)" + (", log scale" if exp else ""))
        span = np.concatenate([lo, hi, [c_lo, c_hi, null]]
                              + ([[back(pooled["pi_low"]), back(pooled["pi_high"])]] if has_pi else []))
        if exp:
            left, right = np.log(span.min()), np.log(span.max())
            pad = 0.05 * (right - left)
            ax.set_xlim(np.exp(left - pad), np.exp(right + pad))
        else:
            pad = 0.05 * (span.max() - span.min())
            ax.set_xlim(span.min() - pad, span.max() + pad)
        if exp:
            from matplotlib.ticker import FixedLocator, NullLocator

            lo_x, hi_x = ax.get_xlim()
            nice = [m * 10.0 ** e for e in range(-4, 5) for m in (1, 2, 5)]
            ax.xaxis.set_major_locator(FixedLocator([t for t in nice if lo_x <= t <= hi_x]))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_major_formatter(lambda t, pos: f"{t:g}")
        if favours:
            ax.xaxis.labelpad = 16
            for label, dx, ha in ((favours[0], -6, "right"), (favours[1], 6, "left")):
                ax.annotate(label, (null, 0), xycoords=("data", "axes fraction"), xytext=(dx, -20),
                            textcoords="offset points", ha=ha, va="top", fontsize=8, style="italic")

        text = transforms.blended_transform_factory(fig.transFigure, ax.transData)
        head = k + 2.9
        for x, label, ha in ((0.02, "Study", "left"), (0.835, f"{measure}\n[{pct}% CI]", "center"),
                             (0.985, "Weight", "right")):
            ax.text(x, head, label, transform=text, ha=ha, va="bottom", weight="bold")
        for y, rec, e, l, h in zip(rows, studies.itertuples(index=False), est, lo, hi):
            ax.text(0.02, y, str(rec.study), transform=text, ha="left", va="center")
            ax.text(0.835, y, f"{_fmt(e, digits)} [{_fmt(l, digits)}, {_fmt(h, digits)}]", transform=text,
                    ha="center", va="center")
            ax.text(0.985, y, f"{rec.weight:.1f}%", transform=text, ha="right", va="center")
        model = "Common-effect model" if result.method == "FE" else f"Random-effects model ({result.method}" + (
            ", HKSJ)" if result.test == "hksj" else ")")
        ax.text(0.02, 1.5, model, transform=text, ha="left", va="center", weight="bold")
        ax.text(0.835, 1.5, f"{_fmt(c, digits)} [{_fmt(c_lo, digits)}, {_fmt(c_hi, digits)}]", transform=text,
                ha="center", va="center", weight="bold")
        ax.text(0.985, 1.5, "100.0%", transform=text, ha="right", va="center", weight="bold")
        if has_pi:
            p_lo, p_hi = back(pooled["pi_low"]), back(pooled["pi_high"])
            ax.text(0.02, 0.6, "Prediction interval", transform=text, ha="left", va="center", color="#b2182b")
            ax.text(0.835, 0.6, f"[{_fmt(p_lo, digits)}, {_fmt(p_hi, digits)}]", transform=text, ha="center",
                    va="center", color="#b2182b")
        stat = "Z" if result.test == "z" else f"t({pooled['dof']:g})"
        fig.text(0.02, 0.035,
                 f"Heterogeneity: \u03c4\u00b2 = {het['tau2']:.3g}; Q = {het['q']:.2f}, df = {int(het['q_dof'])} "
                 f"({_p(het['q_p_val'])}); I\u00b2 = {het['i2']:.0f}%\n"
                 f"Test for overall effect: {stat} = {abs(pooled['t']):.2f} ({_p(pooled['p_val'])})",
                 ha="left", va="bottom", fontsize=8)
        if title:
            fig.text(0.02, 1 - 0.1 / height, title, ha="left", va="top", weight="bold", fontsize=11)
    return fig


def funnel_plot(result, *, measure: str = "Estimate", exp: bool = False):
    """A funnel plot: each study's estimate against its standard error (inverted axis),
    with the pooled estimate and its pseudo confidence region
    (estimate +- z se at the fit's confidence level, 1.96 for 95 %), as
    metafor's ``funnel(fit)``.

    Examples
    --------
    >>> import pandas as pd
    >>> from backwalk_study.stats.meta import meta_analysis
    >>> d = pd.DataFrame({"estimate": [0.1, 0.3, 0.25, 0.5], "se": [0.1, 0.2, 0.15, 0.3]})  # SYNTHETIC
    >>> funnel_plot(meta_analysis(d, se="se")).axes[0].get_ylabel()
    'Standard error'
    """
    from matplotlib.figure import Figure
    from scipy import stats

    studies = result.studies
    centre = result.estimate
    z = float(stats.norm.isf((1 - result.confidence) / 2))
    se_max = float(studies["se"].max()) * 1.05
    with _styled():
        fig = Figure(figsize=(5.5, 4.5), dpi=100, layout="constrained")
        ax = fig.add_subplot()
        ax.spines["left"].set_visible(True)
        grid = np.linspace(0, se_max, 50)
        back = np.exp if exp else (lambda x: x)
        ax.fill_betweenx(grid, back(centre - z * grid), back(centre + z * grid), color="#eeeeee")
        ax.plot(back(centre - z * grid), grid, color="grey", lw=0.8, ls="--")
        ax.plot(back(centre + z * grid), grid, color="grey", lw=0.8, ls="--")
        ax.axvline(back(centre), color="black", lw=1)
        ax.scatter(back(studies["estimate"]), studies["se"], color="#1f5fa8", zorder=3, s=25)
        ax.set_ylim(se_max, 0)
        if exp:
            ax.set_xscale("log")
        ax.set_xlabel(measure)
        ax.set_ylabel("Standard error")
    return fig
