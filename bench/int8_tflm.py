#!/usr/bin/env python3
"""Int8 side by side with TensorFlow Lite Micro (issue #14, part 4).

For an int8 model file M (format 1.2, written by `trainer quantize` or
`trainer fit --quantize int8`):

* reads its quantized layers with `trainer inspect --json M` (weights,
  per-channel scales, int32 biases, zero points, clamps);
* writes the same numbers into an int8 .tflite built with the schema module
  the `tflite-micro` wheel ships: FULLY_CONNECTED (per-channel), CONV_2D
  (per-channel, padding SAME) and TRANSPOSE_CONV (per-channel, padding SAME
  or VALID), fused NONE / RELU; RESHAPE where a dense output becomes an
  image. Our layout is channel-major (C x H x W), TFLite's NHWC: the writer
  permutes the dense weights next to a convolution instead of adding
  TRANSPOSE operators, so the arithmetic (integer sums) is unchanged;
* draws random int8 inputs, runs TFLM's interpreter on them, and our runtime
  through `trainer eval --model M --data x.npy --reconstructions y.npy`
  (the f32 API: x = s_in (q - zp) quantizes back to q exactly, and y to the
  int8 output exactly);
* prints max |ours - TFLM| in int8 units (must be 0) and TFLM's arena use
  (bytes, its own `print_allocations` total).

Models whose geometry or activations have no TFLite equivalent here (tables:
ELU, tanh, ...; PyTorch paddings that SAME/VALID cannot express) are
rejected with a message.

    int8_tflm.py --trainer target/release/trainer --model m-int8.rrae [--samples 64] [--out r.json]
    int8_tflm.py ... --calls N    # only invoke TFLM N times (for callgrind)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import flatbuffers
import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tflm_bench import make_interp  # noqa: E402

BIG_ARENA = 1 << 22


def arena_used(model, x):
    """TFLM's own figure: 'Arena allocation total' of print_allocations() after an
    invoke with a large arena, from a child process (the figure goes to the C
    stdout). A search for the smallest working arena is not possible here: with
    too small an arena, int8 FULLY_CONNECTED crashes the interpreter."""
    import re
    with tempfile.TemporaryDirectory() as tmp:
        mp, xp = os.path.join(tmp, "m.tflite"), os.path.join(tmp, "x.npy")
        with open(mp, "wb") as f:
            f.write(model)
        np.save(xp, x)
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--allocations", mp, xp],
                           capture_output=True, text=True, check=True)
    m = re.search(r"Arena allocation total (\d+) bytes", r.stdout + r.stderr)
    if not m:
        raise SystemExit("TFLM printed no arena figure")
    return int(m.group(1))


def print_allocations(model_path, x_path):
    with open(model_path, "rb") as f:
        it = make_interp(f.read(), BIG_ARENA)
    it.set_input(np.load(x_path), 0)
    it.invoke()
    it.print_allocations()


class Graph:
    """A single-subgraph int8 TFLite model under construction."""

    def __init__(self):
        self.buffers = [fb.BufferT()]
        self.tensors = []
        self.ops = []
        self.codes = []

    def tensor(self, shape, dtype, name, data=None, scale=None, zp=None, dim=0):
        t = fb.TensorT()
        t.shape = np.array(shape, dtype=np.int32)
        t.type = dtype
        t.name = name.encode()
        t.buffer = 0
        if data is not None:
            b = fb.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        if scale is not None:
            q = fb.QuantizationParametersT()
            q.scale = np.array(scale, dtype=np.float32)
            q.zeroPoint = np.array(zp, dtype=np.int64)
            q.quantizedDimension = dim
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def act(self, shape, qp, name):
        return self.tensor(shape, fb.TensorType.INT8, name, scale=[qp["scale"]], zp=[qp["zero_point"]])

    def op(self, code, inputs, outputs, opt_type=None, opt=None):
        if code not in self.codes:
            self.codes.append(code)
        o = fb.OperatorT()
        o.opcodeIndex = self.codes.index(code)
        o.inputs = np.array(inputs, dtype=np.int32)
        o.outputs = np.array(outputs, dtype=np.int32)
        if opt_type is not None:
            o.builtinOptionsType = opt_type
            o.builtinOptions = opt
        self.ops.append(o)

    def finish(self, first, last):
        sg = fb.SubGraphT()
        sg.tensors = self.tensors
        sg.inputs = np.array([first], dtype=np.int32)
        sg.outputs = np.array([last], dtype=np.int32)
        sg.operators = self.ops
        codes = []
        for c in self.codes:
            oc = fb.OperatorCodeT()
            oc.builtinCode = c
            oc.deprecatedBuiltinCode = min(c, 127)
            oc.version = 1
            codes.append(oc)
        m = fb.ModelT()
        m.version = 3
        m.description = b"rrae-rs int8 side by side"
        m.operatorCodes = codes
        m.subgraphs = [sg]
        m.buffers = self.buffers
        b = flatbuffers.Builder(1 << 16)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def fused(layer):
    """TFLite's fused activation for our clamp (NONE or RELU)."""
    act = layer["activation"]
    if "clamp" not in act:
        raise SystemExit(f"layer with a table activation ({act['table']['source']}): no bit-exact TFLite op")
    lo, hi = act["clamp"]
    zp = layer["output"]["zero_point"]
    if (lo, hi) == (-128, 127):
        return fb.ActivationFunctionType.NONE
    if (lo, hi) == (max(zp, -128), 127):
        return fb.ActivationFunctionType.RELU
    raise SystemExit(f"clamp {lo}..{hi} is neither identity nor ReLU")


