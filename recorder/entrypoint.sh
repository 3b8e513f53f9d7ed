#!/bin/bash
# Keeps OpenVidu's behaviour: without HA settings this is the stock recording container.
# With them (HA_CONTROLLER_URL or HA_CONTROLLER_HOST, and HA_AWS_S3_BUCKET), it starts what
# composed.sh starts (Xvfb, PulseAudio, Chrome on the session layout URL) and hands the
# capture to the agent: chunks, uploads, heartbeats, fencing, finalize.
set -euo pipefail

if [[ -z "${HA_CONTROLLER_URL:-}${HA_CONTROLLER_HOST:-}" || -z "${HA_AWS_S3_BUCKET:-}" ]]; then
  exec /entrypoint.sh "$@"
fi

RESOLUTION="${RESOLUTION:-1280x720}"
export DISPLAY="${DISPLAY:-:99}"
mkdir -p "/recordings/${VIDEO_ID}" && cd "/recordings/${VIDEO_ID}"

Xvfb "${DISPLAY}" -screen 0 "${RESOLUTION}x24" -ac -nolisten tcp &
pulseaudio -D --exit-idle-time=-1 --system=false || true
sleep 1
google-chrome --kiosk --start-maximized --test-type --no-sandbox --disable-infobars --disable-gpu \
  --disable-dev-shm-usage --autoplay-policy=no-user-gesture-required --window-position=0,0 \
  --window-size="${RESOLUTION/x/,}" --user-data-dir=/tmp/chrome-data "${URL}" &
sleep "${CHROME_WARMUP_SECONDS:-3}"

# OpenVidu stops a recording by writing "q" into ./stop: the agent watches that file.
export STOP_FILE="/recordings/${VIDEO_ID}/stop"
exec /opt/ovha/venv/bin/python -m recorder
