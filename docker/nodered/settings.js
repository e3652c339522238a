/**
 * Node-RED settings of the nodered-causal demo stack (docker/nodered/Dockerfile).
 *
 * The tap plugin (@nodered-causal/node-red-causal-tap) reads its NODERED_CAUSAL_TAP_* environment
 * variables itself (docker-compose.yml sets them; the one list is nodered_causal/config.py).
 * There is deliberately no `causalTap` block here: its keys would win over the environment.
 */
module.exports = {
    uiPort: Number(process.env.PORT) || 1880,
    flowFile: "flows.json",
    // The demo flows have no secrets; a real deployment sets NODE_RED_CREDENTIAL_SECRET.
    credentialSecret: process.env.NODE_RED_CREDENTIAL_SECRET || false,
    logging: {
        console: { level: "info", metrics: false, audit: false },
    },
    editorTheme: { projects: { enabled: false } },
    functionExternalModules: false,
};
