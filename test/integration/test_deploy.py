"""utils/deploy.py against moto's in-memory ECS, ECR and EC2: rollouts and stack parameters.

CloudFormation calls are checked with botocore's Stubber: moto's CloudFormation emulation is lossy
(cfn-lint checks the template itself).
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from utils.deploy import (
    DeployError,
    commit_tag,
    deploy_stack,
    registry_login,
    rollout,
    rollout_training,
    running_image_tag,
    stack_parameters,
)

REGION = "us-east-1"
REPOSITORY = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/streamflow"
CLUSTER, SERVICE = "streamflow", "streamflow"
# The parts of the template's container definition that a rollout must carry over.
CONTAINER = {
    "name": "streamflow",
    "image": f"{REPOSITORY}:aaaaaaaaaaaa",
    "essential": True,
    "readonlyRootFilesystem": True,
    "portMappings": [{"containerPort": 8888, "protocol": "tcp"}],
    "environment": [{"name": "STREAMFLOW__SERVER__PORT", "value": "8888"}],
    "secrets": [
        {
            "name": "STREAMFLOW__UPSTREAM__USGS_API_KEY",
            "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:usgs",
        }
    ],
    "healthCheck": {
        "command": ["CMD-SHELL", "python -c 'probe'"],
        "interval": 30,
        "timeout": 5,
        "retries": 3,
        "startPeriod": 60,
    },
    "linuxParameters": {"initProcessEnabled": True},
    "stopTimeout": 30,
    "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "streamflow", "awslogs-region": REGION}},
}


@pytest.fixture
def ecs(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """An ECS client on a Fargate service running revision 1 of the task definition."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
        client = boto3.client("ecs", region_name=REGION)
        client.create_cluster(clusterName=CLUSTER)
        arn = client.register_task_definition(
            family="streamflow",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="1024",
            memory="2048",
            executionRoleArn="arn:aws:iam::123456789012:role/execution",
            taskRoleArn="arn:aws:iam::123456789012:role/task",
            volumes=[{"name": "cache"}],
            containerDefinitions=[CONTAINER],
            tags=[{"key": "service", "value": "streamflow"}],
        )["taskDefinition"]["taskDefinitionArn"]
        client.create_service(
            cluster=CLUSTER,
            serviceName=SERVICE,
            taskDefinition=arn,
            desiredCount=2,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
        )
        yield client


def service_definition(ecs) -> dict:
    arn = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]["taskDefinition"]
    return ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])


def test_rollout_registers_a_revision_with_the_new_image_and_updates_the_service(ecs) -> None:
    before = service_definition(ecs)["taskDefinition"]

    new_arn = rollout(ecs, CLUSTER, SERVICE, f"{REPOSITORY}:bbbbbbbbbbbb")

    after = service_definition(ecs)
    assert after["taskDefinition"]["taskDefinitionArn"] == new_arn
    assert after["taskDefinition"]["revision"] == before["revision"] + 1
    assert after["taskDefinition"]["containerDefinitions"][0]["image"] == f"{REPOSITORY}:bbbbbbbbbbbb"
    assert running_image_tag(ecs, CLUSTER, SERVICE, REPOSITORY) == "bbbbbbbbbbbb"


def test_rollout_changes_the_image_and_nothing_else(ecs) -> None:
    before = service_definition(ecs)

    rollout(ecs, CLUSTER, SERVICE, f"{REPOSITORY}:bbbbbbbbbbbb")

    after = service_definition(ecs)
    (old_container,) = before["taskDefinition"]["containerDefinitions"]
    (new_container,) = after["taskDefinition"]["containerDefinitions"]
    assert {**old_container, "image": new_container["image"]} == new_container
    for field in (
        "cpu",
        "memory",
        "networkMode",
        "requiresCompatibilities",
        "executionRoleArn",
        "taskRoleArn",
        "volumes",
    ):
        assert after["taskDefinition"][field] == before["taskDefinition"][field], field
    assert after["tags"] == before["tags"]


def test_the_training_family_gets_a_revision_with_the_service_image(ecs) -> None:
    training = {**CONTAINER, "name": "training", "command": ["python", "main_train.py"]}
    for key in ("portMappings", "healthCheck", "stopTimeout"):
        training.pop(key)
    ecs.register_task_definition(
        family="streamflow-training",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="2048",
        memory="8192",
        executionRoleArn="arn:aws:iam::123456789012:role/execution",
        taskRoleArn="arn:aws:iam::123456789012:role/training",
        volumes=[{"name": "cache"}, {"name": "tmp"}],
        containerDefinitions=[training],
    )

    arn = rollout_training(ecs, "streamflow-training", f"{REPOSITORY}:bbbbbbbbbbbb")

    # The schedule names the family: its newest revision is the one just registered.
    newest = ecs.describe_task_definition(taskDefinition="streamflow-training")["taskDefinition"]
    assert newest["taskDefinitionArn"] == arn and newest["revision"] == 2
    (container,) = newest["containerDefinitions"]
    assert container["image"] == f"{REPOSITORY}:bbbbbbbbbbbb" and container["command"] == ["python", "main_train.py"]
    assert (newest["cpu"], newest["memory"], newest["taskRoleArn"]) == (
        "2048",
        "8192",
        "arn:aws:iam::123456789012:role/training",
    )
    assert service_definition(ecs)["taskDefinition"]["revision"] == 1  # the service is rolled out on its own


