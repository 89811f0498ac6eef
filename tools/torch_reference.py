#!/usr/bin/env python3
"""PyTorch (float64) reference implementation of a deltascope scenario.

Reads a deltascope scenario file (format v1), builds the described network in
PyTorch with float64 tensors, runs the scenario's training steps (forward,
backward, plain SGD) and writes the full trace in deltascope's export format
v1 (JSON).  The traces are committed under tests/fixtures/torch/ so the Rust
tests can compare the engine against PyTorch without needing Python.

Usage:
    python3 tools/torch_reference.py SCENARIO.json [-o TRACE.json]
            [--weights-from TRACE.json] [--verify]

Every conv and dense layer must carry explicit `weights` in the scenario,
unless --weights-from names a deltascope export (trace v1) whose step-0
`weights`/`bias` are then used as initial values for every conv/dense layer
(this lets seeded scenarios be cross-checked against the engine).

--verify additionally runs independent sanity checks on step 0 of the
produced trace (NumPy full convolution with the 180-degree rotated kernel for
every conv layer's delta_input, NumPy grad_weights/grad_bias, plain-loop
recomputation of every pool's output, argmax and delta_input, and central
differences on one weight per conv/dense layer) and prints the errors to
stderr; exit code 1 if a check fails.

See tools/README.md for the exact semantics and how to regenerate fixtures.
"""

import argparse
import json
import math
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit(
        "torch_reference.py: error: PyTorch is not installed "
        "(pip install torch numpy; see tools/README.md)"
    )

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

PROG = "torch_reference.py"
LEAKY_SLOPE = 0.01
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "identity")
POOL_KINDS = ("max", "mean", "l2")
LOSS_KINDS = ("mse", "half_sse", "cross_entropy")


class ScenarioError(Exception):
    """A problem with the scenario (or --weights-from trace) contents."""


# ---------------------------------------------------------------------------
# JSON helpers
# ---------------------------------------------------------------------------

_NONFINITE_IN = {
    "nan": math.nan,
    "+nan": math.nan,
    "-nan": math.nan,
    "inf": math.inf,
    "+inf": math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-inf": -math.inf,
    "-infinity": -math.inf,
}


def parse_number(v, where):
    """A JSON number, or one of the strings "NaN", "inf", "-inf"."""
    if isinstance(v, bool):
        raise ScenarioError(f"{where}: expected a number, got {json.dumps(v)}")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and v.strip().lower() in _NONFINITE_IN:
        return _NONFINITE_IN[v.strip().lower()]
    raise ScenarioError(f"{where}: expected a number, got {json.dumps(v)[:60]}")


def nested_shape(v, where):
    """Shape of a rectangular nested list of numbers (a scalar has shape ())."""
    if isinstance(v, list):
        if not v:
            raise ScenarioError(f"{where}: empty array")
        shapes = [nested_shape(e, f"{where}[{i}]") for i, e in enumerate(v)]
        for i, s in enumerate(shapes):
            if s != shapes[0]:
                raise ScenarioError(
                    f"{where}: ragged array (element 0 has shape {list(shapes[0])}, "
                    f"element {i} has shape {list(s)})"
                )
        return (len(v),) + shapes[0]
    parse_number(v, where)
    return ()


def nested_values(v, where):
    if isinstance(v, list):
        return [nested_values(e, f"{where}[{i}]") for i, e in enumerate(v)]
    return parse_number(v, where)


def to_tensor(v, where, shape=None, ndims=None):
    s = nested_shape(v, where)
    if ndims is not None and len(s) not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        raise ScenarioError(f"{where}: expected a {want} array, got shape {list(s)}")
    if shape is not None and tuple(shape) != s:
        raise ScenarioError(
            f"{where}: expected shape {list(shape)}, got shape {list(s)}"
        )
    return torch.tensor(nested_values(v, where), dtype=torch.float64)


def json_value(t):
    """Tensor -> nested lists with non-finite floats replaced by strings."""
    return _sanitize(t.detach().tolist())


def _sanitize(v):
    if isinstance(v, list):
        return [_sanitize(e) for e in v]
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
    return v


def _is_leafy(v):
    """True for scalars and lists containing no dicts (written on one line)."""
    if isinstance(v, dict):
        return False
    if isinstance(v, list):
        return all(_is_leafy(e) for e in v)
    return True


