"""The template's alarms and its SMS filter policy, exercised on moto_server's CloudWatch and SNS.

- Every alarm of `template.yaml`, its properties resolved as CloudFormation would (parameters,
  conditions, `!Sub`, `!If`), is put to moto's CloudWatch with `PutMetricAlarm` and read back
  with `DescribeAlarms`: the API takes each alarm with exactly the template's settings (the
  silence alarm's missing-data-is-breaching, its one-minute periods from `SilenceMinutes`, the
  metric math of the others).
- The SMS subscription's filter policy, read from the template for each `SmsMinSeverity`, is given
  to an SQS subscriber of a moto topic (moto's SNS applies filter policies when it delivers to
  SQS), beside an unfiltered one standing in for e-mail. Real alerts of each severity are
  published by the binary (`clickstream-lambda invoke` of direct events) and each queue must get
  exactly the severities its policy names. A message shaped like a CloudWatch alarm
  notification, which carries no message attributes, reaches only the unfiltered queue: why the
  alarms that page have a topic of their own.

What moto cannot show: it never evaluates an alarm (no state change follows metric data, or its
absence) and `SetAlarmState` runs no actions, so that a silent stream turns the alarm to ALARM and
that the alarm's notification reaches the topics (through the KMS key policy) is CloudWatch's
documented behaviour, not tested here; nor does moto send SMS, apply the SMS sandbox or spend
limits.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
STACK = "notifications-test"
PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::StackName": STACK,
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}
# Properties of AWS::CloudWatch::Alarm that PutMetricAlarm takes under the same name.
NUMBERS = {"Period", "EvaluationPeriods", "DatapointsToAlarm"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(TEMPLATE))


class Stack:
    """The template with parameter values: resolves intrinsic functions as CloudFormation would,
    with the given stand-ins for resources' `Ref` values."""

    def __init__(self, template: dict[str, Any], refs: dict[str, str], **overrides: Any) -> None:
        self.template = template
        self.params = {
            name: str(overrides.get(name, spec.get("Default", "")))
            for name, spec in template["Parameters"].items()
        }
        unknown = set(overrides) - set(self.params)
        assert not unknown, f"no such parameters: {unknown}"
        self.refs = refs

    def ref(self, name: str) -> Any:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.params:
            return self.params[name]
        assert name in self.refs, f"no stand-in for the resource {name}"
        return self.refs[name]

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not None]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::If":
                name, then, otherwise = arg
                return self.resolve(then if self.condition(name) else otherwise)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::Equals":
                left, right = (str(self.resolve(a)) for a in arg)
                return left == right
            if key == "Fn::FindInMap":
                mapping, top, second = (self.resolve(a) for a in arg)
                return self.template["Mappings"][mapping][top][second]
            if key == "Fn::Sub":
                assert isinstance(arg, str), "only the one-string form is used here"
                return re.sub(r"\$\{([A-Za-z0-9:]+)\}", lambda m: str(self.ref(m.group(1))), arg)
            assert not key.startswith("Fn::"), f"{key} is not resolved by this test"
        return {k: r for k, r in ((k, self.resolve(v)) for k, v in value.items()) if r is not None}


def put_metric_alarm_arguments(properties: dict[str, Any]) -> dict[str, Any]:
    """A resolved AWS::CloudWatch::Alarm's properties as PutMetricAlarm's arguments (the same
    names; CloudFormation passes numbers from parameters as strings)."""
    args = dict(properties)
    for key in NUMBERS & set(args):
        args[key] = int(args[key])
    if "Threshold" in args:
        args["Threshold"] = float(args["Threshold"])
    for query in args.get("Metrics", []):
        if "MetricStat" in query:
            query["MetricStat"]["Period"] = int(query["MetricStat"]["Period"])
    return args


@pytest.fixture
def topics(sns: Any) -> dict[str, str]:
    """The alert and paging topics on moto, as the alarms' actions."""
    made = {}
    for logical in ("AlertTopic", "PageTopic"):
        made[logical] = sns.create_topic(Name=f"{logical}-{uuid.uuid4().hex[:8]}")["TopicArn"]
    yield made
    for arn in made.values():
        sns.delete_topic(TopicArn=arn)


