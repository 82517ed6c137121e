"""One training loop for every network (``physio train`` and ``torchrun -m physio.train``).

The loop never branches on the network's name: :data:`physio.nets.registry.NETS` builds it from the config.
Training is participant-independent by default (holdout of 20 % of the participants, or k-fold);
``split: time`` gives the participant-dependent protocol.  Batches stream from the cohort's cached
representations (:class:`physio.train.data.BlockDataset`).  After each epoch the loop scores the
validation sessions (rate MAE against the rate of the ground-truth signal, same estimator) and writes
an atomic checkpoint holding the config, the cohort's content hash, the split, the metrics history and
every RNG state, so ``--resume`` continues an interrupted run exactly.  Under ``torchrun`` it uses
DistributedDataParallel (gloo on CPU, NCCL on GPU) with a distributed sampler.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm

from physio.atomic import atomic_torch_save, atomic_write_json
from physio.cohort import Cohort, split_by_time, split_holdout, split_kfold
from physio.cohort.digest import cohort_content_sha256
from physio.errors import InputError, PhysioWarning
from physio.nets.registry import CHECKPOINT_FORMAT, NETS, build_net, load_checkpoint
from physio.rates.waveform import estimate_rate, reference_rate
from physio.represent.cache import ensure_cache, read_cache, unusable_sessions
from physio.train.augment import Augmenter, parse_augment
from physio.train.data import BlockDataset, collate_blocks

__all__ = ["TrainConfig", "train", "predict_session"]

@dataclass
class TrainConfig:
    """Everything that defines a training run (``configs/pulse.yaml``, ``configs/resp.yaml``)."""

    name: str = "pulse_cnn"
    net: str = "pulse_cnn"
    net_args: dict = field(default_factory=dict)
    source: str = "pulse"
    representation: dict = field(default_factory=lambda: {"kind": "nfd", "size": 36})
    split: str = "holdout"  # holdout | kfold | time
    test_fraction: float = 0.2
    val_fraction: float = 0.1
    k: int = 5
    fold: int = 0
    seed: int = 0
    epochs: int = 10
    block: int = 32
    batch_blocks: int = 4
    samples_per_epoch: int = 0  # 0: every sample once per epoch
    lr: float = 1e-3
    weight_decay: float = 0.0
    workers: int = 0
    device: str = "auto"
    bands: str = "deepmag"
    threads: int = 0  # torch intra-op threads (0: torch's default)
    augment: dict = field(default_factory=dict)  # training augmentations (physio.train.augment); {} = off
    init_from: str = ""  # start from this checkpoint's weights (same net and net_args) instead of random

    def __post_init__(self) -> None:
        if self.net not in NETS:
            raise InputError(f"unknown net {self.net!r}; valid: {', '.join(sorted(NETS))}")
        if self.source not in ("pulse", "resp"):
            raise InputError(f"source must be 'pulse' or 'resp', got {self.source!r}")
        if self.split not in ("holdout", "kfold", "time"):
            raise InputError(f"split must be holdout, kfold or time, got {self.split!r}")
        if self.epochs < 1 or self.block < 1 or self.batch_blocks < 1:
            raise InputError("epochs, block and batch_blocks must be ≥ 1")
        for name, lo in (("lr", 0.0), ("weight_decay", None), ("test_fraction", None), ("val_fraction", None)):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or (lo is not None and v <= lo) or v < 0:
                raise InputError(f"{name} must be a finite number{' > 0' if lo is not None else ' ≥ 0'}, got {v!r}")
        if self.test_fraction + self.val_fraction >= 1:
            raise InputError(f"test_fraction + val_fraction must be < 1, got {self.test_fraction} + {self.val_fraction}")
        if self.samples_per_epoch < 0 or self.workers < 0 or self.threads < 0:
            raise InputError("samples_per_epoch, workers and threads must be ≥ 0")
        parse_augment(self.augment or {})  # refuse unknown augmentations/keys at load time
        if self.init_from and not Path(self.init_from).is_file():
            raise InputError(f"init_from: no checkpoint at {self.init_from}")


def _make_split(cfg: TrainConfig, cohort_path) -> dict:
    with Cohort(cohort_path) as c:
        people = c.participants
        keys = [s.key for s in c.sessions()]
    if cfg.split == "holdout":
        parts = split_holdout(people, cfg.test_fraction, cfg.seed, cfg.val_fraction)
    elif cfg.split == "kfold":
        folds = split_kfold(people, cfg.k, cfg.seed)
        if not 0 <= cfg.fold < cfg.k:
            raise InputError(f"fold must be in 0..{cfg.k - 1}, got {cfg.fold}")
        parts = dict(folds[cfg.fold])
        if cfg.val_fraction > 0 and len(parts["train"].participants) > 2:
            inner = split_holdout(parts["train"].participants, cfg.val_fraction, cfg.seed + 1)
            parts["train"], parts["val"] = inner["train"], dataclasses.replace(inner["test"], name="val")
    else:
        parts = split_by_time(keys, cfg.test_fraction)
        if cfg.val_fraction > 0:
            cut = 1.0 - cfg.test_fraction
            vcut = cut - cfg.val_fraction
            tr = {k: (0.0, vcut) for k in keys}
            va = {k: (vcut, cut) for k in keys}
            parts["train"] = dataclasses.replace(parts["train"], frame_ranges=tr)
            parts["val"] = dataclasses.replace(parts["train"], name="val", frame_ranges=va)
    return parts


class _EpochSampler(Sampler):
    """Shuffled block order, seeded by (seed, epoch); optional subset; sharded across ranks."""

    def __init__(self, n: int, seed: int, limit: int = 0, rank: int = 0, world: int = 1) -> None:
        self.n, self.seed, self.limit, self.rank, self.world = n, seed, limit, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        order = torch.randperm(self.n, generator=g).tolist()
        if self.limit:
            order = order[: self.limit]
        per = len(order) // self.world  # equal count per rank so DDP steps stay in lockstep
        return order[self.rank * per : (self.rank + 1) * per]

    def __iter__(self):
        return iter(self._order())

    def __len__(self) -> int:
        return len(self._order())


def _rng_state() -> dict:
    """Every RNG's state as tensors and plain data (checkpoints load with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(gauss)},
        "python": random.getstate(),
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    random.setstate(state["python"])


