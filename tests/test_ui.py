"""`gitmodels ui` and `gitmodels report` in a real headless Chromium (Debian's chromium + chromedriver via Selenium).

The scratch repository: two models saved with metrics and params over three commits on main, one
more version of `models/a.bin` on a branch `exp`, and a tag. Every expected value is read back from
the committed pointers with `git show` and tomllib, not from gitmodels. Screenshots of each page go
to $GITMODELS_UI_SCREENSHOTS (when set) or the test's tmp dir.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.gitutil import git, gitmodels
from tests.seeded import seeded_bytes

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

INSTALL = "apt-get update && apt-get install -y chromium chromium-driver"
# Read at import: the autouse isolation fixture drops GITMODELS_* variables before each test.
SHOTS_DIR = os.environ.get("GITMODELS_UI_SCREENSHOTS")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000"]


def _browser_paths() -> tuple[str, str]:
    binary = "/usr/lib/chromium/chromium" if os.path.exists("/usr/lib/chromium/chromium") else shutil.which("chromium")
    driver = shutil.which("chromedriver") or ("/usr/lib/chromium/chromedriver"
                                              if os.path.exists("/usr/lib/chromium/chromedriver") else None)
    if not binary or not driver:
        pytest.fail(f"the browser tests need Debian's chromium and its driver: {INSTALL}", pytrace=False)
    return binary, driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary, driver_path = _browser_paths()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ModuleNotFoundError:
        pytest.fail('the browser tests need selenium: python -m pip install -e ".[test]"', pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for flag in FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(SHOTS_DIR or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# -- the scratch repository --------------------------------------------------------------------


def _commit(work: Path, message: str, tick: int) -> str:
    when = f"2026-01-0{1 + tick // 24}T{tick % 24:02d}:00:00+00:00"
    git(work, "commit", "-qm", message, extra_env={"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when})
    return git(work, "rev-parse", "HEAD").stdout.strip()


def _save(work: Path, rel: str, seed: int, metrics: dict, params: dict) -> None:
    import gitmodels
    from gitmodels.repo import Repo

    (work / rel).parent.mkdir(parents=True, exist_ok=True)
    (work / rel).write_bytes(seeded_bytes(seed, 1000 + seed))
    with Repo(str(work)) as repo:
        gitmodels.save(str(work / rel), None, metrics=metrics, params=params, repo=repo)


@pytest.fixture
def scratch(repo) -> Path:
    """models/a.bin: 3 versions on main, a 4th on branch exp; models/b.bin: 3 versions; tag v1.0 on main~1."""
    aucs, losses = [0.71, 0.78, 0.74], [0.9, 0.5, 0.55]
    for i in range(3):
        _save(repo, "models/a.bin", i, {"auc": aucs[i], "loss": losses[i]}, {"depth": 3 + i})
        b_metrics = {"acc": 0.5 + i / 10, **({"drift": float("nan")} if i == 2 else {})}  # TOML allows nan
        _save(repo, "models/b.bin", 10 + i, b_metrics, {"C": 1.0 * (i + 1)})
        _commit(repo, f"train run {i + 1}", i + 1)
    git(repo, "tag", "v1.0", "HEAD~1")
    git(repo, "switch", "-qc", "exp")
    _save(repo, "models/a.bin", 7, {"auc": 0.83, "loss": 0.4}, {"depth": 9})
    _commit(repo, "deeper trees", 10)
    git(repo, "switch", "-q", "main")
    return repo


def pointer_at(work: Path, commit: str, rel: str) -> dict:
    return tomllib.loads(git(work, "show", f"{commit}:{rel}.gitmodel").stdout)


def versions_from_git(work: Path, rel: str, rev: str) -> list[str]:
    """Commits that changed the pointer, oldest first, as git itself lists them."""
    out = git(work, "log", "--format=%H", "--reverse", rev, "--", f"{rel}.gitmodel").stdout.split()
    return out


@pytest.fixture
def ui_server(scratch):
    proc = subprocess.Popen([sys.executable, "-m", "gitmodels", "ui"], cwd=scratch, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "http://127.0.0.1:" not in line:
        proc.kill()
        raise AssertionError(f"gitmodels ui did not print its URL: {line!r} {proc.stderr.read()}")
    url = line.split()[2]
    yield url, scratch
    proc.terminate()
    proc.wait(10)


# -- page helpers --------------------------------------------------------------------------------


def wait_ready(driver, timeout: float = 15) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = driver.execute_script("return document.body && document.body.dataset.state")
        if state == "ready":
            return
        if state == "error":
            raise AssertionError("page error: " + driver.find_element("id", "error").text)
        time.sleep(0.05)
    raise AssertionError(f"page not ready: {driver.page_source[:2000]}")


def go(driver, url: str) -> None:
    driver.get(url)
    wait_ready(driver)


def table_rows(driver, table_id: str) -> list[list[str]]:
    return driver.execute_script(
        "return [...document.querySelectorAll(`#${arguments[0]} tbody tr`)].map(tr => [...tr.cells].map(td => td.textContent))",
        table_id)


def plot_points(driver, metric: str) -> list[dict]:
    return driver.execute_script(
        "return [...document.querySelectorAll(`svg[data-metric='${arguments[0]}'] circle.point`)].map(c => ({"
        "commit: c.dataset.commit, value: parseFloat(c.dataset.value), lane: c.dataset.lane, fill: c.getAttribute('fill'),"
        "cx: parseFloat(c.getAttribute('cx')), cy: parseFloat(c.getAttribute('cy')), title: c.querySelector('title').textContent}))",
        metric)


def check_model_page(driver, work: Path) -> None:
    """The versions table and the auc plot show every version of models/a.bin with the pointers' metrics."""
    main = versions_from_git(work, "models/a.bin", "main")
    exp_only = [c for c in versions_from_git(work, "models/a.bin", "exp") if c not in main]
    assert len(main) == 3 and len(exp_only) == 1
    rows = driver.execute_script("return [...document.querySelectorAll('#versions tbody tr')].map(tr => tr.dataset.commit)")
    assert rows == main + exp_only  # commit order, the branch's version last (it is the newest)
    for metric in ("auc", "loss"):
        points = plot_points(driver, metric)
        assert {p["commit"]: p["value"] for p in points} == \
            {c: pointer_at(work, c, "models/a.bin")["metrics"][metric] for c in main + exp_only}
        by_commit = {p["commit"]: p for p in points}
        assert {by_commit[c]["lane"] for c in main} == {"main"} and by_commit[exp_only[0]]["lane"] == "exp"
        assert by_commit[exp_only[0]]["fill"] != by_commit[main[0]]["fill"]  # the other branch stands out
        xs = [by_commit[c]["cx"] for c in main + exp_only]
        assert xs == sorted(xs) and len(set(xs)) == 4  # x = commit order
        for c in main:  # a higher value is drawn higher (smaller y)
            for d in main:
                if by_commit[c]["value"] > by_commit[d]["value"]:
                    assert by_commit[c]["cy"] < by_commit[d]["cy"]
        assert all(p["commit"][:8] in p["title"] for p in points)


