"""The website snippet (`web/clickstream.js`) in a real headless Chromium, against a local
stand-in of the template's ingestion endpoint (`ingest_standin.py`) that forwards to moto's
Firehose, which delivers to a bucket on moto.

A test page on 127.0.0.1 includes the snippet; WebDriver (chromium-driver) makes real clicks,
trusted input events at known coordinates; the page is left or waited on so that the snippet
flushes; and the records that reach moto's bucket must be exactly the clicks made, batched as
configured, and valid for our transform (`clickstream-lambda invoke` answers every one `Ok`).
The page and the endpoint are different origins (two ports), so CORS is real.

Needs MOTO_ENDPOINT and CLICKSTREAM_BIN (see conftest.py), Chromium and chromedriver (PATH, or
CHROMIUM / CHROMEDRIVER); ./scripts/test installs both and runs this file as its own step. A
missing browser fails the test rather than skipping it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from ingest_standin import IngestStandIn, records_of

REPO_ROOT = Path(__file__).resolve().parents[2]
SNIPPET = REPO_ROOT / "web" / "clickstream.js"
PAGE_PATH = "/shop/item.html"
WAIT_SECONDS = 20
# Flags that work as root in a container, and keep the browser off the network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)
# Where the page's targets are (CSS pixels, from the page's top left): even sizes, so the
# WebDriver's centre of each is a whole pixel.
TARGETS = {
    "buy": (100, 200, 200, 50),
    "inner": (400, 300, 120, 40),  # a <span> without id inside <div id="card">
    "plain": (700, 100, 100, 100),  # no id on it nor on an ancestor
}


def _tool(env: str, *names: str) -> str:
    given = os.environ.get(env, "").strip()
    if given:
        return given
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        f"{' or '.join(names)} is not installed (or set {env}): ./scripts/test installs "
        "Debian's chromium and chromium-driver",
        pytrace=False,
    )


# --------------------------------------------------------------------------------------------
# The stream on moto, the stand-in, the site, the browser
# --------------------------------------------------------------------------------------------


@pytest.fixture
def stream(aws_client: Callable[[str], Any]) -> Iterator[tuple[str, str]]:
    """A fresh bucket and a Direct PUT stream into it: ``(stream name, bucket)``."""
    name = f"ClickStreamingFirehose-web-{uuid.uuid4().hex[:8]}"
    bucket = f"clickstream-web-{uuid.uuid4().hex[:12]}"
    aws_client("s3").create_bucket(Bucket=bucket)
    firehose = aws_client("firehose")
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "raw/",
        },
    )
    yield name, bucket
    firehose.delete_delivery_stream(DeliveryStreamName=name)


class Site:
    """The test site on 127.0.0.1: the page (built per test) and the real snippet file."""

    def __init__(self) -> None:
        self.page = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                status = 200
                if self.path == "/web/clickstream.js":
                    body, kind = SNIPPET.read_bytes(), "text/javascript"
                elif self.path.split("?")[0] == PAGE_PATH:
                    body, kind = site.page.encode(), "text/html; charset=utf-8"
                else:
                    status, body, kind = 404, b"", "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve(self, endpoint: str, config: dict[str, Any], before: str = "", tag: bool = False) -> str:
        """Builds the page with the snippet initialised with ``config`` (or, with ``tag``, by
        the script tag's data attributes alone); returns its URL."""
        config = {"endpoint": endpoint, **config}
        if tag:
            attributes = " ".join(
                f'data-{re.sub("([A-Z])", lambda m: "-" + m.group(1).lower(), k)}="{v}"'
                for k, v in config.items()
            )
            include = f'<script src="/web/clickstream.js" {attributes}></script>'
        else:
            include = (
                '<script src="/web/clickstream.js"></script>\n'
                f"<script>ClickStream.init({json.dumps(config)});</script>"
            )
        boxes = "\n".join(
            f'<div style="position:absolute;left:{x}px;top:{y}px;width:{w}px;height:{h}px" {attrs}>{inner}</div>'
            for (x, y, w, h), attrs, inner in (
                (TARGETS["buy"], 'id="buy"', "Buy"),
                ((380, 280, 160, 80), 'id="card"', ""),
                ((700, 100, 100, 100), "", "plain"),
            )
        )
        # The span is positioned on the page, inside #card's box.
        span = '<span style="position:absolute;left:20px;top:20px;width:120px;height:40px">in card</span>'
        boxes = boxes.replace('id="card"></div>', f'id="card">{span}</div>')
        self.page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>shop</title>
<style>html, body {{ margin: 0; padding: 0; }}</style>
<script>{before}</script>
{include}
</head><body>
{boxes}
</body></html>"""
        return f"{self.origin}{PAGE_PATH}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    running = Site()
    yield running
    running.stop()


@pytest.fixture
def standin(aws_client: Callable[[str], Any], stream: tuple[str, str], site: Site) -> Iterator[IngestStandIn]:
    running = IngestStandIn(aws_client("firehose"), stream[0], site.origin).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    os.environ["SE_AVOID_STATS"] = "true"  # Selenium Manager is never run: both paths given
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _tool("CHROMIUM", "chromium", "chromium-browser")
    profile = tempfile.mkdtemp(prefix="clickstream-chromium-")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    service = Service(executable_path=_tool("CHROMEDRIVER", "chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def click_at(driver: Any, target: str, dx: int, dy: int) -> dict[str, Any]:
    """Clicks ``target``'s centre moved by (dx, dy) with real input events; returns the click
    the snippet should record (but its timestamp)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    x, y, w, h = TARGETS[target]
    if target == "plain":
        element = driver.find_element(By.XPATH, "//div[text()='plain']")
    elif target == "inner":
        element = driver.find_element(By.TAG_NAME, "span")
    else:
        element = driver.find_element(By.ID, target)
    ActionChains(driver).move_to_element_with_offset(element, dx, dy).click().perform()
    expected = {
        "user_id": 4242,
        "page_url": PAGE_PATH,
        "event_type": "click",
        "x_coordinate": x + w // 2 + dx,
        "y_coordinate": y + h // 2 + dy,
    }
    element_id = {"buy": "buy", "inner": "card", "plain": None}[target]
    if element_id is not None:
        expected["element_id"] = element_id
    return expected


def wait_for_posts(standin: IngestStandIn, count: int) -> list[Any]:
    """The stand-in's POSTs once ``count`` of them are answered (and so forwarded)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while sum(1 for p in standin.posts() if p.status) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{len(standin.posts())} requests reached the stand-in, {count} expected")
        time.sleep(0.1)
    return standin.posts()


def delivered(aws_client: Callable[[str], Any], bucket: str) -> list[list[dict[str, Any]]]:
    """Each object moto's Firehose wrote (one per PutRecordBatch), as its records: the records'
    data concatenated, as Firehose writes them to S3."""
    s3 = aws_client("s3")
    objects = []
    decoder = json.JSONDecoder()
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        text = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
        records, at = [], 0
        while at < len(text):
            record, at = decoder.raw_decode(text, at)
            records.append(record)
        objects.append(records)
    return objects


def canonical(records: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in records)


def without_time(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "timestamp"}


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def firehose_event(records: list[dict[str, Any]], when_ms: int) -> dict[str, Any]:
    """The Firehose transformation event these records make, each record's data as the
    endpoint's mapping writes it."""
    return {
        "invocationId": "web-ingest-test",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/ClickStreamingFirehose",
        "region": "us-east-1",
        "records": [
            {
                "recordId": f"r{i}",
                "approximateArrivalTimestamp": when_ms,
                "data": base64.b64encode(data).decode(),
            }
            for i, data in enumerate(records_of({"records": records}))
        ],
    }


# --------------------------------------------------------------------------------------------
# In the browser
# --------------------------------------------------------------------------------------------


def test_clicks_reach_the_stream_exactly_batched_by_count_and_flushed_on_pagehide(
    browser, site, standin, stream, aws_client, invoke
):
    _, bucket = stream
    browser.get(site.serve(standin.url, {"userId": 4242, "maxRecords": 5, "flushMs": 600000}))
    started = datetime.now(timezone.utc)
    plan = [("buy", -60, 10), ("inner", 0, 0), ("plain", 30, -30), ("buy", 90, -20)] * 3
    expected = [click_at(browser, target, dx, dy) for target, dx, dy in plan]

    # Ten clicks make two full batches at once; the last two wait for the page to go.
    posts = wait_for_posts(standin, 2)
    time.sleep(0.5)
    assert len(standin.posts()) == 2, "a third batch left before the page was hidden"
    browser.get("about:blank")
    posts = wait_for_posts(standin, 3)
    finished = datetime.now(timezone.utc)

    for post in posts:
        assert post.status == 200, post
        assert post.headers["Content-Type"].startswith("text/plain"), post.headers
        assert post.headers["Origin"] == site.origin
        assert post.headers.get("Sec-Fetch-Mode") == "no-cors", "sent by sendBeacon"
        assert len(post.body) <= 60000
    assert [len(json.loads(p.body)["records"]) for p in posts] == [5, 5, 2]

    sent = [r for p in posts for r in json.loads(p.body)["records"]]
    assert [without_time(r) for r in sent] == expected
    times = [instant(r["timestamp"]) for r in sent]
    assert started.replace(microsecond=0) <= times[0] and times[-1] <= finished
    assert times == sorted(times)
    # What reached the stream is exactly what was sent: one object per PutRecordBatch.
    objects = delivered(aws_client, bucket)
    assert sorted(len(o) for o in objects) == [2, 5, 5]
    records = [r for o in objects for r in o]
    assert canonical(records) == canonical(sent)

    # Valid for the transform: every record answered Ok, its fields kept and enriched.
    answer = invoke(firehose_event(records, int(finished.timestamp() * 1000)))
    assert answer.returncode == 0, answer.stderr
    results = answer.response["records"]
    assert [r["result"] for r in results] == ["Ok"] * len(records), answer.stderr
    for click, result in zip(records, results):
        line = json.loads(base64.b64decode(result["data"]))
        assert {k: line[k] for k in click} == click
        assert line["is_anomaly"] is False
        assert line["event_time"] == click["timestamp"]


def test_a_batch_leaves_after_flush_ms_while_the_page_stays(browser, site, standin, stream, aws_client):
    _, bucket = stream
    browser.get(site.serve(standin.url, {"userId": 4242, "maxRecords": 50, "flushMs": 700}))
    expected = [click_at(browser, "buy", 0, 0), click_at(browser, "plain", -10, 10)]
    (post,) = wait_for_posts(standin, 1)
    assert [without_time(r) for r in json.loads(post.body)["records"]] == expected
    assert browser.execute_script("return ClickStream.stats()") == {
        "recorded": 2, "sent": 2, "batches": 1, "dropped": 0, "queued": 0,
    }
    (only,) = delivered(aws_client, bucket)
    assert [without_time(r) for r in only] == expected
    browser.get("about:blank")


def test_the_script_tag_alone_starts_it_with_one_anonymous_user_per_tab(browser, site, standin, stream, aws_client):
    """data-endpoint starts the snippet; without a user id, one random id is kept for the tab
    across pages of the site, and a new tab session gets another."""
    url = site.serve(standin.url, {"maxRecords": 1}, tag=True)
    browser.get(url)
    click_at(browser, "buy", 0, 0)
    browser.get(url)
    click_at(browser, "plain", 0, 0)
    posts = wait_for_posts(standin, 2)
    users = {json.loads(p.body)["records"][0]["user_id"] for p in posts}
    assert len(users) == 1, users
    (user,) = users
    assert re.fullmatch(r"anon-[0-9a-f]{16}", user), user
    browser.execute_script("sessionStorage.clear()")
    browser.get(url)
    click_at(browser, "buy", 0, 0)
    posts = wait_for_posts(standin, 3)
    assert json.loads(posts[2].body)["records"][0]["user_id"] not in (user, None)
    records = [r for o in delivered(aws_client, stream[1]) for r in o]
    assert canonical(records) == canonical([json.loads(p.body)["records"][0] for p in posts])
    browser.get("about:blank")


def test_a_batch_the_browser_refuses_stays_queued_and_leaves_at_the_next_flush(browser, site, standin, stream, aws_client):
    """sendBeacon answers false when the page's in-flight quota is full: the batch is kept and
    sent by the next flush, not lost and not sent twice."""
    refuse_once = (
        "(function () { var real = navigator.sendBeacon, refused = 0;"
        " navigator.sendBeacon = function (url, body) {"
        " if (refused++ === 0) return false; return real.call(navigator, url, body); }; })();"
    )
    browser.get(site.serve(standin.url, {"userId": 4242, "maxRecords": 2, "flushMs": 500}, before=refuse_once))
    expected = [click_at(browser, "buy", 0, 0), click_at(browser, "inner", 0, 0)]
    (post,) = wait_for_posts(standin, 1)
    assert [without_time(r) for r in json.loads(post.body)["records"]] == expected
    time.sleep(0.7)
    assert len(standin.posts()) == 1
    assert browser.execute_script("return ClickStream.stats()") == {
        "recorded": 2, "sent": 2, "batches": 1, "dropped": 0, "queued": 0,
    }
    (only,) = delivered(aws_client, stream[1])
    assert [without_time(r) for r in only] == expected
    browser.get("about:blank")


def test_without_sendbeacon_it_falls_back_to_fetch_with_keepalive(browser, site, standin, stream, aws_client):
    _, bucket = stream
    no_beacon = "Object.defineProperty(Navigator.prototype, 'sendBeacon', {value: undefined});"
    browser.get(site.serve(standin.url, {"userId": 4242, "flushMs": 600000}, before=no_beacon))
    expected = [click_at(browser, "inner", 5, 5), click_at(browser, "buy", 0, 0)]
    browser.get("about:blank")
    (post,) = wait_for_posts(standin, 1)
    assert post.headers.get("Sec-Fetch-Mode") == "cors", "sent by fetch"
    assert post.headers["Content-Type"].startswith("text/plain")
    assert post.status == 200
    (only,) = delivered(aws_client, bucket)
    assert [without_time(r) for r in only] == expected


def test_batches_stay_within_max_bytes_and_fields_within_the_model(
    browser, site, standin, stream, aws_client, invoke
):
    """Long ids are cut to the model's limits without splitting a character, a lone surrogate
    becomes U+FFFD, and a byte budget splits batches: every request passes the model."""
    _, bucket = stream
    # 701 UTF-16 units; the limit, 256, falls between the two halves of the 128th emoji.
    long_id = "a" + "\U0001F600" * 200 + "x" * 300
    lone = "tail\ud800"
    setup = (
        "document.addEventListener('DOMContentLoaded', function () {"
        f"document.getElementById('buy').id = {json.dumps(long_id)};"
        f"document.getElementById('card').id = {json.dumps(lone, ensure_ascii=True)};"
        "});"
    )
    browser.get(site.serve(standin.url, {"userId": "visitor-7", "maxBytes": 1200, "flushMs": 600000}, before=setup))
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    for _ in range(3):
        ActionChains(browser).move_to_element(browser.find_element(By.XPATH, "//div[text()='Buy']")).click().perform()
        ActionChains(browser).move_to_element(browser.find_element(By.TAG_NAME, "span")).click().perform()
    browser.get("about:blank")
    deadline = time.monotonic() + WAIT_SECONDS
    while sum(len(json.loads(p.body)["records"]) for p in standin.posts() if p.status) < 6:
        assert time.monotonic() < deadline, [p.body for p in standin.posts()]
        time.sleep(0.1)
    posts = standin.posts()
    assert len(posts) > 1, "1,200 bytes cannot hold six such clicks"
    for post in posts:
        assert len(post.body) <= 1200, len(post.body)
        assert post.status == 200, post

    sent = [r for p in posts for r in json.loads(p.body)["records"]]
    assert [r["element_id"] for r in sent] == [long_id[:128], "tail\ufffd"] * 3
    records = [r for o in delivered(aws_client, bucket) for r in o]
    assert canonical(records) == canonical(sent)
    assert all(r["user_id"] == "visitor-7" for r in records)
    assert all(len(r["element_id"].encode("utf-16-le")) // 2 <= 256 for r in records)
    answer = invoke(firehose_event(records, int(time.time() * 1000)))
    assert [r["result"] for r in answer.response["records"]] == ["Ok"] * 6, answer.stderr


# --------------------------------------------------------------------------------------------
# The stand-in's contract, without a browser
# --------------------------------------------------------------------------------------------


def request(url: str, method: str, body: bytes = b"", **headers: str) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, dict(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def click(**fields: Any) -> dict[str, Any]:
    record = {
        "timestamp": "2026-12-03T09:00:00.000Z",
        "user_id": 1,
        "page_url": "/",
        "event_type": "click",
    }
    record.update(fields)
    return record


def test_the_preflight_allows_the_listed_origin_only(site, standin):
    status, headers, _ = request(standin.url, "OPTIONS", Origin=site.origin)
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == site.origin
    assert headers["Vary"] == "Origin"
    assert headers["Access-Control-Allow-Methods"] == "POST,OPTIONS"
    assert headers["Access-Control-Allow-Headers"] == "Content-Type"
    status, headers, _ = request(standin.url, "OPTIONS", Origin="http://elsewhere.example")
    assert status == 204 and "Access-Control-Allow-Origin" not in headers
    standin.allowed_origins = "*"
    _, headers, _ = request(standin.url, "OPTIONS", Origin="http://elsewhere.example")
    assert headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "body, content_type, status",
    [
        ({"records": [click()]}, "text/plain;charset=UTF-8", 200),
        ({"records": [click()] * 100}, "text/plain", 200),
        ({"records": [click()] * 101}, "text/plain", 400),
        ({"records": []}, "text/plain", 400),
        ({"records": [click(anomaly_detected=[True])]}, "text/plain", 400),
        ({"records": [click(user_id=4.5)]}, "text/plain", 400),
        ({"records": [click(page_url="/" * 1025)]}, "text/plain", 400),
        ({"records": [click(x_coordinate=-1)]}, "text/plain", 400),
        ({"records": [{"user_id": 1, "page_url": "/", "event_type": "click"}]}, "text/plain", 400),
        ({"records": [click()], "extra": 1}, "text/plain", 400),
        ({"records": [click()]}, "application/json", 415),
    ],
)
def test_the_endpoint_takes_only_what_the_model_allows(standin, stream, aws_client, body, content_type, status):
    got, _, answer = request(standin.url, "POST", json.dumps(body).encode(), **{"Content-Type": content_type})
    assert got == status, answer
    objects = delivered(aws_client, stream[1])
    if status == 200:
        assert json.loads(answer) == {"failedPutCount": 0}
        assert [len(o) for o in objects] == [len(body["records"])]
    else:
        assert objects == [], "nothing reaches the stream"


def test_a_body_that_is_not_json_is_refused(standin):
    status, _, _ = request(standin.url, "POST", b"{records", **{"Content-Type": "text/plain"})
    assert status == 400


def test_what_the_model_lets_through_the_function_still_judges(standin, stream, aws_client, invoke):
    """The model checks types and sizes; the function checks the rest, record by record: a
    timestamp it cannot read, or a lone surrogate, is answered ProcessingFailed, and the others
    of the same request are Ok."""
    body = {"records": [click(), click(timestamp="soon"), click(element_id="x\ud800"), click(user_id="u-1")]}
    status, _, _ = request(standin.url, "POST", json.dumps(body).encode(), **{"Content-Type": "text/plain"})
    assert status == 200
    (records,) = delivered(aws_client, stream[1])
    assert records == body["records"]
    answer = invoke(firehose_event(records, int(time.time() * 1000)))
    assert answer.returncode == 0, answer.stderr
    assert [r["result"] for r in answer.response["records"]] == [
        "Ok", "ProcessingFailed", "ProcessingFailed", "Ok",
    ]
    assert "bad_timestamp" in answer.stderr and "lone_surrogate" in answer.stderr
