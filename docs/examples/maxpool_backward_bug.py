#!/usr/bin/env python3
"""A deliberately wrong max-pool backward, written the way it is often written first,
and the trace file that lets `deltascope diff` find the bug.

    cargo run --release -- export scenarios/overlapping_max_pool.json -o reference.json
    python3 docs/examples/maxpool_backward_bug.py reference.json mine.json
    cargo run --release -- diff scenarios/overlapping_max_pool.json mine.json

The reference trace is only used for the layer's input and the δ arriving at its
output, so that this one layer can be checked on its own, as you would while writing it;
both go into mine.json with the δ_input computed from them.
"""
import json
import sys

import numpy as np


def max_pool_backward(x, delta_out, size, stride):
    """δ of a max pool's input, routed through the switches. THE BUG: `=` where
    overlapping windows need `+=`, so a cell that wins two windows keeps only the last δ."""
    channels, height, width = x.shape
    _, out_h, out_w = delta_out.shape
    delta_in = np.zeros_like(x)
    for c in range(channels):
        for i in range(out_h):
            for j in range(out_w):
                window = x[c, i * stride:i * stride + size, j * stride:j * stride + size]
                u, v = np.unravel_index(np.argmax(window), window.shape)  # first maximum wins
                delta_in[c, i * stride + u, j * stride + v] = delta_out[c, i, j]  # should be +=
    return delta_in


def main(reference_path, mine_path):
    with open(reference_path) as f:
        reference = json.load(f)
    step = reference["steps"][0]
    pool = next(layer for layer in step["layers"] if layer["name"] == "pool1")
    x = np.array(pool["input"], dtype=np.float64)
    delta_out = np.array(pool["delta_output"], dtype=np.float64)
    delta_in = max_pool_backward(x, delta_out, size=3, stride=2)

    # Your numbers in the trace format: any subset of steps, layers and tensors.
    # Layers are matched by "name" (or by position when there is none); nested lists
    # of floats, with "NaN", "inf" or "-inf" as strings for non-finite values. With
    # δ_input go what it was computed from, so that diff can tell whether the mistake
    # is made in this layer or before it.
    mine = {"steps": [{"step": 0, "layers": [{
        "name": "pool1",
        "input": x.tolist(),
        "delta_output": delta_out.tolist(),
        "delta_input": delta_in.tolist(),
    }]}]}
    with open(mine_path, "w") as f:
        json.dump(mine, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
