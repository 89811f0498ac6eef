#!/usr/bin/env python3
"""Generate the fixture scenarios under tests/fixtures/scenarios/.

Deterministic: every scenario draws its numbers from its own
random.Random(seed) using only random() (whose stream Python guarantees to
be reproducible across versions), and rounds them to 4 decimals so the files
stay readable. No third-party packages are needed.

Usage:
    python3 tools/make_fixture_scenarios.py [--out-dir DIR]

Then run tools/regen_fixtures.sh to (re)write the PyTorch traces in
tests/fixtures/torch/. See tools/README.md.
"""

import argparse
import json
import math
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "tests", "fixtures", "scenarios")
DEC = 4


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def r4(v):
    v = round(v, DEC)
    return 0.0 if v == 0 else v  # no "-0.0" in the files


def nested(shape, f):
    if len(shape) == 1:
        return [f() for _ in range(shape[0])]
    return [nested(shape[1:], f) for _ in range(shape[0])]


def uniform(rng, shape, lo, hi):
    return nested(shape, lambda: r4(lo + (hi - lo) * rng.random()))


def ints(rng, shape, values):
    return nested(shape, lambda: float(values[int(rng.random() * len(values))]))


def he(rng, shape, fan_in, gain=1.0):
    """Uniform He-style init: U(-a, a), a = gain * sqrt(6 / fan_in)."""
    a = gain * math.sqrt(6.0 / fan_in)
    return uniform(rng, shape, -a, a)


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def out_shape(input_, layers):
    """Shape of the final output (mirrors the scenario semantics)."""
    if isinstance(input_[0][0], list):
        shape = [len(input_), len(input_[0]), len(input_[0][0])]
    else:  # 2-D input: one channel
        shape = [1, len(input_), len(input_[0])]
    for l in layers:
        if l["type"] == "conv":
            kh, kw = pair(l["kernel_size"])
            sh, sw = pair(l.get("stride", 1))
            ph, pw = pair(l.get("padding", 0))
            shape = [l["kernels"], (shape[1] + 2 * ph - kh) // sh + 1,
                     (shape[2] + 2 * pw - kw) // sw + 1]
        elif l["type"] == "pool":
            kh, kw = pair(l["size"])
            sh, sw = pair(l.get("stride", l["size"]))
            shape = [shape[0], (shape[1] - kh) // sh + 1, (shape[2] - kw) // sw + 1]
        else:
            shape = [l["outputs"]]
    return shape


def in_channels(input_, layers_before):
    """Channels / flat size feeding the next layer."""
    if not layers_before:
        return 1 if not isinstance(input_[0][0], list) else len(input_)
    s = out_shape(input_, layers_before)
    return s[0]


def flat_size(input_, layers_before):
    if not layers_before:
        if not isinstance(input_[0][0], list):
            return len(input_) * len(input_[0])
        return len(input_) * len(input_[0]) * len(input_[0][0])
    s = out_shape(input_, layers_before)
    n = 1
    for d in s:
        n *= d
    return n


class Builder:
    """Appends layers, drawing explicit weights from the scenario's rng."""

    def __init__(self, rng, input_):
        self.rng = rng
        self.input = input_
        self.layers = []

    def conv(self, kernels, kernel_size, activation=None, stride=None, padding=None,
             gain=1.0, bias=(-0.1, 0.1), weights=None, bias_values=None, name=None):
        C = in_channels(self.input, self.layers)
        kh, kw = pair(kernel_size)
        l = {"type": "conv"}
        if name:
            l["name"] = name
        l["kernels"] = kernels
        l["kernel_size"] = kernel_size
        if stride is not None:
            l["stride"] = stride
        if padding is not None:
            l["padding"] = padding
        if activation is not None:
            l["activation"] = activation
        l["weights"] = weights if weights is not None else he(
            self.rng, [kernels, C, kh, kw], C * kh * kw, gain)
        if bias_values is not None:
            l["bias"] = bias_values
        elif bias is not None:
            l["bias"] = uniform(self.rng, [kernels], *bias)
        self.layers.append(l)
        return self

    def pool(self, kind, size, stride=None):
        l = {"type": "pool", "kind": kind, "size": size}
        if stride is not None:
            l["stride"] = stride
        self.layers.append(l)
        return self

    def dense(self, outputs, activation=None, gain=1.0, bias=(-0.1, 0.1)):
        n = flat_size(self.input, self.layers)
        l = {"type": "dense", "outputs": outputs}
        if activation is not None:
            l["activation"] = activation
        l["weights"] = he(self.rng, [outputs, n], n, gain)
        if bias is not None:
            l["bias"] = uniform(self.rng, [outputs], *bias)
        self.layers.append(l)
        return self

    def target(self, lo=0.0, hi=1.0):
        return uniform(self.rng, out_shape(self.input, self.layers), lo, hi)


def scenario(name, description, seed, input_, layers, loss, learning_rate=None, steps=None):
    sc = {"name": name, "description": description, "seed": seed, "input": input_,
          "layers": layers, "loss": loss}
    if learning_rate is not None:
        sc["learning_rate"] = learning_rate
    if steps is not None:
        sc["steps"] = steps
    return sc


# ---------------------------------------------------------------------------
# the scenarios
# ---------------------------------------------------------------------------

SCENARIOS = []


def fixture(f):
    SCENARIOS.append(f)
    return f


@fixture
def mean_pool_classic(seed=1101):
    rng = random.Random(seed)
    x = uniform(rng, [1, 12, 12], 0.0, 1.0)
    b = Builder(rng, x).conv(3, 3).pool("mean", 2).conv(2, 2).pool("mean", 2)
    return scenario(
        "mean_pool_classic",
        "conv(3x3,K=3,relu) -> mean pool 2 -> conv(2x2,K=2,relu) -> mean pool 2 on a "
        "12x12 input, mse loss: the classic conv->pool->conv->pool network with mean "
        "pooling (activations left at their relu default).",
        seed, x, b.layers, {"kind": "mse", "target": b.target()})


@fixture
def max_pool_classic(seed=1102):
    rng = random.Random(seed)
    x = uniform(rng, [1, 12, 12], -0.5, 1.0)
    b = Builder(rng, x).conv(2, 3, "relu").pool("max", 2).conv(2, 2, "relu").pool("max", 2)
    return scenario(
        "max_pool_classic",
        "conv(3x3,K=2,relu) -> max pool 2 -> conv(2x2,K=2,relu) -> max pool 2 on a "
        "12x12 input, half_sse loss: conv->pool->conv->pool with max pooling.",
        seed, x, b.layers, {"kind": "half_sse", "target": b.target()})


@fixture
def l2_pool_basic(seed=103):
    rng = random.Random(seed)
    x = uniform(rng, [1, 10, 10], -1.0, 1.0)
    b = Builder(rng, x).conv(2, 3, "tanh").pool("l2", 2).conv(2, 2, "tanh").pool("l2", 2)
    return scenario(
        "l2_pool_basic",
        "conv(3x3,K=2,tanh) -> L2 pool 2 -> conv(2x2,K=2,tanh) -> L2 pool 2 on a 10x10 "
        "input, mse loss: L2 pooling (sqrt of the window's sum of squares) in "
        "conv->pool->conv->pool; the 3x3 map of the second pool leaves its last "
        "row/column outside every window (floor mode).",
        seed, x, b.layers, {"kind": "mse", "target": b.target(0.0, 0.5)})


@fixture
def max_pool_ties(seed=104):
    rng = random.Random(seed)
    x = ints(rng, [1, 8, 8], [-2.0, -1.0, 0.0, 1.0, 1.0, 2.0])
    # force a few windows: an all-zero one, an all-equal positive one, a 2-way tie
    for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        x[0][i][j] = 0.0
    for (i, j) in [(2, 2), (2, 3), (3, 2), (3, 3)]:
        x[0][i][j] = 1.0
    x[0][4][4], x[0][4][5], x[0][5][4], x[0][5][5] = -1.0, 2.0, 0.0, 2.0
    for (i, j) in [(6, 0), (6, 1), (7, 0), (7, 1)]:
        x[0][i][j] = -2.0
    b = Builder(rng, x)
    # 1x1 convs with weights 1 and -0.5 and zero bias keep the values exact,
    # so the ties survive; relu turns negative regions into all-zero windows
    b.conv(2, 1, "relu", weights=[[[[1.0]]], [[[-0.5]]]], bias_values=[0.0, 0.0])
    b.pool("max", 2)
    b.conv(2, 2, "tanh").pool("mean", 3)
    return scenario(
        "max_pool_ties",
        "Max pool with exact ties: a small-integer input with repeated values goes "
        "through exact 1x1 convs (weights 1 and -0.5, zero bias, relu), so 2x2 windows "
        "hold equal maxima (the first in row-major order wins, as in PyTorch) and relu "
        "zeros make all-zero windows (argmax = window's first element, and relu'(0) = 0 "
        "so the routed delta stops there); then conv(2x2,K=2,tanh) -> mean pool 3, so "
        "every window of the max pool gets a non-zero delta_output; half_sse loss.",
        seed, x, b.layers, {"kind": "half_sse", "target": b.target(-0.5, 0.5)})


@fixture
def max_pool_ties_overlap(seed=105):
    rng = random.Random(seed)
    x = ints(rng, [1, 6, 6], [0.0, 1.0, 1.0, 2.0])
    for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (1, 2)]:
        x[0][i][j] = 1.0
    b = Builder(rng, x).pool("max", 2, 1).conv(2, 2, "tanh").pool("max", 2)
    return scenario(
        "max_pool_ties_overlap",
        "A max pool as the very first layer, size 2 stride 1 (overlapping), on a raw "
        "input of repeated small integers: windows tie, and overlapping windows pick the "
        "same element so its delta accumulates; then conv(2x2,K=2,tanh) -> max pool 2, "
        "mse loss.",
        seed, x, b.layers, {"kind": "mse", "target": b.target(-0.5, 0.5)})


@fixture
def l2_pool_zero_window(seed=106):
    rng = random.Random(seed)
    x = uniform(rng, [1, 8, 8], 0.1, 1.0)
    for i in range(0, 4):  # a negative top-left block: relu kills it
        for j in range(0, 4):
            x[0][i][j] = r4(-0.1 - 0.9 * rng.random())
    b = Builder(rng, x)
    # positive weights, zero bias: relu output is exactly 0 on the negative block
    b.conv(2, 1, "relu", weights=[[[[0.8]]], [[[1.3]]]], bias_values=[0.0, 0.0])
    b.pool("l2", 2)
    b.conv(2, 2, "leaky_relu").pool("l2", 2, 1)
    return scenario(
        "l2_pool_zero_window",
        "L2 pool whose windows are all zero: a 1x1 conv with positive weights and zero "
        "bias + relu maps the negative top-left 4x4 block of the input to exact zeros, so "
        "four 2x2 L2 windows have norm 0: output 0 and exactly 0 gradient to their inputs "
        "(not NaN) even though delta_output there is non-zero; then conv(2x2,leaky_relu) "
        "-> L2 pool 2 stride 1 (overlapping), mse loss.",
        seed, x, b.layers, {"kind": "mse", "target": b.target(0.0, 1.0)})


@fixture
def overlap_max_3s2(seed=2107):
    rng = random.Random(seed)
    x = uniform(rng, [2, 11, 11], -1.0, 1.0)
    b = Builder(rng, x).conv(3, 3, "relu").pool("max", 3, 2).conv(2, 2, "relu").pool("max", 3, 2)
    return scenario(
        "overlap_max_3s2",
        "Overlapping max pools, size 3 stride 2 (AlexNet style): 2x11x11 input -> "
        "conv(3x3,K=3,relu) -> max 3/2 -> conv(2x2,K=2,relu) -> max 3/2, half_sse loss; an "
        "element that is the max of two overlapping windows gets both deltas.",
        seed, x, b.layers, {"kind": "half_sse", "target": b.target()})


@fixture
def overlap_mean_2s1(seed=108):
    rng = random.Random(seed)
    x = uniform(rng, [1, 8, 8], -1.0, 1.0)
    b = Builder(rng, x).conv(2, 3, "tanh").pool("mean", 2, 1).conv(2, 2, "sigmoid").pool("mean", 2, 1)
    return scenario(
        "overlap_mean_2s1",
        "Overlapping mean pools, size 2 stride 1: 8x8 input -> conv(3x3,K=2,tanh) -> "
        "mean 2/1 -> conv(2x2,K=2,sigmoid) -> mean 2/1, mse loss; interior elements "
        "receive a quarter of the delta of each of four windows.",
        seed, x, b.layers, {"kind": "mse", "target": b.target()})


@fixture
def floor_leftovers(seed=109):
    rng = random.Random(seed)
    x = uniform(rng, [1, 9, 9], -1.0, 1.0)
    b = Builder(rng, x).conv(2, 3, "relu", bias=(0.05, 0.2)).pool("max", 2)
    b.conv(2, 1, "identity").pool("mean", 2)
    return scenario(
        "floor_leftovers",
        "Floor-mode leftovers: 9x9 input -> conv(3x3,K=2,relu) gives 7x7 maps, max pool 2 "
        "covers only rows/cols 0..5 so row 6 and column 6 get zero delta; then "
        "conv(1x1,K=2,identity) gives 3x3 maps and mean pool 2 leaves row/col 2 out too; "
        "half_sse loss.",
        seed, x, b.layers, {"kind": "half_sse", "target": b.target()})


@fixture
def strided_padded_conv(seed=110):
    rng = random.Random(seed)
    x = uniform(rng, [2, 9, 9], -1.0, 1.0)
    b = Builder(rng, x).conv(3, 3, "relu", stride=2, padding=1)
    b.conv(2, 3, "tanh", stride=2, padding=1).pool("max", 2, 1)
    return scenario(
        "strided_padded_conv",
        "Convs with stride 2 and zero padding 1: 2x9x9 input -> conv(3x3,K=3,stride 2,"
        "pad 1,relu) -> 3x5x5 -> conv(3x3,K=2,stride 2,pad 1,tanh) -> 2x3x3 -> max pool 2 "
        "stride 1, half_sse loss (conv followed directly by conv).",
        seed, x, b.layers, {"kind": "half_sse", "target": b.target(-0.5, 0.5)})


@fixture
def nonsquare(seed=111):
    rng = random.Random(seed)
    x = uniform(rng, [2, 9, 11], -1.0, 1.0)
    b = Builder(rng, x).conv(3, [2, 3], "relu", stride=[1, 2], padding=[1, 0])
    b.pool("max", [3, 2], [2, 1]).conv(2, [3, 2], "sigmoid").pool("mean", [2, 1], [1, 2])
    return scenario(
        "nonsquare",
        "Everything non-square: a 2x9x11 input, conv kernel [2,3] with stride [1,2] and "
        "padding [1,0] (relu) -> 3x10x5, max pool size [3,2] stride [2,1] -> 3x4x4, conv "
        "kernel [3,2] (sigmoid) -> 2x2x3, mean pool size [2,1] stride [1,2] -> 2x1x2, mse "
        "loss.",
        seed, x, b.layers, {"kind": "mse", "target": b.target()})


@fixture
def multichannel(seed=112):
    rng = random.Random(seed)
    x = uniform(rng, [3, 8, 8], -1.0, 1.0)
    b = Builder(rng, x).conv(4, 3, "relu").pool("max", 2).conv(3, 2, "leaky_relu").pool("l2", 2)
    return scenario(
        "multichannel",
        "Several input channels and kernels: 3x8x8 input -> conv(3x3,K=4,relu) -> max "
        "pool 2 -> conv(2x2,K=3,leaky_relu) over 4 channels -> L2 pool 2, half_sse loss.",
        seed, x, b.layers, {"kind": "half_sse", "target": b.target()})


@fixture
def activations_sigmoid_tanh(seed=113):
    rng = random.Random(seed)
    x = uniform(rng, [1, 8, 8], -1.0, 1.0)
    b = Builder(rng, x).conv(2, 3, "sigmoid", gain=1.5).pool("mean", 2)
    b.conv(2, 2, "tanh", gain=2.0).pool("max", 2)
    return scenario(
        "activations_sigmoid_tanh",
        "Sigmoid and tanh activations: 8x8 input -> conv(3x3,K=2,sigmoid) -> mean pool 2 "
        "-> conv(2x2,K=2,tanh) -> max pool 2, mse loss.",
        seed, x, b.layers, {"kind": "mse", "target": b.target(-0.5, 0.5)})


@fixture
def leaky_identity(seed=114):
    rng = random.Random(seed)
    x = uniform(rng, [2, 8, 8], -1.0, 1.0)
    b = Builder(rng, x).conv(2, 3, "leaky_relu", bias=(-0.3, 0.0)).pool("max", 2)
    b.conv(3, 2, "identity").pool("l2", 2)
    return scenario(
        "leaky_identity",
        "leaky_relu (slope 0.01, with many negative pre-activations) and identity "
        "activations: 2x8x8 input -> conv(3x3,K=2,leaky_relu) -> max pool 2 -> "
        "conv(2x2,K=3,identity) -> L2 pool 2, half_sse loss.",
        seed, x, b.layers, {"kind": "half_sse", "target": b.target()})


@fixture
def mse_multistep(seed=115):
    rng = random.Random(seed)
    x = uniform(rng, [1, 7, 7], 0.0, 1.0)
    b = Builder(rng, x).conv(2, 2, "relu", bias=(0.0, 0.2)).pool("mean", 2)
    b.conv(2, 2, "sigmoid").pool("max", 2)
    return scenario(
        "mse_multistep",
        "mse loss over 4 training steps with learning rate 0.5 on a small "
        "conv(2x2,K=2,relu) -> mean pool 2 -> conv(2x2,K=2,sigmoid) -> max pool 2 network "
        "(7x7 input, 6x6 -> 3x3 -> 2x2 -> 1x1): weights and activations change visibly "
        "from step to step and the loss falls.",
        seed, x, b.layers, {"kind": "mse", "target": [[[0.9]], [[0.1]]]},
        learning_rate=0.5, steps=4)


@fixture
def half_sse_multistep(seed=116):
    rng = random.Random(seed)
    x = uniform(rng, [2, 6, 6], -1.0, 1.0)
    b = Builder(rng, x).conv(2, 3, "tanh").pool("l2", 2).conv(2, 2, "identity")
    return scenario(
        "half_sse_multistep",
        "half_sse loss over 4 steps with learning rate 0.05: 2x6x6 input -> "
        "conv(3x3,K=2,tanh) -> L2 pool 2 -> conv(2x2,K=2,identity) ending in a conv layer "
        "(final output 2x1x1).",
        seed, x, b.layers, {"kind": "half_sse", "target": b.target(-1.0, 1.0)},
        learning_rate=0.05, steps=4)


@fixture
def ce_conv_output(seed=117):
    rng = random.Random(seed)
    x = uniform(rng, [1, 8, 8], -1.0, 1.0)
    b = Builder(rng, x).conv(2, 3, "relu").pool("max", 2).conv(2, 2, "identity", gain=2.0)
    return scenario(
        "ce_conv_output",
        "cross_entropy on a 3-D final output: conv(3x3,K=2,relu) -> max pool 2 -> "
        "conv(2x2,K=2,identity) gives a 2x2x2 output whose 8 values, flattened in "
        "channel/row/column order, are the logits; class 5; 2 steps, learning rate 0.1.",
        seed, x, b.layers, {"kind": "cross_entropy", "class": 5},
        learning_rate=0.1, steps=2)


@fixture
def dense_ce_multistep(seed=10118):
    rng = random.Random(seed)
    x = uniform(rng, [1, 8, 8], 0.0, 1.0)
    b = Builder(rng, x).conv(2, 3, "relu").pool("max", 2).conv(3, 2, "relu").pool("mean", 2)
    b.dense(4)
    return scenario(
        "dense_ce_multistep",
        "conv-pool-conv-pool-dense with cross_entropy: 8x8 input -> conv(3x3,K=2,relu) -> "
        "max pool 2 -> conv(2x2,K=3,relu) -> mean pool 2 -> 3x1x1 flattened into a "
        "dense layer with 4 outputs (identity, the default) -> cross_entropy class 2; "
        "4 steps, learning rate 0.5.",
        seed, x, b.layers, {"kind": "cross_entropy", "class": 2},
        learning_rate=0.5, steps=4)


@fixture
def dense_dense(seed=19119):
    rng = random.Random(seed)
    x = uniform(rng, [2, 3, 3], -1.0, 1.0)
    b = Builder(rng, x).dense(6, "tanh").dense(5, "relu").dense(3, "sigmoid", gain=2.0)
    return scenario(
        "dense_dense",
        "Dense layers only: a 2x3x3 input flattened (channel, row, column) into "
        "dense(6,tanh) -> dense(5,relu) -> dense(3,sigmoid), half_sse loss, 3 steps with "
        "learning rate 0.5.",
        seed, x, b.layers, {"kind": "half_sse", "target": [0.9, 0.1, 0.5]},
        learning_rate=0.5, steps=3)


@fixture
def dense_leaky_mse(seed=120):
    rng = random.Random(seed)
    x = uniform(rng, [1, 6, 6], -1.0, 1.0)
    b = Builder(rng, x).conv(2, 3, "identity").pool("mean", 2).dense(4, "leaky_relu").dense(2)
    return scenario(
        "dense_leaky_mse",
        "conv(3x3,K=2,identity) -> mean pool 2 -> dense(4,leaky_relu) -> dense(2,identity), "
        "mse loss against a flat target, 3 steps with learning rate 0.2.",
        seed, x, b.layers, {"kind": "mse", "target": [0.5, -0.25]},
        learning_rate=0.2, steps=3)


@fixture
def input_2d(seed=121):
    rng = random.Random(seed)
    x = uniform(rng, [8, 8], -1.0, 1.0)
    for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        x[i][j] = 0.0
    b = Builder(rng, x).pool("l2", 2).conv(2, 2, "tanh").pool("mean", 2, 1)
    return scenario(
        "input_2d",
        "A 2-D input ([H][W], one channel) whose top-left 2x2 block is exactly 0, fed "
        "straight into an L2 pool 2 (first layer: the all-zero window gives output 0 and "
        "delta_input 0 although its delta_output is non-zero) -> conv(2x2,K=2,tanh) -> "
        "mean pool 2 stride 1, half_sse loss.",
        seed, x, b.layers, {"kind": "half_sse", "target": b.target()})


@fixture
def named_layers(seed=122):
    rng = random.Random(seed)
    x = uniform(rng, [1, 6, 6], -1.0, 1.0)
    b = Builder(rng, x)
    b.conv(2, 3, "relu", name="features")
    b.pool("max", 2)
    b.conv(2, 2, "sigmoid", bias=None)  # default name conv2; no bias key -> zeros
    return scenario(
        "named_layers",
        "Explicit layer names mixed with default ones: conv 'features' (3x3,K=2,relu) -> "
        "pool1 (max 2) -> conv2 (2x2,K=2,sigmoid; the default name counts every conv so "
        "far) whose `bias` key is omitted (zeros); cross_entropy class 0, 1 step.",
        seed, x, b.layers, {"kind": "cross_entropy", "class": 0})


# ---------------------------------------------------------------------------
# non-finite values, reached by overflow
#
# Scenario files hold finite numbers only, so these fixtures put 1e308 into the
# input. Each overflowing product stands alone in its sum (the other weights on
# that cell are 0, and 0 * 1e308 = 0): a fused multiply-add absorbs a product that
# overflows into a partial sum that is already infinite (inf + (-1e309) = inf),
# where a plain multiply and add gives inf - inf = NaN, so the engine (FMA) and
# PyTorch (MKL) would differ on two such products of opposite signs in one sum.
# The first conv layer makes clean +inf and -inf; the layers after it combine
# actual infinities, where every order and every kernel give the IEEE result.
# ---------------------------------------------------------------------------

BIG = 1e308

# conv(1x1, K=2, identity) over two input channels: kernel 0 = 10*x0 is +inf where
# x0 = 1e308, kernel 1 = -10*x1 is -inf where x1 = 1e308.
OVERFLOW_WEIGHTS = [[[[10.0]], [[0.0]]], [[[0.0]], [[-10.0]]]]
# conv(1x1, K=2) after it: kernel 0 = a0 + a1, kernel 1 = -a0 - 0.5*a1. A huge cell in
# input channel 0 alone gives +inf / -inf, in channel 1 alone -inf / +inf, and in both
# channels inf - inf = NaN in both kernels.
MIX_WEIGHTS = [[[[1.0]], [[1.0]]], [[[-1.0]], [[-0.5]]]]


def big_cells(x, cells):
    """Set x[c][i][j] = BIG for each (c, i, j)."""
    for (c, i, j) in cells:
        x[c][i][j] = BIG
    return x


def clash(plus=(), minus=(), both=()):
    """Cells (c, i, j) for a two-channel input: `plus` huge in channel 0, `minus` in
    channel 1, `both` in both channels (see OVERFLOW_WEIGHTS and MIX_WEIGHTS)."""
    return ([(0, i, j) for (i, j) in plus] + [(1, i, j) for (i, j) in minus]
            + [(c, i, j) for (i, j) in both for c in (0, 1)])


def overflow_then(b, activation, bias_values):
    """conv1 (OVERFLOW_WEIGHTS, identity) then conv2 (MIX_WEIGHTS, `activation`)."""
    b.conv(2, 1, "identity", weights=OVERFLOW_WEIGHTS, bias_values=[0.0, 0.0])
    b.conv(2, 1, activation, weights=MIX_WEIGHTS, bias_values=bias_values)
    return b


CLASH_TEXT = (
    "conv1 (1x1, identity; kernel 0 = 10*x0, kernel 1 = -10*x1) turns cells of 1e308 into "
    "+inf and -inf, each from one product; conv2 (1x1; kernel 0 = a0 + a1, kernel 1 = "
    "-a0 - 0.5*a1) adds them, so its z is +inf, -inf, or inf - inf = NaN where both "
    "input channels were huge")


@fixture
def nonfinite_relu(seed=301):
    rng = random.Random(seed)
    x = uniform(rng, [2, 8, 8], -1.0, 1.0)
    # 2x2 windows of the max pool (rows 2i..2i+1, columns 2j..2j+1) over conv2's 8x8 maps:
    # (0,0) NaN second, then +inf (k0) / 0 (k1);  (0,1) two NaNs: the later one wins;
    # (1,0) two +inf in k1: the first wins;  (1,1) +inf in the last cell (k0);
    # (2,0) NaN first and +inf after it: NaN stays;  (3,1) +inf last in k1.
    big_cells(x, clash(plus=[(1, 0), (3, 3), (5, 1)], minus=[(2, 0), (3, 1), (7, 3)],
                       both=[(0, 1), (0, 3), (1, 2), (4, 0)]))
    b = overflow_then(Builder(rng, x), "relu", [0.05, -0.05])
    b.pool("max", 2)
    b.conv(2, 2, "relu", bias=(0.0, 0.1))
    return scenario(
        "nonfinite_relu",
        "NaN and inf through relu and a 2x2 stride-2 max pool (the max_pool_2x2_row path), "
        "reached by overflow: a 2x8x8 input; " + CLASH_TEXT + ". relu(NaN) = NaN, "
        "relu(-inf) = 0, relu'(NaN) = 1 (PyTorch passes delta unless the output is <= 0, "
        "and passes 0 there even for a NaN delta). The pool's windows hold a NaN after a "
        "finite value, two NaNs (the later wins), a NaN before an inf (NaN stays), two "
        "equal infs (the first wins) and an inf in the last cell. Then conv(2x2,K=2,relu) "
        "-> mse, whose loss is NaN and whose loss_grad is NaN or inf only in those cells.",
        seed, x, b.layers, {"kind": "mse", "target": b.target()})


@fixture
def nonfinite_leaky_relu(seed=302):
    rng = random.Random(seed)
    x = uniform(rng, [2, 10, 10], -1.0, 1.0)
    big_cells(x, clash(plus=[(1, 1), (2, 5)], minus=[(3, 5), (8, 1)], both=[(6, 8)]))
    b = Builder(rng, x)
    b.conv(2, 1, "identity", weights=OVERFLOW_WEIGHTS, bias_values=[0.0, 0.0])
    # 2x2 kernels with mixed signs: each inf reaches four outputs with the sign of its
    # weight, and where a +inf and a -inf meet, NaN.
    b.conv(2, 2, "leaky_relu",
           weights=[[[[0.3, 0.2], [0.2, 0.3]], [[0.2, 0.3], [0.3, 0.2]]],
                    [[[-0.2, 0.2], [0.2, -0.2]], [[0.2, -0.25], [-0.25, 0.2]]]],
           bias_values=[0.1, -0.1])
    b.pool("max", 3, 2)
    b.conv(1, 2, "identity")
    return scenario(
        "nonfinite_leaky_relu",
        "NaN and inf through leaky_relu and a general max pool (3x3 stride 2), reached by "
        "overflow: a 2x10x10 input -> conv1 (1x1, identity; kernel 0 = 10*x0, kernel 1 = "
        "-10*x1) turns cells of 1e308 into +inf and -inf -> conv2 (2x2, K=2, mixed signs, "
        "leaky_relu): each inf reaches four z cells with the sign of its weight, and where "
        "+inf and -inf meet, NaN. leaky_relu keeps -inf (slope 0.01) and NaN; "
        "leaky_relu'(NaN) = 0.01 (PyTorch's backward takes the slope unless z > 0). In the "
        "overlapping 3x3 windows NaN wins over everything, also over a later inf, and -inf "
        "never wins. Then conv(2x2,K=1,identity) -> half_sse receiving NaN and inf.",
        seed, x, b.layers, {"kind": "half_sse", "target": b.target(-0.5, 0.5)})


@fixture
def nonfinite_identity(seed=303):
    rng = random.Random(seed)
    x = uniform(rng, [2, 6, 9], -1.0, 1.0)
    # mean pool [2,3] windows: rows 2i..2i+1, columns 3j..3j+2
    # (0,0) +inf (k0) / -inf (k1);  (0,1) +inf and -inf in one window: NaN;
    # (1,2) inf - inf = NaN in conv2 already;  (2,0) -inf (k0) / +inf (k1).
    big_cells(x, clash(plus=[(0, 1), (1, 4)], minus=[(0, 5), (5, 2)], both=[(3, 7)]))
    b = overflow_then(Builder(rng, x), "identity", [0.0, 0.1])
    b.pool("mean", [2, 3])
    b.dense(3, "relu")
    return scenario(
        "nonfinite_identity",
        "inf and NaN through identity, a non-square mean pool and a dense layer: a 2x6x9 "
        "input; " + CLASH_TEXT + "; identity keeps them -> mean pool [2,3] (area 6): a "
        "window with +inf gives inf, one with +inf and -inf gives NaN, one with -inf gives "
        "-inf -> dense(3,relu) whose inputs are inf, -inf and NaN -> mse.",
        seed, x, b.layers, {"kind": "mse", "target": b.target()})


@fixture
def nonfinite_sigmoid(seed=304):
    rng = random.Random(seed)
    x = uniform(rng, [2, 7, 7], -1.0, 1.0)
    # +inf / -inf inside the L2 pool's windows; NaN at (6,3) and (2,6), in the row and
    # column that no 2x2 window covers (floor mode).
    big_cells(x, clash(plus=[(1, 1)], minus=[(2, 4)], both=[(6, 3), (2, 6)]))
    b = overflow_then(Builder(rng, x), "sigmoid", [0.05, -0.05])
    b.pool("l2", 2)
    b.dense(3)
    return scenario(
        "nonfinite_sigmoid",
        "NaN and inf through sigmoid: a 2x7x7 input; " + CLASH_TEXT + ". sigmoid(+inf) = 1 "
        "and sigmoid(-inf) = 0 with derivative 0, sigmoid(NaN) = NaN. The NaN cells lie in "
        "row 6 and column 6, which the L2 pool 2 never covers, so the forward pass and the "
        "loss (dense(3) -> cross_entropy, class 1) stay finite; but their delta_a of 0 "
        "meets sigmoid'(NaN): delta_z = 0*NaN = NaN, as in PyTorch, and so do conv2's "
        "grad_weights and grad_bias, and delta_input at those two cells.",
        seed, x, b.layers, {"kind": "cross_entropy", "class": 1})


@fixture
def nonfinite_tanh(seed=305):
    rng = random.Random(seed)
    x = uniform(rng, [2, 7, 7], -1.0, 1.0)
    big_cells(x, clash(plus=[(0, 0), (5, 5)], minus=[(1, 4)], both=[(3, 1)]))
    b = overflow_then(Builder(rng, x), "tanh", [-0.05, 0.05])
    b.pool("max", 2, 1)
    b.conv(1, 2, "identity")
    return scenario(
        "nonfinite_tanh",
        "NaN and inf through tanh: a 2x7x7 input; " + CLASH_TEXT + ". tanh(+-inf) = +-1 "
        "with derivative 0, tanh(NaN) = NaN -> max pool 2 stride 1 (overlapping: the NaN "
        "wins all four windows around it and their deltas accumulate on it) -> "
        "conv(2x2,K=1,identity) -> half_sse.",
        seed, x, b.layers, {"kind": "half_sse", "target": b.target(-0.5, 0.5)})


@fixture
def nonfinite_l2_pool(seed=306):
    rng = random.Random(seed)
    x = uniform(rng, [2, 8, 8], -1.0, 1.0)
    big_cells(x, clash(plus=[(0, 0)], minus=[(5, 5)]))
    # a cell of 1e200: 10*1e200 is finite, but its square overflows, so the window's
    # norm is inf (the true norm is 1e201) in PyTorch's sum and in the engine's
    x[0][6][6], x[1][6][6] = 1e200, 0.0
    # window (0,1) of channel 0 all zero after relu: x0 < x1 so 10*x0 - 10*x1 < 0
    for (i, j) in [(0, 2), (0, 3), (1, 2), (1, 3)]:
        x[0][i][j], x[1][i][j] = -0.5, 0.5
    b = Builder(rng, x)
    # each output cell holds at most one product with a huge cell (see above)
    b.conv(2, 1, "relu", weights=[[[[10.0]], [[-10.0]]], [[[-4.0]], [[3.0]]]],
           bias_values=[0.0, 0.1])
    b.pool("l2", 2)
    b.conv(1, 2, "identity", weights=[[[[0.5, 0.7], [-0.3, 0.2]], [[0.4, -0.6], [0.3, 0.8]]]])
    return scenario(
        "nonfinite_l2_pool",
        "inf into an L2 pool: a 2x8x8 input -> 1x1 conv (kernel 0 = 10*x0 - 10*x1, kernel 1 "
        "= -4*x0 + 3*x1, relu) gives +inf where x0 = 1e308 (channel 0) or x1 = 1e308 "
        "(channel 1), 1e201 where x0 = 1e200 (whose square overflows: norm inf, and "
        "1e201/inf = 0 to that cell), and an all-zero window in channel 0 -> L2 pool 2: "
        "norm inf, delta*x/norm = NaN for the inf cell and 0 for finite ones -> "
        "conv(2x2,K=1,identity) -> mse: the loss_grad of the outputs over the inf windows is "
        "inf, so the all-zero window next to one gets delta_output = inf, and passes exactly "
        "0 to its inputs (the L2 pool's contract), not inf*0 = NaN.",
        seed, x, b.layers, {"kind": "mse", "target": b.target()})


def dense_on(rows, bias, activation=None):
    """A dense layer with explicit weights (one row per output) and bias."""
    l = {"type": "dense", "outputs": len(rows)}
    if activation is not None:
        l["activation"] = activation
    l["weights"] = rows
    l["bias"] = bias
    return l


@fixture
def nonfinite_half_sse_overflow(seed=307):
    rng = random.Random(seed)
    x = uniform(rng, [1, 2, 3], -1.0, 1.0)
    x[0][0][0] = x[0][1][2] = BIG
    rows = [
        [1.5, 0.2, -0.3, 0.1, 0.4, 0.0],   # 1.5e308: finite, but (y - t)^2 overflows
        [2.0, 0.3, 0.1, -0.2, 0.5, 0.0],   # 2e308 = inf
        [0.0, 0.1, 0.2, 0.3, -0.4, -3.0],  # -3e308 = -inf
        [0.0, -0.5, 0.4, 0.2, 0.3, 0.0],   # finite
    ]
    layers = [dense_on(rows, [0.1, -0.1, 0.2, 0.0])]
    return scenario(
        "nonfinite_half_sse_overflow",
        "half_sse receiving inf, -inf and a huge finite output: dense(4, identity) on a 1x2x3 "
        "input holding two cells of 1e308 gives y = [1.5e308, inf, -inf, finite]; the loss "
        "0.5*sum((y-t)^2) is inf, and its gradient is what PyTorch's autograd of that "
        "expression gives: 0.5*(2*(y-t)), which is inf for y - t = 1.5e308 (2*(y-t) "
        "overflows), not y - t.",
        seed, x, layers, {"kind": "half_sse", "target": [0.5, -0.5, 0.25, 0.1]})


@fixture
def nonfinite_ce_plus_inf(seed=308):
    rng = random.Random(seed)
    x = uniform(rng, [1, 2, 2], 0.1, 1.0)
    x[0][0][0] = BIG
    layers = [
        dense_on([[2.0, 0.1, -0.2, 0.3], [-0.5, 0.4, 0.3, 0.2], [0.3, -0.1, 0.2, 0.1]],
                 [0.0, 0.1, -0.1], "relu"),
        dense_on([[0.5, 0.2, 0.1], [-0.4, -0.3, 0.2], [0.6, 0.1, -0.2], [0.2, 0.3, 0.4]],
                 [0.0, 0.1, 0.2, -0.1]),
    ]
    return scenario(
        "nonfinite_ce_plus_inf",
        "cross_entropy receiving +inf logits, and a dense layer with an inf input: a 1x2x2 "
        "input holding 1e308 -> dense(3,relu) gives [inf, 0 (relu of -5e307), 3e307] -> "
        "dense(4) whose input holds inf gives logits [inf, -inf, inf, inf] (the products "
        "with 3e307 stay finite) -> cross_entropy, class 1. PyTorch's log_softmax subtracts the "
        "maximum, inf - inf = NaN, so the loss and every gradient are NaN.",
        seed, x, layers, {"kind": "cross_entropy", "class": 1})


@fixture
def nonfinite_ce_minus_inf(seed=309):
    rng = random.Random(seed)
    x = uniform(rng, [1, 2, 2], -1.0, 1.0)
    x[0][1][1] = BIG
    layers = [dense_on([[0.3, -0.2, 0.1, -4.0], [0.5, 0.4, -0.3, 0.0],
                        [-0.2, 0.6, 0.2, 0.0]], [0.1, 0.0, -0.1])]
    return scenario(
        "nonfinite_ce_minus_inf",
        "cross_entropy with a -inf logit, which is harmless: dense(3) on a 1x2x2 input "
        "holding 1e308 gives logits [-inf, finite, finite] (the weights of the other two "
        "rows on that cell are 0, and 0*1e308 = 0); softmax gives the -inf logit 0, so the "
        "loss (class 2) and every gradient are finite; grad_weights of row 0 is 0*x, 0 even "
        "at 1e308.",
        seed, x, layers, {"kind": "cross_entropy", "class": 2})


@fixture
def inner_inf_finite_loss(seed=310):
    rng = random.Random(seed)
    x = uniform(rng, [1, 6, 6], 0.1, 1.0)
    x[0][2][3] = -1e308
    b = Builder(rng, x)
    b.conv(1, 1, "relu", weights=[[[[1.5]]]], bias_values=[0.0])
    b.pool("mean", 2)
    return scenario(
        "inner_inf_finite_loss",
        "An inf inside the network while the loss stays finite (what the first-anomaly scan "
        "must find): a 1x6x6 input whose cell (2,3) is -1e308 -> conv(1x1, w = 1.5, relu) -> "
        "mean pool 2 -> half_sse against targets far above the output. At step 0 "
        "z[0,2,3] = -1.5e308 is finite; the update raises w above 1.8, so at step 1 "
        "z[0,2,3] = w*(-1e308) = -inf, relu gives 0 and relu'(-inf) = 0: conv1.z[0, 2, 3] "
        "at step 1 is the run's only non-finite value, and the loss is finite at both steps.",
        seed, x, b.layers, {"kind": "half_sse", "target": uniform(rng, [1, 3, 3], 5.0, 6.0)},
        learning_rate=0.02, steps=2)


# ---------------------------------------------------------------------------
# more finite coverage
# ---------------------------------------------------------------------------


@fixture
def mean_pool_2x3_relu_zero(seed=311):
    rng = random.Random(seed)
    x = uniform(rng, [1, 8, 10], -1.0, 1.0)
    for i in range(5):
        for j in range(5):
            x[0][i][j] = 0.0
    b = Builder(rng, x)
    b.conv(2, 3, "relu", bias_values=[0.0, 0.0])
    b.pool("mean", [2, 3])
    b.conv(2, 2, "tanh")
    return scenario(
        "mean_pool_2x3_relu_zero",
        "A non-square mean pool, and relu at exactly 0: a 1x8x10 input whose top-left 5x5 "
        "block is 0 -> conv(3x3,K=2,relu, zero bias): z is exactly 0 on the 3x3 outputs "
        "that see only that block, where relu'(0) = 0 stops a non-zero delta_a -> mean pool "
        "[2,3] (area 6 = kh*kw, not kh^2 = 4; columns 6 and 7 lie outside every window) -> "
        "conv(2x2,K=2,tanh) -> mse.",
        seed, x, b.layers, {"kind": "mse", "target": b.target(-0.5, 0.5)})


# ---------------------------------------------------------------------------
# layers at or above FAST_MIN_MACS (16,384 multiply-adds), which every command runs
# on the fastest path of the CPU (AVX-512 where present): compared with PyTorch
# like the others. Kept as small as the threshold allows.
# ---------------------------------------------------------------------------


@fixture
def fast_conv_s1_padded(seed=401):
    rng = random.Random(seed)
    x = uniform(rng, [4, 6, 10], -1.0, 1.0)
    b = Builder(rng, x).conv(8, 3, "tanh", padding=1).pool("mean", 2).conv(2, 2, "identity")
    return scenario(
        "fast_conv_s1_padded",
        "A conv layer above FAST_MIN_MACS with stride 1 and padding 1 (the AVX-512 path "
        "reads a zero-padded copy of the input directly, no im2col): 4x6x10 input -> "
        "conv(3x3,K=8,pad 1,tanh) -> 8x6x10 (17,280 multiply-adds; rows of 10 cells are one "
        "full and one masked vector) -> mean pool 2 -> conv(2x2,K=2,identity) -> mse. tanh "
        "and the mean pool leave delta_z dense, so the backward pass runs the dense "
        "products.",
        seed, x, b.layers, {"kind": "mse", "target": b.target(-0.5, 0.5)})


@fixture
def fast_conv_s1_unpadded(seed=402):
    rng = random.Random(seed)
    x = uniform(rng, [4, 11, 11], -1.0, 1.0)
    b = Builder(rng, x).conv(4, 5, "leaky_relu").pool("mean", 2).conv(2, 2, "sigmoid")
    return scenario(
        "fast_conv_s1_unpadded",
        "A conv layer above FAST_MIN_MACS with stride 1 and no padding (the AVX-512 path "
        "reads the input itself): 4x11x11 input -> conv(5x5,K=4,leaky_relu) -> 4x7x7 "
        "(19,600 multiply-adds; rows of 7 cells are masked vectors, 100 taps per kernel) -> "
        "mean pool 2 -> conv(2x2,K=2,sigmoid) -> half_sse.",
        seed, x, b.layers, {"kind": "half_sse", "target": b.target()})


@fixture
def fast_conv_stride2(seed=403):
    rng = random.Random(seed)
    x = uniform(rng, [4, 13, 13], -1.0, 1.0)
    b = Builder(rng, x).conv(10, 3, "tanh", stride=2, padding=1).pool("mean", 2)
    b.conv(2, 2, "identity")
    return scenario(
        "fast_conv_stride2",
        "A conv layer above FAST_MIN_MACS with stride 2 (the AVX-512 path copies im2col "
        "columns, then runs its kernels on them): 4x13x13 input -> conv(3x3,K=10,stride 2,"
        "pad 1,tanh) -> 10x7x7 (17,640 multiply-adds; 49 cells end in a masked vector) -> "
        "mean pool 2 -> conv(2x2,K=2,identity) -> mse.",
        seed, x, b.layers, {"kind": "mse", "target": b.target(-0.5, 0.5)})


@fixture
def sparse_backward_tiles(seed=404):
    rng = random.Random(seed)
    x = uniform(rng, [8, 8, 8], -1.0, 1.0)
    b = Builder(rng, x).conv(4, 3, "relu", padding=1).pool("max", 2).conv(2, 2, "tanh")
    return scenario(
        "sparse_backward_tiles",
        "The sparse backward pass, vector tiles: 8x8x8 input -> conv(3x3,K=4,pad 1,relu) "
        "(18,432 multiply-adds) -> max pool 2 -> conv(2x2,K=2,tanh) -> mse, 2 steps. The "
        "max pool leaves at most one delta in four non-zero, so on the AVX-512 path conv1's "
        "backward visits only the non-zero cells of delta_z; its rows of kw*C = 24 numbers "
        "are whole 512-bit vectors (9 per receptive field), so the AVX-512 tiles run.",
        seed, x, b.layers, {"kind": "mse", "target": b.target(-0.5, 0.5)},
        learning_rate=0.1, steps=2)


@fixture
def sparse_backward_scalar(seed=405):
    rng = random.Random(seed)
    x = uniform(rng, [6, 10, 10], -1.0, 1.0)
    b = Builder(rng, x).conv(5, 3, "relu").pool("max", 2).conv(2, 2, "tanh")
    return scenario(
        "sparse_backward_scalar",
        "The sparse backward pass, scalar body: 6x10x10 input -> conv(3x3,K=5,relu) "
        "(17,280 multiply-adds) -> max pool 2 -> conv(2x2,K=2,tanh) -> half_sse, 2 steps. "
        "delta_z of conv1 is at most a quarter non-zero, so on the AVX-512 path its backward "
        "is sparse; its rows of kw*C = 18 numbers are not whole vectors, so the scalar body "
        "runs.",
        seed, x, b.layers, {"kind": "half_sse", "target": b.target(-0.5, 0.5)},
        learning_rate=0.1, steps=2)


@fixture
def fast_dense(seed=406):
    rng = random.Random(seed)
    x = uniform(rng, [2, 15, 15], -1.0, 1.0)
    b = Builder(rng, x).dense(37, "tanh").dense(3)
    return scenario(
        "fast_dense",
        "A dense layer above FAST_MIN_MACS: a 2x15x15 input flattened into dense(37,tanh) "
        "(16,650 weights; rows of 450 inputs end in a partial vector) -> dense(3) -> "
        "cross_entropy, class 1.",
        seed, x, b.layers, {"kind": "cross_entropy", "class": 1})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    names = []
    for f in SCENARIOS:
        sc = f()
        assert sc["name"] == f.__name__
        path = os.path.join(args.out_dir, sc["name"] + ".json")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(dumps(sc) + "\n")
        names.append(sc["name"])
    print(f"wrote {len(names)} scenarios to {os.path.normpath(args.out_dir)}: "
          + " ".join(names), file=sys.stderr)
    return 0


def _leafy(v):
    if isinstance(v, dict):
        return False
    if isinstance(v, list):
        return all(_leafy(e) for e in v)
    return True


def dumps(obj, indent=0):
    """Readable JSON: objects indented, numeric arrays one row per line."""
    pad = " " * indent
    inner = " " * (indent + 2)
    if _leafy(obj):
        compact = json.dumps(obj, separators=(", ", ": "))
        if not isinstance(obj, list) or len(compact) + indent <= 88 or not any(
            isinstance(e, list) for e in obj
        ):
            return compact
        rows = [inner + dumps(e, indent + 2) for e in obj]
        return "[\n" + ",\n".join(rows) + "\n" + pad + "]"
    if isinstance(obj, dict):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 2)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    rows = [inner + dumps(e, indent + 2) for e in obj]
    return "[\n" + ",\n".join(rows) + "\n" + pad + "]"


if __name__ == "__main__":
    sys.exit(main())