def stand_ins(topics: dict[str, str]) -> dict[str, str]:
    return {
        **topics,
        "ClickStreamingFirehose": "ClickStreamingFirehose",
        "ClickstreamFunction": f"{STACK}-processor",
    }


def put_and_describe(cloudwatch: Any, stack: Stack, logical: str) -> tuple[dict, dict]:
    """Puts the template's alarm `logical` to moto's CloudWatch and reads it back."""
    properties = stack.resolve(stack.template["Resources"][logical]["Properties"])
    args = put_metric_alarm_arguments(properties)
    cloudwatch.put_metric_alarm(**args)
    (described,) = cloudwatch.describe_alarms(AlarmNames=[args["AlarmName"]])["MetricAlarms"]
    return args, described


def alarms_of(template: dict[str, Any]) -> list[str]:
    return [k for k, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"]


def test_cloudwatch_takes_every_alarm_with_the_templates_settings(template, aws_client, topics):
    cloudwatch = aws_client("cloudwatch")
    stack = Stack(template, stand_ins(topics))
    names = alarms_of(template)
    assert len(names) >= 9, names
    put: list[str] = []
    try:
        for logical in names:
            args, got = put_and_describe(cloudwatch, stack, logical)
            put.append(args["AlarmName"])
            for key, want in args.items():
                assert key in got, f"{logical}: {key} not kept"
                if key == "Metrics":
                    assert len(got[key]) == len(want), logical
                    for sent, kept in zip(want, got[key]):
                        for field, value in sent.items():
                            assert kept[field] == value, (logical, field, kept)
                else:
                    assert got[key] == want, (logical, key, got[key])
            assert got["AlarmName"].startswith(f"{STACK}-")
            assert topics["AlertTopic"] in got["AlarmActions"], logical
    finally:
        if put:
            cloudwatch.delete_alarms(AlarmNames=put)


@pytest.mark.parametrize("minutes", [1, 15, 60, 1440])
def test_the_silence_alarm_waits_silence_minutes_and_counts_missing_data_as_silence(
    template, aws_client, topics, minutes
):
    cloudwatch = aws_client("cloudwatch")
    stack = Stack(template, stand_ins(topics), SilenceMinutes=minutes)
    _, got = put_and_describe(cloudwatch, stack, "SilenceAlarm")
    try:
        assert (got["Namespace"], got["MetricName"]) == ("AWS/Firehose", "IncomingRecords")
        assert got["Dimensions"] == [
            {"Name": "DeliveryStreamName", "Value": "ClickStreamingFirehose"}
        ]
        assert (got["Statistic"], got["Period"]) == ("Sum", 60)
        assert got["EvaluationPeriods"] == got["DatapointsToAlarm"] == minutes
        assert got["Period"] * got["EvaluationPeriods"] <= 24 * 3600
        assert (got["ComparisonOperator"], got["Threshold"]) == ("LessThanThreshold", 1.0)
        assert got["TreatMissingData"] == "breaching"
        assert got["ActionsEnabled"] is True
        assert got["AlarmActions"] == [topics["AlertTopic"], topics["PageTopic"]]
        assert got["OKActions"] == [topics["AlertTopic"]]
        assert f"({minutes})" in got["AlarmDescription"]
    finally:
        cloudwatch.delete_alarms(AlarmNames=[got["AlarmName"]])


def test_silence_minutes_zero_keeps_the_alarm_but_notifies_nobody(template, aws_client, topics):
    cloudwatch = aws_client("cloudwatch")
    stack = Stack(template, stand_ins(topics), SilenceMinutes=0)
    assert not stack.condition("HasSilenceAlarm")
    _, got = put_and_describe(cloudwatch, stack, "SilenceAlarm")
    try:
        assert got["ActionsEnabled"] is False
        assert got["EvaluationPeriods"] >= 1
    finally:
        cloudwatch.delete_alarms(AlarmNames=[got["AlarmName"]])


# --------------------------------------------------------------------------------------------
# The SMS filter policy, on real alerts
# --------------------------------------------------------------------------------------------

# A direct event's anomaly score sets its alert's severity (README "Severity": warning from a
# score of 3, critical from 5, info below; one anomaly is far from the counts that raise it).
SCORES = {"info": 1.0, "warning": 3.0, "critical": 5.0}


def sms_filter_policy(template: dict[str, Any], minimum: str) -> dict[str, Any]:
    """The SMS subscription's FilterPolicy and scope as CloudFormation sets them for
    SmsMinSeverity=`minimum`."""
    stack = Stack(template, {"AlertTopic": "unused"}, SmsMinSeverity=minimum)
    props = stack.resolve(template["Resources"]["AlertSmsSubscription"]["Properties"])
    assert props["Protocol"] == "sms"
    return {"FilterPolicy": props["FilterPolicy"], "FilterPolicyScope": props["FilterPolicyScope"]}


def subscribe_queue(sns: Any, sqs: Any, topic_arn: str, name: str, attributes: dict[str, str]):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    attributes_of_queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    arn = attributes_of_queue["Attributes"]["QueueArn"]
    subscription = sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "false", **attributes},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return url, subscription


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    out = []
    wait = 1
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
        messages = messages.get("Messages", [])
        if not messages:
            return out
        for m in messages:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        wait = 0