def check_diff(driver, work: Path, old: str, new: str) -> None:
    expected = json.loads(gitmodels(work, "diff", old, new, "--json", "-p", "models/a.bin").stdout)
    change = next(c for c in expected["changes"] if c["path"] == "models/a.bin")
    rows = {r[0]: r[1:] for r in table_rows(driver, "diff-metrics")}
    assert set(rows) == {m["name"] for m in change["metrics"]}
    for m in change["metrics"]:
        old_text, new_text, delta_text = rows[m["name"]]
        assert float(old_text) == pytest.approx(m["old"], rel=1e-5)
        assert float(new_text) == pytest.approx(m["new"], rel=1e-5)
        assert float(delta_text) == pytest.approx(m["delta"], rel=1e-5)
    params = {r[0]: r[1:] for r in table_rows(driver, "diff-params")}
    assert {p["name"]: [str(p["old"]), str(p["new"])] for p in change["params"]} == params
    assert driver.find_element("id", "diff-change").text == change["change"]


# -- tests ----------------------------------------------------------------------------------------


def test_ui_models_versions_plot_sort_diff_and_provenance(browser, ui_server, shots):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select

    url, work = ui_server
    go(browser, url)
    models = table_rows(browser, "models")
    assert [r[0] for r in models] == ["models/a.bin", "models/b.bin"]
    assert "exp" in models[0][7] and "main" in models[0][7] and models[0][4] == "cache"
    browser.save_screenshot(str(shots / "ui-models.png"))

    browser.find_element("link text", "models/a.bin").click()
    wait_ready(browser)
    check_model_page(browser, work)
    # Names: the tag sits on the version of main~1, the branch names on their tips' versions.
    main = versions_from_git(work, "models/a.bin", "main")
    names = dict(browser.execute_script(
        "return [...document.querySelectorAll('#versions tbody tr')].map(tr => [tr.dataset.commit, tr.cells[4].textContent])"))
    assert names[main[1]] == "v1.0" and names[main[2]] == "main" and names[main[0]] == ""
    # Hover: the tooltip names the commit.
    point = browser.find_elements("css selector", "svg[data-metric='auc'] circle.point")[1]
    ActionChains(browser).move_to_element(point).perform()
    tip = browser.find_element("id", "tip")
    assert tip.is_displayed() and point.get_attribute("data-commit")[:8] in tip.text
    browser.save_screenshot(str(shots / "ui-model.png"))

    # Sorting by a metric column, then the other way.
    def order():
        return browser.execute_script("return [...document.querySelectorAll('#versions tbody tr')].map(tr => tr.dataset.commit)")
    all_versions = order()
    auc = {c: pointer_at(work, c, "models/a.bin")["metrics"]["auc"] for c in all_versions}
    header = browser.find_element("css selector", "#versions th[data-col='auc']")
    header.click()
    assert order() == sorted(all_versions, key=auc.get) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert order() == sorted(all_versions, key=auc.get, reverse=True)
    browser.find_element("css selector", "#versions th[data-col='#']").click()
    assert order() == all_versions

    # Diff of the first and the third version on main.
    Select(browser.find_element("id", "diff-a")).select_by_value(main[0])
    Select(browser.find_element("id", "diff-b")).select_by_value(main[2])
    browser.find_element("id", "diff-go").click()
    wait_ready(browser)
    check_diff(browser, work, main[0], main[2])
    browser.save_screenshot(str(shots / "ui-diff.png"))

    # Provenance of a version: the [git] table the pointer recorded.
    browser.get(f"{url}#model=models/a.bin&version={main[1]}")
    wait_ready(browser)
    text = browser.find_element("id", "provenance").text
    recorded = pointer_at(work, main[1], "models/a.bin")["git"]
    assert "[git]" in text and recorded["commit"] in text and recorded["branch"] in text
    browser.save_screenshot(str(shots / "ui-version.png"))


