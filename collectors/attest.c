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
#include <openssl/rand.h>
#include <openssl/x509v3.h>
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

/* Decodes an x5c array (standard base64 DER, leaf first) into certs[]; the
 * number decoded, or 0 when any entry is not a certificate. */
static size_t load_x5c(const json_t *x5c, X509 *certs[MAX_X5C])
{
    size_t n = json_array_size(x5c);
    if (!json_is_array(x5c) || n == 0 || n > MAX_X5C)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const char *b64 = json_string_value(json_array_get(x5c, i));
        size_t len = b64 ? strlen(b64) : 0;
        unsigned char *der;
        const unsigned char *p;
        int dl;
        if (!len || len > 64 * 1024 || len % 4 != 0)
            goto fail;
        der = malloc(len);
        if (!der)
            goto fail;
        dl = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)len);
        /* EVP_DecodeBlock counts the padding as zero bytes; d2i stops at the
         * end of the DER structure, and trailing bytes are refused below. */
        p = der;
        if (dl > 0)
            certs[i] = d2i_X509(NULL, &p, dl);
        if (certs[i] && (p - der) < dl - 2)
            X509_free(certs[i]), certs[i] = NULL;
        free(der);
        if (!certs[i])
            goto fail;
    }
    return n;
fail:
    for (size_t i = 0; i < MAX_X5C; i++) {
        X509_free(certs[i]);
        certs[i] = NULL;
    }
    return 0;
}

static void free_x5c(X509 *certs[MAX_X5C])
{
    for (size_t i = 0; i < MAX_X5C; i++) {
        X509_free(certs[i]);
        certs[i] = NULL;
    }
}

/* Whether a certificate may stand for a signing key: keyUsage, when present,
 * includes digitalSignature (leaf only); an extendedKeyUsage, when present,
 * names a signing purpose (any, code signing, e-mail protection, time
 * stamping or document signing), so a TLS-only (serverAuth/clientAuth)
 * certificate never signs attestation results. */
static bool cert_may_sign(X509 *x, bool leaf)
{
    uint32_t flags = X509_get_extension_flags(x);
    EXTENDED_KEY_USAGE *eku;
    bool ok = false;
    if (flags & EXFLAG_INVALID)
        return false;
    if (leaf && (flags & EXFLAG_KUSAGE) &&
        !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE))
        return false;
    if (!(flags & EXFLAG_XKUSAGE))
        return true;
    if (X509_get_extended_key_usage(x) &
        (XKU_ANYEKU | XKU_CODE_SIGN | XKU_SMIME | XKU_TIMESTAMP))
        return true;
    eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
    for (int i = 0; eku && !ok && i < sk_ASN1_OBJECT_num(eku); i++) {
        char oid[64];
        OBJ_obj2txt(oid, sizeof oid, sk_ASN1_OBJECT_value(eku, i), 1);
        ok = !strcmp(oid, "1.3.6.1.5.5.7.3.36"); /* id-kp-documentSigning */
    }
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    return ok;
}

/* Does the header's x5c chain to a configured root, for a signing purpose,
 * with the leaf's key equal to jwk? */
static bool chains_to_root(jose_cfg_t *cfg, const json_t *x5c, const json_t *jwk,
                           const tp_att_opts_t *o)
{
    X509 *certs[MAX_X5C] = {NULL};
    STACK_OF(X509) *untrusted = NULL;
    X509_STORE_CTX *ctx = NULL;
    EVP_PKEY *want = NULL;
    size_t n;
    bool ok = false;
    if (!o->roots || !jwk || (n = load_x5c(x5c, certs)) == 0)
        return false;
    untrusted = sk_X509_new_null();
    for (size_t i = 1; untrusted && i < n; i++)
        sk_X509_push(untrusted, certs[i]);
    ctx = X509_STORE_CTX_new();
    if (!untrusted || !ctx || !X509_STORE_CTX_init(ctx, o->roots, certs[0], untrusted))
        goto out;
    X509_STORE_CTX_set_time(ctx, 0, (time_t)o->now);
    if (X509_verify_cert(ctx) != 1)
        goto out;
    {
        STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
        int len = sk_X509_num(chain);
        /* Every certificate below the anchor must allow signing. */
        for (int i = 0; i < len - 1; i++)
            if (!cert_may_sign(sk_X509_value(chain, i), i == 0))
                goto out;
    }
    want = jose_openssl_jwk_to_EVP_PKEY(cfg, jwk);
    ok = want && EVP_PKEY_eq(X509_get0_pubkey(certs[0]), want) == 1;
out:
    EVP_PKEY_free(want);
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    free_x5c(certs);
    return ok;
}

/* A pinned JWK as it may be used: when it carries x5c, the leaf certificate
 * must allow signing and, where the JWK also gives n/e or x/y, hold the same
 * key; a JWK given only as x5c gets its key from the leaf. New reference, or
 * NULL with res set. */
