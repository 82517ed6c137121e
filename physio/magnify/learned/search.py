"""The KL-DNAS search (Singh, thesis ch. 4): latency lookup table, search by parts with distillation.

``physio train-magnifier search --config configs/kldnas_sm1.yaml -o RUN [--resume]`` runs
:func:`run_search`:

1. **Teacher** — the shipped LW-MM M1 (:class:`~.nets.LWMMNet`, ``models/lwmm_m1.pt``), frozen.  The
   student keeps its widths (``c`` is read from the teacher), see :mod:`.kldnas`.  The thesis' teacher
   is trained without noise; the shipped M1 was trained on noisy inputs with its noise-free proxy's
   feature loss (ch. 3) — the case of the thesis' Fig. 4.38 (a noisy-trained teacher).
2. **Latency lookup table** (:func:`measure_lut`, FBNet-style) — on this machine, at ``lut.size`` ²
   pixels, batch 1 per stream, ``lut.threads`` threads: the time of every Layer-(R) op and Layer-(C)
   link at each stage's shape (every layer of a stage has the same shape; encoder stages are timed at
   batch 2 because both streams run them), the fixed (non-searched) computations of each part, the
   teacher's whole forward and the teacher-like student's (:func:`.kldnas.teacher_like_genotype`) whole
   forward.  Everything is timed round-robin — ``lut.warmup`` rounds, then ``lut.repeats`` rounds that
   time each entry once — and the table keeps the minimum (``lut.stat: median`` is available): on this
   shared 2-core machine other processes' load comes in bursts, and round-robin + min keeps a burst
   from spoiling one op's entry.  ``lut.cuda``: the same table on CUDA too when a GPU is present
   (recorded; the search uses the table of ``lut.device``).  Expected latency of a part = fixed +
   Σ_layers Σ_o softmax(α)_o · LUT_o (+ the same over each link), differentiable in α.
   ``L_lat = |log(latency / target)|`` (Eq. 4.11).
3. **Targets** — the thesis' students relative to its teacher at 720×720 (Table 4.1: SM1 64 ms / TM
   142 ms = 0.45, SM2 69 / 142 = 0.49; ``target_ratio``) times the teacher's whole-forward time measured
   here.  A table sum is not a whole network's time (separate ops in a warm loop, no glue between them;
   whole/sum was 0.9–1.8 in trials here, depending on the load), and the teacher is not in the search
   space, so the target is brought to table units with ``scale`` = the teacher-like student's whole time
   / its table sum (a reference network *in* the space): ``target_lut = ratio × teacher / scale``.  The
   total is split over the parts in proportion to the teacher's part multiply-accumulates
   (:func:`teacher_part_macs`; timing the parts separately cost more than the split is worth).  After
   a part is searched, its unused budget (target − the discrete part's table latency, when positive)
   passes to the next part's target.  An overspend is not charged to the later parts (the thesis passes
   unused budget only; charging it starved the manipulator in a trial), so the total can exceed the
   target by it; ``search.json`` reports both.  A part's target never drops below 1.05 × its fixed
   cost.
4. **Search by parts, serially** (thesis Fig. 4.2; student inputs noisy, teacher inputs clean):

   * *encoder*: ``L_E = L_mag(D_T(A_T(E'_S) + M_T((E_Sa − E_Sb)·α)), Y) + λ4·KD_E + L_lat`` with
     ``KD_E = |E_T(X) − E_S(x)|`` summed over both streams and over ``E`` *and* ``E'`` (the thesis
     distils ``E``; here the appearance encoder's input ``E'`` is an encoder output as well);
   * *manipulator + appearance*: searched encoder ``E*`` (hard path, its weights keep training) →
     ``L_{M,A} = L_mag(D_T(A_S + M_S), Y) + λ4·(|A_T(E_T(X)) − A_S(E*(x))| + |M_T(…) − M_S(…)|) + L_lat``;
   * *decoder*: ``L_D = L_mag(D_S(A* + M*), Y) + L_lat``.

   ``L_mag`` = thesis Eq. 4.1 with the weights of the ``train.loss`` section: ``10·L1 + 0.1·L_p +
   L_edge + L_A`` (``L_p`` = 1 − MS-SSIM without VGG-16 weights, :mod:`.losses`); ``L_A`` uses the
   teacher's ``phi`` head on whichever appearance features feed the prediction (L^KD_mag is undefined
   in the thesis; digest note 4: ``L_mag`` of the student's prediction).  ``λ4 = 0.1``
   (``search.kd_weight``).
5. **First-order DARTS** — every step updates the weights (Adam, ``search.lr``) on a batch of the
   *train* half of the sample pool and then the current part's α (Adam, ``search.arch_lr``, betas
   (0.5, 0.999), weight decay ``search.arch_weight_decay``, as DARTS) on a batch of the *validation*
   half, with ``L_lat`` added; the first ``search.warmup`` fraction of a part's steps update the
   weights only (α of untrained ops says nothing).  The softmax temperature of the part's layers is
   annealed exponentially from ``search.tau[0]`` to ``search.tau[1]`` over its α steps (1 → 0.1; FBNet
   and GDAS anneal too): with ~100 α steps instead of DARTS' ~10⁴, α would otherwise stay near uniform,
   and the discrete path would have little to do with the mixture the latency loss balanced.  The
   part then becomes its discrete path (:meth:`.kldnas.KLDNASSupernet.fix`, the argmax rule in
   :mod:`.kldnas`).  The thesis gives no α optimiser, split, or epochs (digest
   note 4); its search took 200 GPU-hours.
6. **Student training** — the discrete genotype is *re-initialised* (as DARTS does) and trained by the
   shared loop :func:`.train.train_magnifier` with the ``train`` section (arch ``kldnas-sm1``/``-sm2``,
   ``arch_args = {genotype, c}``) into ``RUN/student``; ``physio train-magnifier export RUN/student
   models/kldnas_sm1.pt`` ships it.  The student's loss is the teacher's Eq. 4.1 (``L_A`` through the
   student's own ``phi``); no teacher features are used once the architecture is fixed.
7. ``RUN/search.json`` — genotype, LUT, targets per part, expected latency of the discrete student
   (table sum, and × ``scale``) and its measured whole-forward time (timed round-robin with the teacher
   again, at the LUT's resolution, threads and statistic), parameters and GFLOPs vs the thesis, the
   softmax(α) of every layer at the end of its part, histories and wall times.

Data: a fixed pool of ``search.pool`` samples from the training data generator at ``search.size``
pixels (the ``train.data`` settings), split in two halves as DARTS splits its training set; input noise
(``train.noise``) is drawn afresh each step from a generator seeded by ``(seed, step)``.  Generating
the pool once bounds the data cost (≈ 40 ms a 32-px sample here).

Resumable: ``RUN/search_state.pt`` (supernet, α, optimisers, LUT, finished parts) is written every
``search.checkpoint_every`` steps and after each part (atomic); ``--resume`` continues from it, then
the student training resumes from its own checkpoint.

Reductions for the CPU budget (all stated in ``configs/kldnas_sm1.yaml``): 14 searchable layers
instead of 33, links to at most 2 earlier own features, 32-px crops, batch 4, 80–120 steps per part
(the thesis searched to convergence, 200 GPU-hours), a 384-sample pool, a 192×192 lookup table (thesis
targets: 384×384).  ``lut.file`` reuses an earlier run's tables (same space) instead of measuring.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from physio.atomic import atomic_torch_save, atomic_write_text
from physio.errors import DivergenceError, InputError
from physio.magnify.learned.complexity import complexity
from physio.magnify.learned.data import SynthConfig, make_batch, open_pairs
from physio.magnify.learned.kldnas import (
    DEFAULT_LAYERS, DEFAULT_MAX_LINKS, LINKS, OPS, PARTS, PUBLISHED, STAGES, KLDNASNet, KLDNASSupernet, stage_width,
    teacher_like_genotype,
)
from physio.magnify.learned.losses import PerceptualLoss, edge_loss
from physio.magnify.learned.nets import LWMMNet
from physio.magnify.learned.train import MagTrainConfig, train_magnifier
from physio.magnify.learned.weights import default_weights_path, load_weights
from physio.nets.registry import read_torch_file

__all__ = ["LUTSettings", "SearchSettings", "KLDNASConfig", "measure_lut", "measure_latency", "teacher_part_macs",
           "expected_latency", "genotype_latency", "latency_loss", "part_targets", "layer_table", "run_search",
           "STATE_FORMAT", "THESIS_RATIOS"]

STATE_FORMAT = "physio-kldnas-search"
THESIS_RATIOS = {"kldnas-sm1": 64 / 142, "kldnas-sm2": 69 / 142}
"""Thesis Table 4.1: student latency / teacher latency at 720×720 on an RTX 2080."""


@dataclass
class LUTSettings:
    """The latency lookup table (``lut:`` in the config)."""

    size: int = 192  # frame side in pixels (the thesis' targets are at 384, its Table 4.1 at 720)
    repeats: int = 10  # rounds, each timing every entry once (round-robin)
    warmup: int = 1
    threads: int = 2
    stat: str = "min"  # min | median of the repeats (min: the least-disturbed run on a shared machine)
    device: str = "cpu"  # the table the latency loss uses
    cuda: bool = True  # also measure on CUDA when a GPU is present
    file: str = ""  # take the tables from an earlier run's search.json instead of measuring (same space)

    def __post_init__(self) -> None:
        if self.size < 8 or self.size % 2:
            raise InputError(f"lut.size must be even and ≥ 8, got {self.size}")
        if self.repeats < 1 or self.warmup < 0 or self.threads < 0:
            raise InputError("lut.repeats ≥ 1, lut.warmup ≥ 0 and lut.threads ≥ 0 required")
        if self.stat not in ("min", "median"):
            raise InputError(f"lut.stat must be min or median, got {self.stat!r}")


@dataclass
class SearchSettings:
    """The search loop (``search:`` in the config)."""

    size: int = 32  # crop side in pixels
    batch: int = 4
    pool: int = 384  # samples generated once; half for the weights, half for α
    steps: tuple[int, ...] = (80, 120, 120)  # per part: encoder, manipulator + appearance, decoder
    warmup: float = 0.3  # fraction of a part's steps that update the weights only
    tau: tuple[float, ...] = (1.0, 0.1)  # softmax temperature, annealed exponentially over a part's alpha steps
    lr: float = 1e-3
    arch_lr: float = 3e-2  # DARTS: 3e-4 over ~10^4 steps; here ~10^2
    arch_weight_decay: float = 1e-3
    kd_weight: float = 0.1  # λ4
    lat_weight: float = 1.0
    seed: int = 0
    checkpoint_every: int = 50
    log_every: int = 10

    def __post_init__(self) -> None:
        self.steps = tuple(int(s) for s in self.steps)
        if len(self.steps) != len(PARTS) or min(self.steps) < 1:
            raise InputError(f"search.steps must give ≥ 1 step for each of the {len(PARTS)} parts, got {self.steps}")
        if self.size < 16 or self.size % 4:
            raise InputError(f"search.size must be a multiple of 4 and ≥ 16, got {self.size}")
        if self.batch < 1 or self.pool < 2 * self.batch:
            raise InputError("search.batch ≥ 1 and search.pool ≥ 2 × batch required")
        if not 0 <= self.warmup < 1:
            raise InputError(f"search.warmup must be in [0, 1), got {self.warmup}")
        self.tau = tuple(float(t) for t in self.tau)
        if len(self.tau) != 2 or min(self.tau) <= 0:
            raise InputError(f"search.tau must be (start, end) > 0, got {self.tau}")
        if min(self.lr, self.arch_lr) <= 0 or min(self.kd_weight, self.lat_weight, self.arch_weight_decay) < 0:
            raise InputError("search: lr, arch_lr > 0 and kd_weight, lat_weight, arch_weight_decay ≥ 0 required")


@dataclass
class KLDNASConfig:
    """A KL-DNAS search + student training (``configs/kldnas_sm1.yaml``, ``configs/kldnas_sm2.yaml``)."""

    name: str = "kldnas_sm1"
    teacher: str = ""  # LW-MM weights; "" = the shipped models/lwmm_m1.pt
    target_ratio: float = THESIS_RATIOS["kldnas-sm1"]
    layers: dict = field(default_factory=lambda: dict(DEFAULT_LAYERS))
    max_links: int = DEFAULT_MAX_LINKS
    tap: int = 1
    search: SearchSettings = field(default_factory=SearchSettings)
    lut: LUTSettings = field(default_factory=LUTSettings)
    train: MagTrainConfig = field(default_factory=lambda: MagTrainConfig(name="kldnas_sm1", arch="kldnas-sm1"))
    threads: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if isinstance(self.search, dict):
            self.search = SearchSettings(**self.search)
        if isinstance(self.lut, dict):
            self.lut = LUTSettings(**self.lut)
        if isinstance(self.train, dict):
            self.train = MagTrainConfig(**self.train)
        if not 0 < self.target_ratio:
            raise InputError(f"target_ratio must be > 0, got {self.target_ratio}")
        if set(self.layers) != set(STAGES) or any(int(v) < 0 for v in self.layers.values()):
            raise InputError(f"layers must give a count ≥ 0 for each of {', '.join(STAGES)}, got {self.layers}")
        if self.train.arch not in PUBLISHED:
            raise InputError(f"train.arch must be a KL-DNAS student ({', '.join(PUBLISHED)}), got {self.train.arch!r}")


# ------------------------------------------------------------------------------------------------
# latency


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_many(fns: dict, device: torch.device, repeats: int, warmup: int, stat: str = "min") -> dict:
    """Milliseconds of each ``fns[key]()``, timed round-robin: every round times every function once, so a
    burst of load from other processes spreads over all of them instead of spoiling one; then the min
    (or median) over the rounds."""
    times: dict = {k: [] for k in fns}
    with torch.no_grad():
        for r in range(warmup + repeats):
            for k, fn in fns.items():
                _sync(device)
                t0 = time.perf_counter()
                fn()
                _sync(device)
                if r >= warmup:
                    times[k].append(time.perf_counter() - t0)
    pick = min if stat == "min" else statistics.median
    return {k: 1000.0 * pick(v) for k, v in times.items()}


class _Threads:
    def __init__(self, n: int) -> None:
        self.n, self.old = n, torch.get_num_threads()

    def __enter__(self):
        if self.n > 0:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)


def measure_latency(nets: dict, size: int, repeats: int = 5, warmup: int = 1, threads: int = 0,
                    device: str = "cpu", stat: str = "min", alpha: float = 10.0) -> dict:
    """Milliseconds (min or median of ``repeats`` rounds, round-robin) of ``net(x, x, alpha)`` on one
    ``size × size`` pair for each ``{name: net}``."""
    dev = torch.device(device)
    x = torch.rand(1, 3, size, size, device=dev) * 2 - 1
    fns = {k: (lambda n=n.to(dev).eval(): n(x, x, alpha)) for k, n in nets.items()}
    with _Threads(threads):
        return _time_many(fns, dev, repeats, warmup, stat)


_TEACHER_PARTS = {"stream_a": "encoder", "stream_b": "encoder", "appearance": "appman", "manipulator": "appman",
                  "decoder": "decoder"}


def teacher_part_macs(teacher: LWMMNet, size: int = 192) -> dict:
    """Multiply-accumulates of the teacher's parts on one ``size × size`` pair (meta device)."""
    meta = copy.deepcopy(teacher).to("meta").eval()
    counts = {p: 0 for p in PARTS}
    handles = []
    for name, mod in meta.named_modules():
        part = _TEACHER_PARTS.get(name.split(".")[0])
        if part is not None and isinstance(mod, nn.Conv2d):
            def hook(m, inputs, output, part=part):
                counts[part] += output.numel() * m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
            handles.append(mod.register_forward_hook(hook))
    try:
        x = torch.zeros(1, 3, size, size, device="meta")
        with torch.no_grad():
            meta(x, x, 10.0)
    finally:
        for h in handles:
            h.remove()
    return counts