def dumps_trace(obj, indent=0):
    """JSON text: dicts/lists of dicts indented, numeric arrays on one line.

    Floats use Python's repr (shortest round-trip form), i.e. full float64
    precision.  allow_nan=False guarantees no bare NaN/Infinity tokens.
    """
    pad = " " * indent
    inner = " " * (indent + 1)
    if _is_leafy(obj):
        return json.dumps(obj, separators=(",", ":"), allow_nan=False)
    if isinstance(obj, dict):
        items = [
            f"{inner}{json.dumps(k)}: {dumps_trace(v, indent + 1)}"
            for k, v in obj.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    items = [f"{inner}{dumps_trace(v, indent + 1)}" for v in obj]
    return "[\n" + ",\n".join(items) + "\n" + pad + "]"


# ---------------------------------------------------------------------------
# Scenario parsing
# ---------------------------------------------------------------------------


def pair(v, where, default=None, minimum=1):
    if v is None:
        if default is None:
            raise ScenarioError(f"{where}: missing")
        return default
    if isinstance(v, bool):
        raise ScenarioError(f"{where}: expected an integer or [int, int]")
    if isinstance(v, int):
        vals = (v, v)
    elif (
        isinstance(v, list)
        and len(v) == 2
        and all(isinstance(e, int) and not isinstance(e, bool) for e in v)
    ):
        vals = (v[0], v[1])
    else:
        raise ScenarioError(
            f"{where}: expected an integer or [int, int], got {json.dumps(v)}"
        )
    if any(e < minimum for e in vals):
        raise ScenarioError(f"{where}: values must be >= {minimum}, got {json.dumps(v)}")
    return vals


def warn(msg):
    print(f"{PROG}: warning: {msg}", file=sys.stderr)


def check_keys(d, allowed, where):
    for k in d:
        if k not in allowed:
            warn(f"{where}: unknown key {json.dumps(k)} ignored")


def shape_str(shape):
    return "x".join(str(s) for s in shape)


def parse_scenario(sc, weights_from=None):
    """Validate the scenario and return a normalized description.

    Returns a dict with: name, input (tensor [C,H,W]), layers (list of dicts
    with resolved geometry and initial weight/bias tensors), loss, lr, steps.
    """
    if not isinstance(sc, dict):
        raise ScenarioError("scenario: top level must be a JSON object")
    check_keys(
        sc,
        {"name", "description", "seed", "input", "layers", "loss", "learning_rate", "steps"},
        "scenario",
    )
    name = sc.get("name")
    if not isinstance(name, str) or not name:
        raise ScenarioError("scenario: `name` must be a non-empty string")
    if "input" not in sc:
        raise ScenarioError("scenario: missing `input`")
    x = to_tensor(sc["input"], "input", ndims=(2, 3))
    if x.dim() == 2:
        x = x.unsqueeze(0)

    layers_in = sc.get("layers")
    if not isinstance(layers_in, list) or not layers_in:
        raise ScenarioError("scenario: `layers` must be a non-empty array")

    trace_layers = None
    if weights_from is not None:
        trace_layers = weights_from_layers(weights_from, len(layers_in))

    counts = {}
    layers = []
    shape = tuple(x.shape)  # (C, H, W) or (n,)
    for li, ld in enumerate(layers_in):
        where = f"layers[{li}]"
        if not isinstance(ld, dict):
            raise ScenarioError(f"{where}: must be an object")
        ltype = ld.get("type")
        if ltype not in ("conv", "pool", "dense"):
            raise ScenarioError(
                f"{where}: `type` must be \"conv\", \"pool\" or \"dense\", got {json.dumps(ltype)}"
            )
        counts[ltype] = counts.get(ltype, 0) + 1
        lname = ld.get("name", f"{ltype}{counts[ltype]}")
        if not isinstance(lname, str) or not lname:
            raise ScenarioError(f"{where}: `name` must be a non-empty string")
        where = f"{where} ({lname})"
        layer = {"type": ltype, "name": lname, "in_shape": shape}

        if ltype == "conv":
            check_keys(
                ld,
                {"type", "name", "kernels", "kernel_size", "stride", "padding",
                 "activation", "weights", "bias", "init"},
                where,
            )
            if len(shape) != 3:
                raise ScenarioError(
                    f"{where}: a conv layer needs a [C][H][W] input, but the previous "
                    f"layer produces a flat vector of {shape[0]}"
                )
            C, H, W = shape
            K = ld.get("kernels")
            if not isinstance(K, int) or isinstance(K, bool) or K < 1:
                raise ScenarioError(f"{where}: `kernels` must be a positive integer")
            kh, kw = pair(ld.get("kernel_size"), f"{where}.kernel_size")
            sh, sw = pair(ld.get("stride"), f"{where}.stride", default=(1, 1))
            ph, pw = pair(ld.get("padding"), f"{where}.padding", default=(0, 0), minimum=0)
            act = ld.get("activation", "relu")
            if act not in ACTIVATIONS:
                raise ScenarioError(f"{where}: unknown activation {json.dumps(act)}")
            if H + 2 * ph < kh or W + 2 * pw < kw:
                raise ScenarioError(
                    f"{where}: kernel {kh}x{kw} is larger than the padded input "
                    f"{H + 2 * ph}x{W + 2 * pw}"
                )
            Ho = (H + 2 * ph - kh) // sh + 1
            Wo = (W + 2 * pw - kw) // sw + 1
            wshape, bshape = (K, C, kh, kw), (K,)
            layer.update(kernels=K, kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw),
                         activation=act)
            out_shape = (K, Ho, Wo)
        elif ltype == "pool":
            check_keys(ld, {"type", "name", "kind", "size", "stride"}, where)
            if len(shape) != 3:
                raise ScenarioError(
                    f"{where}: a pool layer needs a [C][H][W] input, but the previous "
                    f"layer produces a flat vector of {shape[0]}"
                )
            C, H, W = shape
            kind = ld.get("kind")
            if kind not in POOL_KINDS:
                raise ScenarioError(
                    f"{where}: `kind` must be \"max\", \"mean\" or \"l2\", got {json.dumps(kind)}"
                )
            kh, kw = pair(ld.get("size"), f"{where}.size")
            sh, sw = pair(ld.get("stride"), f"{where}.stride", default=(kh, kw))
            if H < kh or W < kw:
                raise ScenarioError(
                    f"{where}: pool window {kh}x{kw} is larger than its input {H}x{W}"
                )
            Ho = (H - kh) // sh + 1
            Wo = (W - kw) // sw + 1
            layer.update(kind=kind, size=(kh, kw), stride=(sh, sw))
            out_shape = (C, Ho, Wo)
        else:  # dense
            check_keys(
                ld,
                {"type", "name", "outputs", "activation", "weights", "bias", "init"},
                where,
            )
            n_in = 1
            for s in shape:
                n_in *= s
            n_out = ld.get("outputs")
            if not isinstance(n_out, int) or isinstance(n_out, bool) or n_out < 1:
                raise ScenarioError(f"{where}: `outputs` must be a positive integer")
            act = ld.get("activation", "identity")
            if act not in ACTIVATIONS:
                raise ScenarioError(f"{where}: unknown activation {json.dumps(act)}")
            wshape, bshape = (n_out, n_in), (n_out,)
            layer.update(outputs=n_out, activation=act)
            out_shape = (n_out,)

        if ltype in ("conv", "dense"):
            if trace_layers is not None:
                tl = trace_layers[li]
                twhere = f"--weights-from step 0 layers[{li}]"
                if tl.get("type") != ltype:
                    raise ScenarioError(
                        f"{twhere}: type {json.dumps(tl.get('type'))} does not match "
                        f"scenario layer type {json.dumps(ltype)}"
                    )
                if "name" in tl and tl["name"] != lname:
                    raise ScenarioError(
                        f"{twhere}: name {json.dumps(tl['name'])} does not match "
                        f"scenario layer name {json.dumps(lname)}"
                    )
                if "weights" not in tl or "bias" not in tl:
                    raise ScenarioError(f"{twhere}: missing `weights` or `bias`")
                w = to_tensor(tl["weights"], f"{twhere}.weights", shape=wshape)
                b = to_tensor(tl["bias"], f"{twhere}.bias", shape=bshape)
            else:
                if "weights" not in ld:
                    raise ScenarioError(
                        f"{where}: no explicit `weights`; this script cannot reproduce the "
                        f"engine's seeded random init. Give explicit weights, or pass "
                        f"--weights-from TRACE.json (a deltascope export of this scenario)"
                    )
                w = to_tensor(ld["weights"], f"{where}.weights", shape=wshape)
                if "bias" in ld:
                    b = to_tensor(ld["bias"], f"{where}.bias", shape=bshape)
                else:
                    b = torch.zeros(bshape)
            layer["weights"] = w
            layer["bias"] = b

        layer["out_shape"] = out_shape
        layers.append(layer)
        shape = out_shape

    loss = sc.get("loss")
    if not isinstance(loss, dict):
        raise ScenarioError("scenario: missing `loss` object")
    check_keys(loss, {"kind", "target", "class"}, "loss")
    kind = loss.get("kind")
    if kind not in LOSS_KINDS:
        raise ScenarioError(
            f"loss: `kind` must be \"mse\", \"half_sse\" or \"cross_entropy\", got {json.dumps(kind)}"
        )
    n_final = 1
    for s in shape:
        n_final *= s
    norm_loss = {"kind": kind}
    if kind in ("mse", "half_sse"):
        if "target" not in loss:
            raise ScenarioError(f"loss: `{kind}` needs a `target`")
        t_shape = nested_shape(loss["target"], "loss.target")
        if t_shape == shape:
            t = to_tensor(loss["target"], "loss.target")
        elif len(shape) == 3 and shape[0] == 1 and t_shape == shape[1:]:
            # a [H][W] target for a single-channel output, like the input rule
            t = to_tensor(loss["target"], "loss.target").unsqueeze(0)
        else:
            raise ScenarioError(
                f"loss.target: has shape {list(t_shape)}, but the final output "
                f"({layers[-1]['name']}) has shape {list(shape)}"
            )
        norm_loss["target"] = t
    else:
        c = loss.get("class")
        if not isinstance(c, int) or isinstance(c, bool) or not 0 <= c < n_final:
            raise ScenarioError(
                f"loss: `class` must be an integer in 0..{n_final - 1} (the final output "
                f"has {n_final} values), got {json.dumps(c)}"
            )
        norm_loss["class"] = c

    lr = sc.get("learning_rate", 0.1)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr):
        raise ScenarioError("scenario: `learning_rate` must be a finite number")
    steps = sc.get("steps", 1)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ScenarioError("scenario: `steps` must be a non-negative integer")

    return {
        "name": name,
        "input": x,
        "layers": layers,
        "loss": norm_loss,
        "lr": float(lr),
        "steps": steps,
    }


