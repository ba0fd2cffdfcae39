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
    return invoke_with(["--data-file", str(path)], path.name)


def invoke_event(event):
    """Sends an event given as a dict."""
    return invoke_with(["--data-ascii", json.dumps(event)], "event")


def invoke_with(data_args, what):
    port = env("LAMBDA_EMULATOR_PORT")
    done = subprocess.run(
        ["cargo", "lambda", "invoke", FUNCTION, "--invoke-address", "127.0.0.1", "--invoke-port", port,
         *data_args, "--output-format", "json"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert done.returncode == 0, f"{what}: {done.stderr}"
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
        # The record that is not an anomaly is acknowledged too: a retry could never read it.
        results = {a["recordId"]: a["result"] for a in answer["records"]}
        assert results == {"kda-classic-json": "Ok", "kda-classic-csv": "Ok", "kda-schema": "Ok",
                           "kda-not-an-anomaly": "Ok"}
        expected_alerts = 1
    elif "Records" in event:
        # Likewise the unreadable last record: listing it would stall the shard.
        assert answer == {"batchItemFailures": []}
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


def direct_event(source, score):
    """One anomaly from `source`: an `info` alert below a score of 3, `critical` from 5."""
    return {"source": source, "anomalies": [{"metric": "ctr_percent", "value": 40.0, "score": score,
                                             "detected_at": "2026-11-27T10:05:00Z"}]}


def test_a_warm_container_keys_storm_control_by_source_kind(queue):
    """A direct caller naming itself after a KDA application is another source: the
    application's quiet period does not hold back the caller's (less severe) alert."""
    kda = json.loads((ROOT / "events" / "kda-output.json").read_text())
    kda["applicationArn"] += f"-{uuid.uuid4().hex[:8]}"  # a source this container has not seen
    assert all(a["result"] == "Ok" for a in invoke_event(kda)["records"])
    answer = invoke_event(direct_event(kda["applicationArn"], score=1.0))
    assert answer["published"] == 1 and answer["suppressed"] == 0, answer
    alerts = sorted(queue(), key=lambda a: a["Timestamp"])
    assert [a["MessageAttributes"]["source"]["Value"] for a in alerts] == ["kinesis-analytics", "direct"]


def test_a_more_severe_alert_goes_out_within_the_cooldown(queue):
    """In the quiet period an alert no more severe than the last one is held; a more severe one
    goes out at once and reports what was held."""
    source = f"detector-{uuid.uuid4().hex[:8]}"
    assert invoke_event(direct_event(source, score=1.0))["published"] == 1
    assert invoke_event(direct_event(source, score=1.0)) == {"published": 0, "suppressed": 1, "messageId": None}
    critical = invoke_event(direct_event(source, score=6.0))
    assert critical["published"] == 1 and critical["suppressed"] == 0, critical
    alerts = sorted(queue(), key=lambda a: a["Timestamp"])
    assert [a["MessageAttributes"]["severity"]["Value"] for a in alerts] == ["info", "critical"]
    assert [a["MessageAttributes"]["anomaly_count"]["Value"] for a in alerts] == ["1", "2"]
    assert alerts[1]["MessageId"] == critical["messageId"]
