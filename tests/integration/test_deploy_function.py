"""Deploying the function alone (`scripts/deploy-function STACK`), as the docs say to: the
arguments it gives `cargo lambda deploy` make a function that works as the stack made it.

The stack is a CloudFormation stack on moto_server with the outputs the script reads; the
deploy is cargo-lambda's own dry run (`--dry -o json`: it locates and packages the binary and
prints the configuration it would deploy, without calling Lambda), so what is checked is what
the installed cargo-lambda makes of the script's arguments and of Cargo.toml's
`[package.metadata.lambda.deploy]`. The template test checks that those outputs exist and name
what the template gives the function.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "deploy-function"
TEMPLATE = REPO_ROOT / "template.yaml"
ACCOUNT = "123456789012"


def needed_outputs() -> list[str]:
    """The stack outputs the script reads, from its own list."""
    text = SCRIPT.read_text(encoding="utf-8")
    (listed,) = re.findall(r"^NEEDED = \[(.*)\]$", text, flags=re.M)
    names = re.findall(r'"(\w+)"', listed)
    assert "FunctionRoleArn" in names and "StateTableName" in names, names
    return names


def stack_outputs(stack: str) -> dict[str, str]:
    return {
        "FunctionName": f"{stack}-processor",
        "FunctionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/{stack}-FunctionRole-ABC123",
        "AlertTopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:ClickStreamingTopic",
        "StateTableName": f"{stack}-StateTable-XYZ789",
        "ProcessedBucketName": f"{stack}-processedbucket-0a1b2c",
    }


def make_stack(aws_client, outputs: dict[str, str]) -> str:
    """A stack on moto with these outputs (and one resource, as a stack needs)."""
    name = f"deploy-{uuid.uuid4().hex[:8]}"
    body = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": name}}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    aws_client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(body))
    return name


@pytest.fixture()
def lambda_dir(tmp_path: Path) -> Path:
    """Where `cargo lambda build` would leave the bootstrap: any x86_64 ELF file does for a
    dry run, which only packages it and reads its architecture."""
    binary = tmp_path / "clickstream-lambda" / "bootstrap"
    binary.parent.mkdir()
    shutil.copy("/bin/true", binary)
    return tmp_path


def deploy(stack: str, aws_env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {**aws_env}
    for name in ("PATH", "VENV", "HOME", "CARGO_HOME", "RUSTUP_HOME"):
        if name in os.environ:
            env[name] = os.environ[name]
    return subprocess.run(
        [str(SCRIPT), stack, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
        check=False,
    )


def test_the_documented_deploy_gives_the_function_the_stacks_role_environment_and_limits(
    aws_client, aws_env, moto_endpoint, lambda_dir
):
    stack = make_stack(aws_client, {"Unrelated": "x", **stack_outputs("clicks")})
    done = deploy(stack, aws_env, "--dry", "-o", "json", "--lambda-dir", str(lambda_dir))
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout[done.stdout.index("{") :])
    config = plan["config"]
    outputs = stack_outputs("clicks")
    assert config["role"] == outputs["FunctionRoleArn"]
    assert (config["memory"], config["timeout"]) == (128, 60)
    assert config["runtime"] == "provided.al2023"
    assert sorted(config["env_var"]) == sorted(
        [
            f"ALERT_TOPIC_ARN={outputs['AlertTopicArn']}",
            f"STATE_TABLE={outputs['StateTableName']}",
            f"PROCESSED_DATA_URI=s3://{outputs['ProcessedBucketName']}/weblogs/",
        ]
    )
    assert plan["path"].startswith(str(lambda_dir / "clickstream-lambda"))
    # Where it would have deployed: the SDK settings it was given (moto), nothing else.
    assert plan["sdk_config"]["endpoint_url"] == moto_endpoint
    # The command it ran: merged into the stack's environment, onto the stack's function.
    (command,) = [line for line in done.stderr.splitlines() if line.startswith("+ cargo lambda deploy")]
    words = command.split()
    assert "--merge-env" in words
    assert words[-1] == outputs["FunctionName"]


def test_cargo_lambda_reads_the_deploy_settings_from_cargo_toml():
    """What a plain `cargo lambda deploy --binary-name clickstream-lambda` applies too."""
    done = subprocess.run(
        ["cargo", "lambda", "system", "-o", "json"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    settings = json.loads(done.stdout)["config"]["global"]["packages"]["clickstream-lambda"]["deploy"]
    function = cfn_yaml.load(str(TEMPLATE))["Resources"]["ClickstreamFunction"]["Properties"]
    assert settings["merge_env"] is True
    assert (settings["memory"], settings["timeout"]) == (function["MemorySize"], function["Timeout"])
    assert settings["runtime"] == "provided.al2023"


def test_a_stack_from_an_older_template_is_told_what_it_lacks(aws_client, aws_env, lambda_dir):
    outputs = stack_outputs("old")
    del outputs["FunctionRoleArn"], outputs["StateTableName"]
    stack = make_stack(aws_client, outputs)
    done = deploy(stack, aws_env, "--dry", "-o", "json", "--lambda-dir", str(lambda_dir))
    assert done.returncode != 0
    assert "FunctionRoleArn, StateTableName" in done.stderr and "sam deploy" in done.stderr
    assert "cargo lambda deploy" not in done.stderr, "nothing deployed"
    missing = deploy(f"none-{uuid.uuid4().hex[:8]}", aws_env, "--dry")
    assert missing.returncode != 0 and "cannot read stack" in missing.stderr


def _names(value: Any) -> set[str]:
    """The template names a `!Ref`, `!GetAtt` or `!Sub` value refers to."""
    if isinstance(value, dict):
        if "Ref" in value:
            return {value["Ref"]}
        if "Fn::GetAtt" in value:
            return {value["Fn::GetAtt"][0]}
        if "Fn::Sub" in value:
            return set(re.findall(r"\$\{(\w+)", str(value["Fn::Sub"])))
    return set()


def test_the_outputs_the_script_reads_name_what_the_template_gives_the_function():
    template = cfn_yaml.load(str(TEMPLATE))
    outputs = template["Outputs"]
    function = template["Resources"]["ClickstreamFunction"]["Properties"]
    variables = function["Environment"]["Variables"]
    for name in needed_outputs():
        assert name in outputs, f"template.yaml has no output {name}"
    assert outputs["FunctionName"]["Value"] == {"Ref": "ClickstreamFunction"}
    assert outputs["FunctionRoleArn"]["Value"] == function["Role"]
    assert outputs["AlertTopicArn"]["Value"] == variables["ALERT_TOPIC_ARN"]
    assert outputs["StateTableName"]["Value"] == variables["STATE_TABLE"]
    assert outputs["ProcessedBucketName"]["Value"] == {"Ref": "ProcessedBucket"}
    assert _names(variables["PROCESSED_DATA_URI"]) == {"ProcessedBucket"}
    # Every variable that names a resource of the stack is one the script sets; the others come
    # from parameters, and --merge-env keeps them as the stack set them.
    script = SCRIPT.read_text(encoding="utf-8")
    set_by_script = set(re.findall(r'--env-var "(\w+)=', script))
    from_resources = {
        name
        for name, value in variables.items()
        if _names(value) & set(template["Resources"])
    }
    assert from_resources == set_by_script == {"ALERT_TOPIC_ARN", "STATE_TABLE", "PROCESSED_DATA_URI"}
    from_parameters = {name for name, value in variables.items() if _names(value) <= set(template["Parameters"])}
    assert from_parameters | from_resources == set(variables)
