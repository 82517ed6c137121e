"""The learned magnifiers physio ships, by method name: weights file, label and one-line help.

Torch-free (the command line lists the methods without importing torch); :mod:`.nets` holds the
classes, :mod:`.weights` finds the files in ``models/``, :mod:`physio.magnify.registry` makes each a
``physio magnify --method NAME``.  The names are a public contract.
"""

from __future__ import annotations

__all__ = ["LEARNED", "LearnedEntry", "model_file", "label"]


class LearnedEntry(tuple):
    """``(file, label, help)``."""

    __slots__ = ()

    def __new__(cls, file: str, label: str, help: str):  # noqa: A002 - the registry's word
        return super().__new__(cls, (file, label, help))

    file = property(lambda self: self[0])
    label = property(lambda self: self[1])
    help = property(lambda self: self[2])


LEARNED: dict[str, LearnedEntry] = {
    "oh": LearnedEntry("oh2018.pt", "Oh et al.", "learning-based motion magnification (Oh et al. 2018)"),
    "lwmm-m1": LearnedEntry("lwmm_m1.pt", "LW-MM M1", "lightweight proxy-trained magnifier M1, C=24 (Singh et al. 2023)"),
    "lwmm-m2": LearnedEntry("lwmm_m2.pt", "LW-MM M2", "lightweight proxy-trained magnifier M2, C=8 (Singh et al. 2023)"),
    "kldnas-sm1": LearnedEntry("kldnas_sm1.pt", "KL-DNAS SM1", "latency-aware NAS student SM1 of LW-MM M1, searched for 0.45x the teacher's latency (Singh et al. TNNLS 2024, thesis ch. 4)"),
    "kldnas-sm2": LearnedEntry("kldnas_sm2.pt", "KL-DNAS SM2", "latency-aware NAS student SM2 of LW-MM M1, searched for 0.49x the teacher's latency (Singh et al. TNNLS 2024, thesis ch. 4)"),
    "mdmm-d1": LearnedEntry("mdmm_d1.pt", "MD-MM D1", "multi-domain magnifier D1, f=16: Fourier phase/amplitude manipulators + spatial multi-scale texture correction (Singh et al. CVPR 2023, thesis ch. 5)"),
    "mdmm-d2": LearnedEntry("mdmm_d2.pt", "MD-MM D2", "multi-domain magnifier D2, f=10: Fourier phase/amplitude manipulators + spatial multi-scale texture correction (Singh et al. CVPR 2023, thesis ch. 5)"),
    "sigma-theta": LearnedEntry("sigma_theta.pt", "σ-θ Net", "learnable directional scale-space filters + multi-scale channel-compression decoder, c=12 (Singh, thesis ch. 6)"),
    "hmn-m1": LearnedEntry("hmn_m1.pt", "HMN M1", "hierarchical magnification network M1, c=24, edge-difference multi-scale manipulators (Singh, thesis ch. 7)"),
    "hmn-m2": LearnedEntry("hmn_m2.pt", "HMN M2", "hierarchical magnification network M2, c=8, edge-difference multi-scale manipulators (Singh, thesis ch. 7)"),
}
"""Method name → entry, in the order the thesis introduces them."""


def model_file(name: str) -> str:
    return LEARNED[name].file


def label(name: str) -> str:
    return LEARNED[name].label
