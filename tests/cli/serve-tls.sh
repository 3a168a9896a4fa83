#!/bin/sh
# tests/cli/serve-tls.sh — `trustplace serve` over TLS with client certificates
# (mTLS), against the real binary with the curl CLI. Every certificate is made
# here by the openssl CLI: a CA and another CA; a server certificate (SAN
# IP:127.0.0.1); clients from the CA pinned as orchestrator and as viewer, one
# from the CA pinned to nothing, one from the other CA, one from the CA that
# expired in 2020. Pinned clients get their role (HTTP/2 by ALPN, TLS >= 1.2);
# an unpinned one from the CA gets 401 unless it also brings a bearer token; no
# certificate, the other CA's, the expired one and cleartext fail in the
# handshake and are counted. Bad TLS options and clients files are refused
# with a precise error. `trustplace bench --report-to` presents its
# certificate. Loopback only, free ports, every wait bounded.
. "$(dirname "$0")/lib.sh"
tp_plan 29
if ! command -v curl >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1 ||
    ! command -v openssl >/dev/null 2>&1; then
    tp_skip_rest "needs curl, python3 and openssl"
fi
SPID=""
stop_srv() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null; SPID=""; }
trap 'stop_srv; rm -rf "$TP_TMP"' EXIT
D=$TP_TMP

# ---- certificates ----
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$D/$1.key" 2>>"$D/openssl.log"; }
mkca() { # name
    key "$1" && openssl req -x509 -new -key "$D/$1.key" -days 2 -subj "/CN=trustplace test $1" \
        -out "$D/$1.pem" 2>>"$D/openssl.log"
}
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$D/srv.ext"
printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >"$D/cli.ext"
leaf() { # name ca ext
    key "$1" && openssl req -new -key "$D/$1.key" -subj "/CN=$1" -out "$D/$1.csr" 2>>"$D/openssl.log" &&
        openssl x509 -req -in "$D/$1.csr" -CA "$D/$2.pem" -CAkey "$D/$2.key" -CAcreateserial \
            -days 1 -extfile "$D/$3.ext" -out "$D/$1.pem" 2>>"$D/openssl.log"
}
# An expired client: `openssl ca` is the CLI's way to set validity dates in the past.
expired() {
    mkdir -p "$D/cadb" && : >"$D/cadb/index.txt" && echo 01 >"$D/cadb/serial" &&
        printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s/cadb/index.txt\nserial=%s/cadb/serial\nnew_certs_dir=%s/cadb\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n[x]\nbasicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' \
            "$D" "$D" "$D" >"$D/ca.cnf" &&
        key old && openssl req -new -key "$D/old.key" -subj /CN=old -out "$D/old.csr" 2>>"$D/openssl.log" &&
        openssl ca -batch -config "$D/ca.cnf" -cert "$D/ca.pem" -keyfile "$D/ca.key" \
            -in "$D/old.csr" -out "$D/old.pem" -startdate 20200101000000Z \
            -enddate 20200102000000Z -extensions x >>"$D/openssl.log" 2>&1
}
fp() { openssl x509 -in "$D/$1.pem" -outform DER | sha256sum | cut -c1-64; }
if mkca ca && mkca other && leaf srv ca srv && leaf argo ca cli && leaf dash ca cli &&
    leaf plain ca cli && leaf stranger other cli && leaf bench ca cli && expired; then
    tp_ok "CAs, server and client certificates generated (one expired in 2020)"
else
    tp_fail "certificates generated" "$(cat "$D/openssl.log")"
    tp_done
    exit 1
fi
printf '{"version": 1, "clients": [\n {"name": "argo", "role": "orchestrator", "sha256": "%s"},\n {"name": "dash", "role": "viewer", "sha256": "%s"},\n {"name": "bench", "role": "planner", "sha256": "%s"},\n {"name": "old", "role": "orchestrator", "sha256": "%s"},\n {"name": "stranger", "role": "orchestrator", "sha256": "%s"}]}\n' \
    "$(fp argo)" "$(fp dash)" "$(fp bench)" "$(fp old)" "$(fp stranger)" >"$D/clients.json"
chmod 600 "$D/clients.json"

