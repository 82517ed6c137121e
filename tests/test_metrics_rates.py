"""Tests for physio.metrics.rates (hand-computed values) and physio.figures.rates (figures render)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from physio.metrics import rates as M
from physio.errors import InputError, PhysioWarning

PRED = [70.0, 80.0, 90.0, 100.0]
REF = [72.0, 78.0, 95.0, 100.0]
# errors e = pred - ref = [-2, 2, -5, 0]; |e| = [2, 2, 5, 0]; e^2 = [4, 4, 25, 0]


def test_mae_hand():
    # mean |e| = 9/4; population SD of |e| = sqrt(((.25)^2*2 + 2.75^2 + 2.25^2)/4) = sqrt(3.1875)
    est = M.mae(PRED, REF)
    assert est.value == pytest.approx(2.25)
    assert est.se == pytest.approx(math.sqrt(3.1875) / 2.0)


def test_rmse_hand_both_conventions():
    # MSE = 33/4 = 8.25; SD(e^2) = sqrt((4.25^2*2 + 16.75^2 + 8.25^2)/4) = sqrt(96.1875)
    se_mse = math.sqrt(96.1875) / 2.0
    delta = M.rmse(PRED, REF)
    assert delta.value == pytest.approx(math.sqrt(8.25))
    assert delta.se == pytest.approx(se_mse / (2.0 * math.sqrt(8.25)))
    toolbox = M.rmse(PRED, REF, se_convention="rppg-toolbox")
    assert toolbox.value == delta.value
    assert toolbox.se == pytest.approx(math.sqrt(se_mse))
    assert M.rmse([1.0, 2.0], [1.0, 2.0]) == M.Estimate(0.0, 0.0)


def test_mape_hand():
    rel = np.array([2 / 72, 2 / 78, 5 / 95, 0.0])
    est = M.mape(PRED, REF)
    assert est.value == pytest.approx(100 * rel.mean())
    assert est.se == pytest.approx(100 * np.sqrt(((rel - rel.mean()) ** 2).mean()) / 2.0)


def test_pearson_hand():
    # deviations x: [-1, 0, 1], y: [-1, 1, 0]: r = Σxy / sqrt(Σx² Σy²) = 1/2; SE = sqrt((1 - 1/4) / (3 - 2))
    est = M.pearson_r([1.0, 2.0, 3.0], [1.0, 3.0, 2.0])
    assert est.value == pytest.approx(0.5)
    assert est.se == pytest.approx(math.sqrt(0.75))
    perfect = M.pearson_r([60.0, 70.0, 80.0, 90.0], [61.0, 71.0, 81.0, 91.0])
    assert perfect.value == pytest.approx(1.0) and perfect.se == pytest.approx(0.0, abs=1e-7)


def test_mean_snr_hand():
    est = M.mean_snr([2.0, 4.0, 6.0, 8.0])
    assert est.value == pytest.approx(5.0)
    assert est.se == pytest.approx(math.sqrt(5.0) / 2.0)  # population variance (9+1+1+9)/4 = 5


def test_rate_metrics_bundle():
    res = M.rate_metrics(PRED, REF, snr_values_db=[2.0, 4.0, 6.0, 8.0])
    assert res.n == 4
    assert res.mae == M.mae(PRED, REF).value and res.rmse_se == M.rmse(PRED, REF).se
    assert res.pearson_r == pytest.approx(np.corrcoef(PRED, REF)[0, 1])
    assert res.snr_db == pytest.approx(5.0)
    d = res.as_dict()
    assert set(d) >= {"mae", "mae_se", "rmse", "rmse_se", "rmse_se_rppg_toolbox", "mape", "mape_se",
                      "pearson_r", "pearson_r_se", "snr_db", "snr_db_se"}
    with pytest.warns(PhysioWarning, match="Pearson r undefined"):
        small = M.rate_metrics([70.0, 80.0], [71.0, 79.0])
    assert math.isnan(small.pearson_r) and math.isnan(small.snr_db)
    assert small.mae == pytest.approx(1.0)


def test_bland_altman_hand():
    ba = M.bland_altman(PRED, REF)
    # d = [-2, 2, -5, 0]: mean -1.25; sample SD sqrt((0.75^2 + 3.25^2 + 3.75^2 + 1.25^2)/3) = sqrt(26.75/3)
    sd = math.sqrt(26.75 / 3)
    assert ba.mean_diff == pytest.approx(-1.25) and ba.sd_diff == pytest.approx(sd)
    assert ba.loa_low == pytest.approx(-1.25 - 1.96 * sd) and ba.loa_high == pytest.approx(-1.25 + 1.96 * sd)
    np.testing.assert_allclose(ba.means, [71.0, 79.0, 92.5, 100.0])
    np.testing.assert_allclose(ba.diffs, [-2.0, 2.0, -5.0, 0.0])


def test_metric_errors():
    with pytest.raises(InputError, match="same length"):
        M.mae([1.0, 2.0], [1.0])
    with pytest.raises(InputError, match="non-finite.*index 1"):
        M.rmse([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(InputError, match="MAPE undefined"):
        M.mape([1.0, 2.0], [0.0, 2.0])
    with pytest.raises(InputError, match="need at least 3"):
        M.pearson_r([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(InputError, match="constant"):
        M.pearson_r([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="valid: 'delta', 'rppg-toolbox'"):
        M.rmse(PRED, REF, se_convention="bootstrap")
    with pytest.raises(InputError, match="need at least 1"):
        M.mae([], [])
    with pytest.raises(InputError, match="1-D"):
        M.mae([[1.0]], [[1.0]])


# ----------------------------------------------------------------------------------- plots
def test_plots_render(tmp_path):
    plots = pytest.importorskip("physio.figures.rates")
    path = tmp_path / "ba.png"
    fig = plots.bland_altman_plot(PRED, REF, path=path, title="test")
    assert path.stat().st_size > 1000 and len(fig.axes) == 1
    fig2 = plots.bland_altman_plot(stats=M.bland_altman(PRED, REF))
    assert len(fig2.axes[0].lines) == 3  # bias and two limits
    wave_path = tmp_path / "wave.png"
    t = np.arange(300) / 30
    plots.waveform_plot(np.sin(2 * np.pi * 1.2 * t), 30, reference=np.cos(2 * np.pi * 1.2 * t), path=wave_path)
    assert wave_path.stat().st_size > 1000
    with pytest.raises(InputError):
        plots.bland_altman_plot()