static json_t *materialise_key(jose_cfg_t *cfg, const json_t *k, tp_att_result_t *res)
{
    const json_t *x5c = json_object_get(k, "x5c");
    const char *kty = json_string_value(json_object_get(k, "kty"));
    X509 *certs[MAX_X5C] = {NULL};
    json_t *leafk = NULL, *out = NULL;
    bool has_pub;
    if (!x5c)
        return json_deep_copy(k);
    if (!load_x5c(x5c, certs)) {
        reject(res, TP_ATT_R_KEY_MISMATCH,
               "the pinned key's x5c is not a certificate list");
        return NULL;
    }
    if (!cert_may_sign(certs[0], true)) {
        reject(res, TP_ATT_R_KEY_MISMATCH,
               "the pinned key's certificate does not allow digital signatures "
               "(keyUsage/extendedKeyUsage)");
        goto out;
    }
    leafk = jose_openssl_jwk_from_EVP_PKEY(cfg, X509_get0_pubkey(certs[0]));
    if (!leafk) {
        reject(res, TP_ATT_R_KEY_MISMATCH,
               "the pinned key's certificate holds no usable key");
        goto out;
    }
    has_pub = kty && !strcmp(kty, "RSA")
                  ? json_object_get(k, "n") || json_object_get(k, "e")
                  : json_object_get(k, "x") || json_object_get(k, "y");
    if (has_pub) {
        if (!same_key(cfg, k, leafk)) {
            reject(res, TP_ATT_R_KEY_MISMATCH,
                   "the pinned key differs from the key of its own x5c certificate");
            goto out;
        }
        out = json_deep_copy(k);
    } else {
        const char *lkty = json_string_value(json_object_get(leafk, "kty"));
        if (kty && (!lkty || strcmp(kty, lkty) != 0)) {
            reject(res, TP_ATT_R_KEY_MISMATCH,
                   "kty %s, but the certificate holds a %s key", kty,
                   lkty ? lkty : "other");
            goto out;
        }
        out = json_deep_copy(k);
        if (out && json_object_update(out, leafk) < 0) {
            json_decref(out);
            out = NULL;
        }
    }
    if (!out)
        reject(res, TP_ATT_R_MALFORMED, "out of memory");
out:
    json_decref(leafk);
    free_x5c(certs);
    return out;
}

/* Whether a pinned key is listed for this algorithm: its own alg (when set)
 * names it, and its kty/crv suit it. */
static bool key_for_alg(const json_t *k, int alg)
{
    const char *kty = json_string_value(json_object_get(k, "kty"));
    const char *crv = json_string_value(json_object_get(k, "crv"));
    const char *kalg = json_string_value(json_object_get(k, "alg"));
    if (kalg && strcmp(kalg, alg_table[alg].name) != 0)
        return false;
    if (!kty || strcmp(kty, alg_table[alg].kty) != 0)
        return false;
    return !alg_table[alg].crv || (crv && !strcmp(crv, alg_table[alg].crv));
}

/* The pinned keys listed under kid (any kid when kid is NULL) that suit alg,
 * materialised; when they are all one key, *key is it (new reference). Real
 * JWKS list one key once per algorithm under one kid: that is one key. Two
 * different keys are ambiguous and refused. */
static int pick_pinned(jose_cfg_t *cfg, const json_t *keys, const char *kid, int alg,
                       tp_att_result_t *res, json_t **key, size_t *named)
{
    size_t i;
    const json_t *k, *only = NULL;
    *named = 0;
    json_array_foreach (keys, i, k) {
        const char *kk = json_string_value(json_object_get(k, "kid"));
        json_t *m;
        if (kid && (!kk || strcmp(kk, kid) != 0))
            continue;
        (*named)++;
        only = k;
        if (!key_for_alg(k, alg))
            continue;
        if (!(m = materialise_key(cfg, k, res))) {
            json_decref(*key);
            *key = NULL;
            return 1;
        }
        if (!*key) {
            *key = m;
        } else {
            bool same = same_key(cfg, *key, m);
            json_decref(m);
            if (!same) {
                json_decref(*key);
                *key = NULL;
                if (kid)
                    return reject(res, TP_ATT_R_KID_UNKNOWN,
                                  "kid \"%.64s\" names different pinned keys for %s", kid,
                                  alg_table[alg].name);
                return reject(res, TP_ATT_R_KID_MISSING,
                              "no kid in the header and several pinned keys for %s",
                              alg_table[alg].name);
            }
        }
    }
    /* One key under that name that does not suit alg: say why (bind_key). */
    if (!*key && *named == 1 && !(*key = materialise_key(cfg, only, res)))
        return 1;
    return 0;
}