TP_BIN="$TP_BIN" python3 "$TP_SRC/tests/serve/common.py" fleet "$D" 16 2 >/dev/null
"$TP_BIN" token add --tokens "$D/tokens.json" --name viewer --role viewer >"$D/viewer.tok" 2>>"$D/serve.log"
"$TP_BIN" token add --tokens "$D/tokens.json" --name boss --role orchestrator >"$D/boss.tok" 2>>"$D/serve.log"

start_srv() { tp_serve_start "$D" "$@"; }
# req CLIENT METHOD PATH [BODY] [curl options…]: CLIENT is a certificate name or
# "-" for none; sets CODE, VER (HTTP version), CRC (curl's exit) and BODY.
req() {
    cl=$1 m=$2 p=$3; shift 3
    if [ $# -gt 0 ]; then b=$1; shift; set -- --data-binary "$b" "$@"; fi
    [ "$cl" = - ] || set -- --cert "$D/$cl.pem" --key "$D/$cl.key" "$@"
    R=$(curl -s --max-time 20 --cacert "$D/ca.pem" -o "$D/body" -w '%{http_code} %{http_version}' \
        -X "$m" -H 'Content-Type: application/json' "$@" "https://127.0.0.1:$P$p")
    CRC=$?
    CODE=${R% *} VER=${R#* }
    BODY=$(cat "$D/body" 2>/dev/null)
}
check() { # NAME WANT_CODE PYTHON_EXPR (the body is j)
    if [ "$CODE" != "$2" ]; then
        tp_fail "$1" "HTTP $CODE (curl exit $CRC), wanted $2: $BODY"
    elif printf '%s' "$BODY" | python3 -c "import json,sys; j=json.load(sys.stdin); sys.exit(0 if ($3) else 1)"; then
        tp_ok "$1"
    else
        tp_fail "$1" "$BODY"
    fi
}
refused() { # NAME: the handshake failed, no HTTP answer
    if [ "$CODE" = 000 ] && [ "$CRC" -ne 0 ]; then tp_ok "$1"; else tp_fail "$1" "HTTP $CODE, curl exit $CRC: $BODY"; fi
}

# ---- refused configurations ----
tp_run "--tls-cert without --tls-key" 2 "$TP_BIN" serve --config "$D/fleet.json" \
    --data "$D/x" --listen 127.0.0.1:0 --tls-cert "$D/srv.pem" &&
    case $ERR in *"--tls-cert and --tls-key go together"*) tp_ok "--tls-cert alone: refused, says why" ;;
    *) tp_fail "--tls-cert alone refused" "$ERR" ;; esac
tp_run "a key that is not the certificate's" 2 "$TP_BIN" serve --config "$D/fleet.json" \
    --data "$D/x" --listen 127.0.0.1:0 --tls-cert "$D/srv.pem" --tls-key "$D/argo.key" &&
    case $ERR in *"--tls-key $D/argo.key: "*"mismatch"*) tp_ok "a key of another certificate: refused" ;;
    *) tp_fail "mismatched key refused" "$ERR" ;; esac
sed 's/"viewer"/"admin"/' "$D/clients.json" >"$D/bad-clients.json"
tp_run "a clients file with a bad role" 2 "$TP_BIN" serve --config "$D/fleet.json" \
    --data "$D/x" --listen 127.0.0.1:0 --tls-cert "$D/srv.pem" --tls-key "$D/srv.key" \
    --tls-client-ca "$D/ca.pem" --tls-clients "$D/bad-clients.json" &&
    case $ERR in *'bad-clients.json: $.clients[1].role: expected "orchestrator", "planner" or "viewer", got "admin"'*)
        tp_ok "clients file: a bad role is named by its JSON path" ;;
    *) tp_fail "clients file: bad role" "$ERR" ;; esac
cp "$D/clients.json" "$D/gw-clients.json" && chmod 660 "$D/gw-clients.json"
tp_run "a group-writable clients file" 2 "$TP_BIN" serve --config "$D/fleet.json" \
    --data "$D/x" --listen 127.0.0.1:0 --tls-cert "$D/srv.pem" --tls-key "$D/srv.key" \
    --tls-client-ca "$D/ca.pem" --tls-clients "$D/gw-clients.json" &&
    case $ERR in *"mode 0660 is writable by its group"*) tp_ok "a group-writable clients file is refused" ;;
    *) tp_fail "group-writable clients file" "$ERR" ;; esac