def test_sms_gets_only_the_chosen_severities_email_gets_every_alert_and_alarm(
    template, sns, sqs, make_topic, invoke
):
    topic = make_topic("sms-filter")  # its own queue is unfiltered: e-mail's stand-in
    choices = template["Parameters"]["SmsMinSeverity"]["AllowedValues"]
    queues = {}
    try:
        for minimum in choices:
            attributes = sms_filter_policy(template, minimum)
            policy = attributes["FilterPolicy"]
            queues[minimum] = subscribe_queue(
                sns,
                sqs,
                topic.arn,
                f"{topic.name}-{minimum}",
                {
                    "FilterPolicy": json.dumps(policy),
                    "FilterPolicyScope": attributes["FilterPolicyScope"],
                },
            )
            got = sns.get_subscription_attributes(SubscriptionArn=queues[minimum][1])["Attributes"]
            assert json.loads(got["FilterPolicy"]) == policy

        for severity, score in SCORES.items():
            event = {
                "source": f"severity-{severity}",
                "anomalies": [{"metric": "clicks_per_minute", "value": 1, "score": score}],
            }
            run = invoke(event, ALERT_TOPIC_ARN=topic.arn)
            assert run.returncode == 0, run.stderr
            assert run.response["published"] == 1, run.response
        # What CloudWatch sends for an alarm: JSON text, no message attributes.
        sns.publish(
            TopicArn=topic.arn,
            Subject=f'ALARM: "{STACK}-clicks-silent" in US East (N. Virginia)',
            Message=json.dumps({"AlarmName": f"{STACK}-clicks-silent", "NewStateValue": "ALARM"}),
        )

        def severities_in(notifications: list[dict[str, Any]]) -> list[str | None]:
            return sorted(
                (n.get("MessageAttributes", {}).get("severity", {}).get("Value") or "(none)")
                for n in notifications
            )

        everything = topic.notifications()
        assert severities_in(everything) == sorted(["(none)", *SCORES]), everything
        for n in everything:
            attribute = n.get("MessageAttributes", {}).get("severity")
            if attribute:
                # The attribute says what the alert's own subject says.
                assert n["Subject"].startswith(f"ClickStream {attribute['Value'].upper()}"), n
        order = list(SCORES)  # info < warning < critical
        for minimum, (url, _) in queues.items():
            want = sorted(order[order.index(minimum) :])
            assert severities_in(drain(sqs, url)) == want, minimum
    finally:
        for url, subscription in queues.values():
            sns.unsubscribe(SubscriptionArn=subscription)
            sqs.delete_queue(QueueUrl=url)
