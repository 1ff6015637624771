#!/usr/bin/env python3
"""Small-data test bed (issue #17): real data sets cut into 30-200 training
samples with held-out test sets, trained with `trainer fit` at its defaults
for seeds 0-4, tabulated against the linear baseline the trainer prints.

    bench/small_data.sh                      # venv + data + runs + table
    python bench/small_data.py prepare DIR   # writes DIR/CASE/{train,test}.npy
    python bench/small_data.py run DIR TRAINER LABEL [--seeds 0 1 2 3 4] [--cases NAME ...] [--extra FIT FLAGS...]
    python bench/small_data.py table DIR LABEL [LABEL ...]

Cases (all real, none downloaded at run time):
- digits50 / digits200: scikit-learn's bundled 8 x 8 digits (BSD licence;
  1,797 images, flattened to 64 values), 50 or 200 training images, 300 test
  images, k = 4 / 8.
- fmnist100: Fashion-MNIST (Debian `dataset-fashion-mnist`, MIT licence),
  100 training images from the training file, 500 from the t10k file,
  784 values, k = 8. Skipped when the package is absent.
- elnino: statsmodels' El Nino sea-surface temperatures, one row per year
  (12 monthly values), 1950-1989 train (40), 1990-2010 test (21), k = 2.
- co2: statsmodels' Mauna Loa weekly CO2 (gaps linearly filled), windows of
  104 weeks every 8 weeks; windows inside the first 60 % of the record
  train (~160), windows inside the last 40 % test, k = 2.
- sunspots: statsmodels' yearly sunspot numbers 1700-2008, windows of 22
  years every year; windows inside the first 60 % train (~164), inside the
  last 40 % test, k = 3.

Every subset is a fixed function of the packaged data (seeded permutations),
so the files are identical on every machine.
"""

import argparse
import gzip
import json
import pathlib
import statistics
import subprocess
import sys
import time

FMNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
SEED = 0


def idx_images(path):
    import numpy as np

    with gzip.open(path, "rb") as f:
        raw = f.read()
    n, h, w = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(raw, np.uint8, offset=16).reshape(n, h * w).astype(np.float32) / 255.0


def windows(series, width, stride, train_share):
    """Windows of `width` values every `stride`; those ending inside the first
    `train_share` of the series train, those starting after it test."""
    import numpy as np

    cut = int(len(series) * train_share)
    starts = range(0, len(series) - width + 1, stride)
    train = [series[s:s + width] for s in starts if s + width <= cut]
    test = [series[s:s + width] for s in starts if s >= cut]
    return np.array(train, np.float32), np.array(test, np.float32)


def cases():
    """(name, k, train, test) of every case whose data are present."""
    import numpy as np
    from sklearn.datasets import load_digits
    import statsmodels.api as sm

    rng = np.random.default_rng(SEED)
    digits = (load_digits().data / 16.0).astype(np.float32)
    order = rng.permutation(len(digits))
    test = digits[order[:300]]
    yield "digits50", 4, digits[order[300:350]], test
    yield "digits200", 8, digits[order[300:500]], test

    if (FMNIST / "train-images-idx3-ubyte.gz").exists():
        tr = idx_images(FMNIST / "train-images-idx3-ubyte.gz")
        te = idx_images(FMNIST / "t10k-images-idx3-ubyte.gz")
        yield ("fmnist100", 8, tr[rng.permutation(len(tr))[:100]],
               te[rng.permutation(len(te))[:500]])
    else:
        print(f"fmnist100: skipped ({FMNIST} absent; scripts/get-fashion-mnist.sh)",
              file=sys.stderr)

    el = sm.datasets.elnino.load_pandas().data
    years = el["YEAR"].to_numpy()
    temps = el.drop(columns="YEAR").to_numpy(np.float32)
    yield "elnino", 2, temps[years < 1990], temps[years >= 1990]

    co2 = sm.datasets.co2.load_pandas().data["co2"].interpolate().bfill().to_numpy(np.float32)
    yield ("co2", 2, *windows(co2, 104, 8, 0.6))

    spots = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(np.float32)
    yield ("sunspots", 3, *windows(spots, 22, 1, 0.6))


