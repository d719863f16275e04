"""Create the Fargate stack, and build, push and roll out the service image.

    python utils/deploy.py stack --stack streamflow VpcId=vpc-... LoadBalancerSubnetIds=subnet-a,subnet-b ...
    python utils/deploy.py release --stack streamflow

`stack` creates or updates the stack of `resources/deploy/fargate.yaml`. Parameters not given keep their previous
values, and `ImageTag` always follows the image the service runs, so an infrastructure change
never rolls the service back to an older image. `release` builds the image for linux/amd64,
tags it with the git commit, pushes it to the stack's ECR repository, registers a new revision
of the running task definition with that image only (and of the training task, when the stack
has one), updates the service and waits until it is stable (the service's circuit breaker rolls
back a revision that never turns healthy). The first
release creates the service through the stack instead. AWS credentials and region come from the
usual boto3 sources (environment, profile, instance role).
"""

from __future__ import annotations

import argparse
import base64
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "resources" / "deploy" / "fargate.yaml"
# What describe_task_definition returns that register_task_definition accepts back.
REGISTER_FIELDS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "runtimePlatform",
    "ephemeralStorage",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
)


class DeployError(RuntimeError):
    """A precondition of a deployment step does not hold; the message says which."""


def describe_stack(cloudformation, stack: str) -> tuple[dict[str, str], list[str]] | None:
    """The stack's outputs by key and its parameter keys; None when there is no such stack.

    ServiceName is among the outputs only once the service exists.
    """
    try:
        description = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    outputs = {output["OutputKey"]: output["OutputValue"] for output in description.get("Outputs", [])}
    return outputs, [parameter["ParameterKey"] for parameter in description.get("Parameters", [])]


def service_task_definition(ecs, cluster: str, service: str) -> dict:
    """describe_task_definition (with tags) of the revision the service runs.

    Raises:
        DeployError: The service is missing or inactive.
    """
    services = ecs.describe_services(cluster=cluster, services=[service])["services"]
    if not services or services[0]["status"] != "ACTIVE":
        raise DeployError(f"service {service} is not active in cluster {cluster}")
    return ecs.describe_task_definition(taskDefinition=services[0]["taskDefinition"], include=["TAGS"])


def repository_containers(definition: dict, repository: str) -> list[dict]:
    """The container definitions that run an image of `repository` (an image name without tag).

    Raises:
        DeployError: None does.
    """
    containers = [c for c in definition["containerDefinitions"] if c["image"].rsplit(":", 1)[0] == repository]
    if not containers:
        raise DeployError(f"no container of {definition['taskDefinitionArn']} runs an image of {repository}")
    return containers


def running_image_tag(ecs, cluster: str, service: str, repository: str) -> str:
    """Tag of the image of `repository` that the service runs."""
    definition = service_task_definition(ecs, cluster, service)["taskDefinition"]
    return repository_containers(definition, repository)[0]["image"].rsplit(":", 1)[1]


def stack_parameters(
    previous: list[str], overrides: Mapping[str, str], image_tag: str | None
) -> list[dict[str, object]]:
    """Parameters for create_stack/update_stack.

    Args:
        previous: Parameter keys of the existing stack (empty when creating it).
        overrides: Values given on the command line.
        image_tag: The image tag the service runs or is to run; None keeps the previous one.

    Returns:
        One entry per given value; every other previous parameter keeps its value (an
        update_stack call would otherwise reset it to the template default).
    """
    values = dict(overrides)
    if image_tag is not None:
        values["ImageTag"] = image_tag
    parameters: list[dict[str, object]] = [
        {"ParameterKey": key, "ParameterValue": value} for key, value in values.items()
    ]
    parameters += [{"ParameterKey": key, "UsePreviousValue": True} for key in previous if key not in values]
    return parameters


def apply_stack(cloudformation, stack: str, parameters: list[dict[str, object]], create: bool) -> None:
    """Create or update the stack from resources/deploy/fargate.yaml and wait for the result."""
    request = {
        "StackName": stack,
        "TemplateBody": TEMPLATE.read_text(encoding="utf-8"),
        "Parameters": parameters,
        # The template creates IAM roles (with generated names).
        "Capabilities": ["CAPABILITY_IAM"],
    }
    if create:
        cloudformation.create_stack(**request)
        cloudformation.get_waiter("stack_create_complete").wait(StackName=stack)
        return
    try:
        cloudformation.update_stack(**request)
    except ClientError as exc:
        if "No updates are to be performed" in str(exc):
            print(f"stack {stack} is up to date")
            return
        raise
    cloudformation.get_waiter("stack_update_complete").wait(StackName=stack)


def deploy_stack(cloudformation, ecs, stack: str, overrides: Mapping[str, str]) -> None:
    """Create the stack, or update it keeping the image the service runs."""
    if "ImageTag" in overrides:
        raise DeployError("ImageTag is set by `release`, not by hand")
    described = describe_stack(cloudformation, stack)
    if described is None:
        apply_stack(cloudformation, stack, stack_parameters([], overrides, None), create=True)
        return
    outputs, keys = described
    image_tag = None
    if "ServiceName" in outputs:
        image_tag = running_image_tag(ecs, outputs["ClusterName"], outputs["ServiceName"], outputs["RepositoryUri"])
    apply_stack(cloudformation, stack, stack_parameters(keys, overrides, image_tag), create=False)


