// Starts `archlang lsp` (or the command set in archlang.server.command) for .arch files.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("archlang").get("server.command");
  client = new LanguageClient(
    "archlang",
    "archlang",
    { command, args },
    { documentSelector: [{ scheme: "file", language: "archlang" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
