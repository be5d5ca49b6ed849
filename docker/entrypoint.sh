#!/bin/sh
# Start one community node: create its home on first start, then serve it.
# Configured by environment (docker/compose.yml sets these per service):
#   TALLY_HOME     the home folder (default /data/home, a volume)
#   TALLY_RECOVERY the folder the new recovery key is moved to on first start (default /recovery,
#                  a volume of its own, never the node's: copy the key offline, then delete it)
#   TALLY_ADMIN    the folder the first admin's key is moved to on first start (default /admin, a
#                  volume of its own, which the community's link job mounts; the node never reads it)
#   TALLY_NAME     the community's name (first start only)
#   TALLY_UNIT, TALLY_DECIMALS, TALLY_DEBIT_LIMIT   its unit and default limit (first start only)
#   TALLY_LISTEN   HOST:PORT to listen on (default 0.0.0.0:7600)
#   TALLY_PEERS    space-separated peer URLs
set -eu
home="${TALLY_HOME:-/data/home}"
recovery="${TALLY_RECOVERY:-/recovery}"
admin="${TALLY_ADMIN:-/admin}"
listen="${TALLY_LISTEN:-0.0.0.0:7600}"
if [ ! -f "$home/config.json" ]; then
    for folder in "$recovery" "$admin"; do
        if [ ! -d "$folder" ] || [ ! -w "$folder" ]; then
            echo "tally-node: $folder is not a writable folder; mount a volume of this node's own there" >&2
            exit 2
        fi
    done
    for key in "$recovery/recovery.key" "$admin/admin.key"; do
        if [ -e "$key" ]; then
            echo "tally-node: $key exists (another community's?); give this node volumes of its own" >&2
            exit 2
        fi
    done
    tally init "$home" --name "${TALLY_NAME:?set TALLY_NAME}" --unit "${TALLY_UNIT:-HRS}" \
        --decimals "${TALLY_DECIMALS:-2}" --debit-limit "${TALLY_DEBIT_LIMIT:-50}" --listen "$listen"
    # The recovery key rotates a lost or leaked node key; whoever holds it with the node's volume
    # holds the community's identity. It leaves the node's volume before the node first serves.
    cp "$home/recovery.key" "$recovery/recovery.key.tmp"
    mv "$recovery/recovery.key.tmp" "$recovery/recovery.key"
    rm "$home/recovery.key"
    # The admin key signs the community's acts (the link job's); the node itself never reads it.
    cp "$home/admin.key" "$admin/admin.key.tmp"
    mv "$admin/admin.key.tmp" "$admin/admin.key"
    rm "$home/admin.key"
    echo "tally-node: created $home; its recovery key is in $recovery/recovery.key: copy it offline, then delete it there"
fi
set --
for peer in ${TALLY_PEERS:-}; do
    set -- "$@" --peer "$peer"
done
exec tally serve "$home" --listen "$listen" "$@"