def weights_from_layers(trace, n_layers):
    if not isinstance(trace, dict) or trace.get("format") != "deltascope-trace":
        raise ScenarioError("--weights-from: not a deltascope trace (format != deltascope-trace)")
    if trace.get("version") != 1:
        raise ScenarioError(
            f"--weights-from: unsupported trace version {json.dumps(trace.get('version'))}"
        )
    steps = trace.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ScenarioError("--weights-from: the trace has no steps")
    st0 = steps[0]
    tl = st0.get("layers") if isinstance(st0, dict) else None
    if not isinstance(tl, list) or len(tl) != n_layers:
        raise ScenarioError(
            f"--weights-from: step 0 has {len(tl) if isinstance(tl, list) else 'no'} "
            f"layers, the scenario has {n_layers}"
        )
    return tl


# ---------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------


def _window_slices(kh, kw, sh, sw, Ho, Wo):
    """For each window offset (i, j), row-major, the strided slice it touches."""
    for i in range(kh):
        for j in range(kw):
            yield (
                Ellipsis,
                slice(i, i + sh * (Ho - 1) + 1, sh),
                slice(j, j + sw * (Wo - 1) + 1, sw),
            )


class L2Pool(torch.autograd.Function):
    """y = sqrt(sum over the window of x^2); dy/dx = x / y, and 0 where y == 0.

    The window sum is accumulated sequentially in row-major window order
    (exactly the sum, not area * mean).  Plain autograd through sqrt would
    give 0 * inf = NaN for an all-zero window; here such a window passes
    exactly 0 gradient to its inputs.  NaN outputs still propagate NaN.
    """

    @staticmethod
    def forward(ctx, x, kh, kw, sh, sw):
        H, W = x.shape[-2:]
        Ho = (H - kh) // sh + 1
        Wo = (W - kw) // sw + 1
        x2 = x * x
        s = None
        for sl in _window_slices(kh, kw, sh, sw, Ho, Wo):
            s = x2[sl].clone() if s is None else s + x2[sl]
        y = torch.sqrt(s)
        ctx.save_for_backward(x, y)
        ctx.geom = (kh, kw, sh, sw, Ho, Wo)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        kh, kw, sh, sw, Ho, Wo = ctx.geom
        coeff = torch.where(y == 0, torch.zeros_like(y), g / y)
        gx = torch.zeros_like(x)
        for sl in _window_slices(kh, kw, sh, sw, Ho, Wo):
            gx[sl] += coeff * x[sl]
        return gx, None, None, None, None


