"""Forest and funnel plots: what they show, and byte-identical files on re-run."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import ROOT
from backwalk_study.outputs.meta_plots import forest_plot, funnel_plot, save_figure
from backwalk_study.stats import effect_sizes as es
from backwalk_study.stats.meta import meta_analysis


@pytest.fixture(scope="module")
def bcg_fit():
    d = pd.read_csv(ROOT / "tests" / "reference" / "meta_data_bcg.csv")
    d = pd.concat([d, es.log_risk_ratio(d.tpos, d.tpos + d.tneg, d.cpos, d.cpos + d.cneg)], axis=1)
    return meta_analysis(d, se="se", study="study")


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


def test_forest_plot_shows_rows_weights_diamond_prediction_interval_and_heterogeneity(bcg_fit):
    fig = forest_plot(bcg_fit, measure="Risk ratio", exp=True, favours=("Favours vaccine", "Favours control"))
    texts = _texts(fig)
    for study in bcg_fit.studies["study"]:
        assert study in texts
    weights = [f"{w:.1f}%" for w in bcg_fit.studies["weight"]]
    assert all(w in texts for w in weights)
    pooled = bcg_fit.pooled.iloc[0]
    import numpy as np
    assert any(t.startswith(f"{np.exp(pooled['estimate']):.2f} [") for t in texts)
    assert "Prediction interval" in texts
    het = next(t for t in texts if t.startswith("Heterogeneity"))
    assert f"I\u00b2 = {bcg_fit.i2:.0f}%" in het and "df = 12" in het
    assert len(fig.axes[0].patches) == 1     # the diamond


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_figures_are_byte_identical_on_rerun(bcg_fit, tmp_path, suffix):
    first = save_figure(forest_plot(bcg_fit, exp=True), tmp_path / f"a.{suffix}").read_bytes()
    second = save_figure(forest_plot(bcg_fit, exp=True), tmp_path / f"b.{suffix}").read_bytes()
    assert first == second
    f1 = save_figure(funnel_plot(bcg_fit), tmp_path / f"c.{suffix}").read_bytes()
    f2 = save_figure(funnel_plot(bcg_fit), tmp_path / f"d.{suffix}").read_bytes()
    assert f1 == f2


def test_common_effect_forest_plot_has_no_prediction_interval(bcg_fit):
    fit = meta_analysis(bcg_fit.data, se="se", study="study", method="FE")
    texts = _texts(forest_plot(fit))
    assert "Common-effect model" in texts and "Prediction interval" not in texts