def test_rollout_refuses_an_image_of_another_repository(ecs) -> None:
    before = service_definition(ecs)["taskDefinition"]["taskDefinitionArn"]

    with pytest.raises(DeployError, match="no container"):
        rollout(ecs, CLUSTER, SERVICE, "registry.example.com/other:bbbbbbbbbbbb")

    assert service_definition(ecs)["taskDefinition"]["taskDefinitionArn"] == before


def test_rollout_refuses_a_missing_service(ecs) -> None:
    with pytest.raises(DeployError, match="not active"):
        rollout(ecs, CLUSTER, "no-such-service", f"{REPOSITORY}:bbbbbbbbbbbb")


def test_registry_login_decodes_the_ecr_token(ecs) -> None:
    user, password, registry = registry_login(boto3.client("ecr", region_name=REGION))

    assert user == "AWS"
    assert password
    assert not registry.startswith("https://")


def test_stack_update_keeps_previous_values_and_pins_the_running_image() -> None:
    parameters = stack_parameters(["VpcId", "ImageTag", "MinTasks"], {"MinTasks": "3"}, "bbbbbbbbbbbb")

    assert sorted(parameters, key=lambda p: p["ParameterKey"]) == [
        {"ParameterKey": "ImageTag", "ParameterValue": "bbbbbbbbbbbb"},
        {"ParameterKey": "MinTasks", "ParameterValue": "3"},
        {"ParameterKey": "VpcId", "UsePreviousValue": True},
    ]


def test_stack_update_without_a_service_keeps_the_previous_image_tag() -> None:
    parameters = stack_parameters(["VpcId", "ImageTag"], {}, None)

    assert {"ParameterKey": "ImageTag", "UsePreviousValue": True} in parameters


def test_stack_creation_passes_only_the_given_values() -> None:
    assert stack_parameters([], {"VpcId": "vpc-1"}, None) == [{"ParameterKey": "VpcId", "ParameterValue": "vpc-1"}]


def stack_description(status: str) -> dict:
    return {
        "StackName": "sf",
        "StackStatus": status,
        "CreationTime": dt.datetime(2026, 1, 1),
        "Parameters": [
            {"ParameterKey": "VpcId", "ParameterValue": "vpc-1"},
            {"ParameterKey": "ImageTag", "ParameterValue": "older-tag"},
        ],
        "Outputs": [
            {"OutputKey": "RepositoryUri", "OutputValue": REPOSITORY},
            {"OutputKey": "ClusterName", "OutputValue": CLUSTER},
            {"OutputKey": "ServiceName", "OutputValue": SERVICE},
        ],
    }


def test_infrastructure_update_keeps_the_image_the_service_runs(ecs) -> None:
    # Releases roll out through ECS, so the stack's ImageTag lags; the update must not roll back.
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    with Stubber(cloudformation) as stub:
        stub.add_response("describe_stacks", {"Stacks": [stack_description("UPDATE_COMPLETE")]}, {"StackName": "sf"})
        expected = {
            "StackName": "sf",
            "TemplateBody": ANY,
            "Capabilities": ["CAPABILITY_IAM"],
            "Parameters": [
                {"ParameterKey": "MinTasks", "ParameterValue": "3"},
                {"ParameterKey": "ImageTag", "ParameterValue": "aaaaaaaaaaaa"},
                {"ParameterKey": "VpcId", "UsePreviousValue": True},
            ],
        }
        stub.add_response("update_stack", {"StackId": "sf-id"}, expected)
        stub.add_response("describe_stacks", {"Stacks": [stack_description("UPDATE_COMPLETE")]}, {"StackName": "sf"})

        deploy_stack(cloudformation, ecs, "sf", {"MinTasks": "3"})

        stub.assert_no_pending_responses()


def test_a_new_stack_is_created_without_a_service(ecs) -> None:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    with Stubber(cloudformation) as stub:
        stub.add_client_error("describe_stacks", "ValidationError", "Stack with id sf does not exist")
        expected = {
            "StackName": "sf",
            "TemplateBody": ANY,
            "Capabilities": ["CAPABILITY_IAM"],
            "Parameters": [{"ParameterKey": "VpcId", "ParameterValue": "vpc-1"}],
        }
        stub.add_response("create_stack", {"StackId": "sf-id"}, expected)
        stub.add_response("describe_stacks", {"Stacks": [stack_description("CREATE_COMPLETE")]}, {"StackName": "sf"})

        deploy_stack(cloudformation, ecs, "sf", {"VpcId": "vpc-1"})

        stub.assert_no_pending_responses()


def test_the_image_tag_is_not_set_by_hand(ecs) -> None:
    with pytest.raises(DeployError, match="ImageTag"):
        deploy_stack(boto3.client("cloudformation", region_name=REGION), ecs, "sf", {"ImageTag": "x"})


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def test_commit_tag_names_a_clean_commit_and_refuses_uncommitted_changes(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "app.py").write_text("x = 1\n")
    git(tmp_path, "add", "app.py")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")

    assert git(tmp_path, "rev-parse", "HEAD").startswith(commit_tag(tmp_path))

    (tmp_path / "app.py").write_text("x = 2\n")
    with pytest.raises(DeployError, match="uncommitted"):
        commit_tag(tmp_path)
