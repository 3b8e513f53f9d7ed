"""Launchers: a real child process, moto's ECS, and Docker where an engine runs."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hacore.launchers import BackupSpec, LaunchError
from hacore.launchers.ecs import STARTED_BY, EcsLauncher
from hacore.launchers.process import ProcessLauncher
from hacore.settings import Settings

SPEC = BackupSpec(
    "ses~1",
    2,
    "0007",
    {"VIDEO_ID": "ses~1", "START_CHUNK": "0007", "EPOCH": "2", "IS_RECOVERY_CONTAINER": "true"},
)

# A stand-in recorder: writes its environment, then waits; says how it was stopped.
# Each file appears whole (written aside, then renamed): a test that sees it exists reads it all.
CHILD = """
import json, os, signal, sys, time
out = sys.argv[1]
def publish(path, text):
    with open(path + ".part", "w") as part:
        part.write(text)
    os.replace(path + ".part", path)
def stop(signum, frame):
    publish(out + ".signal", str(signum)); sys.exit(0)
signal.signal(signal.SIGTERM, stop)
keep = ("VIDEO_ID", "START_CHUNK", "EPOCH", "IS_RECOVERY_CONTAINER", "BASE")
publish(out, json.dumps({k: v for k, v in os.environ.items() if k in keep}))
while True: time.sleep(0.1)
"""


def wait_for(predicate: Any, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def process_launcher(tmp_path: Path) -> Iterator[ProcessLauncher]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    launcher = ProcessLauncher(
        [sys.executable, str(script), str(tmp_path / "env.json")],
        tmp_path / "state",
        {"BASE": "from-launcher"},
    )
    yield launcher
    for info in launcher.list():
        launcher.stop(info.ref, force=True)


def test_process_launcher_starts_a_real_child_with_the_backup_environment(
    process_launcher: ProcessLauncher, tmp_path: Path
) -> None:
    ref = process_launcher.launch(SPEC)
    env_file = tmp_path / "env.json"
    assert wait_for(env_file.exists)
    time.sleep(0.2)
    env = json.loads(env_file.read_text())
    assert env == {
        "VIDEO_ID": "ses~1",
        "START_CHUNK": "0007",
        "EPOCH": "2",
        "IS_RECOVERY_CONTAINER": "true",
        "BASE": "from-launcher",
    }
    (info,) = process_launcher.list()
    assert (info.ref, info.session_id, info.epoch, info.start_chunk, info.state) == (
        ref,
        "ses~1",
        2,
        "0007",
        "running",
    )
    os.kill(info.detail["pid"], 0)  # a real process


def test_process_launch_is_idempotent_and_survives_a_controller_restart(
    process_launcher: ProcessLauncher, tmp_path: Path
) -> None:
    ref = process_launcher.launch(SPEC)
    assert process_launcher.launch(SPEC) == ref
    restarted = ProcessLauncher(
        [sys.executable, "-c", "pass"], tmp_path / "state", {}
    )  # fresh memory, same files
    assert [i.ref for i in restarted.list()] == [ref]
    assert restarted.stop(ref, force=True)
    assert wait_for(lambda: restarted.describe(ref).state == "exited")


def test_process_stop_is_sigterm_gracefully_and_sigkill_by_force(
    process_launcher: ProcessLauncher, tmp_path: Path
) -> None:
    ref = process_launcher.launch(SPEC)
    assert wait_for((tmp_path / "env.json").exists)
    assert process_launcher.stop(ref)
    assert wait_for((tmp_path / "env.json.signal").exists)
    assert (tmp_path / "env.json.signal").read_text() == str(int(signal.SIGTERM))
    assert wait_for(lambda: process_launcher.list() == [])
    assert not process_launcher.stop(ref)  # not running any more

    second = BackupSpec("ses~1", 3, "0009", SPEC.environment)
    ref2 = process_launcher.launch(second)
    assert wait_for(lambda: process_launcher.describe(ref2).state == "running")
    assert process_launcher.stop(ref2, force=True)
    assert wait_for(lambda: process_launcher.describe(ref2).state == "exited")


def test_process_launch_of_a_missing_program_is_a_launch_error(tmp_path: Path) -> None:
    launcher = ProcessLauncher([str(tmp_path / "no-such-program")], tmp_path / "state", {})
    with pytest.raises(LaunchError):
        launcher.launch(SPEC)


# --- ECS (moto) -----------------------------------------------------------------------


@pytest.fixture
def ecs_setup() -> Iterator[tuple[Any, Settings]]:
    from moto.moto_api import state_manager

    with mock_aws():
        # moto moves a task one lifecycle step per describe; a backup recorder keeps running until stopped.
        state_manager.set_transition(
            model_name="ecs::task", transition={"progression": "manual", "times": 10_000}
        )
        ecs = boto3.client("ecs", region_name="us-east-1")
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # as Fargate VPCs have
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="rec", Description="rec", VpcId=vpc)["GroupId"]
        cluster = ecs.create_cluster(clusterName="recorders")["cluster"]["clusterArn"]
        task = ecs.register_task_definition(
            family="backup-recorder",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="1024",
            memory="2048",
            containerDefinitions=[
                {"name": "recorder", "image": "openvidu/openvidu-recording-ha", "memory": 2048}
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        settings = Settings.from_env(
            {
                "APP_FAILOVER_LAUNCHER": "ecs",
                "APP_ECS_CLUSTER": cluster,
                "APP_ECS_TASK_DEFINITION": task,
                "APP_ECS_SUBNETS": subnet,
                "APP_ECS_SECURITY_GROUPS": group,
            }
        )
        yield ecs, settings
        state_manager.unset_transition(model_name="ecs::task")


def test_ecs_launcher_runs_a_fargate_task_with_the_overrides(ecs_setup: tuple[Any, Settings]) -> None:
    ecs, settings = ecs_setup
    launcher = EcsLauncher(ecs, settings)
    arn = launcher.launch(SPEC)
    (task,) = ecs.describe_tasks(cluster=settings.ecs_cluster, tasks=[arn], include=["TAGS"])["tasks"]
    (override,) = task["overrides"]["containerOverrides"]
    assert override["name"] == "recorder"
    env = {e["name"]: e["value"] for e in override["environment"]}
    assert (env["START_CHUNK"], env["EPOCH"], env["IS_RECOVERY_CONTAINER"]) == ("0007", "2", "true")
    assert not any("PASSWORD" in k for k in env)
    assert task["startedBy"] == STARTED_BY
    assert task["launchType"] == "FARGATE"
    tags = {t["key"]: t["value"] for t in task.get("tags", [])}
    assert tags["container.type"] == "backup-recorder"
    assert tags["session.id"] == "ses_1"  # '~' is not allowed in ECS tags; VIDEO_ID keeps the exact id
    (listed,) = launcher.list()
    assert (listed.ref, listed.session_id, listed.epoch, listed.start_chunk) == (arn, "ses~1", 2, "0007")
    assert launcher.health()["healthy"]
    assert "logStream" not in listed.detail  # no log group configured: nothing to point at


def test_an_ecs_backup_names_its_own_log_stream(ecs_setup: tuple[Any, Settings]) -> None:
    """awslogs gives each task one stream, prefix/container/task id; the backup names it, so an
    operator goes from a session's backup (ovha backups list) to its logs."""
    ecs, settings = ecs_setup
    logged = settings.model_copy(update={"ecs_log_group": "/ovha/recorders"})
    launcher = EcsLauncher(ecs, logged)
    arn = launcher.launch(SPEC)
    (listed,) = launcher.list()
    task_id = arn.rsplit("/", 1)[-1]
    assert listed.detail["logGroup"] == "/ovha/recorders"
    assert listed.detail["logStream"] == f"backup/recorder/{task_id}"


