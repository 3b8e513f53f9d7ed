"""Launchers start, stop and list backup recorders: ECS tasks in AWS, Docker containers or local processes.

`make_launcher` picks one from the settings; the rest of the code sees only `Launcher`.
"""

from __future__ import annotations

from typing import Any

from hacore.launchers.base import BackupInfo, BackupSpec, Launcher, LaunchError
from hacore.settings import Settings

__all__ = ["BackupInfo", "BackupSpec", "LaunchError", "Launcher", "make_launcher"]


def make_launcher(
    settings: Settings, clients: Any = None, base_env: dict[str, str] | None = None
) -> Launcher:
    """The launcher the settings name. `clients(service)` gives a boto3 client (ECS only)."""
    if settings.launcher == "ecs":
        from hacore.launchers.ecs import EcsLauncher

        return EcsLauncher(clients("ecs"), settings)
    if settings.launcher == "docker":
        from hacore.launchers.docker_launcher import DockerLauncher

        return DockerLauncher(settings, base_env or {})
    from hacore.launchers.process import ProcessLauncher

    return ProcessLauncher.from_settings(settings, base_env or {})