/* Chooses the one key that may verify this token (*key: new reference). */
static int select_key(jose_cfg_t *cfg, const json_t *hdr, int alg, const tp_att_opts_t *o,
                      tp_att_result_t *res, json_t **key)
{
    const json_t *kidv = json_object_get(hdr, "kid"), *hjwk = json_object_get(hdr, "jwk");
    const json_t *keys = json_object_get(o->jwks, "keys"), *k, *x5c;
    const char *kid = json_string_value(kidv);
    size_t i, named = 0;
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
        if (pick_pinned(cfg, keys, kid, alg, res, key, &named))
            return 1;
        if (named == 0) {
            if (hjwk && chains_to_root(cfg, x5c, hjwk, o)) {
                *key = json_deep_copy(hjwk);
                return 0;
            }
            if (hjwk)
                return reject(
                    res, TP_ATT_R_HEADER_KEY_UNTRUSTED,
                    "kid \"%.64s\" is not pinned and the header key does not chain "
                    "to a configured root (for signing)",
                    kid);
            return reject(res, TP_ATT_R_KID_UNKNOWN, "kid \"%.64s\" is not in the JWKS",
                          kid);
        }
        if (!*key)
            return reject(res, TP_ATT_R_KEY_MISMATCH,
                          "no key under kid \"%.64s\" suits %s", kid,
                          alg_table[alg].name);
        if (hjwk && !same_key(cfg, hjwk, *key)) {
            json_decref(*key);
            *key = NULL;
            return reject(res, TP_ATT_R_HEADER_KEY_UNTRUSTED,
                          "header jwk differs from the pinned key \"%.64s\"", kid);
        }
        return 0;
    }
    if (hjwk) {
        json_array_foreach (keys, i, k) {
            json_t *m = materialise_key(cfg, k, res);
            if (m && same_key(cfg, hjwk, m)) {
                *key = m;
                res->reason = TP_ATT_R_OK;
                res->detail[0] = '\0';
                return 0;
            }
            json_decref(m);
        }
        res->reason = TP_ATT_R_OK;
        if (chains_to_root(cfg, x5c, hjwk, o)) {
            *key = json_deep_copy(hjwk);
            return 0;
        }
        return reject(res, TP_ATT_R_HEADER_KEY_UNTRUSTED,
                      "the header carries a key that is neither pinned nor chained to a "
                      "configured root (for signing)");
    }
    if (json_array_size(keys) == 0)
        return reject(res, TP_ATT_R_KID_UNKNOWN, "no pinned keys");
    if (pick_pinned(cfg, keys, NULL, alg, res, key, &named))
        return 1;
    if (!*key)
        return reject(res, TP_ATT_R_KID_MISSING,
                      "no kid in the header and no pinned key suits %s",
                      alg_table[alg].name);
    return 0;
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
        /* Bits of the modulus, not bytes: a 2041-bit modulus still takes 256
         * bytes. */
        EVP_PKEY *pk = jose_openssl_jwk_to_EVP_PKEY(NULL, key);
        int bits = pk ? EVP_PKEY_get_bits(pk) : 0;
        EVP_PKEY_free(pk);
        if (bits < 2048)
            return reject(res, TP_ATT_R_KEY_MISMATCH,
                          "RSA key of %d bits; at least 2048 are required", bits);
    }
    return 0;
}

