/*
 * tests/fuzz/fuzz_token.c — libFuzzer harness for the attestation-result
 * verifier, on two paths:
 *
 *   - a body as a verifier returns it (compact JWS, JSON carrying one, NRAS
 *     array) against a fixed pinned P-256 key: the envelope, header and key
 *     selection code (most inputs die at the signature);
 *   - "#F" followed by a claims-set: the harness SIGNS the claims with its own
 *     key (generated once per run) and verifies them as format F (1 EAR, 2 NRAS:
 *     the claims are one GPU's, wrapped with an overall token and its digest,
 *     3 ITA, 4 MAA, 5 Keylime: the body itself, unsigned), so the claims
 *     normalisers and the node binding run behind a valid signature. The digit
 *     after F picks the binding (claim, UEID, none, with or without a nonce).
 */
#include "collectors/collectors.h"

#include <jose/jose.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *jwks, *key, *own_jwks;

static char *b64(const char *s, size_t n)
{
    json_t *e = jose_b64_enc(s, n);
    char *out = e ? strdup(json_string_value(e)) : NULL;
    json_decref(e);
    return out;
}

/* Compact JWS of payload (n bytes) under header, with the harness key. */
static char *sign(const char *header, const char *payload, size_t n)
{
    char *h = b64(header, strlen(header)), *p = b64(payload, n), *out = NULL;
    json_t *jws = NULL, *sig = NULL;
    const char *s;
    if (!h || !p)
        goto done;
    jws = json_pack("{s:s}", "payload", p);
    sig = json_pack("{s:s}", "protected", h);
    if (!jws || !sig || !jose_jws_sig(NULL, jws, sig, key))
        goto done;
    s = json_string_value(json_object_get(jws, "signature"));
    if (s && (out = malloc(strlen(h) + strlen(p) + strlen(s) + 3)) != NULL)
        sprintf(out, "%s.%s.%s", h, p, s);
done:
    json_decref(jws);
    json_decref(sig);
    free(h);
    free(p);
    return out;
}

/* NRAS: the fuzzed claims are GPU-0's token; the overall token binds it. */
static char *nras_body(const char *claims, size_t n, const char *nonce)
{
    static const char *const h = "{\"alg\":\"ES256\",\"kid\":\"fz\"}";
    char *gpu = sign(h, claims, n), *ov = NULL, *ovc = NULL, *body = NULL, tag[72];
    json_t *o = NULL, *arr = NULL;
    if (!gpu)
        return NULL;
    tp_sha256_tag(gpu, strlen(gpu), tag);
    o = json_pack("{s:i,s:i,s:b,s:s,s:{s:[s,[s,s]]}}", "iat", 1795000000, "exp",
                  1795000600, "x-nvidia-overall-att-result", 1, "eat_nonce", nonce,
                  "submods", "GPU-0", "DIGEST", "SHA-256", tag + 7);
    ovc = o ? json_dumps(o, JSON_COMPACT) : NULL;
    ov = ovc ? sign(h, ovc, strlen(ovc)) : NULL;
    arr = ov ? json_pack("[[s,s],{s:s}]", "JWT", ov, "GPU-0", gpu) : NULL;
    body = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    json_decref(o);
    free(ovc);
    free(ov);
    free(gpu);
    return body;
}

static void signed_path(const uint8_t *data, size_t size)
{
    static const char *const ids[] = {"node-a",
                                      "481858311570236547493498289839486179865867984732"};
    tp_att_opts_t o;
    tp_att_result_t res;
    int fmt = data[1] - '0', bind = size > 2 ? data[2] - '0' : 0;
    const char *claims = (const char *)data + 3;
    size_t n = size - 3;
    char *body, gpu_nonce[80] = "00112233445566778899aabbccddeeff";
    if (size < 3 || fmt < 1 || fmt > 5)
        return;
    tp_att_opts_init(&o);
    o.jwks = own_jwks;
    o.format = (tp_att_format_t)fmt;
    /* The clock follows the claims, so that real claims-sets (whose iat is
     * years old) reach the normalisers instead of dying as expired. */
    o.now = 1795000000;
    o.max_age_s = (int64_t)1 << 40;
    o.nonce = (bind & 2) ? "00112233445566778899aabbccddeeff" : NULL;
    {
        json_t *c = json_loadb(claims, n, 0, NULL);
        const json_t *iat = json_object_get(c, "iat");
        if (fmt == 5)
            iat = json_object_get(json_object_get(c, "results"),
                                  "last_successful_attestation");
        const char *gn = json_string_value(json_object_get(c, "eat_nonce"));
        /* NRAS: the overall token repeats the GPU's nonce (it must). */
        if (fmt == 2 && gn && strlen(gn) < sizeof gpu_nonce)
            snprintf(gpu_nonce, sizeof gpu_nonce, "%s", gn);
        if (fmt == 2 && o.nonce)
            o.nonce = gpu_nonce;
        if (json_is_integer(iat) && json_integer_value(iat) > 0 &&
            json_integer_value(iat) < ((json_int_t)1 << 40) && fmt != 2)
            o.now = json_integer_value(iat) + 1;
        json_decref(c);
    }
    o.node_id = "node-a";
    o.node_ids = (bind & 1) ? ids : NULL;
    o.n_node_ids = (bind & 1) ? 2 : 0;
    o.bind = fmt == 5     ? TP_ATT_BIND_URL
             : (bind & 4) ? TP_ATT_BIND_UEID
             : (bind & 8) ? TP_ATT_BIND_NONE
                          : TP_ATT_BIND_CLAIM;
    o.require = (unsigned)(bind >> 4) & 3u;
    if (fmt == 5)
        body = strndup(claims, n);
    else if (fmt == 2)
        body = nras_body(claims, n, o.nonce ? o.nonce : gpu_nonce);
    else
        body = sign("{\"alg\":\"ES256\",\"kid\":\"fz\"}", claims, n);
    if (body && tp_att_verify(body, strlen(body), &o, &res) == 0) {
        /* What the collector relies on: nothing attested by a negative or
         * unbound result. */
        if ((res.att.status == TP_ATT_NONE || res.att.status == TP_ATT_CONTRAINDICATED) &&
            (res.att.cpu_tee != TP_TEE_UNKNOWN || res.att.gpu_cc == 1))
            abort();
        if (res.unbound && res.att.status != TP_ATT_NONE &&
            res.att.status != TP_ATT_CONTRAINDICATED)
            abort();
        tp_att_result_fini(&res);
    }
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tp_att_opts_t o;
    tp_att_result_t res;
    if (!jwks) {
        jwks = json_pack(
            "{s:[{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s,s:s}]}", "keys", "kty", "EC", "crv",
            "P-256", "x", "usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8", "y",
            "IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX4", "kty", "EC", "crv", "P-256",
            "kid", "k1", "x", "usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8", "y",
            "IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX4");
        key = json_pack("{s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "kid", "fz");
        if (!key || !jose_jwk_gen(NULL, key))
            abort();
        own_jwks = json_pack("{s:[o]}", "keys", json_deep_copy(key));
        if (!own_jwks ||
            !jose_jwk_pub(NULL, json_array_get(json_object_get(own_jwks, "keys"), 0)))
            abort();
    }
    if (size >= 2 && data[0] == '#') {
        signed_path(data, size);
        return 0;
    }
    tp_att_opts_init(&o);
    o.jwks = jwks;
    o.now = 1666091400;
    if (tp_att_verify((const char *)data, size, &o, &res) == 0)
        tp_att_result_fini(&res);
    return 0;
}
