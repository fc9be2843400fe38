"""Data sets for examples, teaching and tests.

Every docstring example that needs data takes it from here, so that no
example fakes its input.

Real data:

- :func:`sleepstudy`: lme4's ``sleepstudy`` (Belenky et al. 2003): reaction
  time of 18 people over 10 days of sleep restriction, the classic growth
  curve of ``lmer``'s documentation.
- :func:`orthodont`: nlme's ``Orthodont`` (Potthoff & Roy 1964): a jaw
  distance measured at ages 8, 10, 12 and 14 in 16 boys and 11 girls.
- :func:`anorexia`: MASS's ``anorexia`` (Hand et al. 1994): weight of 72
  young women before and after cognitive behavioural therapy, family
  therapy or control, a three-arm trial with baseline and follow-up.
- :func:`sleep`: R's ``sleep`` (Cushny & Peebles 1905): extra hours of sleep
  of 10 patients on each of two drugs, a paired comparison.
- :func:`balance_data`: the public balance data set of Santos & Duarte
  (2016), read from ``../shared/data/bds`` when present.

``sleepstudy`` and ``orthodont`` were exported from R with
``tests/reference/mixed_real.R``, ``anorexia`` and ``sleep`` (long, as
``compare_real_anorexia.csv`` and ``compare_real_sleep.csv``) with
``tests/reference/compare.R`` (``write.csv(..., row.names = FALSE)``),
subject IDs kept as text.

SYNTHETIC data (made by :func:`~backwalk_study.data.simulate.simulate_study`,
not observations of people):

- :func:`example_study`: the example trial in ``data/example`` (90
  participants, three arms, 12 weeks);
- :func:`small_trial`: twelve participants of it, one measure, in long form.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import pandas as pd

__all__ = ["sleepstudy", "orthodont", "anorexia", "sleep", "example_study", "small_trial",
           "balance_data", "repository_root"]

#: Where the public balance data set is looked for, relative to the repository.
BDS_RELATIVE = Path("..") / "shared" / "data" / "bds"


def repository_root() -> Path:
    """The source checkout this package is in (the folder holding ``data/``
    and ``notebooks/``); an installed package has none."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "data" / "example").is_dir():
        raise FileNotFoundError(
            "the example data ship with the source checkout, not with an installed package: clone the "
            "repository, or write the example with `backwalk simulate FOLDER` and load it with load_study")
    return root


def example_study():
    """The SYNTHETIC example study in ``data/example``.

    Returns
    -------
    Study
        90 participants randomised to backward walking, forward walking and
        usual care, assessed at weeks 0, 4, 8 and 12, with a session log.
        ``config.synthetic`` is True: these are not observations of people.

    Examples
    --------
    >>> from backwalk_study.data.datasets import example_study
    >>> study = example_study()
    >>> study.config.synthetic, len(study.participants)
    (True, 90)
    """
    from .study import load_study

    return load_study(repository_root() / "data" / "example")


def small_trial(measure: str = "berg"):
    """Twelve participants of the SYNTHETIC example study (four per arm), one
    measure, in long form.

    Parameters
    ----------
    measure : str
        Catalogue key of the measure (default ``"berg"``, the Berg Balance
        Scale). Walked tests keep both walking directions.

    Returns
    -------
    pandas.DataFrame
        One row per assessment: ``participant_id``, ``week``, ``measure``,
        ``value``, ``direction``, ``trial``, ``arm``, ``condition``,
        ``age_years``, ``sex`` and the other columns of
        :meth:`Study.long <backwalk_study.data.study.Study.long>`;
        ``attrs["synthetic"]`` is True.

    Examples
    --------
    >>> from backwalk_study.data.datasets import small_trial
    >>> trial = small_trial()
    >>> trial.groupby("arm")["participant_id"].nunique().to_dict()
    {'backward': 4, 'control': 4, 'forward': 4}
    >>> sorted(trial["week"].unique().tolist())
    [0, 4, 8, 12]
    """
    study = example_study()
    arms = study.participants.sort_values("participant_id").groupby("arm").head(4)
    long = study.long(measure)
    long = long[long["participant_id"].isin(set(arms["participant_id"]))].reset_index(drop=True)
    long.attrs["synthetic"] = True
    return long


