#!/usr/bin/env python3
"""A learner's whole network for scenarios/mean_pool_classic.json, written from scratch in
NumPy: conv → ReLU → 2×2 mean pool → conv → ReLU → 2×2 mean pool, ½Σ(y − t)², SGD. It writes
every tensor of every step in the trace format, so that `deltascope diff` can say not only
where its numbers first leave the reference but where the mistake is made.

    cargo run --release -- export scenarios/mean_pool_classic.json -o reference.json
    python3 docs/examples/mean_pool_network.py reference.json mine.json --bug pool2
    cargo run --release -- diff scenarios/mean_pool_classic.json mine.json

The reference trace is only read for the scenario's input and initial parameters.
--bug pool2   pool2's backward pass forgets to divide δ by the window area
--bug conv    conv layers compute δ_input per kernel and keep only the last (= where += is due)
(both may be given; none gives a correct network, and diff exits 0)
"""
import argparse
import json

import numpy as np


def conv_forward(x, w, b):
    k_out, _, kh, kw = w.shape
    _, h, wd = x.shape
    z = np.zeros((k_out, h - kh + 1, wd - kw + 1))
    for k in range(k_out):
        for i in range(z.shape[1]):
            for j in range(z.shape[2]):
                z[k, i, j] = np.sum(w[k] * x[:, i:i + kh, j:j + kw]) + b[k]
    return z


def conv_backward(x, w, delta_z, bug):
    k_out, _, kh, kw = w.shape
    grad_w = np.zeros_like(w)
    delta_x = np.zeros_like(x)
    for k in range(k_out):
        delta_x_k = np.zeros_like(x)
        for i in range(delta_z.shape[1]):
            for j in range(delta_z.shape[2]):
                grad_w[k] += delta_z[k, i, j] * x[:, i:i + kh, j:j + kw]
                delta_x_k[:, i:i + kh, j:j + kw] += delta_z[k, i, j] * w[k]
        if bug:
            delta_x = delta_x_k  # THE BUG: each kernel overwrites the one before
        else:
            delta_x += delta_x_k
    return grad_w, delta_z.sum(axis=(1, 2)), delta_x


def mean_pool_forward(x):
    c, h, w = x.shape
    return x.reshape(c, h // 2, 2, w // 2, 2).mean(axis=(2, 4))


def mean_pool_backward(delta_y, bug):
    spread = np.repeat(np.repeat(delta_y, 2, axis=1), 2, axis=2)
    return spread if bug else spread / 4  # THE BUG: no division by the window area


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("reference")
    parser.add_argument("mine")
    parser.add_argument("--bug", action="append", default=[], choices=["pool2", "conv"])
    args = parser.parse_args()
    with open(args.reference) as f:
        start = {layer["name"]: layer for layer in json.load(f)["steps"][0]["layers"]}
    x = np.array(start["conv1"]["input"])
    w = {n: np.array(start[n]["weights"]) for n in ("conv1", "conv2")}
    b = {n: np.array(start[n]["bias"]) for n in ("conv1", "conv2")}
    target, learning_rate = np.array([[[1.0]], [[0.0]]]), 0.1
    conv_bug = "conv" in args.bug

    steps = []
    for step in range(3):
        z1 = conv_forward(x, w["conv1"], b["conv1"])
        a1 = np.maximum(z1, 0)
        p1 = mean_pool_forward(a1)
        z2 = conv_forward(p1, w["conv2"], b["conv2"])
        a2 = np.maximum(z2, 0)
        y = mean_pool_forward(a2)
        loss = 0.5 * np.sum((y - target) ** 2)
        delta_y = y - target
        delta_a2 = mean_pool_backward(delta_y, "pool2" in args.bug)
        delta_z2 = delta_a2 * (z2 > 0)
        grad_w2, grad_b2, delta_p1 = conv_backward(p1, w["conv2"], delta_z2, conv_bug)
        delta_a1 = mean_pool_backward(delta_p1, False)
        delta_z1 = delta_a1 * (z1 > 0)
        grad_w1, grad_b1, delta_x = conv_backward(x, w["conv1"], delta_z1, conv_bug)

        t = np.ndarray.tolist
        steps.append({"step": step, "loss": loss, "loss_grad": t(delta_y), "layers": [
            {"name": "conv1", "input": t(x), "weights": t(w["conv1"]), "bias": t(b["conv1"]),
             "z": t(z1), "a": t(a1), "delta_a": t(delta_a1), "delta_z": t(delta_z1),
             "grad_weights": t(grad_w1), "grad_bias": t(grad_b1), "delta_input": t(delta_x)},
            {"name": "pool1", "input": t(a1), "output": t(p1),
             "delta_output": t(delta_p1), "delta_input": t(delta_a1)},
            {"name": "conv2", "input": t(p1), "weights": t(w["conv2"]), "bias": t(b["conv2"]),
             "z": t(z2), "a": t(a2), "delta_a": t(delta_a2), "delta_z": t(delta_z2),
             "grad_weights": t(grad_w2), "grad_bias": t(grad_b2), "delta_input": t(delta_p1)},
            {"name": "pool2", "input": t(a2), "output": t(y),
             "delta_output": t(delta_y), "delta_input": t(delta_a2)},
        ]})
        for name, grad_w, grad_b in (("conv1", grad_w1, grad_b1), ("conv2", grad_w2, grad_b2)):
            w[name] = w[name] - learning_rate * grad_w
            b[name] = b[name] - learning_rate * grad_b

    with open(args.mine, "w") as f:
        json.dump({"steps": steps}, f)


if __name__ == "__main__":
    main()