/* Verifies one compact JWS; on success *claims is a new reference. */
static int verify_compact(const char *tok, size_t len, const tp_att_opts_t *o,
                          tp_att_result_t *res, json_t **claims)
{
    const char *d1, *d2;
    json_t *hdr = NULL, *flat = NULL;
    json_t *key = NULL;
    const json_t *crit;
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
    if (select_key(cfg, hdr, a, o, res, &key) || bind_key(key, a, res))
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
    json_decref(key);
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

/* One status source: a status name or an EAR tier. 0, or 1 with res set. */
static int status_value(const char *name, const json_t *st, tp_att_result_t *res,
                        tp_att_status_t *out)
{
    int p;
    if (json_is_string(st)) {
        p = tp_att_status_parse(json_string_value(st));
        if (p < 0)
            return reject(res, TP_ATT_R_CLAIMS_INVALID,
                          "submod \"%.40s\": status \"%.32s\"", name,
                          json_string_value(st));
    } else if (json_is_integer(st)) {
        p = tier_of(json_integer_value(st));
        if (p < 0)
            return reject(res, TP_ATT_R_CLAIMS_INVALID,
                          "submod \"%.40s\": status tier %lld", name,
                          (long long)json_integer_value(st));
    } else {
        return reject(res, TP_ATT_R_CLAIMS_INVALID,
                      "submod \"%.40s\": status of wrong type", name);
    }
    *out = (tp_att_status_t)p;
    return 0;
}

/* One submodule's status: the worst of every status source it carries, in
 * either spelling (ear.status and ear_status, both trust vectors), never the
 * first one found. */
static int submod_status(const char *name, const json_t *sm, tp_att_result_t *res,
                         tp_att_status_t *out)
{
    static const char *const st_keys[] = {"ear.status", "ear_status"};
    static const char *const tv_keys[] = {"ear.trustworthiness-vector",
                                          "ear_trustworthiness_vector"};
    tp_att_status_t s = TP_ATT_AFFIRMING, p = TP_ATT_NONE;
    const char *k;
    const json_t *v;
    bool any = false;
    for (size_t i = 0; i < 2; i++) {
        const json_t *st = json_object_get(sm, st_keys[i]);
        const json_t *tv = json_object_get(sm, tv_keys[i]);
        if (st) {
            if (status_value(name, st, res, &p))
                return 1;
            s = any ? worse(s, p) : p;
            any = true;
        }
        if (tv && !json_is_object(tv))
            return reject(res, TP_ATT_R_CLAIMS_INVALID, "submod \"%.40s\": trust vector",
                          name);
        json_object_foreach ((json_t *)tv, k, v) {
            int t = json_is_integer(v) ? tier_of(json_integer_value(v)) : -1;
            if (t < 0)
                return reject(res, TP_ATT_R_CLAIMS_INVALID,
                              "submod \"%.40s\": trust claim \"%.40s\" out of range",
                              name, k);
            /* 0 is "no claim" (Trustee writes it for every claim its policy
             * leaves unset; Veraison's UpdateStatusFromTrustVector skips the
             * none tier): it cannot lower the status. The other none-tier
             * values, -1 (verifier malfunction) and 1 (unexpected evidence),
             * still do. */
            if (json_integer_value(v) == 0)
                continue;
            s = any ? worse(s, (tp_att_status_t)t) : (tp_att_status_t)t;
            any = true;
        }
    }
    *out = any ? s : TP_ATT_NONE;
    return 0;
}

/* EAR profiles whose claims this normaliser reads. */
static const char *const ear_profiles[] = {
    "tag:github.com,2022:veraison/ear", "tag:github.com,2023:veraison/ear",
    "tag:github.com,2024:confidential-containers/Trustee",
    "tag:ietf.org,2026:rats/ear#03", NULL};

/* An EAR names its profile and its verifier; pinned ones must match. */
static int check_ear_identity(const json_t *claims, const tp_att_opts_t *o,
                              tp_att_result_t *res)
{
    const char *prof = json_string_value(json_object_get(claims, "eat_profile"));
    const json_t *vid = either(claims, "ear.verifier-id", "ear_verifier_id");
    const char *dev = json_string_value(json_object_get(vid, "developer"));
    const char *build = json_string_value(json_object_get(vid, "build"));
    bool known = false;
    if (json_object_get(claims, "ear.verifier-id") &&
        json_object_get(claims, "ear_verifier_id"))
        return reject(res, TP_ATT_R_CLAIMS_INVALID,
                      "both ear.verifier-id and ear_verifier_id: which verifier?");
    for (int i = 0; prof && ear_profiles[i]; i++)
        known |= !strcmp(prof, ear_profiles[i]);
    if (!known)
        return reject(res, TP_ATT_R_PROFILE,
                      prof ? "eat_profile \"%.80s\" is not a known EAR profile"
                           : "no eat_profile: not an EAR%.0s",
                      prof ? prof : "");
    if (!json_is_object(vid) || !dev || !build)
        return reject(res, TP_ATT_R_PROFILE,
                      "no ear.verifier-id {developer, build}: which verifier?");
    if (o->verifier_developer && strcmp(dev, o->verifier_developer) != 0)
        return reject(res, TP_ATT_R_ISSUER,
                      "verifier developer \"%.80s\" is not the pinned one", dev);
    if (o->verifier_build && strcmp(build, o->verifier_build) != 0)
        return reject(res, TP_ATT_R_ISSUER,
                      "verifier build \"%.80s\" is not the pinned one", build);
    return 0;
}

/* The relying-party nonce, when one was sent, must come back. */
static int check_nonce(const json_t *claims, const tp_att_opts_t *o, tp_att_result_t *res)
{
    const json_t *n = json_object_get(claims, "eat_nonce");
    if (!n)
        n = json_object_get(claims, "nonce");
    if (!o->nonce)
        return 0;
    if (!json_is_string(n))
        return reject(res, TP_ATT_R_NONCE, "a nonce was sent and none came back");
    if (strcmp(json_string_value(n), o->nonce) != 0)
        return reject(res, TP_ATT_R_NONCE,
                      "the nonce that came back is not the one sent");
    return 0;
}

/* A claim by name, or by JSON pointer ("/a/b", ~0 and ~1 escapes). */
static const json_t *claim_at(const json_t *claims, const char *path)
{
    const json_t *v = claims;
    char seg[128];
    if (!path || path[0] != '/')
        return json_object_get(claims, path ? path : "sub");
    while (v && *path == '/') {
        size_t n = 0;
        path++;
        while (*path && *path != '/' && n + 1 < sizeof seg) {
            if (path[0] == '~' && (path[1] == '0' || path[1] == '1')) {
                seg[n++] = path[1] == '0' ? '~' : '/';
                path += 2;
            } else {
                seg[n++] = *path++;
            }
        }
        if (*path && *path != '/')
            return NULL; /* segment too long */
        seg[n] = '\0';
        v = json_is_object(v) ? json_object_get(v, seg) : NULL;
    }
    return v;
}

/* Whether id names the node: one of its identities, or (by_name) its id. */
static bool node_names(const tp_att_opts_t *o, const char *id, bool by_name)
{
    if (by_name && o->node_id && !strcmp(id, o->node_id))
        return true;
    for (size_t i = 0; i < o->n_node_ids; i++)
        if (o->node_ids[i] && !strcmp(id, o->node_ids[i]))
            return true;
    return false;
}

/* UEIDs named in a claims-set: top-level and in EAR submods (copied: the
 * claims of an NRAS GPU token are freed before the binding is decided). */
typedef struct {
    char v[MAX_NRAS_GPUS + 16][128];
    size_t n;
    bool bad;
    bool missing; /* an NRAS GPU token named no UEID: the node is not named */
} ueids_t;

static void collect_ueids(const json_t *claims, ueids_t *u, int depth)
{
    const json_t *top = json_object_get(claims, "ueid"), *sm;
    const char *name;
    if (top) {
        if (!json_is_string(top) || json_string_length(top) >= sizeof u->v[0] ||
            u->n == sizeof u->v / sizeof u->v[0])
            u->bad = true;
        else
            snprintf(u->v[u->n++], sizeof u->v[0], "%s", json_string_value(top));
    }
    if (depth > 2) {
        u->bad = u->bad || json_object_get(claims, "submods") != NULL;
        return;
    }
    json_object_foreach ((json_t *)json_object_get(claims, "submods"), name, sm)
        if (json_is_object(sm))
            collect_ueids(sm, u, depth + 1);
}

/* Binds a normalised result to the node it was fetched for: 0 bound (or
 * nothing to bind with, res->unbound set), 1 rejected (another node). */
static int bind_node(const json_t *claims, const ueids_t *extra, const tp_att_opts_t *o,
                     tp_att_result_t *res)
{
    if (o->bind == TP_ATT_BIND_NONE || o->bind == TP_ATT_BIND_URL)
        return 0;
    if (!o->node_id) {
        res->unbound = true;
        return 0;
    }
    if (o->bind == TP_ATT_BIND_CLAIM) {
        const json_t *v = claim_at(claims, o->node_claim);
        const char *name = o->node_claim ? o->node_claim : "sub";
        if (!v) {
            res->unbound = true;
            return 0;
        }
        if (!json_is_string(v))
            return reject(res, TP_ATT_R_NODE, "claim %.60s is not a string", name);
        if (!node_names(o, json_string_value(v), true))
            return reject(res, TP_ATT_R_NODE,
                          "claim %.60s is \"%.60s\": issued for another node, not %.60s",
                          name, json_string_value(v), o->node_id);
        return 0;
    }
    {
        ueids_t own;
        const ueids_t *u = extra;
        if (!u) {
            own.n = 0;
            own.bad = own.missing = false;
            collect_ueids(claims, &own, 0);
            u = &own;
        }
        if (u->bad)
            return reject(res, TP_ATT_R_NODE,
                          "a ueid claim is not a string (or too many)");
        if (u->n == 0 || u->missing) {
            res->unbound = true;
            return 0;
        }
        for (size_t i = 0; i < u->n; i++)
            if (!node_names(o, u->v[i], false))
                return reject(res, TP_ATT_R_NODE, "ueid %.60s is not one of node %.60s's",
                              u->v[i], o->node_id);
    }
    return 0;
}

/* Writes the accepted result. A none or contraindicated status attests no TEE
 * and no CC (nothing is copied out of it); an unbound result is none. */
static void finish(tp_att_result_t *res, const tp_att_opts_t *o, tp_att_status_t status,
                   int cpu_tee, int gpu_cc, const times_t *t, const json_t *claims,
                   const char *tok, size_t len)
{
    if (res->unbound)
        status = worse(status, TP_ATT_NONE);
    res->att.present = true;
    res->att.status = status;
    if (bad(status) >= 2) {
        cpu_tee = TP_TEE_UNKNOWN;
        gpu_cc = gpu_cc < 0 ? -1 : 0;
        if (res->unbound)
            gpu_cc = -1;
    }
    res->att.cpu_tee = (tp_tee_t)cpu_tee;
    res->att.gpu_cc = gpu_cc;
    res->att.issued_at = t->iat;
    res->att.expires_at = t->expires_at;
    set_evidence(res, claims, tok, len);
    if (o->verifier)
        res->att.verifier = strdup(o->verifier);
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
    if (check_times(claims, o, res, &t) || check_issuer(claims, o, res) ||
        check_ear_identity(claims, o, res) || check_nonce(claims, o, res))
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
    if (bind_node(claims, NULL, o, res))
        return 1;
    finish(res, o, status, tee_conflict ? TP_TEE_UNKNOWN : cpu_tee, ngpu ? gpu_cc : -1,
           &t, claims, tok, len);
    return 0;
}

/* ---- NVIDIA NRAS
 * ------------------------------------------------------------------------------ */

/* Any member (at any depth) named like one of NRAS's checks (*-verified,
 * *-match, *-arch-check, *-validated, *-fetched, *-no-conflict, *-available,
 * *-parsed) that is not true. */
static bool nras_any_false(const json_t *obj, int depth)
{
    /* Every check NRAS reports: "-match" covers nonce, version, fwid and
     * measurements (measres alone is not trusted to say so). */
    static const char *const sfx[] = {"-verified",  "-match",   "-arch-check",
                                      "-validated", "-fetched", "-no-conflict",
                                      "-available", "-parsed"};
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
    /* Real NRAS tokens carry the key with null: only a value is a warning. */
    {
        const json_t *w = json_object_get(c, "x-nvidia-attestation-warning");
        if (w && !json_is_null(w) && !(json_is_string(w) && json_string_length(w) == 0))
            return TP_ATT_WARNING;
    }
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
    ueids_t u;
    int rc = 1;
    u.n = 0;
    u.bad = u.missing = false;
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
        check_times(oc, o, res, &t) || check_issuer(oc, o, res) ||
        check_nonce(oc, o, res))
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
        if (!json_object_get(gc, "ueid"))
            u.missing = true;
        collect_ueids(gc, &u, 2);
        if (gt.expires_at < t.expires_at)
            t.expires_at = gt.expires_at;
        res->components++;
        json_decref(gc);
    }
    if (o->require & TP_ATT_REQ_CPU)
        status = worse(status, TP_ATT_NONE); /* NRAS says nothing about the CPU */
    /* The node is named by its GPUs' UEIDs (the overall token names none). */
    if (bind_node(oc, &u, o, res))
        goto out;
    finish(res, o, status, TP_TEE_UNKNOWN, bad(status) == 3 ? 0 : 1, &t, oc, overall,
           strlen(overall));
    rc = 0;
