#!/bin/sh
# tests/cli/tls.sh — `trustplace collect` against BMCs that speak HTTPS: the
# test bed's TLS mode with a CA and a server certificate (SAN IP:127.0.0.1)
# generated here by the openssl CLI. With tls.ca_file naming the CA the facts
# are read; with the system CAs or another CA the handshake fails, the facts
# stay unknown and the failure is logged; a node's bmc.insecure connects
# anyway and is logged loudly. Loopback only; the test bed is stopped by its
# pid and stops by itself after 60 s.
. "$(dirname "$0")/lib.sh"
TB="$(dirname "$TP_BIN")/tp-testbed"
tp_plan 7
[ -x "$TB" ] || tp_skip_rest "no $TB (make tests builds it)"
TBPID=""
stop_tb() { [ -n "$TBPID" ] && kill "$TBPID" 2>/dev/null && wait "$TBPID" 2>/dev/null; TBPID=""; }
trap 'stop_tb; rm -rf "$TP_TMP"' EXIT
D="$TP_TMP"

# Two CAs; the server certificate is signed by the first.
mkca() { # name
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj "/CN=trustplace test $1" -keyout "$D/$1.key" -out "$D/$1.pem" 2>>"$D/openssl.log"
}
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$D/ext"
if mkca ca && mkca other &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
        -keyout "$D/srv.key" -out "$D/srv.csr" 2>>"$D/openssl.log" &&
    openssl x509 -req -in "$D/srv.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" -CAcreateserial \
        -days 1 -extfile "$D/ext" -out "$D/srv.pem" 2>>"$D/openssl.log"; then
    tp_ok "CA and server certificate generated"
else
    tp_fail "CA and server certificate generated" "$(cat "$D/openssl.log")"
    tp_done
    exit 1
fi

"$TP_BIN" gen-fleet --nodes 2 --seed 5 --out "$D/fleet.json" >/dev/null 2>&1
"$TB" --fleet "$D/fleet.json" --fleet-out "$D/tb.json" --ready "$D/ready" --auth \
    --tls "$D/srv.pem,$D/srv.key" --duration 60 2>"$D/tb.log" &
TBPID=$!
i=0
while [ ! -f "$D/ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if [ -f "$D/ready" ] && [ "$(jq -r '[.nodes[].bmc.url | startswith("https://127.0.0.1:")] | all' "$D/tb.json")" = true ]; then
    tp_ok "testbed serves HTTPS"
else
    tp_fail "testbed serves HTTPS" "$(cat "$D/tb.log")"
    tp_done
    exit 1
fi
n0=$(jq -r '.nodes[0].id' "$D/tb.json")
n1=$(jq -r '.nodes[1].id' "$D/tb.json")
# known STATE NODE: 0 when the node has a cap, a draw and GPUs in STATE.
known() { jq -e --arg n "$2" '.nodes[$n] | has("cap_w") and has("draw_w") and has("gpus_healthy")' "$1" >/dev/null; }
collect() { # name config state
    tp_run "$1" 0 "$TP_BIN" collect --config "$2" --once --out "$3"
}

t="with tls.ca_file: facts read over HTTPS"
jq --arg ca "$D/ca.pem" '.collectors.tls = {"ca_file": $ca}' "$D/tb.json" >"$D/ca.json"
if collect "$t" "$D/ca.json" "$D/s-ca.json"; then
    if known "$D/s-ca.json" "$n0" && known "$D/s-ca.json" "$n1"; then tp_ok "$t"; else tp_fail "$t" "$(cat "$D/s-ca.json")"; fi
fi

for variant in system other; do
    t="with the $variant CAs: verification fails, facts unknown, failure logged"
    if [ $variant = other ]; then
        jq --arg ca "$D/other.pem" '.collectors.tls = {"ca_file": $ca}' "$D/tb.json" >"$D/v.json"
    else
        cp "$D/tb.json" "$D/v.json"
    fi
    if collect "$t" "$D/v.json" "$D/s-$variant.json"; then
        if ! known "$D/s-$variant.json" "$n0" && ! known "$D/s-$variant.json" "$n1" &&
            echo "$ERR" | grep -q "service root did not answer (GET /redfish/v1: .*certificate" ; then
            tp_ok "$t"
        else
            tp_fail "$t" "$ERR"
        fi
    fi
done

t="bmc.insecure: connects without verification and says so"
jq '.nodes[0].bmc.insecure = true' "$D/tb.json" >"$D/insecure.json"
if collect "$t" "$D/insecure.json" "$D/s-insecure.json"; then
    if known "$D/s-insecure.json" "$n0" && ! known "$D/s-insecure.json" "$n1" &&
        echo "$ERR" | grep -q "TLS VERIFICATION IS OFF for BMC https://127.0.0.1:[0-9]* (node $n0"; then
        tp_ok "$t"
    else
        tp_fail "$t" "$ERR"
    fi
fi

stop_tb
# The refused handshakes were seen by the server too (system + other CA: two BMCs each).
failures=$(sed -n 's/.* \([0-9]*\) TLS failures.*/\1/p' "$D/tb.log")
if [ "${failures:-0}" -ge 4 ]; then tp_ok "server saw the refused handshakes"; else tp_fail "server saw the refused handshakes" "$(cat "$D/tb.log")"; fi
tp_done
