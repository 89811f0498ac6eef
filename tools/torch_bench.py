#!/usr/bin/env python3
"""Time deltascope's benchmark networks in PyTorch (float64, one thread), beside deltascope.

For each scenario it builds the same network in PyTorch from the scenario file (conv, pool,
dense, activation, loss; weights drawn at random, which does not change the work) and times,
as `deltascope bench` does, the median microseconds of:

  step_us      forward + loss + backward + SGD update (p -= lr * p.grad)
  forward_us   forward + loss, building the autograd graph as training does
  backward_us  loss.backward() alone

and prints one JSON line per scenario with the same keys as `deltascope bench`
(render_us is null: PyTorch draws nothing).

With --deltascope BIN it also runs `BIN bench FILE --steps N` on each scenario, alternating
the two several times (--rounds) so that both see the same machine load, and prints a
Markdown table of the medians over the rounds with the ratio PyTorch / deltascope.

With --sizes it runs the large network on inputs of 16², 32², 64² and 128² (random input,
same layers) to show how the step time grows with the input size.

Usage:
    python3 tools/torch_bench.py [SCENARIO.json ...] [--steps N] [--rounds R]
                                 [--deltascope target/release/deltascope] [--sizes]
Defaults: scenarios/bench/{seed,digits,large}.json, 300 steps, 3 rounds.
torch is not a dependency of the crate or of CI: pip install torch numpy.
"""

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit("torch_bench.py: error: PyTorch is not installed (pip install torch numpy)")

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
torch.set_num_interop_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_SCENARIOS = [os.path.join(ROOT, "scenarios", "bench", f"{n}.json") for n in ("seed", "digits", "large")]


def pair(v, default):
    if v is None:
        return default
    if isinstance(v, int):
        return (v, v)
    return tuple(v)


def activation(name, x):
    if name == "relu":
        return F.relu(x)
    if name == "leaky_relu":
        return F.leaky_relu(x, 0.01)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "tanh":
        return torch.tanh(x)
    return x