def measure_lut(net: KLDNASSupernet, teacher: LWMMNet, settings: LUTSettings, device: str = "cpu") -> dict:
    """The latency lookup table of ``net``'s search space on ``device`` (module notes, step 2).

    Returns ``{"device", "size", "threads", "repeats", "stat", "host", "torch", "ops": {stage: {op: ms}},
    "links": {stage: {link: ms}}, "fixed": {part: ms}, "teacher": {"total": ms, "part_macs": {part: n}}}``;
    ``none`` is 0.  The teacher is timed whole; its parts are split by their multiply-accumulates.
    """
    dev = torch.device(device)
    s, c = settings.size, net.c
    net = net.to(dev)
    teacher = teacher.to(dev).eval()

    def rand(*shape):
        return torch.randn(*shape, device=dev)

    lut: dict = {"device": str(dev), "size": s, "threads": settings.threads or torch.get_num_threads(),
                 "repeats": settings.repeats, "warmup": settings.warmup, "stat": settings.stat, "batch_per_stream": 1,
                 "host": platform.processor() or platform.machine(), "torch": torch.__version__,
                 "ops": {}, "links": {}, "fixed": {}, "teacher": {}}
    if dev.type == "cuda":
        lut["host"] = torch.cuda.get_device_name(dev)
    fns: dict = {}
    for stage in STAGES:
        layers = net.stages[stage]
        if not len(layers):
            continue
        ch, side = stage_width(stage, c), s if stage in ("enc_full", "dec_full") else s // 2
        b = 2 if stage in ("enc_full", "enc_half") else 1
        x, y = rand(b, ch, side, side), rand(b, ch, side, side)
        layer = layers[0]
        for o in OPS[:-1]:
            fns[("ops", stage, o)] = lambda op=layer.ops[o], x=x: op(F.relu(x))
        fns[("links", stage, "add")] = lambda x=x, y=y: x + y
        fns[("links", stage, "concat")] = lambda proj=layer.projs["0"], x=x, y=y: proj(torch.cat([x, y], 1))
    h = s // 2
    f2, img2, fc = rand(2, c, s, s), rand(2, 3, s, s), rand(1, c, s, s)
    e2, e1 = rand(1, 2 * c, h, h), rand(1, 2 * c, h, h)
    fns[("fixed", "encoder")] = lambda: (F.relu(net.stem(img2)), F.relu(net.down(F.max_pool2d(f2, 2))))
    fns[("fixed", "appman")] = lambda: (F.relu(net.app_in(torch.cat([e2, e1], 1))),
                                        F.relu(net.man_in((e2 - e1) * 10.0)), e2 + e1)
    fns[("fixed", "decoder")] = lambda: (F.relu(net.up(F.interpolate(e2, scale_factor=2, mode="nearest"))),
                                         torch.tanh(net.out(fc)))
    img = rand(1, 3, s, s)
    fns[("teacher", "total")] = lambda: teacher(img, img, 10.0)
    ref_geno = teacher_like_genotype(net.layer_counts, net.max_links, net.tap)
    ref = KLDNASNet(ref_geno, c).to(dev).eval()
    fns[("reference", "measured_ms")] = lambda: ref(img, img, 10.0)
    with _Threads(settings.threads):
        ms = _time_many(fns, dev, settings.repeats, settings.warmup, settings.stat)
    for key, v in ms.items():
        node = lut
        for k in key[:-1]:
            node = node.setdefault(k, {})
        node[key[-1]] = v
    for stage in lut["ops"]:
        lut["ops"][stage]["none"] = 0.0
        lut["links"][stage]["none"] = 0.0
        lut["ops"][stage] = {o: lut["ops"][stage][o] for o in OPS}
        lut["links"][stage] = {k: lut["links"][stage][k] for k in LINKS}
    lut["teacher"]["part_macs"] = teacher_part_macs(teacher, s)
    ref_lut = genotype_latency(ref_geno, lut)["total"]
    lut["reference"] |= {"genotype": "teacher_like_genotype", "lut_ms": ref_lut,
                         "scale": lut["reference"]["measured_ms"] / ref_lut}
    return lut