# ---- the service over mTLS ----
if ! start_srv --tls-cert "$D/srv.pem" --tls-key "$D/srv.key" --tls-client-ca "$D/ca.pem" \
    --tls-clients "$D/clients.json" --tokens "$D/tokens.json"; then
    tp_fail "serve starts with TLS" "$(cat "$D/serve.log")"
    tp_done
    exit 1
fi
grep -q "listening on https://127.0.0.1:$P (client certificates required)" "$D/serve.log" &&
    tp_ok "serve listens on https, client certificates required" ||
    tp_fail "https listener logged" "$(cat "$D/serve.log")"

req argo GET /v1/nodes
check "pinned orchestrator certificate reads the nodes" 200 'len(j["nodes"]) == 16'
[ "$VER" = 2 ] && tp_ok "HTTP/2 negotiated by ALPN" || tp_fail "HTTP/2 by ALPN" "version $VER"
curl -sv --max-time 20 --cacert "$D/ca.pem" --cert "$D/argo.pem" --key "$D/argo.key" \
    "https://127.0.0.1:$P/healthz" -o /dev/null 2>"$D/v.log"
grep -qE 'SSL connection using TLSv1\.[23]' "$D/v.log" && tp_ok "TLS 1.2 or 1.3" ||
    tp_fail "TLS version" "$(cat "$D/v.log")"
req argo POST /v1/placements '{"id":"m1","gpus":1,"sensitivity":"public"}' --http1.1
check "the orchestrator certificate places (HTTP/1.1 over TLS too)" 201 'j["state"] == "placed"'
req dash POST /v1/placements '{"id":"m2","gpus":1,"sensitivity":"public"}'
check "a viewer certificate may not place: 403" 403 'j["error"]["code"] == "forbidden"'
req dash GET /v1/placements/m1
check "a viewer certificate reads" 200 'j["state"] == "running"'
req plain GET /v1/nodes
check "a certificate of the CA pinned to no one: 401" 401 '"pinned client certificate" in j["error"]["message"]'
req plain GET /v1/nodes "" -H "Authorization: Bearer $(cat "$D/viewer.tok")"
check "... with a viewer bearer token as well: reads" 200 'len(j["nodes"]) == 16'
req - GET /healthz
refused "no client certificate: refused in the handshake"
req stranger GET /healthz
refused "a certificate from another CA (even if pinned): refused"
req old GET /healthz
refused "an expired certificate of the CA (even if pinned): refused"
CODE=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/healthz")
CRC=$?
refused "cleartext HTTP on the TLS port: no answer"
req - GET /healthz "" --tls-max 1.1
refused "TLS 1.1 at most: no connection"
req dash GET /healthz
check "refusals counted: 2 by the API (401, 403), at least 4 in the handshake" 200 \
    'j["auth_refused"] == 2 and j["tls_refused"] >= 4'
req dash GET /metrics
if printf '%s' "$BODY" | grep -qE '^trustplace_http_tls_refused_total [4-9]' &&
    printf '%s' "$BODY" | grep -q '^trustplace_http_auth_refused_total 2'; then
    tp_ok "/metrics counts the TLS and the API refusals"
else
    tp_fail "/metrics counts refusals" "$(printf '%s' "$BODY" | grep refused)"
fi

# ---- attacks on the certificate → role binding ----
# A token and a certificate with different roles: the pinned certificate wins
# (docs/serve.md), so an orchestrator token does not lift a viewer certificate.
req dash POST /v1/placements '{"id":"m3","gpus":1,"sensitivity":"public"}' -H "Authorization: Bearer $(cat "$D/boss.tok")"
check "a viewer certificate with an orchestrator token may not place: 403" 403 'j["error"]["code"] == "forbidden"'
req plain POST /v1/placements '{"id":"m4","gpus":1,"sensitivity":"public"}' -H "Authorization: Bearer $(cat "$D/boss.tok")"
check "an unpinned certificate with an orchestrator token places" 201 'j["state"] == "placed"'
# Two HTTP/2 connections at once, each with 12 multiplexed streams: every
# stream gets its own connection's role, never the other's.
u="https://127.0.0.1:$P/v1/placements/m1"
set -- ; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do set -- "$@" -o /dev/null "$u"; done
curl -s --max-time 30 --http2 --parallel --parallel-max 12 --cacert "$D/ca.pem" --cert "$D/dash.pem" \
    --key "$D/dash.key" -X POST -H 'Content-Type: application/json' \
    --data-binary '{"id":"m5","gpus":1,"sensitivity":"public"}' -w '%{http_code} %{http_version} %{num_connects}\n' 2>>"$D/curl.log" \
    $(for i in 1 2 3 4 5 6 7 8 9 10 11 12; do printf -- '-o /dev/null %s ' "https://127.0.0.1:$P/v1/placements"; done) >"$D/h2-dash" &
