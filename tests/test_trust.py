"""The trust policy: a teammate's pickle runs no code on `gitmodels.load` without a trust decision.

Real git (a bare server, clones, other authors, ssh-signed commits), a directory model remote, real
scikit-learn and torch models, and a real malicious pickle that creates a marker file when unpickled.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import subprocess
from pathlib import Path

import pytest

import gitmodels
from gitmodels.errors import UntrustedModel
from gitmodels.serializers import register, reset_registry
from gitmodels.serializers.base import Serializer
from tests.gitutil import World, commit_all, git, rev
from tests.gitutil import gitmodels as gm
from tests.requires import require_module

MALLORY = {"GIT_AUTHOR_NAME": "Mallory", "GIT_AUTHOR_EMAIL": "mallory@example.com"}
CAROL = {"GIT_AUTHOR_NAME": "Carol", "GIT_AUTHOR_EMAIL": "carol@example.com"}


class Evil:
    """Unpickling this runs a shell command (touch MARKER), the way the reported attack did."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _forest():
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.RandomState(0)
    X = rng.rand(40, 3)
    return RandomForestClassifier(n_estimators=3, random_state=0).fit(X, (X[:, 0] > 0.5).astype(int)), X


@pytest.fixture
def owner(world: World, monkeypatch) -> Path:
    """The first clone: a RandomForest saved with the defaults (skops), committed and pushed."""
    path = world.first_clone("owner")
    monkeypatch.chdir(path)
    model, _ = _forest()
    gitmodels.save(model, "models/clf")
    commit_all(path, "model v1")
    git(path, "push", "-q", "origin", "main")
    gm(path, "push")
    return path


def _swap_in_pickle(clone: Path, marker: Path, env: dict, message: str = "model v2", sign: bool = False) -> str:
    """The attack: replace the model's file with a pickle that runs a command, `gitmodels add`, commit, push."""
    gm(clone, "checkout")
    folder = clone / "models" / "clf"
    shutil.rmtree(folder)
    folder.mkdir()
    (folder / "model.joblib").write_bytes(pickle.dumps(Evil(marker)))
    (folder / "gitmodels-model.json").write_text('{"class": "sklearn.pipeline.Pipeline", "files": ["model.joblib"], '
                                                 '"format": "joblib", "framework": "sklearn", '
                                                 '"gitmodels_descriptor": 1}\n')
    gm(clone, "add", "models/clf")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", *(["-S"] if sign else []), "-m", message, extra_env=env)
    git(clone, "push", "-q", "origin", "main")
    gm(clone, "push")
    return rev(clone)


def _fresh_clone(world: World, name: str, monkeypatch) -> Path:
    path = world.clone(name)
    monkeypatch.chdir(path)
    return path