out:
    json_decref(oc);
    return rc;
}

/* ---- Intel Trust Authority, Microsoft Azure Attestation, Keylime
 * -------------------------------------------------------------------------------- */

/* Intel Trust Authority (TDX): the TDX claims sit under "tdx" (composite
 * tokens, with "nvgpu" beside them) or at the top (TDX-only tokens).
 * attester_tcb_status decides: UpToDate affirming; the *Needed states (the
 * TCB is current but needs configuration or software hardening) warning;
 * OutOfDate*, Revoked and anything unknown contraindicated; a debuggable TD,
 * or a policy listed in policy_ids_unmatched, is contraindicated. */
static tp_att_status_t ita_tcb_status(const char *tcb)
{
    static const char *const warn[] = {"SWHardeningNeeded", "ConfigurationNeeded",
                                       "ConfigurationAndSWHardeningNeeded", NULL};
    if (!tcb)
        return TP_ATT_NONE;
    if (!strcmp(tcb, "UpToDate"))
        return TP_ATT_AFFIRMING;
    for (int i = 0; warn[i]; i++)
        if (!strcmp(tcb, warn[i]))
            return TP_ATT_WARNING;
    return TP_ATT_CONTRAINDICATED;
}

static int ita_normalise(const json_t *claims, const char *tok, size_t len,
                         const tp_att_opts_t *o, tp_att_result_t *res)
{
    const json_t *tdx = json_object_get(claims, "tdx"),
                 *gpu = json_object_get(claims, "nvgpu");
    const json_t *dbg, *attrs;
    const char *type, *dbgstat;
    times_t t;
    tp_att_status_t status;
    int gpu_cc = -1;
    if (check_times(claims, o, res, &t) || check_issuer(claims, o, res) ||
        check_nonce(claims, o, res))
        return 1;
    if (tdx && !json_is_object(tdx))
        return reject(res, TP_ATT_R_CLAIMS_INVALID, "tdx is not an object");
    if (!tdx)
        tdx = claims;
    type = json_string_value(json_object_get(tdx, "attester_type"));
    if (!type || strcasecmp(type, "TDX") != 0)
        return reject(res, TP_ATT_R_CLAIMS_INVALID,
                      "attester_type \"%.32s\": not an Intel Trust Authority TDX token",
                      type ? type : "(none)");
    status =
        ita_tcb_status(json_string_value(json_object_get(tdx, "attester_tcb_status")));
    dbg = json_object_get(tdx, "tdx_is_debuggable");
    dbgstat = json_string_value(json_object_get(tdx, "dbgstat"));
    attrs = json_object_get(tdx, "tdx_td_attributes_debug");
    if ((dbg && !json_is_false(dbg)) || (attrs && !json_is_false(attrs)) ||
        (json_object_get(tdx, "dbgstat") && (!dbgstat || strcmp(dbgstat, "disabled"))))
        status = TP_ATT_CONTRAINDICATED;
    /* An appraisal policy the relying party asked for that the TD failed. */
    for (int i = 0; i < 2; i++) {
        const json_t *un = json_object_get(i ? tdx : claims, "policy_ids_unmatched");
        if (un && !json_is_null(un) && !(json_is_array(un) && json_array_size(un) == 0))
            status = TP_ATT_CONTRAINDICATED;
    }
    res->components = 1;
    if (gpu) {
        tp_att_status_t g;
        if (!json_is_object(gpu))
            return reject(res, TP_ATT_R_CLAIMS_INVALID, "nvgpu is not an object");
        g = nras_gpu_status(gpu);
        status = worse(status, g);
        gpu_cc = bad(g) >= 2 ? 0 : 1;
        res->components++;
    } else if (o->require & TP_ATT_REQ_GPU) {
        status = worse(status, TP_ATT_NONE);
    }
    if (bind_node(claims, NULL, o, res))
        return 1;
    finish(res, o, status, TP_TEE_TDX, gpu_cc, &t, claims, tok, len);
    return 0;
}

