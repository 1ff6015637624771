"""Batch inference: rrae Model.reconstruct / encode (the Rust runtime, one
row at a time) against PyTorch's eval forward on the same weights, both
single-threaded, side by side in one run.

    $(python/setup-venv.sh | tail -1)/bin/python python/bench_inference.py [--rows 10000]

Prints one line per model with the median of 5 timed runs of each side.
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


def median_time(f, reps=5):
    f()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


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
            t_torch = median_time(lambda: dec(enc(x)))
            t_torch_enc = median_time(lambda: enc(x))
        t_ours = median_time(lambda: m.reconstruct(flat))
        t_ours_enc = median_time(lambda: m.encode(flat))
        err = np.linalg.norm(m.reconstruct(flat) - ref) / np.linalg.norm(ref)
        print(f"{name}, {rows} rows: reconstruct rrae {t_ours * 1e3:.1f} ms, torch {t_torch * 1e3:.1f} ms "
              f"(ratio {t_ours / t_torch:.2f}); encode rrae {t_ours_enc * 1e3:.1f} ms, torch "
              f"{t_torch_enc * 1e3:.1f} ms (ratio {t_ours_enc / t_torch_enc:.2f}); rel. diff {err:.1e}")


if __name__ == "__main__":
    main()