@torch.no_grad()
def predict_session(net: torch.nn.Module, cache_group, device, batch: int = 256, standardize: bool = True) -> np.ndarray:
    """Run ``net`` over a session's cached representation ``(T-1, C, S, S)``; returns ``(T-1,)``."""
    net.eval()
    out = []
    n = cache_group["x"].shape[0]
    for s in range(0, n, batch):
        xb = torch.from_numpy(read_cache(cache_group, s, s + batch, standardize)).to(device)
        out.append(net(xb).float().cpu().numpy())
    return np.concatenate(out)


def _validate(net, dataset: BlockDataset, cfg: TrainConfig, device) -> dict:
    """Rate MAE (per minute) and derivative MSE over the validation sessions."""
    errs, mses = [], []
    with Cohort(dataset.path) as c:
        for key in dataset.session_keys():
            s = c[key]
            pred = predict_session(net, dataset.cache.require(s.key, dataset.cache_key), device,
                                   standardize=dataset.standardize)
            y = dataset.labels[key][: len(pred)]
            mses.append(float(np.mean((pred - y) ** 2)))
            try:
                est = estimate_rate(pred, s.fps, cfg.source, derivative=True, bands=cfg.bands, with_series=False).rate_per_min
                ref = reference_rate(y, s.fps, cfg.source, derivative=True, bands=cfg.bands,
                                     with_series=False).rate_per_min
            except InputError:
                continue
            errs.append(abs(est - ref))
    dataset.cache.close()
    return {"val_rate_mae": float(np.mean(errs)) if errs else float("nan"), "val_mse": float(np.mean(mses))}


def _setup_distributed(cfg: TrainConfig):
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1 and not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and cfg.device in ("auto", "cuda")
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return rank, world


def _device(cfg: TrainConfig, rank: int) -> torch.device:
    if cfg.device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", rank % torch.cuda.device_count())
        return torch.device("cpu")
    return torch.device(cfg.device)


