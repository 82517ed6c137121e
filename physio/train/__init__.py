"""Training: one loop for every network, streaming from cached cohort representations.

Run as ``physio train --config configs/pulse.yaml --cohort FILE`` or, distributed,
``torchrun --nproc_per_node=N -m physio.train --config … --cohort …``.
"""

from physio.train.loop import TrainConfig, build_net, cohort_content_sha256, load_checkpoint, predict_session, train

__all__ = ["TrainConfig", "train", "build_net", "cohort_content_sha256", "load_checkpoint", "predict_session"]
