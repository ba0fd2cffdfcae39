"""Shared fixtures for the integration tests, which run against moto_server on 127.0.0.1.

`./scripts/test` starts moto_server (through ``scripts/moto_serialised.py``, which does one
request's backend work at a time, so that a conditional write is atomic as in DynamoDB; the
state tests race containers against it) and exports:

- ``MOTO_ENDPOINT``: ``http://127.0.0.1:PORT`` of moto_server (SNS, SQS, Firehose, S3, ...);
- ``CLICKSTREAM_BIN``: the absolute path of ``debug/clickstream-lambda`` in cargo's build
  folder (``target_directory`` of ``cargo metadata``: ``target/`` unless CARGO_TARGET_DIR or
  ``build.target-dir`` puts it elsewhere).

What is here is generic (any service moto serves, any event): the AWS environment for
subprocesses, boto3 clients pointed at moto, a fresh SNS topic with an SQS queue subscribed to
it, ``invoke`` (runs the binary's ``invoke`` subcommand), and ``moto_sns`` (what moto's SNS
actually received, read from ``/moto-api/data.json``).

Nothing here talks to anything but ``MOTO_ENDPOINT``: the subprocess environment always points
the AWS SDK at moto and turns the instance-metadata lookup off.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple

import boto3
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO_ROOT / "events"

REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
INVOKE_TIMEOUT_SECONDS = 60

# Variables removed from the subprocess environment so the calling shell cannot change what the
# binary does or where it sends requests; tests set what they need explicitly.
# The detection settings (DETECT_*, RATE_*, BURST_*) too: a test states the ones it needs.
_SCRUBBED_PREFIXES = ("AWS_", "DETECT_", "RATE_", "BURST_")
_SCRUBBED_NAMES = (
    "ALERT_TOPIC_ARN",
    "ALERT_COOLDOWN_SECONDS",
    "DROP_EVENT_TYPES",
    "PROCESSED_DATA_URI",
    "STATE_TABLE",
    "RUST_LOG",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def _required_env(name: str, what: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(
            f"{name} is not set: {what}. These integration tests need moto_server and the built "
            "binary; run them with ./scripts/test, which starts moto_server on 127.0.0.1 and "
            f"exports {name}.",
            pytrace=False,
        )
    return value


# --------------------------------------------------------------------------------------------
# Endpoints, environment, clients
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_endpoint() -> str:
    """``MOTO_ENDPOINT`` (``http://127.0.0.1:PORT``); fails, never skips, when it is missing."""
    return _required_env("MOTO_ENDPOINT", "it names the moto_server the tests talk to").rstrip("/")


@pytest.fixture(scope="session")
def clickstream_bin() -> Path:
    """``CLICKSTREAM_BIN``, the built ``clickstream-lambda``; fails when missing."""
    path = Path(_required_env("CLICKSTREAM_BIN", "it names the clickstream-lambda binary under test"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"CLICKSTREAM_BIN={path} is not an executable file; build it with "
            "`cargo build --bins` or run ./scripts/test",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def aws_env(moto_endpoint: str) -> dict[str, str]:
    """Environment for subprocesses: the AWS SDK pointed at moto with test credentials.

    The calling shell's ``AWS_*`` variables (``AWS_PROFILE`` included) and the function's
    configuration variables are removed; shared config files are replaced by an empty file so a
    developer's ``~/.aws`` cannot redirect requests. Shared by the session: copy it before
    changing it (``invoke`` does).
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_SCRUBBED_PREFIXES) and k not in _SCRUBBED_NAMES
    }
    env.update(
        AWS_ENDPOINT_URL=moto_endpoint,
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        RUST_LOG="info",
    )
    assert "AWS_PROFILE" not in env
    return env


@pytest.fixture(scope="session")
def aws_client(moto_endpoint: str) -> Callable[[str], Any]:
    """Factory of boto3 clients pointed at moto: ``aws_client("sns")``, ``aws_client("firehose")``."""
    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )
    clients: dict[str, Any] = {}

    def make(service: str) -> Any:
        if service not in clients:
            clients[service] = session.client(service, endpoint_url=moto_endpoint)
        return clients[service]

    return make


@pytest.fixture(scope="session")
def sns(aws_client: Callable[[str], Any]) -> Any:
    return aws_client("sns")


@pytest.fixture(scope="session")
def sqs(aws_client: Callable[[str], Any]) -> Any:
    return aws_client("sqs")


# --------------------------------------------------------------------------------------------
# What moto's SNS received
# --------------------------------------------------------------------------------------------


class Published(NamedTuple):
    """One ``Publish`` as moto's SNS stored it: the message exactly as sent (for
    ``MessageStructure=json``, the whole JSON with one text per protocol)."""

    message_id: str
    message: str
    subject: str | None
    attributes: dict[str, dict[str, Any]]
    group_id: str | None


class MotoSns:
    """Reads ``GET {MOTO_ENDPOINT}/moto-api/data.json`` (moto 5.2.5): its ``sns`` → ``Topic``
    list holds each topic's ``sent_notifications``, one
    ``[message_id, message, subject, message_attributes, group_id]`` per ``Publish``."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def data(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=30) as answer:
            return json.load(answer)

    def topics(self) -> list[dict[str, Any]]:
        return self.data().get("sns", {}).get("Topic", [])

    @staticmethod
    def _notification(raw: Any) -> Published:
        if isinstance(raw, dict):
            return Published(
                raw["message_id"],
                raw["message"],
                raw.get("subject"),
                raw.get("message_attributes") or {},
                raw.get("group_id"),
            )
        if not (isinstance(raw, list) and len(raw) >= 4):
            raise AssertionError(f"unexpected shape of a moto SNS sent notification: {raw!r}")
        message_id, message, subject, attributes = raw[:4]
        group_id = raw[4] if len(raw) > 4 else None
        return Published(message_id, message, subject, attributes or {}, group_id)

    def published(self, topic_arn: str) -> list[Published]:
        """Every message published to ``topic_arn``, oldest first; [] for an unknown topic."""
        found = [t for t in self.topics() if t.get("arn") == topic_arn]
        assert len(found) <= 1, f"moto lists {topic_arn} {len(found)} times"
        if not found:
            return []
        return [self._notification(n) for n in found[0].get("sent_notifications", [])]

    def publish_counts(self) -> dict[str, int]:
        """Messages published so far, per topic ARN."""
        return {t["arn"]: len(t.get("sent_notifications", [])) for t in self.topics()}

    def total_published(self) -> int:
        """Messages published to all topics of every account and region moto holds."""
        return sum(self.publish_counts().values())


@pytest.fixture(scope="session")
def moto_sns(moto_endpoint: str) -> MotoSns:
    return MotoSns(moto_endpoint)


# --------------------------------------------------------------------------------------------
# A fresh topic with an SQS subscriber
# --------------------------------------------------------------------------------------------


@dataclass
class Topic:
    """An SNS topic with one SQS queue subscribed (``RawMessageDelivery`` false), so each
    queue message body is the SNS notification JSON: ``Type``, ``MessageId``, ``TopicArn``,
    ``Subject``, ``Message`` (the ``default`` text of a structured message, SQS having no key of
    its own), ``MessageAttributes``."""

    arn: str
    name: str
    queue_url: str
    queue_arn: str
    subscription_arn: str
    _sqs: Any

    def notifications(self, wait_seconds: int = 1) -> list[dict[str, Any]]:
        """Drains the queue: every notification delivered since the last call, parsed, oldest
        first (by SNS ``Timestamp``). Waits at most ``wait_seconds`` for the first one."""
        out: list[dict[str, Any]] = []
        wait = wait_seconds
        while True:
            answer = self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            )
            messages = answer.get("Messages", [])
            if not messages:
                break
            for m in messages:
                out.append(json.loads(m["Body"]))
                self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
            wait = 0
        out.sort(key=lambda n: n.get("Timestamp", ""))
        return out


@pytest.fixture(scope="session")
def make_topic(sns: Any, sqs: Any) -> Any:
    """Factory of fresh, uniquely named topics with an SQS subscriber; all are deleted at the
    end of the session. ``make_topic("prefix")`` → :class:`Topic`."""
    made: list[Topic] = []

    def make(prefix: str = "clickstream-alerts") -> Topic:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        arn = sns.create_topic(Name=name)["TopicArn"]
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        subscription = sns.subscribe(
            TopicArn=arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "false"},
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        topic = Topic(arn, name, queue_url, queue_arn, subscription, sqs)
        made.append(topic)
        return topic

    yield make

    for topic in made:
        for cleanup in (
            lambda: sns.unsubscribe(SubscriptionArn=topic.subscription_arn),
            lambda: sns.delete_topic(TopicArn=topic.arn),
            lambda: sqs.delete_queue(QueueUrl=topic.queue_url),
        ):
            try:
                cleanup()
            except Exception:  # noqa: BLE001 - best effort; moto goes away with the run
                pass


@pytest.fixture
def topic(make_topic: Any) -> Topic:
    """A fresh uniquely named SNS topic with an SQS queue subscribed to it."""
    return make_topic()


# --------------------------------------------------------------------------------------------
# Running the binary
# --------------------------------------------------------------------------------------------


class _InvocationTuple(NamedTuple):
    returncode: int
    response: Any
    stderr: str


class Invocation(_InvocationTuple):
    """``(returncode, parsed stdout JSON or None, stderr)``, plus ``stdout`` (the raw text)
    and ``metrics`` (the CloudWatch EMF line on stderr, parsed, or None)."""

    stdout: str

    @property
    def metrics(self) -> dict[str, Any] | None:
        return emf_metrics(self.stderr)


def emf_metrics(stderr: str) -> dict[str, Any] | None:
    """The one CloudWatch EMF line (a JSON object with ``_aws``) on ``stderr``; None when there
    is none, an assertion error when there are several."""
    found = []
    for line in stderr.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "_aws" in value:
            found.append(value)
    assert len(found) <= 1, f"{len(found)} EMF lines on stderr:\n{stderr}"
    return found[0] if found else None


def _event_input(event: Any) -> tuple[str, bytes | None]:
    """The FILE argument and the standard input for one event: a path (``Path``, or a string
    not starting with ``{``/``[``; relative paths are taken from the repository root, so
    ``"events/kda-output.json"`` works), or JSON (a dict or list, or JSON text/bytes) sent on
    standard input with ``-``."""
    if isinstance(event, (dict, list)):
        return "-", json.dumps(event).encode()
    if isinstance(event, bytes):
        return "-", event
    if isinstance(event, str) and event.lstrip()[:1] in ("{", "["):
        return "-", event.encode()
    path = Path(event)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return str(path), None


@pytest.fixture(scope="session")
def invoke(clickstream_bin: Path, aws_env: dict[str, str]) -> Callable[..., Invocation]:
    """``invoke(event_path_or_json, **env)`` runs ``clickstream-lambda invoke`` once and
    returns :class:`Invocation` ``(returncode, response, stderr)``.

    ``env`` adds to :func:`aws_env` (``ALERT_TOPIC_ARN=topic.arn``); a value of None removes
    the variable. Timeout 60 s.
    """

    def run(event: Any, **env: str | None) -> Invocation:
        arg, stdin = _event_input(event)
        full_env = dict(aws_env)
        for name, value in env.items():
            if value is None:
                full_env.pop(name, None)
            else:
                full_env[name] = str(value)
        done = subprocess.run(
            [str(clickstream_bin), "invoke", arg],
            input=stdin if stdin is not None else b"",
            capture_output=True,
            env=full_env,
            cwd=REPO_ROOT,
            timeout=INVOKE_TIMEOUT_SECONDS,
            check=False,
        )
        stdout = done.stdout.decode("utf-8", errors="replace")
        stderr = done.stderr.decode("utf-8", errors="replace")
        try:
            response = json.loads(stdout) if stdout.strip() else None
        except ValueError:
            response = None
        result = Invocation(done.returncode, response, stderr)
        result.stdout = stdout
        return result

    return run
