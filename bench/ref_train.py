#!/usr/bin/env python3
"""Train the authors' reference RRAE (`rraes` 0.1.0, JAX/equinox) and time it.

Two modes, both printing one JSON object (and writing it with --out):

* ``fit``  – a whole run through the reference's own ``RRAE_Trainor_class``
  (its data loader, its jitted step, its basis), then the test error through
  the global basis, computed here as 100·‖X − X̂‖_F/‖X‖_F over the whole set.
  ``--variant shipped`` reproduces the reference's learning-rate bug (its
  jitted step closes over the first stage's optimizer, so every stage runs at
  lr = 1e-3; only the moments reset). ``--variant lrfix`` passes
  ``optax.inject_hyperparams(optax.adabelief)`` so the rate lives in the
  optimizer *state*, which the reference re-creates per stage: the stages then
  really apply 1e-3 → 1e-4 → 1e-5 (no change to the reference's code).
* ``step`` – the reference's compiled training step alone (same loss
  function, same AdaBelief, same model), on a fixed batch, timed after
  warm-up: median over ``--reps`` repetitions of ``--iters`` steps, with
  ``block_until_ready`` after each repetition.

Single-threaded settings are the caller's job (``bench/run`` sets
OPENBLAS_NUM_THREADS=1 and XLA_FLAGS before Python starts).
"""

import argparse
import json
import os
import statistics
import sys
import time

T_PROCESS0 = time.perf_counter()  # before jax is imported


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["fit", "step", "data"])
    ap.add_argument("--dataset", default="shift")
    ap.add_argument("--steps", type=int, default=3000, help="total steps (fit)")
    ap.add_argument("--lrs", default="1e-3,1e-4,1e-5")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--k", type=int, default=1)
    ap.add_argument("--latent", type=int, default=200)
    ap.add_argument("--width", type=int, default=300)
    ap.add_argument("--enc-depth", type=int, default=1)
    ap.add_argument("--dec-depth", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--activation", choices=["relu", "softplus"], default="relu",
                    help="hidden activation (the library's examples: relu; the paper's synthetic runs: softplus)")
    ap.add_argument("--variant", choices=["shipped", "lrfix"], default="shipped")
    ap.add_argument("--inputs", choices=["numpy", "jax"], default="numpy",
                    help="array type handed to Trainor.fit: its data loader indexes it sample by "
                         "sample, which costs ~60 ms per batch on jax arrays, little on numpy")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--out", default=None)
    ap.add_argument("--workdir", default="/tmp/rrae-bench-ref")
    return ap.parse_args()


def multilinear(p_train, coeffs, p_query):
    """Multilinear interpolation of ``coeffs`` (one row per training sample)
    over the tensor grid of ``p_train`` (n x d; repeated grid points are
    averaged), at the rows of ``p_query``: the same rule as our
    ``trainer/src/interp.rs`` (the 2^d corners of the enclosing cell, each
    weighted by the volume of the sub-box opposite to it)."""
    import numpy as np
    p_train = p_train.reshape(len(p_train), -1)
    p_query = p_query.reshape(len(p_query), -1)
    axes = [np.unique(p_train[:, j]) for j in range(p_train.shape[1])]
    idx = tuple(np.searchsorted(ax, p_train[:, j]) for j, ax in enumerate(axes))
    shape = tuple(len(ax) for ax in axes)
    table = np.zeros(shape + (coeffs.shape[1],))
    count = np.zeros(shape)
    np.add.at(table, idx, coeffs)
    np.add.at(count, idx, 1)
    if (count == 0).any():
        raise SystemExit("the training parameters are not a full grid")
    table /= count[..., None]
    out = np.zeros((len(p_query), coeffs.shape[1]))
    for q, p in enumerate(p_query):
        lo, frac = [], []
        for j, ax in enumerate(axes):
            i = int(np.clip(np.searchsorted(ax, p[j]) - 1, 0, len(ax) - 2))
            lo.append(i)
            frac.append((p[j] - ax[i]) / (ax[i + 1] - ax[i]))
        for corner in range(2 ** len(axes)):
            w, at = 1.0, []
            for j in range(len(axes)):
                up = (corner >> j) & 1
                w *= frac[j] if up else 1 - frac[j]
                at.append(lo[j] + up)
            out[q] += w * table[tuple(at)]
    return out


