"""The gitmodels demo: a model versioned next to its code, end to end, on this machine alone.

Makes a repo, trains and saves a small scikit-learn model, commits, `git push`es
to a local bare repo (the pre-push hook uploads the model to a directory
remote), clones elsewhere (the model is restored, loaded and predicts), then
switches branches and shows the model switching with them.

    python examples/demo.py [--keep]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

ENV = {**os.environ, "GIT_AUTHOR_NAME": "Demo", "GIT_AUTHOR_EMAIL": "demo@example.invalid",
       "GIT_COMMITTER_NAME": "Demo", "GIT_COMMITTER_EMAIL": "demo@example.invalid",
       "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
GITMODELS = [sys.executable, "-m", "gitmodels"]

TRAIN = '''\
import sys
import gitmodels
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

depth = int(sys.argv[1])
X, y = load_iris(return_X_y=True)  # numpy arrays: the sklearn extra brings no pandas
clf = RandomForestClassifier(n_estimators=20, max_depth=depth, random_state=0).fit(X, y)
gitmodels.save(clf, "models/iris", metrics={"train_accuracy": round(clf.score(X, y), 4)}, params={"max_depth": depth})
print(f"trained: depth={depth} train_accuracy={clf.score(X, y):.3f}")
'''

PREDICT = '''\
import gitmodels
from sklearn.datasets import load_iris

X, _ = load_iris(return_X_y=True)
model = gitmodels.load("models/iris")
info = gitmodels.show("models/iris")
print(f"loaded {type(model).__name__} max_depth={model.max_depth} "
      f"(git commit {info['git']['commit'][:8]}), predictions for 5 flowers: {model.predict(X[::30]).tolist()}")
'''


def step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m" if sys.stdout.isatty() else f"\n== {title}", flush=True)


def sh(cwd: str, *cmd: str, show: bool = True) -> str:
    if show:
        print(f"$ {' '.join(c if ' ' not in c else repr(c) for c in cmd)}", flush=True)
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, text=True, capture_output=True)
    out = (proc.stdout + proc.stderr).rstrip()
    if out and show:
        print("  " + out.replace("\n", "\n  "), flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"demo failed: {' '.join(cmd)} exited {proc.returncode}")
    return out


def main() -> None:
    keep = "--keep" in sys.argv
    base = tempfile.mkdtemp(prefix="gitmodels-demo-")
    work, origin, store, clone = (os.path.join(base, n) for n in ("work", "origin.git", "model-store", "clone"))
    try:
        step("a project with a git remote (bare repo) and a model remote (a directory)")
        sh(base, "git", "init", "-q", "--bare", "-b", "main", origin)
        sh(base, "git", "init", "-q", "-b", "main", work)
        sh(work, *GITMODELS, "init", "--remote", store)
        with open(os.path.join(work, "train.py"), "w") as f:
            f.write(TRAIN)
        with open(os.path.join(work, "predict.py"), "w") as f:
            f.write(PREDICT)

        sh(work, "git", "add", "train.py", "predict.py")
        sh(work, "git", "commit", "-qm", "training code")

        step("train v1 and save it with gitmodels.save (serialized + hashed + pointer staged)")
        sh(work, sys.executable, "train.py", "2")
        sh(work, "git", "commit", "-qm", "train v1 (depth 2)")
        print(open(os.path.join(work, "models", "iris.gitmodel")).read().split("[runtime]")[0].rstrip())

        step("an experiment branch with a deeper model")
        sh(work, "git", "switch", "-q", "-c", "deeper")
        sh(work, sys.executable, "train.py", "6")
        sh(work, "git", "commit", "-qam", "train v2 (depth 6)")
        sh(work, *GITMODELS, "diff", "main", "deeper")

        step("git push: the pre-push hook uploads the models first")
        sh(work, "git", "remote", "add", "origin", origin)
        sh(work, "git", "push", "-q", "origin", "main", "deeper")
        objects = sum(len(files) for _, _, files in os.walk(os.path.join(store, "objects")))
        print(f"  the model remote now holds {objects} objects")

        step("clone elsewhere: the models arrive with the checkout")
        sh(base, "git", "clone", "-q", origin, clone)
        sh(clone, *GITMODELS, "install")
        sh(clone, *GITMODELS, "status")
        sh(clone, sys.executable, "predict.py")

        step("switch branches: the model switches with the code")
        sh(clone, "git", "switch", "-q", "deeper")
        sh(clone, sys.executable, "predict.py")
        sh(clone, "git", "switch", "-q", "main")
        sh(clone, sys.executable, "predict.py")
        sh(clone, *GITMODELS, "log", "models/iris")
        print(f"\ndemo finished{': files kept in ' + base if keep else ''}")
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