/* Microsoft Azure Attestation. Three shapes: a confidential VM's guest
 * attestation ("x-ms-attestation-type": "azurevm", the TEE under
 * x-ms-isolation-tee), and SEV-SNP or TDX evidence attested directly
 * ("sevsnpvm" / "tdxvm" at the top). Affirming when Azure calls the TEE
 * compliant ("azure-compliant-cvm"), warning otherwise (or, for a VM, without
 * secure boot); a debuggable TEE, enabled debuggers or a TCB status that is
 * not current (TDX, as for Intel Trust Authority) lower it further. A VM with
 * no isolation TEE (trusted launch) attests nothing a placement needs: none. */
static int maa_normalise(const json_t *claims, const char *tok, size_t len,
                         const tp_att_opts_t *o, tp_att_result_t *res)
{
    const char *type =
        json_string_value(json_object_get(claims, "x-ms-attestation-type"));
    const json_t *tee_c = claims, *v;
    const char *itype, *comp, *dbgstat;
    times_t t;
    tp_att_status_t status = TP_ATT_AFFIRMING;
    int tee = TP_TEE_UNKNOWN;
    bool vm;
    if (check_times(claims, o, res, &t) || check_issuer(claims, o, res) ||
        check_nonce(claims, o, res))
        return 1;
    vm = type && !strcmp(type, "azurevm");
    if (!type || (!vm && strcmp(type, "sevsnpvm") != 0 && strcmp(type, "tdxvm") != 0))
        return reject(res, TP_ATT_R_CLAIMS_INVALID,
                      "x-ms-attestation-type \"%.32s\": not a confidential VM token",
                      type ? type : "(none)");
    if (vm) {
        tee_c = json_object_get(claims, "x-ms-isolation-tee");
        if (tee_c && !json_is_object(tee_c))
            return reject(res, TP_ATT_R_CLAIMS_INVALID,
                          "x-ms-isolation-tee is not an object");
    }
    itype = json_string_value(json_object_get(tee_c, "x-ms-attestation-type"));
    if (itype && !strcmp(itype, "sevsnpvm"))
        tee = TP_TEE_SEV_SNP;
    else if (itype && !strcmp(itype, "tdxvm"))
        tee = TP_TEE_TDX;
    else
        status = TP_ATT_NONE;
    comp = json_string_value(json_object_get(tee_c, "x-ms-compliance-status"));
    if (!comp || strcmp(comp, "azure-compliant-cvm") != 0)
        status = worse(status, TP_ATT_WARNING);
    if (json_object_get(tee_c, "attester_tcb_status"))
        status = worse(status, ita_tcb_status(json_string_value(
                                   json_object_get(tee_c, "attester_tcb_status"))));
    v = json_object_get(tee_c, "x-ms-sevsnpvm-is-debuggable");
    if (v && !json_is_false(v))
        status = TP_ATT_CONTRAINDICATED;
    v = json_object_get(tee_c, "tdx_td_attributes_debug");
    if (v && !json_is_false(v))
        status = TP_ATT_CONTRAINDICATED;
    dbgstat = json_string_value(json_object_get(tee_c, "dbgstat"));
    if (json_object_get(tee_c, "dbgstat") && (!dbgstat || strcmp(dbgstat, "disabled")))
        status = TP_ATT_CONTRAINDICATED;
    if (vm) {
        if (!json_is_true(json_object_get(claims, "secureboot")))
            status = worse(status, TP_ATT_WARNING);
        v = json_object_get(claims, "x-ms-azurevm-debuggersdisabled");
        if (v && !json_is_true(v))
            status = TP_ATT_CONTRAINDICATED;
        for (int i = 0; i < 2; i++) {
            v = json_object_get(claims, i ? "x-ms-azurevm-kerneldebug-enabled"
                                          : "x-ms-azurevm-bootdebug-enabled");
            if (v && !json_is_false(v))
                status = TP_ATT_CONTRAINDICATED;
        }
    }
    res->components = 1;
    if (o->require & TP_ATT_REQ_GPU)
        status = worse(status, TP_ATT_NONE);
    if (bind_node(claims, NULL, o, res))
        return 1;
    finish(res, o, status, tee, -1, &t, claims, tok, len);
    return 0;
}