def balance_data(path: str | os.PathLike | None = None):
    """The public balance data set of Santos & Duarte (2016), imported with
    ``data/mappings/santos_duarte_2016.toml``.

    Real measurements (CC BY 4.0): 163 people standing on a force plate
    with eyes open or closed, on a firm surface or foam. The set is not
    copied into this repository; get it from PhysioNet
    (doi:10.13026/C2WW2W) into ``../shared/data/bds``.

    Parameters
    ----------
    path : path, optional
        ``BDSinfoCOP.txt`` or the folder holding it (default:
        ``../shared/data/bds`` beside the repository).

    Returns
    -------
    Study
        One participant per person, sway measures per trial with the
        condition columns ``vision`` and ``surface``.

    Raises
    ------
    FileNotFoundError
        The data set is not there (the message says where it was looked for
        and where to get it).

    References
    ----------
    Santos DA, Duarte M (2016). A public data set of human balance
    evaluations. PeerJ 4:e2648. doi:10.7717/peerj.2648

    Examples
    --------
    >>> from backwalk_study.data.datasets import balance_data
    >>> bds = balance_data()                     # doctest: +SKIP
    >>> bds.participants["participant_id"].nunique()  # doctest: +SKIP
    163
    """
    from .wide import import_wide

    root = repository_root()
    where = Path(path) if path is not None else root / BDS_RELATIVE
    info = where / "BDSinfoCOP.txt" if where.is_dir() or not where.suffix else where
    if not info.is_file():
        raise FileNotFoundError(
            f"the public balance data set is not at {info}: download BDSinfoCOP.txt from PhysioNet "
            "(doi:10.13026/C2WW2W, Santos & Duarte 2016) into ../shared/data/bds beside the repository, "
            "or pass its path")
    return import_wide(info, root / "data" / "mappings" / "santos_duarte_2016.toml")


def _read(name: str) -> pd.DataFrame:
    path = resources.files("backwalk_study.data").joinpath("_datasets", name)
    with resources.as_file(path) as file:
        return pd.read_csv(file, dtype={"Subject": str, "participant_id": str, "patient": str})


def sleepstudy() -> pd.DataFrame:
    """lme4's ``sleepstudy``: Reaction (ms), Days (0-9), Subject (18 people).

    References
    ----------
    Belenky, G., et al. (2003). Patterns of performance degradation and
    restoration during sleep restriction and subsequent recovery: a sleep
    dose-response study. *Journal of Sleep Research*, 12, 1-12.
    https://doi.org/10.1046/j.1365-2869.2003.00337.x

    Examples
    --------
    >>> from backwalk_study.data.datasets import sleepstudy
    >>> sleepstudy().shape
    (180, 3)
    """
    return _read("sleepstudy.csv")


def orthodont() -> pd.DataFrame:
    """nlme's ``Orthodont``: distance (mm), age (years), Subject, Sex.

    References
    ----------
    Potthoff, R. F., & Roy, S. N. (1964). A generalized multivariate analysis
    of variance model useful especially for growth curve problems.
    *Biometrika*, 51, 313-326. https://doi.org/10.1093/biomet/51.3-4.313

    Examples
    --------
    >>> from backwalk_study.data.datasets import orthodont
    >>> orthodont().groupby("Sex")["Subject"].nunique().to_dict()
    {'Female': 11, 'Male': 16}
    """
    return _read("orthodont.csv")


def anorexia() -> pd.DataFrame:
    """MASS's ``anorexia``, long: participant_id, arm (``CBT``, ``Cont``,
    ``FT``), visit (0 before, 1 after treatment), weight_lb (pounds).

    References
    ----------
    Hand, D. J., Daly, F., McConway, K., Lunn, D., & Ostrowski, E. (1994).
    *A Handbook of Small Data Sets*. Chapman & Hall, data set 285.

    Examples
    --------
    >>> from backwalk_study.data.datasets import anorexia
    >>> anorexia().groupby("arm")["participant_id"].nunique().to_dict()
    {'CBT': 29, 'Cont': 26, 'FT': 17}
    """
    return _read("anorexia.csv")


def sleep() -> pd.DataFrame:
    """R's ``sleep``, long: patient (``S01``-``S10``), drug (``drug1``,
    ``drug2``), extra_hours (increase in hours of sleep).

    References
    ----------
    Cushny, A. R., & Peebles, A. R. (1905). The action of optical isomers:
    II. Hyoscines. *The Journal of Physiology*, 32, 501-510.

    Examples
    --------
    >>> from backwalk_study.data.datasets import sleep
    >>> sleep().groupby("drug")["extra_hours"].mean().round(2).to_dict()
    {'drug1': 0.75, 'drug2': 2.33}
    """
    return _read("sleep.csv")
