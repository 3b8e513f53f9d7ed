"""Backups as ECS tasks (Fargate): RunTask with the session's environment as container overrides.

The controller's credentials are not in the overrides: the task definition injects them
from Secrets Manager (`secrets` with `valueFrom`), so they travel by reference only.
"""

from __future__ import annotations

import re
from typing import Any

from hacore.launchers.base import BackupInfo, BackupSpec, LaunchError
from hacore.settings import Settings

STARTED_BY = "ovha-failover"
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9 _.:/=+\-@]")


def _tag(key: str, value: str) -> dict[str, str]:
    return {"key": key, "value": _TAG_UNSAFE.sub("_", value)[:256]}


class EcsLauncher:
    name = "ecs"

    def __init__(self, ecs: Any, settings: Settings) -> None:
        self._ecs = ecs
        self._settings = settings

    def launch(self, spec: BackupSpec) -> str:
        s = self._settings
        reply = self._ecs.run_task(
            cluster=s.ecs_cluster,
            taskDefinition=s.ecs_task_definition,
            launchType="FARGATE",
            count=1,
            clientToken=spec.token,
            startedBy=STARTED_BY,
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": s.ecs_subnets,
                    "securityGroups": s.ecs_security_groups,
                    "assignPublicIp": "ENABLED" if s.ecs_assign_public_ip else "DISABLED",
                }
            },
            overrides={
                "containerOverrides": [
                    {
                        "name": s.ecs_container,
                        "environment": [{"name": k, "value": v} for k, v in spec.environment.items()],
                    }
                ]
            },
            tags=[
                _tag("session.id", spec.session_id),
                _tag("container.type", "backup-recorder"),
                _tag("created.by", "ovha-detector"),
                _tag("start.chunk", spec.start_chunk),
                _tag("epoch", str(spec.epoch)),
            ],
            enableECSManagedTags=True,
        )
        if reply.get("failures") or not reply.get("tasks"):
            raise LaunchError(f"ECS RunTask failed: {reply.get('failures')}")
        return reply["tasks"][0]["taskArn"]

    def stop(self, ref: str, force: bool = False) -> bool:
        """ECS has one way to stop a task: SIGTERM, then SIGKILL after the task's stopTimeout."""
        info = self.describe(ref)
        if info is None or info.state != "running":
            return False
        reason = "forced stop by the HA controller" if force else "graceful stop by the HA controller"
        self._ecs.stop_task(cluster=self._settings.ecs_cluster, task=ref, reason=reason)
        return True

    def describe(self, ref: str) -> BackupInfo | None:
        tasks = self._ecs.describe_tasks(cluster=self._settings.ecs_cluster, tasks=[ref], include=["TAGS"])[
            "tasks"
        ]
        return self._info(tasks[0]) if tasks else None

    def list(self) -> list[BackupInfo]:
        arns: list[str] = []
        paginator = self._ecs.get_paginator("list_tasks")
        for page in paginator.paginate(
            cluster=self._settings.ecs_cluster, startedBy=STARTED_BY, desiredStatus="RUNNING"
        ):
            arns.extend(page["taskArns"])
        infos = []
        for start in range(0, len(arns), 100):
            reply = self._ecs.describe_tasks(
                cluster=self._settings.ecs_cluster, tasks=arns[start : start + 100], include=["TAGS"]
            )
            infos.extend(self._info(task) for task in reply["tasks"])
        return [i for i in infos if i.state == "running"]

    def health(self) -> dict[str, Any]:
        try:
            clusters = self._ecs.describe_clusters(clusters=[self._settings.ecs_cluster])["clusters"]
        except Exception as error:  # health reports; it never disables failover
            return {"launcher": self.name, "healthy": False, "error": type(error).__name__}
        status = clusters[0]["status"] if clusters else "MISSING"
        return {
            "launcher": self.name,
            "healthy": status == "ACTIVE",
            "cluster": self._settings.ecs_cluster,
            "clusterStatus": status,
        }

    def _info(self, task: dict[str, Any]) -> BackupInfo:
        environment = {}
        for override in task.get("overrides", {}).get("containerOverrides", []):
            environment.update({e["name"]: e["value"] for e in override.get("environment", [])})
        desired, last = task.get("desiredStatus", ""), task.get("lastStatus", "")
        running = desired == "RUNNING" and last in ("PROVISIONING", "PENDING", "ACTIVATING", "RUNNING")
        created = task.get("createdAt")
        return BackupInfo(
            ref=task["taskArn"],
            session_id=environment.get("VIDEO_ID"),
            epoch=int(environment["EPOCH"]) if "EPOCH" in environment else None,
            start_chunk=environment.get("START_CHUNK"),
            state="running" if running else last.lower() or "unknown",
            launcher=self.name,
            name=task["taskArn"].rsplit("/", 1)[-1],
            started_at=created.timestamp() if hasattr(created, "timestamp") else None,
            detail={"lastStatus": last, "desiredStatus": desired} | self._logs(task["taskArn"]),
        )

    def _logs(self, task_arn: str) -> dict[str, str]:
        """The task's own CloudWatch Logs stream: the awslogs driver names it prefix/container/task id."""
        s = self._settings
        if not s.ecs_log_group:
            return {}
        task_id = task_arn.rsplit("/", 1)[-1]
        return {
            "logGroup": s.ecs_log_group,
            "logStream": f"{s.ecs_log_stream_prefix}/{s.ecs_container}/{task_id}",
        }