/* Keylime verifier GET /v2.x/agents/{id}: unsigned JSON over TLS, TPM-based
 * (no TEE, no GPU CC). attestation_status PASS with operational_state 3 (Get
 * Quote) affirming, 4 (Get Quote, retrying) warning; FAIL or a failed state
 * (7, 9, 10) contraindicated, and so is any disagreement between the two;
 * PENDING, a state before quoting (0-2, 5, 6) or Terminated (8) none. The
 * result is as old as last_successful_attestation (PASS) or last_received_quote. */
static int keylime_normalise(const json_t *doc, const char *body, size_t len,
                             const tp_att_opts_t *o, tp_att_result_t *res)
{
    const json_t *r = json_object_get(doc, "results"),
                 *code = json_object_get(doc, "code");
    const char *ast;
    json_int_t st;
    tp_att_status_t status;
    json_t *tc;
    times_t t;
    int rc;
    if (code && (!json_is_integer(code) || json_integer_value(code) != 200))
        return reject(res, TP_ATT_R_CLAIMS_INVALID, "Keylime response code is not 200");
    if (!json_is_object(r))
        return reject(res, TP_ATT_R_MALFORMED,
                      "not a Keylime agent status {\"results\": …}");
    ast = json_string_value(json_object_get(r, "attestation_status"));
    if (!json_is_integer(json_object_get(r, "operational_state")))
        return reject(res, TP_ATT_R_CLAIMS_INVALID,
                      "operational_state is not an integer");
    st = json_integer_value(json_object_get(r, "operational_state"));
    if (!ast)
        return reject(res, TP_ATT_R_CLAIMS_INVALID,
                      "no attestation_status (Keylime API 2.5 or later is required)");
    if (!strcmp(ast, "PASS"))
        status = st == 3   ? TP_ATT_AFFIRMING
                 : st == 4 ? TP_ATT_WARNING
                           : TP_ATT_CONTRAINDICATED;
    else if (!strcmp(ast, "FAIL"))
        status = TP_ATT_CONTRAINDICATED;
    else if (!strcmp(ast, "PENDING"))
        status = st == 7 || st == 9 || st == 10 ? TP_ATT_CONTRAINDICATED : TP_ATT_NONE;
    else
        return reject(res, TP_ATT_R_CLAIMS_INVALID, "attestation_status \"%.32s\"", ast);
    tc = json_pack(
        "{s:O?}", "iat",
        json_object_get(r, status == TP_ATT_AFFIRMING || status == TP_ATT_WARNING
                               ? "last_successful_attestation"
                               : "last_received_quote"));
    if (!tc)
        return reject(res, TP_ATT_R_MALFORMED, "out of memory");
    if (!json_object_get(tc, "iat"))
        json_object_set_new(tc, "iat", json_integer(o->now));
    rc = check_times(tc, o, res, &t);
    json_decref(tc);
    if (rc || check_nonce(doc, o, res))
        return 1;
    res->components = 1;
    if (o->require)
        status = worse(status, TP_ATT_NONE); /* a TPM says nothing of TEE or CC */
    if (bind_node(doc, NULL, o, res))
        return 1;
    finish(res, o, status, TP_TEE_UNKNOWN, -1, &t, doc, body, len);
    return 0;
}

