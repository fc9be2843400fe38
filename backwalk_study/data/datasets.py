"""Small real data sets for examples, teaching and tests.

Every docstring example that needs data takes it from here, so that no
example fakes its input.

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

``sleepstudy`` and ``orthodont`` were exported from R with
``tests/reference/mixed_real.R``, ``anorexia`` and ``sleep`` (long, as
``compare_real_anorexia.csv`` and ``compare_real_sleep.csv``) with
``tests/reference/compare.R`` (``write.csv(..., row.names = FALSE)``),
subject IDs kept as text.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["sleepstudy", "orthodont", "anorexia", "sleep"]


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