def prepare(out):
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    index = {}
    for name, k, train, test in cases():
        d = out / name
        d.mkdir(exist_ok=True)
        np.save(d / "train.npy", train)
        np.save(d / "test.npy", test)
        index[name] = {"k": k, "n_train": len(train), "n_test": len(test),
                       "dim": int(train.shape[1])}
        print(f"{name}: {len(train)} train, {len(test)} test, {train.shape[1]} values, k = {k}")
    (out / "cases.json").write_text(json.dumps(index, indent=1))


def run(out, trainer, label, seeds, extra, only=None):
    index = json.loads((out / "cases.json").read_text())
    results = []
    for name, c in index.items():
        if only and name not in only:
            continue
        for seed in seeds:
            run_dir = out / "runs" / label / f"{name}-s{seed}"
            cmd = [trainer, "fit", "--data", str(out / name / "train.npy"),
                   "--test", str(out / name / "test.npy"), "--k", str(c["k"]),
                   "--seed", str(seed), "--out", str(run_dir), "--quiet", *extra]
            t0 = time.time()
            subprocess.run(cmd, check=True)
            m = json.loads((run_dir / "metrics.json").read_text())
            row = {"case": name, "seed": seed, "test": m["test_rel_error"],
                   "train": m["train_rel_error"],
                   "linear": m["linear_baseline_test_rel_error"],
                   "kind": m.get("model_kind", "rrae"),
                   "rrae_test": m.get("rrae_test_rel_error", m["test_rel_error"]),
                   "seconds": round(time.time() - t0, 1)}
            results.append(row)
            print(json.dumps(row), flush=True)
    (out / f"results-{label}.json").write_text(json.dumps(results, indent=1))


def table(out, labels):
    index = json.loads((out / "cases.json").read_text())
    res = {lb: json.loads((out / f"results-{lb}.json").read_text()) for lb in labels}
    head = "| case (n train, k) | linear % |"
    rule = "|---|---|"
    for lb in labels:
        head += f" {lb}: test % seeds 0-4 | {lb}: median / spread | {lb}: ≤ linear |"
        rule += "---|---|---|"
    print(head)
    print(rule)
    for name, c in index.items():
        line = None
        for lb in labels:
            rows = [r for r in res[lb] if r["case"] == name]
            if not rows:
                continue
            lin = rows[0]["linear"]
            line = line or f"| {name} ({c['n_train']}, {c['k']}) | {lin:.2f} |"
            tests = [r["test"] for r in rows]
            med = statistics.median(tests)
            spread = max(tests) - min(tests)
            kinds = "".join("L" if r["kind"] == "linear" else "" for r in rows)
            cells = " / ".join(f"{t:.1f}" for t in tests)
            line += (f" {cells}{' (' + kinds + ')' if kinds else ''} | {med:.2f} / "
                     f"{spread:.2f} ({spread / med:.2f}x) | {sum(t <= lin for t in tests)}/{len(tests)} |")
        print(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("dir", type=pathlib.Path)
    r = sub.add_parser("run")
    r.add_argument("dir", type=pathlib.Path)
    r.add_argument("trainer")
    r.add_argument("label")
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    r.add_argument("--cases", nargs="+", help="run only these cases")
    r.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                   help="extra `trainer fit` flags (everything after it)")
    t = sub.add_parser("table")
    t.add_argument("dir", type=pathlib.Path)
    t.add_argument("labels", nargs="+")
    a = ap.parse_args()
    if a.cmd == "prepare":
        prepare(a.dir)
    elif a.cmd == "run":
        run(a.dir, a.trainer, a.label, a.seeds, a.extra, a.cases)
    else:
        table(a.dir, a.labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
