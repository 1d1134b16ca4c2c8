"""Phase 2: the console in a real browser -- headless Chromium from Debian (`chromium`,
`chromium-driver`, installed by scripts/test.sh) driven with Selenium: a wrong admin key is
refused, the right one signs in, the live numbers move under a small load, the usage page
shows totals, the request log filters, and a failed-over request and a recovered stream
show their timelines. Without Chromium the test fails and says what to install.

Screenshots of each page go to GPT_API_TESTS/artifacts/console/ (not committed).
"""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from console_support import ADMIN_KEY, KEY_B, console_gateway, send_traffic, wait_for_rows
from helpers import msgs, sdk

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "console"


@pytest.fixture
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: pip install -r GPT_API_TESTS/requirements.txt")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("Chromium not found: apt-get install chromium chromium-driver "
                    "(scripts/test.sh installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def test_console_in_a_browser(gateway, mocks, monkeypatch, browser):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    gw, a, _ = console_gateway(gateway, mocks, monkeypatch)
    traffic = send_traffic(gw, a)
    wait_for_rows(gw, traffic.all())
    # The page re-renders its tables while a wait reads them: a row read as it is replaced
    # is read again at the next poll.
    wait = WebDriverWait(browser, 15, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException])
    text = lambda element_id: browser.find_element(By.ID, element_id).text  # noqa: E731
    visible = lambda element_id: browser.find_element(By.ID, element_id).is_displayed()  # noqa: E731

    def sign_in(key: str) -> None:
        field = browser.find_element(By.ID, "login-key")
        field.clear()
        field.send_keys(key)
        browser.find_element(By.ID, "login-button").click()

    browser.get(gw.url + "/console")
    shot(browser, "01-login")
    sign_in("not-the-admin-key")
    wait.until(lambda _: visible("login-error") and "Wrong admin key" in text("login-error"))
    assert not visible("app")
    shot(browser, "02-wrong-key")

    sign_in(ADMIN_KEY)
    wait.until(lambda _: visible("app") and text("now-rps") not in ("", "–"))
    # A small bounded load: the sampled figures must move while the page refreshes itself.
    stop = threading.Event()

    def load():
        # team-b on model n: none of it may match the request-log filter below (team-a on b;
        # model m sends one request in 101 to b).
        client = sdk(gw, key=KEY_B)
        for n in range(400):
            if stop.is_set():
                return
            client.chat.completions.create(model="n", messages=msgs(f"load {n}"))

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    try:
        first = text("now-window")
        wait.until(lambda _: text("now-window") != first and float(text("now-rps").replace(",", "")) > 0)
        wait.until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, "#now-breakers tbody tr")) == 3)
        assert "a/m" in text("now-breakers")
        assert text("now-latency") != "– / –"
        shot(browser, "03-now")
    finally:
        stop.set()
        worker.join(30)

    browser.find_element(By.ID, "tab-usage").click()
    wait.until(lambda _: "team-a" in text("usage-table") and "team-b" in text("usage-table"))
    shot(browser, "04-usage")

    browser.find_element(By.ID, "tab-requests").click()
    wait.until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, "#requests-table tbody tr")) > 5)
    browser.find_element(By.ID, "filter-upstream").send_keys("b")
    browser.find_element(By.ID, "filter-key").send_keys("team-a")
    browser.find_element(By.ID, "filter-apply").click()
    row_ids = lambda: browser.execute_script(  # noqa: E731
        "return [...document.querySelectorAll('#requests-table tbody tr')].map(r => r.dataset.id)")
    wait.until(lambda _: sorted(row_ids()) == sorted([traffic.failed_over, traffic.recovered]))
    shot(browser, "05-requests-filtered")

    browser.find_element(By.CSS_SELECTOR, f"tr[data-id='{traffic.failed_over}']").click()
    wait.until(lambda _: visible("detail") and text("detail-title") == traffic.failed_over)
    attempts = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#timeline-list li")]
    assert len(attempts) == 2, attempts
    assert "a/m" in attempts[0] and "misconfigured" in attempts[0] and "upstream returned 401" in attempts[0]
    assert "b/m" in attempts[1] and "answered" in attempts[1]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline rect.attempt")) == 2
    assert "fail over" in text("detail-request")
    shot(browser, "06-request-failed-over")

    browser.find_element(By.CSS_SELECTOR, f"tr[data-id='{traffic.recovered}']").click()
    wait.until(lambda _: text("detail-title") == traffic.recovered)
    attempts = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#timeline-list li")]
    assert "broke mid-stream" in attempts[0] and "recovery" in attempts[1], attempts
    shot(browser, "07-request-recovered")
