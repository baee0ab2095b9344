"""Small torch modules used by the tests; importable by a fresh interpreter (the class must be)."""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, n_in: int = 3, hidden: int = 4):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU())
        self.norm = nn.BatchNorm1d(hidden)
        self.head = nn.Linear(hidden, 1)
        self.register_buffer("scale", torch.tensor(2.0))
        self.register_buffer("scratch", torch.zeros(1), persistent=False)

    def forward(self, x):
        return self.head(self.norm(self.body(x))) * self.scale


class TiedNet(nn.Module):
    """Encoder and decoder share one weight matrix."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(3, 3, bias=False)
        self.dec = nn.Linear(3, 3, bias=False)
        self.dec.weight = self.enc.weight

    def forward(self, x):
        return self.dec(torch.relu(self.enc(x)))


def train(model: nn.Module, X, y, steps: int = 5) -> nn.Module:
    torch.manual_seed(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    xt = torch.from_numpy(X)
    yt = torch.from_numpy(y.astype("float32")).reshape(-1, 1)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        out = model(xt)
        loss = ((out[:, :1] - yt) ** 2).mean()
        loss.backward()
        opt.step()
    model.eval()
    return model