def activate(z, act):
    if act == "relu":
        return torch.relu(z)
    if act == "leaky_relu":
        return F.leaky_relu(z, LEAKY_SLOPE)
    if act == "sigmoid":
        return torch.sigmoid(z)
    if act == "tanh":
        return torch.tanh(z)
    return z.clone()  # identity: a distinct tensor so its grad is captured separately


def forward(net, params, record):
    """Run the network once. Returns (loss, final_output, records).

    params: list (per layer) of (W, b) tensors or None.
    record: if True, intermediates have retain_grad() so deltas can be read.
    """
    x = net["input"].clone().requires_grad_(record)
    cur = x
    recs = []
    for layer, p in zip(net["layers"], params):
        r = {}
        if layer["type"] == "dense":
            inp = cur.reshape(-1) if cur.dim() != 1 else cur
        else:
            inp = cur
        if record and inp is not x:
            inp.retain_grad()
        r["input"] = inp
        if layer["type"] == "conv":
            W, b = p
            z = F.conv2d(inp.unsqueeze(0), W, b, stride=layer["stride"],
                         padding=layer["padding"]).squeeze(0)
            a = activate(z, layer["activation"])
            r["z"], r["a"] = z, a
            out = a
        elif layer["type"] == "dense":
            W, b = p
            z = torch.mv(W, inp) + b
            a = activate(z, layer["activation"])
            r["z"], r["a"] = z, a
            out = a
        else:
            kh, kw = layer["size"]
            sh, sw = layer["stride"]
            x4 = inp.unsqueeze(0)
            if layer["kind"] == "max":
                o, idx = F.max_pool2d(x4, (kh, kw), (sh, sw), padding=0,
                                      ceil_mode=False, return_indices=True)
                r["argmax"] = idx.squeeze(0)
            elif layer["kind"] == "mean":
                o = F.avg_pool2d(x4, (kh, kw), (sh, sw), padding=0, ceil_mode=False,
                                 count_include_pad=True)
            else:
                o = L2Pool.apply(x4, kh, kw, sh, sw)
            out = o.squeeze(0)
            r["output"] = out
        if record:
            for k in ("z", "a", "output"):
                if k in r:
                    r[k].retain_grad()
        recs.append(r)
        cur = out

    y = cur
    loss_spec = net["loss"]
    if loss_spec["kind"] == "mse":
        loss = F.mse_loss(y, loss_spec["target"], reduction="mean")
    elif loss_spec["kind"] == "half_sse":
        loss = 0.5 * torch.sum((y - loss_spec["target"]) ** 2)
    else:
        loss = F.cross_entropy(y.reshape(1, -1), torch.tensor([loss_spec["class"]]))
    return loss, x, y, recs


