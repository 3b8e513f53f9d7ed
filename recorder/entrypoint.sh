#!/bin/bash
# /entrypoint.sh, where OpenVidu's image has it: OpenVidu starts every recording container with it.
# The agent decides what to be from what it is given (recorder/agent.py, stock.py, quick_start.py):
#   RECORDING_TYPE=COMPOSED_QUICK_START  the session's warm container (Chrome in the room, waiting
#                                         for ./composed_quick_start.sh --start-recording)
#   HA settings (environment or /recordings/.env)  the HA recorder: chunks to S3, heartbeats
#   neither                               OpenVidu's stock recorder: one file, `q` in ./stop ends it
set -euo pipefail
PY=/opt/ovha/venv/bin/python
if [[ "${RECORDING_TYPE:-}" == "COMPOSED_QUICK_START" ]]; then
  exec "$PY" -m recorder quick-start
fi
exec "$PY" -m recorder "$@"