DP=$!
curl -s --max-time 30 --http2 --parallel --parallel-max 12 --cacert "$D/ca.pem" --cert "$D/argo.pem" \
    --key "$D/argo.key" -w '%{http_code} %{http_version}\n' "$@" >"$D/h2-argo" 2>>"$D/curl.log"
wait $DP
[ "$(grep -c '^403 2 ' "$D/h2-dash")" = 12 ] && [ "$(grep -c '^200 2$' "$D/h2-argo")" = 12 ] &&
    [ "$(awk '{s += $3} END {print s}' "$D/h2-dash")" -le 2 ] &&
    tp_ok "HTTP/2, 2 connections x 12 streams at once: the viewer's 12 POSTs 403, the orchestrator's 12 GETs 200" ||
    tp_fail "HTTP/2 streams keep their connection's role" "viewer: $(cat "$D/h2-dash") orchestrator: $(cat "$D/h2-argo")"
req argo GET /v1/placements/m5
check "... and no viewer stream placed anything" 404 'j["error"]["code"] == "not_found"'
# Renegotiation (TLS 1.2) is refused: no second handshake can swap the
# certificate under a connection that already has a role.
(printf 'R\n'; sleep 2) | timeout 15 openssl s_client -tls1_2 -connect "127.0.0.1:$P" -CAfile "$D/ca.pem" \
    -cert "$D/dash.pem" -key "$D/dash.key" >"$D/reneg.log" 2>&1
sed -n '/RENEGOTIATING/,$p' "$D/reneg.log" >"$D/reneg.after"
grep -q RENEGOTIATING "$D/reneg.after" && grep -qE 'SSL routines|alert' "$D/reneg.after" &&
    ! grep -q 'Verify return code' "$D/reneg.after" &&
    tp_ok "TLS 1.2 renegotiation: refused by the service" ||
    tp_fail "renegotiation refused" "$(tail -20 "$D/reneg.log")"

# trustplace bench --report-to presents its client certificate (planner)
STUB="$(dirname "$TP_BIN")/libnvidia-ml-stub.so"
if [ ! -f "$STUB" ]; then
    tp_skip "bench --report-to over mTLS" "no $STUB"
    tp_skip "bench --report-to without a certificate" "no $STUB"
else
    GM=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nodes"][0]["gpu_model"])' "$D/fleet.json")
    set -- "$TP_BIN" bench --shape tiny --batch 1 --gen 4 --meter nvml --cache "$D/cache" \
        --no-copy-bandwidth --out "$D/p.json" --gpu-model "$GM" --model-name mtls-model \
        --report-to "https://127.0.0.1:$P" --report-ca "$D/ca.pem"
    TP_NVML_LIB=$STUB "$@" --report-cert "$D/bench.pem" --report-key "$D/bench.key" >"$D/b.out" 2>&1
    rc=$?
    [ $rc = 0 ] && grep -q "HTTP 200" "$D/b.out" && tp_ok "bench --report-to with its certificate: accepted" ||
        tp_fail "bench --report-to over mTLS" "exit $rc: $(cat "$D/b.out")"
    TP_NVML_LIB=$STUB "$@" >"$D/b.out" 2>&1
    rc=$?
    [ $rc = 1 ] && ! grep -q "HTTP 200" "$D/b.out" && tp_ok "bench --report-to without a certificate: refused" ||
        tp_fail "bench --report-to without a certificate" "exit $rc: $(cat "$D/b.out")"
fi
stop_srv
tp_sanitized "no sanitizer report" "$D/serve.log" || tp_ok "no sanitizer report in the service log"
tp_done
