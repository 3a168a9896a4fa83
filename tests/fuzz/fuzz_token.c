/*
 * tests/fuzz/fuzz_token.c — libFuzzer harness for the attestation-result
 * verifier: the input is the body a verifier returned (compact JWS, JSON
 * carrying one, NRAS array). The pinned key is a fixed P-256 key, so inputs
 * that reach the signature check are common; the allow-list is wide open.
 */
#include "collectors/collectors.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *jwks;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tp_att_opts_t o;
    tp_att_result_t res;
    if (!jwks)
        jwks = json_pack(
            "{s:[{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s,s:s}]}", "keys", "kty", "EC", "crv",
            "P-256", "x", "usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8", "y",
            "IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX4", "kty", "EC", "crv", "P-256",
            "kid", "k1", "x", "usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8", "y",
            "IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX4");
    tp_att_opts_init(&o);
    o.jwks = jwks;
    o.now = 1666091400;
    if (tp_att_verify((const char *)data, size, &o, &res) == 0)
        tp_att_result_fini(&res);
    return 0;
}