def grad_or_zeros(t):
    return t.grad if t.grad is not None else torch.zeros_like(t)


def run(net):
    """Train for net['steps'] steps; returns the list of step dicts for the trace."""
    params = []
    for layer in net["layers"]:
        if layer["type"] in ("conv", "dense"):
            params.append((layer["weights"].clone().requires_grad_(True),
                           layer["bias"].clone().requires_grad_(True)))
        else:
            params.append(None)

    steps = []
    for step in range(net["steps"]):
        loss, x, y, recs = forward(net, params, record=True)
        y.retain_grad()
        loss.backward()

        entries = []
        for li, (layer, p, r) in enumerate(zip(net["layers"], params, recs)):
            inp = r["input"]
            d_in = x.grad if inp is x else inp.grad
            if d_in is None:
                d_in = torch.zeros_like(inp)
            if layer["type"] in ("conv", "dense"):
                W, b = p
                e = {
                    "type": layer["type"],
                    "name": layer["name"],
                    "input": json_value(inp),
                    "weights": json_value(W),
                    "bias": json_value(b),
                    "z": json_value(r["z"]),
                    "a": json_value(r["a"]),
                    "delta_a": json_value(grad_or_zeros(r["a"])),
                    "delta_z": json_value(grad_or_zeros(r["z"])),
                    "grad_weights": json_value(grad_or_zeros(W)),
                    "grad_bias": json_value(grad_or_zeros(b)),
                    "delta_input": json_value(d_in),
                }
            else:
                e = {
                    "type": "pool",
                    "kind": layer["kind"],
                    "name": layer["name"],
                    "input": json_value(inp),
                    "output": json_value(r["output"]),
                    "delta_output": json_value(grad_or_zeros(r["output"])),
                    "delta_input": json_value(d_in),
                }
                if layer["kind"] == "max":
                    e["argmax"] = r["argmax"].tolist()
            entries.append(e)

        lv = loss.item()
        steps.append({
            "step": step,
            "loss": _sanitize(lv),
            "loss_grad": json_value(grad_or_zeros(y)),
            "layers": entries,
        })

        with torch.no_grad():
            for p in params:
                if p is None:
                    continue
                for t in p:
                    t -= net["lr"] * grad_or_zeros(t)
                    t.grad = None
    return steps


