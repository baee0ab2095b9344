"""gitmodels: version machine-learning models next to the code that made them.

    import gitmodels
    gitmodels.save(clf, "models/churn", metrics={"auc": 0.91})
    model = gitmodels.load("models/churn", rev="v1.0")

Importing gitmodels imports no ML framework, cloud SDK or git library: every
name below is resolved on first use.
"""

__version__ = "0.1.0"

_API = {"save", "load", "show", "add", "push", "pull", "status", "move", "remove"}
__all__ = sorted(_API | {"Repo", "errors", "__version__"})


def __getattr__(name):
    if name in _API:
        from gitmodels import api

        return getattr(api, name)
    if name == "Repo":
        from gitmodels.repo import Repo

        return Repo
    if name == "errors":
        from gitmodels import errors

        return errors
    raise AttributeError(f"module 'gitmodels' has no attribute {name!r}")
