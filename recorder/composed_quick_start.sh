#!/bin/bash
# ./composed_quick_start.sh, where OpenVidu's image has it (/, the working directory OpenVidu's
# `docker exec` runs in): no argument holds the session's capture stack, --start-recording records
# the recording OpenVidu's exported variables describe, --stop-recording stops it within 10 s.
exec /opt/ovha/venv/bin/python -m recorder quick-start "$@"
