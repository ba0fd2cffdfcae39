"""The Lambda mode through the real Lambda Runtime API.

scripts/test starts `cargo lambda watch` on a free loopback port with ALERT_TOPIC_ARN pointing at a
topic on moto_server, and exports LAMBDA_EMULATOR_PORT. Every sample event in events/ is sent with
`cargo lambda invoke --data-file`, the answers are checked, and the alerts SNS received are counted
through an SQS queue subscribed to the topic.
"""
import base64
import json
import os
import pathlib
import subprocess
import uuid

import boto3
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EVENTS = sorted((ROOT / "events").glob("*.json"))
FUNCTION = "clickstream-lambda"


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through ./scripts/test")
    return value


@pytest.fixture(scope="module")
def queue():
    """An SQS queue subscribed to the emulated function's topic."""
    endpoint = env("MOTO_ENDPOINT")
    topic = env("LAMBDA_EMULATOR_TOPIC_ARN")
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    sqs, sns = boto3.client("sqs", **kw), boto3.client("sns", **kw)
    url = sqs.create_queue(QueueName=f"runtime-api-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)

    def drain():
        messages = []
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not got:
                return messages
            for m in got:
                messages.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    drain()
    return drain


def invoke(path):
    port = env("LAMBDA_EMULATOR_PORT")
    done = subprocess.run(
        ["cargo", "lambda", "invoke", FUNCTION, "--invoke-address", "127.0.0.1", "--invoke-port", port,
         "--data-file", str(path), "--output-format", "json"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert done.returncode == 0, f"{path.name}: {done.stderr}"
    return json.loads(done.stdout)


def anomalous_clicks(event):
    count = 0
    for record in event["records"]:
        try:
            click = json.loads(base64.b64decode(record["data"]))
        except ValueError:
            continue
        if isinstance(click, dict):
            count += click.get("anomaly_detected") in ([True], True)
    return count


def test_samples_exist():
    names = {p.name for p in EVENTS}
    for expected in ["firehose-clicks.json", "firehose-failures.json", "firehose-empty.json",
                     "kda-output.json", "kinesis-stream.json", "direct-anomalies.json"]:
        assert expected in names


@pytest.mark.parametrize("path", EVENTS, ids=[p.name for p in EVENTS])
def test_every_sample_event_through_the_runtime_api(path, queue):
    event = json.loads(path.read_text())
    answer = invoke(path)
    alerts = queue()
    if "deliveryStreamArn" in event:
        assert [a["recordId"] for a in answer["records"]] == [r["recordId"] for r in event["records"]]
        for record, a in zip(event["records"], answer["records"]):
            assert a["result"] in ("Ok", "Dropped", "ProcessingFailed")
            if a["result"] == "Ok":
                line = base64.b64decode(a["data"]).decode()
                assert line.endswith("\n") and line.count("\n") == 1
                assert {"event_time", "arrival_time", "processed_at", "is_anomaly"} <= json.loads(line).keys()
                assert set(a["metadata"]["partitionKeys"]) == {"status", "event_date", "event_hour"}
            else:
                assert a["data"] == record["data"]
        expected_alerts = 1 if anomalous_clicks(event) else 0
    elif "applicationArn" in event:
        results = {a["recordId"]: a["result"] for a in answer["records"]}
        assert results == {"kda-classic-json": "Ok", "kda-classic-csv": "Ok", "kda-schema": "Ok",
                           "kda-not-an-anomaly": "DeliveryFailed"}
        expected_alerts = 1
    elif "Records" in event:
        unreadable = event["Records"][-1]["kinesis"]["sequenceNumber"]
        assert answer == {"batchItemFailures": [{"itemIdentifier": unreadable}]}
        expected_alerts = 1
    else:
        assert answer["published"] == len(event["anomalies"]) and answer["suppressed"] == 0
        expected_alerts = 1
    assert len(alerts) == expected_alerts, alerts
    if alerts:
        assert alerts[0]["MessageAttributes"]["anomaly_count"]["Type"] == "Number"
        if "anomalies" in event:
            assert alerts[0]["MessageId"] == answer["messageId"]


def test_a_warm_container_remembers_its_cooldown(queue):
    """The emulator keeps one warm process, as Lambda does: the direct sample, sent again within
    ALERT_COOLDOWN_SECONDS of its first alert, is held back instead of alerting again."""
    path = ROOT / "events" / "direct-anomalies.json"
    first = invoke(path)
    second = invoke(path)
    # The parametrized test above already alerted for this source; either way, from here on
    # the source is in its quiet period.
    assert first["published"] + first["suppressed"] == 3
    assert second == {"published": 0, "suppressed": 3, "messageId": None}
    assert len(queue()) == (1 if first["published"] else 0)
