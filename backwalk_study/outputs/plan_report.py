"""Files of a trial plan: tables (CSV), the power-curve figure and a plain-words page."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["write_plan"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _guard(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as formulas get a leading quote."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v)
    return out


def write_plan(design, power_table: pd.DataFrame, out_dir, curve: pd.DataFrame | None = None,
               sample_size=None, visits: pd.DataFrame | None = None) -> list[Path]:
    """Write power.csv, design.csv, plan.html and, when given, power_curve.csv and .png (over n per
    arm) and power_by_visits.csv (over visit schedules) into out_dir."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from jinja2 import Environment, PackageLoader, select_autoescape

    from backwalk_study.workflows.planning import _test_words, describe_power, plot_power_curve

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    path = out / "power.csv"
    _guard(power_table).to_csv(path, index=False)
    written.append(path)
    design_rows = design.table()
    design_rows["value"] = design_rows["value"].map(str)
    path = out / "design.csv"
    _guard(design_rows).to_csv(path, index=False)
    written.append(path)
    figure = None
    if curve is not None and len(curve):
        path = out / "power_curve.csv"
        _guard(curve).to_csv(path, index=False)
        written.append(path)
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        plot_power_curve(curve, design.target_power, ax=ax, sample_size=sample_size)
        ax.set_title(f"{design.measure_name}: simulated power (SYNTHETIC trials)", fontsize=10)
        fig.tight_layout()
        path = out / "power_curve.png"
        fig.savefig(path, dpi=120, metadata={"Software": None})
        plt.close(fig)
        written.append(path)
        figure = path.name
    visit_rows = None
    if visits is not None and len(visits):
        path = out / "power_by_visits.csv"
        _guard(visits).to_csv(path, index=False)
        written.append(path)
        visit_rows = visits.to_dict("records")
    ss = None
    if sample_size is not None:
        check = sample_size.check
        ss = {"target_power": sample_size.target_power, "test_words": _test_words(sample_size.test, design.ddf),
              "n_per_arm": sample_size.n_per_arm, "n_low": sample_size.n_low, "n_high": sample_size.n_high,
              "check_power": check["power"], "check_low": check["ci_low"], "check_high": check["ci_high"],
              "analytic_n": sample_size.analytic_n}
    env = Environment(loader=PackageLoader("backwalk_study.outputs", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True))
    html = env.get_template("plan.html.j2").render(
        title=design.name or design.measure_name, n_simulations=int(power_table["n_sims"].max()),
        seed=int(power_table["seed"].iloc[0]),
        sentences=[describe_power(design, row) for _, row in power_table.iterrows()],
        rows=power_table.to_dict("records"), figure=figure, sample_size=ss, visit_rows=visit_rows,
        design_rows=design_rows.to_dict("records"))
    path = out / "plan.html"
    path.write_text(html, encoding="utf-8")
    written.append(path)
    return written
