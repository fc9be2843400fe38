"""The synthetic example: labelled synthetic, reproducible to the byte, and
shaped like a real trial (adherence, dropout, adverse events, both
directions of the walking tests)."""

from __future__ import annotations

from backwalk_study import load_study, simulate_study
from backwalk_study.data.simulate import write_example

from conftest import EXAMPLE, digest


def test_same_seed_same_bytes_and_matches_committed_example(tmp_path):
    write_example(tmp_path / "a")
    write_example(tmp_path / "b")
    assert digest(tmp_path / "a") == digest(tmp_path / "b") == digest(EXAMPLE)


def test_other_seed_differs(tmp_path):
    write_example(tmp_path / "a", seed=1)
    assert digest(tmp_path / "a") != digest(EXAMPLE)


def test_labelled_synthetic(example_study):
    assert example_study.config.synthetic
    assert "SYNTHETIC" in (EXAMPLE / "study.toml").read_text()
    assert "synthetic" in repr(example_study)


def test_shape_of_the_trial(example_study):
    s = example_study
    assert len(s.participants) == 90 and s.participants["arm"].value_counts().to_dict() == \
        {"backward": 30, "forward": 30, "control": 30}
    assert sorted(s.assessments["week"].unique()) == [0, 4, 8, 12]
    walked = s.assessments[s.assessments["measure"] == "gait_speed"]
    assert set(walked["direction"]) == {"forward", "backward"} and set(walked["trial"]) == {1, 2}
    events = s.sessions["adverse_event"].value_counts()
    assert 0 < events.drop("none").sum() < 60
    dose = s.dose()
    done = dose[(dose["week"] > 0) & dose["participant_id"].isin(s.participants.query("arm != 'control'")
                                                                  ["participant_id"])]
    adherence = done.groupby("participant_id")["sessions"].sum() / (3 * 12)
    assert 0.5 < adherence.median() < 1.0  # realistic, not perfect
    followed = s.assessments.query("week == 12")["participant_id"].nunique()
    assert 60 < followed < 90  # dropout and missed visits happen


def test_simulate_validates_small_studies():
    study = simulate_study(n_participants=12, seed=7)
    assert len(study.participants) == 12 and study.config.synthetic
    assert load_study(EXAMPLE).config.planned_sessions_per_week == 3
