"use strict";
/**
 * Shippers take batches from the tap's queue, encode them and hand them to a transport.
 *
 * - WorkerShipper (default): encoding and the transport (mqtt.js or HTTP) run in a worker thread,
 *   so Node-RED's own thread only copies column slices (transferred, not cloned) and posts one
 *   message per batch. The worker keeps at most `queueMax` encoded records waiting for the
 *   transport and drops its oldest batch beyond that (counted).
 * - InlineShipper: the same in Node-RED's thread (`causalTap.worker: false`, the unit tests, and
 *   the fallback when the worker cannot start).
 *
 * Both: `chunk` (records per send); ready() -> whether to hand over another chunk;
 * send(batch, fresh) where fresh = the interned ids/paths new since the previous send;
 * close(timeoutMs) -> Promise<records lost>; status(); describe(); `dropped` (records given up);
 * onReady (set by the tap).
 */

const path = require("path");
const { Worker } = require("worker_threads");
const { Encoder, Clock } = require("./encode");
const { createTransport } = require("./transport");
const { maskUrl } = require("./config");

const MAX_OUTSTANDING = 4; // chunks posted to the worker and not yet encoded
const CHUNK = 2048; // records per message to the worker (it re-batches them by batchSize)

class InlineShipper {
    constructor(cfg, log, boot, transport) {
        this.transport = transport || createTransport(cfg, log, boot);
        this.encoder = new Encoder(cfg.instance, boot);
        this.mode = "inline";
        this.encodeFailed = 0;
        this.chunk = cfg.batchSize;
    }
    set onReady(fn) {
        this.transport.onReady = fn;
    }
    get dropped() {
        return this.transport.dropped + this.encodeFailed;
    }
    get pending() {
        return this.transport.inflightRecords;
    }
    start() {
        this.transport.start();
    }
    ready() {
        return this.transport.ready();
    }
    send(batch, fresh) {
        this.encoder.learn(fresh.ids, fresh.paths);
        let body;
        try {
            body = this.encoder.encode(batch);
        } catch (err) {
            this.encodeFailed += batch.n;
            throw err;
        }
        this.transport.send(body, batch.n);
    }
    close(timeoutMs) {
        return this.transport.close(timeoutMs);
    }
    describe() {
        return this.transport.describe();
    }
    status() {
        return Object.assign({ mode: this.mode }, this.transport.status());
    }
}

class WorkerShipper {
    constructor(cfg, log, boot) {
        this.cfg = cfg;
        this.log = log;
        this.boot = boot;
        this.mode = "worker";
        this.chunk = Math.min(cfg.queueMax, Math.max(cfg.batchSize, CHUNK));
        this.worker = null;
        this.dead = false;
        this.outstanding = 0;
        this.outstandingRecords = 0;
        this.lost = 0; // records lost with a dead worker
        this.last = { kind: cfg.transport, connected: false, sent: 0, dropped: 0, pending_records: 0 };
        this.onReady = () => {};
        this.closing = null;
        this.memory = []; // bodies from a worker-side memory transport (tests)
    }

    get dropped() {
        return (this.last.dropped || 0) + this.lost;
    }

    /** Records handed over and not yet shipped or given up. */
    get pending() {
        return this.outstandingRecords + (this.last.pending_records || 0) + (this.last.inflight_records || 0);
    }

    start() {
        this.worker = new Worker(path.join(__dirname, "worker.js"), {
            workerData: { cfg: this.cfg, boot: this.boot, originUs: Clock.here() },
        });
        this.worker.unref();
        this.worker.on("message", (m) => this.onMessage(m));
        this.worker.on("error", (err) => this.onDeath(err));
        this.worker.on("exit", (code) => {
            if (!this.closing) this.onDeath(new Error(`worker exited with code ${code}`));
        });
    }

    onMessage(m) {
        switch (m.type) {
            case "done":
                this.outstanding--;
                this.outstandingRecords -= m.n;
                this.last = m.status;
                this.onReady();
                break;
            case "status":
                this.last = m.status;
                break;
            case "log":
                if (typeof this.log[m.level] === "function") this.log[m.level](m.text);
                break;
            case "memory":
                this.memory.push(m.body);
                break;
            case "closed":
                this.last = m.status;
                if (this.closing) this.closing(m.lost);
                break;
            default:
                break;
        }
    }

    onDeath(err) {
        if (this.dead) return;
        this.dead = true;
        this.lost += this.outstandingRecords + (this.last.pending_records || 0);
        this.outstanding = 0;
        this.outstandingRecords = 0;
        this.log.error(`[causal-tap] shipping worker failed: ${err && err.stack ? err.stack : err}`);
    }

    ready() {
        return !this.dead && this.outstanding < MAX_OUTSTANDING;
    }

    send(batch, fresh) {
        this.outstanding++;
        this.outstandingRecords += batch.n;
        this.worker.postMessage({ type: "batch", batch, ids: fresh.ids, paths: fresh.paths }, [batch.buffer]);
    }

    /** Ask the worker to ship what it holds (bounded by timeoutMs); resolves with records lost. */
    close(timeoutMs) {
        if (this.dead || !this.worker) return Promise.resolve(this.outstandingRecords);
        return new Promise((resolve) => {
            let settled = false;
            const finish = (lost) => {
                if (settled) return;
                settled = true;
                clearTimeout(timer);
                this.worker.terminate().catch(() => {});
                resolve(lost);
            };
            this.closing = (lost) => finish(lost);
            const timer = setTimeout(
                () => finish(this.outstandingRecords + (this.last.pending_records || 0) + (this.last.inflight_records || 0)),
                timeoutMs + 500,
            );
            timer.unref();
            this.worker.postMessage({ type: "stop", timeoutMs });
        });
    }

    describe() {
        const c = this.cfg;
        return c.transport === "mqtt" ? `${maskUrl(c.url)} topic ${c.topic}` : maskUrl(c.url);
    }

    status() {
        return Object.assign({}, this.last, {
            mode: this.mode,
            worker_alive: !this.dead,
            outstanding_batches: this.outstanding,
            lost_with_worker: this.lost,
        });
    }
}

/** The shipper for cfg (a worker unless cfg.worker is false or the transport is in-process). */
function createShipper(cfg, log, boot, transport) {
    if (transport || cfg.worker === false) return new InlineShipper(cfg, log, boot, transport);
    return new WorkerShipper(cfg, log, boot);
}

module.exports = { InlineShipper, WorkerShipper, createShipper };