def _resume(cfg: TrainConfig, last_path: Path, net, opt, content_hash: str, rank: int) -> tuple[list, int, float]:
    """Load ``last_path`` into ``net``/``opt`` and the RNGs; returns ``(history, epoch, best_val)``."""
    if not last_path.exists():
        raise InputError(f"--resume: no checkpoint at {last_path}")
    ckpt = load_checkpoint(last_path)
    if ckpt["cohort_content_sha256"] != content_hash:
        raise InputError(f"{last_path}: was trained on a different cohort (content hash differs)")
    # ``epochs`` may grow: no schedule depends on it, so extending a run equals training longer
    given = {**dataclasses.asdict(cfg), "epochs": ckpt["config"]["epochs"]}
    # keys added to TrainConfig since the checkpoint was written take their defaults
    stored = {**dataclasses.asdict(TrainConfig(net=cfg.net, source=cfg.source)), **ckpt["config"]}
    stored = {k: stored[k] for k in given}
    if stored != given:
        raise InputError(f"{last_path}: config differs from the one given; refusing to resume")
    if cfg.epochs < ckpt["epoch"]:
        raise InputError(f"{last_path}: already trained {ckpt['epoch']} epochs; --epochs {cfg.epochs} is fewer")
    net.load_state_dict(ckpt["state_dict"])
    opt.load_state_dict(ckpt["optimizer"])
    _set_rng_state(ckpt["rng"][min(rank, len(ckpt["rng"]) - 1)])
    return ckpt["history"], ckpt["epoch"], ckpt.get("best_val", float("inf"))


def _weights_sha256(state_dict) -> str:
    return hashlib.sha256(b"".join(v.detach().cpu().numpy().tobytes() for v in state_dict.values())).hexdigest()


def _init_from(cfg: TrainConfig, net) -> dict:
    """Load ``cfg.init_from``'s weights into ``net`` (fine-tuning); it must be the same network on the
    same representation.  Returns its provenance (path, weights hash, what it was trained on)."""
    ckpt = load_checkpoint(cfg.init_from)
    for key in ("net", "net_args", "source", "representation"):
        if ckpt.get(key) != getattr(cfg, key):
            raise InputError(f"init_from {cfg.init_from}: its {key} {ckpt.get(key)!r} differs from the "
                             f"config's {getattr(cfg, key)!r}")
    net.load_state_dict(ckpt["state_dict"])
    return {"path": str(cfg.init_from), "weights_sha256": _weights_sha256(ckpt["state_dict"]),
            "cohort_content_sha256": ckpt.get("cohort_content_sha256"), "epochs": ckpt.get("epoch")}


def _data(cfg: TrainConfig, cohort_path, parts: dict, cache_key: str, rank: int, world: int):
    """Training and validation block datasets, the epoch sampler (sharded over ranks) and the loader."""
    standardize = bool(cfg.representation.get("standardize", True))
    augment = Augmenter(parse_augment(cfg.augment or {}))
    train_ds = BlockDataset(cohort_path, parts["train"], cache_key, cfg.source, cfg.block, standardize, augment)
    val_part = parts.get("val") or parts["test"]
    val_ds = BlockDataset(cohort_path, val_part, cache_key, cfg.source, cfg.block, standardize)
    limit = (cfg.samples_per_epoch + cfg.block - 1) // cfg.block if cfg.samples_per_epoch else 0
    sampler = _EpochSampler(len(train_ds), cfg.seed, limit, rank, world)
    loader = DataLoader(train_ds, batch_size=cfg.batch_blocks, sampler=sampler, collate_fn=collate_blocks,
                        num_workers=cfg.workers, persistent_workers=False)
    return train_ds, val_ds, sampler, loader


