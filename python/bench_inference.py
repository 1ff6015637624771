"""Batch inference: rrae Model.reconstruct / encode (the Rust runtime, one
row at a time) against PyTorch's eval forward on the same weights, both
single-threaded, side by side in one run.

    $(python/setup-venv.sh | tail -1)/bin/python python/bench_inference.py [--rows 10000]

Prints one line per model: the two sides run alternately (9 pairs after a
warm-up), and each figure is the median of its 9 times; the ratio is the
median of the 9 per-pair ratios, which load from other jobs disturbs less.
Both sides run on the calling thread, so its CPU time (`time.thread_time`)
is printed too: on a loaded machine it is the steadier measure of the work.
"""

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import rrae  # noqa: E402

torch.set_num_threads(1)
nn = torch.nn


def timed(f):
    """(wall, thread CPU) seconds of one call."""
    w, c = time.perf_counter(), time.thread_time()
    f()
    return time.perf_counter() - w, time.thread_time() - c


def paired_times(ours, theirs, reps=9):
    """Median wall time of each side, the median wall ratio and the median
    CPU-time ratio, over alternating runs."""
    ours(), theirs()  # warm-up
    a = np.array([timed(ours) + timed(theirs) for _ in range(reps)])
    return (float(np.median(a[:, 0])), float(np.median(a[:, 2])),
            float(np.median(a[:, 0] / a[:, 2])), float(np.median(a[:, 1] / a[:, 3])))


def mlp():
    enc = nn.Sequential(nn.Linear(64, 128), nn.Tanh(), nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, 4))
    dec = nn.Sequential(nn.Linear(4, 128), nn.Tanh(), nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, 64))
    return "MLP 64-128-128-4", enc, dec, None, (64,)


def cnn():
    enc = nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(16 * 7 * 7, 8))
    dec = nn.Sequential(nn.Linear(8, 16 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (16, 7, 7)),
                        nn.ConvTranspose2d(16, 8, 3, 2, 1, output_padding=1), nn.ReLU(),
                        nn.ConvTranspose2d(8, 1, 3, 2, 1, output_padding=1))
    return "CNN 1x28x28 (2 conv + 2 convT)", enc, dec, (1, 28, 28), (1, 28, 28)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10000)
    rows = ap.parse_args().rows
    torch.manual_seed(0)
    for name, enc, dec, shape, tshape in (mlp(), cnn()):
        enc.eval(), dec.eval()
        m = rrae.export.from_torch(enc, dec, input_shape=shape)
        x = torch.randn(rows, *tshape)
        flat = x.reshape(rows, -1).numpy()
        with torch.no_grad():
            ref = dec(enc(x)).reshape(rows, -1).numpy()
            rec = paired_times(lambda: m.reconstruct(flat), lambda: dec(enc(x)))
            code = paired_times(lambda: m.encode(flat), lambda: enc(x))
        err = np.linalg.norm(m.reconstruct(flat) - ref) / np.linalg.norm(ref)
        print(f"{name}, {rows} rows: reconstruct rrae {rec[0] * 1e3:.1f} ms, torch {rec[1] * 1e3:.1f} ms "
              f"(ratio {rec[2]:.2f}, CPU {rec[3]:.2f}); encode rrae {code[0] * 1e3:.1f} ms, torch "
              f"{code[1] * 1e3:.1f} ms (ratio {code[2]:.2f}, CPU {code[3]:.2f}); rel. diff {err:.1e}")


if __name__ == "__main__":
    main()
