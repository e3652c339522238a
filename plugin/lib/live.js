"use strict";
/**
 * What the editor sidebar shows, pushed over the editor's websocket (RED.comms.publish; every
 * editor connected to this Node-RED gets it, a newly opened one gets the retained last value):
 *
 *   causal-tap/live      every `intervalMs` and at once when a fault is added or removed
 *                        (retained): {at, plugin, version, enabled, config_error, transport, url,
 *                        connected, running, recorded, rate (records/s), queue, dropped, failed,
 *                        last_error, faults_enabled, faults: [{node, kind, value, field, seen,
 *                        applied, skipped, created, ...}], results: {kept, persist_error}}
 *   causal-tap/results   the results' summaries, newest first, whenever one is added (retained)
 *   causal-tap/result    {summary, created} for each result posted (not retained: a toast)
 *
 * Nothing is polled by the browser. Publishing never throws into the runtime.
 */

const TOPICS = Object.freeze({
    live: "causal-tap/live",
    results: "causal-tap/results",
    result: "causal-tap/result",
});

function firstLine(text) {
    if (text === null || text === undefined) return null;
    const s = String(text);
    const nl = s.indexOf("\n");
    return (nl < 0 ? s : s.slice(0, nl)).slice(0, 300);
}

/** The compact live document from the plugin's stats document (GET /causal-tap/stats). */
function liveDoc(stats, rate, now) {
    const transport = stats.transport || {};
    const cfg = stats.config || {};
    return {
        at: now,
        plugin: stats.plugin,
        version: stats.version,
        enabled: !!stats.enabled,
        config_error: stats.config_error || null,
        transport: transport.kind || cfg.transport || null,
        url: transport.url || cfg.url || null,
        connected: transport.connected === undefined ? null : !!transport.connected,
        running: !!stats.running,
        recorded: stats.recorded || 0,
        rate,
        queue: stats.queue || 0,
        dropped: stats.dropped || 0,
        failed: stats.failed || 0,
        last_error: firstLine(transport.last_error) || firstLine(stats.last_failure),
        faults_enabled: Array.isArray(stats.faults),
        faults: Array.isArray(stats.faults) ? stats.faults : [],
        results: stats.results || null,
    };
}

class Live {
    /**
     * @param {object} deps {publish(topic, data, retain), stats() -> stats doc, results (a
     *   Results or null), intervalMs, now(), log}
     */
    constructor(deps) {
        this.publish = deps.publish;
        this.stats = deps.stats;
        this.results = deps.results || null;
        this.intervalMs = deps.intervalMs || 1000;
        this.now = deps.now || Date.now;
        this.log = deps.log;
        this.timer = null;
        this.last = null; // {at, recorded, boot}
        this.failures = 0;
    }

    start() {
        if (this.timer) return;
        this.tick();
        this.timer = setInterval(() => this.tick(), this.intervalMs);
        if (this.timer.unref) this.timer.unref();
        this.publishResults();
    }

    stop() {
        if (this.timer) clearInterval(this.timer);
        this.timer = null;
    }

    /** Publish the live document now (also called when faults change). */
    tick() {
        try {
            const stats = this.stats();
            const now = this.now();
            const recorded = stats.recorded || 0;
            let rate = 0;
            const last = this.last;
            if (last && last.boot === stats.boot && now > last.at && recorded >= last.recorded) {
                rate = ((recorded - last.recorded) * 1000) / (now - last.at);
            }
            // a tick forced by a fault change must not turn a 1 s rate into a 10 ms one
            if (!last || last.boot !== stats.boot || now - last.at >= this.intervalMs / 2) {
                this.last = { at: now, recorded, boot: stats.boot, rate };
            } else {
                rate = last.rate;
            }
            this.publish(TOPICS.live, liveDoc(stats, Math.round(rate * 10) / 10, now), true);
        } catch (err) {
            this.fail(err);
        }
    }

    publishResults(posted) {
        if (!this.results) return;
        try {
            this.publish(TOPICS.results, this.results.list(), true);
            if (posted) this.publish(TOPICS.result, posted, false);
        } catch (err) {
            this.fail(err);
        }
    }

    fail(err) {
        this.failures++;
        if (this.failures === 1 || this.failures % 100 === 0) {
            this.log.warn(`[causal-tap] editor feed failure #${this.failures}: ${err && err.stack ? err.stack : err}`);
        }
    }
}

module.exports = { Live, liveDoc, TOPICS };
