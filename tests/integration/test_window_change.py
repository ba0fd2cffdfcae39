"""`RateWindowSeconds` changed on a live stack, against moto_server's DynamoDB: the stream's
state is kept per window length, so after the change detection warms up on state of its own and
alerts, instead of reading the old length's window numbers and staying silent until that state
expires (30 days); the old length's items are left as they were.
"""

from __future__ import annotations

import json
import re

from test_state import make_table, run

STREAM = "arn:aws:firehose:us-east-1:123456789012:deliverystream/ClickStreamingFirehose"


def state_items(aws_client, table: str) -> dict[str, int]:
    """The version of every stream state item in the table, by partition key."""
    items = aws_client("dynamodb").scan(TableName=table)["Items"]
    return {i["pk"]["S"]: int(i["version"]["N"]) for i in items if i["sk"]["S"] == "state"}


def test_a_changed_window_length_keeps_detecting_on_a_shared_table(
    clickstream_bin, aws_env, aws_client, tmp_path
):
    # 4 h 30 min at 5 clicks a second; /pagina-1 (a fifth of the clicks) silent 04:00-04:05.
    generated = run(
        clickstream_bin,
        ["generate", "--duration", "4h30m", "--rate", "5", "--seed", "3",
         "--inject", "drop:at=4h,page=1"],
        aws_env,
    )
    assert generated.returncode == 0, generated.stderr.decode()
    events = generated.stdout.decode().splitlines()
    first, second = tmp_path / "first-hour.jsonl", tmp_path / "then.jsonl"
    first.write_text("\n".join(events[:60]) + "\n")
    second.write_text("\n".join(events[60:]) + "\n")

    table = make_table(clickstream_bin, aws_env)
    env = {**aws_env, "STATE_TABLE": table, "ALERT_COOLDOWN_SECONDS": "0", "RUST_LOG": "info"}
    # The first hour with one-minute windows, as the stack ran.
    done = run(clickstream_bin, ["replay", str(first)], {**env, "RATE_WINDOW_SECONDS": "60"})
    assert done.returncode == 0, done.stderr.decode()
    before = state_items(aws_client, table)
    assert set(before) == {f"s#{STREAM}#60s"}, before
    assert before[f"s#{STREAM}#60s"] > 30, "the one-minute windows were scored"

    # Then the stack's RateWindowSeconds is set to 300: new containers, the same table.
    done = run(clickstream_bin, ["replay", str(second)], {**env, "RATE_WINDOW_SECONDS": "300"})
    assert done.returncode == 0, done.stderr.decode()
    logs = done.stderr.decode()
    assert "state store failed" not in logs
    assert logs.count("rate state starts empty for this stream and window length") == 1, logs[-2000:]
    assert "window_seconds=300" in logs
    late = re.findall(r"late_clicks=(\d+)", logs)
    assert len(late) == len(events) - 60 and set(late) == {"0"}, "no click late against the old state"

    alerts = [json.loads(line) for line in done.stdout.decode().splitlines()]
    silent = [
        a for alert in alerts for a in alert["anomalies"]
        if a["metric"] == "click_rate" and a.get("page_url") == "/pagina-1"
    ]
    assert [(a["window_start"], a["window_end"], a["value"]) for a in silent] == [
        ("2026-01-01T04:00:00.000Z", "2026-01-01T04:05:00.000Z", 0.0)
    ], alerts

    after = state_items(aws_client, table)
    assert after[f"s#{STREAM}#60s"] == before[f"s#{STREAM}#60s"], "the old length's state is left alone"
    assert after[f"s#{STREAM}#300s"] > 30
