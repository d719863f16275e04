"""resources/deploy/fargate.yaml: cfn-lint, plus the limits and cross-file agreements cfn-lint does not check."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from config.loader import load_config
from test.support import REPO_ROOT

TEMPLATES = sorted((REPO_ROOT / "resources" / "deploy").glob("*.yaml"))


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags: `!Ref X` becomes {"Ref": "X"}."""


def _construct_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


CfnLoader.add_multi_constructor("!", _construct_tag)


@pytest.fixture(scope="module")
def resources() -> dict:
    template = yaml.load(
        (REPO_ROOT / "resources" / "deploy" / "fargate.yaml").read_text(encoding="utf-8"), Loader=CfnLoader
    )
    return template["Resources"]


@pytest.fixture(scope="module")
def container(resources: dict) -> dict:
    (definition,) = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    return definition


def dockerfile_instruction(keyword: str) -> str:
    """The arguments of a Dockerfile instruction, continuation lines joined."""
    text = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    (match,) = re.findall(rf"^{keyword} (.+)$", text, flags=re.MULTILINE)
    return " ".join(match.split())


def test_cfn_lint_is_clean() -> None:
    assert TEMPLATES
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), *map(str, TEMPLATES)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_container_health_check_is_within_ecs_limits(container: dict) -> None:
    # ECS rejects these at deploy time, cfn-lint does not check them.
    check = container["HealthCheck"]
    assert 1 <= check["Retries"] <= 10
    assert 2 <= check["Timeout"] <= 120
    assert 5 <= check["Interval"] <= 300
    assert 0 <= check["StartPeriod"] <= 300
    assert check["Timeout"] < check["Interval"]


def test_load_balancer_and_container_probe_the_same_health_endpoint(resources: dict, container: dict) -> None:
    target_group = resources["TargetGroup"]["Properties"]
    command = container["HealthCheck"]["Command"]

    assert target_group["HealthCheckPath"] == "/healthCheck"
    assert command[0] == "CMD-SHELL"
    assert "/healthCheck'" in command[1]
    # ECS ignores the image's HEALTHCHECK; keep the two probes the same.
    assert dockerfile_instruction("HEALTHCHECK").endswith(f"CMD {command[1]}")


def plain_environment(container: dict) -> dict[str, str]:
    """The container's unconditional environment variables with literal values."""
    return {
        item["Name"]: item["Value"]
        for item in container["Environment"]
        if "If" not in item and isinstance(item["Value"], str)
    }


def test_every_port_is_the_service_port(resources: dict, container: dict) -> None:
    environment = plain_environment(container)
    port = int(environment["STREAMFLOW__SERVER__PORT"])
    (ingress,) = resources["TaskSecurityGroup"]["Properties"]["SecurityGroupIngress"]

    assert container["PortMappings"][0]["ContainerPort"] == port
    assert resources["TargetGroup"]["Properties"]["Port"] == port
    assert resources["Service"]["Properties"]["LoadBalancers"][0]["ContainerPort"] == port
    assert ingress["FromPort"] == ingress["ToPort"] == port
    assert dockerfile_instruction("EXPOSE") == str(port)


def test_sigkill_comes_only_after_the_service_has_drained(container: dict) -> None:
    config = load_config(REPO_ROOT / "config.yaml", plain_environment(container))

    # A few seconds beyond the drain for closing connections and the process exit.
    assert container["StopTimeout"] >= config.server.shutdown_timeout_s + 5
    assert container["LinuxParameters"]["InitProcessEnabled"] is True


def test_the_writable_cache_mount_is_the_images_volume(resources: dict, container: dict) -> None:
    (mount,) = container["MountPoints"]

    assert container["ReadonlyRootFilesystem"] is True
    assert dockerfile_instruction("VOLUME") == mount["ContainerPath"]
    assert {"Name": mount["SourceVolume"]} in resources["TaskDefinition"]["Properties"]["Volumes"]


def statements(role: dict) -> list[dict]:
    """Every statement of a role's inline policies, conditional ones as their statement."""
    policies = role["Properties"].get("Policies", [])
    if isinstance(policies, dict):  # {"If": [condition, [policies], NoValue]}
        policies = policies["If"][1]
    found = []
    for policy in policies:
        found += [s["If"][1] if "If" in s else s for s in policy["PolicyDocument"]["Statement"]]
    return found


def actions(role: dict) -> set[str]:
    return {
        action for s in statements(role) for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }


def test_the_service_only_reads_model_artifacts_and_the_training_task_writes_them(resources: dict) -> None:
    assert actions(resources["TaskRole"]) == {"s3:GetObject", "s3:ListBucket"}
    assert resources["TaskRole"]["Properties"]["Policies"]["If"][0] == "HasRegistry"
    assert actions(resources["TrainingTaskRole"]) == {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}
    assert actions(resources["SchedulerRole"]) == {"ecs:RunTask", "iam:PassRole"}
    for role in ("TaskRole", "TrainingTaskRole", "SchedulerRole"):
        assert all("Resource" in s and s["Resource"] != "*" for s in statements(resources[role])), role


