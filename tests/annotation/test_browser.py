"""The annotate page in a real browser (Debian's headless Chromium, driven by Selenium): label a cluster and
move a stray with the keyboard, kill the server, restart it, find the page as it was, export, read the CSV."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request

import pytest

from conftest import REPO
from .tiny_dataset import write_features_dataset

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver: apt-get install -y chromium "
    "chromium-driver (.ci/run installs them)")]
SCREENSHOT = os.environ.get("ANNOTATE_SCREENSHOT")  # set to a .png path to keep a picture of the page


def start_server(args: list[str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(REPO / "launch" / "annotate.py"), "--port", "0", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    seen = []
    for line in proc.stdout:
        seen.append(line)
        found = re.search(r"serving (http://127\.0\.0\.1:\d+/)", line)
        if found:
            return proc, found.group(1)
    raise AssertionError("the server did not start:\n" + "".join(seen))


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium (the test extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def wait_for(driver, condition, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def text(driver, css: str) -> str:
    return driver.find_element("css selector", css).text


def test_label_move_restart_export_in_chromium(tmp_path, browser):
    folder, features = write_features_dataset(tmp_path)
    out = tmp_path / "ann"
    server, url = start_server(["--out", str(out), "--features", str(features), "--data", "imagefolder",
                                "--data-root", str(folder), "--k", "3"])
    try:
        browser.get(url)
        wait_for(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1")
        cells = browser.find_elements("css selector", "#grid .cell img")
        assert len(cells) == 12
        keys = [c.get_attribute("alt") for c in cells]
        shown = int(browser.find_element("css selector", "#cluster-list li.current").get_attribute("data-cluster"))
        name = keys[0].split("/")[0]  # the class of the image nearest the centroid
        assert keys[-1].split("/")[0] != name  # the stray comes last

        body = browser.find_element("tag name", "body")
        body.send_keys("n")  # name the cluster with the keyboard
        browser.switch_to.active_element.send_keys(name + "\n")
        wait_for(browser, lambda d: text(d, "#progress-text").startswith("12 / 36 labelled"))
        assert text(browser, "#cluster-title") == name

        state = get(url + "api/state")
        target = next(c["id"] for c in state["clusters"]
                      if get(f"{url}api/clusters/{c['id']}/members?limit=1")["members"][0]["key"].split("/")[0]
                      == keys[-1].split("/")[0])
        browser.find_elements("css selector", "#grid .cell")[-1].click()  # select the stray
        assert text(browser, "#selection-count") == "1 image selected"
        body.send_keys("m")
        browser.switch_to.active_element.send_keys(f"{target}\n")
        wait_for(browser, lambda d: "2 actions" in text(d, "#progress-text"))
        assert text(browser, "#progress-text").startswith("11 / 36 labelled")
        assert len(browser.find_elements("css selector", "#grid .cell")) == 11
    finally:
        server.send_signal(signal.SIGKILL)  # no clean shutdown: what was acknowledged must be on disk
        server.wait()

    server, url = start_server(["--out", str(out)])  # resume: the folder alone
    try:
        browser.get(f"{url}#c={target}")
        wait_for(browser, lambda d: d.find_element("tag name", "body").get_attribute("data-ready") == "1")
        assert re.match(r"11 / 36 labelled .* 2 / 3 clusters left .* 2 actions", text(browser, "#progress-text"))
        sidebar = [li.text.split("\n")[0] for li in browser.find_elements("css selector", "#cluster-list li")]
        assert name in sidebar and sidebar.count(name) == 1
        last = browser.find_elements("css selector", "#grid .cell")[-1]
        assert last.find_element("tag name", "img").get_attribute("alt") == keys[-1] and "moved" in last.text
        if SCREENSHOT:
            browser.save_screenshot(SCREENSHOT)

        browser.find_element("id", "export-button").click()
        wait_for(browser, lambda d: "Exported" in text(d, "#toast"))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    with open(out / "export" / "labels.csv", newline="") as f:
        rows = {r["key"]: r for r in csv.DictReader(f)}
    assert len(rows) == 36
    assert sum(r["label"] == name and r["source"] == "cluster" for r in rows.values()) == 11
    assert rows[keys[-1]]["label"] == "" and int(rows[keys[-1]]["cluster"]) == target
    assert all(rows[k]["label"] == name for k in keys[:-1]) and shown != target
    assert len(list((out / "export" / "imagefolder" / name).iterdir())) == 11
