"""pointrt_sim: a deterministic KITTI-like LiDAR scene simulator (numpy only).

Modules: lidar (HDL-64E beam layout, ray casting, returns), geometry (ray-primitive intersections), scene (random
street scenes and object bodies), kitti (calibration, label geometry and file formats), generate (CLI).
See docs/simulator.md.
"""
__all__ = ["lidar", "geometry", "scene", "kitti", "generate"]
