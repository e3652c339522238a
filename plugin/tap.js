"use strict";
/**
 * @nodered-causal/node-red-causal-tap: a Node-RED runtime plugin recording every wire of the running
 * flows for nodered-causal. See README.md for settings, the record schema and the admin API.
 */

const { resolveConfig, publicConfig } = require("./lib/config");
const { newBoot } = require("./lib/recorder");
const { tapClass } = require("./lib/sampling");
const { Faults, HOOK: FAULT_HOOK } = require("./lib/faults");
const { mountAdmin } = require("./lib/admin");
const { Results, summary } = require("./lib/results");
const { Live } = require("./lib/live");
const path = require("path");
const pkg = require("./package.json");

/** Where posted results are kept, below the userDir. */
const RESULTS_DIR = "causal-tap-results";

const HOOK_IDS = ["postDeliver", "preDeliver", "onReceive", "postReceive", "onComplete"]
    .map((h) => `${h}.nodered-causal`)
    .concat([FAULT_HOOK]);

module.exports = function causalTapPlugin(RED) {
    let cfg = null;
    let configError = null;
    let tap = null;
    let faults = null;
    let results = null;
    let live = null;
    let stopping = null;

    const log = {
        info: (m) => RED.log.info(m),
        warn: (m) => RED.log.warn(m),
        error: (m) => RED.log.error(m),
        debug: (m) => RED.log.debug(m),
    };

    function startTap() {
        const TapClass = tapClass(cfg); // a SampledTap when causalTap.sample < 1 or adaptive
        tap = new TapClass(cfg, {
            hooks: RED.hooks,
            log,
            boot: newBoot(),
            syncDelivery: !!RED.settings.runtimeSyncDelivery,
            logRegistry: RED.log,
        });
        tap.start();
        if (faults) faults.tap = tap;
    }

    function stopTap() {
        if (!tap || !tap.running) return Promise.resolve();
        const t = tap;
        stopping = t.stop().catch((err) => log.warn(`[causal-tap] stop failed: ${err}`));
        return stopping;
    }

    function onRuntimeEvent(ev) {
        try {
            if (!ev || ev.id !== "runtime-state" || !ev.payload) return;
            const state = ev.payload.state;
            if (state === "stop" && !ev.payload.deploy) {
                // the runtime (not a deploy) stopped the flows: take everything out of the path
                if (faults) faults.remove();
                stopTap();
            } else if (state === "start" && cfg && cfg.enabled && (!tap || !tap.running)) {
                Promise.resolve(stopping).then(() => {
                    if (!tap || !tap.running) startTap();
                });
            }
        } catch (err) {
            log.warn(`[causal-tap] runtime event handling failed: ${err}`);
        }
    }

    function stats() {
        const doc = {
            plugin: pkg.name,
            version: pkg.version,
            node_red: RED.version ? RED.version() : null,
            enabled: !!(cfg && cfg.enabled),
            config: cfg ? publicConfig(cfg) : null,
            config_error: configError,
            faults: faults ? faults.list() : null,
            results: results ? results.status() : null,
        };
        if (tap) Object.assign(doc, tap.snapshot());
        // what the runtime's hook registry says (not our bookkeeping)
        doc.runtime_hooks = {};
        for (const id of HOOK_IDS) doc.runtime_hooks[id] = RED.hooks.has(id);
        return doc;
    }

    function startResults() {
        const userDir = RED.settings.userDir;
        results = new Results({ dir: userDir ? path.join(userDir, RESULTS_DIR) : null, max: cfg.results, log });
        const n = results.load();
        if (n) RED.log.info(`[causal-tap] ${n} result(s) for the editor loaded from ${results.dir}`);
    }

    function onPosted(entry, created) {
        if (!live) return;
        live.publishResults(entry ? { summary: summary(entry), created } : null);
    }

    RED.plugins.registerPlugin("causal-tap", {
        type: "causal-tap",
        onadd() {
            try {
                cfg = resolveConfig(RED.settings.causalTap, process.env, { uiPort: RED.settings.uiPort });
            } catch (err) {
                configError = err.message;
                RED.log.error(`[causal-tap] not started, bad configuration: ${err.message}`);
            }
            try {
                if (cfg && cfg.faults) {
                    faults = new Faults({
                        hooks: RED.hooks,
                        util: RED.util,
                        getNode: (id) => RED.nodes.getNode(id),
                        tap: null,
                        log,
                        onChange: () => live && live.tick(),
                    });
                }
                if (cfg) startResults();
                if (cfg && cfg.enabled) startTap();
                else if (cfg) RED.log.info("[causal-tap] disabled (causalTap.enabled or NODERED_CAUSAL_TAP_ENABLED)");
                mountAdmin(RED, stats, faults, results, onPosted);
                RED.events.on("runtime-event", onRuntimeEvent);
            } catch (err) {
                configError = configError || String(err);
                RED.log.error(`[causal-tap] failed to start: ${err && err.stack ? err.stack : err}`);
            }
            try {
                live = new Live({
                    publish: (topic, data, retain) => RED.comms.publish(topic, data, retain),
                    stats,
                    results,
                    log,
                });
                live.start();
            } catch (err) {
                RED.log.error(`[causal-tap] editor feed failed to start: ${err && err.stack ? err.stack : err}`);
            }
        },
    });
};
