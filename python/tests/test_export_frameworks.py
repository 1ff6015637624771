"""Exporters from RR_layer and RRAEsTorch (PyPI ``rr-layer``,
``rraestorch``): each model trains for a few steps with its own package,
then the runtime's reconstruction must equal the package's eval-mode
forward (<= 1e-5 relative) for an MLP and a CNN; unsupported parts are
named with their path."""

import warnings

import numpy as np
import pytest

import rrae
from parity import rel, shifted_sines

torch = pytest.importorskip("torch")
nn = torch.nn


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


# ---------------------------------------------------------------- RR_layer


def train_rr(net, x, steps=20, batch=32):
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch,), generator=gen)
        loss = ((net(x[idx]) - x[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()  # RRLayer computes its inference basis here


def test_rr_layer_mlp():
    from RR_layer import RRLayer

    x = torch.from_numpy(shifted_sines(256))
    net = nn.Sequential(nn.Linear(32, 24), nn.Tanh(), nn.Linear(24, 8), RRLayer(rank=2),
                        nn.Linear(8, 24), nn.Tanh(), nn.Linear(24, 32))
    train_rr(net, x)
    m = rrae.export.from_rr_layer(net)
    assert (m.input_dim, m.rank, m.meta["basis"]) == (32, 2, "folded")
    with torch.no_grad():
        ref = net(x).numpy()
    assert rel(m.reconstruct(x.numpy()), ref) <= 1e-5


class ConvRR(nn.Module):
    """A module (not a Sequential) whose children run in registration order."""

    def __init__(self, rr):
        super().__init__()
        self.encoder = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 4, 3, stride=2, padding=1),
                                     nn.ReLU(), nn.Flatten(), nn.Linear(64, 6))
        self.rr = rr
        self.decoder = nn.Sequential(nn.Linear(6, 64), nn.ELU(), nn.Unflatten(1, (4, 4, 4)),
                                     nn.ConvTranspose2d(4, 1, 3, stride=2, padding=1, output_padding=1),
                                     nn.Flatten())

    def forward(self, x):
        return self.decoder(self.rr(self.encoder(x)))


def test_rr_layer_cnn(tmp_path):
    from RR_layer import RRLayer

    x = torch.from_numpy(shifted_sines(128, 64))
    net = ConvRR(RRLayer(rank=3))
    train_rr(net, x)
    m = rrae.export.from_rr_layer(net, path=tmp_path / "cnn.rrae", input_shape=(1, 8, 8))
    assert (m.input_dim, m.rank) == (64, 3)
    with torch.no_grad():
        ref = net(x).numpy()
    assert rel(rrae.load(tmp_path / "cnn.rrae").reconstruct(x.numpy()), ref) <= 1e-5


def test_rr_layer_errors():
    from RR_layer import RRLayer

    with pytest.raises(ValueError, match=r"model.1 \(RRLayer\): has no inference basis"):
        rrae.export.from_rr_layer(nn.Sequential(nn.Linear(4, 3), RRLayer(rank=1), nn.Linear(3, 4)))
    with pytest.raises(ValueError, match="has 0 RRLayer modules"):
        rrae.export.from_rr_layer(nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 4)))
    rr = RRLayer(rank=1)
    rr.inference_basis = torch.eye(3)[:, :1]
    with pytest.raises(ValueError, match=r"model.3 \(torch.nn.modules.normalization.LayerNorm\)"):
        rrae.export.from_rr_layer(nn.Sequential(nn.Linear(4, 3), rr, nn.Linear(3, 4), nn.LayerNorm(4)))


# ---------------------------------------------------------------- RRAEsTorch


def rraestorch_classes():
    """RRAEsTorch's model classes (its ``config`` module must be imported
    first: it sets the autoencoder base class)."""
    import RRAEsTorch.config  # noqa: F401
    import RRAEsTorch.AE_classes

    return RRAEsTorch.AE_classes


def rraestorch_fit(model_cls, x, **kwargs):
    from RRAEsTorch.training_classes import RRAE_Trainor_class

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainor = RRAE_Trainor_class(x, model_cls, k_max=2, **kwargs)
        trainor.fit(x, x, verbose=False, training_kwargs={"step_st": [3], "batch_size_st": [16]},
                    ft_kwargs={"step_st": [2], "batch_size_st": [16]})
    return trainor


def test_rraestorch_mlp():
    RRAE_MLP = rraestorch_classes().RRAE_MLP

    x = torch.from_numpy(shifted_sines(64))
    trainor = rraestorch_fit(RRAE_MLP, x, in_size=32, latent_size=12,
                             kwargs_enc={"width_size": 16, "depth": 1},
                             kwargs_dec={"width_size": 16, "depth": 2})
    m = rrae.export.from_rraestorch(trainor)
    assert (m.input_dim, m.rank, m.meta["basis"]) == (32, 2, "folded")
    with torch.no_grad():
        ref = trainor.model(x).numpy()  # decode(U U^T encode(x)), as trainor.evaluate runs it
    assert rel(m.reconstruct(x.numpy()), ref) <= 1e-5


def test_rraestorch_cnn():
    RRAE_CNN = rraestorch_classes().RRAE_CNN

    x = torch.from_numpy(shifted_sines(48, 64)).reshape(48, 1, 8, 8)
    trainor = rraestorch_fit(RRAE_CNN, x, channels=1, height=8, width=8, latent_size=10,
                             kwargs_enc={"width_CNNs": [4, 8]},
                             kwargs_dec={"width_CNNs": [8, 4], "out_after_mlp": 4})
    m = rrae.export.from_rraestorch(trainor)
    assert (m.input_dim, m.rank) == (64, 2)
    with torch.no_grad():
        ref = trainor.model(x).reshape(48, 64).numpy()
    assert rel(m.reconstruct(x.reshape(48, 64).numpy()), ref) <= 1e-5


def test_rraestorch_basis_from_data_and_errors():
    RRAE_MLP = rraestorch_classes().RRAE_MLP
    x = shifted_sines(40)
    model = RRAE_MLP(in_size=32, latent_size=6, k_max=2, kwargs_enc={"width_size": 8, "depth": 1},
                     kwargs_dec={"width_size": 8, "depth": 1})
    model.eval()
    with pytest.raises(ValueError, match=r"basis: not set"):
        rrae.export.from_rraestorch(model)
    m = rrae.export.from_rraestorch(model, data=x, k=2)
    model.basis = torch.from_numpy(rrae.export._rraestorch.latent_basis(model, x, 2)).float()
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert rel(m.reconstruct(x), ref) <= 1e-5
    model._decode.mlp[1] = nn.GELU()
    with pytest.raises(ValueError, match=r"_decode.mlp.1 \(torch.nn.modules.activation.GELU\)"):
        rrae.export.from_rraestorch(model)