def test_the_template_names_the_stream_prefix_the_task_definition_uses() -> None:
    from local.template import Template

    template = Template.load()
    task = template.resources("AWS::ECS::TaskDefinition")["RecorderTaskDefinition"]["Properties"]
    (container,) = task["ContainerDefinitions"]
    options = container["LogConfiguration"]["Options"]
    env = template.body["Globals"]["Function"]["Environment"]["Variables"]
    assert env["APP_ECS_LOG_STREAM_PREFIX"] == options["awslogs-stream-prefix"]
    assert env["APP_ECS_LOG_GROUP"] == options["awslogs-group"] == {"Ref": "RecorderLogs"}
    assert env["APP_ECS_CONTAINER_NAME"] == container["Name"]


def test_ecs_launcher_passes_the_idempotency_token(ecs_setup: tuple[Any, Settings]) -> None:
    ecs, settings = ecs_setup
    calls: list[dict[str, Any]] = []
    real = ecs.run_task

    def recording_run_task(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    ecs.run_task = recording_run_task
    EcsLauncher(ecs, settings).launch(SPEC)
    assert calls[0]["clientToken"] == SPEC.token
    assert calls[0]["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == settings.ecs_subnets


def test_ecs_stop_stops_the_task(ecs_setup: tuple[Any, Settings]) -> None:
    ecs, settings = ecs_setup
    launcher = EcsLauncher(ecs, settings)
    arn = launcher.launch(SPEC)
    assert launcher.stop(arn)
    (task,) = ecs.describe_tasks(cluster=settings.ecs_cluster, tasks=[arn])["tasks"]
    assert task["desiredStatus"] == "STOPPED"
    assert launcher.list() == []
    assert not launcher.stop(arn)


def test_ecs_settings_must_be_complete() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="APP_ECS_CLUSTER"):
        Settings.from_env({"APP_FAILOVER_LAUNCHER": "ecs"})


# --- Docker ---------------------------------------------------------------------------


def test_docker_launcher_reports_an_unreachable_engine_without_giving_up(tmp_path: Path) -> None:
    """Health says what is wrong; the next call tries again (the original disabled failover)."""
    from hacore.launchers.docker_launcher import DockerLauncher

    settings = Settings.from_env(
        {"APP_FAILOVER_LAUNCHER": "docker", "APP_DOCKER_SOCKET_PATH": str(tmp_path / "no.sock")}
    )
    launcher = DockerLauncher(settings, {})
    assert launcher.health()["healthy"] is False
    with pytest.raises(LaunchError):
        launcher.launch(SPEC)
    assert launcher.health()["healthy"] is False  # asked again, not remembered as dead


def test_a_process_that_exits_is_reported_once_as_ecs_reports_a_stopped_task(tmp_path: Path) -> None:
    """The exit code of a crash, a SIGKILL, and a stop on purpose: what the detector's rule decides on."""
    launcher = ProcessLauncher([sys.executable, "-c", "import sys, time; time.sleep(30)"], tmp_path / "s", {})
    crashed = ProcessLauncher([sys.executable, "-c", "raise SystemExit(4)"], tmp_path / "s", {})
    killed = launcher.launch(BackupSpec("killed", 2, "0001", {}))
    stopped = launcher.launch(BackupSpec("stopped", 2, "0001", {}))
    exited = crashed.launch(BackupSpec("crashed", 2, "0001", {}))
    os.kill(int(killed.split(":")[1]), signal.SIGKILL)
    assert launcher.stop(stopped, force=True)
    events: list[dict[str, Any]] = []
    assert wait_for(lambda: events.extend(launcher.stopped_events()) or len(events) == 3)
    by_ref = {e["detail"]["taskArn"]: e["detail"] for e in events}
    assert by_ref[killed]["containers"][0]["exitCode"] == -signal.SIGKILL
    assert by_ref[killed]["stopCode"] == "EssentialContainerExited"
    assert by_ref[exited]["containers"][0]["exitCode"] == 4
    assert by_ref[stopped]["stopCode"] == "UserInitiated"  # the controller stopped it: on purpose
    env = {e["name"]: e["value"] for e in by_ref[exited]["overrides"]["containerOverrides"][0]["environment"]}
    assert env["VIDEO_ID"] == "crashed"
    assert all(e["detail-type"] == "ECS Task State Change" for e in events)
    assert launcher.stopped_events() == []  # once each


def test_the_modelled_cold_start_holds_the_backup_back(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    launcher = ProcessLauncher(
        [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"], tmp_path / "s", {}, delay=1.5
    )
    began = time.monotonic()
    ref = launcher.launch(BackupSpec("late", 2, "0001", {}))
    assert time.monotonic() - began < 1.0  # launching never waits: the child does
    assert launcher.describe(ref).state == "running"  # type: ignore[union-attr]
    assert not marker.exists()
    assert wait_for(marker.exists, 10)
    assert time.monotonic() - began >= 1.5
