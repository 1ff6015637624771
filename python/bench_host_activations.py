"""Where the host path's time goes: the bench_inference MLP
(64-128-128-4-128-128-64) with tanh and with ReLU, `reconstruct` of
10,000 rows against torch's eval forward, both single-threaded (best of 3).

    $(python/setup-venv.sh | tail -1)/bin/python python/bench_host_activations.py
"""

import time, numpy as np, torch, rrae
torch.set_num_threads(1); torch.manual_seed(0)
nn = torch.nn
x = np.random.default_rng(0).standard_normal((10000, 64)).astype(np.float32)
for name, A in (("tanh", nn.Tanh), ("relu", nn.ReLU)):
    enc = nn.Sequential(nn.Linear(64,128), A(), nn.Linear(128,128), A(), nn.Linear(128,4)).eval()
    dec = nn.Sequential(nn.Linear(4,128), A(), nn.Linear(128,128), A(), nn.Linear(128,64)).eval()
    m = rrae.export.from_torch(enc, dec)
    best = {}
    for _ in range(3):
        t = time.perf_counter(); m.reconstruct(x); r = time.perf_counter() - t
        with torch.no_grad():
            xt = torch.from_numpy(x); t = time.perf_counter(); dec(enc(xt)); q = time.perf_counter() - t
        best["rrae"] = min(best.get("rrae", 9), r); best["torch"] = min(best.get("torch", 9), q)
    print(name, {k: round(v*1000, 1) for k, v in best.items()}, round(best["rrae"]/best["torch"], 2))