def padding_for(n, k, s, p, out, transposed):
    """The TFLite padding type whose computed padding equals PyTorch's `p`."""
    if transposed:
        # TRANSPOSE_CONV: padding computed as for a conv from `out` back to `n`.
        conv_out = -(-out // s)
        same = max((conv_out - 1) * s + k - out, 0) // 2
    else:
        # CONV_2D: output ceil(n / s), padding ((out - 1) s + k - n) / 2.
        conv_out = -(-n // s)
        same = max((conv_out - 1) * s + k - n, 0) // 2
        if conv_out != out:
            same = None
    if same == p:
        return fb.Padding.SAME
    valid_out = (out - 1) * s + k if transposed else (n - k + s) // s
    if p == 0 and (transposed and n == (out - k + s) // s or not transposed and valid_out == out):
        return fb.Padding.VALID
    raise SystemExit(f"padding {p} (size {n} -> {out}, kernel {k}, stride {s}) is neither SAME nor VALID")


def chw_to_hwc(c, h, w):
    """perm[i] = CHW index of HWC position i."""
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)


def out_hw(layer):
    g = layer["conv"]
    (h, w), (kh, kw), (sh, sw), (ph, pw) = (g["in_height"], g["in_width"]), g["kernel"], g["stride"], g["padding"]
    if layer["kind"] == "conv2d":
        return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    oph, opw = layer["output_padding"]
    return (h - 1) * sh - 2 * ph + kh + oph, (w - 1) * sw - 2 * pw + kw + opw


def build(layers):
    """The .tflite of the layer chain, and (input shape, output image shape or None)."""
    g = Graph()
    first = layers[0]
    if first["kind"] == "dense":
        in_shape = [1, first["in_dim"]]
    else:
        c = first["conv"]
        in_shape = [1, c["in_height"], c["in_width"], c["in_channels"]]
    x = g.act(in_shape, first["input"], "x")
    x0, image = x, (None if first["kind"] == "dense" else (c["in_channels"], c["in_height"], c["in_width"]))
    for i, l in enumerate(layers):
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        w = np.array(l["weight"], dtype=np.int8)
        ws = np.array(l["weight_scale"], dtype=np.float32)
        bias = np.array(l["bias"], dtype=np.int32)
        s_in = np.float32(l["input"]["scale"])
        if l["kind"] == "dense":
            w = w.reshape(l["out_dim"], l["in_dim"])
            if image is not None:  # input is NHWC: columns in HWC order
                w = w[:, chw_to_hwc(*image)]
            out_image = None
            if nxt is not None and nxt["kind"] != "dense":  # output becomes an image
                c = nxt["conv"]
                out_image = (c["in_channels"], c["in_height"], c["in_width"])
                perm = chw_to_hwc(*out_image)
                w, bias, ws = w[perm], bias[perm], ws[perm] if ws.size > 1 else ws
            n_out = w.shape[0]
            wt = g.tensor(list(w.shape), fb.TensorType.INT8, f"w{i}", w, list(ws), [0] * ws.size, 0)
            bt = g.tensor([n_out], fb.TensorType.INT32, f"b{i}", bias, list(ws * s_in), [0] * ws.size, 0)
            y = g.act([1, n_out], l["output"], f"y{i}")
            opt = fb.FullyConnectedOptionsT()
            opt.fusedActivationFunction = fused(l)
            g.op(fb.BuiltinOperator.FULLY_CONNECTED, [x, wt, bt], [y], fb.BuiltinOptions.FullyConnectedOptions, opt)
            x, image = y, None
            if out_image is not None:
                c, h, wd = out_image
                shape = g.tensor([4], fb.TensorType.INT32, f"shape{i}", np.array([1, h, wd, c], np.int32))
                r = g.act([1, h, wd, c], l["output"], f"r{i}")
                g.op(fb.BuiltinOperator.RESHAPE, [x, shape], [r])
                x, image = r, out_image
            continue
        cg = l["conv"]
        ci, co = cg["in_channels"], cg["out_channels"]
        (h, wd), (kh, kw), (sh, sw), (ph, pw) = (cg["in_height"], cg["in_width"]), cg["kernel"], cg["stride"], cg["padding"]
        ho, wo = out_hw(l)
        transposed = l["kind"] != "conv2d"
        if transposed:  # ours in x out x kh x kw -> OHWI
            w = w.reshape(ci, co, kh, kw).transpose(1, 2, 3, 0)
        else:  # out x in x kh x kw -> OHWI
            w = w.reshape(co, ci, kh, kw).transpose(0, 2, 3, 1)
        pad_h = padding_for(h, kh, sh, ph, ho, transposed)
        pad_w = padding_for(wd, kw, sw, pw, wo, transposed)
        if pad_h != pad_w:
            raise SystemExit(f"layer {i}: different padding types along the two axes")
        wt = g.tensor(list(w.shape), fb.TensorType.INT8, f"w{i}", np.ascontiguousarray(w), list(ws), [0] * ws.size, 0)
        bt = g.tensor([co], fb.TensorType.INT32, f"b{i}", bias, list(ws * s_in), [0] * ws.size, 0)
        y = g.act([1, ho, wo, co], l["output"], f"y{i}")
        if transposed:
            shape = g.tensor([4], fb.TensorType.INT32, f"oshape{i}", np.array([1, ho, wo, co], np.int32))
            opt = fb.TransposeConvOptionsT()
            opt.padding, opt.strideH, opt.strideW = pad_h, sh, sw
            opt.fusedActivationFunction = fused(l)
            g.op(fb.BuiltinOperator.TRANSPOSE_CONV, [shape, wt, x, bt], [y], fb.BuiltinOptions.TransposeConvOptions, opt)
        else:
            opt = fb.Conv2DOptionsT()
            opt.padding, opt.strideH, opt.strideW = pad_h, sh, sw
            opt.dilationHFactor = opt.dilationWFactor = 1
            opt.fusedActivationFunction = fused(l)
            g.op(fb.BuiltinOperator.CONV_2D, [x, wt, bt], [y], fb.BuiltinOptions.Conv2DOptions, opt)
        x, image = y, (co, ho, wo)
    return g.finish(x0, x), in_shape, image


def quant_layers(meta):
    layers = meta["encoder"] + meta["decoder"]
    if any("weight" not in l for l in layers):
        raise SystemExit("not an int8 model (run trainer quantize first)")
    if meta["normalization"] != "none":
        raise SystemExit("the side-by-side check needs a model without normalization")
    return layers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainer")
    ap.add_argument("--model")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tflite-out", default=None, help="also write the .tflite here")
    ap.add_argument("--out", default=None, help="write the result JSON here")
    ap.add_argument("--calls", type=int, default=None,
                    help="only invoke TFLM N times on one input, then exit (for valgrind --tool=callgrind "
                         "--toggle-collect='*MicroInterpreter::Invoke*')")
    ap.add_argument("--allocations", nargs=2, metavar=("TFLITE", "X_NPY"), help=argparse.SUPPRESS)
    if "--allocations" in sys.argv:  # child of arena_used()
        i = sys.argv.index("--allocations")
        print_allocations(sys.argv[i + 1], sys.argv[i + 2])
        return
    a = ap.parse_args()
    meta = json.loads(subprocess.run([a.trainer, "inspect", "--json", a.model], check=True,
                                     capture_output=True, text=True).stdout)
    layers = quant_layers(meta)
    model, in_shape, out_image = build(layers)
    if a.tflite_out:
        with open(a.tflite_out, "wb") as f:
            f.write(model)
    rng = np.random.default_rng(a.seed)
    d = layers[0]["in_dim"]
    q = rng.integers(-128, 128, size=(a.samples, d), dtype=np.int64).astype(np.int8)
    image = None if layers[0]["kind"] == "dense" else (layers[0]["conv"]["in_channels"],
                                                       layers[0]["conv"]["in_height"], layers[0]["conv"]["in_width"])

    def tflm_input(row):
        if image is None:
            return row.reshape(in_shape)
        return row.reshape(image).transpose(1, 2, 0).reshape(in_shape)

    if a.calls is not None:
        it = make_interp(model, BIG_ARENA)
        it.set_input(tflm_input(q[0]), 0)
        for _ in range(a.calls):
            it.invoke()
        return

    arena = arena_used(model, tflm_input(q[0]))
    it = make_interp(model, BIG_ARENA)
    theirs = []
    for row in q:
        it.set_input(tflm_input(row), 0)
        it.invoke()
        y = np.asarray(it.get_output(0)).reshape(-1)
        if out_image is not None:  # NHWC -> CHW
            c, h, w = out_image
            y = y.reshape(h, w, c).transpose(2, 0, 1).reshape(-1)
        theirs.append(y.astype(np.int32))
    theirs = np.stack(theirs)

    qin, qout = layers[0]["input"], layers[-1]["activation"].get("clamp") and layers[-1]["output"]
    s_in, zp_in = np.float32(qin["scale"]), qin["zero_point"]
    with tempfile.TemporaryDirectory() as tmp:
        xf = (s_in * (q.astype(np.float32) - np.float32(zp_in))).astype(np.float32)
        np.save(os.path.join(tmp, "x.npy"), xf)
        yp = os.path.join(tmp, "y.npy")
        subprocess.run([a.trainer, "eval", "--model", a.model, "--data", os.path.join(tmp, "x.npy"),
                        "--reconstructions", yp], check=True, capture_output=True)
        y = np.load(yp).astype(np.float64)
    ours = np.clip(np.round(y / np.float64(np.float32(qout["scale"]))) + qout["zero_point"], -128, 127).astype(np.int32)
    diff = int(np.max(np.abs(ours - theirs)))
    kinds = sorted({l["kind"] for l in layers})
    result = {"model": os.path.basename(a.model), "layers": kinds, "samples": a.samples,
              "max_abs_diff_int8": diff, "tflm_arena_bytes": arena, "tflite_bytes": len(model),
              "differing_values": int(np.count_nonzero(ours != theirs)), "values": int(ours.size)}
    print(json.dumps(result))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1)
    if diff != 0:
        sys.exit(f"int8 outputs differ from TFLM's: max |diff| = {diff}")


if __name__ == "__main__":
    main()
