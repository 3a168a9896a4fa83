/*
 * collectors/attest.c — verifying signed attestation results (IETF RATS EAR from
 * Veraison / Trustee, NVIDIA NRAS) and normalising them into the attestation
 * object of docs/formats.md.
 *
 * libjose does the signature, base64url and key work, jansson the JSON, OpenSSL
 * the digests and certificate chains; this file adds what those libraries leave
 * to the relying party (see ../shared/docs/attestation-notes.md): exactly three
 * segments, an algorithm allow-list bound to the key type and curve, one key
 * chosen by kid, duplicate JSON keys rejected, header-supplied keys ignored
 * unless pinned or chained to a configured root, integer times, skew, lifetime
 * caps, and the status arithmetic of EAR (any contraindicated component wins; a
 * required component that is missing counts as none).
 */
#include "collectors/collectors.h"

#include <jose/jose.h>
#include <jose/openssl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TOKEN (2u << 20) /* Trustee tokens with annotated evidence approach 1 MiB */
#define MAX_NRAS_GPUS 16
#define MAX_X5C 8

static const struct {
    const char *name, *kty, *crv;
} alg_table[TP_JWS_COUNT] = {
    {"ES256", "EC", "P-256"}, {"ES384", "EC", "P-384"}, {"ES512", "EC", "P-521"},
    {"PS256", "RSA", NULL},   {"PS384", "RSA", NULL},   {"PS512", "RSA", NULL},
    {"RS256", "RSA", NULL},   {"RS384", "RSA", NULL},   {"RS512", "RSA", NULL},
};

/* x coordinates of published test keys (EC P-256): the Veraison EAR test key,
 * also Veraison's default deployment key, and Trustee's JWKS fixture key. */
static const char *const test_key_x[] = {
    "usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8",
    "ANbJDpVEC_bNPvuKERn1FkQMSuPWEzIQ7Y-kl3K0yEo",
};

const char *tp_jws_alg_name(tp_jws_alg_t a)
{
    return a >= 0 && a < TP_JWS_COUNT ? alg_table[a].name : "?";
}

int tp_jws_alg_parse(const char *s)
{
    for (int i = 0; s && i < TP_JWS_COUNT; i++)
        if (!strcmp(s, alg_table[i].name))
            return i;
    return -1;
}

const char *tp_att_reason_name(tp_att_reason_t r)
{
    static const char *const names[] = {
#define TP_ATT_R_NAME(n, s) s,
        TP_ATT_REASON_MAP(TP_ATT_R_NAME)
#undef TP_ATT_R_NAME
    };
    return r >= 0 && r < TP_ATT_R_COUNT ? names[r] : "unknown";
}

void tp_att_opts_init(tp_att_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->algs = TP_JWS_ALL;
    o->now = (int64_t)time(NULL);
    o->skew_s = 60;
    o->max_age_s = 3600;
}

void tp_att_result_fini(tp_att_result_t *res)
{
    if (!res)
        return;
    free(res->att.verifier);
    free(res->att.evidence);
    res->att.verifier = res->att.evidence = NULL;
}

