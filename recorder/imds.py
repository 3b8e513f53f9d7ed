"""The EC2 instance a recorder runs on, read from IMDSv2 (a session token, then the id): Spot's
and Auto Scaling's events name a media node by it, so the controller can tell which recordings
an event is about. Off EC2 nothing answers within a fraction of a second, and it is None;
`HA_INSTANCE_ID` names it outright, `HA_IMDS_URL=off` skips the lookup."""

from __future__ import annotations

import re

import requests

IMDS_URL = "http://169.254.169.254"
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
TIMEOUT_S = 0.5


def instance_id(base: str = IMDS_URL, timeout: float = TIMEOUT_S) -> str | None:
    if base == "off":
        return None
    try:
        token = requests.put(
            f"{base}/latest/api/token",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
            timeout=timeout,
        )
        if token.status_code != 200:
            return None
        reply = requests.get(
            f"{base}/latest/meta-data/instance-id",
            headers={"X-aws-ec2-metadata-token": token.text},
            timeout=timeout,
        )
    except requests.RequestException:
        return None
    found = reply.text.strip() if reply.status_code == 200 else ""
    return found if INSTANCE_ID.match(found) else None
