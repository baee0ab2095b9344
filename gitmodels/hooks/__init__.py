"""Git hooks: the scripts of the top-level `hooks/` folder, installed by `install`, land in `events`
(post-checkout, post-merge, post-rewrite, pre-push) and `commit_policy` (pre-commit).

An installed hook is a few lines of POSIX shell (docs/hooks.md). It runs any
hook that was there before, asks git itself whether a pointer (`*.gitmodel`)
is involved, and only then starts Python: `gitmodels hook NAME ...` lands in
the entry points of `events` and `commit_policy`.

- pre_push / pre_commit raise HookRefused, which stops git;
- post_checkout / post_merge / post_rewrite never raise for a model problem:
  they return a HookReport whose warnings the CLI prints, and git goes on
  (the warnings' words come from workspace/report.py, one per restore outcome).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterable

from gitmodels.errors import HookFailed

MAX_LISTED = 10                        # problems listed one per line before "and N more"


class HookRefused(HookFailed):
    """A hook that stops git: one summary line, a hint, and the problems one per line."""

    def __init__(self, message: str, hint: str, details: Iterable[str] = ()):
        super().__init__(message, hint)
        self.details = list(details)


@dataclasses.dataclass
class HookReport:
    info: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)


def skipped() -> bool:
    """GITMODELS_SKIP set to anything but '' or '0' turns every hook into a no-op.

    Asked once per hook run, by the `gitmodels hook NAME` dispatcher (cli/hooks_cmd.py)
    that every installed script goes through, so the entry points below never ask
    again; `install.hooks_warning` asks too, for commands: skipping hooks on purpose
    is no reason to warn that they are missing.
    """
    return os.environ.get("GITMODELS_SKIP", "") not in ("", "0")


def _merge(into: HookReport, other: HookReport) -> None:
    into.info.extend(other.info)
    into.warnings.extend(other.warnings)