/* ---- entry points
 * ------------------------------------------------------------------------------ */

static const char *const format_names[TP_ATT_FMT_COUNT] = {"auto", "ear", "nras",
                                                           "ita",  "maa", "keylime"};

const char *tp_att_format_name(tp_att_format_t f)
{
    return f >= 0 && f < TP_ATT_FMT_COUNT ? format_names[f] : "?";
}

int tp_att_format_parse(const char *s)
{
    for (int i = 0; s && i < TP_ATT_FMT_COUNT; i++)
        if (!strcmp(s, format_names[i]))
            return i;
    return -1;
}

int tp_att_nonce_new(char out[33])
{
    unsigned char r[16];
    if (RAND_bytes(r, sizeof r) != 1)
        return TP_EIO;
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
    return 0;
}

static const char *const carrier_keys[] = {
    "token", "jwt", "ear", "eat", "attestation_result", NULL};

static int normalise_jws(const json_t *claims, const char *tok, size_t len,
                         const tp_att_opts_t *o, tp_att_result_t *res)
{
    switch (o->format) {
    case TP_ATT_FMT_ITA:
        return ita_normalise(claims, tok, len, o, res);
    case TP_ATT_FMT_MAA:
        return maa_normalise(claims, tok, len, o, res);
    case TP_ATT_FMT_NRAS:
    case TP_ATT_FMT_KEYLIME:
        return reject(res, TP_ATT_R_MALFORMED, "a single token is not a %s result",
                      tp_att_format_name(o->format));
    default:
        return ear_normalise(claims, tok, len, o, res);
    }
}

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
        if (o->format == TP_ATT_FMT_KEYLIME) {
            rc = json_is_object(doc) ? keylime_normalise(doc, body + b, e - b, o, res)
                                     : reject(res, TP_ATT_R_MALFORMED,
                                              "a Keylime agent status is an object");
            json_decref(doc);
            if (rc)
                tp_att_result_fini(res);
            return rc;
        }
        if (json_is_array(doc)) {
            if (o->format == TP_ATT_FMT_AUTO || o->format == TP_ATT_FMT_NRAS)
                rc = nras_verify(doc, o, res);
            else
                rc = reject(res, TP_ATT_R_MALFORMED, "an array is not a %s result",
                            tp_att_format_name(o->format));
            json_decref(doc);
            if (rc)
                tp_att_result_fini(res);
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
    rc = normalise_jws(claims, body + b, e - b, o, res);
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
