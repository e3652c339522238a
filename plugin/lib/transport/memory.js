"use strict";
/** In-memory transport for tests: keeps the batches; `accept` false simulates a dead collector. */
const { BaseTransport } = require("./base");

class MemoryTransport extends BaseTransport {
    constructor(cfg, log) {
        super(cfg, log);
        this.kind = "memory";
        this.batches = [];
        this.accept = true;
        this.pending = [];
    }
    start() {}
    describe() {
        return "memory";
    }
    isConnected() {
        return this.accept;
    }
    send(body, n) {
        this.begin(n);
        body = body.toString();
        if (this.accept) {
            this.batches.push(body);
            setImmediate(() => this.finish(n, true));
        } else {
            this.pending.push([body, n]);
        }
    }
    /** Deliver what was held while `accept` was false. */
    release() {
        this.accept = true;
        const held = this.pending;
        this.pending = [];
        for (const [body, n] of held) {
            this.batches.push(body);
            this.finish(n, true);
        }
    }
    records() {
        return this.batches.flatMap((b) => JSON.parse(b));
    }
    close(timeoutMs) {
        return this.drain(timeoutMs);
    }
}

module.exports = { MemoryTransport };
