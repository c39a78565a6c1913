"""The teaching page in a real browser: `cartsim viz` served offline, driven with Chromium.

Needs Debian's chromium and the page's browser files (``make test`` provides both: it installs
chromium when missing and runs ``make viz-assets``). The screenshot is saved in the test's
temporary folder (its path is printed; pytest keeps the last few runs).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from cartsim.viz.offline_assets import missing_specs

from .conftest import ROOT

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Timeouts only stop a broken page from hanging the suite; they are generous so that a slow or
# loaded machine (load 10 on 2 cores) never fails a test that waits for the state it needs.
LOAD_TIMEOUT_MS = 180_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`cartsim viz` (the classroom experiment) on a free port; yields its address."""
    assert shutil.which("chromium"), "Chromium is missing: `make test` installs it (apt-get install chromium)"
    assert not missing_specs(), "the page's browser files are missing: run `make viz-assets`"
    port = free_port()
    log_path = tmp_path_factory.mktemp("viz-server") / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cartsim.cli", "viz", "--port", str(port)],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + LOAD_TIMEOUT_MS / 1000
        while True:
            assert proc.poll() is None, f"cartsim viz exited:\n{log_path.read_text()}"
            try:
                with urllib.request.urlopen(url + "/", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"cartsim viz did not answer:\n{log_path.read_text()}"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Watcher:
    """Records requests that leave the server and responses that failed."""

    def __init__(self, page, url: str):
        self.outside: list[str] = []
        self.failed: list[str] = []
        page.on("request", lambda r: None if r.url.startswith((url, "data:", "blob:"))
                else self.outside.append(r.url))
        page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 950})
    page.set_default_timeout(LOAD_TIMEOUT_MS)  # clicks and waits on a loaded machine
    watcher = Watcher(page, url)
    page.goto(url + "/")
    page.get_by_text("Time: ").wait_for(timeout=LOAD_TIMEOUT_MS)
    page.locator("img.cartsim-tissue").wait_for(timeout=LOAD_TIMEOUT_MS)
    return page, watcher


def mesa_time(page) -> float:
    text = page.get_by_text("Time: ").inner_text()
    return float(text.removeprefix("Time: "))


