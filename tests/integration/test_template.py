"""The template against the code it deploys, without AWS: the dashboard's body is valid JSON
once `!Sub` has filled it in, shows every metric the function emits (and only those), and lists
every alarm; the detector parameters pass the variables `src/config.rs` reads, with its
defaults and ranges; the alarms watch metrics the function emits, the silence alarm counts no
data as silence, the SMS filter policy matches `src/alert/severity.rs` and the paging topic gets
the alarms that page; the lab's fixed names are parameters; the runtime defaults to al2023.
(test_notifications.py puts the same alarms and filter policies to moto's CloudWatch and SNS.)

The template is loaded with cfn-lint's own loader (it understands `!Sub`, `!Ref`, ...); the
metric names, event sources, variables, ranges and defaults are read from the Rust sources, so
a change on either side that the other does not follow fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
SOURCES = REPO_ROOT / "src"

PSEUDO = {
    "AWS::Region": "eu-west-1",
    "AWS::StackName": "stack",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
GRID_COLUMNS = 24


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(TEMPLATE))


def _read(relative: str) -> str:
    return (SOURCES / relative).read_text(encoding="utf-8")


def emitted_metrics() -> set[str]:
    """Every metric name `src/metrics.rs` writes into the EMF line."""
    text = _read("metrics.rs")
    names = set(re.findall(r'\("([A-Z][A-Za-z]+)", self\.', text))
    names |= set(re.findall(r'values\.push\(\("([A-Z][A-Za-z]+)"', text))
    assert {"RecordsOk", "SiteClicks", "SiteClicksExpected"} <= names, names
    return names


def event_sources() -> set[str]:
    """The EventSource dimension's values (`SourceKind::code`)."""
    text = _read("alert/source.rs")
    body = text[text.index("fn code(") :]
    body = body[: body.index("\n    }\n")]
    codes = set(re.findall(r'=> "([a-z-]+)"', body))
    assert codes == {"firehose", "kinesis-stream", "kinesis-analytics", "direct"}, codes
    return codes


