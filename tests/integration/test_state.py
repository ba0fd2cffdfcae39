"""The shared state store against moto_server's DynamoDB: `state init` creates the table the
template declares; `replay --containers K` finds the same anomalies for K = 1, 2 and 4 as one
container with its memory; and a store that hangs or refuses never changes a record's answer.

The store's own contract (counts, idempotence, the clock, versions, a conditional-write race)
is a Rust test run on both stores (`cargo test --lib contract`, with MOTO_ENDPOINT for DynamoDB).
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from conftest import REPO_ROOT
from test_alerts import firehose_answers_without_invocation_time

TEMPLATE = REPO_ROOT / "template.yaml"


def run(binary: Path, args: list[str], env: dict[str, str], stdin: bytes = b"", timeout: int = 300):
    return subprocess.run(
        [str(binary), *args],
        input=stdin,
        capture_output=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=timeout,
        check=False,
    )


def make_table(clickstream_bin: Path, aws_env: dict[str, str]) -> str:
    name = f"state-{uuid.uuid4().hex[:8]}"
    done = run(clickstream_bin, ["state", "init", "--table", name], aws_env, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return name


def test_state_init_creates_the_table_the_template_declares(clickstream_bin, aws_env, aws_client):
    name = make_table(clickstream_bin, aws_env)
    dynamodb = aws_client("dynamodb")
    table = dynamodb.describe_table(TableName=name)["Table"]
    declared = cfn_yaml.load(str(TEMPLATE))["Resources"]["StateTable"]["Properties"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == declared["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(
        declared["AttributeDefinitions"], key=str
    )
    assert table["BillingModeSummary"]["BillingMode"] == declared["BillingMode"]
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"
    assert ttl["AttributeName"] == declared["TimeToLiveSpecification"]["AttributeName"]
    # A second init says why it cannot.
    again = run(clickstream_bin, ["state", "init", "--table", name], aws_env, timeout=120)
    assert again.returncode == 1
    assert "exists" in again.stderr.decode()


@pytest.fixture(scope="module")
def traffic(clickstream_bin, aws_env, tmp_path_factory) -> Path:
    """Two hours of labeled traffic (one event per minute) with a spike, a silent page and a bot:
    past the 30-window warm-up, so the rate detector has something to find."""
    path = tmp_path_factory.mktemp("state") / "traffic.jsonl"
    done = run(
        clickstream_bin,
        ["generate", "--duration", "2h", "--rate", "10", "--seed", "2",
         "--inject", "spike:at=1h,page=7", "--inject", "drop:at=1h30m,page=10",
         "--inject", "bot:at=1h45m,user=777"],
        aws_env,
    )
    assert done.returncode == 0, done.stderr.decode()
    path.write_bytes(done.stdout)
    return path


def findings(stdout: bytes) -> list[str]:
    """Every anomaly of every alert line, without the detection time (when it was reported
    depends on which container scored the window), sorted."""
    found = set()
    for line in stdout.decode().splitlines():
        for anomaly in json.loads(line)["anomalies"]:
            anomaly.pop("detected_at", None)
            found.add(json.dumps(anomaly, sort_keys=True))
    return sorted(found)


# Storm control off: each finding is printed by the alert of the invocation that found it,
# whichever container that is. Lateness covers what 4 concurrent one-minute batches span in
# event time, so no container scores a window whose clicks another is still adding.
REPLAY_ENV = {"ALERT_COOLDOWN_SECONDS": "0", "RATE_LATENESS_SECONDS": "300", "RUST_LOG": "warn"}


@pytest.fixture(scope="module")
def one_container(clickstream_bin, aws_env, traffic) -> list[str]:
    env = {**aws_env, **REPLAY_ENV}
    done = run(clickstream_bin, ["replay", str(traffic)], env)
    assert done.returncode == 0, done.stderr.decode()
    found = findings(done.stdout)
    metrics = {json.loads(f)["metric"] for f in found}
    assert {"click_rate", "user_burst"} <= metrics, found
    return found


@pytest.mark.parametrize("containers", [1, 2, 4])
def test_k_containers_sharing_dynamodb_find_what_one_container_finds(
    clickstream_bin, aws_env, traffic, one_container, containers
):
    table = make_table(clickstream_bin, aws_env)
    env = {**aws_env, **REPLAY_ENV, "STATE_TABLE": table}
    done = run(clickstream_bin, ["replay", "--containers", str(containers), str(traffic)], env)
    assert done.returncode == 0, done.stderr.decode()
    assert "state store failed" not in done.stderr.decode()
    assert findings(done.stdout) == one_container


class Hanging:
    """A loopback server that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("store", ["hangs", "refuses"])
def test_a_store_that_hangs_or_refuses_changes_no_answer(invoke, store):
    event = "events/firehose-clicks.json"
    expected = invoke(event)
    assert expected.returncode == 0
    hanging = Hanging() if store == "hangs" else None
    port = hanging.port if hanging else closed_port()
    try:
        started = time.monotonic()
        got = invoke(
            event,
            STATE_TABLE="clickstream-state",
            AWS_ENDPOINT_URL_DYNAMODB=f"http://127.0.0.1:{port}",
        )
        elapsed = time.monotonic() - started
    finally:
        if hanging:
            hanging.close()
    assert got.returncode == 0, got.stderr
    assert firehose_answers_without_invocation_time(
        got.response
    ) == firehose_answers_without_invocation_time(expected.response)
    assert got.metrics["StateStoreErrors"] == 1
    assert got.metrics["RecordsOk"] == expected.metrics["RecordsOk"]
    assert got.metrics["ProducerFlags"] == expected.metrics["ProducerFlags"]
    # The store's budget is 2 s per invocation; the rest is the process starting.
    assert elapsed < 6.0, elapsed
    warnings = [l for l in got.stderr.splitlines() if "state store failed" in l]
    assert len(warnings) == 1, got.stderr




SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@pytest.mark.parametrize("containers", [1, 4])
def test_k_containers_send_at_most_one_alert_per_source_and_period(
    clickstream_bin, aws_env, tmp_path, containers
):
    """Anomalies a minute or two apart, storm control at its default 300 s: whichever container
    finds them, an alert follows the source's previous one by 300 s at least, unless it is more
    severe (which breaks through, as in one container)."""
    generated = run(
        clickstream_bin,
        ["generate", "--duration", "80m", "--rate", "10", "--seed", "5",
         "--inject", "bot:at=62m,user=777", "--inject", "spike:at=64m,page=3",
         "--inject", "bot:at=66m,user=778", "--inject", "drop:at=68m,page=9",
         "--inject", "bot:at=72m,user=779"],
        aws_env,
    )
    assert generated.returncode == 0, generated.stderr.decode()
    table = make_table(clickstream_bin, aws_env)
    env = {**aws_env, "RUST_LOG": "warn", "RATE_LATENESS_SECONDS": "300", "STATE_TABLE": table}
    done = run(clickstream_bin, ["replay", "--containers", str(containers)], env, generated.stdout)
    assert done.returncode == 0, done.stderr.decode()
    alerts = sorted(
        (datetime.fromisoformat(a["at"].replace("Z", "+00:00")), SEVERITY_RANK[a["severity"]])
        for a in map(json.loads, done.stdout.decode().splitlines())
    )
    assert len(alerts) >= 2, alerts
    for (before, severity_before), (after, severity) in zip(alerts, alerts[1:]):
        assert (after - before).total_seconds() >= 300 or severity > severity_before, alerts