def _layer_cost(lut: dict, stage: str, op_w: Tensor, link_w: Tensor) -> Tensor:
    ops = torch.tensor([lut["ops"][stage][o] for o in OPS], dtype=op_w.dtype, device=op_w.device)
    links = torch.tensor([lut["links"][stage][k] for k in LINKS], dtype=link_w.dtype, device=link_w.device)
    return (op_w * ops).sum() + (link_w * links).sum()


def _row_cost(lut: dict, stage: str, row: dict) -> float:
    if row["op"] == "none" and all(k == "none" for k in row["links"]):
        return 0.0  # a dropped layer
    return lut["ops"][stage][row["op"]] + sum(lut["links"][stage][k] for k in row["links"])


def expected_latency(net: KLDNASSupernet, lut: dict, part: str) -> Tensor:
    """FBNet expected latency (ms) of ``part``: fixed + Σ softmax(α)·LUT; fixed layers count their choice."""
    total = torch.zeros(())
    for stage, _, layer in net.layers_of(part):
        if layer.choice is not None:
            total = total + _row_cost(lut, stage, layer.choice)
        else:
            total = total + _layer_cost(lut, stage, layer.op_weights(), layer.link_weights())
    return total + lut["fixed"][part]


def genotype_latency(genotype: dict, lut: dict) -> dict:
    """LUT latency (ms) of a discrete genotype: ``{part: ms, "total": ms}``."""
    out = {part: lut["fixed"][part] + sum(_row_cost(lut, s, r) for s in stages for r in genotype[s])
           for part, stages in PARTS.items()}
    out["total"] = sum(out.values())
    return out