def resources_of(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def substitute(text: str, template: dict[str, Any]) -> str:
    """Fills `${Name}` and `${Name.Attribute}` as `Fn::Sub` would, with stand-in values, after
    checking that each names a pseudo parameter, a parameter or a resource of the template."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in PSEUDO:
            return PSEUDO[name]
        logical, _, attribute = name.partition(".")
        assert logical in template["Resources"] or logical in template["Parameters"], (
            f"${{{name}}} names nothing in the template"
        )
        return f"{logical}-{attribute}" if attribute else f"{logical}-name"

    filled = re.sub(r"\$\{([A-Za-z0-9:]+(?:\.[A-Za-z0-9]+)?)\}", value, text)
    assert "${" not in filled, "an unfilled ${...} is left"
    return filled


@pytest.fixture(scope="module")
def dashboard(template: dict[str, Any]) -> dict[str, Any]:
    boards = resources_of(template, "AWS::CloudWatch::Dashboard")
    assert len(boards) == 1, boards
    (board,) = boards.values()
    body = board["Properties"]["DashboardBody"]
    assert set(body) == {"Fn::Sub"} and isinstance(body["Fn::Sub"], str), (
        "DashboardBody is one !Sub string"
    )
    return json.loads(substitute(body["Fn::Sub"], template))


def metric_widgets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [w["properties"] for w in dashboard["widgets"] if w["type"] == "metric"]


def test_the_dashboard_body_is_json_and_its_widgets_fit_the_grid(dashboard):
    widgets = dashboard["widgets"]
    assert widgets
    taken: set[tuple[int, int]] = set()
    for w in widgets:
        assert w["type"] in {"metric", "text", "alarm"}, w["type"]
        x, y, width, height = w["x"], w["y"], w["width"], w["height"]
        assert 0 <= x and 1 <= width and x + width <= GRID_COLUMNS, w
        cells = {(col, row) for col in range(x, x + width) for row in range(y, y + height)}
        assert not cells & taken, f"widget overlaps another: {w}"
        taken |= cells
    for props in metric_widgets(dashboard):
        assert props["region"] == PSEUDO["AWS::Region"]
        assert props["period"] % 60 == 0
        ids = [row[0]["id"] for row in props["metrics"] if isinstance(row[0], dict)]
        assert len(ids) == len(set(ids)), ids


def test_the_dashboard_shows_every_metric_the_function_emits_and_no_other(dashboard):
    emitted, sources = emitted_metrics(), event_sources()
    shown: set[str] = set()
    for props in metric_widgets(dashboard):
        for row in props["metrics"]:
            if isinstance(row[0], dict):
                expression = row[0]["expression"]
                if "{ClickStream" in expression:
                    shown |= set(re.findall(r'MetricName="(\w+)"', expression))
                continue
            namespace, name, *rest = row
            if namespace != "ClickStream":
                continue
            dims = [d for d in rest if not isinstance(d, dict)]
            assert dims[0::2] == ["EventSource"], row
            assert dims[1] in sources, row
            shown.add(name)
    assert shown - emitted == set(), "metrics the function never emits"
    assert emitted - shown == set(), "metrics missing from the dashboard"


def test_site_clicks_and_expected_share_a_graph_per_minute(dashboard):
    for props in metric_widgets(dashboard):
        names = {row[1] for row in props["metrics"] if isinstance(row[0], str)}
        if "SiteClicks" in names:
            assert "SiteClicksExpected" in names
            assert props["period"] == 60
            stats = {
                (row[-1].get("stat") if isinstance(row[-1], dict) else None) or props["stat"]
                for row in props["metrics"]
            }
            assert len(stats) == 1 and stats <= {"Average", "Maximum"}, stats
            return
    pytest.fail("no widget shows SiteClicks")


def test_the_alarm_widget_lists_every_alarm(template, dashboard):
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    (widget,) = [w["properties"] for w in dashboard["widgets"] if w["type"] == "alarm"]
    assert sorted(widget["alarms"]) == sorted(f"{name}-Arn" for name in alarms)


def test_the_console_url_names_the_dashboard(template):
    (name,) = resources_of(template, "AWS::CloudWatch::Dashboard")
    url = template["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
    assert url.startswith("https://${AWS::Region}.console.aws.amazon.com/cloudwatch/")
    assert url.endswith(f"#dashboards/dashboard/${{{name}}}")


def detector_variables() -> dict[str, dict[str, Any]]:
    """`src/config.rs`'s detector variables: kind, range, and the default of the field it sets
    (from `DetectSettings::DEFAULT` in `src/detect/settings.rs`)."""
    config = _read("config.rs")
    config = config[config.index("fn detect_settings(") :]
    read = re.findall(
        r'(\w+):\s*(flag|count|number|secs)\(\s*(?:lookup,\s*)?"([A-Z_]+)",\s*d\.(\w+)'
        r"(?:\s+as\s+u64)?(?:,\s*\(([^)]*)\))?",
        config,
    )
    settings = _read("detect/settings.rs")
    settings = settings[settings.index("const DEFAULT: Self") :]
    defaults = {
        field: (secs or value)
        for field, value, secs in re.findall(
            r"(\w+):\s*(true|false|Duration::from_secs\((\d+)\)|[\d.]+),", settings
        )
    }
    variables = {}
    for field, kind, name, default_field, bounds in read:
        assert field == default_field, (field, default_field)
        entry: dict[str, Any] = {"kind": kind, "default": defaults[field]}
        if bounds:
            low, high = (float(b.replace("_", "")) for b in bounds.split(","))
            entry["range"] = (low, high)
        variables[name] = entry
    assert len(variables) == 10, variables
    return variables


def shared_tracked_pages_max() -> float:
    """`TRACKED_PAGES_SHARED_MAX` in `src/detect/settings.rs`: the most tracked pages a state
    kept in DynamoDB (one item) may have; `src/config.rs` refuses more with STATE_TABLE set."""
    (value,) = re.findall(
        r"const TRACKED_PAGES_SHARED_MAX: usize = ([\d_]+);", _read("detect/settings.rs")
    )
    return float(value.replace("_", ""))


def test_detector_parameters_pass_the_variables_with_the_codes_defaults_and_ranges(template):
    (function,) = resources_of(template, "AWS::Serverless::Function").values()
    environment = function["Properties"]["Environment"]["Variables"]
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    (detection,) = [g["Parameters"] for g in groups if g["Label"]["default"] == "Detection"]
    passed = []
    for name, code in detector_variables().items():
        assert name in environment, f"{name} is not passed to the function"
        parameter = environment[name]["Ref"]
        passed.append(parameter)
        spec = template["Parameters"][parameter]
        assert name in spec["Description"], f"{parameter}'s description does not name {name}"
        if code["kind"] == "flag":
            assert spec["Type"] == "String"
            assert sorted(spec["AllowedValues"]) == ["false", "true"]
            assert spec["Default"] == code["default"], name
        else:
            assert spec["Type"] == "Number"
            assert float(spec["Default"]) == float(code["default"]), name
            low, high = code["range"]
            if name == "RATE_TRACKED_PAGES" and "STATE_TABLE" in environment:
                # The template always shares the state through its table, which bounds this.
                high = min(high, shared_tracked_pages_max())
            assert (float(spec["MinValue"]), float(spec["MaxValue"])) == (low, high), name
    assert sorted(detection) == sorted(passed), "the Detection group holds exactly these"


def test_the_state_table_is_the_one_the_code_uses_with_least_privilege(template):
    """The table's keys and TTL attribute are the DynamoDB store's constants, the function gets
    its name, and its role allows exactly the item operations the store makes, on it alone."""
    code = _read("adapter/dynamodb.rs")
    constants = dict(re.findall(r'pub\(crate\) const (PK|SK|EXPIRES): &str = "(\w+)";', code))
    (table_name,) = resources_of(template, "AWS::DynamoDB::Table")
    table = template["Resources"][table_name]
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": constants["PK"], "KeyType": "HASH"},
        {"AttributeName": constants["SK"], "KeyType": "RANGE"},
    ]
    assert props["AttributeDefinitions"] == [
        {"AttributeName": constants["PK"], "AttributeType": "S"},
        {"AttributeName": constants["SK"], "AttributeType": "S"},
    ]
    assert props["TimeToLiveSpecification"] == {
        "AttributeName": constants["EXPIRES"],
        "Enabled": True,
    }
    assert "GlobalSecondaryIndexes" not in props and "LocalSecondaryIndexes" not in props
    (function,) = resources_of(template, "AWS::Serverless::Function").values()
    assert function["Properties"]["Environment"]["Variables"]["STATE_TABLE"] == {"Ref": table_name}

    # The operations the store calls, as IAM names them: `.put_item()` is dynamodb:PutItem.
    called = {
        "dynamodb:" + "".join(part.title() for part in op.split("_"))
        for op in re.findall(r"\.client\s*\.(\w+)\(\)", code)
        if op not in {"create_table", "update_time_to_live", "wait_until_table_exists"}
    }
    assert called == {"dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"}, called
    role = template["Resources"]["FunctionRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    dynamo = [s for s in statements if any(a.startswith("dynamodb:") for a in s["Action"])]
    assert len(dynamo) == 1, dynamo
    assert set(dynamo[0]["Action"]) == called
    assert dynamo[0]["Resource"] == {"Fn::GetAtt": [table_name, "Arn"]}


# --------------------------------------------------------------------------------------------
# The ingestion endpoint (IngestApi): the contract web/clickstream.js and
# tests/integration/ingest_standin.py rely on
# --------------------------------------------------------------------------------------------

# Firehose PutRecordBatch's quotas, and how many bytes a string character can take once
# written back as JSON by the mapping: an astral character as two \uXXXX escapes.
PUT_RECORD_BATCH_RECORDS = 500
PUT_RECORD_BATCH_BYTES = 4 * 1024 * 1024
FIREHOSE_RECORD_BYTES = 1000 * 1024
WORST_BYTES_PER_CHARACTER = 12
INGEST_CORS_OUTPUT = '{"failedPutCount": $input.json(\'$.FailedPutCount\')}'


def transform_required_fields() -> set[str]:
    """The click fields the transform refuses a record without (outside its tests)."""
    code = "".join(
        # An inline test module is cut off; `mod tests;` (tests in a file of their own) is not
        # one, and the code after it is the transform's.
        _read(name).split("#[cfg(test)]\nmod tests {")[0]
        for name in ("transform/click.rs", "transform/mod.rs")
    )
    fields = set(re.findall(r'MissingField\("(\w+)"\)', code))
    fields |= set(re.findall(r'string_field\(&?fields, "(\w+)"\)', code))
    assert {"timestamp", "event_type"} <= fields, fields
    return fields


@pytest.fixture(scope="module")
def ingest(template: dict[str, Any]) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if name.startswith("Ingest")}


@pytest.fixture(scope="module")
def click_schema(ingest: dict[str, Any]) -> dict[str, Any]:
    schema = ingest["IngestClicksModel"]["Properties"]["Schema"]
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#", "API Gateway's draft"
    return schema


def test_the_endpoint_puts_into_the_one_stream_with_a_role_that_may_do_nothing_else(ingest):
    post = ingest["IngestClicksPost"]["Properties"]
    integration = post["Integration"]
    assert integration["Type"] == "AWS"
    assert integration["Uri"]["Fn::Sub"].endswith(":firehose:action/PutRecordBatch")
    assert integration["Credentials"] == {"Fn::GetAtt": ["IngestRole", "Arn"]}
    assert integration["PassthroughBehavior"] == "NEVER", "other content types are refused"
    (statement,) = [
        s
        for p in ingest["IngestRole"]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    ]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "firehose:PutRecordBatch"
    assert statement["Resource"] == {"Fn::GetAtt": ["ClickStreamingFirehose", "Arn"]}
    assert "ManagedPolicyArns" not in ingest["IngestRole"]["Properties"]


def test_the_mapping_is_one_record_per_element_of_records_as_the_stand_in_does(ingest):
    """The stand-in (ingest_standin.records_of) implements exactly this VTL: each element of
    `records`, as JSON, base64, one record of one PutRecordBatch to the template's stream."""
    integration = ingest["IngestClicksPost"]["Properties"]["Integration"]
    (content_type,) = integration["RequestTemplates"]
    assert content_type == "text/plain", "what sendBeacon sends, without a preflight"
    vtl = integration["RequestTemplates"][content_type]["Fn::Sub"]
    lines = [line.strip() for line in vtl.strip().splitlines()]
    assert lines == [
        '{"DeliveryStreamName": "${ClickStreamingFirehose}", "Records": [',
        "#foreach($click in $input.path('$.records'))",
        '{"Data": "$util.base64Encode($input.json("$.records[$foreach.index]"))"}#if($foreach.hasNext),#end',
        "#end",
        "]}",
    ]
    post = ingest["IngestClicksPost"]["Properties"]
    assert post["RequestModels"] == {"$default": {"Ref": "IngestClicksModel"}}
    validator = ingest["IngestRequestValidator"]["Properties"]
    assert validator["ValidateRequestBody"] is True
    assert post["RequestValidatorId"] == {"Ref": "IngestRequestValidator"}


def test_the_model_requires_what_the_transform_requires_and_refuses_the_producer_flag(click_schema):
    assert click_schema["required"] == ["records"]
    assert click_schema["additionalProperties"] is False
    item = click_schema["properties"]["records"]["items"]
    assert set(item["required"]) == transform_required_fields()
    assert item["additionalProperties"] is False
    assert "anomaly_detected" not in item["properties"], "a browser must not raise alerts"
    assert set(item["properties"]) == {
        "timestamp", "user_id", "page_url", "event_type", "element_id", "x_coordinate", "y_coordinate",
    }


def worst_value_bytes(spec: dict[str, Any]) -> int:
    kinds = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    sizes = []
    for kind in kinds:
        if kind == "string":
            sizes.append(2 + WORST_BYTES_PER_CHARACTER * spec["maxLength"])
        elif kind == "integer":
            sizes.append(max(len(str(spec["minimum"])), len(str(spec["maximum"]))))
        else:
            pytest.fail(f"{kind}: a type whose text the model cannot bound")
    return max(sizes)


def test_every_request_the_model_passes_fits_put_record_batch(click_schema):
    records = click_schema["properties"]["records"]
    assert 1 <= records["minItems"] <= records["maxItems"] <= PUT_RECORD_BATCH_RECORDS
    fields = records["items"]["properties"]
    worst_record = 2 + sum(len(json.dumps(name)) + 2 + worst_value_bytes(spec) for name, spec in fields.items())
    assert worst_record <= FIREHOSE_RECORD_BYTES
    # The whole call, its records in base64 (as the JSON request carries them).
    worst_call = records["maxItems"] * (4 * worst_record // 3 + 16) + 200
    assert worst_call <= PUT_RECORD_BATCH_BYTES, worst_call


def test_the_snippet_cuts_fields_to_the_models_limits(click_schema):
    text = (REPO_ROOT / "web" / "clickstream.js").read_text(encoding="utf-8")
    block = text[text.index("var LIMITS = {") : text.index("};", text.index("var LIMITS = {"))]
    limits = {k: int(v) for k, v in re.findall(r"(\w+): (\d+)", block)}
    records = click_schema["properties"]["records"]
    fields = records["items"]["properties"]
    assert limits["records"] == records["maxItems"]
    for name in ("timestamp", "user_id", "page_url", "event_type", "element_id"):
        assert limits[name] == fields[name]["maxLength"], name
    for name in ("x_coordinate", "y_coordinate"):
        assert (fields[name]["minimum"], fields[name]["maximum"]) == (0, limits["coordinate"])


def cors_block(response: dict[str, Any]) -> list[str]:
    return response["ResponseTemplates"]["application/json"]["Fn::Sub"].strip().splitlines()


def test_cors_answers_from_the_allowed_origins_parameter_the_same_way_twice(template, ingest):
    (ok, refused) = ingest["IngestClicksPost"]["Properties"]["Integration"]["IntegrationResponses"]
    (preflight,) = ingest["IngestClicksOptions"]["Properties"]["Integration"]["IntegrationResponses"]
    assert ok["StatusCode"] == "200" and "SelectionPattern" not in ok
    assert refused["StatusCode"] == "502" and re.fullmatch(refused["SelectionPattern"], "403")
    post_lines = cors_block(ok)
    assert post_lines[-1] == INGEST_CORS_OUTPUT
    assert post_lines[:-1] == cors_block(preflight), "one CORS block in both answers"
    assert '#set($allowed = ",${IngestAllowedOrigins},")' in post_lines
    assert preflight["ResponseParameters"]["method.response.header.Access-Control-Allow-Methods"] == "'POST,OPTIONS'"
    parameter = template["Parameters"]["IngestAllowedOrigins"]
    pattern = parameter["AllowedPattern"]
    for good in ("*", "https://www.example.com", "https://a.example,http://127.0.0.1:8000"):
        assert re.fullmatch(pattern, good), good
    for bad in ("", "https://a.example/", "https://a.example, https://b.example", "example.com"):
        assert not re.fullmatch(pattern, bad), bad


def test_the_stage_throttles_logs_access_and_is_the_output(template, ingest):
    stage = ingest["IngestStage"]["Properties"]
    (settings,) = stage["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["ThrottlingRateLimit"] == {"Ref": "IngestThrottleRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "IngestThrottleBurstLimit"}
    assert settings["DataTraceEnabled"] is False, "bodies are never logged"
    assert stage["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["IngestAccessLogGroup", "Arn"]}
    json.loads(stage["AccessLogSetting"]["Format"])
    assert ingest["IngestAccessLogGroup"]["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["ClickstreamKey", "Arn"]}
    assert set(ingest["IngestDeployment"]["DependsOn"]) == {"IngestClicksPost", "IngestClicksOptions"}
    path = ingest["IngestClicksResource"]["Properties"]["PathPart"]
    url = template["Outputs"]["IngestEndpointUrl"]["Value"]["Fn::Sub"]
    assert url == f"https://${{IngestApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/${{IngestStage}}/{path}"
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    (grouped,) = [g["Parameters"] for g in groups if g["Label"]["default"].startswith("Ingestion")]
    assert sorted(grouped) == sorted(p for p in template["Parameters"] if p.startswith("Ingest"))


# --------------------------------------------------------------------------------------------
# Alarms, the SMS filter, the paging topic, the names and the runtime
# --------------------------------------------------------------------------------------------

# The alarms that wake someone (SMS through the paging topic): clicks not arriving, arriving and
# failing, batches failing, delivery stalling, alerts not going out. The rest are e-mail only.
PAGING_ALARMS = {
    "SilenceAlarm",
    "FailedRecordsAlarm",
    "AlertsFailedAlarm",
    "FunctionErrorsAlarm",
    "FirehoseProcessingAlarm",
    "FirehoseDataFreshnessAlarm",
}
# CloudWatch: with a period of a minute or more, EvaluationPeriods x Period is at most a day.
ALARM_RANGE_MAX_SECONDS = 24 * 3600


def severities() -> list[str]:
    """`Severity`'s variants in `src/alert/severity.rs`, least severe first, as `as_str` writes
    them (the value of the `severity` message attribute)."""
    text = _read("alert/severity.rs")
    enum = text[text.index("pub enum Severity {") :]
    enum = enum[: enum.index("}")]
    variants = re.findall(r"^\s+(\w+),", enum, re.M)
    written = dict(re.findall(r'Self::(\w+) => "(\w+)"', text))
    assert variants and set(variants) == set(written), (variants, written)
    return [written[v] for v in variants]


def alarm_metrics(alarm: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(namespace, metric name, dimensions) of every metric an alarm reads."""
    props = alarm["Properties"]
    if "MetricName" in props:
        return [(props["Namespace"], props["MetricName"], props["Dimensions"])]
    out = []
    for query in props["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            out.append((metric["Namespace"], metric["MetricName"], metric["Dimensions"]))
    return out


def test_alarms_on_the_functions_metrics_name_what_it_emits(template):
    emitted, sources = emitted_metrics(), event_sources()
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    watched: dict[str, dict[str, set[str]]] = {}
    for name, alarm in alarms.items():
        for namespace, metric, dimensions in alarm_metrics(alarm):
            if namespace != "ClickStream":
                continue
            assert metric in emitted, f"{name} watches {metric}, which the function never emits"
            assert [d["Name"] for d in dimensions] == ["EventSource"], (name, dimensions)
            assert dimensions[0]["Value"] in sources, (name, dimensions)
            watched.setdefault(name, {}).setdefault(metric, set()).add(dimensions[0]["Value"])
        props = alarm["Properties"]
        if "Metrics" in props:
            returned = [q for q in props["Metrics"] if q.get("ReturnData", True)]
            assert len(returned) == 1 and "Expression" in returned[0], name
            ids = {q["Id"] for q in props["Metrics"]}
            used = set(re.findall(r"\b([a-z]\w*)\b", returned[0]["Expression"]))
            assert used <= ids, (name, used - ids)
            assert ids - {returned[0]["Id"]} <= used, f"{name} reads metrics it does not use"
    # The three the issue names, each over the sources that can have it.
    assert watched["FailedRecordsAlarm"] == {
        m: {"firehose"} for m in ("RecordsProcessingFailed", "RecordsOk", "RecordsDropped")
    }
    assert watched["AlertsFailedAlarm"] == {"AlertsFailed": sources}
    assert watched["StateStoreErrorsAlarm"] == {"StateStoreErrors": sources}


def test_the_failed_records_alarm_is_a_share_of_every_record_answered(template):
    props = template["Resources"]["FailedRecordsAlarm"]["Properties"]
    (expression,) = [q["Expression"] for q in props["Metrics"] if q.get("ReturnData", True)]
    assert expression.replace(" ", "") == (
        "100*FILL(failed,0)/(FILL(failed,0)+FILL(ok,0)+FILL(dropped,0))"
    )
    assert props["Threshold"] == {"Ref": "FailedRecordsPercent"}
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    spec = template["Parameters"]["FailedRecordsPercent"]
    assert (spec["MinValue"], spec["MaxValue"]) == (0, 100) and 0 < spec["Default"] < 100


def test_the_silence_alarm_watches_incoming_records_and_counts_no_data_as_silence(template):
    props = template["Resources"]["SilenceAlarm"]["Properties"]
    assert (props["Namespace"], props["MetricName"]) == ("AWS/Firehose", "IncomingRecords")
    assert props["Dimensions"] == [
        {"Name": "DeliveryStreamName", "Value": {"Ref": "ClickStreamingFirehose"}}
    ]
    assert props["Statistic"] == "Sum" and props["Period"] == 60
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "LessThanThreshold")
    assert props["TreatMissingData"] == "breaching"
    minutes = {"Ref": "SilenceMinutes"}
    for key in ("EvaluationPeriods", "DatapointsToAlarm"):
        condition, on, off = props[key]["Fn::If"]
        assert (condition, on) == ("HasSilenceAlarm", minutes), key
        assert off * props["Period"] <= ALARM_RANGE_MAX_SECONDS
    assert props["ActionsEnabled"] == {"Fn::If": ["HasSilenceAlarm", True, False]}
    assert template["Conditions"]["HasSilenceAlarm"] == {
        "Fn::Not": [{"Fn::Equals": [minutes, "0"]}]
    }
    spec = template["Parameters"]["SilenceMinutes"]
    assert spec["MinValue"] == 0 and spec["MaxValue"] * props["Period"] <= ALARM_RANGE_MAX_SECONDS
    assert 1 <= spec["Default"] <= spec["MaxValue"]


def test_every_alarm_emails_and_the_ones_that_matter_page(template):
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    assert PAGING_ALARMS <= set(alarms)
    for name, alarm in alarms.items():
        actions = alarm["Properties"]["AlarmActions"]
        want = [{"Ref": "AlertTopic"}] + ([{"Ref": "PageTopic"}] if name in PAGING_ALARMS else [])
        assert actions == want, name
    # Nothing but the alarms and the SMS subscription names the paging topic: the function
    # publishes to the alert topic only.
    role = json.dumps(template["Resources"]["FunctionRole"])
    assert "PageTopic" not in role
    users = {
        name
        for name, resource in template["Resources"].items()
        if '"PageTopic"' in json.dumps(resource) and name != "PageTopic"
    }
    assert users == PAGING_ALARMS | {"PageSmsSubscription"}


def test_sms_gets_alerts_of_the_chosen_severities_and_email_gets_everything(template):
    levels = severities()
    assert levels == ["info", "warning", "critical"]
    mapping = template["Mappings"]["SmsSeverities"]
    # Each choice lets through itself and everything more severe.
    assert {k: v["Severities"] for k, v in mapping.items()} == {
        level: levels[i:] for i, level in enumerate(levels)
    }
    spec = template["Parameters"]["SmsMinSeverity"]
    assert sorted(spec["AllowedValues"]) == sorted(levels) and spec["Default"] == "critical"

    subscriptions = resources_of(template, "AWS::SNS::Subscription")
    by_protocol: dict[tuple[str, str], dict[str, Any]] = {
        (s["Properties"]["TopicArn"]["Ref"], s["Properties"]["Protocol"]): s["Properties"]
        for s in subscriptions.values()
    }
    assert set(by_protocol) == {
        ("AlertTopic", "email"),
        ("AlertTopic", "sms"),
        ("PageTopic", "sms"),
    }
    assert "FilterPolicy" not in by_protocol[("AlertTopic", "email")]
    sms = by_protocol[("AlertTopic", "sms")]
    assert sms["FilterPolicyScope"] == "MessageAttributes"
    assert sms["FilterPolicy"] == {
        "severity": {"Fn::FindInMap": ["SmsSeverities", {"Ref": "SmsMinSeverity"}, "Severities"]}
    }
    page = by_protocol[("PageTopic", "sms")]
    assert "FilterPolicy" not in page, "alarm notifications carry no attributes to filter on"
    assert page["Endpoint"] == sms["Endpoint"] == {"Ref": "AlertPhoneNumber"}
    sms_conditions = {
        s.get("Condition")
        for s in subscriptions.values()
        if s["Properties"]["Protocol"] == "sms"
    }
    assert sms_conditions == {"HasAlertPhoneNumber"}

    # The attribute filtered on is the one the SNS adapter sets, from Severity::as_str.
    sns = _read("adapter/sns.rs")
    assert re.search(r'"severity",\s*attribute\("String", alert\.severity\.as_str\(\)', sns), (
        "src/adapter/sns.rs no longer sets the severity message attribute"
    )


def test_both_topics_are_encrypted_and_named_from_the_parameter(template):
    topics = resources_of(template, "AWS::SNS::Topic")
    assert set(topics) == {"AlertTopic", "PageTopic"}
    for topic in topics.values():
        assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["ClickstreamKey", "Arn"]}
    alert_topic = template["Resources"]["AlertTopic"]["Properties"]
    assert alert_topic["TopicName"] == {"Ref": "AlertTopicName"}
    assert template["Resources"]["PageTopic"]["Properties"]["TopicName"] == {
        "Fn::Sub": "${AlertTopicName}-page"
    }
    assert template["Outputs"]["PageTopicArn"]["Value"] == {"Ref": "PageTopic"}


def test_the_fixed_names_are_parameters_defaulting_to_the_labs(template):
    params = template["Parameters"]
    assert params["AlertTopicName"]["Default"] == "ClickStreamingTopic"
    assert params["FirehoseStreamName"]["Default"] == "ClickStreamingFirehose"
    for name in ("AlertTopicName", "FirehoseStreamName"):
        assert re.fullmatch(params[name]["AllowedPattern"], params[name]["Default"]), name
    stream = template["Resources"]["ClickStreamingFirehose"]["Properties"]
    assert stream["DeliveryStreamName"] == {"Ref": "FirehoseStreamName"}
    log_group = template["Resources"]["FirehoseLogGroup"]["Properties"]["LogGroupName"]
    assert log_group == {"Fn::Sub": "/aws/kinesisfirehose/${FirehoseStreamName}"}
    # No resource or output spells either name: everything follows the parameters. (The
    # logical ID ClickStreamingFirehose stays; references to it are {"Ref": ...}.)
    for section in ("Resources", "Outputs"):
        for logical, body in template[section].items():
            text = json.dumps(body)
            text = text.replace('"ClickStreamingFirehose"', '"<logical id>"').replace(
                "${ClickStreamingFirehose}", "${<logical id>}"
            )
            assert "ClickStreamingTopic" not in text, logical
            assert "ClickStreamingFirehose" not in text, logical


def test_the_runtime_defaults_to_al2023_and_offers_al2(template):
    spec = template["Parameters"]["LambdaRuntime"]
    assert spec["Default"] == "provided.al2023"
    assert sorted(spec["AllowedValues"]) == ["provided.al2", "provided.al2023"]
    (function,) = resources_of(template, "AWS::Serverless::Function").values()
    assert function["Properties"]["Runtime"] == {"Ref": "LambdaRuntime"}
