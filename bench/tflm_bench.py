#!/usr/bin/env python3
"""TensorFlow Lite Micro side of the inference benchmark (issue #7).

For each model NAME written by `runtime/examples/latency.rs --out DIR`
(DIR/NAME.json dims, DIR/NAME.f32 weights, DIR/NAME.io.f32 our x/alpha/x_hat):

* builds two .tflite flatbuffers with the *same* f32 weights — encoder
  [1,T] -FC+ReLU-> [1,H] -FC-> [1,K] and decoder [1,K] -FC+ReLU-> [1,H]
  -FC-> [1,T] — directly with the TFLite schema that the `tflite-micro`
  wheel ships (no TensorFlow needed; FULLY_CONNECTED, f32, fused ReLU);
* checks TFLM's outputs against ours (max abs difference);
* finds the smallest arena that works (binary search, 16-byte steps: the
  interpreter is built and invoked with each candidate size);
* times `interpreter.invoke()` in a Python loop: median over --reps
  repetitions, and subtracts the same loop's time on a trivial model (one
  1x1 FULLY_CONNECTED, [1,1] -> [1,1]), which measures the Python-binding
  and loop overhead per call (it also contains one tiny op dispatch, so the
  subtraction slightly favours TFLM).

Prints one JSON object (and writes it with --out).
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import flatbuffers
from tflite_micro.python.tflite_micro import runtime as tflm
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb


def fc_model(layers, in_dim, name):
    """layers: list of (W [out,in] f32, b [out] f32, relu: bool)."""
    buffers = [fb.BufferT()]  # buffer 0: the empty sentinel
    tensors = []

    def add_tensor(shape, data, tname):
        t = fb.TensorT()
        t.shape = np.array(shape, dtype=np.int32)
        t.type = fb.TensorType.FLOAT32
        t.name = tname.encode()
        if data is None:
            t.buffer = 0
        else:
            b = fb.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data, dtype="<f4").tobytes(), dtype=np.uint8)
            buffers.append(b)
            t.buffer = len(buffers) - 1
        tensors.append(t)
        return len(tensors) - 1

    x = add_tensor([1, in_dim], None, "x")
    first = x
    ops = []
    for i, (w, b, relu) in enumerate(layers):
        wi = add_tensor(list(w.shape), w, f"w{i}")
        bi = add_tensor([w.shape[0]], b, f"b{i}")
        yi = add_tensor([1, w.shape[0]], None, f"y{i}")
        op = fb.OperatorT()
        op.opcodeIndex = 0
        op.inputs = np.array([x, wi, bi], dtype=np.int32)
        op.outputs = np.array([yi], dtype=np.int32)
        op.builtinOptionsType = fb.BuiltinOptions.FullyConnectedOptions
        opt = fb.FullyConnectedOptionsT()
        opt.fusedActivationFunction = (
            fb.ActivationFunctionType.RELU if relu else fb.ActivationFunctionType.NONE
        )
        op.builtinOptions = opt
        ops.append(op)
        x = yi
    sg = fb.SubGraphT()
    sg.tensors = tensors
    sg.inputs = np.array([first], dtype=np.int32)
    sg.outputs = np.array([x], dtype=np.int32)
    sg.operators = ops
    sg.name = name.encode()
    oc = fb.OperatorCodeT()
    oc.builtinCode = fb.BuiltinOperator.FULLY_CONNECTED
    oc.deprecatedBuiltinCode = fb.BuiltinOperator.FULLY_CONNECTED
    oc.version = 1
    m = fb.ModelT()
    m.version = 3
    m.description = b"rrae-rs bench"
    m.operatorCodes = [oc]
    m.subgraphs = [sg]
    m.buffers = buffers
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def make_interp(model, arena):
    return tflm.Interpreter.from_bytes(model, arena_size=arena)


def works(model, arena, x):
    try:
        it = make_interp(model, arena)
        it.set_input(x, 0)
        it.invoke()
        it.get_output(0)
        return True
    except Exception:  # TFLM raises RuntimeError when the arena is too small
        return False


def smallest_arena(model, x):
    hi = 1 << 12
    while not works(model, hi, x):
        hi *= 2
        if hi > 1 << 26:
            raise RuntimeError("no arena up to 64 MiB works")
    lo = 0  # known failing (or zero)
    while hi - lo > 16:
        mid = (lo + hi) // 2 // 16 * 16
        if mid <= lo:
            break
        if works(model, mid, x):
            hi = mid
        else:
            lo = mid
    return hi


def time_invoke(it, seconds, reps):
    inv = it.invoke
    for _ in range(200):
        inv()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            inv()
        if time.perf_counter() - t0 > 0.02:
            break
        n *= 2
    per_call = (time.perf_counter() - t0) / n
    iters = max(10, int(seconds / reps / per_call))
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(iters):
            inv()
        out.append((time.perf_counter() - t0) * 1e9 / iters)
    return statistics.median(out), min(out), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True, help="directory written by latency.rs --out")
    ap.add_argument("--names", default="small,large")
    ap.add_argument("--seconds", type=float, default=2.0, help="time budget per timed model")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--out", default=None)
    ap.add_argument("--calls", nargs=3, metavar=("NAME", "OP", "N"),
                    help="build model NAME's OP model (encode|decode|reconstruct), invoke it N times, "
                         "exit: for valgrind --tool=callgrind --toggle-collect='*MicroInterpreter::Invoke*'")
    a = ap.parse_args()
    if a.calls:
        name, op, n = a.calls[0], a.calls[1], int(a.calls[2])
        models, inputs = build_models(a.models, name)
        it = make_interp(models[op], 1 << 16)
        it.set_input(inputs[op], 0)
        for _ in range(n):
            it.invoke()
        return

    import importlib.metadata as md
    result = {"side": "tflite-micro", "tflite_micro_version": md.version("tflite-micro"), "models": []}

    trivial = fc_model([(np.ones((1, 1), np.float32), np.zeros(1, np.float32), False)], 1, "trivial")
    x1 = np.ones((1, 1), np.float32)
    it = make_interp(trivial, 1 << 14)
    it.set_input(x1, 0)
    ov_med, ov_min, ov_all = time_invoke(it, a.seconds, a.reps)
    result["overhead_ns_median"] = ov_med
    result["overhead_ns_min"] = ov_min
    result["overhead_arena_bytes"] = smallest_arena(trivial, x1)

    for name in a.names.split(","):
        models, inputs, outs, (T, H, K) = build_models(a.models, name, full=True)
        enc, dec, full = models["encode"], models["decode"], models["reconstruct"]
        row = {"name": name, "input": T, "hidden": H, "k": K,
               "enc_tflite_bytes": len(enc), "dec_tflite_bytes": len(dec), "ae_tflite_bytes": len(full)}
        for tag in ("encode", "decode", "reconstruct"):
            model, inp, ours = models[tag], inputs[tag], outs[tag]
            arena = smallest_arena(model, inp)
            it = make_interp(model, arena)
            it.set_input(inp, 0)
            it.invoke()
            got = np.asarray(it.get_output(0)).reshape(-1)
            med, mn, allv = time_invoke(it, a.seconds, a.reps)
            row.update({
                f"{tag}_arena_bytes": arena,
                f"{tag}_max_abs_diff_vs_ours": float(np.max(np.abs(got - ours))),
                f"{tag}_ns_raw_median": med, f"{tag}_ns_raw_min": mn,
                f"{tag}_ns_median": med - ov_med, f"{tag}_ns_min": mn - ov_min,
                f"{tag}_ns_raw_all": allv,
            })
        for tag, model in (("enc", enc), ("dec", dec), ("ae", full)):
            with open(os.path.join(a.models, f"{name}-{tag}.tflite"), "wb") as fh:
                fh.write(model)
        result["models"].append(row)
    s = json.dumps(result, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(s + "\n")
    print(s)


def build_models(models_dir, name, full=False):
    """The encode / decode / reconstruct .tflite bytes for NAME, their inputs and our outputs."""
    d = json.load(open(os.path.join(models_dir, name + ".json")))
    T, H, K = d["input"], d["hidden"], d["k"]
    flat = np.fromfile(os.path.join(models_dir, name + ".f32"), dtype="<f4")
    shapes = [(H, T), (H,), (K, H), (K,), (H, K), (H,), (T, H), (T,)]
    parts, o = [], 0
    for s in shapes:
        n = int(np.prod(s))
        parts.append(flat[o:o + n].reshape(s))
        o += n
    assert o == flat.size, "weight blob size"
    io = np.fromfile(os.path.join(models_dir, name + ".io.f32"), dtype="<f4")
    x, alpha_ours, xh_ours = io[:T], io[T:T + K], io[T + K:]
    enc = fc_model([(parts[0], parts[1], True), (parts[2], parts[3], False)], T, name + "-enc")
    dec = fc_model([(parts[4], parts[5], True), (parts[6], parts[7], False)], K, name + "-dec")
    ae = fc_model([(parts[0], parts[1], True), (parts[2], parts[3], False),
                   (parts[4], parts[5], True), (parts[6], parts[7], False)], T, name + "-ae")
    models = {"encode": enc, "decode": dec, "reconstruct": ae}
    r = lambda v: v.reshape(1, -1).astype(np.float32)  # noqa: E731
    inputs = {"encode": r(x), "decode": r(alpha_ours), "reconstruct": r(x)}
    outs = {"encode": alpha_ours, "decode": xh_ours, "reconstruct": xh_ours}
    if full:
        return models, inputs, outs, (T, H, K)
    return models, inputs


if __name__ == "__main__":
    sys.exit(main())
