"""A backup that only heartbeats (the recorder agent of issue 4 also records): what the
process launcher starts in the failover integration test. It speaks the recorders' HTTP
contract with the environment a backup gets, stops on SIGTERM, and stops itself on 409."""

from __future__ import annotations

import os
import signal
import sys
import time

import requests

url = os.environ["HA_CONTROLLER_URL"]
session_id = os.environ["VIDEO_ID"]
epoch = int(os.environ["EPOCH"])
chunk = int(os.environ["START_CHUNK"])
interval = float(os.environ.get("HEARTBEAT_INTERVAL", "2"))
auth = (os.environ["HA_CONTROLLER_USERNAME"], os.environ["HA_CONTROLLER_PASSWORD"])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

while True:
    reply = requests.put(
        f"{url}/api/sessions/{session_id}/heartbeat",
        auth=auth,
        timeout=5,
        json={"epoch": epoch, "lastChunk": f"{chunk:04d}.mp4"},
    )
    if reply.status_code == 409:
        sys.exit(3)
    chunk += 1
    time.sleep(interval)
