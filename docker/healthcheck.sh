#!/bin/sh
# The image's HEALTHCHECK: healthy while the node answers GET /api/status with its feed. Reads the
# same TALLY_LISTEN as docker/entrypoint.sh; a node listening on every address is asked on loopback.
set -eu
listen="${TALLY_LISTEN:-0.0.0.0:7600}"
host="${listen%:*}"
port="${listen##*:}"
case "$host" in 0.0.0.0|"::"|"[::]"|"") host=127.0.0.1 ;; esac
exec python -c '
import json, sys, urllib.request
url = sys.argv[1]
with urllib.request.urlopen(url, timeout=3) as answer:
    sys.exit(0 if answer.status == 200 and json.load(answer).get("node") else 1)
' "http://$host:$port/api/status"
