#!/bin/bash
# /var/runtime/bootstrap of the local Lambda image: the runtime interface client on the handler.
# `.sam-local.env` in the code folder carries what SAM passes to no function (its --env-vars only
# override variables the template declares): the local stack's endpoint and the local credentials.
set -euo pipefail
if [[ -f /var/task/.sam-local.env ]]; then
  set -a; . /var/task/.sam-local.env; set +a
fi
export PYTHONPATH="/var/task:/var/runtime${PYTHONPATH:+:$PYTHONPATH}"
exec /var/lang/bin/python3.12 -m awslambdaric "${_HANDLER:-$AWS_LAMBDA_FUNCTION_HANDLER}"
