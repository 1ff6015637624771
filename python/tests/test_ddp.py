"""examples/ddp/train.py under torchrun: 2 processes (gloo, CPU) train an
RR_layer RRAE with DistributedDataParallel; every rank ends with the same
basis, the exported file equals the single-process computation of the basis
from the same final weights, and its test error is within 10 % of a
1-process run with the same steps and global batch."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rrae

torch = pytest.importorskip("torch")
pytest.importorskip("RR_layer")

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "ddp" / "train.py"
ARGS = ["--steps", "1000", "--batch", "64", "--seed", "0"]


def example():
    spec = importlib.util.spec_from_file_location("ddp_train", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def torchrun(nproc, out):
    # One thread per process, as torchrun sets for nproc > 1: the model is
    # tiny and this machine is shared.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           str(nproc), str(SCRIPT), "--out", str(out), "--backend", "gloo", *ARGS]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("ddp")
    return {n: (torchrun(n, base / f"w{n}"), base / f"w{n}") for n in (2, 1)}


def test_two_processes_one_basis(runs):
    m, out = runs[2]
    assert (m["world_size"], m["backend"], m["bases_equal"]) == (2, "gloo", True)
    assert m["runtime_vs_torch"] <= 1e-5
    assert rrae.load(out / "model.rrae").rank == 2


def test_file_equals_single_process_basis(runs):
    """The exported model against a basis computed in one process (SVD of
    the latents of the whole training set) from the final weights."""
    ex = example()
    _, out = runs[2]
    net = ex.build(64, 64, 16, 2)
    state = torch.load(out / "state.pt")
    net[5].inference_basis = torch.empty_like(state["5.inference_basis"])
    net.load_state_dict(state)
    net.eval()
    encoder, _, decoder = ex.split(net)
    train, test = ex.shifted_sines(1024, 64, 0), ex.shifted_sines(256, 64, 1)
    with torch.no_grad():
        y = encoder(torch.from_numpy(train)).to(torch.float64)
    u = torch.linalg.svd(y.T, full_matrices=False)[0][:, :2]
    b = state["5.inference_basis"].to(torch.float64)
    assert float(torch.linalg.norm(u @ u.T - b @ b.T)) <= 1e-5
    single = rrae.export.from_torch(encoder, decoder, u.float(), fold=True)
    ddp = rrae.load(out / "model.rrae")
    x1, x2 = single.reconstruct(test), ddp.reconstruct(test)
    assert np.linalg.norm(x1 - x2) / np.linalg.norm(x1) <= 1e-5


def test_test_error_within_ten_percent_of_one_process(runs):
    two, one = runs[2][0]["test_rel_error"], runs[1][0]["test_rel_error"]
    assert abs(two - one) <= 0.10 * one, (two, one)