def latency_loss(latency: Tensor, target: float) -> Tensor:
    """``L_lat = |log(latency / target)|`` (thesis Eq. 4.11); 0 at the target."""
    return torch.log(latency / float(target)).abs()


def part_targets(lut: dict, ratio: float) -> dict:
    """Targets in table units: ``ratio × teacher / scale`` (``scale`` = whole-network time of the
    teacher-like student over its table sum, module notes), split over the parts in proportion to the
    teacher's part MACs.  ``"measured"``: the total in whole-network milliseconds."""
    t = lut["teacher"]
    scale = lut.get("reference", {}).get("scale", 1.0)
    total = ratio * t["total"] / scale
    macs = t["part_macs"]
    return {"total": total, "measured": ratio * t["total"], "scale": scale,
            **{p: total * macs[p] / sum(macs.values()) for p in PARTS}}


# ------------------------------------------------------------------------------------------------
# losses


def _l1(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).abs().mean()


def _mag_loss(pred: Tensor, app: Tensor, batch: dict, teacher: LWMMNet, perceptual, w) -> tuple[Tensor, dict]:
    """Thesis Eq. 4.1 on ``pred``; ``L_A`` through the teacher's ``phi`` on the appearance features ``app``."""
    y = batch["y"]
    parts = {"l1": _l1(pred, y), "edge": edge_loss(pred, y)}
    total = w.l1 * parts["l1"] + w.edge * parts["edge"]
    if perceptual is not None and w.perceptual > 0:
        parts["perceptual"] = perceptual(pred, y)
        total = total + w.perceptual * parts["perceptual"]
    if w.appearance > 0:
        phi = teacher.phi(app)
        parts["appearance"] = _l1(phi, F.avg_pool2d(batch["a_clean"], 2)) + _l1(phi, F.avg_pool2d(batch["b_clean"], 2))
        total = total + w.appearance * parts["appearance"]
    return total, parts


