#!/usr/bin/env bash
# Analyzer of the demo stack: serves the report directory (on :8080), runs `watch` (collector +
# change detection + incidents, MQTT -> store, an HTML report per incident in the report
# directory, alerts on nodered-causal/<tap>/incidents) for the whole life of the container, and
# runs the demo experiment once against the stack's Node-RED (its faults become incidents). With arguments it runs `nodered-causal <args>` instead, e.g.
#   docker-compose run --rm analyzer runs list --store /data/runs.db
set -euo pipefail

if [ "$#" -gt 0 ]; then
    exec nodered-causal "$@"
fi

addr="${NODERED_CAUSAL_REPORT_ADDR:-0.0.0.0:8080}"
mkdir -p "$NODERED_CAUSAL_REPORT_DIR"
python -m http.server "${addr##*:}" --bind "${addr%:*}" --directory "$NODERED_CAUSAL_REPORT_DIR" &
server=$!
nodered-causal watch --url "$NODERED_CAUSAL_NODERED_URL" --mqtt "$NODERED_CAUSAL_MQTT_URL" \
    --store "$NODERED_CAUSAL_STORE" --report-dir "$NODERED_CAUSAL_REPORT_DIR" &
collector=$!
trap 'kill -TERM "$server" "$collector" 2>/dev/null || true' INT TERM EXIT

if nodered-causal demo --url "$NODERED_CAUSAL_NODERED_URL" --store "$NODERED_CAUSAL_STORE" \
        --report "$NODERED_CAUSAL_REPORT_DIR/demo.html"; then
    echo "analyzer: report at http://127.0.0.1:${addr##*:}/demo.html"
else
    echo "analyzer: the demo failed (exit $?); watch keeps running" >&2
fi
# keep watching and serving; stop (and let compose restart us) if either dies
wait -n "$server" "$collector"