def main():
    a = parse()
    import numpy as np
    import jax
    import jax.numpy as jnp
    import jax.random as jr
    import equinox as eqx
    import optax
    import RRAEs.config  # noqa: F401  (registers the autoencoder base)
    from RRAEs.AE_classes import RRAE_MLP
    from RRAEs.training_classes import RRAE_Trainor_class
    from RRAEs.utilities import get_data, loss_generator

    x_train, x_test, p_train, p_test, y_train, y_test, pre_in, pre_out, _ = get_data(a.dataset)
    T, n_train = x_train.shape
    if a.mode == "data":
        os.makedirs(a.workdir, exist_ok=True)
        np.save(os.path.join(a.workdir, f"{a.dataset}_train.npy"), np.asarray(x_train).T)
        np.save(os.path.join(a.workdir, f"{a.dataset}_test.npy"), np.asarray(x_test).T)
        print(json.dumps({"train": list(x_train.T.shape), "test": list(x_test.T.shape)}))
        return
    batch = min(a.batch, n_train)
    lrs = [float(v) for v in a.lrs.split(",")]
    nst = len(lrs)
    steps_st = [a.steps // nst + (1 if i < a.steps % nst else 0) for i in range(nst)]

    act = {"relu": jax.nn.relu, "softplus": jax.nn.softplus}[a.activation]
    t_build = time.perf_counter()
    trainor = RRAE_Trainor_class(
        x_train, RRAE_MLP, in_size=T, latent_size=a.latent, k_max=a.k,
        folder=os.path.join(a.workdir, f"{a.dataset}-{a.seed}-{a.variant}"), file="model.pkl",
        norm_in="None", norm_out="None", out_train=x_train,
        kwargs_enc={"width_size": a.width, "depth": a.enc_depth, "activation": act},
        kwargs_dec={"width_size": a.width, "depth": a.dec_depth, "activation": act},
        key=jr.PRNGKey(a.seed),
    )
    t_build = time.perf_counter() - t_build
    n_params = sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(trainor.model, eqx.is_inexact_array)))

    result = {
        "side": "reference", "package": "rraes 0.1.0", "jax": jax.__version__,
        "dataset": a.dataset, "T": int(T), "n_train": int(n_train), "n_test": int(x_test.shape[1]),
        "batch": batch, "k": a.k, "latent": a.latent, "width": a.width,
        "enc_depth": a.enc_depth, "dec_depth": a.dec_depth, "activation": a.activation,
        "params": int(n_params),
        "seed": a.seed, "variant": a.variant,
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "xla_flags": os.environ.get("XLA_FLAGS"),
    }

    if a.mode == "step":
        loss_fun = loss_generator("RRAE")
        model = trainor.model
        optim = optax.adabelief(lrs[0])
        diff_model = eqx.filter(model, eqx.is_inexact_array)
        opt_state = optim.init(diff_model)

        @eqx.filter_jit
        def make_step(model, inp, out, opt_state):
            # Same body as the reference's make_step (filter_spec = all True).
            diff_model, static_model = eqx.partition(model, eqx.is_inexact_array)
            (loss, aux), grads = loss_fun(diff_model, static_model, inp, out, idx=None, epsilon=None, k_max=a.k)
            updates, opt_state = optim.update(grads, opt_state)
            diff_model = eqx.apply_updates(diff_model, updates)
            return loss, eqx.combine(diff_model, static_model), opt_state

        xb = x_train[:, :batch]
        t0 = time.perf_counter()
        loss, model, opt_state = make_step(model, xb, xb, opt_state)
        jax.block_until_ready(loss)
        compile_s = time.perf_counter() - t0
        for _ in range(20):
            loss, model, opt_state = make_step(model, xb, xb, opt_state)
        jax.block_until_ready(loss)
        per_step, per_step_cpu = [], []
        for _ in range(a.reps):
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(a.iters):
                loss, model, opt_state = make_step(model, xb, xb, opt_state)
            jax.block_until_ready(loss)
            per_step.append((time.perf_counter() - t0) / a.iters)
            per_step_cpu.append((time.process_time() - c0) / a.iters)
        result.update({
            "mode": "step", "compile_seconds": compile_s, "iters": a.iters, "reps": a.reps,
            "step_seconds_all": per_step, "step_seconds_median": statistics.median(per_step),
            "step_cpu_seconds_median": statistics.median(per_step_cpu),
        })
    else:
        if a.variant == "lrfix":
            optimizer = lambda lr: optax.inject_hyperparams(optax.adabelief)(learning_rate=lr)  # noqa: E731
        else:
            optimizer = optax.adabelief
        # Time stamps of every batch the reference's loop asks for: the
        # difference between consecutive ones is one whole loop iteration
        # (data loader + jitted step + loss.item() + tracker).
        tc = sys.modules["RRAEs.training_classes.training_classes"]
        stamps = []
        orig_loader = tc.dataloader

        def stamped_loader(*args, **kw):
            for item in orig_loader(*args, **kw):
                stamps.append(time.perf_counter())
                yield item

        tc.dataloader = stamped_loader
        t0, c0 = time.perf_counter(), time.process_time()
        fit_in = (np.asarray(x_train), np.asarray(y_train)) if a.inputs == "numpy" else (x_train, y_train)
        trainor.fit(
            *fit_in, training_key=jr.PRNGKey(a.seed + 1000),
            training_kwargs={
                "step_st": steps_st, "lr_st": lrs, "batch_size_st": [batch] * nst,
                "loss_type": "RRAE", "verbose": False, "optimizer": optimizer,
            },
            ft_kwargs={"step_st": [0], "batch_size_st": [batch]},
        )
        fit_s = time.perf_counter() - t0
        fit_cpu = time.process_time() - c0
        tc.dataloader = orig_loader
        # Steady state: drop each stage's first 5 iterations (compilation).
        diffs, i = [], 0
        for n in steps_st:
            seg = stamps[i:i + n + 1]
            diffs += [b - c for c, b in zip(seg[5:], seg[6:])]
            i += n + 1
        basis = trainor.basis
        model = trainor.model

        def rel(x):
            xh = model(x, apply_basis=basis)
            return float(100 * jnp.linalg.norm(x - xh) / jnp.linalg.norm(x))

        def rel_interp():
            # The paper's test error: coefficients of the test parameters
            # interpolated (multilinear) from the training ones, decoded.
            _, a_train = model.latent(x_train, apply_basis=basis, get_basis_coeffs=True)
            alpha = multilinear(np.asarray(p_train), np.asarray(a_train).T, np.asarray(p_test))
            xh = model.decode(basis @ jnp.asarray(alpha.T))
            return float(100 * jnp.linalg.norm(x_test - xh) / jnp.linalg.norm(x_test))

        t1 = time.perf_counter()
        e_train, e_test = rel(x_train), rel(x_test)
        e_interp = rel_interp() if p_train is not None and p_test is not None else None
        eval_s = time.perf_counter() - t1
        result.update({
            "mode": "fit", "inputs": a.inputs, "steps": sum(steps_st), "steps_per_stage": steps_st, "lrs": lrs,
            "lr_really_applied": a.variant == "lrfix",
            "fit_seconds": fit_s, "fit_cpu_seconds": fit_cpu, "eval_seconds": eval_s,
            "build_seconds": t_build,
            "wall_seconds": t_build + fit_s + eval_s,
            "process_seconds": time.perf_counter() - T_PROCESS0,
            "seconds_per_step": fit_s / sum(steps_st),
            "loop_seconds_per_step_median": statistics.median(diffs) if diffs else None,
            "loop_seconds_per_step_mean": statistics.mean(diffs) if diffs else None,
            "train_rel_error": e_train, "test_rel_error": e_test, "test_interp_rel_error": e_interp,
        })
    s = json.dumps(result, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(s + "\n")
    print(s)


if __name__ == "__main__":
    sys.exit(main())
