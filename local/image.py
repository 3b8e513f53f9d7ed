"""`python -m local image`: the recorder image, built from Debian's packages with nothing pulled.

The rule: the build reaches no registry and no package index. The base is `BASE_IMAGE` when the
engine has it; else `debian:bookworm-slim` if it can be pulled; else one made here with
`debootstrap --variant=minbase` from the host's own Debian mirror and `docker import`ed under a
project tag. The agent's wheels are downloaded on the host (`pip download`, for the image's
Python) into the build context and installed `--no-index`, so a build behind a proxy, or in a
container whose TLS checks fail, works the same. It prints the image's name, size and build time.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from local import ROOT, engine

log = logging.getLogger("local.image")
DEFAULT_IMAGE = "openvidu-ha-recorder:latest"
PULLED_BASE = "debian:bookworm-slim"
MADE_BASE = "openvidu-ha-base:bookworm"
SUITE = "bookworm"
WHEELS = ROOT / ".local-data" / "image-wheels"
IMAGE_PYTHON = "3.11"  # bookworm's python3
SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))


def host_mirror() -> str:
    """The Debian mirror this host's apt uses (debootstrap takes the same)."""
    for path in SOURCES:
        try:
            text = path.read_text()
        except OSError:
            continue
        for pattern in (r"^URIs:\s*(\S+)", r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE):
            for match in re.finditer(pattern, text, re.M):
                if "security" not in match.group(1):
                    return match.group(1)
    raise SystemExit("no Debian mirror in this host's apt sources: set BASE_IMAGE to an image the engine has")


def base_image(client: Any, requested: str | None) -> str:
    """The base to build on, made offline when it cannot be had otherwise."""
    import docker.errors

    for candidate in [requested] if requested else [PULLED_BASE, MADE_BASE]:
        try:
            client.images.get(candidate)
            return candidate
        except docker.errors.ImageNotFound:
            pass
    if requested:
        raise SystemExit(f"BASE_IMAGE {requested} is not in the engine (no registry is reached)")
    try:
        repository, tag = PULLED_BASE.split(":")
        client.images.pull(repository, tag=tag)
        return PULLED_BASE
    except docker.errors.APIError as error:
        print(f">> {PULLED_BASE} cannot be pulled ({str(error)[:80]}...): making it from Debian's packages")
    return make_base(client)


def make_base(client: Any) -> str:
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ovha-base-") as folder:
        rootfs, archive = Path(folder) / "rootfs", Path(folder) / "rootfs.tar"
        subprocess.run(
            ["debootstrap", "--variant=minbase", SUITE, str(rootfs), host_mirror()],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(["chroot", str(rootfs), "apt-get", "clean"], check=True)
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], check=True)
        repository, tag = MADE_BASE.split(":")
        client.api.import_image_from_file(str(archive), repository=repository, tag=tag)
    print(f">> base {MADE_BASE} made with debootstrap in {time.monotonic() - began:.0f} s")
    return MADE_BASE


def download_wheels(packages: list[str], dest: Path, python: str = IMAGE_PYTHON) -> None:
    """Packages for an image's Python (x86_64 Linux), downloaded on the host: a build reaches no index.
    `packages`: pip's arguments for what to get (`-r requirements.txt`, or names)."""
    dest.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check"),
            *packages,
            *(
                "--dest",
                str(dest),
                "--only-binary=:all:",
                "--implementation",
                "cp",
                "--python-version",
                python,
            ),
            *("--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64"),
            *("--platform", "any"),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"pip download of {' '.join(packages)} failed:\n{done.stderr[-3000:]}")


def build(tag: str = DEFAULT_IMAGE, base: str | None = None) -> dict[str, Any]:
    client = engine.client(timeout=600)
    began = time.monotonic()
    base = base_image(client, base)
    download_wheels(["-r", str(ROOT / "recorder" / "requirements.txt")], WHEELS)
    image, output = client.images.build(
        path=str(ROOT),
        dockerfile="recorder/Dockerfile",
        tag=tag,
        buildargs={"BASE_IMAGE": base},
        network_mode="host",  # apt inside reaches Debian's mirror as the host does
        rm=True,
    )
    for line in output:
        if "error" in line:
            raise SystemExit(line["error"])
    return {
        "image": tag,
        "base": base,
        "size_mb": round(image.attrs["Size"] / 1e6, 1),
        "build_s": round(time.monotonic() - began, 1),
    }


def main(tag: str, base: str | None) -> int:
    with engine.running():
        print(json.dumps(build(tag, base)), flush=True)
    return 0
