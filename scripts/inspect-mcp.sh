#!/usr/bin/env bash
# One run of the official MCP Inspector's CLI mode against the local stack (`npm start` must be running):
# lists the tools, then dry-runs a scan. The Inspector comes from npm at run time; it is not a dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
home="${SCANGATE_HOME:-.}"
info="$home/.scangate/local.json"
[ -f "$info" ] || { echo "no $info: run \`npm start\` first" >&2; exit 2; }
url=$(node -e 'console.log(require(process.argv[1]).mcpUrl)' "$(realpath "$info")")
token=$(node -e 'console.log(require(process.argv[1]).scanToken)' "$(realpath "$info")")
export MCP_CATALOG_PATH="$home/.scangate/inspector-catalog.json"
inspector=(npx --yes @modelcontextprotocol/inspector@2.12.0 --cli "$url" --header "Authorization: Bearer $token")
"${inspector[@]}" --method tools/list | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log("tools:", JSON.parse(s).tools.map((t) => t.name).join(", ")))'
"${inspector[@]}" --method tools/call --tool-name validate_scan --tool-arg target=127.0.0.1 template=quick
