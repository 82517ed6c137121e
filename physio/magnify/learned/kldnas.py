"""KL-DNAS students (Singh, thesis ch. 4): the search space, the supernet and the discrete student.

KL-DNAS (knowledge-distilled, latency-aware differentiable architecture search) searches a *student*
that keeps the macro structure of the LW-MM teacher (:class:`~.nets.LWMMNet`, the shipped M1) but
chooses every layer's receptive field and connections.  This module holds the networks; the search
loop (latency lookup table, search by parts, distillation) is :mod:`.search`.

``net(ref, cur, alpha)``: two frames ``(B, 3, H, W)`` in ``[-1, 1]`` (``ref`` = frame t−1, ``cur`` =
frame t) and the factor → one magnified frame ``(B, 3, H, W)`` in ``[-1, 1]`` (tanh); ``H``, ``W`` even.
``alpha`` multiplies the feature difference as in the teacher (``M((E_a − E_b)·alpha)``, thesis
Eq. 3.2): the search distils the teacher's manipulator output, so the student must read ``alpha`` the
same way.

Macro structure (the teacher's, Fig. 4.1 / 4.3; ``c`` = the teacher's width, 24 for M1)

* **Encoder** (two streams in lock-step, *one set of weights* like the shipped teacher, so identical
  frames give ``E_a = E_b``): fixed ``ReLU(conv3×3_{3→c})`` stem → stage ``enc_full`` (``c`` channels,
  full resolution) → 2×2 max-pool → fixed ``ReLU(conv3×3_{c→2c})`` → stage ``enc_half`` (``2c``, ½
  resolution).  ``E'`` = the ``enc_half`` feature after layer ``tap`` (teacher: after its first half
  block), ``E`` = the last one.  The teacher's widths are kept at every part boundary (``E``, ``E'``,
  ``A``, ``M`` are ``2c × H/2 × W/2``), because the search feeds student features to the frozen
  teacher parts and distils them (no width reduction).
* **Appearance encoder**: fixed ``ReLU(conv_{4c→2c}(concat(E'_a, E'_b)))`` → stage ``app``.  Training
  head ``phi`` = ``tanh(conv3×3_{2c→3})`` for ``L_A`` (as the teacher; not counted as a parameter of
  the inference network).
* **Manipulator**: fixed ``ReLU(conv_{2c→2c}((E_a − E_b)·alpha))`` → stage ``man``; its output is
  *added* to the appearance output.
* **Decoder**: stage ``dec_half`` (``2c``) → nearest ×2 → fixed ``ReLU(conv_{2c→c})`` → stage
  ``dec_full`` (``c``) → ``tanh(conv3×3_{c→3})``.

The fixed convolutions are the ones that change the channel count or take the part's input (the
search space's layers map ``C → C``); the thesis' Fig. 4.3 draws them as plain layers too.

Searchable layer (one per position of a stage) = **NAS Layer-(R)** followed by a serial chain of
**NAS Layer-(C)** (thesis §4.1.2, Fig. 4.3 d, e):

* Layer-(R): one op of :data:`OPS` on the layer input ``x_i``: ``conv_{k×k, dilation r}(ReLU(x_i))``
  for ``k ∈ {3, 5}``, ``r ∈ {1, 2, 4, 8}`` ("same" zero padding, bias), or ``none`` (the zero op of
  DARTS).  The ReLU goes *before* the convolution (pre-activation, as DARTS' ReLU-conv ops), so that
  ``R`` + an ``add`` link reproduce a residual block and stage outputs stay signed like the teacher's
  residual features; no BatchNorm (the teacher has none).
* Layer-(C): the chain ``F ← LC(F, s_1)``, ``F ← LC(F, s_2)`` … starting from ``F = R(x_i)``, one link
  per earlier feature ``s_j`` of the same stage, nearest first: ``x_i`` (the layer's own input), then —
  in the encoder only — the *other stream's* ``x_i`` (the teacher's feature sharing), then ``x_{i−1}``
  … ``x_0`` (the stage input), at most ``max_links`` own features.  Each link is one of :data:`LINKS`:
  ``none`` (``F``), ``add`` (``F + s``) or ``concat`` (``conv1×1_{2C→C}(concat(F, s))``, the projection
  keeps the width).  Thesis Fig. 4.34: ``LC(R3, R2) = F1, LC(F1, R1) = F2, LC(F2, Input) = F3``.
* The layer's output ``x_{i+1} = F``.  One rule the thesis does not need to state: a discrete layer
  whose op is ``none`` *and* whose links are all ``none`` would output zeros; it passes its input
  through instead (the layer is dropped, which is what the thesis reports its searches do).

With this, two layers ``conv3_d1`` / ``conv3_d1`` + ``add`` to ``x_0`` are the pre-activation residual
block ``x + conv(ReLU(conv(ReLU(x))))``; :func:`teacher_like_genotype` builds the teacher-like default
from such pairs (the encoder's first layer of a pair also ``concat``-links the peer stream).

**Genotype** — plain data, so it lives in a weights file's ``arch_args`` and loads with
``torch.load(weights_only=True)``::

    {"tap": 1,
     "enc_full": [{"op": "conv3_d1", "links": ["none", "concat"]}, ...],   # one dict per layer
     "enc_half": [...], "app": [...], "man": [...], "dec_half": [...], "dec_full": [...]}

``links`` lists one choice per source in the order above; its length fixes how many earlier features
the layer sees (``1 + i`` at most for layer ``i``, plus 1 for the peer in the encoder).

**Reduced search space** (thesis: 33 searchable layers, ``9^33 ≈ 10^31`` choices; CPU budget here):
:data:`DEFAULT_LAYERS` = 2 + 2 encoder layers (full/half resolution), 2 appearance, 2 manipulator, 4 + 2
decoder (half/full) = 14 layers, each linking at most ``max_links = 2`` earlier own features (+ the
peer stream in the encoder): 9 ops × 3^(1…3) link choices per layer, about 10^26 networks.  The
teacher-like genotype of that space has 0.319 M parameters and 135.8 GFLOPs at 720×720 (thesis SM1:
0.35 M / 93.1, SM2: 0.47 M / 123.9; the teacher 0.94 M / 367.5 here); with its links, all ``none``
gives 0.090 M / 39.0 and all 5×5 0.724 M / 307.8.  The full-resolution layers are what cost FLOPs here
(the encoder runs its two on both frames); the thesis' figures do not say how many it kept there.

:class:`KLDNASSupernet` holds every op and link of that space with DARTS weights (``alpha_op`` per
layer, ``alpha_link`` per link): ``ō(x) = Σ_o softmax(α)_o · o(x)`` (Eq. 4.10), and the same softmax
mixture over the three link kinds.  The search anneals the softmax temperature ``tau`` of the part it
searches (``softmax(α / tau)``, as FBNet and GDAS do), so the mixture it ends with is close to the
discrete path it keeps.  :meth:`KLDNASSupernet.fix` turns a searched part into its discrete (hard)
path, folding the op's softmax weight into the chosen convolution so its output scale is kept.

**Discretisation** (:meth:`SearchLayer.derive`).  Links: the argmax (Eq. 4.10's rule).  Ops: a plain
argmax over the nine ops is biased towards ``none`` when α has not converged: the eight convolutions
differ only in kernel and rate, get similar gradients and split the weight between them, while ``none``
stands alone (in a 20-step trial without annealing the decoder's mixture met its latency target with
``none`` at 0.14 and the convolutions at 0.86 together, and the argmax dropped every layer: 45 % of the
target).  DARTS
itself leaves the zero op out of its argmax; here ``none`` must stay a choice (the thesis' searches
drop layers), so the op is chosen in two steps: ``none`` if its weight is at least the convolutions'
together, else the strongest convolution.  With converged α (one op near 1, the thesis' 200 GPU-hours)
this is the plain argmax.
:class:`KLDNASNet` is the discrete student of a genotype (what ``physio train-magnifier`` trains and
ships).

Temporal mode (:meth:`KLDNASNet.codes` / :meth:`KLDNASNet.from_band`): as LW-MM's, the code of a frame
is ``E`` of the pair ``(F_t, F_t)``, and the band-passed code goes through the manipulator in place of
``E_a − E_b``.  Parameters and GFLOPs (:mod:`.complexity`, meta device) depend on the genotype; a
searched student's counts are reported next to the thesis' in its ``search.json`` and model card.

References
----------
.. [1] J. Singh et al., IEEE Trans. Neural Networks and Learning Systems, 2024, doi 10.1109/TNNLS.2023.3346169;
   J. Singh, "Deep learning based approaches for video motion magnification", PhD thesis, IIT Ropar,
   2024, chapter 4: "A knowledge distillation based latency aware – differentiable architecture search
   for video motion magnification".
.. [2] H. Liu, K. Simonyan and Y. Yang, "DARTS: Differentiable architecture search", ICLR 2019.
.. [3] B. Wu et al., "FBNet: Hardware-aware efficient ConvNet design via differentiable neural
   architecture search", CVPR 2019 (expected latency from a lookup table).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physio.errors import InputError
from physio.magnify.learned.blocks import ThesisNet, alpha_tensor, check_pair, conv

__all__ = ["OPS", "LINKS", "STAGES", "PARTS", "ENCODER_STAGES", "DEFAULT_LAYERS", "DEFAULT_MAX_LINKS",
           "stage_width", "link_sources", "make_op", "teacher_like_genotype", "check_genotype",
           "SearchLayer", "FixedLayer", "KLDNASSupernet", "KLDNASNet", "ARCHS", "PUBLISHED"]

OPS = ("conv3_d1", "conv3_d2", "conv3_d4", "conv3_d8", "conv5_d1", "conv5_d2", "conv5_d4", "conv5_d8", "none")
"""NAS Layer-(R) candidates (thesis: 3×3 and 5×5 convolutions, rates 1, 2, 4, 8, and no connection)."""

LINKS = ("none", "add", "concat")
"""NAS Layer-(C) candidates (thesis: no connection, add, concatenate)."""

STAGES = ("enc_full", "enc_half", "app", "man", "dec_half", "dec_full")
ENCODER_STAGES = ("enc_full", "enc_half")
PARTS = {"encoder": ("enc_full", "enc_half"), "appman": ("app", "man"), "decoder": ("dec_half", "dec_full")}
"""The three parts searched one after another (thesis Fig. 4.2 a, b, c)."""

DEFAULT_LAYERS = {"enc_full": 2, "enc_half": 2, "app": 2, "man": 2, "dec_half": 4, "dec_full": 2}
"""Searchable layers per stage of the reduced space (14; the thesis searched 33)."""

DEFAULT_MAX_LINKS = 2
"""Earlier own features a layer's Layer-(C) chain reaches back to (the encoder adds the peer stream)."""


