"""Resumable training of the learned magnifiers (``physio train-magnifier``).

One loop for every architecture: the network comes from :func:`.nets.build_net`, its loss from
:func:`.losses.make_objective` (Oh et al.'s or LW-MM's), so the loop never branches on a name.

* **Data** — batch ``k`` of step ``s`` holds sample ``s·batch + k`` of :class:`.data.SynthPairs`
  (generated on the fly) or of an HDF5 file (:class:`.data.H5Pairs`, shuffled per epoch with a
  seeded permutation); input noise comes from a generator seeded by ``(seed, step)``.  Nothing
  depends on the history of the run, so resuming from a checkpoint reproduces an uninterrupted run
  exactly (same thread count and device).
* **Proxy stage** (LW-MM with ``loss.proxy > 0`` and no ``proxy`` file) — the same architecture is
  first trained for ``proxy_steps`` on noise-free inputs in ``OUT/proxy/``, then frozen; the main
  stage trains on noisy inputs with the proxy feature loss ``L_M`` (thesis §3.1).
* **Previous-epoch snapshot** (``epoch_steps > 0``) — from step ``finetune_from`` on, a frozen copy of
  the network is taken every ``epoch_steps`` steps and handed to the objective (HMN's contrastive
  loss compares its features with the previous epoch's, thesis ch. 7); before the first snapshot the
  terms that need it are off, so ``finetune_from`` is where the fine-tuning stage begins.  The
  snapshot is kept in the checkpoint, so a resumed run continues exactly.
* **Checkpoints** — ``OUT/last.pt`` (and ``OUT/proxy/last.pt``) every ``checkpoint_every`` steps, at
  the end, at the wall-time budget ``max_wall_s`` and on Ctrl-C; written to a temporary file and
  renamed, so an interrupted run never leaves a broken checkpoint.  Each holds the config, model,
  optimizer, step, cumulative wall time and the loss/validation history; ``OUT/history.json``
  mirrors the history.
* **Progress** — a tqdm bar per stage with the running loss.

Adam with a constant learning rate (1e-4 in the thesis and Oh et al.).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from physio.atomic import atomic_torch_save, atomic_write_text
from physio.errors import DivergenceError, InputError
from physio.magnify.learned.data import NoiseConfig, SynthConfig, make_batch, open_pairs
from physio.magnify.learned.losses import LossWeights, PerceptualLoss, make_objective
from physio.magnify.learned.nets import ARCHS, LWMMNet, ThesisNet, build_net
from physio.magnify.learned.weights import load_weights, save_weights
from physio.nets.registry import read_torch_file

__all__ = ["MagTrainConfig", "train_magnifier", "load_checkpoint", "export_run", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "physio-magnifier-checkpoint"
VAL_SEED_OFFSET = 1_000_003


@dataclass
class MagTrainConfig:
    """A training run (``configs/oh2018.yaml``, ``configs/lwmm_m1.yaml``, ``configs/lwmm_m2.yaml``)."""

    name: str = "lwmm_m2"
    arch: str = "lwmm-m2"
    arch_args: dict = field(default_factory=dict)
    data: SynthConfig = field(default_factory=SynthConfig)
    data_file: str = ""  # HDF5 from `physio train-magnifier make-data`; empty: generate on the fly
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    perceptual: str = "auto"  # auto | vgg16 | msssim
    vgg_weights: str = ""
    proxy: str = ""  # frozen noise-free proxy weights; empty + loss.proxy > 0: train one first
    proxy_steps: int = 1000
    seed: int = 0
    steps: int = 1000
    batch: int = 4
    lr: float = 1e-4
    weight_decay: float = 0.0
    grad_clip: float = 0.0  # max gradient norm; 0: off
    checkpoint_every: int = 100
    log_every: int = 10
    val_every: int = 200
    val_samples: int = 16
    epoch_steps: int = 0  # > 0: a frozen snapshot of the net every epoch_steps steps for the objective
    finetune_from: int = 0  # first snapshot at this step (HMN: the contrastive fine-tuning stage)
    max_wall_s: float = 0.0  # per stage and invocation; 0: no budget
    threads: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if isinstance(self.data, dict):
            self.data = SynthConfig(**self.data)
        if isinstance(self.noise, dict):
            self.noise = NoiseConfig(**self.noise)
        if isinstance(self.loss, dict):
            self.loss = LossWeights(**self.loss)
        if self.arch not in ARCHS:
            raise InputError(f"unknown arch {self.arch!r}; valid: {', '.join(ARCHS)}")
        for k in ("steps", "batch", "checkpoint_every", "log_every"):
            if getattr(self, k) < 1:
                raise InputError(f"{k} must be ≥ 1, got {getattr(self, k)}")
        if self.proxy_steps < 0 or self.val_samples < 0 or self.val_every < 0:
            raise InputError("proxy_steps, val_samples and val_every must be ≥ 0")
        if self.epoch_steps < 0 or self.finetune_from < 0:
            raise InputError("epoch_steps and finetune_from must be ≥ 0")
        if self.lr <= 0:
            raise InputError(f"lr must be > 0, got {self.lr}")

    def needs_proxy_stage(self) -> bool:
        cls = ARCHS[self.arch][0]
        return self.loss.proxy > 0 and not self.proxy and (issubclass(cls, LWMMNet) or getattr(cls, "uses_proxy", False))

    def proxy_config(self) -> "MagTrainConfig":
        """The noise-free proxy stage: same net and data, no noise, no proxy loss."""
        d = dataclasses.asdict(self)
        d.update(name=f"{self.name}_proxy", steps=self.proxy_steps, proxy="", epoch_steps=0, finetune_from=0)
        d["noise"]["kind"] = "none"
        d["loss"]["proxy"] = 0.0
        return MagTrainConfig(**d)


def _atomic_save(obj, path: Path) -> None:
    atomic_torch_save(obj, path)


def _atomic_json(obj, path: Path) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, default=str))


def load_checkpoint(path: str | os.PathLike) -> dict:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: checkpoint not found")
    ckpt = read_torch_file(p, "magnifier training checkpoint")
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{p}: not a physio magnifier training checkpoint")
    return ckpt


class _Sampler:
    """Sample indices of step ``s``: on the fly ``s·B + k``; HDF5: a seeded permutation per epoch."""

    def __init__(self, pairs, batch: int, seed: int) -> None:
        self.pairs, self.batch, self.seed = pairs, batch, seed
        self.n = len(pairs) if hasattr(pairs, "n") else None
        self._perm_epoch, self._perm = -1, None

    def indices(self, step: int) -> list[int]:
        flat = [step * self.batch + k for k in range(self.batch)]
        if self.n is None:
            return flat
        out = []
        for i in flat:
            epoch, j = divmod(i, self.n)
            if epoch != self._perm_epoch:
                self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
                self._perm_epoch = epoch
            out.append(int(self._perm[j]))
        return out


def _noise_gen(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) * 1_000_000_007 + int(step))


def _set_previous(objective, cfg: MagTrainConfig, state: dict, device) -> None:
    """Hand the objective a frozen copy of the network with ``state`` (the previous epoch's weights)."""
    prev = build_net(cfg.arch, cfg.arch_args).to(device)
    prev.load_state_dict({k: v.detach().clone() for k, v in state.items()})
    objective.previous = prev.requires_grad_(False).eval()


def _validate(objective, net, val_samples: list[dict], cfg: MagTrainConfig, device) -> dict:
    if not val_samples:
        return {}
    net.eval()
    sums: dict[str, float] = {}
    with torch.no_grad():
        for i in range(0, len(val_samples), cfg.batch):
            chunk = val_samples[i : i + cfg.batch]
            batch = {k: v.to(device) for k, v in make_batch(chunk, cfg.noise, _noise_gen(cfg.seed + VAL_SEED_OFFSET, i)).items()}
            _, parts = objective(batch)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v * len(chunk)
    net.train()
    return {f"val_{k}": v / len(val_samples) for k, v in sums.items()}


def _train_stage(cfg: MagTrainConfig, out: Path, resume: bool, proxy_net, progress: bool, stage: str) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "last.pt"
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    net = build_net(cfg.arch, cfg.arch_args).to(device)
    perceptual = None
    if cfg.loss.perceptual > 0 and issubclass(ARCHS[cfg.arch][0], (LWMMNet, ThesisNet)):
        perceptual = PerceptualLoss(cfg.perceptual, cfg.vgg_weights or None).to(device)
    objective = make_objective(net, cfg.loss, perceptual, proxy_net)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, wall, history, done = 0, 0.0, [], False
    if ckpt_path.exists():
        if not resume:
            raise InputError(f"{ckpt_path} exists: pass --resume to continue that run, or choose another output folder")
        ckpt = load_checkpoint(ckpt_path)
        saved = ckpt["config"]
        mismatch = [k for k in ("arch", "arch_args", "seed", "batch", "data", "noise", "loss", "data_file")
                    if json.dumps(saved.get(k), sort_keys=True) != json.dumps(dataclasses.asdict(cfg)[k], sort_keys=True)]
        if mismatch:
            raise InputError(f"{ckpt_path}: cannot resume with a different {', '.join(mismatch)} "
                             "(start a new output folder)")
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        if ckpt.get("previous_model") is not None:
            _set_previous(objective, cfg, ckpt["previous_model"], device)
        step, wall, history, done = ckpt["step"], ckpt["wall_s"], ckpt["history"], ckpt.get("done", False)
        if done and step >= cfg.steps:
            return {"stage": stage, "step": step, "wall_s": wall, "done": True, "checkpoint": str(ckpt_path),
                    "history": history, "objective": objective.describe()}
    pairs = open_pairs(cfg.data_file or None, cfg.data, cfg.seed)
    if cfg.data_file:
        differ = {k: (v, getattr(cfg.data, k)) for k, v in dataclasses.asdict(pairs.cfg).items()
                  if v != getattr(cfg.data, k)}
        if differ:
            raise InputError(f"{cfg.data_file} was generated with other data settings than the config's data: "
                             + ", ".join(f"{k}={a!r} (config: {b!r})" for k, (a, b) in differ.items())
                             + "; make the data: section match the file")
    sampler = _Sampler(pairs, cfg.batch, cfg.seed)
    val = []
    if cfg.val_samples and cfg.val_every:
        val_pairs = open_pairs(None, cfg.data, cfg.seed + VAL_SEED_OFFSET)
        val = [val_pairs.sample(i) for i in range(cfg.val_samples)]

    def save(is_done: bool) -> None:
        _atomic_save({"format": CHECKPOINT_FORMAT, "config": dataclasses.asdict(cfg), "stage": stage,
                      "model": net.state_dict(), "optimizer": opt.state_dict(), "step": step, "wall_s": wall,
                      "history": history, "done": is_done, "objective": objective.describe(),
                      "previous_model": None if getattr(objective, "previous", None) is None
                      else objective.previous.state_dict(),
                      "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "host": platform.processor() or platform.machine()}, ckpt_path)
        _atomic_json(history, out / "history.json")

    net.train()
    t_inv = time.perf_counter()
    t_last = t_inv
    running: dict[str, float] = {}
    n_run = 0
    bar = tqdm(total=cfg.steps, initial=step, desc=f"{cfg.name} [{stage}]", unit="step", disable=not progress,
               dynamic_ncols=True)
    stopped = "done"
    try:
        while step < cfg.steps:
            samples = [pairs.sample(i) for i in sampler.indices(step)]
            batch = {k: v.to(device) for k, v in make_batch(samples, cfg.noise, _noise_gen(cfg.seed, step)).items()}
            loss, parts = objective(batch)
            if not math.isfinite(parts["total"]):
                raise DivergenceError(f"{cfg.name}: loss is {parts['total']} at step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            if cfg.epoch_steps and step >= cfg.finetune_from and (step - cfg.finetune_from) % cfg.epoch_steps == 0:
                _set_previous(objective, cfg, net.state_dict(), device)
            now = time.perf_counter()
            wall += now - t_last
            t_last = now
            for k, v in parts.items():
                running[k] = running.get(k, 0.0) + v
            n_run += 1
            bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.steps:
                entry = {"step": step, "wall_s": round(wall, 2)} | {k: v / n_run for k, v in running.items()}
                history.append(entry)
                bar.set_postfix(loss=f"{entry['total']:.4f}")
                running, n_run = {}, 0
            if cfg.val_every and step % cfg.val_every == 0:
                history.append({"step": step, "wall_s": round(wall, 2)} | _validate(objective, net, val, cfg, device))
                t_last = time.perf_counter()  # validation time is not training time
            if step % cfg.checkpoint_every == 0 and step < cfg.steps:
                save(False)
            if cfg.max_wall_s and time.perf_counter() - t_inv >= cfg.max_wall_s and step < cfg.steps:
                stopped = "wall-time budget"
                break
    except KeyboardInterrupt:
        save(False)
        bar.close()
        raise
    bar.close()
    finished = step >= cfg.steps
    save(finished)
    return {"stage": stage, "step": step, "wall_s": wall, "done": finished, "stopped": stopped if not finished else "done",
            "checkpoint": str(ckpt_path), "history": history, "objective": objective.describe()}


def train_magnifier(cfg: MagTrainConfig, out_dir: str | os.PathLike, resume: bool = False, progress: bool = True) -> dict:
    """Train ``cfg`` into ``out_dir`` (proxy stage first when needed); returns a summary dict.

    The summary has ``done`` (all stages finished), ``stages`` (one summary per stage: ``step``,
    ``wall_s``, ``checkpoint`` …) and ``checkpoint`` (the main stage's ``last.pt``).  An unfinished
    run (wall-time budget) continues with ``resume=True``.
    """
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    out = Path(out_dir)
    stages = []
    proxy_net = None
    if cfg.needs_proxy_stage():
        s = _train_stage(cfg.proxy_config(), out / "proxy", resume, None, progress, "proxy")
        stages.append(s)
        if not s["done"]:
            return {"done": False, "stages": stages, "checkpoint": None}
        proxy_net, _ = load_weights(s["checkpoint"], map_location=cfg.device)
    elif cfg.proxy and cfg.loss.proxy > 0:
        proxy_net, info = load_weights(cfg.proxy, map_location=cfg.device)
        if info["arch"] != cfg.arch or info["arch_args"] != cfg.arch_args:
            raise InputError(f"{cfg.proxy}: proxy is {info['arch']} {info['arch_args']}, model is {cfg.arch} {cfg.arch_args}")
    s = _train_stage(cfg, out, resume, proxy_net, progress, "main")
    stages.append(s)
    return {"done": s["done"], "stages": stages, "checkpoint": s["checkpoint"]}


def export_run(run_dir: str | os.PathLike, out_path: str | os.PathLike, card_extra: dict | None = None) -> Path:
    """Write the finished run in ``run_dir`` as shipped weights ``out_path`` with a model card."""
    run = Path(run_dir)
    ckpt = load_checkpoint(run / "last.pt")
    if not ckpt.get("done"):
        raise InputError(f"{run}: training has not finished (step {ckpt['step']} of {ckpt['config']['steps']}); "
                         "resume it first")
    cfg = ckpt["config"]
    net = build_net(cfg["arch"], cfg["arch_args"])
    net.load_state_dict(ckpt["model"])
    last = [h for h in ckpt["history"] if "total" in h]
    vals = [h for h in ckpt["history"] if any(k.startswith("val_") for k in h)]
    card = {
        "architecture": {"arch": cfg["arch"], "arch_args": cfg["arch_args"]},
        "training": {
            "steps": ckpt["step"], "batch": cfg["batch"], "samples_seen": ckpt["step"] * cfg["batch"],
            "crop_px": cfg["data"]["size"], "lr": cfg["lr"], "optimizer": "Adam",
            "wall_time_h": round(ckpt["wall_s"] / 3600, 3), "threads": ckpt.get("threads"),
            "host": ckpt.get("host"), "torch": ckpt.get("torch"), "device": cfg["device"],
            "final_train_loss": last[-1]["total"] if last else None,
            "final_val": {k: v for k, v in vals[-1].items() if k.startswith("val_")} if vals else None,
        },
        "data": {"generator": "physio.magnify.learned.data.SynthPairs (Oh et al. 2018 recipe, procedural + skimage.data)",
                 "data_file": cfg["data_file"] or "on the fly", "seed": cfg["seed"], "config": cfg["data"],
                 "input_noise": cfg["noise"]},
        "loss": ckpt.get("objective", {}),
    }
    proxy_ckpt = run / "proxy" / "last.pt"
    if proxy_ckpt.exists():
        pc = load_checkpoint(proxy_ckpt)
        card["proxy_stage"] = {"steps": pc["step"], "wall_time_h": round(pc["wall_s"] / 3600, 3), "input_noise": "none"}
    card.update(card_extra or {})
    return save_weights(out_path, net, cfg["arch"], cfg["arch_args"], card)
