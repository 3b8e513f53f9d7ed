"""`python -m local sam-invoke FUNCTION EVENT`: `sam local invoke` against the running local stack,
with nothing pulled from a registry.

The rule: the SAM CLI does the invoking (its emulator, `aws-lambda-rie`, ships in its package; the
function's built code from `sam build`); this only gives it what it would pull or cannot pass:
* the runtime image, made here (`local/lambda.Dockerfile`: the project's Debian base, this host's
  python3.12, the runtime interface client from a wheel downloaded on the host);
* on the engine's default bridge (where SAM runs the function's container and publishes its
  emulator's port), a forwarder from the bridge's gateway address to the local stack's moto, so
  the function in its container reaches the stack's tables as the stack's own handlers do;
* the local settings SAM passes to no function (its `--env-vars` override only what the template
  declares): the stack's endpoint and credentials, in `.sam-local.env` in the function's built
  folder, which the image's bootstrap reads, removed after the invoke.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from local import ROOT, engine
from local.environment import declared_variables, function_environment
from local.image import base_image, download_wheels
from local.media_node import recordings_path
from local.provision import create_buckets, create_queues, create_tables
from local.proxy import Proxy
from local.runtime import LOCAL_DEFAULTS, LOCAL_OVERRIDES, LOCAL_PARAMETERS
from local.template import Template
from recorder.settings_file import parse_env_file

IMAGE = "ovha-lambda-python:3.12"
BUILD = ROOT / ".aws-sam" / "build"
LOCAL_ENV = ".sam-local.env"


def python312() -> Path:
    """This host's python3.12 prefix (pyenv's: built with its prefix baked in, so it moves as is);
    the first candidate that runs (pyenv's shim on PATH may not, with no version selected)."""
    candidates = [
        *(str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))),
        *([found] if (found := shutil.which("python3.12")) else []),
    ]
    for candidate in candidates:
        probe = [candidate, "-c", "import sys; print(sys.base_prefix)"]
        done = subprocess.run(probe, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            continue
        prefix = done.stdout.strip()
        if prefix in ("/usr", "/usr/local"):
            raise SystemExit(f"python3.12 at {prefix} is the system's: give a self-contained one (pyenv's)")
        return Path(prefix)
    raise SystemExit("no python3.12 here (Lambda's runtime): install it, e.g. with pyenv")


def lambda_image(client: Any) -> str:
    """The runtime image, built once (again only when asked: `docker rmi` it)."""
    import docker.errors

    try:
        client.images.get(IMAGE)
        return IMAGE
    except docker.errors.ImageNotFound:
        pass
    prefix = python312()
    base = base_image(client, None)
    with tempfile.TemporaryDirectory(prefix="ovha-lambda-image-") as folder:
        context = Path(folder)
        shutil.copy(ROOT / "local" / "lambda.Dockerfile", context / "Dockerfile")
        shutil.copy(ROOT / "local" / "lambda_bootstrap.sh", context / "bootstrap")
        (context / "bootstrap").chmod(0o755)
        shutil.copytree(
            prefix, context / "python", symlinks=True, ignore=shutil.ignore_patterns("test", "__pycache__")
        )
        download_wheels(["awslambdaric"], context / "wheels", python="3.12")
        client.images.build(
            path=str(context),
            tag=IMAGE,
            buildargs={"BASE_IMAGE": base, "PYTHON_PREFIX": str(prefix)},
            network_mode="host",
            rm=True,
        )
    return IMAGE


def bridge_gateway(client: Any) -> str:
    """The host's address on the engine's default bridge, where SAM's containers are (SAM publishes
    its emulator's port there, and a container on the host network or none cannot be reached)."""
    import docker.errors

    try:
        network = client.networks.get("bridge")
    except docker.errors.NotFound:
        raise SystemExit(
            "the Docker engine has no default bridge (started with --bridge=none?): sam local invoke "
            "needs one; `python -m local engine start` starts an engine with it"
        ) from None
    config = network.attrs["IPAM"]["Config"][0]
    # the default bridge names no gateway: it is the bridge's own address, its subnet's first
    return str(config.get("Gateway") or ipaddress.ip_network(config["Subnet"])[1])


def local_settings(stack_endpoint: str, reachable_endpoint: str) -> dict[str, str]:
    """What the local stack gives its handlers (`local.runtime`): its defaults, the template's
    variables for the resources it made (asked of its moto: provisioning finds what exists), its
    overrides, the node's credentials, and where AWS is, as the function's container reaches it."""
    import boto3

    template = Template.load()
    clients = {
        service: boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=stack_endpoint,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto's dummy credentials
        )
        for service in ("dynamodb", "s3", "sqs")
    }
    names = create_tables(clients["dynamodb"], template)
    names |= create_buckets(clients["s3"], template)
    names |= create_queues(clients["sqs"], template)
    node = parse_env_file((recordings_path(os.environ) / ".env").read_text())
    resolved = function_environment(template, names, LOCAL_PARAMETERS)
    # what the local stack leaves out (a secret it does not make) is emptied, as the stack's handlers
    # see it: SAM would pass the template's reference, which names nothing here
    left_out = dict.fromkeys(declared_variables(template) - set(resolved), "")
    return (
        LOCAL_DEFAULTS
        | left_out
        | resolved
        | LOCAL_OVERRIDES
        | {
            "AWS_ENDPOINT_URL": reachable_endpoint,
            "HA_CONTROLLER_USERNAME": node.get("HA_CONTROLLER_USERNAME", ""),
            "HA_CONTROLLER_PASSWORD": node.get("HA_CONTROLLER_PASSWORD", ""),
        }
    )


def invoke(function: str, event: str, sam: str, sam_env: dict[str, str]) -> int:
    node = recordings_path(os.environ) / ".env"
    if not node.exists():
        print(f"no {node}: start the stack first (make up)", file=sys.stderr)
        return 2
    code_dir = BUILD / function
    if not code_dir.is_dir():
        print(f"no {code_dir}: build first (make sam-build)", file=sys.stderr)
        return 2
    endpoint = parse_env_file(node.read_text())["HA_AWS_S3_SERVICE_ENDPOINT"]  # the stack's moto
    with engine.running():
        client = engine.client(timeout=600)
        image = lambda_image(client)
        gateway = bridge_gateway(client)
        forwarder = Proxy(int(endpoint.rsplit(":", 1)[1]), listen_host=gateway).up()
        settings_file = code_dir / LOCAL_ENV
        try:
            settings = local_settings(endpoint, f"http://{gateway}:{forwarder.port}")
            # readable by its owner only from the first byte: it holds the controller's password
            with os.fdopen(os.open(settings_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
                out.write("".join(f"{k}={shlex.quote(v)}\n" for k, v in settings.items()))
            command = [
                *(sam, "local", "invoke", function, "--event", event),
                *("--invoke-image", image, "--skip-pull-image"),
            ]
            aws = settings["AWS_ENDPOINT_URL"]
            print(json.dumps({"invoke": " ".join(command), "image": image, "aws": aws}), flush=True)
            return subprocess.call(command, cwd=ROOT, env=sam_env)
        finally:
            settings_file.unlink(missing_ok=True)
            forwarder.down()


__all__ = ["IMAGE", "invoke"]