def _part_loss(part: str, net: KLDNASSupernet, teacher: LWMMNet, batch: dict, perceptual, cfg: KLDNASConfig):
    """The search loss of ``part`` without ``L_lat`` → ``(loss, {term: tensor})`` (module notes, step 4)."""
    w, alpha = cfg.train.loss, batch["alpha"]
    if part != "decoder":
        with torch.no_grad():
            t_ea, t_eb, t_ta, t_tb = teacher.encode(batch["b_clean"], batch["a_clean"])
    ea, eb, ta, tb = net.encode(batch["b"], batch["a"])
    if part == "encoder":
        app = teacher.appear(ta, tb)
        pred = teacher.decoder(app + teacher.manipulate(ea - eb, alpha))
        kd = _l1(ea, t_ea) + _l1(eb, t_eb) + _l1(ta, t_ta) + _l1(tb, t_tb)
    elif part == "appman":
        app, man = net.appear(ta, tb), net.manipulate(ea - eb, alpha)
        pred = teacher.decoder(app + man)
        with torch.no_grad():
            t_app, t_man = teacher.appear(t_ta, t_tb), teacher.manipulate(t_ea - t_eb, alpha)
        kd = _l1(app, t_app) + _l1(man, t_man)
    else:
        app = net.appear(ta, tb)
        pred = net.decode(app + net.manipulate(ea - eb, alpha))
        kd = None
    total, parts = _mag_loss(pred, app, batch, teacher, perceptual, w)
    if kd is not None:
        parts["kd"] = kd
        total = total + cfg.search.kd_weight * kd
    return total, parts


