"""One-time migration (session 8): re-serialise physio checkpoints so that they load with
``torch.load(weights_only=True)`` — tensors and plain data only (issue #24).

    python benchmarks/convert_checkpoints.py models/*.pt

Only for files physio itself wrote (the old format needs a full unpickle to read, which is exactly
what physio no longer does for any other file).  The weights are unchanged: the script checks that
every tensor of ``state_dict`` is bit-identical after the round trip and prints the SHA-256 of the
weights (over the state_dict's bytes, as `physio train` records it) and of the new file.
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import torch

from physio.atomic import atomic_torch_save, plain


def _numpy_rng(state):
    if isinstance(state, tuple) and len(state) == 5 and state[0] == "MT19937":
        kind, keys, pos, has_gauss, gauss = state
        return {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys).astype(np.int64)), "pos": int(pos),
                "has_gauss": int(has_gauss), "cached_gaussian": float(gauss)}
    return state


def convert(path: str) -> None:
    old = torch.load(path, map_location="cpu", weights_only=False)  # our own file: trusted once, here only
    new = dict(old)
    if isinstance(new.get("rng"), list):
        new["rng"] = [{**r, "numpy": _numpy_rng(r.get("numpy"))} for r in new["rng"]]
    atomic_torch_save(plain(new), path)
    back = torch.load(path, map_location="cpu", weights_only=True)
    sd_old = old.get("state_dict") or old.get("model")
    sd_new = back.get("state_dict") or back.get("model")
    assert sd_old.keys() == sd_new.keys() and all(torch.equal(sd_old[k], sd_new[k]) for k in sd_old), path
    weights = hashlib.sha256(b"".join(v.detach().cpu().numpy().tobytes() for v in sd_new.values())).hexdigest()
    with open(path, "rb") as fh:
        file_hash = hashlib.sha256(fh.read()).hexdigest()
    print(f"{path}: loads with weights_only=True; weights sha256 {weights}; file sha256 {file_hash}")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        convert(p)