void tp_sha256_tag(const void *data, size_t len, char out[72])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    memcpy(out, "sha256:", 7);
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        out[7] = '\0';
        return;
    }
    for (int i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static int reject(tp_att_result_t *res, tp_att_reason_t r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int reject(tp_att_result_t *res, tp_att_reason_t r, const char *fmt, ...)
{
    va_list ap;
    res->reason = r;
    va_start(ap, fmt);
    vsnprintf(res->detail, sizeof res->detail, fmt, ap);
    va_end(ap);
    return 1;
}

/* ---- libjose plumbing
 * ------------------------------------------------------------------ */

typedef struct {
    char msg[160];
} jerr_t;

static void jose_err(void *misc, const char *file, int line, uint64_t err,
                     const char *fmt, va_list ap)
{
    jerr_t *e = misc;
    (void)file;
    (void)line;
    (void)err;
    if (e && !e->msg[0])
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
}

static jose_cfg_t *quiet_cfg(jerr_t *e)
{
    jose_cfg_t *cfg = jose_cfg();
    if (cfg)
        jose_cfg_set_err_func(cfg, jose_err, e);
    return cfg;
}

/* Decodes one base64url segment and parses it as a JSON object with duplicate
 * keys rejected. NULL when it is not one. */
static json_t *decode_object(const char *seg, size_t len)
{
    size_t n = jose_b64_dec_buf(seg, len, NULL, 0);
    unsigned char *buf;
    json_t *v;
    if (n == SIZE_MAX || n > MAX_TOKEN)
        return NULL;
    buf = malloc(n + 1);
    if (!buf)
        return NULL;
    if (jose_b64_dec_buf(seg, len, buf, n) != n) {
        free(buf);
        return NULL;
    }
    v = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
    free(buf);
    if (!json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

static bool b64url_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.')
            return false;
    }
    return true;
}

static bool same_key(jose_cfg_t *cfg, const json_t *a, const json_t *b)
{
    json_t *ta = jose_jwk_thp(cfg, a, "S256"), *tb = jose_jwk_thp(cfg, b, "S256");
    bool eq = ta && tb && json_equal(ta, tb);
    json_decref(ta);
    json_decref(tb);
    return eq;
}

static bool is_test_key(const json_t *k)
{
    const char *x = json_string_value(json_object_get(k, "x"));
    for (size_t i = 0; x && i < sizeof test_key_x / sizeof test_key_x[0]; i++)
        if (!strcmp(x, test_key_x[i]))
            return true;
    return false;
}

/* Does the header's x5c chain to a configured root, with the leaf's key equal
 * to jwk? */
static bool chains_to_root(jose_cfg_t *cfg, const json_t *x5c, const json_t *jwk,
                           const tp_att_opts_t *o)
{
    X509 *certs[MAX_X5C] = {NULL};
    STACK_OF(X509) *untrusted = NULL;
    X509_STORE_CTX *ctx = NULL;
    EVP_PKEY *want = NULL;
    size_t n = json_array_size(x5c);
    bool ok = false;
    if (!o->roots || !json_is_array(x5c) || n == 0 || n > MAX_X5C || !jwk)
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *b64 = json_string_value(json_array_get(x5c, i));
        size_t len = b64 ? strlen(b64) : 0;
        unsigned char *der;
        const unsigned char *p;
        int dl;
        if (!len || len > 64 * 1024)
            goto out;
        der = malloc(len);
        if (!der)
            goto out;
        dl = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)len);
        p = der;
        if (dl > 0)
            certs[i] = d2i_X509(NULL, &p, dl);
        free(der);
        if (!certs[i])
            goto out;
    }
    untrusted = sk_X509_new_null();
    for (size_t i = 1; untrusted && i < n; i++)
        sk_X509_push(untrusted, certs[i]);
    ctx = X509_STORE_CTX_new();
    if (!untrusted || !ctx || !X509_STORE_CTX_init(ctx, o->roots, certs[0], untrusted))
        goto out;
    X509_STORE_CTX_set_time(ctx, 0, (time_t)o->now);
    if (X509_verify_cert(ctx) != 1)
        goto out;
    want = jose_openssl_jwk_to_EVP_PKEY(cfg, jwk);
    ok = want && EVP_PKEY_eq(X509_get0_pubkey(certs[0]), want) == 1;
out:
    EVP_PKEY_free(want);
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    for (size_t i = 0; i < MAX_X5C; i++)
        X509_free(certs[i]);
    return ok;
}

/* Chooses the one key that may verify this token. */
static int select_key(jose_cfg_t *cfg, const json_t *hdr, const tp_att_opts_t *o,
                      tp_att_result_t *res, const json_t **key)
{
    const json_t *kidv = json_object_get(hdr, "kid"), *hjwk = json_object_get(hdr, "jwk");
    const json_t *keys = json_object_get(o->jwks, "keys"), *k, *x5c;
    const char *kid = json_string_value(kidv);
    size_t i, matches = 0;
    *key = NULL;
    if (kidv && !kid)
        return reject(res, TP_ATT_R_MALFORMED, "header kid is not a string");
    if (hjwk && !json_is_object(hjwk))
        return reject(res, TP_ATT_R_MALFORMED, "header jwk is not an object");
    x5c = json_object_get(hdr, "x5c");
    if (!x5c && hjwk)
        x5c = json_object_get(hjwk, "x5c");
    if (kid) {
        snprintf(res->kid, sizeof res->kid, "%s", kid);
        json_array_foreach (keys, i, k) {
            const char *kk = json_string_value(json_object_get(k, "kid"));
            if (kk && !strcmp(kk, kid)) {
                matches++;
                *key = k;
            }
        }
        if (matches > 1)
            return reject(res, TP_ATT_R_KID_UNKNOWN,
                          "kid \"%.64s\" names %zu pinned keys", kid, matches);
        if (matches == 0) {
            if (hjwk && chains_to_root(cfg, x5c, hjwk, o)) {
                *key = hjwk;
                return 0;
            }
            if (hjwk)
                return reject(
                    res, TP_ATT_R_HEADER_KEY_UNTRUSTED,
                    "kid \"%.64s\" is not pinned and the header key does not chain "
                    "to a configured root",
                    kid);
            return reject(res, TP_ATT_R_KID_UNKNOWN, "kid \"%.64s\" is not in the JWKS",
                          kid);
        }
        if (hjwk && !same_key(cfg, hjwk, *key))
            return reject(res, TP_ATT_R_HEADER_KEY_UNTRUSTED,
                          "header jwk differs from the pinned key \"%.64s\"", kid);
        return 0;
    }
    if (hjwk) {
        json_array_foreach (keys, i, k)
            if (same_key(cfg, hjwk, k)) {
                *key = k;
                return 0;
            }
        if (chains_to_root(cfg, x5c, hjwk, o)) {
            *key = hjwk;
            return 0;
        }
        return reject(res, TP_ATT_R_HEADER_KEY_UNTRUSTED,
                      "the header carries a key that is neither pinned nor chained to a "
                      "configured root");
    }
    if (json_array_size(keys) == 1) {
        *key = json_array_get(keys, 0);
        return 0;
    }
    if (json_array_size(keys) == 0)
        return reject(res, TP_ATT_R_KID_UNKNOWN, "no pinned keys");
    return reject(res, TP_ATT_R_KID_MISSING, "no kid in the header and %zu pinned keys",
                  json_array_size(keys));
}

