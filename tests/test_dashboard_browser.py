"""The dashboard in a real browser: Debian's headless Chromium driven by selenium, against
gunicorn and a real worker. Writes a screenshot to ``test-artifacts/dashboard.png``.

Nothing downloads a browser or a driver: the system's ``/usr/bin/chromium`` and
``/usr/bin/chromedriver`` (``make test`` installs them with apt as root); without them the
test skips and says so.
"""
import os
import uuid
from pathlib import Path

import pytest
import requests

from conftest import CHANNEL_TOKEN, OPERATOR_TOKEN, ROOT, bearer, submission

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", ROOT / "test-artifacts"))
WAIT_SECONDS = 45  # a loaded machine: page, sockets and a worker round trip

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(f"{CHROMIUM} and {CHROMEDRIVER} are needed (Debian packages chromium and "
                "chromium-driver; `make browser` installs them as root)", allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as seen  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1400,1700",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    # The driver is given: selenium's own manager never runs, so nothing is downloaded.
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER),
                                      log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()


def test_an_operator_signs_in_and_sees_a_new_task_live(module_api_server, worker, browser,
                                                       redis_client):  # an emptied Redis
    api = module_api_server.url
    wait = WebDriverWait(browser, WAIT_SECONDS)
    browser.get(api + "/dashboard")
    wait.until(seen.url_contains("/login"))  # signed out: the form, not a JSON 401

    browser.find_element(By.ID, "token").send_keys(OPERATOR_TOKEN)
    browser.find_element(By.ID, "sign-in").click()
    wait.until(seen.url_contains("/dashboard"))
    wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, "#channels tr[data-channel]")))
    wait.until(seen.text_to_be_present_in_element((By.ID, "feed-status"), "live"))
    wait.until(seen.presence_of_element_located(
        (By.CSS_SELECTOR, "#workers tr[data-worker-id]")))
    assert {row.get_attribute("data-channel") for row in
            browser.find_elements(By.CSS_SELECTOR, "#channels tr[data-channel]")} == {
        "chat", "voice", "email"}
    assert "session" not in browser.current_url and OPERATOR_TOKEN not in browser.current_url

    mix = [("Great service, thank you so much!", "chat"), ("The parcel arrived today.", "chat"),
           ("Wonderful, quick and friendly.", "voice"), ("Still waiting, very annoyed.", "email"),
           ("Okay I guess.", "voice"), ("Love it!", "email")]
    batch = requests.post(api + "/tasks", headers=bearer(CHANNEL_TOKEN), timeout=10,
                          json={"tasks": [submission(text, channel=channel)
                                          for text, channel in mix]})
    assert batch.status_code == 202, batch.text
    customer = f"CUST-{uuid.uuid4().hex[:8]}"
    answer = requests.post(api + "/task", headers=bearer(CHANNEL_TOKEN), timeout=10,
                           json=submission("This is terrible, the worst service ever. Awful!",
                                           priority="high", customer_id=customer))
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["task_id"]

    row = wait.until(seen.presence_of_element_located(
        (By.CSS_SELECTOR, f'#alerts tr[data-task-id="{task_id}"]')))
    assert customer in row.text and "chat" in row.text
    # Strongly negative on a high priority: escalated (ESCALATION_PRIORITIES), counted live.
    wait.until(seen.text_to_be_present_in_element(
        (By.CSS_SELECTOR, '#channels tr[data-channel="chat"] td.escalated'), "1"))
    bars = browser.find_elements(By.CSS_SELECTOR, 'figure[data-channel="chat"] rect')
    assert "negative" in {bar.get_attribute("data-label") for bar in bars}
    # The batch's completions reach the other channels' charts, whatever labels they carry.
    wait.until(lambda driver: len(driver.find_elements(
        By.CSS_SELECTOR, 'figure[data-channel="voice"] rect, figure[data-channel="email"] rect'))
        >= 2)
    # A review with clear praise and clear complaints is "mixed": it gets a bar and a legend entry.
    mixed = requests.post(api + "/task", headers=bearer(CHANNEL_TOKEN), timeout=10,
                          json=submission("The food was delicious and the staff were lovely. But "
                                          "the room was filthy and the manager was rude.",
                                          channel="email"))
    assert mixed.status_code == 202, mixed.text
    wait.until(seen.presence_of_element_located(
        (By.CSS_SELECTOR, 'figure[data-channel="email"] rect[data-label="mixed"]')))
    assert "mixed" in browser.find_element(By.ID, "legend").text
    browser.execute_script("window.scrollTo(0, 0)")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors  # no CSP violation, no failed request, no script error


def test_a_channel_token_is_refused_in_words(module_api_server, browser):
    api = module_api_server.url
    browser.get(api + "/login")
    browser.find_element(By.ID, "token").send_keys(CHANNEL_TOKEN)
    browser.find_element(By.ID, "sign-in").click()

    message = WebDriverWait(browser, WAIT_SECONDS).until(
        seen.presence_of_element_located((By.ID, "login-error")))
    assert "operator token" in message.text
    browser.get(api + "/dashboard")
    WebDriverWait(browser, WAIT_SECONDS).until(seen.url_contains("/login"))
