"""pointrt_train: training code for IA-SSD (hvcsx2) on KITTI-layout data, exporting the safetensors pointrt loads.

Modules: ops (device-agnostic torch samplers / ball query / box geometry), model (nn.Module with the reference
weight names), losses (IA-SSD training objectives), data (KITTI-layout reader, preprocessing, augmentation),
train (CLI: training loop with resumable checkpoints), export (CLI: checkpoint -> safetensors), predict (CLI:
KITTI label files from the reference network). See docs/training.md.
"""
__all__ = ["ops", "model", "losses", "data", "train", "export", "predict"]