def test_a_teammates_pickle_is_refused_in_a_fresh_clone_until_trusted(world, owner, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    mallory = world.clone("mallory")
    bad = _swap_in_pickle(mallory, marker, MALLORY)
    bob = _fresh_clone(world, "bob", monkeypatch)

    with pytest.raises(UntrustedModel) as err:
        gitmodels.load("models/clf")
    assert not marker.exists()
    message = str(err.value)
    assert "\n" not in message and "\n" not in err.value.hint
    for part in ("models/clf", "(format joblib)", bad[:12], "Mallory <mallory@example.com>"):
        assert part in message
    for way in ("trust=True", "gitmodels trust add mallory@example.com", 'format="skops"'):
        assert way in err.value.hint
    with pytest.raises(UntrustedModel):
        gitmodels.load("models/clf", rev="HEAD")
    with pytest.raises(UntrustedModel):
        gitmodels.load("models/clf", rev=bad)
    assert not marker.exists()

    # the CLI restores and exports the bytes, and never unpickles them
    gm(bob, "checkout")
    gm(bob, "get", "models/clf", "-o", str(tmp_path / "exported"))
    exported = (tmp_path / "exported" / "model.joblib").read_bytes()  # -o OUT is the model itself (cp -r)
    assert exported == (bob / "models" / "clf" / "model.joblib").read_bytes()
    # adding what a checkout wrote does not make it "saved here"
    gm(bob, "add", "models/clf")
    with pytest.raises(UntrustedModel):
        gitmodels.load("models/clf")
    assert not marker.exists()

    # the older revision, the owner's skops save, loads without any trust decision
    assert gitmodels.load("models/clf", rev="HEAD~1").predict(_forest()[1]).shape == (40,)
    assert not marker.exists()

    # trust for one call: the pickle really runs (so the refusals above prevented something)
    gitmodels.load("models/clf", trust=True)
    assert marker.exists()
    marker.unlink()

    # trust the author, through the CLI
    out = gm(bob, "trust", "add", "Mallory@Example.com").stdout
    assert "mallory@example.com" in out
    assert "mallory@example.com" in gm(bob, "trust", "list").stdout
    gitmodels.load("models/clf")
    assert marker.exists()
    marker.unlink()
    gitmodels.load("models/clf", rev=bad)
    assert marker.exists()
    marker.unlink()

    gm(bob, "trust", "remove", "mallory@example.com")
    with pytest.raises(UntrustedModel):
        gitmodels.load("models/clf")
    assert not marker.exists()
    # the trust list is local: nothing in the work tree or the index mentions it
    assert "mallory" not in git(bob, "status", "--porcelain", "--ignored").stdout
    assert "nobody is trusted" in gm(bob, "trust", "list").stdout

    # the per-user list counts too
    gm(bob, "trust", "add", "--global", "mallory@example.com")
    gitmodels.load("models/clf")
    assert marker.exists()
    marker.unlink()

    # in her own clone, mallory's `gitmodels add` made the bytes hers: no question asked there
    gm(bob, "trust", "remove", "--global", "mallory@example.com")
    monkeypatch.chdir(mallory)
    gitmodels.load("models/clf")
    assert marker.exists()


def test_the_users_own_pickle_loads_without_asking_and_notes_the_unsafe_format(world, owner, tmp_path,
                                                                               monkeypatch, caplog):
    model, X = _forest()
    with caplog.at_level(logging.WARNING, logger="gitmodels"):
        gitmodels.save(model, "models/pkl", format="joblib")
    notes = [r.getMessage() for r in caplog.records if "runs code when loaded" in r.getMessage()]
    assert len(notes) == 1 and "models/pkl" in notes[0] and "joblib" in notes[0] and "\n" not in notes[0]
    assert gitmodels.show("models/pkl")["model"]["format"] == "joblib"
    commit_all(owner, "pickled model")
    git(owner, "push", "-q", "origin", "main")
    gm(owner, "push")
    # saved in this clone: loads at HEAD, from the workspace, and after a fresh Repo (recorded on disk)
    assert (gitmodels.load("models/pkl").predict(X) == model.predict(X)).all()
    assert (gitmodels.load("models/pkl", rev="HEAD").predict(X) == model.predict(X)).all()
    # nothing about it was committed: a fresh clone of the same commit must ask
    _fresh_clone(world, "dave", monkeypatch)
    with pytest.raises(UntrustedModel, match="Test Author <author@example.com>"):
        gitmodels.load("models/pkl")


def test_skops_is_the_default_and_loads_in_another_clone_without_a_decision(world, owner, monkeypatch, caplog):
    assert gitmodels.show("models/clf")["model"]["format"] == "skops"
    assert (owner / "models" / "clf" / "model.skops").is_file()
    _fresh_clone(world, "erin", monkeypatch)
    model, X = _forest()
    with caplog.at_level(logging.WARNING, logger="gitmodels"):
        got = gitmodels.load("models/clf")
    assert (got.predict(X) == model.predict(X)).all()
    # the default save gave no unsafe-format note
    assert not [r for r in caplog.records if "runs code" in r.getMessage()]


def test_torch_weights_load_without_asking_the_whole_module_asks(world, owner, monkeypatch):
    torch = require_module("torch")
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    gitmodels.save(net, "models/net")
    commit_all(owner, "net")
    git(owner, "push", "-q", "origin", "main")
    gm(owner, "push")
    assert isinstance(gitmodels.load("models/net"), torch.nn.Sequential)  # saved here

    _fresh_clone(world, "frank", monkeypatch)
    weights = gitmodels.load("models/net", weights_only=True)
    assert torch.equal(weights["0.weight"], net.state_dict()["0.weight"])
    into = gitmodels.load("models/net", into=torch.nn.Sequential(torch.nn.Linear(3, 2)))
    assert torch.equal(into[0].bias, net[0].bias)
    with pytest.raises(UntrustedModel) as err:
        gitmodels.load("models/net")
    assert "torch model (format pt)" in str(err.value)
    assert "weights_only=True" in err.value.hint


class Thing:
    """An object only the test's own serializer (a stand-in for a third-party plugin) can save."""

    def __init__(self, value):
        self.value = value


class ThingSerializer(Serializer):
    """Two formats: `pkl` (pickle, declared as running code) and `txt` (plain text)."""

    name = "thing"
    formats = ("txt", "pkl")
    modules = (__name__,)
    pickle_formats = ("pkl",)

    def save(self, obj, directory, format):
        with open(os.path.join(directory, "thing." + format), "wb") as f:
            f.write(pickle.dumps(obj) if format == "pkl" else str(obj.value).encode())
        return {"format": format}

    def load(self, directory, model_meta, **kwargs):
        with open(os.path.join(directory, "thing." + model_meta["format"]), "rb") as f:
            data = f.read()
        return pickle.loads(data) if model_meta["format"] == "pkl" else Thing(data.decode())


@pytest.fixture
def thing_serializer():
    register(ThingSerializer)
    yield
    reset_registry()


def test_a_format_a_third_party_serializer_declares_unsafe_asks_first(world, owner, thing_serializer,
                                                                      monkeypatch, caplog):
    with caplog.at_level(logging.WARNING, logger="gitmodels"):
        gitmodels.save(Thing("a"), "models/text")
        gitmodels.save(Thing("b"), "models/pickled", format="pkl")
    notes = [r.getMessage() for r in caplog.records if "runs code when loaded" in r.getMessage()]
    assert len(notes) == 1 and "models/pickled" in notes[0] and "(as asked)" in notes[0]
    commit_all(owner, "things")
    git(owner, "push", "-q", "origin", "main")
    gm(owner, "push")
    _fresh_clone(world, "gina", monkeypatch)
    assert gitmodels.load("models/text").value == "a"
    with pytest.raises(UntrustedModel, match=r"thing model \(format pkl\)") as err:
        gitmodels.load("models/pickled")
    assert "re-save it in a format that runs no code" in err.value.hint
    assert gitmodels.load("models/pickled", trust=True).value == "b"


@pytest.fixture
def ssh_keys(tmp_path) -> dict[str, Path]:
    keys = {}
    for name in ("carol", "mallory"):
        key = tmp_path / "keys" / name
        key.parent.mkdir(exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
        keys[name] = key
    return keys


def _fingerprint(key: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", f"{key}.pub"], check=True, capture_output=True, text=True).stdout
    return out.split()[1]


def _sign_with(clone: Path, key: Path) -> None:
    git(clone, "config", "gpg.format", "ssh")
    git(clone, "config", "user.signingkey", f"{key}.pub")


def test_a_commit_signed_by_a_trusted_key_loads_one_signed_by_another_key_does_not(world, owner, ssh_keys,
                                                                                   tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    carol = world.clone("carol")
    _sign_with(carol, ssh_keys["carol"])
    signed = _swap_in_pickle(carol, marker, CAROL, "carol's pickle", sign=True)
    assert git(carol, "cat-file", "commit", signed).stdout.count("-----BEGIN SSH SIGNATURE-----") == 1

    bob = _fresh_clone(world, "bob", monkeypatch)
    with pytest.raises(UntrustedModel) as err:
        gitmodels.load("models/clf")
    assert f"signed by key {_fingerprint(ssh_keys['carol'])}, which is not on your trust list" in str(err.value)
    assert not marker.exists()

    # trusting another key does not help; trusting carol's (by its public key file) does
    gm(bob, "trust", "add", _fingerprint(ssh_keys["mallory"]))
    with pytest.raises(UntrustedModel):
        gitmodels.load("models/clf")
    assert not marker.exists()
    gm(bob, "trust", "add", f"{ssh_keys['carol']}.pub")
    assert _fingerprint(ssh_keys["carol"]) in gm(bob, "trust", "list").stdout
    gitmodels.load("models/clf")
    assert marker.exists()
    marker.unlink()

    # mallory signs with her own key, under carol's name: only keys are on the list, and hers is not
    mallory = world.clone("mallory")
    _sign_with(mallory, ssh_keys["mallory"])
    other = tmp_path / "pwned-by-mallory"
    _swap_in_pickle(mallory, other, CAROL, "mallory's pickle, signed as herself", sign=True)
    git(bob, "pull", "-q", "origin", "main")
    gm(bob, "trust", "remove", _fingerprint(ssh_keys["mallory"]))
    with pytest.raises(UntrustedModel, match="which is not on your trust list"):
        gitmodels.load("models/clf")
    assert not other.exists()
    # the previous revision, signed by carol, still loads
    gitmodels.load("models/clf", rev="HEAD~1")
    assert marker.exists()


def test_an_unsigned_commit_with_a_trusted_key_on_the_list_is_refused(world, owner, ssh_keys, tmp_path,
                                                                       monkeypatch):
    marker = tmp_path / "pwned"
    _swap_in_pickle(world.clone("mallory"), marker, MALLORY)
    bob = _fresh_clone(world, "bob", monkeypatch)
    gm(bob, "trust", "add", f"{ssh_keys['carol']}.pub")
    with pytest.raises(UntrustedModel, match="no signature by a trusted key"):
        gitmodels.load("models/clf")
    assert not marker.exists()


def test_trust_add_refuses_what_it_cannot_read(world, owner):
    out = gm(owner, "trust", "add", "not a key", check=False)
    assert out.returncode == 2
    assert out.stderr.startswith("gitmodels: cannot tell what to trust")
    assert "Traceback" not in out.output
    assert gm(owner, "trust", "remove", "nobody@example.com", check=False).returncode == 2


def test_a_trusted_commit_that_only_drops_a_second_copy_of_the_oid_is_not_credited(world, owner, tmp_path,
                                                                                 monkeypatch):
    """`git log -S` sees the oid's text, not the pointer's oid: mallory writes it twice (oid and a comment),
    a trusted author's tidy-up drops the comment, and the bytes are still mallory's."""
    marker = tmp_path / "pwned"
    mallory = world.clone("mallory")
    _swap_in_pickle(mallory, marker, MALLORY)
    pointer = mallory / "models" / "clf.gitmodel"
    text = pointer.read_text()
    oid = next(line.split('"')[1] for line in text.splitlines() if line.startswith("oid"))
    pointer.write_text(f"# reviewed: {oid}\n" + text)
    commit_all(mallory, "note", extra_env=MALLORY)
    pointer.write_text(text)
    commit_all(mallory, "tidy the pointer")  # the default test author, whom bob trusts
    git(mallory, "push", "-q", "origin", "main")

    bob = _fresh_clone(world, "bob", monkeypatch)
    gm(bob, "trust", "add", "author@example.com")
    with pytest.raises(UntrustedModel, match="Mallory <mallory@example.com>"):
        gitmodels.load("models/clf")
    assert not marker.exists()


@pytest.fixture
def gpg_homes(tmp_path):
    """Carol's keyring with a fresh signing key, and bob's (empty); their agents are stopped afterwards."""
    homes = {name: tmp_path / f"gnupg-{name}" for name in ("carol", "bob")}
    for home in homes.values():
        home.mkdir(mode=0o700)
    env = dict(os.environ, GNUPGHOME=str(homes["carol"]))
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Carol <carol@example.com>",
                    "ed25519", "sign", "never"], env=env, check=True, capture_output=True)
    yield homes
    for home in homes.values():
        subprocess.run(["gpgconf", "--kill", "all"], env=dict(os.environ, GNUPGHOME=str(home)), capture_output=True)


def test_a_commit_signed_with_a_trusted_gpg_key_loads(world, owner, gpg_homes, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    carol_env = dict(CAROL, GNUPGHOME=str(gpg_homes["carol"]))
    listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys", "carol@example.com"],
                             env=dict(os.environ, **carol_env), check=True, capture_output=True, text=True).stdout
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    carol = world.clone("carol")
    git(carol, "config", "user.signingkey", "carol@example.com")
    _swap_in_pickle(carol, marker, carol_env, "carol's pickle, gpg-signed", sign=True)

    bob = _fresh_clone(world, "bob", monkeypatch)
    monkeypatch.setenv("GNUPGHOME", str(gpg_homes["bob"]))
    gm(bob, "trust", "add", fingerprint.lower())
    # bob trusts the fingerprint but does not have the key: git cannot check the signature
    with pytest.raises(UntrustedModel, match="no signature by a trusted key"):
        gitmodels.load("models/clf")
    assert not marker.exists()
    public = subprocess.run(["gpg", "--batch", "--armor", "--export", fingerprint],
                            env=dict(os.environ, GNUPGHOME=str(gpg_homes["carol"])), check=True,
                            capture_output=True).stdout
    subprocess.run(["gpg", "--batch", "--import"], input=public, check=True, capture_output=True)
    gitmodels.load("models/clf")  # a good signature ("U": bob never certified the key) by a trusted key
    assert marker.exists()
