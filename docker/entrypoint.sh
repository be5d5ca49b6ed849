#!/bin/sh
# Start one community node: create its home on first start, then serve it.
# Configured by environment (docker/compose.yml sets these per service):
#   TALLY_HOME     the home folder (default /data/home, a volume)
#   TALLY_NAME     the community's name (first start only)
#   TALLY_UNIT, TALLY_DECIMALS, TALLY_DEBIT_LIMIT   its unit and default limit (first start only)
#   TALLY_LISTEN   HOST:PORT to listen on (default 0.0.0.0:7600)
#   TALLY_PEERS    space-separated peer URLs
set -eu
home="${TALLY_HOME:-/data/home}"
listen="${TALLY_LISTEN:-0.0.0.0:7600}"
if [ ! -f "$home/config.json" ]; then
    tally init "$home" --name "${TALLY_NAME:?set TALLY_NAME}" --unit "${TALLY_UNIT:-HRS}" \
        --decimals "${TALLY_DECIMALS:-2}" --debit-limit "${TALLY_DEBIT_LIMIT:-50}" --listen "$listen"
    echo "tally-node: created $home; copy $home/recovery.key somewhere offline"
fi
set --
for peer in ${TALLY_PEERS:-}; do
    set -- "$@" --peer "$peer"
done
exec tally serve "$home" --listen "$listen" "$@"
