#!/bin/sh
# tests/fuzz/token_seeds.sh SHARED CORPUS — seeds for fuzz_token's signed path:
# "#" + format digit + binding digit + a real claims-set (see fuzz_token.c).
S="$1/fixtures/attestation"
C="$2"
F="$(dirname "$0")/../fixtures/attestation"
seed() { { printf '#%s' "$1"; cat "$2"; } >"$C/signed-$3"; }
for f in "$S"/ietf-ear-draft-03/*.claims.json "$S"/veraison-ear/claims-unsigned/*.json \
    "$S"/trustee-ear/example.token.claims.json; do
    [ -f "$f" ] && seed 10 "$f" "ear-$(basename "$f")" && seed 18 "$f" "ear8-$(basename "$f")"
done
for f in "$S"/nvidia-nras-claims/detached*.json; do
    [ -f "$f" ] && seed 25 "$f" "nras-$(basename "$f")" && seed 27 "$f" "nrasn-$(basename "$f")"
done
seed 30 "$F/ita/tdx-v1-pilot.claims.raw.json" ita-claim
seed 38 "$F/ita/tdx-v1-pilot.claims.raw.json" ita-none
for f in "$F"/maa/*.json; do seed 48 "$f" "maa-$(basename "$f")"; done
f="$S/keylime/verifier-GET-v2.5-agents-agent_id.example.json"
[ -f "$f" ] && seed 50 "$f" keylime
exit 0
