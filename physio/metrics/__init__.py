"""Metrics: numbers from results, never printed.

* :mod:`physio.metrics.rates` — MAE, RMSE, MAPE, Pearson r, SNR with standard errors; Bland–Altman;
* :mod:`physio.metrics.magnification` — gain, fidelity, leakage, PSNR/SSIM, per-pixel correlation.
"""
