"use strict";
/**
 * HTTP transport: POST <url>/v1/records with a JSON array body over a keep-alive agent.
 * 2xx = accepted. Network errors, timeouts, 408, 429 and 5xx are retried with exponential
 * backoff (100 ms doubling to 5 s, jittered) until retryMaxMs has passed since the first attempt;
 * then, or on any other status, the batch is given up and its records counted as dropped.
 */
const http = require("http");
const https = require("https");
const { BaseTransport } = require("./base");
const { maskUrl } = require("../config");

const REQUEST_TIMEOUT_MS = 10000;

class HttpTransport extends BaseTransport {
    constructor(cfg, log) {
        super(cfg, log);
        this.kind = "http";
        const base = cfg.url.replace(/\/+$/, "");
        this.endpoint = new URL(`${base}/v1/records`);
        const lib = this.endpoint.protocol === "https:" ? https : http;
        this.lib = lib;
        this.agent = new lib.Agent({ keepAlive: true, maxSockets: cfg.maxInflight });
        this.retries = 0;
        this.rejected = 0;
        this.okStreak = false;
        this.timers = new Set();
    }

    describe() {
        return maskUrl(this.endpoint.toString());
    }

    isConnected() {
        return this.okStreak;
    }

    start() {}

    send(body, n) {
        this.begin(n);
        this.post(Buffer.isBuffer(body) ? body : Buffer.from(body), n, 0, Date.now());
    }

    post(buf, n, attempt, firstAt) {
        if (this.closed) return;
        let done = false;
        const fail = (err, retryable) => {
            if (done) return;
            done = true;
            this.okStreak = false;
            this.retryOrGiveUp(buf, n, attempt, firstAt, err, retryable);
        };
        try {
            const req = this.lib.request(this.endpoint, {
                method: "POST",
                agent: this.agent,
                timeout: REQUEST_TIMEOUT_MS,
                headers: { "content-type": "application/json", "content-length": buf.length },
            });
            req.on("response", (res) => {
                res.resume();
                const code = res.statusCode;
                if (code >= 200 && code < 300) {
                    if (done) return;
                    done = true;
                    this.okStreak = true;
                    this.finish(n, true);
                } else {
                    const retryable = code === 408 || code === 429 || code >= 500;
                    if (!retryable) this.rejected += n;
                    fail(new Error(`HTTP ${code} from ${this.describe()}`), retryable);
                }
            });
            req.on("timeout", () => req.destroy(new Error(`timeout after ${REQUEST_TIMEOUT_MS} ms`)));
            req.on("error", (err) => fail(err, true));
            req.end(buf);
        } catch (err) {
            fail(err, false);
        }
    }

    retryOrGiveUp(buf, n, attempt, firstAt, err, retryable) {
        this.noteError(err);
        const delay = Math.min(5000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
        if (!retryable || this.closed || Date.now() + delay - firstAt > this.cfg.retryMaxMs) {
            this.finish(n, false);
            return;
        }
        this.retries++;
        const timer = setTimeout(() => {
            this.timers.delete(timer);
            this.post(buf, n, attempt + 1, firstAt);
        }, delay);
        timer.unref();
        this.timers.add(timer);
    }

    async close(timeoutMs) {
        const lost = await this.drain(timeoutMs);
        for (const t of this.timers) clearTimeout(t);
        this.timers.clear();
        this.agent.destroy();
        return lost;
    }

    status() {
        return Object.assign(super.status(), { retries: this.retries, rejected: this.rejected });
    }
}

module.exports = { HttpTransport };
