"""The documentation pages in a real browser (headless Chromium through
chromedriver), against a running local server:

- /docs (Swagger UI) renders every operation of /openapi.json with no
  console error; after authorizing with a bearer token, "try it out" on
  GET /domains reaches the server and shows its JSON answer;
- /redoc (ReDoc) renders every operation with no console error.

Screenshots of each page go to OUT_DIR. Run by infra/test.sh:

    python3 infra/browser_test.py BASE_URL TOKEN OUT_DIR
"""
import json
import os
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

base, token, out = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(out, exist_ok=True)

document = json.load(urllib.request.urlopen(f"{base}/openapi.json"))
operations = [
    (method.upper(), path)
    for path, item in document["paths"].items()
    for method in item
    if method in ("get", "post", "put", "delete", "patch")
]

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2400"):
    options.add_argument(arg)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
failures = []
passed = 0


def wait_for(what, condition, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def console_errors():
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def check(name, test):
    global passed
    try:
        test()
        passed += 1
        print(f"browser: {name} ... ok")
    except Exception as e:  # a failed check is reported, the others still run
        failures.append(f"{name}: {e}")
        print(f"browser: {name} ... FAILED: {e}")
        driver.save_screenshot(os.path.join(out, f"{name}-failed.png"))


def swagger_ui():
    driver.get(f"{base}/docs")
    blocks = wait_for(
        f"{len(operations)} operations",
        lambda: (lambda b: b if len(b) == len(operations) else None)(
            driver.find_elements(By.CSS_SELECTOR, ".opblock")
        ),
    )
    shown = sorted(
        (
            b.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text.upper(),
            b.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path"),
        )
        for b in blocks
    )
    assert shown == sorted(operations), f"shown {shown}, documented {sorted(operations)}"
    # Authorize with the bearer token.
    driver.find_element(By.CSS_SELECTOR, ".auth-wrapper .authorize").click()
    field = wait_for("the token field", lambda: driver.find_elements(By.CSS_SELECTOR, ".modal-ux input"))
    field[0].send_keys(token)
    driver.find_element(By.CSS_SELECTOR, ".modal-ux .auth-btn-wrapper .authorize").click()
    driver.find_element(By.CSS_SELECTOR, ".modal-ux .btn-done").click()
    # Try GET /domains.
    block = next(
        b
        for b in blocks
        if b.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path") == "/domains"
        and "opblock-get" in b.get_attribute("class")
    )
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait_for("Try it out", lambda: block.find_elements(By.CSS_SELECTOR, ".try-out__btn"))[0].click()
    wait_for("Execute", lambda: block.find_elements(By.CSS_SELECTOR, ".execute"))[0].click()
    status = wait_for(
        "the server's answer",
        lambda: [
            e.text
            for e in block.find_elements(By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status")
            if e.text.strip()
        ],
    )
    assert status[0].strip() == "200", f"status {status}"
    body = block.find_element(By.CSS_SELECTOR, ".live-responses-table .microlight").text
    answer = json.loads(body)
    assert "domains" in answer and "tenant" in answer, body
    driver.save_screenshot(os.path.join(out, "docs.png"))
    errors = console_errors()
    assert not errors, f"console errors: {errors}"


def redoc():
    driver.get(f"{base}/redoc")
    wait_for(
        f"{len(operations)} operations",
        lambda: len(driver.find_elements(By.CSS_SELECTOR, "[data-section-id^='operation/']"))
        == len(operations),
    )
    driver.save_screenshot(os.path.join(out, "redoc.png"))
    errors = console_errors()
    assert not errors, f"console errors: {errors}"


try:
    check("swagger_ui_renders_every_route_and_tries_one_with_a_token", swagger_ui)
    check("redoc_renders_every_route", redoc)
finally:
    driver.quit()
print(f"browser: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
