/*
 * tests/testbed/tokens.c — minting attestation results for the emulated
 * verifier and the tests: keys generated at run time with libjose, compact JWS
 * over exact header/payload bytes, Trustee-style EAR claims.
 */
#include "tests/testbed/testbed.h"

#include <jose/jose.h>
#include <jose/openssl.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

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

json_t *tb_rsa_key_new(int bits, const char *kid)
{
    EVP_PKEY *pk = EVP_RSA_gen((unsigned)bits);
    json_t *jwk = pk ? jose_openssl_jwk_from_EVP_PKEY(NULL, pk) : NULL;
    EVP_PKEY_free(pk);
    if (jwk && kid)
        json_object_set_new(jwk, "kid", json_string(kid));
    return jwk;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *e;
    int ok;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    ok = e && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

char *tb_cert_new(const json_t *subject, const json_t *issuer, const char *cn,
                  const char *issuer_cn, bool ca, const char *ku, const char *eku,
                  int64_t nb, int64_t na)
{
    EVP_PKEY *sk = jose_openssl_jwk_to_EVP_PKEY(NULL, subject);
    EVP_PKEY *ik = jose_openssl_jwk_to_EVP_PKEY(NULL, issuer);
    X509 *x = X509_new();
    X509_NAME *sn = X509_NAME_new(), *in = X509_NAME_new();
    unsigned char *der = NULL;
    char *out = NULL;
    int len;
    static long serial = 1;
    if (!sk || !ik || !x || !sn || !in)
        goto done;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_NAME_add_entry_by_txt(sn, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(in, "CN", MBSTRING_ASC, (const unsigned char *)issuer_cn,
                               -1, -1, 0);
    X509_set_subject_name(x, sn);
    X509_set_issuer_name(x, in);
    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb);
    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na);
    X509_set_pubkey(x, sk);
    if (add_ext(x, x, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE") < 0 ||
        add_ext(x, x, NID_subject_key_identifier, "hash") < 0 ||
        (ku && add_ext(x, x, NID_key_usage, ku) < 0) ||
        (eku && add_ext(x, x, NID_ext_key_usage, eku) < 0))
        goto done;
    if (!X509_sign(x, ik, EVP_sha256()))
        goto done;
    len = i2d_X509(x, &der);
    if (len > 0 && (out = malloc(((size_t)len + 2) / 3 * 4 + 1)) != NULL)
        EVP_EncodeBlock((unsigned char *)out, der, len);
done:
    OPENSSL_free(der);
    X509_NAME_free(sn);
    X509_NAME_free(in);
    X509_free(x);
    EVP_PKEY_free(sk);
    EVP_PKEY_free(ik);
    return out;
}
