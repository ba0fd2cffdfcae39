"""The alert path against a real SNS API (moto_server): `clickstream-lambda invoke` publishes
for real when ALERT_TOPIC_ARN is set.

Two views of every publish are checked:

- what moto's SNS stored (``/moto-api/data.json``): the message exactly as sent, so the
  structured JSON (``default``/``email``/``sms``), the subject and the attributes, and how many
  publishes each topic got;
- what an SQS subscriber (``RawMessageDelivery`` false) was delivered: SNS hands SQS the
  ``default`` text of a ``MessageStructure=json`` message, with ``Subject``, ``MessageId`` and
  ``MessageAttributes`` in the notification. The queue getting ``default`` and not the whole
  JSON is what shows SNS took the message as structured.

Expected values are derived from the sample events and the documented contract (README "The
alert", "When SNS fails"), never copied from a run.

The cooldown cannot be tested across `invoke` processes (each starts with empty memory): it is
tested through `replay`, which runs events through one warm handler as a container would, and in
the Lambda mode by test_runtime_api.py; here ALERT_COOLDOWN_SECONDS=0 is checked to break nothing.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import socket
import subprocess
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS = REPO_ROOT / "events"

# The contract (README "The alert").
SUBJECT_MAX = 100
SMS_MAX = 140
SMS_FORBIDDEN = set("{}[]\\^~|`")
LIST_MAX = 5  # top pages, top users and examples are capped at 5
SNS_MESSAGE_MAX = 256 * 1024
SOURCE_CODES = {
    "firehose": "firehose",
    "kda": "kinesis-analytics",
    "kinesis": "kinesis-stream",
    "direct": "direct",
}
KINDS = list(SOURCE_CODES)
# The counts of the EMF line (README "Metrics"), in the order the line declares them.
METRICS = [
    "RecordsOk",
    "RecordsProcessingFailed",
    "RecordsDropped",
    "Anomalies",
    "AnomaliesUnreadable",
    "AlertsPublished",
    "AlertsSuppressed",
    "AlertsFailed",
    "ProducerFlags",
    "UserBursts",
    "RateEpisodes",
    "LateClicks",
    "StateStoreCalls",
    "StateStoreConflicts",
    "StateStoreErrors",
]

# --------------------------------------------------------------------------------------------
# Reading the sample events independently of the binary
# --------------------------------------------------------------------------------------------


def truthy_flag(value: Any) -> bool:
    """README: `is_anomaly` is true for `true`, `"true"` in any case, `1`, or a list holding any
    of these."""
    if isinstance(value, list):
        return any(truthy_flag(v) for v in value)
    if value is True:
        return True
    if isinstance(value, str):
        return value.lower() == "true"
    return type(value) in (int, float) and value == 1


def read_anomaly(data_b64: str | None) -> dict[str, Any] | None:
    """A KDA/Kinesis record's payload as an anomaly (README "anomaly schema": a JSON object with
    `metric`, `value` or `score`; the classic `{"CTRPERCENT": .., "ANOMALY_SCORE": ..}` in any
    case; CSV `CTRPERCENT,ANOMALY_SCORE`), or None when it is not one."""
    if not isinstance(data_b64, str):
        return None
    try:
        text = base64.b64decode(data_b64, validate=True).decode("utf-8").strip()
    except ValueError:
        return None
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        if any(k in obj for k in ("metric", "value", "score")):
            return obj
        upper = {k.upper(): v for k, v in obj.items()}
        if "CTRPERCENT" in upper or "ANOMALY_SCORE" in upper:
            return {"metric": "ctr_percent", "value": upper.get("CTRPERCENT"), "score": upper.get("ANOMALY_SCORE")}
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2:
        return None
    try:
        value, score = (float(p) for p in parts)
    except ValueError:
        return None
    return {"metric": "ctr_percent", "value": value, "score": score}


def utc(timestamp: str) -> datetime:
    """README: RFC 3339 with any offset, or ISO 8601 without offset taken as UTC."""
    t = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def severity_for(count: int, scores: list[float]) -> str:
    """README "Severity": critical from 100 anomalies or a score of 5; warning from 10 or a
    score of 3; info below."""
    top = max(scores, default=0.0)
    if count >= 100 or top >= 5:
        return "critical"
    if count >= 10 or top >= 3:
        return "warning"
    return "info"


@dataclass
class Expected:
    """What an event should produce, read from the event itself."""

    kind: str
    event: dict[str, Any]
    source_name: str
    count: int
    scores: list[float]
    pages: list[str]
    users: list[str]
    invocation_id: str | None = None
    partitions: list[str] = field(default_factory=list)  # Firehose: dt=…/hour=…
    readable: list[str] = field(default_factory=list)  # KDA record ids / Kinesis sequence numbers
    unreadable: list[str] = field(default_factory=list)

    @property
    def source_code(self) -> str:
        return SOURCE_CODES[self.kind]

    @property
    def severity(self) -> str:
        return severity_for(self.count, self.scores)

    @property
    def all_ids(self) -> list[str]:
        if self.kind == "kda":
            return [r["recordId"] for r in self.event["records"]]
        if self.kind == "kinesis":
            return [r["kinesis"]["sequenceNumber"] for r in self.event["Records"]]
        raise AssertionError(self.kind)


def _scores(items: list[dict[str, Any]]) -> list[float]:
    return [float(a["score"]) for a in items if a.get("score") is not None]


def _str_values(items: list[dict[str, Any]], key: str) -> list[str]:
    return [str(a[key]) for a in items if a.get(key) is not None]


def expect_firehose(event: dict[str, Any]) -> Expected:
    clicks = []
    for record in event["records"]:
        try:
            click = json.loads(base64.b64decode(record["data"], validate=True))
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(click, dict) and truthy_flag(click.get("anomaly_detected")):
            clicks.append(click)
    partitions = sorted({utc(c["timestamp"]).strftime("dt=%Y-%m-%d/hour=%H") for c in clicks})
    return Expected(
        kind="firehose",
        event=event,
        source_name=event["deliveryStreamArn"],
        invocation_id=event.get("invocationId"),
        count=len(clicks),
        scores=[],
        pages=_str_values(clicks, "page_url"),
        users=_str_values(clicks, "user_id"),
        partitions=partitions,
    )


def expect_kda(event: dict[str, Any]) -> Expected:
    read = [(r["recordId"], read_anomaly(r.get("data"))) for r in event["records"]]
    anomalies = [a for _, a in read if a is not None]
    return Expected(
        kind="kda",
        event=event,
        source_name=event["applicationArn"],
        invocation_id=event.get("invocationId"),
        count=len(anomalies),
        scores=_scores(anomalies),
        pages=_str_values(anomalies, "page_url"),
        users=_str_values(anomalies, "user_id"),
        readable=[i for i, a in read if a is not None],
        unreadable=[i for i, a in read if a is None],
    )


def expect_kinesis(event: dict[str, Any]) -> Expected:
    read = [(r["kinesis"]["sequenceNumber"], read_anomaly(r["kinesis"].get("data"))) for r in event["Records"]]
    anomalies = [a for _, a in read if a is not None]
    return Expected(
        kind="kinesis",
        event=event,
        source_name=event["Records"][0]["eventSourceARN"],
        count=len(anomalies),
        scores=_scores(anomalies),
        pages=_str_values(anomalies, "page_url"),
        users=_str_values(anomalies, "user_id"),
        readable=[i for i, a in read if a is not None],
        unreadable=[i for i, a in read if a is None],
    )


def expect_direct(event: dict[str, Any]) -> Expected:
    anomalies = event["anomalies"]
    return Expected(
        kind="direct",
        event=event,
        source_name=event["source"],
        count=len(anomalies),
        scores=_scores(anomalies),
        pages=_str_values(anomalies, "page_url"),
        users=_str_values(anomalies, "user_id"),
    )


SAMPLE_FILES = {
    "firehose": "firehose-clicks.json",
    "kda": "kda-output.json",
    "kinesis": "kinesis-stream.json",
    "direct": "direct-anomalies.json",
}
_EXPECT = {"firehose": expect_firehose, "kda": expect_kda, "kinesis": expect_kinesis, "direct": expect_direct}


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@functools.cache
def sample(kind: str) -> Expected:
    """What the sample event of `kind` should produce (read once)."""
    return _EXPECT[kind](load(SAMPLE_FILES[kind]))


def sample_path(kind: str) -> Path:
    return EVENTS / SAMPLE_FILES[kind]


def test_samples_are_what_the_contract_describes() -> None:
    """The facts the other tests rely on (so a changed sample fails here, by name)."""
    assert sample("firehose").count == 3 and len(sample("firehose").event["records"]) == 10
    assert sample("kda").count == 3 and sample("kda").unreadable == ["kda-not-an-anomaly"]
    kinesis = sample("kinesis")
    assert kinesis.count == 2 and len(kinesis.unreadable) == 1
    assert kinesis.unreadable[0].endswith("15619")
    direct = sample("direct")
    assert direct.count == 3 and direct.source_name == "flink-ctr-detector"
    for name in ("firehose-failures.json", "firehose-empty.json"):
        assert expect_firehose(load(name)).count == 0, name


# --------------------------------------------------------------------------------------------
# Checks shared by several tests
# --------------------------------------------------------------------------------------------


def noun(count: int) -> str:
    return "anomaly" if count == 1 else "anomalies"


def assert_subject(subject: Any) -> None:
    assert isinstance(subject, str), subject
    assert 1 <= len(subject) <= SUBJECT_MAX, f"{len(subject)} characters: {subject!r}"
    bad = [c for c in subject if not " " <= c <= "~"]
    assert not bad, f"not printable ASCII {bad!r} in subject {subject!r}"


def assert_sms(sms: Any) -> None:
    assert isinstance(sms, str) and sms.strip(), sms
    assert len(sms) <= SMS_MAX, f"{len(sms)} characters: {sms!r}"
    bad = [c for c in sms if not " " <= c <= "~" or c in SMS_FORBIDDEN]
    assert not bad, f"characters outside GSM-7's basic set {bad!r} in sms {sms!r}"


def assert_metrics(run: Any, **counts: int) -> None:
    metrics = run.metrics
    assert metrics is not None, f"no EMF line on stderr:\n{run.stderr}"
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ClickStream"
    got = {name: metrics.get(name) for name in counts}
    assert got == counts, f"EMF line {metrics}"


def structured(published: Any) -> dict[str, Any]:
    """The `Message` of a `MessageStructure=json` publish, parsed."""
    message = json.loads(published.message)
    assert isinstance(message, dict), published.message
    return message


def assert_success_response(expected: Expected, run: Any) -> None:
    """The answer of an invocation whose alert went out (or was not needed)."""
    assert run.returncode == 0, run.stderr
    response = run.response
    if expected.kind == "firehose":
        records = expected.event["records"]
        answers = response["records"]
        assert [a["recordId"] for a in answers] == [r["recordId"] for r in records]
        assert {a["result"] for a in answers} == {"Ok"}, answers
    elif expected.kind == "kda":
        # Records that can never be read are acknowledged too: retrying them cannot help.
        assert [a["recordId"] for a in response["records"]] == expected.all_ids
        assert {a["result"] for a in response["records"]} == {"Ok"}, response
    elif expected.kind == "kinesis":
        assert response == {"batchItemFailures": []}, response
    else:
        assert response["published"] == expected.count, response
        assert response["suppressed"] == 0, response
        assert isinstance(response["messageId"], str) and response["messageId"], response


def firehose_answers_without_invocation_time(response: Any) -> list[dict[str, Any]]:
    """A Firehose answer with each record's `data` decoded and `processed_at` (the invocation
    time, which differs between two runs) removed."""
    out = []
    for answer in response["records"]:
        answer = dict(answer)
        data = base64.b64decode(answer.pop("data"))
        try:
            decoded = json.loads(data)
            if isinstance(decoded, dict):
                decoded.pop("processed_at", None)
            answer["data"] = decoded
        except ValueError:
            answer["data"] = data.decode("utf-8", errors="replace")
        out.append(answer)
    return out


def section(report: str, title: str) -> list[str]:
    """The indented lines under `title:` in the report."""
    lines = report.splitlines()
    assert f"{title}:" in lines, f"no {title!r} section in\n{report}"
    out = []
    for line in lines[lines.index(f"{title}:") + 1 :]:
        if not line.startswith(" "):
            break
        out.append(line.strip())
    return out


def assert_ranked(report: str, title: str, values: list[str]) -> None:
    """The section lists the most frequent values (up to 5) each with its count."""
    counts = Counter(values)
    lines = section(report, title)
    assert len(lines) == min(len(counts), LIST_MAX), lines
    listed = {}
    for line in lines:
        name, _, n = line.rpartition(" ")
        listed[name.strip()] = int(n)
    for name, n in listed.items():
        assert counts.get(name) == n, f"{title}: {name} listed with {n}, the event has {counts.get(name)}"
    # Nothing left out is more frequent than what is listed.
    if listed:
        least = min(listed.values())
        assert all(n <= least for name, n in counts.items() if name not in listed), (lines, counts)


def assert_report(expected: Expected, report: str, processed_prefix: str = "") -> None:
    count = expected.count
    assert f"{count} {noun(count)} reported." in report, report
    source_lines = [line for line in report.splitlines() if line.startswith("Source: ")]
    assert len(source_lines) == 1 and source_lines[0].endswith(" " + expected.source_name), report
    if expected.kind == "firehose":
        assert f"Source: Firehose delivery stream {expected.source_name}" in report
    if expected.invocation_id:
        assert expected.invocation_id in report, report
    if expected.pages:
        assert_ranked(report, "Top pages", expected.pages)
    if expected.users:
        assert_ranked(report, "Top users", expected.users)
    if expected.scores:
        highest = [line for line in report.splitlines() if re.search(r"(?i)highest.*score", line)]
        assert highest, report
        numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", highest[0])]
        assert max(expected.scores) in numbers, highest[0]
    shown = min(count, LIST_MAX)
    assert f"Examples ({shown} of {count}):" in report, report
    examples = section(report, f"Examples ({shown} of {count})")
    assert [line.split(".", 1)[0] for line in examples] == [str(i) for i in range(1, shown + 1)], examples
    for partition in expected.partitions:
        assert f"{processed_prefix}status=anomaly/{partition}/" in report, report
    assert not [c for c in report if ord(c) < 32 and c != "\n"], "control characters in the report"


def assert_attributes(expected: Expected, attributes: dict[str, Any]) -> None:
    """The three documented message attributes, as moto stores them and as SQS delivers them
    (both `{"Type": ..., "Value": ...}`)."""
    assert {"severity", "anomaly_count", "source"} <= attributes.keys(), attributes
    assert attributes["severity"]["Type"] == "String"
    assert attributes["severity"]["Value"] == expected.severity
    assert attributes["anomaly_count"]["Type"] == "Number"
    assert int(str(attributes["anomaly_count"]["Value"])) == expected.count
    assert attributes["source"]["Type"] == "String"
    assert attributes["source"]["Value"] == expected.source_code


# --------------------------------------------------------------------------------------------
# One alert per invocation, for each kind of event
# --------------------------------------------------------------------------------------------


@dataclass
class AlertRun:
    expected: Expected
    topic: Any
    run: Any
    published: list[Any]
    delivered: list[dict[str, Any]]


@pytest.fixture(scope="module", params=KINDS)
def alert_run(request: pytest.FixtureRequest, make_topic: Any, invoke: Any, moto_sns: Any) -> AlertRun:
    """One `invoke` of a sample event with a working topic, and what SNS got from it."""
    kind = request.param
    topic = make_topic(f"alerts-{kind}")
    run = invoke(sample_path(kind), ALERT_TOPIC_ARN=topic.arn)
    return AlertRun(sample(kind), topic, run, moto_sns.published(topic.arn), topic.notifications())


def test_exactly_one_publish_and_one_delivery(alert_run: AlertRun) -> None:
    assert alert_run.run.returncode == 0, alert_run.run.stderr
    assert len(alert_run.published) == 1, alert_run.published
    assert len(alert_run.delivered) == 1, alert_run.delivered
    notification = alert_run.delivered[0]
    assert notification["Type"] == "Notification"
    assert notification["TopicArn"] == alert_run.topic.arn
    assert_metrics(
        alert_run.run,
        AlertsPublished=1,
        AlertsFailed=0,
        AlertsSuppressed=0,
        Anomalies=alert_run.expected.count,
        AnomaliesUnreadable=len(alert_run.expected.unreadable),
    )


def test_emf_line_declares_every_count(alert_run: AlertRun) -> None:
    metrics = alert_run.run.metrics
    assert metrics is not None, alert_run.run.stderr
    [directive] = metrics["_aws"]["CloudWatchMetrics"]
    assert [m["Name"] for m in directive["Metrics"]] == METRICS
    assert {m["Unit"] for m in directive["Metrics"]} == {"Count"}
    assert directive["Dimensions"] == [["EventSource"]]
    assert metrics["EventSource"] == alert_run.expected.source_code
    for name in METRICS:
        assert isinstance(metrics[name], int) and metrics[name] >= 0, (name, metrics)


def test_response_reports_success(alert_run: AlertRun) -> None:
    assert_success_response(alert_run.expected, alert_run.run)


def test_message_is_structured_per_protocol(alert_run: AlertRun) -> None:
    [published] = alert_run.published
    message = structured(published)
    assert set(message) == {"default", "email", "sms"}, message
    assert message["email"] == message["default"]
    assert len(published.message.encode()) < SNS_MESSAGE_MAX
    # SNS delivered the `default` text to SQS, not the JSON: it took MessageStructure=json.
    [notification] = alert_run.delivered
    assert notification["Message"] == message["default"]


def test_report_says_how_many_where_and_when(alert_run: AlertRun) -> None:
    [published] = alert_run.published
    assert_report(alert_run.expected, structured(published)["default"])


def test_subject_is_short_printable_ascii(alert_run: AlertRun) -> None:
    [published] = alert_run.published
    assert_subject(published.subject)
    [notification] = alert_run.delivered
    assert notification["Subject"] == published.subject


def test_sms_is_one_segment_of_gsm_basic_characters(alert_run: AlertRun) -> None:
    [published] = alert_run.published
    sms = structured(published)["sms"]
    assert_sms(sms)
    assert re.search(rf"\b{alert_run.expected.count}\b", sms), f"the SMS does not say how many: {sms!r}"


def test_message_attributes(alert_run: AlertRun) -> None:
    [published] = alert_run.published
    assert_attributes(alert_run.expected, published.attributes)
    [notification] = alert_run.delivered
    assert_attributes(alert_run.expected, notification["MessageAttributes"])


def test_message_id_is_the_one_sns_gave(alert_run: AlertRun) -> None:
    [published] = alert_run.published
    [notification] = alert_run.delivered
    assert notification["MessageId"] == published.message_id
    if alert_run.expected.kind == "direct":
        assert alert_run.run.response["messageId"] == published.message_id


def test_firehose_alert_names_the_processed_data_location(topic: Any, invoke: Any, moto_sns: Any) -> None:
    expected = sample("firehose")
    assert expected.partitions, "the sample has anomalous clicks"
    uri = f"s3://processed-{uuid.uuid4().hex[:8]}/weblogs/"
    run = invoke(sample_path("firehose"), ALERT_TOPIC_ARN=topic.arn, PROCESSED_DATA_URI=uri)
    assert_success_response(expected, run)
    [published] = moto_sns.published(topic.arn)
    assert_report(expected, structured(published)["default"], processed_prefix=uri)
    # The partitions named are those the records were written to (the answer's partition keys).
    keys = [a["metadata"]["partitionKeys"] for a in run.response["records"] if a["result"] == "Ok"]
    written = sorted({f"dt={k['event_date']}/hour={k['event_hour']}" for k in keys if k["status"] == "anomaly"})
    assert written == expected.partitions


# --------------------------------------------------------------------------------------------
# Messages stay within the limits whatever the data
# --------------------------------------------------------------------------------------------


def test_a_large_batch_makes_one_bounded_critical_alert(topic: Any, invoke: Any, moto_sns: Any, clickstream_bin: Path) -> None:
    generated = subprocess.run(
        [str(clickstream_bin), "generate", "--records", "400", "--anomaly-rate", "0.5", "--seed", "7",
         "--start", "2026-11-27T10:00:00Z"],
        capture_output=True, check=True, timeout=60,
    )
    event = json.loads(generated.stdout)
    expected = expect_firehose(event)
    assert expected.count >= 100, "the generated batch should hold at least 100 anomalies"
    run = invoke(event, ALERT_TOPIC_ARN=topic.arn)
    assert_success_response(expected, run)
    [published] = moto_sns.published(topic.arn)
    assert_attributes(expected, published.attributes)
    assert published.attributes["severity"]["Value"] == "critical"
    message = structured(published)
    assert_subject(published.subject)
    assert_sms(message["sms"])
    assert_report(expected, message["default"])
    assert len(published.message.encode()) < 64 * 1024, "the message grows with the batch"
    [notification] = topic.notifications()
    assert notification["Message"] == message["default"]


HOSTILE_TEXT = "d\u00e9tecteur {x} [y] \\ ^ ~ | ` \u202e\u200b\t\r\n\u0000\u001b[31m \U0001F600 " + "\u00f1" * 300


def test_hostile_text_cannot_break_subject_or_sms(topic: Any, invoke: Any, moto_sns: Any) -> None:
    event = {
        "source": HOSTILE_TEXT,
        "anomalies": [
            {
                "metric": "ctr{percent}" + HOSTILE_TEXT,
                "value": 1e300,
                "score": 2.5,
                "page_url": f"/p{i}" + HOSTILE_TEXT,
                "user_id": HOSTILE_TEXT,
                "detected_at": "2026-11-27T10:00:00Z",
                "details": {"note": HOSTILE_TEXT * 3},
            }
            for i in range(7)
        ],
    }
    run = invoke(event, ALERT_TOPIC_ARN=topic.arn)
    assert run.returncode == 0, run.stderr
    [published] = moto_sns.published(topic.arn)
    assert run.response["messageId"] == published.message_id
    message = structured(published)
    assert set(message) == {"default", "email", "sms"}
    assert_subject(published.subject)
    assert_sms(message["sms"])
    report = message["default"]
    assert "7 anomalies reported." in report
    assert f"Examples ({LIST_MAX} of 7):" in report
    assert not [c for c in report if (ord(c) < 32 and c != "\n") or c in "\u202e\u200b\u007f"], report
    [notification] = topic.notifications()
    assert notification["Subject"] == published.subject
    assert notification["MessageAttributes"]["anomaly_count"]["Value"] == "7"


# --------------------------------------------------------------------------------------------
# No anomalies, no message
# --------------------------------------------------------------------------------------------


def _only_unreadable_kda() -> dict[str, Any]:
    event = load(SAMPLE_FILES["kda"])
    event["records"] = [r for r in event["records"] if read_anomaly(r.get("data")) is None]
    assert event["records"]
    return event


def _only_unreadable_kinesis() -> dict[str, Any]:
    event = load(SAMPLE_FILES["kinesis"])
    event["Records"] = [r for r in event["Records"] if read_anomaly(r["kinesis"].get("data")) is None]
    assert event["Records"]
    return event


NO_ANOMALY_EVENTS = {
    "firehose-failures": lambda: load("firehose-failures.json"),
    "firehose-empty": lambda: load("firehose-empty.json"),
    "kda-unreadable-only": _only_unreadable_kda,
    "kinesis-unreadable-only": _only_unreadable_kinesis,
    "direct-empty": lambda: {"source": "flink-ctr-detector", "anomalies": []},
}


def unreadable_records(name: str, event: dict[str, Any]) -> int:
    """How many records of a no-anomaly event are unreadable anomaly records (KDA, Kinesis)."""
    if name.startswith("kda"):
        return len(event["records"])
    if name.startswith("kinesis"):
        return len(event["Records"])
    return 0


def assert_no_anomaly_response(name: str, event: dict[str, Any], run: Any) -> None:
    assert run.returncode == 0, run.stderr
    response = run.response
    if name.startswith("firehose"):
        assert [a["recordId"] for a in response["records"]] == [r["recordId"] for r in event["records"]]
    elif name.startswith("kda"):
        # Unreadable records are acknowledged, not handed back to be retried forever.
        assert [a["recordId"] for a in response["records"]] == [r["recordId"] for r in event["records"]]
        assert {a["result"] for a in response["records"]} == {"Ok"}
    elif name.startswith("kinesis"):
        assert response == {"batchItemFailures": []}
    else:
        assert response == {"published": 0, "suppressed": 0, "messageId": None}
    assert_metrics(run, AnomaliesUnreadable=unreadable_records(name, event))


@pytest.mark.parametrize("name", NO_ANOMALY_EVENTS)
def test_no_message_without_anomalies(name: str, topic: Any, invoke: Any, moto_sns: Any) -> None:
    event = NO_ANOMALY_EVENTS[name]()
    run = invoke(event, ALERT_TOPIC_ARN=topic.arn)
    assert_no_anomaly_response(name, event, run)
    assert moto_sns.published(topic.arn) == []
    assert topic.notifications(wait_seconds=0) == []
    assert_metrics(run, Anomalies=0, AlertsPublished=0, AlertsFailed=0, AlertsSuppressed=0)


@pytest.mark.parametrize("name", NO_ANOMALY_EVENTS)
def test_without_anomalies_a_broken_topic_does_not_matter(name: str, invoke: Any) -> None:
    """No publish is attempted at all: a topic that does not exist changes nothing."""
    event = NO_ANOMALY_EVENTS[name]()
    run = invoke(event, ALERT_TOPIC_ARN=f"arn:aws:sns:us-east-1:123456789012:NoSuchTopic-{uuid.uuid4().hex[:8]}")
    assert_no_anomaly_response(name, event, run)
    assert_metrics(run, AlertsPublished=0, AlertsFailed=0)


# --------------------------------------------------------------------------------------------
# When SNS fails (README "When SNS fails")
# --------------------------------------------------------------------------------------------


@pytest.fixture(params=["nonexistent-topic", "unreachable-sns"])
def broken_sns(request: pytest.FixtureRequest, moto_endpoint: str) -> Any:
    """Environment for a publish that fails: a topic that does not exist in moto, or an SNS
    endpoint on 127.0.0.1 that refuses connections (a bound port nobody listens on)."""
    arn = f"arn:aws:sns:us-east-1:123456789012:NoSuchTopic-{uuid.uuid4().hex[:8]}"
    if request.param == "nonexistent-topic":
        yield {"ALERT_TOPIC_ARN": arn}
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = closed.getsockname()[1]
        yield {"ALERT_TOPIC_ARN": arn, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}


@pytest.fixture
def nothing_published(moto_sns: Any) -> Any:
    """Asserts, after the test, that no topic in moto got a message during it."""
    before = moto_sns.publish_counts()
    yield
    assert moto_sns.publish_counts() == before


def test_firehose_results_never_depend_on_sns(broken_sns: dict[str, str], topic: Any, invoke: Any, moto_sns: Any) -> None:
    expected = sample("firehose")
    working = invoke(sample_path("firehose"), ALERT_TOPIC_ARN=topic.arn)
    assert_success_response(expected, working)
    assert len(moto_sns.published(topic.arn)) == 1

    before = moto_sns.publish_counts()
    broken = invoke(sample_path("firehose"), **broken_sns)
    assert moto_sns.publish_counts() == before
    assert broken.returncode == 0, broken.stderr
    assert {a["result"] for a in broken.response["records"]} == {"Ok"}
    assert firehose_answers_without_invocation_time(broken.response) == firehose_answers_without_invocation_time(working.response)
    assert_metrics(broken, AlertsFailed=1, AlertsPublished=0, Anomalies=expected.count, RecordsOk=len(expected.event["records"]))


def test_kda_only_readable_records_fail_delivery(broken_sns: dict[str, str], invoke: Any, nothing_published: None) -> None:
    """KDA retries `DeliveryFailed` records: those whose alert failed are handed back; one that
    can never be read is acknowledged, since a retry would fail the same way forever."""
    expected = sample("kda")
    run = invoke(sample_path("kda"), **broken_sns)
    assert run.returncode == 0, run.stderr
    assert [a["recordId"] for a in run.response["records"]] == expected.all_ids
    results = {a["recordId"]: a["result"] for a in run.response["records"]}
    assert {i: results[i] for i in expected.readable} == {i: "DeliveryFailed" for i in expected.readable}
    assert {i: results[i] for i in expected.unreadable} == {i: "Ok" for i in expected.unreadable}
    assert_metrics(
        run, AlertsFailed=1, AlertsPublished=0, Anomalies=expected.count, AnomaliesUnreadable=len(expected.unreadable)
    )


def test_kinesis_only_readable_records_are_batch_item_failures(
    broken_sns: dict[str, str], invoke: Any, nothing_published: None
) -> None:
    """Lambda retries from the lowest failed sequence number: listing a record that can never
    be read would stall the shard until it expires, so only readable ones are listed."""
    expected = sample("kinesis")
    run = invoke(sample_path("kinesis"), **broken_sns)
    assert run.returncode == 0, run.stderr
    failed = [f["itemIdentifier"] for f in run.response["batchItemFailures"]]
    assert sorted(failed) == sorted(expected.readable)
    assert len(failed) == len(set(failed)), failed
    assert_metrics(
        run, AlertsFailed=1, AlertsPublished=0, Anomalies=expected.count, AnomaliesUnreadable=len(expected.unreadable)
    )


def test_direct_invocation_fails(broken_sns: dict[str, str], invoke: Any, nothing_published: None) -> None:
    run = invoke(sample_path("direct"), **broken_sns)
    assert run.returncode == 1, run.stderr
    assert run.stdout == "", run.stdout
    assert run.response is None
    error_lines = [line for line in run.stderr.splitlines() if line.startswith("clickstream-lambda:")]
    assert len(error_lines) == 1, run.stderr
    assert run.stderr.rstrip("\n").splitlines()[-1] == error_lines[0]
    assert_metrics(run, AlertsFailed=1, AlertsPublished=0)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_cooldown_zero_publishes_every_invocation(kind: str, topic: Any, invoke: Any, moto_sns: Any) -> None:
    expected = sample(kind)
    runs = [invoke(sample_path(kind), ALERT_TOPIC_ARN=topic.arn, ALERT_COOLDOWN_SECONDS="0") for _ in range(2)]
    for run in runs:
        assert_success_response(expected, run)
        assert_metrics(run, AlertsPublished=1, AlertsSuppressed=0, AlertsFailed=0)
    published = moto_sns.published(topic.arn)
    assert len(published) == 2
    for p in published:
        assert_attributes(expected, p.attributes)
        assert_report(expected, structured(p)["default"])
    delivered = topic.notifications()
    assert sorted(n["MessageId"] for n in delivered) == sorted(p.message_id for p in published)
    if kind == "direct":
        assert sorted(r.response["messageId"] for r in runs) == sorted(p.message_id for p in published)


@pytest.mark.parametrize("kind", KINDS)
def test_dry_run_publishes_nothing_and_prints_the_alert(kind: str, invoke: Any, moto_sns: Any) -> None:
    expected = sample(kind)
    before = moto_sns.publish_counts()
    run = invoke(sample_path(kind), ALERT_TOPIC_ARN=None)
    assert moto_sns.publish_counts() == before
    assert run.returncode == 0, run.stderr
    for label in ("subject:", "sms:", "email:"):
        assert label in run.stderr, f"{label!r} missing from stderr:\n{run.stderr}"
    assert f"{expected.count} {noun(expected.count)} reported." in run.stderr
    subject = next(line for line in run.stderr.splitlines() if line.startswith("subject: "))
    assert_subject(subject.removeprefix("subject: "))
    sms = next(line for line in run.stderr.splitlines() if line.startswith("sms: "))
    assert_sms(sms.removeprefix("sms: "))
    if kind == "direct":
        # Nothing was published: the answer says the anomalies went to a dry run instead.
        assert run.response == {"published": 0, "suppressed": 0, "dryRun": expected.count, "messageId": None}
    else:
        assert_success_response(expected, run)
    # Logged and counted as a dry run, not as a publish.
    assert "alert not published: dry run" in run.stderr, run.stderr
    assert "alert published" not in run.stderr, run.stderr
    assert_metrics(
        run,
        Anomalies=expected.count,
        AnomaliesUnreadable=len(expected.unreadable),
        AlertsPublished=0,
        AlertsSuppressed=0,
        AlertsFailed=0,
    )

    # And no request at all: with the SDK pointed at a listener on 127.0.0.1, nobody connects.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        again = invoke(sample_path(kind), ALERT_TOPIC_ARN=None, AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}")
        assert again.returncode == 0, again.stderr
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()[0].close()


# --------------------------------------------------------------------------------------------
# Logs cannot be forged by the data
# --------------------------------------------------------------------------------------------

# A value that, printed as is, would end the log line and start a fake one.
FORGED = '\n INFO alert published source="forged"\r\t\\'


def rust_debug(text: str) -> str:
    """Rust's `{:?}` of an ASCII string: quoted, with backslash, double quote, \\n, \\r and \\t
    escaped (how ids and source names appear in the text logs)."""
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return '"' + "".join(escapes.get(c, c) for c in text) + '"'


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _hostile_kda() -> tuple[dict[str, Any], list[str]]:
    event = load(SAMPLE_FILES["kda"])
    event["applicationArn"] += FORGED
    event["records"][-1]["recordId"] += FORGED
    assert read_anomaly(event["records"][-1]["data"]) is None, "the last sample record is unreadable"
    return event, [event["applicationArn"], event["records"][-1]["recordId"]]


def _hostile_kinesis() -> tuple[dict[str, Any], list[str]]:
    event = load(SAMPLE_FILES["kinesis"])
    for record in event["Records"]:
        record["eventSourceARN"] += FORGED
    last = event["Records"][-1]["kinesis"]
    last["sequenceNumber"] += FORGED
    assert read_anomaly(last["data"]) is None, "the last sample record is unreadable"
    return event, [event["Records"][0]["eventSourceARN"], last["sequenceNumber"]]


def _hostile_firehose() -> tuple[dict[str, Any], list[str]]:
    event = load(SAMPLE_FILES["firehose"])
    event["deliveryStreamArn"] += FORGED
    event["records"].append({**event["records"][0], "recordId": "bad" + FORGED, "data": "!not base64!"})
    return event, [event["deliveryStreamArn"], event["records"][-1]["recordId"]]


def _hostile_direct() -> tuple[dict[str, Any], list[str]]:
    event = load(SAMPLE_FILES["direct"])
    event["source"] += FORGED
    return event, [event["source"]]


HOSTILE_LOG_EVENTS = {
    "kda": _hostile_kda,
    "kinesis": _hostile_kinesis,
    "firehose": _hostile_firehose,
    "direct": _hostile_direct,
}


@pytest.mark.parametrize("kind", HOSTILE_LOG_EVENTS)
def test_ids_and_sources_are_quoted_and_escaped_in_logs(kind: str, invoke: Any) -> None:
    """Record ids and source names come from the event: the logs print them Debug-escaped
    (`record_id="..."`), so a newline in one cannot start a line of its own."""
    event, hostile = HOSTILE_LOG_EVENTS[kind]()
    run = invoke(event, ALERT_TOPIC_ARN=None)
    assert run.returncode == 0, run.stderr
    for value in hostile:
        assert rust_debug(value) in run.stderr, f"{rust_debug(value)} not in stderr:\n{run.stderr}"
    forged = [line for line in run.stderr.splitlines() if line.lstrip().startswith("INFO alert published")]
    assert not forged, run.stderr


# --------------------------------------------------------------------------------------------
# Storm control in one warm handler (`replay`)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def replay(clickstream_bin: Path, aws_env: dict[str, str]) -> Any:
    """`replay(events, **env)` runs `clickstream-lambda replay` on the events (one JSON line
    each, through one handler as one warm container would) and returns the finished process."""

    def run(events: list[dict[str, Any]], **env: str) -> subprocess.CompletedProcess[str]:
        lines = "".join(json.dumps(e) + "\n" for e in events)
        return subprocess.run(
            [str(clickstream_bin), "replay", "-"],
            input=lines,
            capture_output=True,
            text=True,
            env={**aws_env, **env},
            cwd=REPO_ROOT,
            timeout=60,
            check=False,
        )

    return run



def direct_event(source: str, score: float) -> dict[str, Any]:
    """A direct event of one anomaly: `info` below a score of 3, `critical` from 5."""
    anomaly = {"metric": "ctr_percent", "value": 40.0, "expected": 11.5, "score": score,
               "page_url": "/pagina-1", "detected_at": "2026-11-27T10:05:00Z"}
    return {"source": source, "anomalies": [anomaly]}


def test_storm_control_tells_sources_apart_by_kind(replay: Any, topic: Any, moto_sns: Any) -> None:
    """A direct caller naming itself after a KDA application's ARN is another source: the KDA
    alert's quiet period does not hold its alert back (which is no more severe)."""
    kda = load(SAMPLE_FILES["kda"])
    assert sample("kda").severity == "warning"
    impostor = direct_event(kda["applicationArn"], score=1.0)
    done = replay([kda, impostor, impostor], ALERT_TOPIC_ARN=topic.arn)
    assert done.returncode == 0, done.stderr
    published = moto_sns.published(topic.arn)
    # The second direct event falls in the direct source's own quiet period.
    assert [p.attributes["source"]["Value"] for p in published] == ["kinesis-analytics", "direct"]
    assert [p.attributes["severity"]["Value"] for p in published] == ["warning", "info"]


def test_a_more_severe_alert_breaks_through_the_cooldown(replay: Any, topic: Any, moto_sns: Any) -> None:
    """Within the quiet period an alert no more severe than the last one sent is held, and one
    more severe goes out at once, reporting what was held; after it, less severe ones are held."""
    source = f"detector-{uuid.uuid4().hex[:8]}"
    info, critical = direct_event(source, score=1.0), direct_event(source, score=6.0)
    done = replay([info, info, critical, info], ALERT_TOPIC_ARN=topic.arn)
    assert done.returncode == 0, done.stderr
    published = moto_sns.published(topic.arn)
    assert [p.attributes["severity"]["Value"] for p in published] == ["info", "critical"]
    # The critical alert reports the held anomaly too.
    assert [int(str(p.attributes["anomaly_count"]["Value"])) for p in published] == [1, 2]
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["severity"] for line in printed] == ["info", "critical"]
