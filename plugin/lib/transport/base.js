"use strict";
/**
 * What every transport shares: counters, the in-flight bound and the close() wait.
 *
 * A transport ships batches (a Buffer holding a JSON array of `n` records). Contract:
 *   start()                 connect (never throws; failures show in status())
 *   ready() -> bool         room for one more batch (in-flight batches < maxInflight)
 *   send(body, n)           ship one batch; never throws; outcome counted in sent/dropped
 *   close(timeoutMs)        -> Promise<int> records still in flight at the deadline (given up)
 *   status() -> object      counters and connection state for the admin endpoint
 *   onReady                 set by the tap; called when a batch finished (room again)
 */
class BaseTransport {
    constructor(cfg, log) {
        this.cfg = cfg;
        this.log = log;
        this.maxInflight = cfg.maxInflight;
        this.inflight = 0;
        this.inflightRecords = 0;
        this.sent = 0;
        this.sentBatches = 0;
        this.dropped = 0;
        this.lastError = null;
        this.closed = false;
        this.onReady = () => {};
    }

    ready() {
        return !this.closed && this.inflight < this.maxInflight;
    }

    begin(n) {
        this.inflight++;
        this.inflightRecords += n;
    }

    /** A batch of n records finished: ok = delivered, else given up (dropped). */
    finish(n, ok, err) {
        if (this.closed) return; // counted by close()
        this.inflight--;
        this.inflightRecords -= n;
        if (ok) {
            this.sent += n;
            this.sentBatches++;
        } else {
            this.dropped += n;
            if (err) this.noteError(err);
        }
        try {
            this.onReady();
        } catch (_err) {
            // the tap's kick never throws; belt and braces
        }
    }

    noteError(err) {
        const text = err && err.message ? err.message : String(err);
        if (text !== this.lastError) {
            this.lastError = text;
            try {
                this.log.warn(`[causal-tap] ${this.describe()}: ${text}`);
            } catch (_e) {
                // never throw from the transport
            }
        }
    }

    /** Wait (bounded) for in-flight batches; return the number of records given up. */
    async drain(timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        while (this.inflight > 0 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 10));
        }
        const lost = this.inflightRecords;
        this.closed = true;
        this.inflight = 0;
        this.inflightRecords = 0;
        return lost;
    }

    status() {
        return {
            kind: this.kind,
            url: this.describe(),
            connected: this.isConnected(),
            inflight_batches: this.inflight,
            inflight_records: this.inflightRecords,
            sent: this.sent,
            sent_batches: this.sentBatches,
            dropped: this.dropped,
            last_error: this.lastError,
        };
    }
}

module.exports = { BaseTransport };
