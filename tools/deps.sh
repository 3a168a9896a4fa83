#!/bin/sh
# Checks that the Debian packages trustplace builds against are installed.
# As root it installs what is missing (one apt-get update first); otherwise it
# prints the one command to run and fails.
set -u
PKGS="pkg-config libjansson-dev libglpk-dev libuv1-dev libcurl4-openssl-dev libsqlite3-dev libjose-dev libssl-dev openssl libh2o-dev jq curl python3 etcd-server etcd-client"
# jq: the CLI tests check JSON output with it; curl, python3: the service's
# integration tests (HTTP round trips, concurrent load, kill -9 drivers); npm:
# installs the OpenAPI linter into build/npm (any npm will do: Debian's package
# is added only when no npm is on the PATH); etcd-server, etcd-client: the HA
# tests start a real 3-member etcd cluster on loopback.
# Test-only tools (issue 15): promtool (prometheus) checks GET /metrics, chromium
# renders the dashboard. Installed when root; never required: their suites skip
# visibly without them.
TEST_PKGS="prometheus chromium"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    opt=""
    for p in $TEST_PKGS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            opt="$opt $p"
    done
    if [ -n "$opt" ]; then
        echo "trustplace: installing test tools:$opt" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                $opt >&2 ||
            echo "trustplace: could not install$opt; the suites that use them skip" >&2
    fi
fi
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "trustplace: installing missing packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq $missing >&2 || {
        echo "trustplace: apt-get install failed" >&2; exit 1; }
    exit 0
fi
echo "trustplace: missing build dependencies. Run:" >&2
echo "  sudo apt-get install -y$missing" >&2
exit 1