/* The key must suit the algorithm: ES256↔P-256, ES384↔P-384, ES512↔P-521,
 * RSA ≥ 2048 bits for PS and RS; its own alg/use/key_ops must agree. */
static int bind_key(const json_t *key, int alg, tp_att_result_t *res)
{
    const char *kty = json_string_value(json_object_get(key, "kty"));
    const char *crv = json_string_value(json_object_get(key, "crv"));
    const char *kalg = json_string_value(json_object_get(key, "alg"));
    const char *use = json_string_value(json_object_get(key, "use"));
    const json_t *ops = json_object_get(key, "key_ops");
    if (!kty || strcmp(kty, alg_table[alg].kty) != 0)
        return reject(res, TP_ATT_R_KEY_MISMATCH, "%s needs a %s key, got %s",
                      alg_table[alg].name, alg_table[alg].kty, kty ? kty : "none");
    if (alg_table[alg].crv && (!crv || strcmp(crv, alg_table[alg].crv) != 0))
        return reject(res, TP_ATT_R_KEY_MISMATCH, "%s needs curve %s, the key is on %s",
                      alg_table[alg].name, alg_table[alg].crv, crv ? crv : "none");
    if (kalg && strcmp(kalg, alg_table[alg].name) != 0)
        return reject(res, TP_ATT_R_KEY_MISMATCH, "the key is for %s, the token says %s",
                      kalg, alg_table[alg].name);
    if (use && strcmp(use, "sig") != 0)
        return reject(res, TP_ATT_R_KEY_MISMATCH, "the key's use is \"%s\"", use);
    if (ops) {
        bool verify = false;
        size_t i;
        const json_t *op;
        json_array_foreach (ops, i, op)
            verify |= json_is_string(op) && !strcmp(json_string_value(op), "verify");
        if (!verify)
            return reject(res, TP_ATT_R_KEY_MISMATCH, "the key's key_ops exclude verify");
    }
    if (!strcmp(kty, "RSA")) {
        const json_t *n = json_object_get(key, "n");
        size_t bytes = n ? jose_b64_dec(n, NULL, 0) : 0;
        if (bytes == SIZE_MAX || bytes < 256)
            return reject(res, TP_ATT_R_KEY_MISMATCH, "RSA key shorter than 2048 bits");
    }
    return 0;
}

/* Verifies one compact JWS; on success *claims is a new reference. */
static int verify_compact(const char *tok, size_t len, const tp_att_opts_t *o,
                          tp_att_result_t *res, json_t **claims)
{
    const char *d1, *d2;
    json_t *hdr = NULL, *flat = NULL;
    const json_t *key = NULL, *crit;
    const char *alg;
    int a, rc = 1;
    jerr_t je = {{0}};
    jose_cfg_t *cfg = NULL;
    *claims = NULL;
    if (len == 0 || len > MAX_TOKEN)
        return reject(res, TP_ATT_R_MALFORMED, "token of %zu bytes", len);
    d1 = memchr(tok, '.', len);
    d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok))) {
        size_t dots = 0;
        for (size_t i = 0; i < len; i++)
            dots += tok[i] == '.';
        return reject(res, TP_ATT_R_MALFORMED,
                      "a compact JWS has exactly three segments, this one has %zu",
                      dots + 1);
    }
    if (d1 == tok || d2 == d1 + 1 || !b64url_chars(tok, len))
        return reject(res, TP_ATT_R_MALFORMED,
                      "empty segment or characters outside base64url");
    hdr = decode_object(tok, (size_t)(d1 - tok));
    if (!hdr)
        return reject(res, TP_ATT_R_MALFORMED,
                      "the protected header is not a JSON object (or repeats a key)");
    alg = json_string_value(json_object_get(hdr, "alg"));
    a = tp_jws_alg_parse(alg);
    if (!alg) {
        reject(res, TP_ATT_R_ALG_REJECTED, "no alg in the header");
        goto out;
    }
    if (a < 0 || !(o->algs & (1u << a))) {
        reject(res, TP_ATT_R_ALG_REJECTED,
               "alg \"%.32s\" is not allowed for this verifier", alg);
        goto out;
    }
    if ((crit = json_object_get(hdr, "crit")) != NULL) {
        reject(res, TP_ATT_R_MALFORMED, "crit header parameters are not supported");
        goto out;
    }
    if (d2 + 1 == tok + len) {
        reject(res, TP_ATT_R_MALFORMED, "empty signature");
        goto out;
    }
    cfg = quiet_cfg(&je);
    if (!cfg) {
        reject(res, TP_ATT_R_MALFORMED, "out of memory");
        goto out;
    }
    if (select_key(cfg, hdr, o, res, &key) || bind_key(key, a, res))
        goto out;
    res->test_key = is_test_key(key);
    if (res->test_key && o->deny_test_keys) {
        reject(res, TP_ATT_R_TEST_KEY, "signed with a published test key");
        goto out;
    }
    flat = json_pack("{s:s%,s:s%,s:s%}", "protected", tok, (size_t)(d1 - tok), "payload",
                     d1 + 1, (size_t)(d2 - d1 - 1), "signature", d2 + 1,
                     (size_t)(tok + len - d2 - 1));
    if (!flat || !jose_jws_ver(cfg, flat, NULL, key, false)) {
        reject(res, TP_ATT_R_SIG_INVALID, "bad signature%s%s", je.msg[0] ? ": " : "",
               je.msg);
        goto out;
    }
    *claims = decode_object(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!*claims) {
        reject(res, TP_ATT_R_CLAIMS_INVALID,
               "the claims are not a JSON object (or repeat a key)");
        goto out;
    }
    rc = 0;
