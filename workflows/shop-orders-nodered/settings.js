// Node-RED settings for running this flow headless: no editor, no admin API,
// loopback only. Everything that differs between machines comes from the
// environment, so the flow file itself holds no address and no secret.
//
//   PORT                    where the flow's HTTP endpoints listen (default 1880)
//   NODE_RED_USER_DIR       Node-RED's working folder (runtime state; default ./.node-red)
//   SHOPIFY_WEBHOOK_SECRET  read by the flow with env.get(); never written anywhere
//   ERP_BASE_URL            read by the flow with env.get()
//   ERP_TIMEOUT_S           how long a call to the ERP may take (Node-RED's default is 120 s)
//   NODE_RED_EDITOR         set to 1 to open the editor (below)
const path = require("path");

module.exports = {
    uiHost: "127.0.0.1",
    uiPort: Number(process.env.PORT || 1880),
    userDir: process.env.NODE_RED_USER_DIR || path.join(__dirname, ".node-red"),
    flowFile: path.join(__dirname, "flows.json"),
    flowFilePretty: true,

    // A drill runs the committed flows.json as it is, so the editor and admin
    // API are off. NODE_RED_EDITOR=1 turns them on (still loopback only) at
    // http://127.0.0.1:1880/admin/ to change the flow; Deploy writes flows.json.
    httpAdminRoot: process.env.NODE_RED_EDITOR ? "/admin" : false,
    disableEditor: !process.env.NODE_RED_EDITOR,
    httpNodeRoot: "/",
    // No credentials live in the flow, so there is nothing to encrypt.
    credentialSecret: false,

    // Function nodes load Node's own crypto module through their Setup tab.
    functionExternalModules: true,
    httpRequestTimeout: Math.round(parseFloat(process.env.ERP_TIMEOUT_S || "120") * 1000),

    diagnostics: { enabled: false, ui: false },
    telemetry: { enabled: false, updateNotification: false },
    logging: { console: { level: "info", metrics: false, audit: false } },
};
