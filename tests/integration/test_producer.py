"""clickstream-send against a real Firehose API: moto's server, on this machine.

Needs MOTO_ENDPOINT (e.g. http://127.0.0.1:5123) pointing at a running `moto_server`, and
CLICKSTREAM_SEND naming the built binary (`debug/clickstream-send` in cargo's build folder, which
CARGO_TARGET_DIR may put anywhere; ./scripts/test exports both). moto's Firehose writes
each PutRecordBatch call straight into an S3 object, so what the producer sent can be read back.
moto never fails an entry, so the retry test puts a scripted stand-in on 127.0.0.1 instead.
"""

import base64
import json
import os
import subprocess
import threading
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = os.environ.get("MOTO_ENDPOINT")
STREAM = "ClickStreamingFirehose-test"
REGION = "us-east-1"
SEED_FIELDS = {
    "timestamp",
    "user_id",
    "page_url",
    "event_type",
    "element_id",
    "x_coordinate",
    "y_coordinate",
    "anomaly_detected",
}



@pytest.fixture
def moto():
    """moto_server's endpoint. A missing one fails the test rather than skipping it, so a run
    that should have exercised Firehose cannot pass without doing so."""
    if not ENDPOINT:
        pytest.fail(
            "MOTO_ENDPOINT is not set: start `moto_server -H 127.0.0.1 -p PORT` and export "
            "MOTO_ENDPOINT=http://127.0.0.1:PORT (./scripts/test does both)",
            pytrace=False,
        )
    return ENDPOINT


