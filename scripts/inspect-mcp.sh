#!/usr/bin/env bash
# One run of the official MCP Inspector's CLI mode against the local stack (`npm start` must be running):
# lists the tools (with the Inspector's schema portability check), dry-runs a scan, then shows a refusal as an
# agent sees it. The Inspector is a pinned devDependency (2.12.0), so this works offline after `npm install`.
set -euo pipefail
cd "$(dirname "$0")/.."
home="${SCANGATE_HOME:-.}"
info="$home/.scangate/local.json"
[ -f "$info" ] || { echo "no $(realpath -m "$info"): run \`npm start\` first" >&2; exit 2; }
url=$(node -e 'console.log(require(process.argv[1]).mcpUrl)' "$(realpath "$info")")
token=$(node -e 'console.log(require(process.argv[1]).scanToken)' "$(realpath "$info")")
export MCP_CATALOG_PATH="$home/.scangate/inspector-catalog.json"
bin=node_modules/.bin/mcp-inspector
[ -x "$bin" ] || { echo "no $bin: run \`npm install\` (the Inspector is a devDependency)" >&2; exit 2; }
inspector=("$bin" --cli "$url" --transport http --header "Authorization: Bearer $token")
"${inspector[@]}" --method tools/list --strict | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log("tools:", JSON.parse(s).tools.map((t) => t.name).join(", ")))'
"${inspector[@]}" --method tools/call --tool-name validate_scan --tool-arg target=127.0.0.1 template=quick
# A refusal: exit code 5 is the Inspector's "the tool returned isError", which is what is shown here.
"${inspector[@]}" --method tools/call --tool-name validate_scan --tool-arg target=10.0.0.0/21 || [ $? -eq 5 ]