out:
    json_decref(flat);
    json_decref(hdr);
    if (cfg)
        jose_cfg_decref(cfg);
    return rc;
}

/* ---- claims
 * ---------------------------------------------------------------------------------- */

/* Badness: contraindicated > none > warning > affirming. */
static int bad(tp_att_status_t s)
{
    switch (s) {
    case TP_ATT_AFFIRMING:
        return 0;
    case TP_ATT_WARNING:
        return 1;
    case TP_ATT_NONE:
        return 2;
    default:
        return 3;
    }
}

static tp_att_status_t worse(tp_att_status_t a, tp_att_status_t b)
{
    return bad(a) >= bad(b) ? a : b;
}

/* An EAR tier value: −1..1 none, 2..31 affirming, 32..95 warning, 96..127
 * contraindicated. -1 (as an int) when out of range. */
static int tier_of(json_int_t v)
{
    if (v >= -1 && v <= 1)
        return TP_ATT_NONE;
    if (v >= 2 && v <= 31)
        return TP_ATT_AFFIRMING;
    if (v >= 32 && v <= 95)
        return TP_ATT_WARNING;
    if (v >= 96 && v <= 127)
        return TP_ATT_CONTRAINDICATED;
    return -1;
}

static const json_t *either(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);
    return v ? v : json_object_get(obj, b);
}

typedef struct {
    int64_t iat, expires_at;
} times_t;

/* iat (required), exp and nbf (optional) must be integers; the lifetime is
 * capped at max_age_s; skew tolerated both ways. */
static int check_times(const json_t *claims, const tp_att_opts_t *o, tp_att_result_t *res,
                       times_t *t)
{
    const json_t *iat = json_object_get(claims, "iat"),
                 *exp = json_object_get(claims, "exp");
    const json_t *nbf = json_object_get(claims, "nbf");
    int64_t lim;
    if (!json_is_integer(iat))
        return reject(res, TP_ATT_R_CLAIMS_INVALID, "iat is %s, not an integer",
                      iat ? "present" : "missing");
    if ((exp && !json_is_integer(exp)) || (nbf && !json_is_integer(nbf)))
        return reject(res, TP_ATT_R_CLAIMS_INVALID, "exp/nbf must be integers");
    t->iat = json_integer_value(iat);
    if (t->iat <= 0)
        return reject(res, TP_ATT_R_CLAIMS_INVALID, "iat %lld", (long long)t->iat);
    if (t->iat > o->now + o->skew_s)
        return reject(res, TP_ATT_R_FUTURE, "issued at %lld, %lld s in the future",
                      (long long)t->iat, (long long)(t->iat - o->now));
    if (nbf && json_integer_value(nbf) > o->now + o->skew_s)
        return reject(res, TP_ATT_R_FUTURE, "not valid before %lld",
                      (long long)json_integer_value(nbf));
    lim = t->iat + o->max_age_s;
    if (exp) {
        if (json_integer_value(exp) <= t->iat)
            return reject(res, TP_ATT_R_CLAIMS_INVALID, "exp is not after iat");
        if (json_integer_value(exp) < lim)
            lim = json_integer_value(exp);
    }
    t->expires_at = lim;
    if (o->now > lim + o->skew_s)
        return reject(res, TP_ATT_R_EXPIRED, "expired at %lld (now %lld)", (long long)lim,
                      (long long)o->now);
    return 0;
}

