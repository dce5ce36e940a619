"""The documentation pages in a real browser (headless Chromium through
chromedriver), against a running local server:

- /docs (Swagger UI) renders every operation of /openapi.json with no
  console error; after authorizing with a bearer token, "try it out" on
  GET /domains reaches the server and shows its JSON answer;
- /redoc (ReDoc) renders every operation with no console error;
- CORS: a page served from another local origin, one the server allows
  (CORS_ALLOWED_ORIGINS), calls GET /domains with the bearer token through
  fetch and reads the JSON answer; the same page from an origin not in the
  list gets no grant, and the browser keeps the answer from it.

Screenshots of each page go to OUT_DIR. Run by infra/test.sh:

    python3 infra/browser_test.py BASE_URL TOKEN OUT_DIR [ALLOWED_ORIGIN DENIED_ORIGIN]

The two origins are http://127.0.0.1:<port>; this script serves the page on
both ports.
"""
import http.server
import json
import os
import sys
import threading
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

base, token, out = sys.argv[1], sys.argv[2], sys.argv[3]
origins = sys.argv[4:6]
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


# The frontend's page: calls the API from its own origin with the token.
PAGE = """<!doctype html><title>calling</title><body><script>
fetch(%s + "/domains", {headers: {authorization: "Bearer " + %s}})
  .then(r => r.json())
  .then(j => { document.body.dataset.answer = JSON.stringify(j); document.title = "answered"; })
  .catch(e => { document.body.dataset.error = String(e); document.title = "blocked"; });
</script></body>"""


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (PAGE % (json.dumps(base), json.dumps(token))).encode()
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_):
        pass


def serve_page(origin):
    host, port = origin.split("://")[1].split(":")
    server = http.server.ThreadingHTTPServer((host, int(port)), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def call_from(origin):
    driver.get(f"{origin}/")
    title = wait_for("the page's fetch", lambda: driver.title if driver.title != "calling" else None)
    body = driver.find_element(By.TAG_NAME, "body")
    return title, body.get_attribute("data-answer"), body.get_attribute("data-error")


def cors_allowed():
    title, answer, error = call_from(origins[0])
    assert title == "answered", f"{title}: {error}"
    answer = json.loads(answer)
    assert "domains" in answer and "tenant" in answer, answer


def cors_denied():
    title, answer, error = call_from(origins[1])
    assert title == "blocked" and answer is None, f"{title}: {answer}"
    assert "Failed to fetch" in error, error


for origin in origins:
    serve_page(origin)

try:
    check("swagger_ui_renders_every_route_and_tries_one_with_a_token", swagger_ui)
    check("redoc_renders_every_route", redoc)
    if origins:
        check("a_page_of_an_allowed_origin_calls_the_api_with_a_token", cors_allowed)
        check("a_page_of_another_origin_gets_no_grant", cors_denied)
finally:
    driver.quit()
print(f"browser: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