def producer():
    return "torch " + torch.__version__.split("+")[0]


def make_trace(net):
    return {
        "format": "deltascope-trace",
        "version": 1,
        "name": net["name"],
        "producer": producer(),
        "steps": run(net),
    }


# ---------------------------------------------------------------------------
# --verify: independent sanity checks
# ---------------------------------------------------------------------------


def _num(v):
    import numpy as np

    return np.array(_unsanitize(v), dtype=np.float64)


def _unsanitize(v):
    if isinstance(v, list):
        return [_unsanitize(e) for e in v]
    if isinstance(v, str):
        return _NONFINITE_IN[v.lower()]
    return v


def compare_arrays(ours, ref, rel=1e-12):
    """(good, message) for a recomputed array against the trace's.

    Non-finite cells must agree exactly: NaN where the other has NaN, the same infinity
    where it has an infinity. Finite cells must agree to `rel` times the largest finite
    |value| of the recomputation (at least 1), so an inf never widens the tolerance.
    """
    import numpy as np

    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if ours.shape != ref.shape:
        return False, f"shape {list(ours.shape)} vs {list(ref.shape)}"
    both_nan = np.isnan(ours) & np.isnan(ref)
    finite = np.isfinite(ours) & np.isfinite(ref)
    same_inf = np.isinf(ours) & (ours == ref)
    odd = int(np.count_nonzero(~(both_nan | finite | same_inf)))
    err = float(np.max(np.abs(ours[finite] - ref[finite]))) if finite.any() else 0.0
    fin = ours[np.isfinite(ours)]
    scale = max(1.0, float(np.max(np.abs(fin)))) if fin.size else 1.0
    msg = f"max abs err {err:.3e}"
    n_nonfinite = int(np.count_nonzero(~np.isfinite(ref)))
    if n_nonfinite or odd:
        msg += f" ({n_nonfinite} non-finite cells, {odd} disagreeing)"
    return odd == 0 and err <= rel * scale, msg


