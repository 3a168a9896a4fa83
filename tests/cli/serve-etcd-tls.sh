#!/bin/sh
# tests/cli/serve-etcd-tls.sh — `serve --store etcd:` over TLS with a client
# certificate: a one-member etcd with --client-cert-auth (certificates made by
# the openssl CLI here) takes a replica that presents our client certificate,
# refuses one without a certificate or with one from another CA (nothing is
# acknowledged), and the options are checked (http:// with a client
# certificate, a certificate without its key). Skipped visibly without etcd.
. "$(dirname "$0")/lib.sh"
tp_plan 5
command -v python3 >/dev/null 2>&1 || tp_skip_rest "needs python3"
command -v openssl >/dev/null 2>&1 || tp_skip_rest "needs openssl"
command -v etcd >/dev/null 2>&1 || tp_skip_rest "no etcd binary (tools/deps.sh installs etcd-server)"
D=$TP_TMP
EPID=""
# TERM to timeout(1), which hands it to etcd: a KILL would leave etcd running.
trap '[ -n "$SPID" ] && kill -9 "$SPID" 2>/dev/null; [ -n "$EPID" ] && kill "$EPID" 2>/dev/null && wait "$EPID" 2>/dev/null; rm -rf "$TP_TMP"' EXIT

cert() { # NAME CA [SAN]: a key and a certificate NAME signed by CA (self-signed: CA = -)
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
        -keyout "$D/$1.key" -out "$D/$1.csr" 2>/dev/null || return 1
    if [ "$2" = - ]; then
        printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign\n' >"$D/$1.ext"
        openssl x509 -req -in "$D/$1.csr" -signkey "$D/$1.key" -days 2 \
            -extfile "$D/$1.ext" -out "$D/$1.pem" 2>/dev/null
    else
        printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "${3:-DNS:$1}" >"$D/$1.ext"
        openssl x509 -req -in "$D/$1.csr" -CA "$D/$2.pem" -CAkey "$D/$2.key" -CAcreateserial \
            -days 2 -extfile "$D/$1.ext" -out "$D/$1.pem" 2>/dev/null
    fi
}
cert ca - && cert server ca IP:127.0.0.1 && cert client ca && cert rogue-ca - &&
    cert rogue rogue-ca || tp_skip_rest "openssl could not make the certificates"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CP=$(port)
PP=$(port)
URL="https://127.0.0.1:$CP"
timeout -s KILL 300 etcd --name m0 --data-dir "$D/etcd" --listen-client-urls "$URL" \
    --advertise-client-urls "$URL" --listen-peer-urls "http://127.0.0.1:$PP" \
    --initial-advertise-peer-urls "http://127.0.0.1:$PP" --initial-cluster "m0=http://127.0.0.1:$PP" \
    --cert-file "$D/server.pem" --key-file "$D/server.key" --client-cert-auth \
    --trusted-ca-file "$D/ca.pem" --logger zap --log-level error 2>"$D/etcd.log" &
EPID=$!
i=0
until curl -sf --cacert "$D/ca.pem" --cert "$D/client.pem" --key "$D/client.key" "$URL/health" >/dev/null; do
    i=$((i + 1))
    [ $i -gt 100 ] && tp_skip_rest "etcd with TLS did not start: $(tail -3 "$D/etcd.log")"
    sleep 0.1
done

TP_BIN="$TP_BIN" python3 "$TP_SRC/tests/serve/common.py" fleet "$D" 16 5 >/dev/null
post() { # ID: the status of POST /v1/placements on $P
    curl -s -o /dev/null -w '%{http_code}' -m 5 -H 'Content-Type: application/json' \
        -d "{\"id\":\"$1\",\"gpus\":1,\"sensitivity\":\"public\"}" "http://127.0.0.1:$P/v1/placements"
}
leader_post() { # ID: a 2xx within 10 s (the replica elects itself first)
    j=0
    while [ $j -lt 50 ]; do
        st=$(post "$1")
        case $st in 2??) return 0 ;; esac
        j=$((j + 1))
        sleep 0.2
    done
    return 1
}
replica() { # NAME [option…]: a replica on the TLS etcd
    n=$1; shift
    mkdir -p "$D/$n" && cp "$D/fleet.json" "$D/state.json" "$D/$n/"
    tp_serve_start "$D/$n" --store "etcd:$URL" --replica-name "$n" --store-prefix /tls-test/ \
        --lease-ttl 2 --etcd-cacert "$D/ca.pem" "$@"
}

t="a replica with our client certificate commits to etcd (--client-cert-auth)"
if replica good --etcd-cert "$D/client.pem" --etcd-key "$D/client.key" && leader_post w1; then
    n=$(curl -s --cacert "$D/ca.pem" --cert "$D/client.pem" --key "$D/client.key" \
        -X POST -d '{"key":"L3Rscy10ZXN0Lw==","range_end":"L3Rscy10ZXN0MA==","count_only":true}' \
        "$URL/v3/kv/range" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("count","0"))')
    [ "${n:-0}" -gt 0 ] && tp_ok "$t" || tp_fail "$t" "no key under /tls-test/: $n"
else
    tp_fail "$t" "$(tail -5 "$D/good/serve.log")"
fi
kill -9 "$SPID" 2>/dev/null
wait "$SPID" 2>/dev/null
SPID=""

for bad in none rogue; do
    t="a replica with $( [ $bad = none ] && echo no client certificate || echo a certificate from another CA) acknowledges nothing"
    if [ $bad = none ]; then replica "r$bad"; else
        replica "r$bad" --etcd-cert "$D/rogue.pem" --etcd-key "$D/rogue.key"; fi
    if [ -z "$P" ]; then
        tp_ok "$t" # it never came up
    elif leader_post "x$bad"; then
        tp_fail "$t" "a placement was acknowledged"
    else
        tp_ok "$t"
    fi
    [ -n "$SPID" ] && kill -9 "$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
    SPID=""
done

t="a client certificate with an http:// endpoint is a usage error"
tp_run "$t" 2 "$TP_BIN" serve --config "$D/fleet.json" --store etcd:http://127.0.0.1:1 \
    --replica-name x --etcd-cert "$D/client.pem" --etcd-key "$D/client.key" &&
    case $ERR in *"must be https://"*) tp_ok "$t" ;; *) tp_fail "$t" "$ERR" ;; esac
t="a client certificate without its key is a usage error"
tp_run "$t" 2 "$TP_BIN" serve --config "$D/fleet.json" --store "etcd:$URL" --replica-name x \
    --etcd-cert "$D/client.pem" &&
    case $ERR in *"go together"*) tp_ok "$t" ;; *) tp_fail "$t" "$ERR" ;; esac
tp_done