def stage_width(stage: str, c: int) -> int:
    """Channels of a stage: ``c`` at full resolution, ``2c`` at half."""
    if stage not in STAGES:
        raise InputError(f"unknown KL-DNAS stage {stage!r}; valid: {', '.join(STAGES)}")
    return c if stage in ("enc_full", "dec_full") else 2 * c


def link_sources(stage: str, index: int, n_own: int) -> list[tuple[str, int]]:
    """Sources of layer ``index``'s link chain, in chain order: ``("own"|"peer", j)`` = feature ``x_j``
    of this stream (or of the other encoder stream); ``x_0`` is the stage input, ``x_index`` the layer's
    own input."""
    if not 1 <= n_own <= index + 1:
        raise InputError(f"{stage} layer {index}: it can link 1 to {index + 1} earlier features, not {n_own}")
    own = [("own", index - k) for k in range(n_own)]
    return own[:1] + [("peer", index)] + own[1:] if stage in ENCODER_STAGES else own


def _op_spec(name: str) -> tuple[int, int]:
    if name not in OPS or name == "none":
        raise InputError(f"unknown KL-DNAS op {name!r}; valid: {', '.join(OPS)}")
    k, d = name[4:].split("_d")
    return int(k), int(d)


def make_op(name: str, ch: int) -> nn.Conv2d:
    """The convolution of op ``name`` (applied to ``ReLU(x)``); not for ``"none"``."""
    k, d = _op_spec(name)
    return nn.Conv2d(ch, ch, k, padding=d * (k // 2), dilation=d)


def teacher_like_genotype(layers: dict | None = None, max_links: int = DEFAULT_MAX_LINKS, tap: int = 1) -> dict:
    """The default genotype: all ``conv3_d1``, layers paired into pre-activation residual blocks.

    In each pair, the second layer ``add``-links the pair's input (``x_{i−1}``, its second own source);
    the first layer of an encoder pair ``concat``-links the peer stream's input (feature sharing, as the
    teacher's shared residual blocks).  An unpaired last layer ``add``-links its own input.
    """
    layers = dict(DEFAULT_LAYERS if layers is None else layers)
    geno: dict = {"tap": int(tap)}
    for stage in STAGES:
        n = int(layers.get(stage, 0))
        rows = []
        for i in range(n):
            n_own = min(i + 1, max_links)
            srcs = link_sources(stage, i, n_own)
            links = ["none"] * len(srcs)
            second = i % 2 == 1
            if second and n_own >= 2:
                links[srcs.index(("own", i - 1))] = "add"
            elif second or i == n - 1:
                links[0] = "add"
            if not second and stage in ENCODER_STAGES:
                links[srcs.index(("peer", i))] = "concat"
            rows.append({"op": "conv3_d1", "links": links})
        geno[stage] = rows
    return geno


def check_genotype(genotype: dict) -> dict:
    """Validate a genotype (see the module notes) → a normalised plain copy; :class:`InputError` if bad."""
    if not isinstance(genotype, dict):
        raise InputError(f"KL-DNAS genotype must be a mapping, got {type(genotype).__name__}")
    unknown = set(genotype) - set(STAGES) - {"tap"}
    if unknown:
        raise InputError(f"KL-DNAS genotype: unknown key(s) {sorted(unknown)}; valid: tap, {', '.join(STAGES)}")
    out: dict = {"tap": int(genotype.get("tap", 1))}
    for stage in STAGES:
        rows = genotype.get(stage, [])
        if not isinstance(rows, (list, tuple)):
            raise InputError(f"KL-DNAS genotype: {stage} must be a list of layers")
        norm = []
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or set(row) != {"op", "links"}:
                raise InputError(f"KL-DNAS genotype: {stage}[{i}] must be {{'op': ..., 'links': [...]}}, got {row!r}")
            op, links = str(row["op"]), [str(x) for x in row["links"]]
            if op not in OPS:
                raise InputError(f"KL-DNAS genotype: {stage}[{i}] op {op!r} unknown; valid: {', '.join(OPS)}")
            bad = [x for x in links if x not in LINKS]
            if bad:
                raise InputError(f"KL-DNAS genotype: {stage}[{i}] link(s) {bad} unknown; valid: {', '.join(LINKS)}")
            n_own = len(links) - (1 if stage in ENCODER_STAGES else 0)
            link_sources(stage, i, n_own)  # raises on a bad count
            norm.append({"op": op, "links": links})
        out[stage] = norm
    if not 0 <= out["tap"] <= len(out["enc_half"]):
        raise InputError(f"KL-DNAS genotype: tap must be in [0, {len(out['enc_half'])}], got {out['tap']}")
    return out


def _chain(f: Tensor, choices, cands: list[Tensor], projs) -> Tensor:
    for j, (choice, y) in enumerate(zip(choices, cands)):
        if choice == "add":
            f = f + y
        elif choice == "concat":
            f = projs[str(j)](torch.cat([f, y], dim=1))
    return f


class FixedLayer(nn.Module):
    """A discrete searched layer: op ``op`` on ``ReLU(x)``, then the link chain ``links`` (module notes)."""

    def __init__(self, ch: int, op: str, links: list[str]) -> None:
        super().__init__()
        self.op_name, self.links = op, list(links)
        self.op = None if op == "none" else make_op(op, ch)
        self.projs = nn.ModuleDict({str(j): nn.Conv2d(2 * ch, ch, 1) for j, l in enumerate(links) if l == "concat"})
        self.dropped = op == "none" and all(l == "none" for l in links)

    def forward(self, x: Tensor, cands: list[Tensor]) -> Tensor:
        if self.dropped:
            return x
        f = torch.zeros_like(x) if self.op is None else self.op(F.relu(x))
        return _chain(f, self.links, cands, self.projs)


class SearchLayer(nn.Module):
    """A supernet layer: every op of :data:`OPS` and every link kind, mixed by softmax(α) (DARTS)."""

    def __init__(self, ch: int, n_links: int) -> None:
        super().__init__()
        self.ops = nn.ModuleDict({o: make_op(o, ch) for o in OPS if o != "none"})
        self.projs = nn.ModuleDict({str(j): nn.Conv2d(2 * ch, ch, 1) for j in range(n_links)})
        self.alpha_op = nn.Parameter(1e-3 * torch.randn(len(OPS)))
        self.alpha_link = nn.Parameter(1e-3 * torch.randn(n_links, len(LINKS)))
        self.choice: dict | None = None
        self.tau = 1.0
        """Softmax temperature (the search anneals it; 1 = Eq. 4.10)."""

    def op_weights(self) -> Tensor:
        return torch.softmax(self.alpha_op / self.tau, dim=0)

    def link_weights(self) -> Tensor:
        return torch.softmax(self.alpha_link / self.tau, dim=1)

    def derive(self) -> dict:
        """The discrete choice → ``{"op", "links"}`` (plain strings): argmax of each link; for the op,
        ``none`` when its weight is at least that of the eight convolutions together, else the strongest
        convolution (module notes, "Discretisation")."""
        links = [LINKS[int(k)] for k in self.alpha_link.detach().argmax(dim=1)]
        w = self.op_weights().detach()
        none = OPS.index("none")
        if float(w[none]) >= float(w.sum() - w[none]):
            return {"op": "none", "links": links}
        convs = [k for k in range(len(OPS)) if k != none]
        return {"op": OPS[max(convs, key=lambda k: float(w[k]))], "links": links}

    def fix(self, choice: dict | None = None) -> dict:
        """Switch to the hard path of ``choice`` (default: the argmax); the op's softmax weight is folded
        into its convolution, so the chosen path's output scale is what the mixture gave it."""
        choice = self.derive() if choice is None else {"op": choice["op"], "links": list(choice["links"])}
        if choice["op"] != "none" and self.choice is None:
            p = float(self.op_weights().detach()[OPS.index(choice["op"])])
            with torch.no_grad():
                self.ops[choice["op"]].weight.mul_(p)
                self.ops[choice["op"]].bias.mul_(p)
        self.choice = choice
        return choice

    def forward(self, x: Tensor, cands: list[Tensor]) -> Tensor:
        if self.choice is not None:
            op, links = self.choice["op"], self.choice["links"]
            if op == "none" and all(l == "none" for l in links):
                return x
            f = torch.zeros_like(x) if op == "none" else self.ops[op](F.relu(x))
            return _chain(f, links, cands, self.projs)
        h = F.relu(x)
        w = self.op_weights()
        f = sum(w[k] * self.ops[o](h) for k, o in enumerate(OPS) if o != "none")
        v = self.link_weights()
        for j, y in enumerate(cands):
            f = (v[j, 0] + v[j, 1]) * f + v[j, 1] * y + v[j, 2] * self.projs[str(j)](torch.cat([f, y], dim=1))
        return f


class _Student(nn.Module):
    """The teacher's macro structure with searchable stages (see the module notes)."""

    multiple = 2

    def __init__(self, c: int, layer_rows: dict, tap: int, make_layer) -> None:
        super().__init__()
        if c < 1:
            raise InputError(f"KL-DNAS: c must be ≥ 1, got {c}")
        self.c, self.tap = int(c), int(tap)
        d = 2 * c
        self.stem, self.down = conv(3, c), conv(c, d)
        self.app_in, self.man_in = conv(2 * d, d), conv(d, d)
        self.up, self.out = conv(d, c), conv(c, 3)
        self.sources: dict[str, list[list[tuple[str, int]]]] = {}
        stages = {}
        for stage in STAGES:
            ch = stage_width(stage, c)
            srcs = [link_sources(stage, i, n_own) for i, n_own in enumerate(layer_rows[stage])]
            self.sources[stage] = srcs
            stages[stage] = nn.ModuleList(make_layer(stage, i, ch, len(s)) for i, s in enumerate(srcs))
        self.stages = nn.ModuleDict(stages)
        if not 0 <= self.tap <= len(self.stages["enc_half"]):
            raise InputError(f"KL-DNAS: tap must be in [0, {len(self.stages['enc_half'])}], got {tap}")

    # -- stages -------------------------------------------------------------------------------------
    def run_stage(self, stage: str, x: Tensor) -> list[Tensor]:
        """Features ``[x_0 … x_n]`` of one stream through ``stage``."""
        feats = [x]
        for layer, srcs in zip(self.stages[stage], self.sources[stage]):
            feats.append(layer(feats[-1], [feats[j] for _, j in srcs]))
        return feats

    def run_pair(self, stage: str, xa: Tensor, xb: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Both encoder streams in lock-step (same layers; each link chain also sees the peer)."""
        fa, fb = [xa], [xb]
        for layer, srcs in zip(self.stages[stage], self.sources[stage]):
            na = layer(fa[-1], [(fa if k == "own" else fb)[j] for k, j in srcs])
            nb = layer(fb[-1], [(fb if k == "own" else fa)[j] for k, j in srcs])
            fa.append(na)
            fb.append(nb)
        return fa, fb

    # -- parts (the names of LWMMNet's, so the search can swap teacher and student parts) ------------
    def encode(self, cur: Tensor, ref: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(E_a, E_b, E'_a, E'_b)``; stream a sees ``cur``, b ``ref`` (as :meth:`LWMMNet.encode`)."""
        fa, fb = self.run_pair("enc_full", F.relu(self.stem(cur)), F.relu(self.stem(ref)))
        xa = F.relu(self.down(F.max_pool2d(fa[-1], 2)))
        xb = F.relu(self.down(F.max_pool2d(fb[-1], 2)))
        fa, fb = self.run_pair("enc_half", xa, xb)
        return fa[-1], fb[-1], fa[self.tap], fb[self.tap]

    def appear(self, tap_a: Tensor, tap_b: Tensor) -> Tensor:
        return self.run_stage("app", F.relu(self.app_in(torch.cat([tap_a, tap_b], dim=1))))[-1]

    def manipulate(self, motion: Tensor, alpha) -> Tensor:
        """``M(motion · alpha)``; ``motion`` = ``E_a − E_b`` (or a band-passed feature series)."""
        return self.run_stage("man", F.relu(self.man_in(motion * alpha_tensor(alpha, motion))))[-1]

    def decode(self, feat: Tensor) -> Tensor:
        x = self.run_stage("dec_half", feat)[-1]
        x = F.relu(self.up(F.interpolate(x, scale_factor=2, mode="nearest")))
        return torch.tanh(self.out(self.run_stage("dec_full", x)[-1]))

    def forward(self, ref: Tensor, cur: Tensor, alpha, return_aux: bool = False):
        check_pair(ref, cur, self.multiple, type(self).__name__)
        ea, eb, ta, tb = self.encode(cur, ref)
        app = self.appear(ta, tb)
        scaled = (ea - eb) * alpha_tensor(alpha, ea)
        out = self.decode(app + self.manipulate(ea - eb, alpha))
        if return_aux:
            return out, {"appearance": app, "scaled_motion": scaled}
        return out


class KLDNASSupernet(_Student):
    """The KL-DNAS supernet: every searchable layer is a :class:`SearchLayer`.

    Parameters
    ----------
    c : int
        The teacher's width (M1: 24).
    layers : dict
        Searchable layers per stage (:data:`DEFAULT_LAYERS`).
    max_links : int
        Earlier own features each link chain reaches (:data:`DEFAULT_MAX_LINKS`).
    tap : int
        ``enc_half`` layer whose output is ``E'`` (1).
    """

    def __init__(self, c: int = 24, layers: dict | None = None, max_links: int = DEFAULT_MAX_LINKS, tap: int = 1) -> None:
        layers = dict(DEFAULT_LAYERS if layers is None else layers)
        missing = set(STAGES) - set(layers)
        if missing or set(layers) - set(STAGES):
            raise InputError(f"KL-DNAS layers must give a count for each of {', '.join(STAGES)}, got {layers}")
        if max_links < 1:
            raise InputError(f"KL-DNAS: max_links must be ≥ 1, got {max_links}")
        self.layer_counts, self.max_links = {s: int(layers[s]) for s in STAGES}, int(max_links)
        rows = {s: [min(i + 1, self.max_links) for i in range(self.layer_counts[s])] for s in STAGES}
        super().__init__(c, rows, tap, lambda stage, i, ch, n_links: SearchLayer(ch, n_links))

    def layers_of(self, part: str) -> list[tuple[str, int, SearchLayer]]:
        if part not in PARTS:
            raise InputError(f"unknown KL-DNAS part {part!r}; valid: {', '.join(PARTS)}")
        return [(s, i, layer) for s in PARTS[part] for i, layer in enumerate(self.stages[s])]

    def arch_parameters(self, part: str | None = None) -> list[nn.Parameter]:
        parts = PARTS if part is None else [part]
        return [p for pt in parts for _, _, layer in self.layers_of(pt) for p in (layer.alpha_op, layer.alpha_link)]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def fix(self, part: str, choices: dict | None = None) -> dict:
        """Discretise ``part`` (argmax, or ``choices`` = ``{stage: [row, ...]}``) → its genotype rows."""
        out: dict = {}
        for stage, i, layer in self.layers_of(part):
            out.setdefault(stage, []).append(layer.fix(None if choices is None else choices[stage][i]))
        return out

    def genotype(self) -> dict:
        """The argmax genotype of the whole supernet (fixed layers keep their choice)."""
        geno: dict = {"tap": self.tap}
        for stage in STAGES:
            geno[stage] = [dict(layer.choice) if layer.choice is not None else layer.derive() for layer in self.stages[stage]]
        return check_genotype(geno)


class KLDNASNet(_Student, ThesisNet):
    """The discrete KL-DNAS student of ``genotype`` (module notes).

    Parameters
    ----------
    genotype : dict, optional
        The searched architecture (:func:`check_genotype` format); default :func:`teacher_like_genotype`.
    c : int
        The teacher's width (24: LW-MM M1, the thesis' teacher).

    Shape
    -----
    ``(B, 3, H, W)`` × 2 + alpha → ``(B, 3, H, W)``, H and W even; ``E``, ``E'``, ``A``, ``M``:
    ``(B, 2c, H/2, W/2)``.
    """

    multiple = 2

    def __init__(self, genotype: dict | None = None, c: int = 24) -> None:
        geno = check_genotype(teacher_like_genotype() if genotype is None else copy.deepcopy(genotype))
        rows = {s: [len(r["links"]) - (1 if s in ENCODER_STAGES else 0) for r in geno[s]] for s in STAGES}
        super().__init__(c, rows, geno["tap"],
                         lambda stage, i, ch, n_links: FixedLayer(ch, geno[stage][i]["op"], geno[stage][i]["links"]))
        self.genotype = geno
        self.phi = nn.Sequential(conv(2 * c, 3), nn.Tanh())

    def extra_losses(self, batch: dict, out: Tensor, aux: dict, proxy=None, previous=None) -> dict[str, Tensor]:
        """``L_A = |phi(A) − F_t| + |phi(A) − F_{t−1}|`` against the clean frames, average-pooled to
        phi's ½ resolution (thesis Eq. 4.1, the teacher's loss, which the student keeps)."""
        phi = self.phi(aux["appearance"])
        ta, tb = F.avg_pool2d(batch["a_clean"], 2), F.avg_pool2d(batch["b_clean"], 2)
        return {"appearance": (phi - tb).abs().mean() + (phi - ta).abs().mean()}

    def codes(self, x: Tensor) -> Tensor:
        """Per-frame code of the temporal mode: ``E`` of the pair ``(F_t, F_t)`` (as LW-MM's)."""
        ea, eb, _, _ = self.encode(x, x)
        return (ea + eb) / 2

    def from_band(self, x: Tensor, band: Tensor, alpha) -> Tensor:
        """``D(A(E'_t, E'_t) + M(bp(E)_t · alpha))`` (LW-MM's temporal reading; ``E_a − E_b = 0`` here)."""
        ea, eb, ta, tb = self.encode(x, x)
        return self.decode(self.appear(ta, tb) + self.manipulate((ea - eb) + band, alpha))


ARCHS: dict[str, tuple[type[nn.Module], dict]] = {
    "kldnas-sm1": (KLDNASNet, {"genotype": teacher_like_genotype(), "c": 24}),
    "kldnas-sm2": (KLDNASNet, {"genotype": teacher_like_genotype(), "c": 24}),
}
"""Architecture name → (class, default keyword arguments).  The default genotype is the teacher-like
one of the reduced space (module notes); the shipped weights carry their searched genotype in
``arch_args``."""

PUBLISHED = {
    "kldnas-sm1": {"params_m": 0.35, "gflops_720": 93.1, "runtime_ms_720_rtx2080": 64,
                   "target_ms_384_rtx2080": 23, "table": "thesis Table 4.1"},
    "kldnas-sm2": {"params_m": 0.47, "gflops_720": 123.9, "runtime_ms_720_rtx2080": 69,
                   "target_ms_384_rtx2080": 25, "table": "thesis Table 4.1"},
}
"""Thesis Table 4.1 (720×720, RTX 2080) and the search targets of §4.2 (384×384)."""
