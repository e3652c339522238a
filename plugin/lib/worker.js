"use strict";
/**
 * The shipping worker thread: batches from the tap (store.js columns, transferred) -> JSON
 * (encode.js) -> a bounded list of encoded batches -> the transport (mqtt.js or HTTP). Never
 * throws back: failures are counted and reported in the status messages.
 */

const { parentPort, workerData } = require("worker_threads");
const { Encoder } = require("./encode");
const { createTransport } = require("./transport");
const { BaseTransport } = require("./transport/base");

const { cfg, boot, originUs } = workerData;
const log = {};
for (const level of ["info", "warn", "error", "debug"]) {
    log[level] = (text) => parentPort.postMessage({ type: "log", level, text });
}

/** transport "memory" in a worker: hand the bodies back to the main thread (tests). */
class PostTransport extends BaseTransport {
    constructor() {
        super(cfg, log);
        this.kind = "memory";
    }
    start() {}
    describe() {
        return "memory (worker)";
    }
    isConnected() {
        return true;
    }
    send(body, n) {
        this.begin(n);
        parentPort.postMessage({ type: "memory", body: body.toString("utf8") });
        setImmediate(() => this.finish(n, true));
    }
    close(timeoutMs) {
        return this.drain(timeoutMs);
    }
}

const transport = cfg.transport === "memory" ? new PostTransport() : createTransport(cfg, log, boot);
const encoder = new Encoder(cfg.instance, boot, originUs);
const pending = []; // [Buffer, n]
let pendingRecords = 0;
let dropped = 0;
let failed = 0;
let stopping = false;

function status() {
    return Object.assign(transport.status(), {
        dropped: transport.dropped + dropped,
        dropped_in_worker: dropped,
        pending_records: pendingRecords,
        encode_failed: failed,
    });
}

function pump() {
    while (pending.length > 0 && transport.ready()) {
        const [buf, n] = pending.shift();
        pendingRecords -= n;
        transport.send(buf, n);
    }
}
transport.onReady = pump;

/** A chunk from the tap: encode it as MQTT/HTTP batches of cfg.batchSize records. */
function onBatch(m) {
    const b = m.batch;
    encoder.learn(m.ids, m.paths);
    for (let r0 = 0; r0 < b.n; r0 += cfg.batchSize) {
        const r1 = Math.min(b.n, r0 + cfg.batchSize);
        try {
            pending.push([encoder.encode(b, r0, r1), r1 - r0]);
            pendingRecords += r1 - r0;
        } catch (err) {
            failed += r1 - r0;
            dropped += r1 - r0;
            log.warn(`[causal-tap] encoding a batch failed: ${err && err.stack ? err.stack : err}`);
        }
    }
    while (pendingRecords > cfg.queueMax && pending.length > 1) {
        const [, n] = pending.shift();
        pendingRecords -= n;
        dropped += n;
    }
    pump();
    parentPort.postMessage({ type: "done", n: b.n, status: status() });
}

async function stop(timeoutMs) {
    if (stopping) return;
    stopping = true;
    const deadline = Date.now() + timeoutMs;
    while (pending.length > 0 && Date.now() < deadline) {
        pump();
        await new Promise((r) => setTimeout(r, 10));
    }
    let lost = pendingRecords;
    pending.length = 0;
    pendingRecords = 0;
    lost += await transport.close(Math.max(0, deadline - Date.now()));
    // `lost` is reported to the tap, which counts it (not in our `dropped`)
    parentPort.postMessage({ type: "closed", lost, status: status() });
}

parentPort.on("message", (m) => {
    try {
        if (m.type === "batch") onBatch(m);
        else if (m.type === "stop") stop(m.timeoutMs);
    } catch (err) {
        failed++;
        log.warn(`[causal-tap] worker: ${err && err.stack ? err.stack : err}`);
    }
});

transport.start();
setInterval(() => parentPort.postMessage({ type: "status", status: status() }), 250).unref();
