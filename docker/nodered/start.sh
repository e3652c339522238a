#!/bin/sh
# Entry point of the stack's Node-RED: seed the userDir (/data, a named volume) with the demo
# flow on first start, then run Node-RED with the image's settings file.
set -eu
flow="/usr/src/node-red/causal/flows/${NODERED_CAUSAL_DEMO_FLOW:-bottling-line}.json"
if [ ! -f /data/flows.json ]; then
    cp "$flow" /data/flows.json
fi
cd /usr/src/node-red
exec node ${NODE_OPTIONS:-} node_modules/node-red/red.js \
    --userDir /data --settings /usr/src/node-red/causal/settings.js "$@"
