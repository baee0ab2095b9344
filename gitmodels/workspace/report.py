"""The words for restore outcomes: what the hooks tell the user after git moved the working tree.

Checkout (Repo.checkout) says what happened to each model as an `Outcome`;
this module alone turns outcomes into sentences, each with the command that
fixes it. Nothing here inspects an error's text: the outcome decides the
sentence, the error only fills in its details.
"""

from __future__ import annotations

from gitmodels.errors import GitModelsError
from gitmodels.workspace.restore import CheckoutResult, ModelOutcome, Outcome

NAMED = 5  # restored models named in the summary line before "and N more"


def restored_line(result: CheckoutResult) -> str | None:
    """One line naming the restored models (the first few), or None when nothing was restored."""
    restored = result.restored
    if not restored:
        return None
    names = ", ".join(restored[:NAMED]) + (f" and {len(restored) - NAMED} more" if len(restored) > NAMED else "")
    return f"restored {len(restored)} model(s): {names}"


def problem_line(item: ModelOutcome) -> str:
    """The warning for a model that was left as it was, ending with what to run about it."""
    art, why, short = item.path, item.error, (item.oid or "")[:12]
    kind = item.outcome
    if kind is Outcome.KEPT_MODIFIED:
        return (f"{why} (keep your version: `gitmodels add {art}`; take the committed one: "
                f"`gitmodels checkout --force {art}`)")
    if kind is Outcome.FAILED:
        return f"{why}; fix it, then run `gitmodels checkout {art}`"
    if kind is Outcome.BAD_POINTER:
        return f"{why}; fix it, then run `gitmodels checkout`"
    if kind is Outcome.NOT_FETCHED:
        return (f"{art} not restored: model sha256:{short} is not in the local cache and "
                "hooks.fetch_on_checkout is off; run `gitmodels pull`")
    if kind is Outcome.MISSING_EVERYWHERE:
        return (f"{art} not restored: model sha256:{short} is neither in the cache nor on the model remote; "
                "`gitmodels push` it from the clone that has it, then `gitmodels pull`")
    if kind is Outcome.REMOTE_UNREACHABLE:
        return (f"{art} not restored: could not fetch it ({why}); run `gitmodels pull` once the "
                "model remote is reachable")
    if kind is Outcome.NOT_CACHED:
        return f"{art} not restored: {why}; run `gitmodels pull`"
    raise ValueError(f"{kind} is not a problem")  # RESTORED and UNCHANGED have no warning


def problem_lines(result: CheckoutResult, limit: int) -> list[str]:
    """A warning per model left as it was; past `limit` lines, the rest are counted in one last line."""
    lines = [problem_line(item) for item in result.problems]
    if len(lines) > limit:
        rest = len(lines) - limit + 1
        lines = lines[:limit - 1] + [f"... and {rest} more model(s) not restored; run `gitmodels pull`"]
    return lines


def bad_pointer_line(ppath: str, exc: GitModelsError) -> str:
    """The warning for a pointer file the hooks could not read, so its model was left alone."""
    hint = getattr(exc, "hint", "")
    return f"{exc}; its model was not restored" + (f" ({hint})" if hint else "")


def sparse_summary(count: int) -> str:
    return (f"{count} model{'s' if count != 1 else ''} outside the sparse checkout "
            f"{'were' if count != 1 else 'was'} skipped")