# ------------------------------------------------------------------------------------------------
# the search


def _load_teacher(path: str, device) -> tuple[LWMMNet, dict]:
    p = path or str(default_weights_path("lwmm-m1"))
    teacher, info = load_weights(p, map_location=device)
    if not isinstance(teacher, LWMMNet):
        raise InputError(f"{p}: the KL-DNAS teacher must be an LW-MM network, got {info['arch']}")
    if teacher.stream_b is not None:
        raise InputError(f"{p}: the teacher's encoder streams must share their weights (the student's do)")
    teacher.requires_grad_(False).eval()
    return teacher, {"path": str(p), "arch": info["arch"], "arch_args": info["arch_args"], "c": teacher.c}


class _Pool:
    """``n`` samples generated once; ``batch(step, half)`` draws from the train (0) or validation (1) half."""

    def __init__(self, cfg: KLDNASConfig) -> None:
        s = cfg.search
        data = SynthConfig(**(dataclasses.asdict(cfg.train.data) | {"size": s.size}))
        pairs = open_pairs(None, data, s.seed)
        self.samples = [pairs.sample(i) for i in range(s.pool)]
        self.half = s.pool // 2
        self.cfg = cfg

    def batch(self, step: int, half: int) -> dict:
        s = self.cfg.search
        idx = [(step * s.batch + k) % self.half + half * self.half for k in range(s.batch)]
        gen = torch.Generator().manual_seed(int(s.seed) * 1_000_000_007 + 2 * int(step) + half)
        dev = torch.device(self.cfg.device)
        return {k: v.to(dev) for k, v in make_batch([self.samples[i] for i in idx], self.cfg.train.noise, gen).items()}


def _read_luts(path: str, net: KLDNASSupernet) -> dict:
    """The lookup tables of an earlier run (its ``search.json``), checked against ``net``'s stages."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"lut.file {p}: not found (give an earlier run's search.json)")
    try:
        luts = json.loads(p.read_text())["lut"]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"lut.file {p}: not a KL-DNAS search.json") from None
    for dev, lut in luts.items():
        stages = [s for s in STAGES if len(net.stages[s])]
        if any(s not in lut["ops"] for s in stages):
            raise InputError(f"lut.file {p}: its {dev} table lacks stages of this search space")
        lut["source"] = str(p)
    return luts


def _tau(taus: tuple, step: int, warm: int, steps: int) -> float:
    """Temperature at ``step``: ``taus[0]`` through the warm-up, then exponentially down to ``taus[1]``
    at the part's last step."""
    if step < warm:
        return taus[0]
    span = max(1, steps - 1 - warm)
    return taus[0] * (taus[1] / taus[0]) ** (min(step - warm, span) / span)


def _check_resume(saved: dict, cfg: KLDNASConfig, path: Path) -> None:
    now = dataclasses.asdict(cfg)
    keys = ("teacher", "target_ratio", "layers", "max_links", "tap", "lut")
    def same(a, b) -> bool:
        return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)

    differ = [k for k in keys if not same(saved.get(k), now[k])]
    ss, ns = dict(saved.get("search", {})), dict(now["search"])
    for k in ("checkpoint_every", "log_every"):
        ss.pop(k, None), ns.pop(k, None)
    if not same(ss, ns):
        differ.append("search")
    if differ:
        raise InputError(f"{path}: cannot resume with a different {', '.join(differ)} (start a new output folder)")


def _alphas(net: KLDNASSupernet) -> dict:
    out = {}
    for part in PARTS:
        for stage, i, layer in net.layers_of(part):
            links = layer.link_weights().detach()
            out[f"{stage}.{i}"] = {"op": {o: round(float(p), 4) for o, p in zip(OPS, layer.op_weights().detach())},
                                   "links": [{k: round(float(p), 4) for k, p in zip(LINKS, row)} for row in links]}
    return out


def layer_table(lut: dict, genotype: dict) -> list[dict]:
    """One row per searchable layer: its LUT times per op (ms), and the op the search chose."""
    rows = []
    for stage in STAGES:
        for i, row in enumerate(genotype[stage]):
            rows.append({"layer": f"{stage}.{i}", "chosen": row["op"], "links": "/".join(row["links"]),
                         **{o: round(lut["ops"][stage][o], 3) for o in OPS if o != "none"},
                         "add": round(lut["links"][stage]["add"], 3), "concat": round(lut["links"][stage]["concat"], 3)})
    return rows


