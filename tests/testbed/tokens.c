/*
 * tests/testbed/tokens.c — minting attestation results for the emulated
 * verifier and the tests: keys generated at run time with libjose, compact JWS
 * over exact header/payload bytes, Trustee-style EAR claims.
 */
#include "tests/testbed/testbed.h"

#include <jose/jose.h>

#include <stdlib.h>
#include <string.h>

json_t *tb_key_new(const char *crv, const char *kid)
{
    json_t *jwk = json_pack("{s:s,s:s}", "kty", "EC", "crv", crv);
    if (!jwk || !jose_jwk_gen(NULL, jwk)) {
        json_decref(jwk);
        return NULL;
    }
    if (kid)
        json_object_set_new(jwk, "kid", json_string(kid));
    return jwk;
}

json_t *tb_key_public(const json_t *jwk)
{
    json_t *pub = json_deep_copy(jwk);
    if (pub && !jose_jwk_pub(NULL, pub)) {
        json_decref(pub);
        return NULL;
    }
    return pub;
}

static char *b64(const char *s)
{
    json_t *e = jose_b64_enc(s, strlen(s));
    char *out = e ? strdup(json_string_value(e)) : NULL;
    json_decref(e);
    return out;
}

char *tb_sign(const json_t *jwk, const char *header, const char *payload)
{
    char *h = b64(header), *p = b64(payload), *out = NULL;
    json_t *jws = NULL, *sig = NULL;
    const char *s;
    if (!h || !p)
        goto done;
    jws = json_pack("{s:s}", "payload", p);
    sig = json_pack("{s:s}", "protected", h);
    if (!jws || !sig || !jose_jws_sig(NULL, jws, sig, jwk))
        goto done;
    s = json_string_value(json_object_get(jws, "signature"));
    if (!s)
        goto done;
    out = malloc(strlen(h) + strlen(p) + strlen(s) + 3);
    if (out)
        sprintf(out, "%s.%s.%s", h, p, s);
done:
    json_decref(jws);
    json_decref(sig);
    free(h);
    free(p);
    return out;
}

static json_t *trust_vector(const char *status)
{
    int v = !strcmp(status, "contraindicated") ? 96 : !strcmp(status, "warning") ? 32 : 2;
    return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "instance-identity", 2,
                     "configuration", v, "executables", 2, "file-system", 2, "hardware",
                     2, "runtime-opaque", 2, "storage-opaque", 2, "sourced-data", 2);
}

json_t *tb_ear_claims(const char *tee, bool gpu, const char *status, int64_t iat,
                      int64_t exp, const char *jti)
{
    const char *key = !strcmp(tee, "sev-snp") ? "snp" : tee;
    json_t *submods, *claims;
    submods = json_pack("{s:{s:s,s:o,s:s,s:{s:{s:s}}}}", "cpu0", "ear.status", status,
                        "ear.trustworthiness-vector", trust_vector(status),
                        "ear.appraisal-policy-id", "default",
                        "ear.veraison.annotated-evidence", key, "report_data", "00");
    if (submods && gpu)
        json_object_set_new(submods, "gpu0",
                            json_pack("{s:s,s:o,s:{s:{s:b,s:s}}}", "ear.status", status,
                                      "ear.trustworthiness-vector", trust_vector(status),
                                      "ear.veraison.annotated-evidence", "nvidia",
                                      "x-nvidia-overall-att-result", 1, "x-nvidia-ver",
                                      "2.0"));
    claims = json_pack("{s:s,s:I,s:I,s:s,s:{s:s,s:s},s:o}", "eat_profile",
                       "tag:github.com,2024:confidential-containers/Trustee", "iat",
                       (json_int_t)iat, "exp", (json_int_t)exp, "jti", jti,
                       "ear.verifier-id", "developer", "https://trustplace.test", "build",
                       "tp-testbed", "submods", submods);
    return claims;
}