def wait_for(predicate, timeout=120.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def settled_time(page, window: float, timeout: float = 60.0) -> float:
    """Mesa time once it has stopped changing: equal at two polls ``window`` seconds apart."""
    deadline = time.monotonic() + timeout
    last = mesa_time(page)
    while True:
        page.wait_for_timeout(window * 1000)
        now = mesa_time(page)
        if now == last:
            return now
        assert time.monotonic() < deadline, f"Mesa time still changing after {timeout} s ({last} -> {now})"
        last = now


def tissue_pixels(page) -> bytes:
    return page.locator("img.cartsim-tissue").screenshot()


def cart_count(page) -> int:
    text = page.locator(".cartsim-now").inner_text()
    return int(re.search(r"([\d,]+) CAR-T cells", text).group(1).replace(",", ""))


def test_page_steps_resets_with_new_dose_plays_and_pauses(server, browser, tmp_path):
    from cartsim.viz.app import PLAY_INTERVAL_MS

    page, watcher = open_page(browser, server)

    # The tissue is drawn as one image, one pixel per site of the 80×80 classroom tissue.
    size = page.locator("img.cartsim-tissue").evaluate(
        "img => [img.complete, img.naturalWidth, img.naturalHeight]")
    assert size == [True, 80, 80]
    assert mesa_time(page) == 0.0
    assert "Day 0.00" in page.locator(".cartsim-day").inner_text()
    before = tissue_pixels(page)

    # Step: time advances by one hour and the picture changes (tumor cells divide).
    started = time.monotonic()
    page.get_by_role("button", name="Step").click()
    wait_for(lambda: mesa_time(page) == 1.0, what="Time: 1.0")
    step_seconds = time.monotonic() - started  # how long one step takes on this machine, now
    wait_for(lambda: "Day 0.04" in page.locator(".cartsim-day").inner_text(), what="day 0.04")
    wait_for(lambda: tissue_pixels(page) != before, what="a new tissue image")

    # A higher dose, given on day 0: the slider changes nothing until Reset restarts the model.
    dose = page.get_by_role("slider", name="Dose (CAR-T cells)")
    dose.focus()
    dose.press("End")
    wait_for(lambda: dose.get_attribute("aria-valuenow") == "2000", what="dose 2000")
    day = page.get_by_role("slider", name="Infusion day")
    day.focus()
    day.press("Home")
    wait_for(lambda: day.get_attribute("aria-valuenow") == "0", what="infusion day 0")
    assert "dose 300 CAR-T cells" in page.locator(".cartsim-run").inner_text()
    page.get_by_role("button", name="Reset").click()
    wait_for(lambda: mesa_time(page) == 0.0, what="Time: 0.0 after Reset")
    wait_for(lambda: "dose 2,000 CAR-T cells" in page.locator(".cartsim-run").inner_text()
             and "on day 0" in page.locator(".cartsim-run").inner_text(), what="the new run")
    started = time.monotonic()
    page.get_by_role("button", name="Step").click()
    wait_for(lambda: mesa_time(page) == 1.0, what="Time: 1.0 after Reset")
    step_seconds = max(step_seconds, time.monotonic() - started)
    # All 2,000 entered on day 0 (a few may already have divided or died): far above 300.
    wait_for(lambda: cart_count(page) > 1500, what="about 2,000 CAR-T cells")

    # Play runs several steps by itself; Pause stops it.
    page.get_by_role("button", name="▶").click()
    wait_for(lambda: mesa_time(page) >= 4.0, what="playing")
    page.get_by_role("button", name="❚❚").click()
    page.get_by_role("button", name="▶").wait_for()  # Pause acknowledged
    acknowledged = mesa_time(page)
    # A step already under way when Pause was pressed still finishes, then time stops: at most
    # one step later, whatever the machine's speed.
    paused_at = settled_time(page, window=2 * (step_seconds + PLAY_INTERVAL_MS / 1000))
    assert acknowledged <= paused_at <= acknowledged + 1.0
    assert page.get_by_role("button", name="Step").is_enabled()
    page.get_by_role("button", name="Step").click()
    wait_for(lambda: mesa_time(page) == paused_at + 1.0, what="one step after Pause")

    shot = tmp_path / "teaching_page.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000

    # Offline: every file came from the cartsim server, and none was missing.
    assert watcher.outside == []
    assert watcher.failed == []
    page.close()


def test_each_browser_session_has_its_own_model(server, browser):
    first, _ = open_page(browser, server)
    second, _ = open_page(browser, server)
    for _ in range(2):
        first.get_by_role("button", name="Step").click()
    wait_for(lambda: mesa_time(first) == 2.0, what="Time: 2.0 in the first tab")
    second.get_by_role("button", name="Step").click()
    wait_for(lambda: mesa_time(second) == 1.0, what="Time: 1.0 in the second tab")
    assert mesa_time(first) == 2.0
    first.close()
    second.close()


def test_a_treatment_switch_and_slider_change_the_model_at_reset(server, browser):
    page, watcher = open_page(browser, server)
    run = page.locator(".cartsim-run")
    assert "Also:" not in run.inner_text()  # the classroom experiment: no treatments

    switch = page.get_by_role("checkbox", name="Lymphodepletion before the dose")
    assert switch.get_attribute("aria-checked") == "false"
    # Vuetify draws its own box over the input: click the label, as a student does.
    page.locator("label", has_text="Lymphodepletion before the dose").click()
    wait_for(lambda: switch.get_attribute("aria-checked") == "true", what="the switch on")
    radiation = page.get_by_role("slider", name="Radiation before the dose (Gy)")
    radiation.focus()
    radiation.press("End")
    wait_for(lambda: radiation.get_attribute("aria-valuenow") == "10", what="10 Gy")
    assert "Also:" not in run.inner_text()  # nothing changes until Reset

    page.get_by_role("button", name="Reset").click()
    wait_for(lambda: "lymphodepletion from day 0" in run.inner_text()
             and "10 Gy radiation on day 1.5" in run.inner_text(), what="the new run's treatments")
    assert mesa_time(page) == 0.0

    # Switched off again: the next Reset's model has no lymphodepletion.
    page.locator("label", has_text="Lymphodepletion before the dose").click()
    wait_for(lambda: switch.get_attribute("aria-checked") == "false", what="the switch off")
    page.get_by_role("button", name="Reset").click()
    wait_for(lambda: "lymphodepletion" not in run.inner_text()
             and "10 Gy radiation" in run.inner_text(), what="a run without lymphodepletion")
    assert watcher.outside == [] and watcher.failed == []
    page.close()
