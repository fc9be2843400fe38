"""`backwalk catalogue` (issue 12, "Why" 9): a readable table with units,
ranges, MDC95, MCID and cut-offs with population and source; no NaN; Berg's
MDC95 by starting score; forward gait speed does not carry the backward
cut-off silently; --json documented and complete."""

from __future__ import annotations

import json
import re

from backwalk_study.interfaces.cli import main
from backwalk_study.data.measures import catalogue_lines


def run(capsys, *argv):
    code = main(["catalogue", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_plain_output_is_readable_and_has_no_nan(capsys):
    out = run(capsys)
    assert not re.search(r"\bnan\b", out, re.IGNORECASE)
    header = out.splitlines()[0]
    for column in ("measure", "unit", "range", "better", "mdc95", "mcid", "fall-risk cut-offs"):
        assert column in header
    assert "Donoghue" in out and "none published" in out
    rows = {r["key"]: r for r in catalogue_lines()}  # the cells before wrapping
    assert rows["berg"]["mdc95"].startswith("4-7 points by starting score")
    assert "(Donoghue & Stokes 2009)" in rows["berg"]["mdc95"]
    assert "community-dwelling older adults (multiple falls); Muir et al. 2008" in rows["berg"]["fall-risk cut-offs"]
    assert not any("nan" in str(v).lower().split() for r in rows.values() for v in r.values())


def test_forward_gait_speed_does_not_carry_the_backward_cutoff_silently(capsys):
    cell = {r["key"]: r for r in catalogue_lines()}["gait_speed"]["fall-risk cut-offs"]
    assert cell.startswith("< 0.6 m/s: high fall risk, only when walked backward")
    out = run(capsys)
    block = out[out.index("Gait speed (10-metre walk)"):out.index("Cadence [cadence]")]
    assert "only" in block and "when walked backward" in block


def test_json_is_documented_and_carries_sources_and_sentences(capsys):
    try:
        main(["catalogue", "--help"])
    except SystemExit:
        pass
    help_text = capsys.readouterr().out
    assert re.search(r"--json\s+print the catalogue as JSON", help_text)
    records = json.loads(run(capsys, "--json"))
    berg = next(r for r in records if r["key"] == "berg")
    bands = [f for f in berg["mdc95"] if f["baseline_range"]]
    assert [f["value"] for f in bands] == [4, 5, 7, 5]
    assert bands[0]["quote"].startswith("A change of 4 points is needed to be 95% confident")
    romero = next(f for f in berg["mdc95"] if f["value"] == 6.5)
    assert romero["quote"] == "MDC95% values were 6.5 BBS and 2.9 DGI points, respectively."
    gait = next(r for r in records if r["key"] == "gait_speed")
    assert gait["fall_risk"][0]["direction"] == "backward"
    assert "NaN" not in json.dumps(records)