def numpy_conv_delta_input(delta_z, w, in_hw, stride, padding):
    """dL/d(input) as the full convolution of delta_z with the 180-degree rotated kernel.

    delta_z [K,Ho,Wo] is dilated by the stride (zeros between entries), padded by
    kernel-1 on every side, cross-correlated with the rotated kernel and summed over
    kernels; the result covers the padded input and is cropped by the padding.
    """
    import numpy as np

    K, C, kh, kw = w.shape
    H, W = in_hw
    sh, sw = stride
    ph, pw = padding
    _, Ho, Wo = delta_z.shape
    Hp, Wp = H + 2 * ph, W + 2 * pw
    # dilate; rows/cols of the padded input never reached by a window stay zero
    dil = np.zeros((K, Hp - kh + 1, Wp - kw + 1))
    dil[:, : sh * (Ho - 1) + 1 : sh, : sw * (Wo - 1) + 1 : sw] = delta_z
    full = np.pad(dil, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
    rot = w[:, :, ::-1, ::-1]
    out = np.zeros((C, Hp, Wp))
    for c in range(C):
        for i in range(Hp):
            for j in range(Wp):
                out[c, i, j] = np.sum(full[:, i : i + kh, j : j + kw] * rot[:, c])
    return out[:, ph : ph + H, pw : pw + W]


def numpy_conv_grad_weights(inp, delta_z, kshape, stride, padding):
    import numpy as np

    K, C, kh, kw = kshape
    sh, sw = stride
    ph, pw = padding
    xp = np.pad(inp, ((0, 0), (ph, ph), (pw, pw)))
    _, Ho, Wo = delta_z.shape
    gw = np.zeros(kshape)
    for k in range(K):
        for c in range(C):
            for i in range(kh):
                for j in range(kw):
                    patch = xp[c, i : i + sh * (Ho - 1) + 1 : sh, j : j + sw * (Wo - 1) + 1 : sw]
                    gw[k, c, i, j] = np.sum(patch * delta_z[k])
    return gw


def numpy_pool_check(layer, e):
    """Recompute a pool's output, argmax and delta_input with plain loops.

    Max: the first maximum in row-major window order, except that a NaN wins over
    everything before it (PyTorch's rule: a later cell wins if it is greater or NaN).
    Mean: delta / area to every window element. L2: (delta / norm) * x, and 0 for a
    window whose norm is 0 (whatever its delta).  Returns (ok, message).
    """
    import numpy as np

    x = _num(e["input"])
    g = _num(e["delta_output"])
    C, H, W = x.shape
    kh, kw = layer["size"]
    sh, sw = layer["stride"]
    Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
    y = np.zeros((C, Ho, Wo))
    din = np.zeros_like(x)
    am = np.zeros((C, Ho, Wo), dtype=np.int64)
    for c in range(C):
        for i in range(Ho):
            for j in range(Wo):
                win = [(i * sh + a, j * sw + b) for a in range(kh) for b in range(kw)]
                if layer["kind"] == "max":
                    best = win[0]
                    for p in win[1:]:
                        if x[c][p] > x[c][best] or math.isnan(x[c][p]):
                            best = p
                    y[c, i, j] = x[c][best]
                    am[c, i, j] = best[0] * W + best[1]
                    din[c][best] += g[c, i, j]
                elif layer["kind"] == "mean":
                    s = 0.0
                    for p in win:
                        s += x[c][p]
                    y[c, i, j] = s / (kh * kw)
                    for p in win:
                        din[c][p] += g[c, i, j] / (kh * kw)
                else:
                    s = 0.0
                    for p in win:
                        s += x[c][p] * x[c][p]
                    n = math.sqrt(s)
                    y[c, i, j] = n
                    if n != 0:
                        for p in win:
                            din[c][p] += g[c, i, j] / n * x[c][p]
    good_y, msg_y = compare_arrays(y, _num(e["output"]))
    good_d, msg_d = compare_arrays(din, _num(e["delta_input"]))
    good = good_y and good_d
    msg = f"output {msg_y}; delta_input {msg_d}"
    if layer["kind"] == "max":
        same = bool(np.array_equal(am, np.array(e["argmax"])))
        good &= same
        msg += f"; argmax (first max, row-major) {'identical' if same else 'DIFFERENT'}"
    return good, msg


def verify(net, trace, out=sys.stderr):
    """Independent checks of step 0; returns True if all pass."""
    import numpy as np

    # inf - inf and 0 * inf are expected in traces reached by overflow: no warnings.
    with np.errstate(all="ignore"):
        return _verify(net, trace, out)


def _verify(net, trace, out):
    import numpy as np

    ok = True
    if not trace["steps"]:
        print("verify: no steps to check", file=out)
        return True
    st = trace["steps"][0]

    for layer, e in zip(net["layers"], st["layers"]):
        if layer["type"] != "conv":
            continue
        w = _num(e["weights"])
        dz = _num(e["delta_z"])
        inp = _num(e["input"])
        din = numpy_conv_delta_input(dz, w, inp.shape[1:], layer["stride"], layer["padding"])
        good_d, msg_d = compare_arrays(din, _num(e["delta_input"]))
        gw = numpy_conv_grad_weights(inp, dz, w.shape, layer["stride"], layer["padding"])
        good_w, msg_w = compare_arrays(gw, _num(e["grad_weights"]))
        good_b, msg_b = compare_arrays(dz.sum(axis=(1, 2)), _num(e["grad_bias"]))
        good = good_d and good_w and good_b
        ok &= good
        print(
            f"verify: {e['name']}: numpy full-conv delta_input {msg_d}; "
            f"grad_weights {msg_w}; grad_bias {msg_b} {'ok' if good else 'FAIL'}",
            file=out,
        )

    for layer, e in zip(net["layers"], st["layers"]):
        if layer["type"] != "pool":
            continue
        good, msg = numpy_pool_check(layer, e)
        ok &= good
        print(f"verify: {e['name']}: numpy {layer['kind']} pool {msg} {'ok' if good else 'FAIL'}",
              file=out)

    # central differences on the step-0 loss, one weight per conv/dense layer:
    # the weight with the largest |gradient| (so the relative error is meaningful)
    base = [
        (l["weights"].clone(), l["bias"].clone()) if l["type"] in ("conv", "dense") else None
        for l in net["layers"]
    ]
    h = 1e-6
    loss0 = _num(st["loss"])
    for li, (layer, e) in enumerate(zip(net["layers"], st["layers"])):
        if layer["type"] not in ("conv", "dense"):
            continue
        g = _num(e["grad_weights"])
        # A non-finite loss has no difference quotient, and a non-finite gradient entry
        # none to compare with: the check takes the largest finite |gradient|.
        # Gradients beyond 1e10 come from inputs of overflow scale (1e308), where a step
        # of h in the weight moves the output by far more than a small step.
        finite_g = np.where(np.isfinite(g) & (np.abs(g) <= 1e10), np.abs(g), -1.0)
        if not np.isfinite(loss0) or float(np.max(finite_g)) < 0:
            why = ("the loss is not finite" if not np.isfinite(loss0)
                   else "no gradient entry is finite and at most 1e10")
            print(f"verify: {e['name']}: central difference skipped ({why})", file=out)
            continue
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(finite_g)), g.shape))
        vals = []
        for sgn in (1.0, -1.0):
            params = [None if p is None else (p[0].clone(), p[1].clone()) for p in base]
            params[li][0][idx] += sgn * h
            with torch.no_grad():
                loss, _, _, _ = forward(net, params, record=False)
            vals.append(loss.item())
        fd = (vals[0] - vals[1]) / (2 * h)
        an = float(g[idx])
        rel = abs(fd - an) / max(abs(an), 1e-12)
        good = rel < 1e-5 or abs(fd - an) < 1e-9
        ok &= good
        print(
            f"verify: {e['name']}: central difference dL/dW{list(idx)}: "
            f"fd {fd:.12g} vs autograd {an:.12g}, abs err {abs(fd - an):.3e}, "
            f"rel err {rel:.3e} {'ok' if good else 'FAIL'}",
            file=out,
        )
    return ok


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def load_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise ScenarioError(f"cannot read {what} {path}: {e.strerror}")
    except json.JSONDecodeError as e:
        raise ScenarioError(f"{what} {path}: invalid JSON: {e}")


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Run a deltascope scenario in PyTorch (float64) and write its "
        "trace (deltascope export format v1).",
    )
    ap.add_argument("scenario", help="scenario file (deltascope scenario format v1)")
    ap.add_argument("-o", "--output", help="write the trace here instead of stdout")
    ap.add_argument(
        "--weights-from",
        metavar="TRACE.json",
        help="take every conv/dense layer's initial weights and bias from step 0 of "
        "this deltascope export (overrides weights given in the scenario)",
    )
    ap.add_argument(
        "--verify",
        action="store_true",
        help="also run independent NumPy / finite-difference checks and report them "
        "on stderr (exit 1 if a check fails)",
    )
    args = ap.parse_args(argv)

    try:
        sc = load_json(args.scenario, "scenario")
        wf = load_json(args.weights_from, "trace") if args.weights_from else None
        net = parse_scenario(sc, wf)
    except ScenarioError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2

    trace = make_trace(net)
    text = dumps_trace(trace) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)

    if args.verify:
        if not verify(net, trace):
            print(f"{PROG}: verify: FAILED", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
