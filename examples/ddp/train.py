"""Trains an RRAE with PyTorch DistributedDataParallel and exports it to a
checked ``.rrae`` file.

The model is an MLP encoder, RR_layer's ``RRLayer`` (the truncated SVD of
each batch's latents, rank ``k``) and an MLP decoder. Launch it with
torchrun, on one machine or many::

    torchrun --standalone --nproc_per_node 2 examples/ddp/train.py --out runs/ddp
    torchrun --nnodes 4 --nproc_per_node 8 --rdzv-backend c10d \\
        --rdzv-endpoint HOST:29500 --rdzv-id rrae1 examples/ddp/train.py --out runs/ddp

The backend is nccl when CUDA is available (one GPU per process, by
``LOCAL_RANK``) and gloo on CPU, or ``--backend``. Every rank builds the same
data (``--data``/``--test`` ``.npy`` files, or the built-in shifted sines)
and trains on its own shard; ``--batch`` is the global batch, split across
the ranks, so runs with the same ``--steps`` see as many samples whatever
the number of processes.

The basis. During training each rank's ``RRLayer`` takes the SVD of its
own batch, so the ranks' bases differ. After training every rank encodes its
shard, the latent Gram matrices ``sum Y_r^T Y_r`` (``latent x latent``, in
float64) are summed with one all-reduce, rank 0 takes the leading ``k``
eigenvectors (the left singular vectors of the latents of the whole
training set, as a single process computes them) and broadcasts them; every
rank sets that basis as ``inference_basis``. The script then all-gathers
the bases and fails unless they are bit-identical. Rank 0 exports with
``rrae.export.from_rr_layer``, checks the file with the runtime against
torch's eval forward (<= 1e-5 relative) and writes ``model.rrae``,
``state.pt`` (the ``state_dict``, basis included) and ``metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP


def shifted_sines(n: int, dim: int, seed: int) -> np.ndarray:
    """``n`` samples of ``a sin(2 pi (t - s))`` on ``dim`` points (random
    shift and amplitude): a rank-2 family."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, dim)
    amp = 0.5 + rng.random((n, 1))
    return (amp * np.sin(2 * np.pi * (t[None, :] - rng.random((n, 1))))).astype(np.float32)


def build(dim: int, width: int, latent: int, k: int) -> nn.Sequential:
    """Encoder, RRLayer, decoder (what ``rrae.export.from_rr_layer`` takes)."""
    from RR_layer import RRLayer

    return nn.Sequential(
        nn.Linear(dim, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, latent),
        RRLayer(rank=k),
        nn.Linear(latent, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, dim),
    )


def split(net: nn.Sequential) -> tuple[nn.Sequential, nn.Module, nn.Sequential]:
    """(encoder, RRLayer, decoder) of ``build``'s model."""
    i = next(j for j, m in enumerate(net) if type(m).__name__ == "RRLayer")
    return net[:i], net[i], net[i + 1:]


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative Frobenius error in %."""
    return float(100 * torch.linalg.norm(a - b) / torch.linalg.norm(b))


def global_basis(encoder: nn.Module, shard: torch.Tensor, k: int) -> torch.Tensor:
    """``U_k`` of the latents of the whole training set, the same on every
    rank (all-reduced Gram matrix, eigenvectors on rank 0, broadcast)."""
    with torch.no_grad():
        y = encoder(shard).to(torch.float64)
    gram = y.T @ y
    dist.all_reduce(gram, op=dist.ReduceOp.SUM)
    u = torch.empty(gram.shape[0], k, dtype=torch.float32, device=gram.device)
    if dist.get_rank() == 0:
        vals, vecs = torch.linalg.eigh(gram.cpu())
        u.copy_(vecs[:, torch.argsort(vals, descending=True)[:k]].to(torch.float32))
    dist.broadcast(u, src=0)
    return u


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="output directory (rank 0 writes it)")
    p.add_argument("--data", type=Path, help="training .npy (N x D); default: built-in shifted sines")
    p.add_argument("--test", type=Path, help="test .npy (M x D); default: built-in shifted sines")
    p.add_argument("--n-train", type=int, default=1024)
    p.add_argument("--n-test", type=int, default=256)
    p.add_argument("--dim", type=int, default=64, help="sample width of the built-in data")
    p.add_argument("--k", type=int, default=2, help="rank of the RRLayer")
    p.add_argument("--latent", type=int, default=16)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=64, help="global batch (split across ranks)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=["auto", "gloo", "nccl"], default="auto")
    a = p.parse_args()

    backend = a.backend if a.backend != "auto" else (
        "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo")
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    if backend == "nccl":
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if a.batch % world != 0:
        raise SystemExit(f"--batch {a.batch} is not a multiple of the {world} processes")
    torch.manual_seed(a.seed)  # same initial weights everywhere (DDP also broadcasts rank 0's)

    train = np.load(a.data).astype(np.float32) if a.data else shifted_sines(a.n_train, a.dim, a.seed)
    test = np.load(a.test).astype(np.float32) if a.test else shifted_sines(a.n_test, train.shape[1],
                                                                          a.seed + 1)
    shard = torch.from_numpy(train[rank::world]).to(device)
    net = build(train.shape[1], a.width, a.latent, a.k).to(device)
    model = DDP(net, device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    gen = torch.Generator().manual_seed(a.seed * 1000 + rank)
    local_batch = a.batch // world

    t0 = time.perf_counter()
    model.train()
    for step in range(a.steps):
        idx = torch.randint(0, shard.shape[0], (local_batch,), generator=gen).to(device)
        x = shard[idx]
        loss = ((model(x) - x) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()  # DDP averages the gradients over the ranks
        opt.step()
        if rank == 0 and (step % max(1, a.steps // 5) == 0 or step == a.steps - 1):
            print(f"step {step}: loss {loss.item():.3e} (rank 0's batch)", flush=True)
    train_seconds = time.perf_counter() - t0

    encoder, rr, decoder = split(net)
    rr.inference_basis = global_basis(encoder, shard, a.k)
    model.eval()  # the basis is set, so RRLayer does not build one from its local history
    bases = [torch.empty_like(rr.inference_basis) for _ in range(world)]
    dist.all_gather(bases, rr.inference_basis)
    bases_equal = all(torch.equal(b, bases[0]) for b in bases)
    if not bases_equal:
        raise SystemExit(f"rank {rank}: the ranks' bases differ")

    if rank == 0:
        import rrae

        a.out.mkdir(parents=True, exist_ok=True)
        net_cpu = net.to("cpu")
        xt = torch.from_numpy(test)
        with torch.no_grad():
            ref = net_cpu(xt)
        m = rrae.export.from_rr_layer(net_cpu, path=a.out / "model.rrae", name="ddp-rrlayer")
        x_hat = torch.from_numpy(rrae.load(a.out / "model.rrae").reconstruct(test))
        runtime_vs_torch = rel_error(x_hat, ref) / 100
        if not runtime_vs_torch <= 1e-5:
            raise SystemExit(f"runtime differs from torch's eval forward by {runtime_vs_torch:.2e}")
        torch.save(net_cpu.state_dict(), a.out / "state.pt")
        metrics = {
            "world_size": world, "backend": backend, "steps": a.steps, "batch": a.batch,
            "k": a.k, "rank_of_file": m.rank, "test_rel_error": rel_error(x_hat, xt),
            "runtime_vs_torch": runtime_vs_torch, "bases_equal": bases_equal,
            "train_seconds": train_seconds,
        }
        (a.out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
        print(json.dumps(metrics), flush=True)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
