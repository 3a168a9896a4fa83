#!/bin/sh
# Checks that the Debian packages trustplace builds against are installed.
# As root it installs what is missing (one apt-get update first); otherwise it
# prints the one command to run and fails.
set -u
PKGS="pkg-config libjansson-dev libglpk-dev libuv1-dev libcurl4-openssl-dev libsqlite3-dev libjose-dev libssl-dev openssl jq"
# jq: the CLI tests check JSON output with it.
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
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
