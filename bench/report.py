#!/usr/bin/env python3
"""Turns Google Benchmark JSON files (--benchmark_out=F --benchmark_out_format=json) from bench/ into the
markdown table of docs/benchmarks.md: one row per benchmark with p50, p90 and mean in microseconds."""
import json
import sys


def main(paths):
    rows = []
    gpu = None
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        for b in data.get("benchmarks", []):
            if b.get("run_type") == "aggregate":
                continue
            gpu = gpu or b.get("label")
            name = b.get("run_name", b["name"]).split("/iterations:")[0]
            rows.append((name, b.get("p50_us"), b.get("p90_us"), b.get("mean_us"), int(b.get("nodes", 0)),
                         b.get("iterations")))
    print(f"GPU: {gpu}\n")
    print("| benchmark | p50 (µs) | p90 (µs) | mean (µs) | graph nodes | iterations |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, p50, p90, mean, nodes, it in rows:
        print(f"| {name} | {p50:.1f} | {p90:.1f} | {mean:.1f} | {nodes} | {it} |")


if __name__ == "__main__":
    main(sys.argv[1:])
