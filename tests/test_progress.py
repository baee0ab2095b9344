"""The progress line fits the terminal, redraws in place, shows an ETA only once it means something."""

from __future__ import annotations

import io

from gitmodels.progress import CLEAR_EOL, Bar, wanted
from tests.gitutil import git, gitmodels, model_bytes

MiB = 1024 * 1024
LONG_LABEL = "pushing to team-models-eu-west-1-production-bucket-with-a-long-name"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drawn_lines(text: str) -> list[str]:
    """What the terminal shows after each redraw: the text between carriage returns, without the clear."""
    return [seg.replace(CLEAR_EOL, "") for seg in text.split("\r") if seg.replace(CLEAR_EOL, "")]


def test_push_line_fits_an_80_column_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = io.StringIO()
    bar = Bar(LONG_LABEL, True, out)
    bar.set_total(12, 5 * 1024 * MiB)
    bar(1100 * MiB)  # 22%: the first call draws
    bar.close()
    (line,) = drawn_lines(out.getvalue())
    assert len(line) <= 79, line  # the last column is left free: writing into it wraps on some terminals
    assert "(21%)" in line and line.startswith("pushing to team-models")


def test_redraw_in_place_and_clear_on_close():
    out, clock = io.StringIO(), Clock()
    bar = Bar("pushing to origin", True, out, columns=40, clock=clock)
    bar.set_total(1, 100 * MiB)
    for _ in range(5):
        bar(10 * MiB)
        clock.now += 0.5
    bar.close()
    writes = out.getvalue()
    assert "\n" not in writes
    draws = writes.split("\r")[1:]
    assert len(draws) == 6  # five redraws and the clearing one
    assert all(d.endswith(CLEAR_EOL) for d in draws)  # whatever a longer line left behind is erased
    assert draws[-1] == CLEAR_EOL
    assert all(len(line) <= 39 for line in drawn_lines(writes))


def test_narrow_terminals_drop_the_least_important_fields_first():
    clock = Clock()
    bar = Bar("pushing to origin", True, io.StringIO(), clock=clock)
    bar.set_total(3, 1000 * MiB)
    for _ in range(10):  # 10 s at 20 MiB/s: 20% done, rate and ETA known
        clock.now += 1
        bar(20 * MiB)
    seen = []
    for columns in range(120, 8, -1):
        bar.columns = columns
        line = bar.render()
        assert len(line) <= columns - 1, (columns, line)
        seen.append(line)
    full = seen[0]
    assert full == "pushing to origin: 200.0 MiB / 1000.0 MiB (20%)  20.0 MiB/s  ETA 0:40  3 object(s)"
    order = ["3 object(s)", "MiB/s", "ETA", "200.0 MiB / 1000.0 MiB", "pushing to origin"]
    gone_at = [next(i for i, line in enumerate(seen) if part not in line) for part in order]
    assert gone_at == sorted(gone_at) and len(set(gone_at)) == len(order)
    assert "pushing to...: (20%)" in seen
    assert all("(20%)" in line for line in seen if len(line) >= 5)


def test_no_eta_until_it_means_something():
    out, clock = io.StringIO(), Clock()
    bar = Bar("pushing to origin", True, out, columns=200, clock=clock)
    bar.set_total(1, 1000 * MiB)
    clock.now += 0.2
    bar(220 * MiB)  # a burst (chunks the remote already had): 22% in 0.2 s
    assert "ETA" not in bar.render()
    clock.now += 2
    bar(MiB)
    assert "ETA" not in bar.render()  # still under 3 s
    for _ in range(20):  # then 10 MiB/s, steady
        clock.now += 1
        bar(10 * MiB)
    line = bar.render()
    # 579 MiB left at the last 5 s's 10 MiB/s: 58 s, not the 16 s the start's burst would say.
    assert "ETA 0:58" in line and "10.0 MiB/s" in line, line
    assert "ETA 0:00" not in out.getvalue()


def test_eta_never_reads_zero_while_bytes_are_left():
    clock = Clock()
    bar = Bar("fetching from origin", True, io.StringIO(), columns=200, clock=clock)
    bar.set_total(1, 100 * MiB)
    for _ in range(10):
        clock.now += 1
        bar(10 * MiB - 1)
    assert "ETA 0:01" in bar.render()


def test_quiet_off_a_terminal_and_in_hooks(monkeypatch):
    assert wanted() is False  # pytest's stderr is not a terminal
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    monkeypatch.setenv("GITMODELS_HOOK", "1")
    assert wanted() is False
    out = io.StringIO()
    bar = Bar("pushing to origin", wanted(), out)
    bar.set_total(1, MiB)
    bar(MiB)
    bar.close()
    assert out.getvalue() == ""


def test_push_through_a_pipe_draws_nothing(repo):
    (repo / "m.bin").write_bytes(model_bytes("m", 3 * MiB))
    gitmodels(repo, "add", "m.bin")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "m")
    pushed = gitmodels(repo, "push")
    assert "pushed: 1 object(s)" in pushed.stdout
    assert "\r" not in pushed.stderr and CLEAR_EOL not in pushed.stderr