static int check_issuer(const json_t *claims, const tp_att_opts_t *o,
                        tp_att_result_t *res)
{
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    if (o->issuer && (!iss || strcmp(iss, o->issuer) != 0))
        return reject(res, TP_ATT_R_ISSUER, "issuer \"%.80s\" is not the pinned one",
                      iss ? iss : "(none)");
    return 0;
}

static void set_evidence(tp_att_result_t *res, const json_t *claims, const char *tok,
                         size_t len)
{
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    char tag[72];
    bool ok = jti && jti[0] && strlen(jti) <= 128;
    for (const char *p = jti; ok && *p; p++)
        ok = *p > 0x20 && *p < 0x7f;
    if (ok) {
        res->att.evidence = strdup(jti);
    } else {
        tp_sha256_tag(tok, len, tag);
        res->att.evidence = strdup(tag);
    }
}

typedef enum { C_OTHER, C_CPU, C_GPU } comp_t;

static bool has_prefix_ci(const char *s, const char *p)
{
    return strncasecmp(s, p, strlen(p)) == 0;
}

static bool contains_ci(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++)
        if (!strncasecmp(s, needle, n))
            return true;
    return false;
}

/* What kind of component a submodule is, and its TEE: Trustee names the TEE by
 * the annotated-evidence key, Veraison by the submodule name. */
static comp_t classify(const char *name, const json_t *sm, int *tee, bool *gpu_ok,
                       bool *sample)
{
    const json_t *ev =
        either(sm, "ear.veraison.annotated-evidence", "ear_veraison_annotated_evidence");
    static const struct {
        const char *key;
        int tee;
    } tees[] = {{"tdx", TP_TEE_TDX},
                {"az-tdx-vtpm", TP_TEE_TDX},
                {"snp", TP_TEE_SEV_SNP},
                {"az-snp-vtpm", TP_TEE_SEV_SNP},
                {"cca", TP_TEE_CCA}};
    *tee = TP_TEE_UNKNOWN;
    *gpu_ok = false;
    *sample = false;
    if (json_is_object(ev)) {
        const json_t *nv = json_object_get(ev, "nvidia");
        if (json_is_object(nv)) {
            *gpu_ok = json_is_true(json_object_get(nv, "x-nvidia-overall-att-result"));
            return C_GPU;
        }
        if (json_object_get(ev, "sample")) {
            *sample = true;
            return C_CPU;
        }
        for (size_t i = 0; i < sizeof tees / sizeof tees[0]; i++)
            if (json_object_get(ev, tees[i].key)) {
                *tee = tees[i].tee;
                return C_CPU;
            }
    }
    if (!strcasecmp(name, "NVIDIA") || has_prefix_ci(name, "gpu")) {
        *gpu_ok = true; /* appraised by the verifier; its status decides */
        return C_GPU;
    }
    if (contains_ci(name, "TDX")) {
        *tee = TP_TEE_TDX;
        return C_CPU;
    }
    if (contains_ci(name, "SEVSNP") || contains_ci(name, "SEV-SNP") ||
        contains_ci(name, "SNP")) {
        *tee = TP_TEE_SEV_SNP;
        return C_CPU;
    }
    if (has_prefix_ci(name, "CCA")) {
        *tee = TP_TEE_CCA;
        return C_CPU;
    }
    if (has_prefix_ci(name, "cpu"))
        return C_CPU;
    return C_OTHER;
}

/* One submodule's status: the worse of ear.status and its trust vector. */
static int submod_status(const char *name, const json_t *sm, tp_att_result_t *res,
                         tp_att_status_t *out)
{
    const json_t *st = either(sm, "ear.status", "ear_status");
    const json_t *tv =
        either(sm, "ear.trustworthiness-vector", "ear_trustworthiness_vector");
    tp_att_status_t s = TP_ATT_NONE;
    const char *k;
    const json_t *v;
    bool any = false;
    if (json_is_string(st)) {
        int p = tp_att_status_parse(json_string_value(st));
        if (p < 0)
            return reject(res, TP_ATT_R_CLAIMS_INVALID,
                          "submod \"%.40s\": status \"%.32s\"", name,
                          json_string_value(st));
        s = (tp_att_status_t)p;
        any = true;
    } else if (json_is_integer(st)) {
        int p = tier_of(json_integer_value(st));
        if (p < 0)
            return reject(res, TP_ATT_R_CLAIMS_INVALID,
                          "submod \"%.40s\": status tier %lld", name,
                          (long long)json_integer_value(st));
        s = (tp_att_status_t)p;
        any = true;
    } else if (st) {
        return reject(res, TP_ATT_R_CLAIMS_INVALID,
                      "submod \"%.40s\": status of wrong type", name);
    }
    if (tv && !json_is_object(tv))
        return reject(res, TP_ATT_R_CLAIMS_INVALID, "submod \"%.40s\": trust vector",
                      name);
    json_object_foreach ((json_t *)tv, k, v) {
        int p = json_is_integer(v) ? tier_of(json_integer_value(v)) : -1;
        if (p < 0)
            return reject(res, TP_ATT_R_CLAIMS_INVALID,
                          "submod \"%.40s\": trust claim \"%.40s\" out of range", name,
                          k);
        s = any ? worse(s, (tp_att_status_t)p) : (tp_att_status_t)p;
        any = true;
    }
    *out = any ? s : TP_ATT_NONE;
    return 0;
}

