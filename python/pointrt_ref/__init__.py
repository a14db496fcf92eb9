"""pointrt_ref: the PyTorch (CPU) reference of pointrt's IA-SSD network and operators.

Modules: ops (operators), model (network, config, weight names, test preprocessing), safetensors_io,
make_random_weights (CLI), dump_reference (CLI). Run with Debian's /usr/bin/python3 (torch 1.13).
"""
__all__ = ["ops", "model", "safetensors_io"]
