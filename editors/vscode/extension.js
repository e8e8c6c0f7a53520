// The ecgspec extension's client: starts the language server (`ecgspec lsp`, or the command in
// the `ecgspec.server.command` setting) over stdio for .ecg files, and restarts it when that
// setting changes. Highlighting needs none of this: it comes from the grammar in syntaxes/.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

const DEFAULT_COMMAND = ["ecgspec", "lsp"];
let client;

function serverOptions() {
  const configured = vscode.workspace.getConfiguration("ecgspec").get("server.command");
  const [command, ...args] = Array.isArray(configured) && configured.length ? configured : DEFAULT_COMMAND;
  const folder = vscode.workspace.workspaceFolders?.[0];
  // The server checks specs from the workspace folder, as `ecgspec check` run there would.
  const options = folder ? { cwd: folder.uri.fsPath } : {};
  return { command, args, transport: TransportKind.stdio, options };
}

async function start() {
  const options = serverOptions();
  client = new LanguageClient("ecgspec", "ecgspec language server", options, {
    documentSelector: [{ scheme: "file", language: "ecg" }],
  });
  try {
    await client.start();
  } catch (err) {
    client = undefined;
    vscode.window.showErrorMessage(
      `ecgspec: could not start the language server with \`${[options.command, ...options.args].join(" ")}\` ` +
        `(${err && err.message ? err.message : err}). Install it with \`pip install 'ecgspec[lsp]'\`, ` +
        "or set ecgspec.server.command."
    );
  }
}

async function stop() {
  const running = client;
  client = undefined;
  if (running) {
    await running.stop();
  }
}

async function activate(context) {
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("ecgspec.server")) {
        await stop();
        await start();
      }
    })
  );
  await start();
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
