"""rrae.fit against `trainer fit` on the same data and options: wall time of
each (the CLI as a subprocess, rrae.fit in-process, including the .npy
write) and whether both give the same model.

    $(python/setup-venv.sh | tail -1)/bin/python python/bench_fit.py [--steps 1500]

Needs target/release/trainer (cargo build --release -p rrae-trainer).
"""

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import rrae

TRAINER = Path(__file__).resolve().parents[1] / "target" / "release" / "trainer"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--reps", type=int, default=2)
    steps = ap.parse_args().steps
    t = np.linspace(0, 1, 64)
    s = np.linspace(0, 0.5, 400)[:, None]
    x = (np.sin(2 * np.pi * (t - s)) + 0.5 * np.cos(4 * np.pi * (t + s))).astype(np.float32)
    d = Path(tempfile.mkdtemp(prefix="rrae-bench-fit-"))
    np.save(d / "x.npy", x)
    opts = ["--k", "2", "--steps", str(steps), "--seed", "0", "--test-fraction", "0.2"]
    for rep in range(ap.parse_args().reps):
        t0 = time.perf_counter()
        subprocess.run([str(TRAINER), "fit", "--data", str(d / "x.npy"), *opts, "--out", str(d / "cli"),
                        "--quiet"], check=True)
        cli = time.perf_counter() - t0
        t0 = time.perf_counter()
        m, metrics = rrae.fit(x, k=2, steps=steps, seed=0, test_fraction=0.2, quiet=True)
        ours = time.perf_counter() - t0
        same = np.array_equal(m.encode(x), rrae.load(d / "cli" / "model.rrae").encode(x))
        print(f"400 x 64, k=2, {steps} steps: trainer fit {cli:.2f} s, rrae.fit {ours:.2f} s "
              f"(ratio {ours / cli:.3f}), same model: {same}, test error {metrics['test_rel_error']:.3f} %")


if __name__ == "__main__":
    main()
