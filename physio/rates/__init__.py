"""Rates: from a video's regions to heart and breathing rate.

* :mod:`physio.rates.methods` — the estimators by name (the one list; light, for the command line);
* :mod:`physio.rates.rppg` — classical rPPG on the skin's mean colour (GREEN, CHROM, POS);
* :mod:`physio.rates.motion` — the torso's vertical motion (the network-free breathing signal);
* :mod:`physio.rates.waveform` — waveform → rate (detrend, band-pass, spectral peak), SNR;
* :mod:`physio.rates.measure` — video → regions → signal → rates (`physio rates`).
"""
