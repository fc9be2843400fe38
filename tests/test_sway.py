"""Tests for backwalk_study.sway (issue 7): force-plate COP sway measures.

Three kinds of checks:
- the authors' published per-trial values (COPvelo, COParea, COPmfreq) of the
  Santos & Duarte (2016) data set, from its raw recordings (skipped when
  /work/shared/data/bds is absent);
- an independent base-R implementation (tests/reference/sway.R ->
  sway_reference.csv) on three SYNTHETIC recordings and, when present, the
  12 BDS recordings;
- known answers on SYNTHETIC signals: a circle at known speed, sines of known
  frequency, a Gaussian cloud of known covariance.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from backwalk_study.stats.sway import (
    METRIC_UNITS,
    ForcePlateError,
    SwayBatch,
    cop_metrics,
    read_force_plate,
    sway_batch,
    sway_to_assessments,
)

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "reference"
BDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "bds"
BDS_TRIALS = [f"BDS{k:05d}" for k in range(37, 49)]

SYNTHETIC_FILES = {
    "synthetic_a": REFERENCE / "sway_synthetic_a.txt",
    "synthetic_b": REFERENCE / "sway_synthetic_b.csv",
    "synthetic_c": REFERENCE / "sway_synthetic_c.txt",
}


def needs_bds():
    if not (BDS / "raw").is_dir() or not (BDS / "BDSinfoCOP.txt").is_file():
        pytest.skip("Santos & Duarte balance data not found at ../shared/data/bds")


@pytest.fixture(scope="module")
def bds_info():
    needs_bds()
    info = pd.read_csv(BDS / "BDSinfoCOP.txt", sep="\t")
    return info[info["Trial"].isin(BDS_TRIALS)].reset_index(drop=True)


@pytest.fixture(scope="module")
def r_reference():
    ref = pd.read_csv(REFERENCE / "sway_reference.csv")
    return {ds: grp.set_index("metric")["value"] for ds, grp in ref.groupby("dataset")}


def write(path: Path, text: str) -> Path:
    path.write_text(text, newline="")
    return path


def recording_text(n=200, fs=50.0, header="Time[s]\tCOPx[cm]\tCOPy[cm]", sep="\t", seed=0, time=True):
    """A small SYNTHETIC recording as text."""
    rng = np.random.default_rng(seed)
    xy = np.cumsum(rng.normal(0, 0.01, size=(n, 2)), axis=0)
    rows = []
    for i, (x, y) in enumerate(xy):
        cells = ([f"{i / fs:.4f}"] if time else []) + [f"{x:.6f}", f"{y:.6f}"]
        rows.append(sep.join(cells))
    return header + "\n" + "\n".join(rows) + "\n"


# ---------------------------------------------------------------------------
# published values (Santos & Duarte 2016)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("metric, column", [
    ("mean_velocity", "COPvelo"),
    ("ellipse_area_95", "COParea"),
    ("mean_frequency", "COPmfreq"),
])
def test_bds_published_values(bds_info, metric, column):
    batch = sway_batch(BDS / "raw", bds_info[["Trial", "Vision", "Surface"]], file_col="Trial")
    assert batch.ok, batch
    assert len(batch.metrics) == 12
    merged = batch.metrics.merge(bds_info[["Trial", column]], on="Trial")
    assert len(merged) == 12
    np.testing.assert_allclose(merged[metric], merged[column], rtol=1e-6, atol=0)


def test_bds_chi2_ellipse_does_not_match_published(bds_info):
    # Why the F-based prediction ellipse is the default: the chi-square one
    # is smaller by a fixed ratio and misses the published areas by ~8e-4.
    row = bds_info.iloc[0]
    cop = read_force_plate(BDS / "raw" / f"{row['Trial']}.txt")
    chi2 = cop_metrics(cop, ellipse="chi2")["ellipse_area_95"]
    pred = cop_metrics(cop)["ellipse_area_95"]
    assert abs(chi2 / row["COParea"] - 1) > 1e-4
    assert abs(pred / row["COParea"] - 1) < 1e-6
    n = len(cop)
    expected_ratio = (stats.f.ppf(0.95, 2, n - 2) * 2 * (n + 1) * (n - 1) / (n * (n - 2))
                      / stats.chi2.ppf(0.95, 2))
    assert pred / chi2 == pytest.approx(expected_ratio, rel=1e-12)


def test_bds_reader(bds_info):
    cop = read_force_plate(BDS / "raw" / "BDS00037.txt")
    assert list(cop.columns) == ["time_s", "cop_x", "cop_y"]
    assert cop.attrs["fs_hz"] == 100.0
    assert cop.attrs["units"] == "cm"
    assert cop.attrs["fs_from"] == "time column"
    assert len(cop) == 6000
    assert cop["time_s"].iloc[0] == pytest.approx(0.01)
    assert cop["cop_x"].iloc[0] == pytest.approx(-5.534218)


# ---------------------------------------------------------------------------
# independent base-R implementation (tests/reference/sway.R)
# ---------------------------------------------------------------------------

def ours_for(path: Path) -> pd.Series:
    cop = read_force_plate(path)
    out = cop_metrics(cop)
    out["ellipse_area_95_chi2"] = cop_metrics(cop, ellipse="chi2")["ellipse_area_95"]
    return out


@pytest.mark.parametrize("dataset", sorted(SYNTHETIC_FILES))
def test_against_r_synthetic(r_reference, dataset):
    ref = r_reference[dataset]
    ours = ours_for(SYNTHETIC_FILES[dataset])
    assert set(METRIC_UNITS) <= set(ref.index)
    np.testing.assert_allclose(ours[ref.index].to_numpy(), ref.to_numpy(), rtol=1e-9, atol=0,
                               err_msg=f"{dataset}: {list(ref.index)}")


@pytest.mark.parametrize("trial", BDS_TRIALS)
def test_against_r_bds(r_reference, trial):
    needs_bds()
    ref = r_reference.get(f"bds_{trial}")
    if ref is None:
        pytest.skip("sway_reference.csv was made without the BDS recordings")
    ours = ours_for(BDS / "raw" / f"{trial}.txt")
    np.testing.assert_allclose(ours[ref.index].to_numpy(), ref.to_numpy(), rtol=1e-9, atol=0)


def test_synthetic_files_units_and_rates():
    a = read_force_plate(SYNTHETIC_FILES["synthetic_a"])
    b = read_force_plate(SYNTHETIC_FILES["synthetic_b"])
    c = read_force_plate(SYNTHETIC_FILES["synthetic_c"])
    assert (a.attrs["fs_hz"], a.attrs["units"]) == (100.0, "cm")
    assert (b.attrs["fs_hz"], b.attrs["units"]) == (50.0, "mm")
    assert (c.attrs["fs_hz"], c.attrs["units"]) == (200.0, "m")
    assert c["time_s"].iloc[1] == pytest.approx(0.005)   # ms converted to s


# ---------------------------------------------------------------------------
# known answers on SYNTHETIC signals
# ---------------------------------------------------------------------------

def test_circle_known_speed():
    fs, radius, turns_per_s, n = 100.0, 2.0, 0.5, 6000
    t = np.arange(n) / fs
    omega = 2 * np.pi * turns_per_s
    circle = np.column_stack([radius * np.cos(omega * t), radius * np.sin(omega * t)])
    m = cop_metrics(circle, fs, units="cm")
    chord = 2 * radius * math.sin(omega / fs / 2)          # exact step between samples
    assert m["path_length"] == pytest.approx((n - 1) * chord, rel=1e-12)
    assert m["mean_velocity"] == pytest.approx((n - 1) * chord / (n / fs), rel=1e-12)
    # and close to the arc speed 2 pi r f = 2 pi cm/s: short by the factor
    # (n - 1) / n of the duration convention (1.7e-4) and the chord (4e-6)
    assert m["mean_velocity"] == pytest.approx(omega * radius, rel=2.5e-4)
    assert m["rms_distance"] == pytest.approx(radius, rel=1e-12)
    assert m["mean_distance"] == pytest.approx(radius, rel=1e-12)
    assert m["range_x"] == pytest.approx(2 * radius, rel=1e-12)
    assert m["range_y"] == pytest.approx(2 * radius, rel=1e-3)
    assert m["sd_x"] == pytest.approx(radius / math.sqrt(2) * math.sqrt(n / (n - 1)), rel=1e-9)
    for key in ("mean_frequency", "mean_frequency_x", "mean_frequency_y",
                "median_frequency_x", "median_frequency_y", "median_frequency"):
        assert m[key] == pytest.approx(turns_per_s, rel=1e-6), key
    assert m["duration_s"] == 60.0 and m["n_samples"] == n


@pytest.mark.parametrize("fx, fy, ax, ay", [(2.0, 5.0, 1.0, 0.5), (0.3, 1.2, 0.4, 0.4)])
def test_sines_known_frequency(fx, fy, ax, ay):
    # frequencies on the Welch grid (fs / (n // 2) = 1/30 Hz) so there is no leakage asymmetry
    fs, n = 100.0, 6000
    t = np.arange(n) / fs
    xy = np.column_stack([ax * np.sin(2 * np.pi * fx * t), ay * np.sin(2 * np.pi * fy * t + 0.3)])
    m = cop_metrics(xy, fs)
    assert m["mean_frequency_x"] == pytest.approx(fx, rel=1e-6)
    assert m["mean_frequency_y"] == pytest.approx(fy, rel=1e-6)
    assert m["median_frequency_x"] == pytest.approx(fx, rel=1e-6)
    assert m["median_frequency_y"] == pytest.approx(fy, rel=1e-6)
    # axes weighted by power, which is proportional to amplitude squared
    wx, wy = ax**2, ay**2
    assert m["mean_frequency"] == pytest.approx((fx * wx + fy * wy) / (wx + wy), rel=1e-4)
    assert m["rms_x"] == pytest.approx(ax / math.sqrt(2), rel=1e-9)
    # a sine's mean absolute speed is 4 A f (less a little where samples miss the peaks)
    assert m["mean_velocity_x"] == pytest.approx(4 * ax * fx, rel=5e-3)


def test_gaussian_cloud_known_covariance():
    rng = np.random.default_rng(7)
    cov = np.array([[4.0, 1.2], [1.2, 1.0]])
    n = 400_000
    xy = rng.multivariate_normal([3.0, -1.0], cov, size=n)
    m = cop_metrics(xy, 100.0, units="mm")
    # population 95% ellipse: pi * chi2_0.95(2) * sqrt(det(cov))
    true_area = math.pi * stats.chi2.ppf(0.95, 2) * math.sqrt(np.linalg.det(cov))
    assert m["ellipse_area_95"] == pytest.approx(true_area, rel=0.01)
    assert m["sd_x"] == pytest.approx(2.0, rel=0.01)
    assert m["sd_y"] == pytest.approx(1.0, rel=0.01)
    assert m["rms_distance"] == pytest.approx(math.sqrt(5.0), rel=0.01)
    # about 95% of new points from the same cloud fall in the prediction ellipse
    sample = xy[:2000]
    mean, s = sample.mean(axis=0), np.cov(sample, rowvar=False)
    area = cop_metrics(sample, 100.0)["ellipse_area_95"]
    k2 = (area / (math.pi * math.sqrt(np.linalg.det(s))))         # squared Mahalanobis radius
    new = rng.multivariate_normal([3.0, -1.0], cov, size=200_000)
    d2 = np.einsum("ij,jk,ik->i", new - mean, np.linalg.inv(s), new - mean)
    assert np.mean(d2 <= k2) == pytest.approx(0.95, abs=0.01)


def test_units_follow_input():
    rng = np.random.default_rng(3)
    xy_cm = np.cumsum(rng.normal(0, 0.02, size=(3000, 2)), axis=0)
    cm = cop_metrics(xy_cm, 100.0, units="cm")
    mm = cop_metrics(xy_cm * 10, 100.0, units="mm")
    assert mm["mean_velocity"] == pytest.approx(10 * cm["mean_velocity"], rel=1e-12)
    assert mm["ellipse_area_95"] == pytest.approx(100 * cm["ellipse_area_95"], rel=1e-12)
    assert mm["mean_frequency"] == pytest.approx(cm["mean_frequency"], rel=1e-12)
    assert mm.attrs["metric_units"]["ellipse_area_95"] == "mm^2"
    assert cm.attrs["metric_units"]["mean_velocity"] == "cm/s"
    assert list(cm.index) == list(METRIC_UNITS)
    assert cm.dtype == np.float64


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_resultant_metrics_invariant_to_rotation_translation_and_reversal(seed):
    rng = np.random.default_rng(seed)
    xy = np.cumsum(rng.normal(0, 0.05, size=(1500, 2)), axis=0)
    angle = rng.uniform(0, 2 * np.pi)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = xy @ rotation.T + rng.normal(0, 10, size=2)
    base = cop_metrics(xy, 100.0)
    for other in (cop_metrics(moved, 100.0), cop_metrics(xy[::-1], 100.0)):
        for key in ("path_length", "mean_velocity", "ellipse_area_95", "rms_distance", "mean_distance"):
            assert other[key] == pytest.approx(base[key], rel=1e-9), key
    scaled = cop_metrics(3 * xy, 100.0)
    assert scaled["path_length"] == pytest.approx(3 * base["path_length"], rel=1e-12)
    assert scaled["ellipse_area_95"] == pytest.approx(9 * base["ellipse_area_95"], rel=1e-12)
    assert scaled["median_frequency"] == pytest.approx(base["median_frequency"], rel=1e-12)


def test_dataframe_input_and_attrs():
    xy = np.cumsum(np.random.default_rng(4).normal(size=(500, 2)), axis=0)
    frame = pd.DataFrame(xy, columns=["ml", "ap"])
    from_frame = cop_metrics(frame, 50.0)
    from_array = cop_metrics(xy, 50.0)
    pd.testing.assert_series_equal(from_frame, from_array)
    assert from_frame.attrs["units"] is None
    assert from_frame.attrs["metric_units"]["mean_velocity"] == "L/s"


# ---------------------------------------------------------------------------
# preprocessing
# ---------------------------------------------------------------------------

def test_preprocessing_off_by_default_and_recorded():
    xy = np.cumsum(np.random.default_rng(5).normal(size=(1000, 2)), axis=0)
    m = cop_metrics(xy, 100.0)
    assert m.attrs["preprocessing"] == {"lowpass_hz": None, "filter_order": None, "detrend": None,
                                        "drop_first_s": 0.0, "ellipse": "prediction"}
    m2 = cop_metrics(xy, 100.0, lowpass_hz=10, detrend="linear", drop_first_s=2)
    assert m2.attrs["preprocessing"]["lowpass_hz"] == 10
    assert m2.attrs["preprocessing"]["filter_order"] == 4
    assert m2.attrs["preprocessing"]["detrend"] == "linear"
    assert m2["n_samples"] == 800 and m2["duration_s"] == 8.0


def test_lowpass_removes_high_frequency():
    fs, n = 100.0, 6000
    t = np.arange(n) / fs
    slow = np.sin(2 * np.pi * 1.0 * t)
    xy = np.column_stack([slow + 0.5 * np.sin(2 * np.pi * 20 * t), np.cos(2 * np.pi * 1.0 * t)])
    raw = cop_metrics(xy, fs)
    filtered = cop_metrics(xy, fs, lowpass_hz=5)
    assert raw["mean_frequency_x"] > 4
    assert filtered["mean_frequency_x"] == pytest.approx(1.0, rel=1e-3)
    assert filtered["rms_x"] == pytest.approx(1 / math.sqrt(2), rel=1e-3)


def test_detrend_and_drop_first_seconds():
    fs, n = 100.0, 3000
    t = np.arange(n) / fs
    # a cosine over whole periods has no linear component, so detrending leaves it whole
    xy = np.column_stack([np.cos(2 * np.pi * t) + 0.5 * t, np.sin(2 * np.pi * t)])
    assert cop_metrics(xy, fs)["range_x"] > 10
    assert cop_metrics(xy, fs, detrend="linear")["range_x"] == pytest.approx(2.0, rel=0.01)
    # a large start-up transient, dropped
    xy2 = np.column_stack([np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)])
    xy2[:100] += 50
    assert cop_metrics(xy2, fs)["range_x"] > 50
    kept = cop_metrics(xy2, fs, drop_first_s=1.0)
    assert kept["range_x"] == pytest.approx(2.0, rel=1e-3)
    assert kept["n_samples"] == n - 100


@pytest.mark.parametrize("kwargs, words", [
    ({"lowpass_hz": 60}, "half the sampling rate"),
    ({"lowpass_hz": 10, "filter_order": 0}, "filter_order"),
    ({"detrend": "quadratic"}, "detrend"),
    ({"drop_first_s": -1}, "drop_first_s"),
    ({"drop_first_s": 9.9}, "leaves"),
    ({"ellipse": "confidence"}, "ellipse"),
    ({"lowpass_hz": "10"}, "lowpass_hz"),
    ({"drop_first_s": "2"}, "number of seconds"),
])
def test_preprocessing_bad_settings(kwargs, words):
    xy = np.cumsum(np.random.default_rng(6).normal(size=(1000, 2)), axis=0)
    with pytest.raises(ValueError, match=words):
        cop_metrics(xy, 100.0, **kwargs)


# ---------------------------------------------------------------------------
# bad input to cop_metrics
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cop, fs, words", [
    (np.zeros((100, 3)), 100.0, r"\(n, 2\)"),
    (np.ones((5, 2)), 100.0, "at least 20"),
    (np.ones((100, 2)), 100.0, "does not move"),
    (np.full((100, 2), np.nan), 100.0, "missing"),
    (np.random.default_rng(0).normal(size=(100, 2)), None, "sampling rate"),
    (np.random.default_rng(0).normal(size=(100, 2)), -5, "positive"),
    (np.random.default_rng(0).normal(size=(100, 2)), "fast", "number of Hz"),
    (np.array([["a", "b"]] * 30), 100.0, "array of numbers"),
    (pd.DataFrame({"a": [1.0] * 30, "b": [2.0] * 30, "c": [3.0] * 30}), 100.0, "cop_x"),
])
def test_cop_metrics_bad_input(cop, fs, words):
    with pytest.raises(ValueError, match=words):
        cop_metrics(cop, fs)


def test_cop_metrics_rejects_conflicting_rate_and_units(tmp_path):
    cop = read_force_plate(write(tmp_path / "synthetic.txt", recording_text()))
    with pytest.raises(ValueError, match="disagrees"):
        cop_metrics(cop, 100.0)
    with pytest.raises(ValueError, match="disagrees"):
        cop_metrics(cop, units="mm")
    with pytest.raises(ValueError, match="m, cm or mm"):
        cop_metrics(cop.to_numpy()[:, 1:], 50.0, units="inch")


def test_one_axis_still():
    # a COP that moves along x only: y's frequencies are undefined (NaN), the rest is not
    fs, n = 100.0, 3000
    t = np.arange(n) / fs
    xy = np.column_stack([np.sin(2 * np.pi * t), np.zeros(n)])
    m = cop_metrics(xy, fs)
    assert np.isnan(m["mean_frequency_y"]) and np.isnan(m["median_frequency_y"])
    assert m["mean_frequency"] == pytest.approx(1.0, rel=1e-6)
    assert m["ellipse_area_95"] == pytest.approx(0.0, abs=1e-12)
    assert m.drop(["mean_frequency_y", "median_frequency_y"]).notna().all()


# ---------------------------------------------------------------------------
# reading: formats
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("header, sep, units", [
    ("Time[s]\tCOPx[cm]\tCOPy[cm]", "\t", "cm"),
    ("time (s),cop_x (mm),cop_y (mm)", ",", "mm"),
    ("t_s;CoP_X_m;CoP_Y_m", ";", "m"),
    ('"Time [s]","COP X [mm]","COP Y [mm]"', ",", "mm"),
    ("Time(s)\tFz(N)\tCx(mm)\tCy(mm)", "\t", "mm"),
])
def test_read_header_styles(tmp_path, header, sep, units):
    n_cols = len(header.split(sep))
    rng = np.random.default_rng(1)
    rows = [sep.join([f"{i / 100:.2f}"] + [f"{v:.5f}" for v in rng.normal(size=n_cols - 1)])
            for i in range(50)]
    path = write(tmp_path / "synthetic.txt", header + "\r\n" + "\r\n".join(rows) + "\r\n")
    cop = read_force_plate(path)
    assert cop.attrs["units"] == units
    assert cop.attrs["fs_hz"] == 100.0
    assert len(cop) == 50
    expected = np.array([[float(c) for c in r.split(sep)[-2:]] for r in rows])
    np.testing.assert_array_equal(cop[["cop_x", "cop_y"]].to_numpy(), expected)


def test_read_preamble_units_row_and_decimal_comma(tmp_path):
    text = ("Force plate export\nSubject;synthetic\n"
            "Time;COPx;COPy\ns;mm;mm\n"
            + "".join(f"{i * 0.01:.2f};{i % 7},5;{i % 3},25\n".replace(".", ",", 1) for i in range(30)))
    cop = read_force_plate(write(tmp_path / "synthetic.csv", text))
    assert cop.attrs["units"] == "mm" and cop.attrs["fs_hz"] == 100.0
    assert cop["cop_x"].iloc[1] == 1.5 and cop["cop_y"].iloc[2] == 2.25
    assert cop["time_s"].iloc[3] == pytest.approx(0.03)


def test_read_units_given_or_converted(tmp_path):
    path = write(tmp_path / "synthetic.txt", recording_text(header="time\tcop_x\tcop_y"))
    with pytest.raises(ForcePlateError, match="units"):
        read_force_plate(path)
    cop = read_force_plate(path, units="mm")
    assert cop.attrs["units"] == "mm"
    cm = read_force_plate(path, units="mm", to_units="cm")
    np.testing.assert_allclose(cm["cop_x"], cop["cop_x"] / 10, rtol=1e-15)
    assert cm.attrs["units"] == "cm"


def test_read_sampling_rate_given(tmp_path):
    no_time = write(tmp_path / "synthetic.txt", recording_text(header="COPx[cm]\tCOPy[cm]", time=False))
    with pytest.raises(ForcePlateError, match="fs_hz"):
        read_force_plate(no_time)
    cop = read_force_plate(no_time, fs_hz=200)
    assert cop.attrs["fs_hz"] == 200.0 and cop.attrs["fs_from"] == "given"
    assert cop["time_s"].iloc[2] == pytest.approx(0.01)
    timed = write(tmp_path / "timed.txt", recording_text(fs=50))
    assert read_force_plate(timed, fs_hz=50).attrs["fs_from"] == "given"
    with pytest.raises(ForcePlateError, match="disagrees"):
        read_force_plate(timed, fs_hz=100)
    with pytest.raises(ValueError, match="positive number of Hz"):
        read_force_plate(timed, fs_hz=0)


def test_read_time_in_ms_rounded(tmp_path):
    # 300 Hz written with whole milliseconds: steps of 3 or 4 ms are still regular
    rows = "".join(f"{round(i * 1000 / 300)}\t{math.sin(i / 10):.5f}\t{math.cos(i / 10):.5f}\n" for i in range(900))
    cop = read_force_plate(write(tmp_path / "synthetic.txt", "Time[ms]\tCOPx[mm]\tCOPy[mm]\n" + rows))
    assert cop.attrs["fs_hz"] == pytest.approx(300, rel=1e-3)


def test_read_cop_columns_by_name(tmp_path):
    path = write(tmp_path / "synthetic.txt", recording_text(header="Time[s]\tML[cm]\tAP[cm]"))
    with pytest.raises(ForcePlateError, match="cop_columns"):
        read_force_plate(path)
    cop = read_force_plate(path, cop_columns=("ML[cm]", "AP[cm]"))
    assert cop.attrs["units"] == "cm" and len(cop) == 200


# ---------------------------------------------------------------------------
# reading: errors name the file and what is wrong
# ---------------------------------------------------------------------------

def good_rows(n=50, fs=100.0):
    return [f"{i / fs:.2f}\t{math.sin(i / 5):.4f}\t{math.cos(i / 5):.4f}" for i in range(n)]


def with_row(rows, k, text):
    rows = list(rows)
    rows[k] = text
    return rows


HEADER = "Time[s]\tCOPx[cm]\tCOPy[cm]"


@pytest.mark.parametrize("text, words", [
    ("Time[s]\tFx[N]\tFz[N]\n0\t1\t2\n", "no centre-of-pressure columns"),
    ("Time[s]\tCOPx[in]\tCOPy[in]\n" + "\n".join(good_rows()), "unknown units 'in'"),
    ("Time[s]\tCOPx[cm]\tCOPy[mm]\n" + "\n".join(good_rows()), "COP x is in cm but COP y in mm"),
    ("Time[s]\tCOPx[cm]\tCOPy\n" + "\n".join(good_rows()), "only one"),
    ("Time[h]\tCOPx[cm]\tCOPy[cm]\n" + "\n".join(good_rows()), "unknown time units"),
    (HEADER + "\n" + "\n".join(good_rows(10)), "only 10 samples"),
    (HEADER + "\n" + "\n".join(with_row(good_rows(), 20, "0.20\t0.1\tabc")), r"line 22, column 'COPy\[cm\]': 'abc' is not a number"),
    (HEADER + "\n" + "\n".join(with_row(good_rows(), 30, "0.30\t\t0.2")), r"line 32, column 'COPx\[cm\]': missing"),
    (HEADER + "\n" + "\n".join(with_row(good_rows(), 10, "0.05\t0.1\t0.2")), "time does not increase at line 12"),
    (HEADER + "\n" + "\n".join(good_rows()[:25] + good_rows()[26:]), "irregular sampling.*line 27"),
    (HEADER + "\n" + "\n".join(with_row(good_rows(), 5, "0.05\t0.1")), r"line 7, column 'COPy\[cm\]': missing"),
    (HEADER + "\n", "header but no data"),
    ("", "empty"),
])
def test_read_errors(tmp_path, text, words):
    path = write(tmp_path / "synthetic_bad.txt", text)
    with pytest.raises(ValueError, match=words) as info:
        read_force_plate(path)
    assert "synthetic_bad.txt" in str(info.value)
    assert isinstance(info.value, ForcePlateError)
    assert info.value.file == "synthetic_bad.txt"


def test_read_missing_and_binary_files(tmp_path):
    with pytest.raises(ForcePlateError, match="no such file"):
        read_force_plate(tmp_path / "absent.txt")
    binary = tmp_path / "synthetic.bin"
    binary.write_bytes(b"COPx\x00\x01\x02" * 50)
    with pytest.raises(ForcePlateError, match="not a text export"):
        read_force_plate(binary)


# ---------------------------------------------------------------------------
# batches
# ---------------------------------------------------------------------------

@pytest.fixture
def study_folder(tmp_path):
    """Four SYNTHETIC recordings, one broken, and a trial table."""
    folder = tmp_path / "raw"
    folder.mkdir()
    write(folder / "p01_w0_t1.txt", recording_text(seed=1))
    write(folder / "p01_w0_t2.txt", recording_text(seed=2))
    write(folder / "p02_w0_t1.csv", recording_text(seed=3, header="time (s),cop_x (mm),cop_y (mm)", sep=","))
    write(folder / "p02_w4_t1.txt", HEADER + "\n0\t1\tabc\n")
    trials = pd.DataFrame({
        "file": ["p01_w0_t1", "p01_w0_t2", "p02_w0_t1.csv", "p02_w4_t1", "p03_w0_t1"],
        "participant_id": ["P01", "P01", "P02", "P02", "P03"],
        "week": [0, 0, 0, 4, 0],
        "trial": [1, 2, 1, 1, 1],
        "vision": ["open", "closed", "open", "open", "open"],
    })
    return folder, trials


def test_batch_folder_reports_failures_and_continues(study_folder):
    folder, _ = study_folder
    batch = sway_batch(folder, pattern="*.*")
    assert isinstance(batch, SwayBatch)
    assert list(batch.metrics["file"]) == ["p01_w0_t1.txt", "p01_w0_t2.txt", "p02_w0_t1.csv"]
    assert list(batch.failures.columns) == ["file", "reason"]
    assert batch.failures["file"].tolist() == ["p02_w4_t1.txt"]
    assert "'abc' is not a number" in batch.failures["reason"].iloc[0]
    assert not batch.ok
    assert "p02_w4_t1.txt" in repr(batch)
    assert batch.metrics["units"].tolist() == ["cm", "cm", "mm"]
    expected = cop_metrics(read_force_plate(folder / "p01_w0_t2.txt"))
    got = batch.metrics.iloc[1][list(METRIC_UNITS)].astype(float)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-15)


def test_batch_with_trial_table(study_folder):
    folder, trials = study_folder
    batch = sway_batch(folder, trials, pattern="*.*")
    m = batch.metrics
    assert list(m.columns[:6]) == ["file", "participant_id", "week", "trial", "vision", "fs_hz"]
    assert m["participant_id"].tolist() == ["P01", "P01", "P02"]
    assert m["vision"].tolist() == ["open", "closed", "open"]
    reasons = dict(zip(batch.failures["file"], batch.failures["reason"]))
    assert set(reasons) == {"p02_w4_t1.txt", "p03_w0_t1"}
    assert "no recording" in reasons["p03_w0_t1"]
    # preprocessing columns say nothing was done
    assert m["lowpass_hz"].isna().all() and (m["detrend"] == "none").all()
    assert (m["drop_first_s"] == 0).all() and (m["ellipse"] == "prediction").all()


def test_batch_trial_table_from_file_and_preprocessing_recorded(study_folder, tmp_path):
    folder, trials = study_folder
    table = tmp_path / "trials.csv"
    trials.iloc[:2].to_csv(table, index=False)
    batch = sway_batch(folder, table, lowpass_hz=8, detrend="linear", drop_first_s=0.5)
    assert batch.ok and len(batch.metrics) == 2
    m = batch.metrics
    assert (m["lowpass_hz"] == 8).all() and (m["filter_order"] == 4).all()
    assert (m["detrend"] == "linear").all() and (m["drop_first_s"] == 0.5).all()
    assert (m["n_samples"] == 175).all()
    assert batch.settings["lowpass_hz"] == 8


def test_batch_list_of_files_and_bad_arguments(study_folder, tmp_path):
    folder, trials = study_folder
    batch = sway_batch([folder / "p01_w0_t1.txt", folder / "nothing.txt"])
    assert len(batch.metrics) == 1
    assert batch.failures["reason"].iloc[0] == "no such file"
    with pytest.raises(ValueError, match="not a folder"):
        sway_batch(tmp_path / "absent")
    with pytest.raises(ValueError, match="no column 'recording'"):
        sway_batch(folder, trials, file_col="recording")
    with pytest.raises(ValueError, match="clash"):
        sway_batch(folder, trials.assign(mean_velocity=1.0))


def test_batch_ambiguous_names(tmp_path):
    write(tmp_path / "a.txt", recording_text(seed=1))
    write(tmp_path / "a.csv", recording_text(seed=2, header="time (s),cop_x (mm),cop_y (mm)", sep=","))
    batch = sway_batch(tmp_path, pd.DataFrame({"file": ["a"]}), pattern="*.*")
    assert "more than one" in batch.failures["reason"].iloc[0]


def test_batch_progress_bar(study_folder, capsys):
    folder, _ = study_folder
    sway_batch(folder)
    assert capsys.readouterr().err == ""        # short batch, not a terminal: no bar
    sway_batch(folder, progress=True)
    assert "sway" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# assessments
# ---------------------------------------------------------------------------

def test_to_assessments(study_folder):
    folder, trials = study_folder
    batch = sway_batch(folder, trials, pattern="*.*")
    rows = sway_to_assessments(batch)
    assert list(rows.columns) == ["participant_id", "week", "measure", "value", "trial", "notes"]
    assert len(rows) == 3 * 3
    assert rows["measure"].tolist()[:3] == ["cop_velocity", "cop_ellipse_area", "cop_mean_frequency"]
    mm_row = batch.metrics.iloc[2]
    p02 = rows[rows["participant_id"] == "P02"].set_index("measure")
    assert p02.loc["cop_velocity", "value"] == pytest.approx(mm_row["mean_velocity"] / 10, rel=1e-15)
    assert p02.loc["cop_ellipse_area", "value"] == pytest.approx(mm_row["ellipse_area_95"] / 100, rel=1e-15)
    assert p02.loc["cop_mean_frequency", "value"] == pytest.approx(mm_row["mean_frequency"], rel=1e-15)
    assert "mm converted to cm" in p02.loc["cop_velocity", "notes"]
    assert "converted" not in p02.loc["cop_mean_frequency", "notes"]
    assert rows["trial"].tolist()[::3] == [1, 2, 1]
    pd.testing.assert_frame_equal(batch.to_assessments(), rows)


def test_to_assessments_fits_the_study_schema(study_folder):
    schema = pytest.importorskip("backwalk_study.data.schema")
    folder, trials = study_folder
    rows = sway_to_assessments(sway_batch(folder, trials, pattern="*.*"))
    schema.AssessmentsSchema.validate(rows, lazy=True)


def test_to_assessments_in_catalogue_units():
    from backwalk_study.data.measures import default_catalogue

    catalogue = default_catalogue()
    assert catalogue["cop_velocity"].unit == "cm/s"
    assert catalogue["cop_ellipse_area"].unit == "cm^2"
    assert catalogue["cop_mean_frequency"].unit == "Hz"


def test_to_assessments_numbering_direction_notes_and_errors(study_folder):
    folder, trials = study_folder
    batch = sway_batch(folder, trials.drop(columns="trial").assign(
        direction=["backward", "forward", "backward", "backward", "backward"]), pattern="*.*")
    rows = sway_to_assessments(batch, direction_col="direction", notes_col="vision",
                               measures=["cop_velocity"])
    assert rows["trial"].tolist() == [1, 1, 1]        # numbered within participant, week, direction
    assert rows["direction"].tolist() == ["backward", "forward", "backward"]
    assert rows["notes"].iloc[1].startswith("closed; COP from p01_w0_t2.txt")
    filtered = sway_batch(folder, trials, pattern="*.*", lowpass_hz=10)
    assert "low-pass 10 Hz (order 4)" in sway_to_assessments(filtered)["notes"].iloc[0]
    with pytest.raises(ValueError, match="participant_id"):
        sway_to_assessments(sway_batch(folder, pattern="*.*"))
    with pytest.raises(ValueError, match="unknown sway measures"):
        sway_to_assessments(batch, measures=["cop_path"])
    with pytest.raises(ValueError, match="whole number"):
        sway_to_assessments(batch.metrics.assign(week=0.5))
    with pytest.raises(ValueError, match="participant id is missing for file 'p01_w0_t1.txt'"):
        sway_to_assessments(batch.metrics.assign(participant_id=[None, "P01", "P02"]))
