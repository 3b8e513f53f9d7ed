#!/bin/bash
# Keeps OpenVidu's behaviour: without HA settings this is the stock recording container.
# OpenVidu passes the container nine variables and nothing else, so the HA settings come from
# the environment or from $RECORDINGS_PATH/.env (/recordings/.env, OpenVidu's recordings
# folder), as in the original; the environment wins. With them (the controller's address and
# a bucket), the agent takes over everything composed.sh did: it starts and watches the X
# server, PulseAudio and Chrome on the layout URL, and records, uploads, heartbeats, heals.
set -euo pipefail

PY=/opt/ovha/venv/bin/python
if ! "$PY" -c 'import os, sys; from recorder.settings_file import ha_configured; sys.exit(0 if ha_configured(os.environ) else 1)'; then
  exec /entrypoint.sh "$@"
fi

# OpenVidu stops a recording with `docker exec <container> bash -c "echo 'q' > stop"`: no working
# directory is given, so `stop` is in the container's working directory, which is this one.
export STOP_FILE="${STOP_FILE:-$PWD/stop}"
exec "$PY" -m recorder