def run_search(cfg: KLDNASConfig, out_dir: str | os.PathLike, resume: bool = False, progress: bool = True) -> dict:
    """Search, then train the student (module notes) → the ``search.json`` summary dict.

    The summary has ``done`` (search and student training finished), ``genotype``, ``latency`` and
    ``student_run`` (``RUN/student``, the folder ``physio train-magnifier export`` takes).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "search_state.pt"
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    teacher, teacher_info = _load_teacher(cfg.teacher, device)
    torch.manual_seed(cfg.search.seed)
    net = KLDNASSupernet(teacher.c, cfg.layers, cfg.max_links, cfg.tap).to(device)
    state: dict
    if state_path.exists():
        if not resume:
            raise InputError(f"{state_path} exists: pass --resume to continue that search, or choose another output folder")
        state = read_torch_file(state_path, "KL-DNAS search state")
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise InputError(f"{state_path}: not a KL-DNAS search state")
        _check_resume(state["config"], cfg, state_path)
        for part, rows in state["choices"].items():
            net.fix(part, rows)
        net.load_state_dict(state["supernet"])
    else:
        state = {"format": STATE_FORMAT, "config": dataclasses.asdict(cfg), "luts": None, "choices": {},
                 "part": 0, "step": 0, "opt_w": None, "opt_a": None, "history": [], "targets": None,
                 "parts": {}, "wall_s": {"lut": 0.0, "pool": 0.0, "search": 0.0}}

    def save() -> None:
        state["supernet"] = net.state_dict()
        atomic_torch_save(state, state_path)

    if state["luts"] is None:
        t0 = time.perf_counter()
        if cfg.lut.file:
            luts = _read_luts(cfg.lut.file, net)
        else:
            luts = {"cpu": measure_lut(net, teacher, cfg.lut, "cpu")}
            if cfg.lut.cuda and torch.cuda.is_available():
                luts["cuda"] = measure_lut(net, teacher, cfg.lut, "cuda")
        net.to(device), teacher.to(device)
        if cfg.lut.device not in luts:
            raise InputError(f"lut.device {cfg.lut.device!r}: no such device here (measured: {', '.join(luts)})")
        state["luts"] = luts
        state["targets"] = part_targets(luts[cfg.lut.device], cfg.target_ratio)
        state["wall_s"]["lut"] = time.perf_counter() - t0
        save()
    lut = state["luts"][cfg.lut.device]
    targets = state["targets"]

    perceptual = None
    if cfg.train.loss.perceptual > 0:
        perceptual = PerceptualLoss(cfg.train.perceptual, cfg.train.vgg_weights or None).to(device)
    part_names = list(PARTS)
    pool = None
    if state["part"] < len(part_names):
        t0 = time.perf_counter()
        pool = _Pool(cfg)
        state["wall_s"]["pool"] += time.perf_counter() - t0
    net.train()
    while state["part"] < len(part_names):
        pi = state["part"]
        part, steps = part_names[pi], cfg.search.steps[pi]
        carry = state["parts"][part_names[pi - 1]]["carry_out_ms"] if pi else 0.0
        target = max(targets[part] + carry, 1.05 * lut["fixed"][part])
        opt_w = torch.optim.Adam(net.weight_parameters(), lr=cfg.search.lr)
        opt_a = torch.optim.Adam(net.arch_parameters(part), lr=cfg.search.arch_lr, betas=(0.5, 0.999),
                                 weight_decay=cfg.search.arch_weight_decay)
        if state["opt_w"] is not None:
            opt_w.load_state_dict(state["opt_w"])
            opt_a.load_state_dict(state["opt_a"])
        warm = int(round(cfg.search.warmup * steps))
        offset = sum(cfg.search.steps[:pi])
        bar = tqdm(total=steps, initial=state["step"], desc=f"{cfg.name} [search {part}]", unit="step",
                   disable=not progress, dynamic_ncols=True)
        running: dict[str, list[float]] = {}
        t_last = time.perf_counter()
        while state["step"] < steps:
            step = state["step"]
            tau = _tau(cfg.search.tau, step, warm, steps)
            for _, _, layer in net.layers_of(part):
                layer.tau = tau
            loss, parts = _part_loss(part, net, teacher, pool.batch(offset + step, 0), perceptual, cfg)
            if not math.isfinite(float(loss.detach())):
                raise DivergenceError(f"{cfg.name}: search loss is {float(loss.detach())} in part {part} at step {step}")
            opt_w.zero_grad(set_to_none=True)
            loss.backward()
            opt_w.step()
            log = {f"w_{k}": float(v.detach()) for k, v in parts.items()} | {"w_total": float(loss.detach())}
            lat = expected_latency(net, lut, part)
            if step >= warm:
                a_loss, a_parts = _part_loss(part, net, teacher, pool.batch(offset + step, 1), perceptual, cfg)
                l_lat = latency_loss(lat, target)
                opt_a.zero_grad(set_to_none=True)
                (a_loss + cfg.search.lat_weight * l_lat).backward()
                opt_a.step()
                log |= {"a_total": float(a_loss.detach()), "lat_loss": float(l_lat.detach())}
            log["latency_ms"], log["tau"] = float(lat.detach()), tau
            for k, v in log.items():
                running.setdefault(k, []).append(v)
            state["step"] = step + 1
            now = time.perf_counter()
            state["wall_s"]["search"] += now - t_last
            state["part_wall_s"] = state.get("part_wall_s", 0.0) + now - t_last
            t_last = now
            bar.update(1)
            if state["step"] % cfg.search.log_every == 0 or state["step"] == steps:
                entry = {"part": part, "step": state["step"], "target_ms": round(target, 3)} | {
                    k: sum(v) / len(v) for k, v in running.items()}
                state["history"].append(entry)
                bar.set_postfix(loss=f"{entry['w_total']:.3f}", lat=f"{entry['latency_ms']:.0f}/{target:.0f}ms")
                running = {}
            if state["step"] % cfg.search.checkpoint_every == 0 and state["step"] < steps:
                state["opt_w"], state["opt_a"] = opt_w.state_dict(), opt_a.state_dict()
                save()
        bar.close()
        soft = float(expected_latency(net, lut, part).detach())
        alphas = {k: v for k, v in _alphas(net).items() if k.split(".")[0] in PARTS[part]}
        choices = net.fix(part)
        hard = float(expected_latency(net, lut, part).detach())
        state["choices"][part] = choices
        state["parts"][part] = {"target_ms": target, "base_target_ms": targets[part], "carry_in_ms": carry,
                                "expected_ms_soft": soft, "discrete_ms": hard, "carry_out_ms": max(0.0, target - hard),
                                "steps": steps, "wall_s": state.pop("part_wall_s", 0.0), "tau_end": cfg.search.tau[1],
                                "alphas": alphas}
        state["part"], state["step"], state["opt_w"], state["opt_a"] = pi + 1, 0, None, None
        save()

    genotype = net.genotype()
    student_cfg = MagTrainConfig(**(dataclasses.asdict(cfg.train) | {"arch_args": {"genotype": genotype, "c": teacher.c}}))
    summary = _summary(cfg, state, genotype, teacher_info, lut, out)
    atomic_write_text(out / "search.json", json.dumps(summary, indent=1, default=str))
    t0 = time.perf_counter()
    trained = train_magnifier(student_cfg, out / "student", resume=resume, progress=progress)
    summary["done"] = trained["done"]
    summary["wall_s"]["train_invocation"] = time.perf_counter() - t0
    if trained["done"]:
        student, _ = load_weights(trained["checkpoint"], map_location="cpu")
        lt, nets = cfg.lut, {"student": student, "teacher": teacher}
        both = {"cpu": measure_latency(nets, lt.size, lt.repeats, lt.warmup, lt.threads, "cpu", lt.stat)}
        if "cuda" in state["luts"]:
            both["cuda"] = measure_latency(nets, lt.size, lt.repeats, lt.warmup, 0, "cuda", lt.stat)
        teacher.to(device)
        measured = {dev: v["student"] for dev, v in both.items()}
        summary["latency"]["measured_ms"] = measured
        summary["latency"]["teacher_measured_again_ms"] = {dev: v["teacher"] for dev, v in both.items()}
        summary["latency"]["measured_over_expected"] = measured[lt.device] / summary["latency"]["expected_ms"]
        summary["latency"]["measured_over_teacher"] = measured[lt.device] / both[lt.device]["teacher"]
        summary["student"]["train_wall_s"] = trained["stages"][-1]["wall_s"]
        summary["student"]["checkpoint"] = trained["checkpoint"]
    atomic_write_text(out / "search.json", json.dumps(summary, indent=1, default=str))
    return summary


def _summary(cfg: KLDNASConfig, state: dict, genotype: dict, teacher_info: dict, lut: dict, out: Path) -> dict:
    student = KLDNASNet(genotype, teacher_info["c"])
    cx = complexity(student)
    pub = PUBLISHED[cfg.train.arch]
    expected = genotype_latency(genotype, lut)
    return {
        "name": cfg.name, "arch": cfg.train.arch, "done": False, "genotype": genotype,
        "student_run": str(out / "student"),
        "teacher": teacher_info | {"latency_ms": lut["teacher"]},
        "latency": {"device": cfg.lut.device, "size_px": cfg.lut.size, "threads": lut["threads"],
                    "teacher_ms": lut["teacher"]["total"], "target_ratio": cfg.target_ratio,
                    "target_ms": state["targets"]["measured"], "lut_scale": state["targets"]["scale"],
                    "target_lut_ms": state["targets"]["total"],
                    "part_targets_lut_ms": {p: state["targets"][p] for p in PARTS},
                    "expected_lut_ms": expected, "expected_ms": expected["total"] * state["targets"]["scale"],
                    "expected_over_teacher": expected["total"] * state["targets"]["scale"] / lut["teacher"]["total"],
                    "thesis": {"student_ms_720": pub["runtime_ms_720_rtx2080"], "teacher_ms_720": 142,
                               "target_ms_384": pub["target_ms_384_rtx2080"]}},
        "parts": state["parts"],
        "student": {"params": cx["params"], "params_m": cx["params_m"], "gflops_720": cx["gflops"],
                    "published": {"params_m": pub["params_m"], "gflops_720": pub["gflops_720"]},
                    "initialisation": "re-initialised (DARTS), trained by physio.magnify.learned.train.train_magnifier"},
        "lut": state["luts"], "layer_table": layer_table(lut, genotype),
        "wall_s": dict(state["wall_s"]), "history": state["history"],
        "config": dataclasses.asdict(cfg),
    }