def test_the_training_task_runs_the_service_image_on_a_schedule(resources: dict, container: dict) -> None:
    definition = resources["TrainingTaskDefinition"]["Properties"]
    (training,) = definition["ContainerDefinitions"]
    assert training["Image"] == container["Image"] and training["Command"] == ["python", "main_train.py"]
    assert training["ReadonlyRootFilesystem"] is True
    written = {mount["ContainerPath"] for mount in training["MountPoints"]}
    assert written == {"/app/resources/cache", "/tmp"}
    model_dir = plain_environment(training)["STREAMFLOW__PATHS__MODEL_DIR"]
    assert model_dir.startswith("/app/resources/cache/")  # the bundle is written where the task may write
    target = resources["TrainingSchedule"]["Properties"]["Target"]
    assert target["EcsParameters"]["TaskDefinitionArn"]["Sub"].endswith("task-definition/${TrainingTaskDefinition}")
    assert resources["TrainingSchedule"]["Condition"] == "HasSchedule"


def test_roles_grant_nothing_beyond_what_starting_the_task_needs(resources: dict) -> None:
    assert "ManagedPolicyArns" not in resources["ExecutionRole"]["Properties"]
    (policy,) = resources["ExecutionRole"]["Properties"]["Policies"]
    # A conditional statement, {"If": [condition, statement, NoValue]}, counts as its statement.
    statements = [s["If"][1] if "If" in s else s for s in policy["PolicyDocument"]["Statement"]]
    wildcard = [s["Action"] for s in statements if s["Resource"] == "*"]
    assert wildcard == ["ecr:GetAuthorizationToken"]
    assert all("*" not in str(s["Action"]) for s in statements)


def unconditional(items: list) -> list:
    """A list's items, a conditional one ({"If": [condition, item, NoValue]}) as its item."""
    return [item["If"][1] if isinstance(item, dict) and "If" in item else item for item in items]


def test_every_secret_the_service_reads_is_a_setting_the_execution_role_may_read(
    resources: dict, container: dict
) -> None:
    secrets = unconditional(container["Secrets"])
    readable = {
        s["Resource"]["Ref"]
        for s in statements(resources["ExecutionRole"])
        if s["Action"] == "secretsmanager:GetSecretValue"
    }
    assert {secret["ValueFrom"]["Ref"] for secret in secrets} == readable

    value = "postgresql+psycopg://streamflow:secret@archive.internal:5432/streamflow"
    config = load_config(REPO_ROOT / "config.yaml", {secret["Name"]: value for secret in secrets})
    for secret in secrets:
        _, section, key = secret["Name"].lower().split("__")
        assert getattr(getattr(config, section), key).reveal() == value, secret["Name"]


def test_a_shared_archive_database_is_reachable_from_the_tasks(resources: dict) -> None:
    egress = unconditional(resources["TaskSecurityGroup"]["Properties"]["SecurityGroupEgress"])
    ports = [(rule["FromPort"], rule["ToPort"]) for rule in egress]

    assert ({"Ref": "ArchiveDatabasePort"},) * 2 in ports


def alarm_dimensions(alarm: dict) -> list[dict]:
    """Every dimension an alarm's metrics name, plain or in a metric-math query."""
    found = list(alarm.get("Dimensions", []))
    for query in alarm.get("Metrics", []):
        found += query.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
    return found


def test_alarms_watch_this_stacks_load_balancer_and_notify_the_topic(resources: dict) -> None:
    alarms = {name: r for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    notify = {"If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}

    assert set(alarms) == {"ServerErrorRateAlarm", "UnhealthyTargetsAlarm", "NoHealthyTargetAlarm"}
    for name, alarm in alarms.items():
        properties = alarm["Properties"]
        assert alarm["Condition"] == "HasImage", name  # without a service there is nothing to watch
        assert properties["AlarmActions"] == properties["OKActions"] == notify, name
        dimensions = alarm_dimensions(properties)
        assert dimensions, name
        for dimension in dimensions:
            target = {"LoadBalancer": "LoadBalancer", "TargetGroup": "TargetGroup"}[dimension["Name"]]
            assert dimension["Value"] == {"GetAtt": f"{target}.{target}FullName"}, name
    assert alarms["NoHealthyTargetAlarm"]["Properties"]["TreatMissingData"] == "breaching"


@pytest.mark.parametrize(
    ("task_5xx", "elb_5xx", "requests", "percent"),
    [(1, 0, 100, 1.0), (0, 0, 100, 0.0), (0, 5, 0, 100.0), (3, 1, 99, 4.0), (None, None, 50, 0.0)],
)
def test_the_5xx_rate_counts_the_load_balancers_own_errors(
    resources: dict, task_5xx: int | None, elb_5xx: int | None, requests: int, percent: float
) -> None:
    # RequestCount leaves out requests the load balancer answered itself (no healthy task):
    # those count in the denominator through elb5xx. A minute without 5xx has no data point (None).
    metrics = resources["ServerErrorRateAlarm"]["Properties"]["Metrics"]
    (rate,) = [query for query in metrics if query.get("ReturnData", True)]
    stat_names = {q["Id"]: q["MetricStat"]["Metric"]["MetricName"] for q in metrics if "MetricStat" in q}
    assert stat_names == {
        "task5xx": "HTTPCode_Target_5XX_Count",
        "elb5xx": "HTTPCode_ELB_5XX_Count",
        "requests": "RequestCount",
    }

    values = {"task5xx": task_5xx, "elb5xx": elb_5xx, "requests": requests}
    python = re.sub(r"FILL\((\w+), 0\)", r"(\1 if \1 is not None else 0)", rate["Expression"])
    assert eval(python, {}, values) == pytest.approx(percent)  # noqa: S307 - our own template
