"""The local stack: embedded moto, the template's resources, the real handlers behind an HTTP gateway.

`make up` runs `python -m local up`, which is `LocalStack(...).start()` and a wait.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from local.environment import function_environment
from local.gateway import Router, make_server
from local.provision import create_tables
from local.template import Template

log = logging.getLogger("local")

ORIGINAL_USERNAME = "recorder"
ORIGINAL_PASSWORD = "rec0rd3r_2024!"  # noqa: S105 - the original product's local default, printed as such

LOCAL_DEFAULTS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_NAMESPACE": "OpenViduHA",
}
LOCAL_PARAMETERS = {"Profile": "dev"}
PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def die_with_parent() -> None:
    """Run in a child before exec: the kernel sends it SIGTERM when this process dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class LocalStack:
    host: str = "127.0.0.1"
    port: int = 8080
    environ: MutableMapping[str, str] = field(default_factory=lambda: os.environ)
    template: Template = field(default_factory=Template.load)
    names: dict[str, str] = field(default_factory=dict)
    default_credentials: bool = False
    _moto: Any = None
    _server: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def aws_endpoint(self) -> str:
        return self.environ["AWS_ENDPOINT_URL"]

    def start(self) -> LocalStack:
        for key, value in LOCAL_DEFAULTS.items():
            self.environ.setdefault(key, value)
        if not self.environ.get("HA_CONTROLLER_USERNAME") and not self.environ.get("HA_CONTROLLER_PASSWORD"):
            self.environ["HA_CONTROLLER_USERNAME"] = ORIGINAL_USERNAME
            self.environ["HA_CONTROLLER_PASSWORD"] = ORIGINAL_PASSWORD
            self.default_credentials = True
        if not self.environ.get("AWS_ENDPOINT_URL"):
            self._start_moto()
        self._provision()
        router = Router(self.template)
        self._server = make_server(router, self.host, self.port)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="gateway", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._moto is not None:
            self._moto.terminate()
            self._moto.wait(timeout=10)

    def _start_moto(self) -> None:
        """moto's server in a process of its own: the gateway and the handlers keep this one's GIL."""
        port = int(self.environ.get("MOTO_PORT") or free_port())
        self._moto = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if self._moto.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on port {port}") from None
                time.sleep(0.1)
        self.environ["AWS_ENDPOINT_URL"] = endpoint

    def _provision(self) -> None:
        import boto3

        region = self.environ["AWS_REGION"]
        dynamodb = boto3.client("dynamodb", region_name=region, endpoint_url=self.aws_endpoint)
        self.names.update(create_tables(dynamodb, self.template))
        for key, value in function_environment(self.template, self.names, LOCAL_PARAMETERS).items():
            self.environ.setdefault(key, value)

    def banner(self) -> str:
        user = self.environ["HA_CONTROLLER_USERNAME"]
        if self.default_credentials:
            credentials = (
                f"{user} / {ORIGINAL_PASSWORD}  (the original product's defaults, for this machine only)\n"
                "                 change them: HA_CONTROLLER_USERNAME=... HA_CONTROLLER_PASSWORD=... make up"
            )
        else:
            credentials = f"{user} / (the password in HA_CONTROLLER_PASSWORD)"
        tables = ", ".join(self.names.values())
        return (
            "OpenVidu HA recorder controller, local stack\n"
            f"  API          {self.url}   (Swagger UI: {self.url}/swagger-ui.html)\n"
            f"  AWS          {self.aws_endpoint}   {'embedded moto' if self._moto else 'AWS_ENDPOINT_URL'}: "
            f"{tables}\n"
            f"  Credentials  {credentials}\n"
            f"  Try          curl -u {user}:<password> {self.url}/api/sessions/health\n"
            "  Stop         Ctrl-C"
        )