static int ear_normalise(const json_t *claims, const char *tok, size_t len,
                         const tp_att_opts_t *o, tp_att_result_t *res)
{
    const json_t *submods = json_object_get(claims, "submods"), *sm;
    const char *name;
    times_t t;
    tp_att_status_t status = TP_ATT_AFFIRMING;
    int cpu_tee = TP_TEE_UNKNOWN, ncpu = 0, ngpu = 0, gpu_cc = 1;
    bool tee_conflict = false;
    if (check_times(claims, o, res, &t) || check_issuer(claims, o, res))
        return 1;
    if (!json_is_object(submods) || json_object_size(submods) == 0)
        return reject(res, TP_ATT_R_CLAIMS_INVALID,
                      "no submods: not an attestation result");
    if (json_object_size(submods) > 64)
        return reject(res, TP_ATT_R_CLAIMS_INVALID, "%zu submods",
                      json_object_size(submods));
    json_object_foreach ((json_t *)submods, name, sm) {
        tp_att_status_t s = TP_ATT_NONE;
        int tee;
        bool gpu_ok, sample;
        comp_t c;
        if (!json_is_object(sm))
            return reject(res, TP_ATT_R_CLAIMS_INVALID,
                          "submod \"%.40s\" is not an object", name);
        if (submod_status(name, sm, res, &s))
            return 1;
        c = classify(name, sm, &tee, &gpu_ok, &sample);
        if (sample)
            return reject(res, TP_ATT_R_TEST_TEE,
                          "submod \"%.40s\" appraised the 'sample' test TEE", name);
        status = worse(status, s);
        if (c == C_CPU) {
            ncpu++;
            if (tee != TP_TEE_UNKNOWN) {
                if (cpu_tee != TP_TEE_UNKNOWN && cpu_tee != tee)
                    tee_conflict = true;
                cpu_tee = tee;
            }
        } else if (c == C_GPU) {
            ngpu++;
            if (!gpu_ok || bad(s) >= 2)
                gpu_cc = 0;
        }
        res->components++;
    }
    if ((o->require & TP_ATT_REQ_CPU) && ncpu == 0)
        status = worse(status, TP_ATT_NONE);
    if ((o->require & TP_ATT_REQ_GPU) && ngpu == 0)
        status = worse(status, TP_ATT_NONE);
    res->att.present = true;
    res->att.status = status;
    res->att.cpu_tee = tee_conflict ? TP_TEE_UNKNOWN : (tp_tee_t)cpu_tee;
    res->att.gpu_cc = ngpu ? gpu_cc : -1;
    res->att.issued_at = t.iat;
    res->att.expires_at = t.expires_at;
    set_evidence(res, claims, tok, len);
    if (o->verifier)
        res->att.verifier = strdup(o->verifier);
    return 0;
}

/* ---- NVIDIA NRAS
 * ------------------------------------------------------------------------------ */

/* Any member (at any depth) named *-signature-verified, *-nonce-match or
 * *-arch-check that is false. */
static bool nras_any_false(const json_t *obj, int depth)
{
    static const char *const sfx[] = {"-signature-verified", "-nonce-match",
                                      "-arch-check"};
    const char *k;
    const json_t *v;
    if (depth > 4)
        return true;
    json_object_foreach ((json_t *)obj, k, v) {
        size_t kl = strlen(k);
        if (json_is_object(v) && nras_any_false(v, depth + 1))
            return true;
        for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
            size_t sl = strlen(sfx[i]);
            if (kl >= sl && !strcmp(k + kl - sl, sfx[i]) && !json_is_true(v))
                return true;
        }
    }
    return false;
}

static tp_att_status_t nras_gpu_status(const json_t *c)
{
    const char *measres = json_string_value(json_object_get(c, "measres"));
    const char *dbg = json_string_value(json_object_get(c, "dbgstat"));
    if (!measres || strcmp(measres, "success") != 0 ||
        !json_is_true(json_object_get(c, "secboot")) || !dbg ||
        strcmp(dbg, "disabled") != 0 || nras_any_false(c, 0))
        return TP_ATT_CONTRAINDICATED;
    if (json_object_get(c, "x-nvidia-attestation-warning"))
        return TP_ATT_WARNING;
    return TP_ATT_AFFIRMING;
}