def client(service):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def aws_env(endpoint):
    """Only the test credentials and endpoint: no profile, no proxy, no instance metadata."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


def binary():
    """CLICKSTREAM_SEND. A missing one fails the test: guessing `target/` would miss a build
    folder set elsewhere, or run a stale binary left there."""
    value = os.environ.get("CLICKSTREAM_SEND", "").strip()
    if not value:
        pytest.fail(
            "CLICKSTREAM_SEND is not set: export the path of the built clickstream-send "
            "(debug/clickstream-send under `cargo metadata`'s target_directory); "
            "./scripts/test does",
            pytrace=False,
        )
    path = Path(value)
    if not path.is_absolute():
        path = ROOT / path
    if not path.is_file():
        pytest.fail(f"CLICKSTREAM_SEND={path} is not built (cargo build --bins)", pytrace=False)
    return path


def send(*args, endpoint=None):
    return subprocess.run(
        [str(binary()), *args],
        env=aws_env(endpoint or ENDPOINT),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def stream(moto):
    """A fresh bucket and a DirectPut stream into it; moto keeps state across tests."""
    bucket = f"clickstream-raw-{uuid.uuid4().hex[:12]}"
    s3 = client("s3")
    firehose = client("firehose")
    s3.create_bucket(Bucket=bucket)
    if STREAM in firehose.list_delivery_streams()["DeliveryStreamNames"]:
        firehose.delete_delivery_stream(DeliveryStreamName=STREAM)  # left by an aborted run
    firehose.create_delivery_stream(
        DeliveryStreamName=STREAM,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "raw/",
        },
    )
    yield bucket
    firehose.delete_delivery_stream(DeliveryStreamName=STREAM)


def delivered_lines(bucket):
    s3 = client("s3")
    lines = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
            assert body.endswith("\n"), f"{obj['Key']} does not end in a newline"
            lines.extend(body.splitlines())
    return lines


def test_sends_1200_records_as_json_lines(stream):
    result = send("--stream", STREAM, "--count", "1200", "--rate", "100000", "--seed", "3")

    assert result.returncode == 0, result.stderr
    summary = result.stdout.strip().splitlines()
    assert len(summary) == 1, result.stdout
    assert STREAM in summary[0]
    assert "sent 1200," in summary[0]
    assert "failed 0" in summary[0]
    assert result.stderr == "", "no progress line when standard error is not a terminal"

    lines = delivered_lines(stream)
    assert len(lines) == 1200
    clicks = [json.loads(line) for line in lines]
    for click in clicks:
        assert set(click) == SEED_FIELDS
        assert click["event_type"] == "click"
        assert 1 <= click["user_id"] <= 1000
        assert click["page_url"].startswith("/pagina-")
        assert 0 <= click["x_coordinate"] <= 1920
        assert 0 <= click["y_coordinate"] <= 1080
        assert isinstance(click["anomaly_detected"], list)
    # Lines are the lab producer's text: Python's json.dumps spacing, naive UTC timestamps.
    assert lines[0].startswith('{"timestamp": "')
    assert '"event_type": "click", ' in lines[0]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for click in clicks:
        sent_at = datetime.fromisoformat(click["timestamp"])
        assert now - timedelta(minutes=5) < sent_at <= now, "stamped with the time it was sent"


def test_the_seed_repeats_the_records_but_not_their_times(stream):
    s3 = client("s3")

    def run(seed):
        result = send("--stream", STREAM, "--count", "50", "--rate", "100000", "--seed", seed)
        assert result.returncode == 0, result.stderr
        lines = delivered_lines(stream)
        for obj in s3.list_objects_v2(Bucket=stream)["Contents"]:
            s3.delete_object(Bucket=stream, Key=obj["Key"])
        clicks = [json.loads(line) for line in lines]
        for click in clicks:
            del click["timestamp"]
        return sorted(json.dumps(click, sort_keys=True) for click in clicks)

    first = run("3")
    assert len(first) == 50
    assert run("3") == first
    assert run("4") != first


def test_batches_stay_within_put_record_batch_limits(stream):
    result = send("--stream", STREAM, "--count", "1200", "--rate", "100000", "--seed", "3")
    assert result.returncode == 0, result.stderr

    # One S3 object per PutRecordBatch call in moto: 1200 records need at least three calls.
    s3 = client("s3")
    objects = s3.list_objects_v2(Bucket=stream)["Contents"]
    sizes = []
    for obj in objects:
        body = s3.get_object(Bucket=stream, Key=obj["Key"])["Body"].read()
        sizes.append(body.count(b"\n"))
        assert len(body) <= 4 * 1024 * 1024
    assert len(objects) >= 3
    assert max(sizes) <= 500
    assert sum(sizes) == 1200


def test_unknown_stream_fails_with_one_line(moto):
    result = send("--stream", "NoSuchStream", "--count", "10", "--rate", "100000")

    assert result.returncode != 0
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1, result.stderr
    assert "NoSuchStream" in errors[0]
    assert "not found" in errors[0]


class ScriptedFirehose(BaseHTTPRequestHandler):
    """PutRecordBatch that fails every third entry of the first call and the whole second call
    (as Firehose does when throttling), then accepts everything. Keeps each call's records."""

    calls = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.headers["X-Amz-Target"] == "Firehose_20150804.PutRecordBatch"
        records = [base64.b64decode(r["Data"]).decode() for r in body["Records"]]
        call = len(self.calls)
        self.calls.append(records)
        if call == 1:
            error = {"__type": "ServiceUnavailableException", "message": "Slow down."}
            return self.reply(503, error)
        entries = [
            {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
            if call == 0 and i % 3 == 0
            else {"RecordId": f"{call}-{i}"}
            for i in range(len(records))
        ]
        failed = sum("ErrorCode" in e for e in entries)
        self.reply(200, {"FailedPutCount": failed, "Encrypted": False, "RequestResponses": entries})

    def reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_only_failed_entries_are_sent_again():
    ScriptedFirehose.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedFirehose)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        result = send("--stream", STREAM, "--count", "30", "--rate", "100000", endpoint=endpoint)
    finally:
        server.shutdown()

    assert result.returncode == 0, result.stderr
    first, throttled, retry = ScriptedFirehose.calls
    assert len(first) == 30
    assert throttled == retry == [first[i] for i in range(0, 30, 3)]
    # 10 entries failed, then their whole call failed: 20 resends, each record accepted once.
    assert "sent 30, retried 20, failed 0" in result.stdout
