"""The measure catalogue: coverage of every claimed domain, published figures
with their sources, and nothing invented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backwalk_study.data.measures import DOMAINS, Published, catalogue_from_config, default_catalogue, measure_catalogue

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "outcome-measures.md"

REQUIRED = ["berg", "mini_bestest", "tug", "single_leg_stance", "functional_reach", "cop_velocity",
            "cop_ellipse_area", "three_metre_backward_walk", "backward_gait_speed", "gait_speed", "cadence",
            "step_length", "six_minute_walk", "chair_stand_30s", "quadriceps_torque", "knee_flexion_rom",
            "sit_and_reach", "craniovertebral_angle", "trunk_endurance", "dual_task_cost", "nprs", "womac",
            "heart_rate", "rpe", "fes_i_short"]


def test_at_least_24_measures_covering_every_domain():
    cat = default_catalogue()
    assert len(cat) >= 24
    assert set(REQUIRED) <= set(cat)
    assert {m.domain for m in cat.values()} == set(DOMAINS)


def test_every_figure_has_a_source_and_ranges_are_sane():
    for m in default_catalogue().values():
        assert m.low < m.high, m.key
        assert m.better in ("higher", "lower", None)
        for q in ("mdc95", "mcid", "icc", "sem"):
            for fig in getattr(m, q):
                assert isinstance(fig, Published) and fig.source, (m.key, q)
        for cut in m.fall_risk:
            assert cut.source and cut.at_risk_when in (">=", ">", "<=", "<") and cut.level in ("high", "low")


@pytest.mark.parametrize("key, quantity, condition, value", [
    ("mini_bestest", "mdc95", None, 3.5), ("mini_bestest", "mcid", None, 4),
    ("tug", "mdc95", None, 1.10), ("tug", "icc", None, 0.97),
    ("single_leg_stance", "mdc95", None, 24.1), ("single_leg_stance", "sem", None, 8.7),
    ("three_metre_backward_walk", "mdc95", "parkinsons", 2.13), ("three_metre_backward_walk", "mdc95", "stroke", 1.57),
    ("three_metre_backward_walk", "icc", "stroke", 0.985), ("nprs", "mcid", None, 2), ("nprs", "mdc95", "knee_oa", 1.33),
    ("gait_speed", "mcid", None, 0.05), ("six_minute_walk", "mcid", None, 20),
])
def test_published_values_match_the_reference_notes(key, quantity, condition, value):
    fig = default_catalogue()[key].published(quantity, condition)
    assert fig is not None and fig.value == pytest.approx(value)
    if REFERENCE.is_file():  # the figure really is in the reference notes (trailing zeros allowed)
        pattern = rf"(?<![\d.]){re.escape(f'{value:g}')}" + (r"0*(?![\d])" if "." in f"{value:g}" else r"(?![\d.])")
        assert re.search(pattern, REFERENCE.read_text()), value


def test_unknown_values_are_empty_not_invented():
    cat = default_catalogue()
    for key in ("functional_reach", "knee_flexion_rom", "sit_and_reach", "quadriceps_torque"):
        m = cat[key]
        assert not (m.mdc95 or m.mcid or m.icc or m.sem or m.fall_risk), key
    # condition-specific figures are not applied to other conditions
    assert cat["three_metre_backward_walk"].published("mdc95", "knee_oa") is None


def test_berg_mdc_depends_on_the_starting_score_and_womac_mcid_on_baseline():
    berg = default_catalogue()["berg"]
    assert [berg.mdc95_for(b).value for b in (50, 40, 30, 10)] == [4, 5, 7, 5]
    assert default_catalogue()["womac"].mcid_for(baseline=50).value == pytest.approx(6.0)


def test_fall_risk_cutoffs():
    cat = default_catalogue()
    bwt = cat["three_metre_backward_walk"]
    general = bwt.fall_risk_for(condition="healthy")
    assert {(c.value, c.level) for c in general} == {(3.0, "low"), (4.5, "high")}
    assert any(c.value == 4.2 for c in bwt.fall_risk_for(condition="parkinsons"))
    speed = cat["gait_speed"]
    assert speed.fall_risk_for(direction="forward") == ()
    (cut,) = speed.fall_risk_for(direction="backward")
    assert cut.applies(0.5) and not cut.applies(0.7)


def test_improved_is_direction_aware():
    cat = default_catalogue()
    assert cat["berg"].improved(3) and not cat["berg"].improved(-3)
    assert cat["tug"].improved(-1.5) and not cat["tug"].improved(2)
    assert cat["cadence"].improved(5) is None


def test_study_measures_from_config():
    cat, problems = catalogue_from_config({"grip": {"name": "Grip", "unit": "kg", "low": 0, "high": 90,
                                                    "better": "higher", "mcid": 5, "source": "Someone 2020"}})
    assert problems == [] and cat["grip"].published("mcid").value == 5 and not cat["grip"].builtin
    _, problems = catalogue_from_config({"grip": {"name": "Grip", "unit": "kg", "low": 0, "high": 90, "mcid": 5,
                                                  "better": "up"}})
    assert any("better must be" in p for p in problems)
    _, problems = catalogue_from_config({"grip": {"name": "Grip", "unit": "kg", "low": 0, "high": 90, "mcid": 5}})
    assert any("needs a 'source'" in p for p in problems)


def test_catalogue_table():
    table = measure_catalogue()
    assert table["key"].is_unique and len(table) == len(default_catalogue())
    assert {"key", "name", "domain", "unit", "low", "high", "better", "mdc95", "mdc95_source", "mcid",
            "mcid_source", "icc", "sem", "fall_risk"} <= set(table.columns)