def rollout(ecs, cluster: str, service: str, image: str) -> str:
    """Register a revision of the service's task definition with `image` and switch the service to it.

    Only the image of the containers that run `image`'s repository changes; roles, sizes, health
    check, init process, secrets, log settings and tags are carried over.

    Returns:
        The new task definition ARN.

    Raises:
        DeployError: The service is inactive, or no container runs an image of that repository.
    """
    new_arn = register_revision(ecs, service_task_definition(ecs, cluster, service), image)
    ecs.update_service(cluster=cluster, service=service, taskDefinition=new_arn)
    return new_arn


def register_revision(ecs, described: dict, image: str) -> str:
    """Register a revision of a described task definition with `image` in its containers of that
    image's repository, everything else carried over; returns its ARN.

    Raises:
        DeployError: No container runs an image of that repository.
    """
    current = described["taskDefinition"]
    for container in repository_containers(current, image.rsplit(":", 1)[0]):
        container["image"] = image
    request = {field: current[field] for field in REGISTER_FIELDS if field in current}
    if described.get("tags"):
        request["tags"] = described["tags"]
    return ecs.register_task_definition(**request)["taskDefinition"]["taskDefinitionArn"]


def rollout_training(ecs, family: str, image: str) -> str:
    """Register a revision of the training task family with `image`: the schedule runs the family's
    newest revision, so the next training uses the image the service runs."""
    return register_revision(ecs, ecs.describe_task_definition(taskDefinition=family, include=["TAGS"]), image)


def registry_login(ecr) -> tuple[str, str, str]:
    """User, password and registry host from an ECR authorization token."""
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    return user, password, data["proxyEndpoint"].removeprefix("https://")


def commit_tag(repo: Path) -> str:
    """The short commit id of a clean working tree: the repository's tags are immutable.

    Raises:
        DeployError: The working tree has uncommitted changes.
    """
    if subprocess.run(["git", "status", "--porcelain"], cwd=repo, check=True, capture_output=True, text=True).stdout:
        raise DeployError("uncommitted changes: commit them, or name the image with --tag")
    return subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def push_image(engine: str, image: str, ecr) -> None:
    """Build the image from the repository's Dockerfile and push it."""
    user, password, registry = registry_login(ecr)
    # The task definition runs X86_64; without --platform an arm64 laptop would build arm64.
    commit = image.rsplit(":", 1)[1]
    subprocess.run(
        [
            engine,
            "build",
            "--platform",
            "linux/amd64",
            "--build-arg",
            f"CODE_COMMIT={commit}",
            "-t",
            image,
            str(REPO_ROOT),
        ],
        check=True,
    )
    subprocess.run(
        [engine, "login", "--username", user, "--password-stdin", registry], input=password, text=True, check=True
    )
    subprocess.run([engine, "push", image], check=True)


def release(stack: str, tag: str | None, engine: str) -> None:
    """Build, push and roll out the image of the current commit (or `tag`)."""
    cloudformation, ecs = boto3.client("cloudformation"), boto3.client("ecs")
    described = describe_stack(cloudformation, stack)
    if described is None:
        raise DeployError(f"stack {stack} does not exist: create it with `deploy.py stack` first")
    outputs, keys = described
    image = f"{outputs['RepositoryUri']}:{tag or commit_tag(REPO_ROOT)}"
    push_image(engine, image, boto3.client("ecr"))
    if "ServiceName" not in outputs:
        apply_stack(cloudformation, stack, stack_parameters(keys, {}, image.rsplit(":", 1)[1]), create=False)
        print(f"service created with {image}")
        return
    cluster, service = outputs["ClusterName"], outputs["ServiceName"]
    if "TrainingTaskFamily" in outputs:
        print(f"training task: {rollout_training(ecs, outputs['TrainingTaskFamily'], image)}")
    arn = rollout(ecs, cluster, service, image)
    print(f"rolling out {arn}; waiting for the service to become stable")
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=[service])
    print(f"{service} runs {image}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stack = commands.add_parser("stack", help="create or update the CloudFormation stack")
    stack.add_argument("--stack", required=True, help="stack name")
    stack.add_argument("parameters", nargs="*", metavar="KEY=VALUE", help="template parameters to set")
    rel = commands.add_parser("release", help="build, push and roll out the image")
    rel.add_argument("--stack", required=True, help="stack name")
    rel.add_argument("--tag", help="image tag (default: the commit id; needs a clean working tree)")
    rel.add_argument("--engine", default="docker", help="container CLI that builds and pushes (docker or podman)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "stack":
            if not all("=" in parameter for parameter in args.parameters):
                raise DeployError(f"parameters are KEY=VALUE, got {args.parameters}")
            overrides = dict(parameter.split("=", 1) for parameter in args.parameters)
            deploy_stack(boto3.client("cloudformation"), boto3.client("ecs"), args.stack, overrides)
        else:
            release(args.stack, args.tag, args.engine)
    except (DeployError, ClientError, subprocess.CalledProcessError) as exc:
        print(f"deploy failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
