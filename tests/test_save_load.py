"""gitmodels.save / load / show with real frameworks, real git history and a fresh process to load in."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import gitmodels
from gitmodels.errors import CorruptObject, SerializerError
from tests.gitutil import git, overwrite_cached

rng = np.random.RandomState(0)
X = rng.rand(24, 3).astype("float32")
Y = ((X[:, 0] + 0.5 * X[:, 1]) > 0.75).astype("int64")


def train(framework, version):
    """A tiny real model; `version` changes what it learns."""
    y = Y if version == 1 else 1 - Y
    if framework == "sklearn":
        from sklearn.linear_model import LogisticRegression
        return LogisticRegression(C=1.0 * version).fit(X, y)
    if framework == "xgboost":
        from xgboost import XGBClassifier
        return XGBClassifier(n_estimators=3, max_depth=2, n_jobs=1).fit(X, y)
    if framework == "catboost":
        from catboost import CatBoostClassifier
        return CatBoostClassifier(iterations=5, depth=2, verbose=False, allow_writing_files=False,
                                  thread_count=1, random_seed=version).fit(X, y)
    if framework == "torch":
        import torch
        torch.manual_seed(version)
        return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    if framework == "keras":
        import keras
        keras.utils.set_random_seed(version)
        return keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    raise AssertionError(framework)


def predict(model, framework):
    if framework == "torch":
        import torch
        with torch.no_grad():
            return model(torch.from_numpy(X)).numpy()
    if framework == "keras":
        return np.asarray(model.predict(X, verbose=0))
    return np.asarray(model.predict_proba(X))


LOAD_AND_PREDICT = r'''
import json, sys
import numpy as np
import gitmodels
from tests.test_save_load import predict
spec = json.loads(sys.argv[1])
model = gitmodels.load(spec["path"], rev=spec["rev"])
np.save(spec["out"], predict(model, spec["framework"]), allow_pickle=False)
print(type(model).__module__ + "." + type(model).__qualname__)
'''


def load_in_fresh_process(repo, path, framework, tmp_path, rev=None):
    out = tmp_path / "pred.npy"
    spec = json.dumps({"path": path, "rev": rev, "framework": framework, "out": str(out)})
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(__file__)), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-c", LOAD_AND_PREDICT, spec], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return np.load(out), proc.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("framework", ["sklearn", "xgboost", "torch", "keras", "catboost"])
def test_save_commit_reload_and_travel_back(repo, tmp_path, monkeypatch, framework):
    monkeypatch.chdir(repo)
    (repo / "train.py").write_text("# training code\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-qm", "code")
    code_commit = git(repo, "rev-parse", "HEAD").stdout.strip()

    v1 = train(framework, 1)
    ptr = gitmodels.save(v1, "models/m", metrics={"auc": 0.5}, params={"note": "v1"})
    assert ptr.kind == "dir"
    git(repo, "commit", "-qm", "model v1")
    meta = gitmodels.show("models/m")
    assert meta["model"]["framework"] == framework
    assert meta["git"]["commit"] == code_commit and meta["git"]["dirty"] is False
    assert meta["metrics"] == {"auc": 0.5} and meta["params"]["note"] == "v1"
    assert meta["runtime"]["python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    dist = {"sklearn": "scikit-learn"}.get(framework, framework)
    assert dist in meta["dependencies"]
    assert meta["environment"]["requirements"].startswith("sha256:")

    pred1, cls = load_in_fresh_process(repo, "models/m", framework, tmp_path)
    np.testing.assert_allclose(pred1, predict(v1, framework), rtol=1e-6)
    assert cls.split(".")[0] == type(v1).__module__.split(".")[0] or framework == "keras"

    (repo / "train.py").write_text("# training code, tweaked\n")  # uncommitted: the next save is dirty
    v2 = train(framework, 2)
    gitmodels.save(v2, "models/m", metrics={"auc": 0.7})
    git(repo, "commit", "-qm", "model v2")
    assert gitmodels.show("models/m")["git"]["dirty"] is True
    assert "train.py" in gitmodels.show("models/m")["git"]["changed"]
    assert gitmodels.show("models/m", rev="HEAD~1")["metrics"] == {"auc": 0.5}

    old, _ = load_in_fresh_process(repo, "models/m", framework, tmp_path, rev="HEAD~1")
    np.testing.assert_allclose(old, pred1, rtol=1e-6)
    new, _ = load_in_fresh_process(repo, "models/m", framework, tmp_path)
    np.testing.assert_allclose(new, predict(v2, framework), rtol=1e-6)
    assert not np.allclose(new, pred1)


def test_a_tampered_cache_object_is_refused_before_unpickling(repo, tmp_path, monkeypatch):
    monkeypatch.chdir(repo)
    gitmodels.save(train("sklearn", 1), "models/m", format="joblib")
    git(repo, "commit", "-qm", "v1")
    model_file = next(p for p in (repo / "models" / "m").iterdir() if p.suffix == ".joblib")
    oid = __import__("hashlib").sha256(model_file.read_bytes()).hexdigest()
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    import pickle
    evil = pickle.dumps(Evil())
    overwrite_cached(repo, oid, evil + b"." * (model_file.stat().st_size - len(evil)))  # same size, loose or packed
    with pytest.raises(CorruptObject):
        gitmodels.load("models/m", rev="HEAD")
    with pytest.raises(CorruptObject):
        gitmodels.load("models/m")
    assert not marker.exists()


def test_unknown_object_gives_a_clear_error(repo, monkeypatch):
    monkeypatch.chdir(repo)
    with pytest.raises(SerializerError) as info:
        gitmodels.save(object(), "models/x")
    assert "object" in str(info.value)
    assert not (repo / "models" / "x.gitmodel").exists()


def test_missing_framework_at_load_names_the_extra(repo, monkeypatch):
    monkeypatch.chdir(repo)
    gitmodels.save(train("xgboost", 1), "models/x")
    code = ("import sys\nsys.modules['xgboost'] = None\nimport gitmodels\n"
            "from gitmodels.errors import FrameworkMissing\n"
            "try:\n    gitmodels.load('models/x')\nexcept FrameworkMissing as e:\n    print('HINT', e.hint)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120)
    assert "gitmodels[xgboost]" in proc.stdout, proc.stderr


def test_save_tracks_an_existing_file_as_is(repo, monkeypatch):
    monkeypatch.chdir(repo)
    (repo / "model.onnx").write_bytes(b"onnx bytes")
    ptr = gitmodels.save("model.onnx", None, metrics={"acc": 1.0})
    assert ptr.kind == "file" and ptr.meta["metrics"] == {"acc": 1.0}
    with pytest.raises(SerializerError):
        gitmodels.load("model.onnx")


def test_load_fetches_from_the_remote_when_the_cache_lacks_it(repo, tmp_path, monkeypatch):
    monkeypatch.chdir(repo)
    model = train("sklearn", 1)
    gitmodels.save(model, "models/m")
    git(repo, "commit", "-qm", "v1")
    gitmodels.push()
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    monkeypatch.chdir(clone)
    loaded = gitmodels.load("models/m", rev="HEAD")
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))


def test_path_at_rev_accepts_revisions_with_slashes(repo, monkeypatch):
    monkeypatch.chdir(repo)
    gitmodels.save(train("sklearn", 1), "models/m", metrics={"v": 1})
    git(repo, "commit", "-qm", "v1")
    git(repo, "branch", "team/v1")
    gitmodels.save(train("sklearn", 2), "models/m", metrics={"v": 2})
    git(repo, "commit", "-qm", "v2")
    assert gitmodels.show("models/m@team/v1")["metrics"] == {"v": 1}
    assert gitmodels.show("models/m@HEAD")["metrics"] == {"v": 2}
    assert gitmodels.load("models/m@team/v1").C == 1.0


def test_torch_weights_are_hashed_into_the_cache_while_torch_writes_them(repo, monkeypatch):
    """save must not read the weights back to add them: they entered the cache as torch wrote them."""
    from gitmodels.repo import Repo
    from gitmodels.storage.store import Store

    monkeypatch.chdir(repo)
    read_back = []
    real = Store.add_file
    monkeypatch.setattr(Store, "add_file", lambda self, src, *a, **k: read_back.append(src) or real(self, src, *a, **k))
    gitmodels.save(train("torch", 1), "models/net")
    assert not [p for p in read_back if p.endswith("weights.pt")], read_back
    weights = repo / "models" / "net" / "weights.pt"
    r = Repo(str(repo))
    oid = r.state.known_oid(str(weights), os.stat(weights))
    assert oid is not None and r.store.has(oid)
    restored = gitmodels.load("models/net", into=train("torch", 2))
    assert np.allclose(predict(restored, "torch"), predict(train("torch", 1), "torch"))
