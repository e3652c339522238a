/**
 * Node-RED settings of the nodered-causal demo stack (docker/nodered/Dockerfile).
 *
 * Everything stack-specific comes from NODERED_CAUSAL_* environment variables (the one list is
 * nodered_causal/config.py; docker-compose.yml sets them). Defaults equal config.py's defaults.
 * The tap plugin (node-red-contrib-causal-tap) reads the `causalTap` block.
 */
const env = (name, fallback) => {
    const value = process.env[name];
    return value === undefined || value === "" ? fallback : value;
};

module.exports = {
    uiPort: Number(env("PORT", "1880")),
    flowFile: "flows.json",
    // Credentials of the demo flows are not secret; a real deployment sets NODE_RED_CREDENTIAL_SECRET.
    credentialSecret: env("NODE_RED_CREDENTIAL_SECRET", false),
    logging: {
        console: { level: "info", metrics: false, audit: false },
    },
    editorTheme: { projects: { enabled: false } },
    functionExternalModules: false,
    causalTap: {
        enabled: env("NODERED_CAUSAL_TAP_ENABLED", "true") !== "false",
        name: env("NODERED_CAUSAL_TAP_NAME", "demo"),
        transport: env("NODERED_CAUSAL_TAP_TRANSPORT", "mqtt"),
        url: env("NODERED_CAUSAL_TAP_URL", "mqtt://127.0.0.1:1883"),
    },
};
