"""End to end in headless Chromium: ``guanxi ui`` as a real process on the scored graph;
search a merchant by part of its Chinese name, open its cluster, record a decision on
the Cases page, find it in Neo4j, download the case's report and open it offline.

Debian's ``chromium`` and ``chromium-driver`` (``make browser`` installs them), driven
by Selenium pointed at /usr/bin, never a downloaded browser. Screenshots go to
``build/test-artifacts/`` (kept after the run, for people to look at).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import GUANXI, cli_env, free_port

from guanxi.graph.cases import CONFIRMED, list_cases
from guanxi.graph.scores import read_scores
from guanxi.ui import views

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTEFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
WAIT = 120  # seconds a step may take on a loaded 2-core machine before it counts as stuck
NOTE = "同一设备 and circular payments: confirmed by phone"
TITLE = "张记 & 李记 <刷单> see http://evil.example and www.evil.example, a@evil.example"


def _missing() -> list[str]:
    """What the test needs and this machine lacks, as install instructions."""
    missing = [f"{path} (apt-get install {package}, or `make browser`)"
               for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver"))
               if not path.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the Python package selenium (pip install selenium, or `make install`)")
    return missing


@pytest.fixture(scope="module")
def app(scored_graph: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``guanxi ui --headless`` on a free port, as a real process; its URL. Stopped
    (the whole process group: guanxi and its Streamlit child) at the end."""
    missing = _missing()
    if missing:
        pytest.fail("the browser test needs: " + "; ".join(missing))
    port = free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*GUANXI, "ui", "--headless", "--port", str(port)],
                                env=cli_env(scored_graph["env"]), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _healthy(url) or proc.poll() is not None, "the app to answer")
        assert proc.poll() is None, log.read_text()
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not _healthy(url), "the app still answers after it was stopped"


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(app: str, downloads: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1100", "--lang=zh-CN"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    # Naming the driver keeps Selenium Manager from trying to download one.
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _until(done: Callable[[], Any], what: str, wait: float = WAIT) -> Any:
    """Poll ``done`` until it returns something true; fail naming ``what`` after ``wait``."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(None, wait, poll_frequency=0.25).until(lambda _: done())
    except TimeoutException:
        pytest.fail(f"waited {wait} s for {what}")


def _find(driver: Any, xpath: str, what: str) -> Any:
    """The first visible element at ``xpath``, once there is one."""
    from selenium.webdriver.common.by import By

    def visible() -> Any:
        shown = [e for e in driver.find_elements(By.XPATH, xpath) if e.is_displayed()]
        return shown[0] if shown else None

    return _until(visible, what)


def _text_seen(driver: Any, text: str) -> None:
    t = _literal(text)
    # The innermost element holding the whole text (which may span a link inside it).
    _find(driver, f"//*[contains(normalize-space(.), {t}) and "
                  f"not(*[contains(normalize-space(.), {t})])]", f"the page to show {text!r}")


def _settled(driver: Any) -> None:
    """Wait until the page's script run has finished drawing (no element left stale
    from the run before, no "running" indicator), for a screenshot that shows it."""
    from selenium.webdriver.common.by import By

    _until(lambda: not driver.find_elements(By.CSS_SELECTOR, "[data-stale='true'], "
                                                             "[data-testid='stStatusWidget']"),
           "the page to finish its run")


def _literal(text: str) -> str:
    return f'"{text}"' if '"' not in text else f"'{text}'"


def _button(driver: Any, label: str) -> Any:
    return _find(driver, f"//button[normalize-space(.)={_literal(label)}]", f"button {label}")


def _searchable(graph: Any) -> tuple[str, str, str]:
    """A clustered merchant, a fragment of its Chinese name (two characters, the cjk
    index's bigram) that finds it first, and its cluster."""
    clustered = read_scores(graph).merchants.dropna(subset=["cluster_id"])
    for row in clustered.itertuples():
        name = views.node_details(graph, "", [row.merchant_id])["name"].iloc[0] or ""
        for i in range(len(name) - 1):
            part = name[i:i + 2]
            hits = views.search_merchants(graph, part)
            if len(hits) > 1 and hits["id"].iloc[0] == row.merchant_id:
                return row.merchant_id, part, row.cluster_id
    pytest.fail("no clustered merchant has a name fragment that finds it first")


def test_search_open_the_cluster_and_record_a_decision_in_chromium(
        scored_graph: dict, app: str, browser: Any, downloads: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    g = scored_graph["graph"]
    merchant, part, cluster = _searchable(g)

    # Merchant page: type part of the name, as an investigator would.
    browser.get(f"{app}/merchant")
    box = _find(browser, "//input[contains(@aria-label, 'Search by merchant id or name')]",
                "the search box")
    box.send_keys(part, Keys.ENTER)
    _text_seen(browser, f"In cluster {cluster}")
    link = _find(browser, f"//a[normalize-space(.)={_literal(cluster)}]", "the cluster's link")
    assert link.get_attribute("href").endswith(f"cluster?cluster={cluster}")

    # Cluster page, through that link: its network draws in the component's frame.
    browser.get(link.get_attribute("href"))
    _text_seen(browser, "Collusion score")
    frame = _find(browser, "//iframe[@title='st.iframe' or contains(@srcdoc, 'vis')]",
                  "the network's frame")
    browser.switch_to.frame(frame)
    _find(browser, "//div[@id='mynetwork']//canvas", "the network drawn")
    browser.switch_to.default_content()
    _settled(browser)
    browser.save_screenshot(str(ARTEFACTS / "cluster.png"))
    case_link = _find(browser, "//a[normalize-space(.)='Open a case on this cluster']",
                      "the link to open a case")

    # Cases page, filled in from the link: open, start, decide with a note.
    browser.get(case_link.get_attribute("href"))
    about = _find(browser, "//input[@aria-label='Cluster or merchant id']", "the case form")
    assert about.get_attribute("value") == cluster
    # A title as someone might type it: shown as typed, and no address in it is a link.
    _find(browser, "//input[@aria-label='Title (optional)']", "the title").send_keys(TITLE)
    _button(browser, "Open the case").click()
    _text_seen(browser, f"on cluster {cluster}.")
    [case] = list_cases(g, about=cluster)
    heading = _find(browser, f"//h2[contains(., '{case.id}')]", "the case's heading")
    assert heading.text.replace("\u2060", "") == f"{case.id}: {TITLE}"
    assert not [a for a in browser.find_elements(By.TAG_NAME, "a")
                if "evil.example" in (a.get_attribute("href") or "")]
    _find(browser, "//div[@role='radiogroup']//label[normalize-space(.)='In progress']",
          "the move to in progress").click()
    _button(browser, "Record").click()
    _text_seen(browser, f"{case.id} is now in progress.")
    _find(browser, "//div[@role='radiogroup']//label[normalize-space(.)='Confirmed fraud']",
          "the decision").click()
    note = _find(browser, "//textarea[contains(@aria-label, 'Decision note')]", "the note")
    note.send_keys(NOTE)
    _button(browser, "Record").click()
    _text_seen(browser, f"{case.id} is now confirmed fraud.")
    _text_seen(browser, "Decision: Confirmed fraud")
    _settled(browser)
    browser.execute_script("arguments[0].scrollIntoView()",
                           _find(browser, f"//h2[contains(., '{case.id}')]", "the case"))
    browser.save_screenshot(str(ARTEFACTS / "cases.png"))

    # Stored in Neo4j, under the name of the user running the app.
    [stored] = list_cases(g, about=cluster)
    assert (stored.id, stored.status, stored.decision_note) == (case.id, CONFIRMED, NOTE)
    assert stored.decided_by == getpass.getuser()
    members = read_scores(g).clusters.set_index("cluster_id").loc[cluster, "members"]
    assert stored.members == tuple(sorted(members))

    # The report, downloaded as a person would, then opened from disk.
    _button(browser, "Prepare the HTML report").click()
    _button(browser, "Download the report").click()
    report = downloads / f"case-{case.id}.html"
    _until(report.exists, "the report to download")
    text = report.read_text(encoding="utf-8")
    assert NOTE in text and "confirmed fraud" in text and case.id in text
    for old in ARTEFACTS.glob("case-*.html"):  # an earlier run's case
        old.unlink()
    shutil.copy(report, ARTEFACTS / report.name)
    browser.get(report.as_uri())
    _text_seen(browser, "Audit trail")
    browser.switch_to.frame(_find(browser, "//iframe[@title='network']", "the report's network"))
    _find(browser, "//div[@id='mynetwork']//canvas", "the report's network drawn")
    browser.switch_to.default_content()
    browser.save_screenshot(str(ARTEFACTS / "report.png"))
