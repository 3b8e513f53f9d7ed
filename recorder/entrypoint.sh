#!/bin/bash
# Keeps OpenVidu's behaviour: without HA settings this is the stock recording container.
# OpenVidu passes the container nine variables and nothing else, so the HA settings come from
# the environment or from $RECORDINGS_PATH/.env (/recordings/.env, OpenVidu's recordings
# folder), as in the original; the environment wins. With them (the controller's address and
# a bucket), it starts what composed.sh starts (Xvfb, PulseAudio, Chrome on the layout URL)
# and hands the capture to the agent: chunks, uploads, heartbeats, fencing, OpenVidu's files.
set -euo pipefail

PY=/opt/ovha/venv/bin/python
if ! "$PY" -c 'import os, sys; from recorder.settings_file import ha_configured; sys.exit(0 if ha_configured(os.environ) else 1)'; then
  exec /entrypoint.sh "$@"
fi

# OpenVidu stops a recording with `docker exec <container> bash -c "echo 'q' > stop"`: no working
# directory is given, so `stop` is in the container's working directory, which is this one.
export STOP_FILE="${STOP_FILE:-$PWD/stop}"
RESOLUTION="${RESOLUTION:-1280x720}"
export DISPLAY="${DISPLAY:-:99}"

Xvfb "${DISPLAY}" -screen 0 "${RESOLUTION}x24" -ac -nolisten tcp &
pulseaudio -D --exit-idle-time=-1 --system=false || true
sleep 1
google-chrome --kiosk --start-maximized --test-type --no-sandbox --disable-infobars --disable-gpu \
  --disable-dev-shm-usage --autoplay-policy=no-user-gesture-required --window-position=0,0 \
  --window-size="${RESOLUTION/x/,}" --user-data-dir=/tmp/chrome-data "${URL}" &
sleep "${CHROME_WARMUP_SECONDS:-3}"

exec "$PY" -m recorder