def _train_epoch(model, loader, opt, device, epoch: int, cfg: TrainConfig, progress: bool) -> list[float]:
    """One pass over the sampler's blocks; returns the batch losses."""
    model.train()
    loss_fn = torch.nn.MSELoss()
    losses: list[float] = []
    bar = tqdm(loader, desc=f"{cfg.name} epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False,
               dynamic_ncols=True)
    for xb, yb in bar:
        xb, yb = xb.to(device), yb.to(device)
        loss = loss_fn(model(xb), yb)
        if not torch.isfinite(loss):
            raise InputError(f"training diverged at epoch {epoch + 1} (loss {loss.item()})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
    return losses


@dataclass
class _Run:
    """What every checkpoint of one run records besides the weights (provenance)."""

    cfg: TrainConfig
    cohort_path: object
    cache_key: str
    content_hash: str
    parts: dict
    world: int
    init: dict | None = None
    skipped: dict = field(default_factory=dict)  # sessions left out: their region was not found

    def checkpoint(self, net, opt, epoch: int, history: list, rng_states: list, best_val: float) -> dict:
        cfg = self.cfg
        return {
            "format": CHECKPOINT_FORMAT,
            "version": 1,
            "name": cfg.name,
            "net": cfg.net,
            "net_args": cfg.net_args,
            "source": cfg.source,
            "representation": cfg.representation,
            "cache_key": self.cache_key,
            "state_dict": net.state_dict(),
            "optimizer": opt.state_dict(),
            "epoch": epoch,
            "history": history,
            "config": dataclasses.asdict(cfg),
            "cohort": str(self.cohort_path),
            "cohort_content_sha256": self.content_hash,
            "split": {k: v.to_dict() for k, v in self.parts.items()},
            "rng": rng_states,
            "world_size": self.world,
            "torch_version": str(torch.__version__),
            "best_val": best_val,
            "init_from": self.init,
            "skipped_sessions": self.skipped,
        }


def train(
    cfg: TrainConfig,
    cohort_path,
    out_dir,
    resume: bool = False,
    progress: bool = True,
    prepare_cache=None,
) -> dict:
    """Train ``cfg.net`` on ``cohort_path``; checkpoints go to ``out_dir/<name>.pt`` (+ ``last``).

    Parameters
    ----------
    prepare_cache : callable, optional
        ``prepare_cache(cohort_path, representation_dict, progress=bool) -> cache_key``; computes the cached
        representation when missing (default: :func:`physio.represent.cache.ensure_cache`).

    Returns
    -------
    dict
        The final checkpoint's metadata (metrics history, split, paths).
    """
    prepare_cache = prepare_cache or ensure_cache
    rank, world = _setup_distributed(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    last_path = out / f"{cfg.name}.last.pt"
    best_path = out / f"{cfg.name}.pt"

    if rank == 0:
        cache_key = prepare_cache(cohort_path, cfg.representation, progress=progress)
    if world > 1:
        holder = [cache_key if rank == 0 else None]
        dist.broadcast_object_list(holder, src=0)
        cache_key = holder[0]
    content_hash = cohort_content_sha256(cohort_path)
    parts = _make_split(cfg, cohort_path)

    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)
    device = _device(cfg, rank)
    net = build_net(cfg.net, cfg.net_args).to(device)
    init = _init_from(cfg, net) if cfg.init_from else None
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history, start_epoch, best = _resume(cfg, last_path, net, opt, content_hash, rank) if resume else ([], 0, float("inf"))

    train_ds, val_ds, sampler, loader = _data(cfg, cohort_path, parts, cache_key, rank, world)
    model = net
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    t0 = time.time()
    skipped = unusable_sessions(cohort_path, cache_key)
    if skipped and rank == 0:
        warnings.warn(f"{len(skipped)} session(s) left out (region not found): {', '.join(sorted(skipped))}",
                      PhysioWarning, stacklevel=2)
    run = _Run(cfg, cohort_path, cache_key, content_hash, parts, world, init, skipped)
    for epoch in range(start_epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        losses = _train_epoch(model, loader, opt, device, epoch, cfg, progress and rank == 0)
        metrics = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan")}
        if rank == 0:
            metrics.update(_validate(net, val_ds, cfg, device))
        metrics["elapsed_s"] = round(time.time() - t0, 1)
        history.append(metrics)
        if rank == 0 and progress:
            tqdm.write(
                f"{cfg.name} epoch {epoch + 1}/{cfg.epochs}: loss {metrics['train_loss']:.4f}  "
                f"val MSE {metrics.get('val_mse', float('nan')):.4f}  "
                f"val rate MAE {metrics.get('val_rate_mae', float('nan')):.2f} "
                f"{'bpm' if cfg.source == 'pulse' else 'breaths/min'}"
            )
        rng_states = [_rng_state()]
        if world > 1:
            gathered = [None] * world
            dist.all_gather_object(gathered, rng_states[0])
            rng_states = gathered
        if rank == 0:
            score = metrics.get("val_mse", float("inf"))
            ckpt = run.checkpoint(net, opt, epoch + 1, history, rng_states, min(best, score))
            atomic_torch_save(ckpt, last_path)
            if score <= best or not best_path.exists():
                best = score
                atomic_torch_save({**ckpt, "optimizer": None}, best_path)
        if world > 1:
            dist.barrier()
    weights_hash = _weights_sha256(net.state_dict())
    summary = {
        "rank": rank,
        "world_size": world,
        "weights_sha256": weights_hash,
        "history": history,
        "checkpoint": str(best_path),
        "last": str(last_path),
        "cache_key": cache_key,
        "split": {k: v.to_dict() for k, v in parts.items()},
        "wall_s": round(time.time() - t0, 1),
    }
    atomic_write_json(out / f"{cfg.name}.rank{rank}.json", summary)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return summary