static int nras_verify(const json_t *arr, const tp_att_opts_t *o, tp_att_result_t *res)
{
    const json_t *head = json_array_get(arr, 0), *gpus = json_array_get(arr, 1), *g,
                 *digests;
    const char *overall = json_string_value(json_array_get(head, 1)), *label, *nonce;
    json_t *oc = NULL;
    times_t t;
    tp_att_status_t status = TP_ATT_AFFIRMING;
    int rc = 1;
    if (json_array_size(arr) != 2 || json_array_size(head) != 2 ||
        strcmp(json_string_value(json_array_get(head, 0))
                   ? json_string_value(json_array_get(head, 0))
                   : "",
               "JWT") != 0 ||
        !overall || !json_is_object(gpus))
        return reject(res, TP_ATT_R_MALFORMED,
                      "not an NRAS response [[\"JWT\", token], {…}]");
    if (json_object_size(gpus) == 0 || json_object_size(gpus) > MAX_NRAS_GPUS)
        return reject(res, TP_ATT_R_MALFORMED, "%zu GPU tokens", json_object_size(gpus));
    if (verify_compact(overall, strlen(overall), o, res, &oc) ||
        check_times(oc, o, res, &t) || check_issuer(oc, o, res))
        goto out;
    nonce = json_string_value(json_object_get(oc, "eat_nonce"));
    digests = json_object_get(oc, "submods");
    if (!json_is_object(digests) || json_object_size(digests) != json_object_size(gpus)) {
        reject(res, TP_ATT_R_DIGEST,
               "the overall token lists %zu GPUs, the response has %zu",
               json_object_size(digests), json_object_size(gpus));
        goto out;
    }
    if (!json_is_true(json_object_get(oc, "x-nvidia-overall-att-result")))
        status = TP_ATT_CONTRAINDICATED;
    json_object_foreach ((json_t *)gpus, label, g) {
        const char *tok = json_string_value(g);
        const json_t *d = json_object_get(digests, label);
        const char *want = json_string_value(json_array_get(json_array_get(d, 1), 1));
        const char *gn;
        char tag[72];
        json_t *gc = NULL;
        times_t gt;
        if (!tok) {
            reject(res, TP_ATT_R_MALFORMED, "GPU \"%.32s\": token is not a string",
                   label);
            goto out;
        }
        tp_sha256_tag(tok, strlen(tok), tag);
        if (!want || strcasecmp(want, tag + 7) != 0 ||
            strcmp(json_string_value(json_array_get(d, 0))
                       ? json_string_value(json_array_get(d, 0))
                       : "",
                   "DIGEST") != 0) {
            reject(res, TP_ATT_R_DIGEST,
                   "GPU \"%.32s\": digest does not match the overall token", label);
            goto out;
        }
        if (verify_compact(tok, strlen(tok), o, res, &gc) ||
            check_times(gc, o, res, &gt) || check_issuer(gc, o, res)) {
            json_decref(gc);
            goto out;
        }
        gn = json_string_value(json_object_get(gc, "eat_nonce"));
        if ((nonce || gn) && (!nonce || !gn || strcmp(nonce, gn) != 0)) {
            json_decref(gc);
            reject(res, TP_ATT_R_NONCE, "GPU \"%.32s\": eat_nonce differs", label);
            goto out;
        }
        status = worse(status, nras_gpu_status(gc));
        if (gt.expires_at < t.expires_at)
            t.expires_at = gt.expires_at;
        res->components++;
        json_decref(gc);
    }
    if (o->require & TP_ATT_REQ_CPU)
        status = worse(status, TP_ATT_NONE); /* NRAS says nothing about the CPU */
    res->att.present = true;
    res->att.status = status;
    res->att.cpu_tee = TP_TEE_UNKNOWN;
    res->att.gpu_cc = bad(status) == 3 ? 0 : 1;
    res->att.issued_at = t.iat;
    res->att.expires_at = t.expires_at;
    set_evidence(res, oc, overall, strlen(overall));
    if (o->verifier)
        res->att.verifier = strdup(o->verifier);
    rc = 0;
out:
    json_decref(oc);
    return rc;
}

/* ---- entry points
 * ------------------------------------------------------------------------------ */

static const char *const carrier_keys[] = {
    "token", "jwt", "ear", "eat", "attestation_result", NULL};

