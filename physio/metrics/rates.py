"""Rate-agreement metrics with standard errors (rPPG-Toolbox definitions) and Bland–Altman.

Inputs are paired rates (predicted, reference) in the same unit — bpm for pulse, breaths/min for
respiration — one pair per video or per window.  Functions return values; nothing is printed.
Standard deviations use ``ddof=0`` as rPPG-Toolbox's ``np.std`` does, except the Bland–Altman
limits of agreement, which use the sample SD (``ddof=1``) as Bland & Altman (1986) do.

References
----------
Liu et al. (2023), "rPPG-Toolbox", NeurIPS D&B (``evaluation/metrics.py``).
Bland & Altman (1986), "Statistical methods for assessing agreement between two methods of
clinical measurement", The Lancet 327(8476).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from physio.errors import InputError, PhysioWarning

__all__ = [
    "Estimate",
    "RateMetrics",
    "BlandAltman",
    "mae",
    "rmse",
    "mape",
    "pearson_r",
    "mean_snr",
    "rate_metrics",
    "bland_altman",
]


@dataclass(frozen=True)
class Estimate:
    """A value with its standard error (same unit)."""

    value: float
    se: float


def _check_1d(x, name: str, min_n: int = 1) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise InputError(f"{name} must be 1-D, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise InputError(f"{name} must be real numeric, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.size < min_n:
        raise InputError(f"{name} has {a.size} values; need at least {min_n}")
    bad = ~np.isfinite(a)
    if bad.any():
        raise InputError(f"{name} has {int(bad.sum())} non-finite values, first at index {int(np.flatnonzero(bad)[0])}")
    return a


def _check_pair(pred, ref, min_n: int = 1) -> tuple[np.ndarray, np.ndarray]:
    p = _check_1d(pred, "pred", min_n)
    r = _check_1d(ref, "ref", min_n)
    if p.shape != r.shape:
        raise InputError(f"pred and ref must have the same length, got {p.size} and {r.size}")
    return p, r


def mae(pred, ref) -> Estimate:
    """Mean absolute error ``mean|p - r|``; SE ``std|p - r| / sqrt(n)``.

    Parameters
    ----------
    pred, ref : array_like, shape (n,)
        Predicted and reference rates (same unit).
    """
    p, r = _check_pair(pred, ref)
    e = np.abs(p - r)
    return Estimate(float(e.mean()), float(e.std() / math.sqrt(e.size)))


def rmse(pred, ref, se_convention: str = "delta") -> Estimate:
    """Root-mean-square error ``sqrt(mean (p - r)²)`` with a standard error.

    With squared errors ``q = (p - r)²``, ``SE(MSE) = std(q) / sqrt(n)``.

    * ``se_convention="delta"`` (default): the delta method, ``SE(RMSE) = SE(MSE) / (2·RMSE)``
      (0 when RMSE is 0).
    * ``se_convention="rppg-toolbox"``: ``sqrt(SE(MSE))``, what rPPG-Toolbox's ``metrics.py``
      prints; it has the right unit but is not a standard error of RMSE.

    Parameters
    ----------
    pred, ref : array_like, shape (n,)
    se_convention : {"delta", "rppg-toolbox"}
    """
    if se_convention not in ("delta", "rppg-toolbox"):
        raise InputError(f"unknown se_convention {se_convention!r}; valid: 'delta', 'rppg-toolbox'")
    p, r = _check_pair(pred, ref)
    q = (p - r) ** 2
    value = math.sqrt(q.mean())
    se_mse = q.std() / math.sqrt(q.size)
    if se_convention == "delta":
        se = se_mse / (2.0 * value) if value > 0 else 0.0
    else:
        se = math.sqrt(se_mse)
    return Estimate(value, float(se))


def mape(pred, ref) -> Estimate:
    """Mean absolute percentage error ``100·mean|p - r|/|r|`` (%); SE ``100·std(|p - r|/|r|)/sqrt(n)``.

    rPPG-Toolbox divides by ``r`` (not ``|r|``); rates are positive, so they agree.

    Raises
    ------
    InputError
        If any reference value is 0.
    """
    p, r = _check_pair(pred, ref)
    if (r == 0).any():
        raise InputError(f"ref has zero values (index {int(np.flatnonzero(r == 0)[0])}); MAPE undefined")
    e = np.abs(p - r) / np.abs(r)
    return Estimate(float(100.0 * e.mean()), float(100.0 * e.std() / math.sqrt(e.size)))


def pearson_r(pred, ref) -> Estimate:
    """Pearson correlation ``r``; SE ``sqrt((1 - r²) / (n - 2))`` (rPPG-Toolbox).

    Raises
    ------
    InputError
        Fewer than 3 pairs, or a constant input (r undefined).
    """
    p, r = _check_pair(pred, ref, min_n=3)
    if p.std() == 0 or r.std() == 0:
        raise InputError("pearson_r undefined: pred or ref is constant")
    value = float(np.corrcoef(p, r)[0, 1])
    value = max(-1.0, min(1.0, value))
    return Estimate(value, math.sqrt((1.0 - value**2) / (p.size - 2)))


def mean_snr(snr_values_db) -> Estimate:
    """Mean SNR (dB) over videos/windows; SE ``std / sqrt(n)`` (rPPG-Toolbox).

    Parameters
    ----------
    snr_values_db : array_like, shape (n,)
        Per-video SNR in dB, e.g. from :func:`physio.rates.waveform.snr_db`.
    """
    s = _check_1d(snr_values_db, "snr_values_db")
    return Estimate(float(s.mean()), float(s.std() / math.sqrt(s.size)))


@dataclass(frozen=True)
class RateMetrics:
    """All rate-agreement metrics; each ``*_se`` is the standard error of the field before it.

    Units: ``mae``, ``rmse`` in the unit of the rates (bpm, breaths/min); ``mape`` in %;
    ``pearson_r`` unitless; ``snr_db`` in dB.  ``pearson_r`` is NaN for n < 3 or a constant input;
    ``snr_db`` is NaN when no SNR values were given.
    """

    n: int
    mae: float
    mae_se: float
    rmse: float
    rmse_se: float
    rmse_se_rppg_toolbox: float
    mape: float
    mape_se: float
    pearson_r: float
    pearson_r_se: float
    snr_db: float
    snr_db_se: float

    def as_dict(self) -> dict[str, float]:
        """Plain ``dict`` (for JSON/CSV reports)."""
        return asdict(self)


def rate_metrics(pred, ref, snr_values_db=None) -> RateMetrics:
    """MAE, RMSE, MAPE, Pearson r and mean SNR, each with its standard error.

    Parameters
    ----------
    pred, ref : array_like, shape (n,)
        Predicted and reference rates (same unit), one pair per video or window.
    snr_values_db : array_like, shape (m,), optional
        Per-video SNRs in dB.

    Returns
    -------
    RateMetrics
    """
    p, r = _check_pair(pred, ref)
    a, m = mae(p, r), mape(p, r)
    rm, rm_tb = rmse(p, r, "delta"), rmse(p, r, "rppg-toolbox")
    if p.size >= 3 and p.std() > 0 and r.std() > 0:
        pr = pearson_r(p, r)
    else:
        warnings.warn(f"Pearson r undefined (n={p.size}, or a constant input); reported as NaN", PhysioWarning, stacklevel=2)
        pr = Estimate(float("nan"), float("nan"))
    sn = mean_snr(snr_values_db) if snr_values_db is not None else Estimate(float("nan"), float("nan"))
    return RateMetrics(
        n=int(p.size),
        mae=a.value,
        mae_se=a.se,
        rmse=rm.value,
        rmse_se=rm.se,
        rmse_se_rppg_toolbox=rm_tb.se,
        mape=m.value,
        mape_se=m.se,
        pearson_r=pr.value,
        pearson_r_se=pr.se,
        snr_db=sn.value,
        snr_db_se=sn.se,
    )


@dataclass(frozen=True)
class BlandAltman:
    """Bland–Altman agreement statistics.

    Attributes
    ----------
    means : numpy.ndarray, shape (n,)
        ``(pred + ref) / 2`` per pair (x axis of the plot).
    diffs : numpy.ndarray, shape (n,)
        ``pred - ref`` per pair (y axis).
    mean_diff : float
        Bias, ``mean(diffs)``.
    sd_diff : float
        Sample SD of ``diffs`` (ddof=1).
    loa_low, loa_high : float
        Limits of agreement ``mean_diff ∓ z·sd_diff``.
    z : float
        Multiplier (1.96 for 95 %).
    """

    means: np.ndarray
    diffs: np.ndarray
    mean_diff: float
    sd_diff: float
    loa_low: float
    loa_high: float
    z: float


def bland_altman(pred, ref, z: float = 1.96) -> BlandAltman:
    """Bland–Altman bias and limits of agreement of ``pred`` against ``ref``.

    Parameters
    ----------
    pred, ref : array_like, shape (n,), n >= 2
    z : float
        LoA multiplier (1.96 for 95 % under normal differences).

    Returns
    -------
    BlandAltman
    """
    p, r = _check_pair(pred, ref, min_n=2)
    if not (math.isfinite(z) and z > 0):
        raise InputError(f"z must be > 0, got {z!r}")
    d = p - r
    bias, sd = float(d.mean()), float(d.std(ddof=1))
    return BlandAltman((p + r) / 2.0, d, bias, sd, bias - z * sd, bias + z * sd, float(z))
