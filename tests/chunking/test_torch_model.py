"""A real PyTorch model whose last layer is retrained: the new version costs the changed tensors, +5%."""

from __future__ import annotations

import os

from gitmodels import chunking
from tests.requires import require_module

torch = require_module("torch")


def _train_last_layer(model, steps: int = 3) -> None:
    for p in model.parameters():
        p.requires_grad_(False)
    head = model[-1]
    for p in head.parameters():
        p.requires_grad_(True)
    opt = torch.optim.SGD(head.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(32, 1024, generator=gen)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_fine_tuned_head_costs_the_changed_tensors(any_remote, clone_factory, tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(1024, 2048), torch.nn.ReLU(),
        torch.nn.Linear(2048, 2048), torch.nn.ReLU(),
        torch.nn.Linear(2048, 2048), torch.nn.ReLU(),
        torch.nn.Linear(2048, 1024),
    )
    paths = {}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for version in ("v1", "v2"):
        if version == "v2":
            _train_last_layer(model)
        folder = tmp_path / version
        folder.mkdir()
        paths[version] = str(folder / "model.pt")  # same file name, as in a working tree
        torch.save(model.state_dict(), paths[version])
    after = model.state_dict()
    changed = sum(v.numel() * v.element_size() for k, v in after.items() if not torch.equal(v, before[k]))
    assert changed == (2048 * 1024 + 1024) * 4  # the head's weight and bias, nothing else

    pusher = clone_factory()
    oids = {}
    for version, path in paths.items():
        with open(path, "rb") as f:
            oid, cached = pusher.add(f.read())
        oids[version] = oid
        stats = chunking.upload_object(any_remote, pusher.state, oid, cached, os.path.getsize(cached))
    assert stats.bytes_sent <= changed * 1.05, (stats, changed)

    puller = clone_factory()
    with open(paths["v1"], "rb") as f:
        puller.add(f.read())
    chunking.index_local_object(puller.state, oids["v1"], puller.path(oids["v1"]))
    any_remote.reset()
    out = str(tmp_path / "pulled.pt")
    got = chunking.download_object(any_remote, puller.state, oids["v2"], out, puller.cache)
    assert any_remote.bytes_down == got.bytes_downloaded <= changed * 1.05
    loaded = torch.load(out, weights_only=True)
    assert all(torch.equal(loaded[k], after[k]) for k in after)
