"""Small real data sets for examples, teaching and tests.

Every docstring example that needs data takes it from here, so that no
example fakes its input.

- :func:`sleepstudy`: lme4's ``sleepstudy`` (Belenky et al. 2003): reaction
  time of 18 people over 10 days of sleep restriction, the classic growth
  curve of ``lmer``'s documentation.
- :func:`orthodont`: nlme's ``Orthodont`` (Potthoff & Roy 1964): a jaw
  distance measured at ages 8, 10, 12 and 14 in 16 boys and 11 girls.

Both were exported from R with ``tests/reference/mixed_real.R``
(``write.csv(..., row.names = FALSE)``), subject IDs kept as text.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["sleepstudy", "orthodont"]


def _read(name: str) -> pd.DataFrame:
    path = resources.files("backwalk_study.data").joinpath("_datasets", name)
    with resources.as_file(path) as file:
        return pd.read_csv(file, dtype={"Subject": str})


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
