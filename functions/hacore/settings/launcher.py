"""How a backup recorder is started (hacore.launchers): an ECS task, a Docker container or a
local process, and what each needs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hacore.settings.types import CommaList, Concern, Flag, OptionalText


class LauncherSettings(Concern):
    launcher: Literal["ecs", "docker", "process"] = Field(
        "process", alias="APP_FAILOVER_LAUNCHER", description="where backups run: ecs, docker or process"
    )
    controller_url: OptionalText = Field(
        None, alias="HA_CONTROLLER_URL", description="the API's address, as a backup is told it"
    )
    ecs_cluster: OptionalText = Field(None, alias="APP_ECS_CLUSTER", description="ecs: the cluster")
    ecs_task_definition: OptionalText = Field(
        None, alias="APP_ECS_TASK_DEFINITION", description="ecs: the recorder's task definition"
    )
    ecs_container: str = Field(
        "recorder", alias="APP_ECS_CONTAINER_NAME", description="ecs: the recorder's container name in it"
    )
    ecs_log_group: OptionalText = Field(
        None, alias="APP_ECS_LOG_GROUP", description="ecs: a backup's log group (shown with the backup)"
    )
    ecs_log_stream_prefix: str = Field(
        "backup", alias="APP_ECS_LOG_STREAM_PREFIX", description="ecs: awslogs' stream prefix"
    )
    ecs_subnets: CommaList = Field(
        default_factory=list, alias="APP_ECS_SUBNETS", description="ecs: subnets, comma-separated"
    )
    ecs_security_groups: CommaList = Field(
        default_factory=list,
        alias="APP_ECS_SECURITY_GROUPS",
        description="ecs: security groups, comma-separated",
    )
    ecs_assign_public_ip: Flag = Field(
        False, alias="APP_ECS_ASSIGN_PUBLIC_IP", description="ecs: give the task a public IP"
    )
    docker_image: str = Field(
        "openvidu/openvidu-recording",
        alias="APP_DOCKER_OPENVIDU_IMAGE",
        description="docker: the recorder image",
    )
    docker_image_tag: str = Field("2.31.0", alias="APP_DOCKER_IMAGE_TAG", description="docker: its tag")
    docker_network: OptionalText = Field(
        None, alias="APP_DOCKER_NETWORK", description="docker: the network (none: host, as OpenVidu's)"
    )
    docker_socket: str = Field(
        "/var/run/docker.sock", alias="APP_DOCKER_SOCKET_PATH", description="docker: the engine's socket"
    )
    docker_recordings_path: OptionalText = Field(
        None,
        alias="APP_DOCKER_RECORDINGS_PATH",
        description="docker: the media node's recordings folder, mounted at /recordings as OpenVidu "
        "mounts it (the backup reads its .env: S3 endpoint, keys)",
    )
    process_command: OptionalText = Field(
        None,
        alias="APP_PROCESS_BACKUP_COMMAND",
        description="process: the command (default: python -m recorder)",
    )
    process_state_dir: str = Field(
        ".local-data/backups",
        alias="APP_PROCESS_STATE_DIR",
        description="process: where backups' pids are kept",
    )
    process_launch_delay_s: float = Field(
        0,
        alias="APP_PROCESS_LAUNCH_DELAY",
        ge=0,
        le=600,
        description="process: Fargate's cold start, modelled: a backup starts this much later",
    )

    @model_validator(mode="after")
    def _ecs_complete(self) -> LauncherSettings:
        if self.launcher == "ecs" and not (
            self.ecs_cluster and self.ecs_task_definition and self.ecs_subnets
        ):
            raise ValueError(
                "APP_FAILOVER_LAUNCHER=ecs needs APP_ECS_CLUSTER, APP_ECS_TASK_DEFINITION and APP_ECS_SUBNETS"
            )
        return self
