"""The package against the `trainer` CLI on one model made by
`trainer fit --steps 200`: eval's error, interpolate's path, and rrae.fit
giving the same model as the CLI. Needs RRAE_TRAINER (run-tests.sh sets
it to target/release/trainer)."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import rrae

TRAINER = os.environ.get("RRAE_TRAINER", "")
pytestmark = pytest.mark.skipif(not Path(TRAINER).is_file(), reason="RRAE_TRAINER not built")

FIT = ["--k", "2", "--steps", "200", "--seed", "0", "--test-fraction", "0.2"]


def trainer(*args):
    return subprocess.run([TRAINER, *map(str, args)], check=True, capture_output=True, text=True)


def shifted_sines(n=120, d=32):
    t = np.linspace(0, 1, d)
    s = np.linspace(0, 0.5, n)[:, None]
    return (np.sin(2 * np.pi * (t - s)) + 0.5 * np.cos(4 * np.pi * (t + s))).astype(np.float32)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    x = shifted_sines()
    np.save(d / "data.npy", x)
    trainer("fit", "--data", d / "data.npy", *FIT, "--out", d / "run", "--quiet")
    return d, x


def test_eval_matches_reconstruct(cli_run):
    d, x = cli_run
    out = json.loads(trainer("eval", "--model", d / "run" / "model.rrae", "--data", d / "data.npy",
                             "--json").stdout)
    m = rrae.load(d / "run" / "model.rrae")
    # Row by row: the runtime, as `trainer eval` runs it (a batch takes the
    # host path, whose parity with the runtime test_host.py checks).
    rows = np.stack([m.reconstruct(row) for row in x])
    err = 100 * np.linalg.norm(rows.astype(np.float64) - x) / np.linalg.norm(x)
    assert err == pytest.approx(out["test_rel_error"], rel=1e-6)
    batched = 100 * np.linalg.norm(m.reconstruct(x).astype(np.float64) - x) / np.linalg.norm(x)
    assert batched == pytest.approx(err, rel=1e-5)


def test_interpolate_matches_cli(cli_run):
    d, x = cli_run
    trainer("interpolate", "--model", d / "run" / "model.rrae", "--data", d / "data.npy",
            "--from", 3, "--to", 40, "--steps", 5, "--out", d / "path.npy")
    m = rrae.load(d / "run" / "model.rrae")
    a, b = m.encode(x[3]), m.encode(x[40])
    ours = m.decode(m.interpolate(a, b, np.linspace(0, 1, 5).astype(np.float32)))
    np.testing.assert_allclose(ours, np.load(d / "path.npy"), rtol=1e-5, atol=1e-6)


def test_fit_gives_the_cli_model(cli_run):
    d, x = cli_run
    model, metrics = rrae.fit(x, k=2, steps=200, seed=0, test_fraction=0.2, quiet=True)
    cli = rrae.load(d / "run" / "model.rrae")
    assert metrics["k"] == 2 and metrics["steps"] == 200
    assert set(metrics) >= {"train_rel_error", "test_rel_error", "linear_baseline_test_rel_error"}
    np.testing.assert_array_equal(model.encode(x), cli.encode(x))


def test_fit_errors_are_the_clis(cli_run):
    _, x = cli_run
    bad = x.copy()
    bad[7, 3] = np.nan
    with pytest.raises(ValueError, match="data: non-finite value NaN at row 7, column 3"):
        rrae.fit(bad, steps=10, quiet=True)
    with pytest.raises(ValueError, match="unexpected argument '--no-such-option'"):
        rrae.fit(x, steps=10, no_such_option=3, quiet=True)
    with pytest.raises(ValueError, match="data has dtype int64, expected float32"):
        rrae.fit(np.zeros((10, 4), np.int64), quiet=True)


def test_fit_with_test_array_and_summary(cli_run, capsys):
    _, x = cli_run
    model, metrics = rrae.fit(x[:100], k=2, test=x[100:], steps=20, normalize="per-feature")
    assert (metrics["n_train"], metrics["n_test"], model.input_dim) == (100, 20, 32)
    out = capsys.readouterr().out
    assert out.startswith("data: k=2 train ") and "20 steps" in out
