// echo.js - bench-ws's Node peer: a minimal `ws` echo server on 127.0.0.1:PORT.
//
//   node echo.js PORT
//
// Sends every message back to its sender (text as text, binary as binary) until SIGTERM or
// SIGINT. No per-message deflate, as the other servers. It finds `ws` through NODE_PATH
// (run_ws.sh points it at the node_modules that make bench-deps installs).
"use strict";
const { WebSocketServer } = require("ws");

const port = Number(process.argv[2]);
if (!(port > 0)) {
  process.stderr.write("usage: node echo.js PORT\n");
  process.exit(2);
}
const wss = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: false });
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on("listening", () => process.stdout.write(`listening ${port}\n`));
const stop = () => wss.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