class Net:
    """The scenario's network as plain tensors with requires_grad, like deltascope's model."""

    def __init__(self, scenario):
        x = torch.tensor(scenario["input"], dtype=torch.float64)
        if x.dim() == 2:
            x = x.unsqueeze(0)
        self.input = x.unsqueeze(0)  # [1, C, H, W]
        self.lr = scenario.get("learning_rate", 0.1)
        self.layers = []
        self.params = []
        shape = list(x.shape)
        gen = torch.Generator().manual_seed(scenario.get("seed", 0))
        for layer in scenario["layers"]:
            kind = layer["type"]
            if kind == "conv":
                kh, kw = pair(layer["kernel_size"], None)
                c, k = shape[0], layer["kernels"]
                stride = pair(layer.get("stride"), (1, 1))
                padding = pair(layer.get("padding"), (0, 0))
                w = (torch.randn(k, c, kh, kw, generator=gen) * (2.0 / (c * kh * kw)) ** 0.5).requires_grad_()
                b = torch.zeros(k).requires_grad_()
                self.params += [w, b]
                self.layers.append(("conv", w, b, stride, padding, layer.get("activation", "relu")))
                ho = (shape[1] + 2 * padding[0] - kh) // stride[0] + 1
                wo = (shape[2] + 2 * padding[1] - kw) // stride[1] + 1
                shape = [k, ho, wo]
            elif kind == "pool":
                size = pair(layer["size"], None)
                stride = pair(layer.get("stride"), size)
                self.layers.append(("pool", layer.get("kind", "max"), size, stride))
                shape = [shape[0], (shape[1] - size[0]) // stride[0] + 1, (shape[2] - size[1]) // stride[1] + 1]
            elif kind == "dense":
                n = 1
                for s in shape:
                    n *= s
                o = layer["outputs"]
                w = (torch.rand(o, n, generator=gen) * 2 - 1) * (6.0 / (n + o)) ** 0.5
                w.requires_grad_()
                b = torch.zeros(o).requires_grad_()
                self.params += [w, b]
                self.layers.append(("dense", w, b, layer.get("activation", "identity")))
                shape = [o]
            else:
                raise SystemExit(f"unknown layer type {kind}")
        loss = scenario["loss"]
        self.loss_kind = loss["kind"]
        if self.loss_kind == "cross_entropy":
            self.target = torch.tensor([loss["class"]])
        else:
            self.target = torch.tensor(loss["target"], dtype=torch.float64)

    def forward(self):
        x = self.input
        for layer in self.layers:
            if layer[0] == "conv":
                _, w, b, stride, padding, act = layer
                x = activation(act, F.conv2d(x, w, b, stride=stride, padding=padding))
            elif layer[0] == "pool":
                _, kind, size, stride = layer
                if kind == "max":
                    x = F.max_pool2d(x, size, stride)
                elif kind == "mean":
                    x = F.avg_pool2d(x, size, stride)
                else:
                    x = F.lp_pool2d(x, 2, size, stride)
            else:
                _, w, b, act = layer
                x = activation(act, F.linear(x.reshape(1, -1), w, b))
        if self.loss_kind == "cross_entropy":
            return F.cross_entropy(x.reshape(1, -1), self.target)
        y = x.reshape(self.target.shape)
        if self.loss_kind == "mse":
            return F.mse_loss(y, self.target)
        return 0.5 * ((y - self.target) ** 2).sum()

    def update(self):
        with torch.no_grad():
            for p in self.params:
                p -= self.lr * p.grad
                p.grad = None


def median_us(times):
    return statistics.median(times) * 1e6


def bench_torch(scenario, steps):
    net = Net(scenario)
    for _ in range(5):  # warm up
        net.forward().backward()
        net.update()
    step_t, fwd_t, bwd_t = [], [], []
    for _ in range(steps):
        t = time.perf_counter()
        loss = net.forward()
        loss.backward()
        net.update()
        step_t.append(time.perf_counter() - t)
    for _ in range(min(steps, 200)):
        t = time.perf_counter()
        loss = net.forward()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        fwd_t.append(t1 - t)
        bwd_t.append(t2 - t1)
        for p in net.params:
            p.grad = None
    return {
        "scenario": scenario.get("name", "?"),
        "steps": steps,
        "step_us": round(median_us(step_t), 1),
        "forward_us": round(median_us(fwd_t), 1),
        "backward_us": round(median_us(bwd_t), 1),
        "render_us": None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "framework": "pytorch",
    }


def bench_ours(binary, path, steps):
    out = subprocess.run([binary, "bench", path, "--steps", str(steps)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def resized(scenario, size):
    s = dict(scenario)
    rng = random.Random(size)
    s["input"] = [[[round(rng.random(), 3) for _ in range(size)] for _ in range(size)] for _ in range(3)]
    s["name"] = f"{scenario.get('name', 'large')}-{size}"
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenarios", nargs="*", default=DEFAULT_SCENARIOS)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--deltascope", metavar="BIN", help="also run BIN bench on each scenario and print a table")
    ap.add_argument("--sizes", action="store_true", help="the large network at 16², 32², 64², 128²")
    args = ap.parse_args()

    jobs = []  # (label, path, scenario)
    tmp = tempfile.mkdtemp(prefix="torch_bench_")
    if args.sizes:
        base = json.load(open(os.path.join(ROOT, "scenarios", "bench", "large.json")))
        for size in (16, 32, 64, 128):
            s = resized(base, size)
            path = os.path.join(tmp, f"large-{size}.json")
            with open(path, "w") as f:
                json.dump(s, f)
            jobs.append((f"large {size}²", path, s))
    else:
        for path in args.scenarios:
            s = json.load(open(path))
            jobs.append((s.get("name", os.path.basename(path)), path, s))

    rows = []
    for label, path, scenario in jobs:
        torch_runs, our_runs = [], []
        for _ in range(args.rounds if args.deltascope else 1):
            torch_runs.append(bench_torch(scenario, args.steps))
            print(json.dumps(torch_runs[-1]), flush=True)
            if args.deltascope:
                our_runs.append(bench_ours(args.deltascope, path, args.steps))
                print(json.dumps(our_runs[-1]), flush=True)
        rows.append((label, torch_runs, our_runs))

    if args.deltascope:
        def med(runs, key):
            vals = [r[key] for r in runs if r.get(key) is not None]
            return statistics.median(vals) if vals else float("nan")

        def spread(runs, key):
            vals = [r[key] for r in runs if r.get(key) is not None]
            return f"{min(vals):g}–{max(vals):g}" if vals else "–"

        print()
        print(f"medians of {args.rounds} alternating rounds, {args.steps} steps each (µs; ranges over rounds)")
        print()
        print("| network | figure | deltascope | PyTorch | PyTorch / deltascope |")
        print("|---|---|---|---|---|")
        for label, t, o in rows:
            for key in ("step_us", "forward_us", "backward_us"):
                ours, theirs = med(o, key), med(t, key)
                print(f"| {label} | {key} | {ours:g} ({spread(o, key)}) | {theirs:g} ({spread(t, key)}) | {theirs / ours:.1f}× |")
            print(f"| {label} | render_us | {med(o, 'render_us'):g} | – | – |")
            print(f"| {label} | peak_rss_mb | {med(o, 'peak_rss_mb'):g} | {med(t, 'peak_rss_mb'):g} | – |")


if __name__ == "__main__":
    main()
