"""rrae.export.from_torch: the runtime against torch's eval-mode forward
(<= 1e-5 relative) for an MLP and a CNN, the golden CNN rebuilt from torch
modules byte for byte, and unsupported modules named with their path."""

import numpy as np
import pytest

import rrae

torch = pytest.importorskip("torch")
nn = torch.nn


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / np.linalg.norm(b))


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def test_mlp_parity_with_separate_basis(tmp_path):
    enc = nn.Sequential(nn.Linear(20, 32), nn.Tanh(), nn.Linear(32, 16), nn.LeakyReLU(0.1),
                        nn.Dropout(0.5), nn.Linear(16, 8))
    dec = nn.Sequential(nn.Linear(8, 16), nn.ELU(), nn.Sequential(nn.Linear(16, 32), nn.Softplus()),
                        nn.Linear(32, 20), nn.Sigmoid())
    enc.eval(), dec.eval()
    u = torch.linalg.qr(torch.randn(8, 3))[0]
    m = rrae.export.from_torch(enc, dec, u, path=tmp_path / "mlp.rrae", name="mlp")
    assert (m.input_dim, m.latent_dim, m.rank) == (20, 8, 3)
    x = torch.randn(200, 20)
    with torch.no_grad():
        alpha = enc(x) @ u
        x_hat = dec(alpha @ u.T)
    a = m.encode(x.numpy())
    assert rel(a, alpha.numpy()) <= 1e-5
    assert rel(m.decode(alpha.numpy()), x_hat.numpy()) <= 1e-5
    assert rel(m.reconstruct(x.numpy()), x_hat.numpy()) <= 1e-5
    assert rrae.load(tmp_path / "mlp.rrae").to_bytes() == m.to_bytes()


def test_cnn_parity_folded():
    enc = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.Tanh(),
                        nn.Flatten(), nn.Linear(8 * 2 * 2, 6))
    dec = nn.Sequential(nn.Linear(6, 32), nn.ELU(), nn.Unflatten(1, (8, 2, 2)),
                        nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                        nn.ConvTranspose2d(4, 1, (3, 3), stride=(2, 2), padding=(1, 1),
                                           output_padding=(1, 1)),
                        nn.Sigmoid())
    enc.eval(), dec.eval()
    m = rrae.export.from_torch(enc, dec, input_shape=(1, 8, 8))
    assert (m.input_dim, m.rank) == (64, 6) and m.meta["version"] == "1.1"
    x = torch.randn(100, 1, 8, 8)
    with torch.no_grad():
        alpha, x_hat = enc(x), dec(enc(x)).reshape(100, 64)
    flat = x.reshape(100, 64).numpy()
    assert rel(m.encode(flat), alpha.numpy()) <= 1e-5
    assert rel(m.reconstruct(flat), x_hat.numpy()) <= 1e-5


def test_golden_tiny_cnn_from_torch_modules(tiny_cnn_path):
    def ramp(n, start, step):
        return torch.tensor(start + step * np.arange(n), dtype=torch.float32)

    enc = nn.Sequential(nn.Conv2d(1, 2, 3, 2, 1), nn.Tanh(), nn.Flatten(), nn.Linear(8, 2))
    dec = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Unflatten(1, (2, 2, 2)),
                        nn.ConvTranspose2d(2, 1, 3, 2, 1, output_padding=1))
    with torch.no_grad():
        enc[0].weight.copy_(ramp(18, -0.5, 0.0625).reshape(2, 1, 3, 3))
        enc[0].bias.copy_(torch.tensor([0.125, -0.125]))
        enc[3].weight.copy_(ramp(16, -0.5, 0.0625).reshape(2, 8))
        enc[3].bias.copy_(torch.tensor([0.0, 0.25]))
        dec[0].weight.copy_(ramp(16, 0.5, -0.0625).reshape(8, 2))
        dec[0].bias.copy_(ramp(8, -0.25, 0.0625))
        dec[3].weight.copy_(ramp(18, 0.25, -0.03125).reshape(2, 1, 3, 3))
        dec[3].bias.copy_(torch.tensor([0.5]))
    m = rrae.export.from_torch(enc, dec, input_shape=(1, 4, 4), name="tiny-cnn")
    assert m.to_bytes() == tiny_cnn_path.read_bytes()


@pytest.mark.parametrize(
    "enc,text",
    [
        (nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)),
         r"encoder\.1 \(torch\.nn\.modules\.batchnorm\.BatchNorm1d\): not supported"),
        (nn.Sequential(nn.Linear(4, 3), nn.Sequential(nn.Tanh(), nn.GELU())),
         r"encoder\.1\.1 \(torch\.nn\.modules\.activation\.GELU\): not supported"),
        (nn.Sequential(nn.Tanh(), nn.Linear(4, 3)),
         r"encoder\.0 \(Tanh\): an activation must directly follow"),
        (nn.Sequential(nn.Linear(4, 3), nn.Linear(4, 3)),
         r"encoder\.1 \(Linear\): takes 4 values, gets 3"),
        (nn.Sequential(nn.Linear(4, 3), nn.Softplus(beta=2)),
         r"encoder\.1 \(Softplus\): beta=2"),
    ],
)
def test_unsupported_modules_are_named(enc, text):
    dec = nn.Sequential(nn.Linear(3, 4))
    with pytest.raises(ValueError, match=text):
        rrae.export.from_torch(enc, dec)


def test_unsupported_convolutions_are_named():
    dec = nn.Sequential(nn.Linear(8, 16))
    cases = [
        (nn.Sequential(nn.Conv2d(2, 2, 3, groups=2), nn.Flatten()), "groups and dilation"),
        (nn.Sequential(nn.Conv2d(2, 2, 3, dilation=2), nn.Flatten()), "groups and dilation"),
        (nn.Sequential(nn.Conv2d(2, 2, 3, padding_mode="reflect"), nn.Flatten()), "padding_mode"),
        (nn.Sequential(nn.Conv2d(2, 2, 3), nn.Linear(2, 2)), "add nn.Flatten"),
    ]
    for enc, text in cases:
        with pytest.raises(ValueError, match=r"encoder\.\d \(\w+\): .*" + text):
            rrae.export.from_torch(enc, dec, input_shape=(2, 4, 4))
    with pytest.raises(ValueError, match="pass input_shape"):
        rrae.export.from_torch(nn.Sequential(nn.Conv2d(1, 1, 3)), dec)