int tp_att_verify(const char *body, size_t len, const tp_att_opts_t *o,
                  tp_att_result_t *res)
{
    size_t b = 0, e = len;
    json_t *doc = NULL, *claims = NULL;
    int rc;
    memset(res, 0, sizeof *res);
    res->att.cpu_tee = TP_TEE_UNKNOWN;
    res->att.gpu_cc = -1;
    if (!body || len == 0 || len > MAX_TOKEN + 4096) {
        snprintf(res->detail, sizeof res->detail, "empty or oversized body (%zu bytes)",
                 len);
        return TP_EINVAL;
    }
    while (b < e && isspace((unsigned char)body[b]))
        b++;
    while (e > b && isspace((unsigned char)body[e - 1]))
        e--;
    if (b < e && (body[b] == '{' || body[b] == '[')) {
        json_error_t jerr;
        doc = json_loadb(body + b, e - b, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc) {
            snprintf(res->detail, sizeof res->detail, "JSON body: %s (line %d)",
                     jerr.text, jerr.line);
            return TP_EINVAL;
        }
        if (json_is_array(doc)) {
            rc = nras_verify(doc, o, res);
            json_decref(doc);
            return rc;
        }
        for (int i = 0; carrier_keys[i]; i++) {
            const char *tok = json_string_value(json_object_get(doc, carrier_keys[i]));
            if (tok) {
                rc = tp_att_verify(tok, strlen(tok), o, res);
                json_decref(doc);
                return rc;
            }
        }
        json_decref(doc);
        snprintf(
            res->detail, sizeof res->detail,
            "a JSON body must carry the token as \"token\", \"jwt\", \"ear\", \"eat\" or "
            "\"attestation_result\"");
        return TP_EINVAL;
    }
    if (!memchr(body + b, '.', e - b)) {
        snprintf(res->detail, sizeof res->detail, "neither a compact JWS nor JSON");
        return TP_EINVAL;
    }
    if (verify_compact(body + b, e - b, o, res, &claims))
        return 1;
    rc = ear_normalise(claims, body + b, e - b, o, res);
    json_decref(claims);
    if (rc)
        tp_att_result_fini(res);
    return rc;
}

json_t *tp_jwks_parse(const char *text, size_t len, const char *name, tp_error_t *err)
{
    static const char *const private_members[] = {"d",  "p",  "q", "dp",
                                                  "dq", "qi", "k", NULL};
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *keys, *k;
    size_t i;
    if (!doc) {
        tp_error_set(err, TP_EPARSE, "%s:%d:%d: %s", name, jerr.line, jerr.column,
                     jerr.text);
        return NULL;
    }
    if (json_is_object(doc) && json_object_get(doc, "kty")) {
        json_t *wrap = json_pack("{s:[o]}", "keys", doc);
        doc = wrap;
        if (!doc) {
            tp_error_set(err, TP_ENOMEM, "%s: out of memory", name);
            return NULL;
        }
    }
    keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        tp_error_set(err, TP_EINVAL, "%s: expected a JWKS {\"keys\": [...]} or one JWK",
                     name);
        goto fail;
    }
    json_array_foreach (keys, i, k) {
        const char *kty = json_string_value(json_object_get(k, "kty"));
        if (!json_is_object(k) || !kty) {
            tp_error_set(err, TP_EINVAL, "%s: $.keys[%zu]: not a JWK", name, i);
            goto fail;
        }
        if (!strcmp(kty, "oct")) {
            tp_error_set(err, TP_EINVAL,
                         "%s: $.keys[%zu]: symmetric keys are not allowed", name, i);
            goto fail;
        }
        for (int m = 0; private_members[m]; m++)
            if (json_object_get(k, private_members[m])) {
                tp_error_set(err, TP_EINVAL,
                             "%s: $.keys[%zu]: holds private key material (\"%s\")", name,
                             i, private_members[m]);
                goto fail;
            }
    }
    return doc;
fail:
    json_decref(doc);
    return NULL;
}

void *tp_att_roots_load(const char *path, tp_error_t *err)
{
    X509_STORE *st = X509_STORE_new();
    if (!st || X509_STORE_load_file(st, path) != 1) {
        X509_STORE_free(st);
        tp_error_set(err, TP_EIO, "%s: cannot load PEM certificates", path);
        return NULL;
    }
    return st;
}

void tp_att_roots_free(void *roots)
{
    X509_STORE_free(roots);
}

json_t *tp_attestation_to_json(const tp_attestation_t *a)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "status", json_string(tp_att_status_name(a->status)));
    json_object_set_new(o, "cpu_tee",
                        a->cpu_tee == TP_TEE_UNKNOWN
                            ? json_null()
                            : json_string(tp_tee_name(a->cpu_tee)));
    json_object_set_new(o, "gpu_cc",
                        a->gpu_cc < 0 ? json_null() : json_boolean(a->gpu_cc));
    json_object_set_new(o, "issued_at", json_integer(a->issued_at));
    json_object_set_new(o, "expires_at", json_integer(a->expires_at));
    if (a->verifier)
        json_object_set_new(o, "verifier", json_string(a->verifier));
    if (a->evidence)
        json_object_set_new(o, "evidence", json_string(a->evidence));
    return o;
}
