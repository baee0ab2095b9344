"""One exception tree for every failure a user can cause.

Each error carries a one-line message, a hint saying what to run next, and the
exit code the CLI uses. The library raises these; only the CLI prints them.
"""

from __future__ import annotations


class GitModelsError(Exception):
    """Base class: a failure the user can act on."""

    exit_code = 1
    default_hint = ""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = self.default_hint if hint is None else hint

    def __str__(self) -> str:
        return self.message


class GitModelsWarning(UserWarning):
    """Base class: something the user should know that does not stop the command (the CLI prints one line)."""


class NotARepository(GitModelsError):
    default_hint = "run gitmodels inside a git repository (git init, or cd into one)"


class NotInitialized(GitModelsError):
    default_hint = "run `gitmodels init --remote PATH_OR_URL` first"


class UsageError(GitModelsError):
    exit_code = 2


class BadPointer(GitModelsError):
    """A pointer file that cannot be read: bad TOML, unknown version, bad oid, conflict markers."""

    exit_code = 3


class SizeMismatch(BadPointer):
    """A pointer whose size or file count disagrees with the bytes its oid names: it was edited or crafted.

    Not a CorruptObject: the object may be sound, so nothing is quarantined or re-fetched for it.
    """


class BadManifest(GitModelsError):
    exit_code = 3


class BadConfig(GitModelsError):
    exit_code = 3
    default_hint = "fix the file by hand or re-run `gitmodels init`"


class PathError(GitModelsError):
    """A path that cannot be tracked: outside the repo, tracked by git, a symlink, missing."""

    exit_code = 2


class UnsafeEntry(GitModelsError):
    """A manifest entry or symlink that would escape the artifact directory."""

    exit_code = 3


class FileInUse(GitModelsError):
    """Windows: a file another program holds open cannot be replaced or deleted."""

    default_hint = "close the program that has it open (an editor, a notebook, a virus scan), then run the command again"


class ArtifactChanged(GitModelsError):
    """A file changed while gitmodels read it: its hash would describe bytes that never existed together."""

    default_hint = "add it again once whatever is writing it has finished"


class UnsavedChanges(GitModelsError):
    """An artifact in the workspace differs from its pointer and its bytes are nowhere else."""

    exit_code = 4
    default_hint = "run `gitmodels add PATH` to keep your version, or pass --force to discard it"


class ObjectMissing(GitModelsError):
    """An object is in neither the cache nor any remote tried."""

    exit_code = 5


class CorruptObject(GitModelsError):
    """Bytes whose SHA-256 does not match their name."""

    exit_code = 6
    default_hint = "run `gitmodels fsck` to quarantine it, then `gitmodels fetch` (or `push` from a clone that has it)"


class RemoteError(GitModelsError):
    """A remote could not be reached or refused the operation."""

    exit_code = 7


class RemoteNotFound(RemoteError):
    default_hint = "list remotes with `gitmodels remote list`; add one with `gitmodels remote add NAME URL`"


class NoRemote(RemoteError):
    default_hint = "add one with `gitmodels remote add origin PATH_OR_URL --default`"


class CredentialsError(RemoteError):
    pass


class AccessDenied(RemoteError):
    pass


class BucketMissing(RemoteError):
    pass


class RemoteUnreachable(RemoteError):
    pass


class SdkMissing(RemoteError):
    """A cloud remote whose client library (the package extra) is not installed."""


class ReadOnlyRemote(RemoteError):
    """A write (push, gc, repair) to a remote that can only be read, such as an HTTP(S) one."""

    default_hint = "push to a writable remote (directory, s3://, gs://, az://, ssh://) that this URL publishes"


class RevisionNotFound(GitModelsError):
    exit_code = 2
    default_hint = "check the name with `git log --oneline` or `git tag`"


class ModelNotFound(GitModelsError):
    exit_code = 2
    default_hint = "list tracked models with `gitmodels ls`"


class SerializerError(GitModelsError):
    exit_code = 8


class FrameworkMissing(SerializerError):
    pass


class UntrustedModel(GitModelsError):
    """Loading would run code from bytes nobody the user trusts committed (a teammate's pickle)."""

    exit_code = 10


class LockTimeout(GitModelsError):
    exit_code = 9
    default_hint = "another gitmodels command is running in this repository; wait for it, then retry"


class HookFailed(GitModelsError):
    exit_code = 1


class SourceNotFound(GitModelsError):
    """A git URL that git cannot read (no such repository, no access)."""

    exit_code = 7
    default_hint = "check the URL with `git ls-remote URL`; it must be a git repository you can read"


class SourceRemoteUnreachable(RemoteError):
    """The model remote of an imported repository could not be reached."""

    default_hint = ("override the source's model remote in your local config: [imports.sources.\"GIT_URL\"] "
                    "url = ... (docs/registry.md)")


class AliasNotFound(RevisionNotFound):
    default_hint = "list the aliases with `gitmodels alias list`"


class SignatureMismatch(GitModelsError):
    """The input given to `load(example=...)` does not fit the recorded [model.signature]."""

    exit_code = 2
