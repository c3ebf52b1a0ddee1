/**
 * `GET /install/runner.sh`: the script behind the one-command install,
 *   curl -fsSL https://<edge>/install/runner.sh | sudo sh -s -- --enroll <code> --network 10.20.0.0/16
 * POSIX sh, for a host with only curl (or wget), sha256sum and nmap. It downloads the runner this edge serves
 * (`/install/runner`), checks it against the edge's SHA-256 (`/install/runner.sha256`) and refuses a mismatch
 * before running anything, then runs `scangate-runner install` with the arguments it was given (a `--server`
 * pointing at this edge first, unless one is given). The origin is filled in by the edge that serves it.
 */
export function runnerInstallScript(origin: string): string {
  // The origin comes from PUBLIC_ORIGIN or the request URL: quoted for sh, and only URL characters let through.
  const edge = origin.replace(/[^A-Za-z0-9.:/[\]_-]/g, '');
  return `#!/bin/sh
# scangate runner installer, served by ${edge}/install/runner.sh
# usage: curl -fsSL ${edge}/install/runner.sh | sudo sh -s -- --enroll <code> --network <cidr> [...]
set -eu

EDGE="\${SCANGATE_EDGE:-${edge}}"
SERVER="ws\${EDGE#http}"

fail() { echo "scangate install: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || [ -n "\${SCANGATE_INSTALL_ROOT:-}" ] || fail "run as root: ... | sudo sh -s -- <options>"
command -v sha256sum >/dev/null 2>&1 || fail "sha256sum is missing (coreutils)"
if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsSL --proto '=https,http' -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q -O "$2" "$1"; }
else
  fail "curl or wget is needed to download the runner"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT INT TERM

echo "downloading the runner from $EDGE/install/runner"
fetch "$EDGE/install/runner" "$work/scangate-runner" || fail "download of $EDGE/install/runner failed"
fetch "$EDGE/install/runner.sha256" "$work/runner.sha256" || fail "download of $EDGE/install/runner.sha256 failed"
expected="$(tr -d ' \\t\\r\\n' < "$work/runner.sha256" | cut -c1-64)"
actual="$(sha256sum "$work/scangate-runner" | cut -c1-64)"
case "$expected" in
  *[!0-9a-f]*|"") fail "the edge sent no SHA-256 for the runner" ;;
esac
[ "$expected" = "$actual" ] || fail "the runner's SHA-256 is $actual, the edge says $expected: refusing to run it"
echo "sha256 ok: $actual"
chmod 0755 "$work/scangate-runner"

server_given=no
for arg in "$@"; do
  case "$arg" in --server|--server=*) server_given=yes ;; esac
done
if [ "$server_given" = yes ]; then
  "$work/scangate-runner" install "$@"
else
  "$work/scangate-runner" install --server "$SERVER" "$@"
fi
`;
}