def test_report_opens_from_disk_without_network(browser, scratch, tmp_path, shots):
    site = tmp_path / "site"
    out = gitmodels(scratch, "report", "-o", str(site)).stdout
    assert "2 model(s), 7 version(s)" in out
    assert sorted(p.name for p in site.iterdir()) == ["data.js", "index.html", "static"]
    go(browser, (site / "index.html").as_uri())
    assert [r[0] for r in table_rows(browser, "models")] == ["models/a.bin", "models/b.bin"]
    browser.save_screenshot(str(shots / "report-models.png"))
    browser.find_element("link text", "models/a.bin").click()
    wait_ready(browser)
    check_model_page(browser, scratch)
    browser.save_screenshot(str(shots / "report-model.png"))
    main = versions_from_git(scratch, "models/a.bin", "main")
    exp = git(scratch, "rev-parse", "exp").stdout.strip()
    browser.get(f"{(site / 'index.html').as_uri()}#model=models/a.bin&a={main[2]}&b={exp}")
    wait_ready(browser)
    check_diff(browser, scratch, main[2], exp)
    browser.save_screenshot(str(shots / "report-diff.png"))
    # Everything the page loads is a file next to it; no asset names a network address.
    loaded = browser.execute_script(
        "return [...document.scripts].map(s => s.src).concat([...document.querySelectorAll('link')].map(l => l.href))")
    assert len(loaded) == 3 and all(u.startswith(site.as_uri() + "/") for u in loaded)
    for asset in (site / "static").iterdir():
        urls = set(re.findall(r"https?://[^\s\"'`)]+", asset.read_text())) - {"http://www.w3.org/2000/svg"}
        assert not urls, (asset.name, urls)


def _get(url: str, raw_path: str, host: str | None = None) -> tuple[int, bytes]:
    hostport = url.split("//")[1].rstrip("/")
    conn = http.client.HTTPConnection(hostport, timeout=10)
    conn.putrequest("GET", raw_path, skip_host=True)
    conn.putheader("Host", host or hostport)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


@pytest.mark.parametrize("raw", [
    "/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/static/..%2f..%2f..%2fetc%2fpasswd",
    "/static/%252e%252e/etc/passwd", "/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
    "/static/app.js/../../../../etc/passwd", "/static//etc/passwd", "/static/..\\..\\etc\\passwd",
    "/api/model?path=../../../../etc/passwd", "/api/model?path=%2Fetc%2Fpasswd", "/api/model?path=models/../../x",
    "/api/version?path=../../etc/passwd&commit=0000000000000000000000000000000000000000",
    "/api/version?path=models/a.bin&commit=HEAD", "/api/nothing", "/.git/config", "/gitmodels.toml",
])
def test_server_serves_nothing_outside_the_repo_data(ui_server, raw):
    url, _ = ui_server
    status, body = _get(url, raw)
    assert status == 404, (raw, status, body[:200])
    assert b"root:" not in body and b"[core]" not in body


def test_server_answers_pages_and_api_on_loopback_only(ui_server):
    url, work = ui_server
    assert url.startswith("http://127.0.0.1:")
    assert _get(url, "/")[0] == 200 and b"static/app.js" in _get(url, "/")[1]
    assert _get(url, "/static/app.js")[0] == 200
    status, body = _get(url, "/api/model?path=models/b.bin")
    assert status == 200
    doc = json.loads(body, parse_constant=lambda c: pytest.fail(f"{c} is not JSON a browser parses"))
    assert [v["metrics"]["acc"] for v in doc["versions"]] == [0.5, 0.6, 0.7]
    assert doc["versions"][2]["metrics"]["drift"] == "nan"
    assert _get(url, "/api/index", host="evil.example:80")[0] == 403  # DNS rebinding


def test_ui_on_a_busy_port_says_so(scratch):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = gitmodels(scratch, "ui", "--port", str(port), check=False, timeout=30)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"gitmodels: cannot listen on 127.0.0.1:{port}" in result.stderr and "hint: choose another --port" in result.stderr
