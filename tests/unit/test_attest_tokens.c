/*
 * tests/unit/test_attest_tokens.c — attestation results: every token of
 * ../shared/fixtures/attestation/veraison-ear with its MANIFEST outcome, the
 * claims-sets of the IETF draft (underscore names), Trustee and NVIDIA NRAS
 * signed here with keys generated at test time, and every rejection the
 * relying party must make itself (alg/curve binding, kid, header keys, x5c
 * chains, duplicate keys, float times, skew, expiry, digests, nonces).
 */
#include "collectors/collectors.h"
#include "tests/testbed/testbed.h"
#include "tp_test.h"

#include <jose/jose.h>
#include <jose/openssl.h>
#include <openssl/pem.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int verify_str(const char *tok, const tp_att_opts_t *o, tp_att_result_t *res)
{
    return tp_att_verify(tok, strlen(tok), o, res);
}

TP_TEST(attest_fixture_tokens_match_manifest)
{
    const char *shared = tp_test_shared();
    char path[1024];
    json_t *manifest, *tokens, *t, *jwks;
    size_t i, len;
    char *text;
    tp_error_t err = {0};
    int accepted = 0, rejected = 0;
    if (!shared)
        TP_SKIP("../shared absent: no attestation fixtures");
    snprintf(path, sizeof path, "%s/fixtures/attestation/veraison-ear/MANIFEST.json",
             shared);
    manifest = json_load_file(path, 0, NULL);
    TP_ASSERT(manifest != NULL);
    snprintf(path, sizeof path, "%s/fixtures/attestation/veraison-ear/keys/pkey.json",
             shared);
    text = tp_test_slurp(path, &len);
    TP_ASSERT(text != NULL);
    jwks = tp_jwks_parse(text, len, path, &err);
    free(text);
    TP_ASSERT(jwks != NULL);
    tokens = json_object_get(manifest, "tokens");
    json_array_foreach (tokens, i, t) {
        const char *file = json_string_value(json_object_get(t, "file"));
        const char *expect = json_string_value(json_object_get(t, "expect"));
        bool want_accept = !strncmp(expect, "accept", 6);
        tp_att_opts_t o;
        tp_att_result_t res;
        char *tok;
        int rc;
        tp_att_opts_init(&o);
        o.bind = TP_ATT_BIND_NONE; /* binding: test_attest_bind.c */
        o.jwks = jwks;
        o.now = 1666091373 + 30; /* the tokens' iat: fresh */
        snprintf(path, sizeof path, "%s/fixtures/attestation/veraison-ear/%s", shared,
                 file);
        tok = tp_test_slurp(path, &len);
        TP_ASSERT(tok != NULL);
        rc = tp_att_verify(tok, len, &o, &res);
        if (want_accept) {
            const json_t *sub = json_object_get(t, "submods");
            const char *want = json_string_value(json_object_get(sub, "test"));
            if (rc != 0)
                tp_test_fail(__FILE__, __LINE__, "%s: rejected (%s: %s)", file,
                             tp_att_reason_name(res.reason), res.detail);
            else {
                TP_CHECK_STR(tp_att_status_name(res.att.status), want);
                TP_CHECK_EQ_INT(res.att.issued_at,
                                json_integer_value(json_object_get(t, "iat")));
                /* No exp: expiry is iat + max age, never "forever". */
                TP_CHECK_EQ_INT(res.att.expires_at, res.att.issued_at + 3600);
                TP_CHECK(res.test_key);
                TP_CHECK(!strncmp(res.att.evidence, "sha256:", 7));
                accepted++;
            }
            /* Stale with a real clock: expired. */
            tp_att_result_fini(&res);
            o.now = 1666091373 + 3600 + 61;
            TP_CHECK_EQ_INT(tp_att_verify(tok, len, &o, &res), 1);
            TP_CHECK_EQ_INT(res.reason, TP_ATT_R_EXPIRED);
            /* Production refuses the published test key. */
            o.now = 1666091373 + 30;
            o.deny_test_keys = true;
            TP_CHECK_EQ_INT(tp_att_verify(tok, len, &o, &res), 1);
            TP_CHECK_EQ_INT(res.reason, TP_ATT_R_TEST_KEY);
        } else {
            if (rc != 1)
                tp_test_fail(__FILE__, __LINE__, "%s: accepted or unusable (%d)", file,
                             rc);
            else
                rejected++;
            if (!strcmp(file, "tokens/neg-hs256.jwt") ||
                !strcmp(file, "tokens/neg-alg-none.jwt"))
                TP_CHECK_EQ_INT(res.reason, TP_ATT_R_ALG_REJECTED);
            if (strstr(file, "segment") || strstr(file, "4-segments"))
                TP_CHECK_EQ_INT(res.reason, TP_ATT_R_MALFORMED);
            if (strstr(file, "empty-claims"))
                TP_CHECK_EQ_INT(res.reason, TP_ATT_R_CLAIMS_INVALID);
        }
        tp_att_result_fini(&res);
        free(tok);
    }
    TP_CHECK_EQ_INT(accepted, 3);
    TP_CHECK_EQ_INT(rejected, 5);
    json_decref(jwks);
    json_decref(manifest);
}

/* ---- tokens of our own
 * ------------------------------------------------------------------ */

typedef struct {
    json_t *key, *jwks;
} kit_t;

static void kit_init(kit_t *k, const char *crv, const char *kid)
{
    k->key = tb_key_new(crv, kid);
    k->jwks = json_pack("{s:[o]}", "keys", tb_key_public(k->key));
}

static void kit_fini(kit_t *k)
{
    json_decref(k->key);
    json_decref(k->jwks);
}

static char *ear_token(const kit_t *k, const char *header, const char *tee, bool gpu,
                       const char *status, int64_t iat, int64_t exp)
{
    json_t *c = tb_ear_claims(tee, gpu, status, iat, exp, "jti-1");
    char *p = json_dumps(c, JSON_COMPACT), *t = tb_sign(k->key, header, p);
    json_decref(c);
    free(p);
    return t;
}

#define NOW 1795000000
#define H256 "{\"alg\":\"ES256\",\"kid\":\"k1\"}"

TP_TEST(attest_trustee_style_normalised)
{
    kit_t k;
    tp_att_opts_t o;
    tp_att_result_t res;
    char *t;
    json_t *j;
    kit_init(&k, "P-256", "k1");
    tp_att_opts_init(&o);
    o.bind = TP_ATT_BIND_NONE; /* binding: test_attest_bind.c */
    o.jwks = k.jwks;
    o.now = NOW;
    o.verifier = "trustee-eu";
    o.require = TP_ATT_REQ_CPU | TP_ATT_REQ_GPU;
    t = ear_token(&k, H256, "tdx", true, "affirming", NOW - 10, NOW + 300);
    TP_ASSERT(t != NULL);
    TP_ASSERT(verify_str(t, &o, &res) == 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_AFFIRMING);
    TP_CHECK_EQ_INT(res.att.cpu_tee, TP_TEE_TDX);
    TP_CHECK_EQ_INT(res.att.gpu_cc, 1);
    TP_CHECK_EQ_INT(res.att.issued_at, NOW - 10);
    TP_CHECK_EQ_INT(res.att.expires_at, NOW + 300);
    TP_CHECK_STR(res.att.verifier, "trustee-eu");
    TP_CHECK_STR(res.att.evidence, "jti-1");
    TP_CHECK_STR(res.kid, "k1");
    j = tp_attestation_to_json(&res.att);
    TP_CHECK_EQ_INT(json_object_size(j), 7);
    json_decref(j);
    tp_att_result_fini(&res);
    free(t);
    /* sev-snp, no GPU submodule but GPU required: status none, gpu_cc unknown. */
    t = ear_token(&k, H256, "sev-snp", false, "affirming", NOW, NOW + 300);
    TP_ASSERT(verify_str(t, &o, &res) == 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_NONE);
    TP_CHECK_EQ_INT(res.att.cpu_tee, TP_TEE_UNKNOWN); /* none attests no TEE */
    TP_CHECK_EQ_INT(res.att.gpu_cc, -1);
    tp_att_result_fini(&res);
    free(t);
    /* Contraindicated wins; the lifetime is capped at max age. */
    o.require = 0;
    t = ear_token(&k, H256, "tdx", true, "contraindicated", NOW, NOW + 86400);
    TP_ASSERT(verify_str(t, &o, &res) == 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_CONTRAINDICATED);
    TP_CHECK_EQ_INT(res.att.gpu_cc, 0);
    TP_CHECK_EQ_INT(res.att.expires_at, NOW + 3600);
    tp_att_result_fini(&res);
    free(t);
    /* Wrapped in JSON. */
    t = ear_token(&k, H256, "tdx", false, "warning", NOW, NOW + 300);
    {
        json_t *w = json_pack("{s:s}", "token", t);
        char *body = json_dumps(w, 0);
        TP_CHECK(verify_str(body, &o, &res) == 0 && res.att.status == TP_ATT_WARNING);
        tp_att_result_fini(&res);
        free(body);
        json_decref(w);
    }
    free(t);
    kit_fini(&k);
}

/* Replaces the header segment of a compact JWS (frees tok). */
static char *swap_header(char *tok, const char *header)
{
    json_t *h = jose_b64_enc(header, strlen(header));
    const char *dot = tok ? strchr(tok, '.') : NULL;
    char *out = NULL;
    if (h && dot) {
        out = malloc(strlen(json_string_value(h)) + strlen(dot) + 1);
        sprintf(out, "%s%s", json_string_value(h), dot);
    }
    json_decref(h);
    free(tok);
    return out;
}

TP_TEST(attest_rejections)
{
    kit_t k, other;
    tp_att_opts_t o;
    tp_att_result_t res;
    char *t;
#define PROFILE                                                                          \
    "\"eat_profile\":\"tag:github.com,2023:veraison/ear\",\"ear.verifier-id\":{"         \
    "\"developer\":\"d\",\"build\":\"b\"},"
    static const char *const claims_dup =
        "{" PROFILE "\"iat\":1795000000,\"iat\":1795000000,\"submods\":{\"cpu0\":{"
        "\"ear.status\":\"affirming\"}}}";
    static const char *const claims_float =
        "{" PROFILE
        "\"iat\":1.795e9,\"submods\":{\"cpu0\":{\"ear.status\":\"affirming\"}}}";
    static const char *const claims_ok =
        "{" PROFILE "\"iat\":1795000000,\"submods\":{\"cpu0\":{\"ear_status\":"
        "\"affirming\",\"ear_trustworthiness_vector\":{\"hardware\":2}}}}";
    kit_init(&k, "P-256", "k1");
    kit_init(&other, "P-256", "k1");
    tp_att_opts_init(&o);
    o.bind = TP_ATT_BIND_NONE; /* binding: test_attest_bind.c */
    o.jwks = k.jwks;
    o.now = NOW;
#define EXPECT(tok, why)                                                                 \
    do {                                                                                 \
        char *t_ = (tok);                                                                \
        TP_CHECK(t_ != NULL);                                                            \
        if (t_) {                                                                        \
            TP_CHECK_EQ_INT(verify_str(t_, &o, &res), 1);                                \
            TP_CHECK_EQ_INT(res.reason, why);                                            \
            free(t_);                                                                    \
        }                                                                                \
    } while (0)
    t = tb_sign(k.key, H256, claims_ok);
    TP_CHECK(verify_str(t, &o, &res) == 0);
    tp_att_result_fini(&res);
    free(t);
    EXPECT(ear_token(&other, H256, "tdx", false, "affirming", NOW, NOW + 60),
           TP_ATT_R_SIG_INVALID);
    EXPECT(tb_sign(k.key, "{\"alg\":\"ES256\",\"kid\":\"nope\"}", claims_ok),
           TP_ATT_R_KID_UNKNOWN);
    EXPECT(tb_sign(k.key, "{\"alg\":\"ES256\",\"kid\":\"k1\",\"kid\":\"k1\"}", claims_ok),
           TP_ATT_R_MALFORMED);
    EXPECT(tb_sign(k.key, H256, claims_dup), TP_ATT_R_CLAIMS_INVALID);
    EXPECT(tb_sign(k.key, H256, claims_float), TP_ATT_R_CLAIMS_INVALID);
    /* Headers libjose would not sign: swapped onto a signed token (checked first). */
    EXPECT(swap_header(tb_sign(k.key, H256, claims_ok), "{\"kid\":\"k1\"}"),
           TP_ATT_R_ALG_REJECTED);
    EXPECT(
        swap_header(tb_sign(k.key, H256, claims_ok),
                    "{\"alg\":\"ES256\",\"kid\":\"k1\",\"crit\":[\"b64\"],\"b64\":true}"),
        TP_ATT_R_MALFORMED);
    EXPECT(swap_header(tb_sign(k.key, H256, claims_ok), "{\"alg\":\"none\"}"),
           TP_ATT_R_ALG_REJECTED);
    EXPECT(swap_header(tb_sign(k.key, H256, claims_ok),
                       "{\"alg\":\"HS256\",\"kid\":\"k1\"}"),
           TP_ATT_R_ALG_REJECTED);
    EXPECT(ear_token(&k, H256, "tdx", false, "affirming", NOW - 7200, NOW - 3600),
           TP_ATT_R_EXPIRED);
    EXPECT(ear_token(&k, H256, "tdx", false, "affirming", NOW + 61, NOW + 600),
           TP_ATT_R_FUTURE);
    /* Within the skew: accepted. */
    t = ear_token(&k, H256, "tdx", false, "affirming", NOW + 59, NOW + 600);
    TP_CHECK(verify_str(t, &o, &res) == 0);
    tp_att_result_fini(&res);
    free(t);
    /* A 'sample' TEE never passes. */
    {
        char *p = strdup(
            "{" PROFILE
            "\"iat\":1795000000,\"submods\":{\"cpu0\":{\"ear.status\":\"affirming\","
            "\"ear.veraison.annotated-evidence\":{\"sample\":{}}}}}");
        EXPECT(tb_sign(k.key, H256, p), TP_ATT_R_TEST_TEE);
        free(p);
    }
    /* Algorithm allow-list. */
    o.algs = 1u << TP_JWS_ES384;
    EXPECT(ear_token(&k, H256, "tdx", false, "affirming", NOW, NOW + 60),
           TP_ATT_R_ALG_REJECTED);
    /* ES384 claimed with a P-256 key: libjose would accept; we bind alg to curve. */
    EXPECT(tb_sign(k.key, "{\"alg\":\"ES384\",\"kid\":\"k1\"}", claims_ok),
           TP_ATT_R_KEY_MISMATCH);
    o.algs = TP_JWS_ALL;
    /* A header key that is not pinned. */
    {
        json_t *pub = tb_key_public(other.key);
        json_t *hdr = json_pack("{s:s,s:O}", "alg", "ES256", "jwk", pub);
        char *h = json_dumps(hdr, JSON_COMPACT);
        EXPECT(tb_sign(other.key, h, claims_ok), TP_ATT_R_HEADER_KEY_UNTRUSTED);
        free(h);
        json_decref(hdr);
        json_decref(pub);
    }
    /* Unusable bodies. */
    TP_CHECK_EQ_INT(verify_str("hello", &o, &res), TP_EINVAL);
    TP_CHECK_EQ_INT(verify_str("{\"nothing\": 1}", &o, &res), TP_EINVAL);
    TP_CHECK_EQ_INT(verify_str("[1,", &o, &res), TP_EINVAL);
    TP_CHECK_EQ_INT(verify_str("a.b.c.d", &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_MALFORMED);
    TP_CHECK_EQ_INT(verify_str("a=.b.c", &o, &res), 1);
#undef EXPECT
#undef PROFILE
    kit_fini(&k);
    kit_fini(&other);
}

TP_TEST(attest_ietf_draft_claims_underscore)
{
    const char *shared = tp_test_shared();
    static const struct {
        const char *file, *status;
    } cases[] = {{"ear-json-1.claims.json", "contraindicated"},
                 {"ear-json-2.claims.json", "affirming"}};
    kit_t k;
    if (!shared)
        TP_SKIP("../shared absent: no IETF EAR examples");
    kit_init(&k, "P-256", "k1");
    for (size_t i = 0; i < 2; i++) {
        char path[1024], *claims, *t;
        tp_att_opts_t o;
        tp_att_result_t res;
        snprintf(path, sizeof path, "%s/fixtures/attestation/ietf-ear-draft-03/%s",
                 shared, cases[i].file);
        claims = tp_test_slurp(path, NULL);
        TP_ASSERT(claims != NULL);
        t = tb_sign(k.key, H256, claims);
        tp_att_opts_init(&o);
        o.bind = TP_ATT_BIND_NONE; /* binding: test_attest_bind.c */
        o.jwks = k.jwks;
        o.now = 1666529400;
        TP_ASSERT(verify_str(t, &o, &res) == 0);
        TP_CHECK_STR(tp_att_status_name(res.att.status), cases[i].status);
        if (i == 1)
            TP_CHECK_EQ_INT(res.att.cpu_tee, TP_TEE_CCA); /* "CCA Platform"/"CCA Realm" */
        tp_att_result_fini(&res);
        free(t);
        free(claims);
    }
    kit_fini(&k);
}

TP_TEST(attest_trustee_example_contraindicated)
{
    const char *shared = tp_test_shared();
    char path[1024], *claims, *t;
    kit_t k;
    tp_att_opts_t o;
    tp_att_result_t res;
    if (!shared)
        TP_SKIP("../shared absent: no Trustee example");
    snprintf(path, sizeof path,
             "%s/fixtures/attestation/trustee-ear/example.token.claims.json", shared);
    claims = tp_test_slurp(path, NULL);
    TP_ASSERT(claims != NULL);
    kit_init(&k, "P-256", "k1");
    t = tb_sign(k.key, H256, claims);
    tp_att_opts_init(&o);
    o.bind = TP_ATT_BIND_NONE; /* binding: test_attest_bind.c */
    o.jwks = k.jwks;
    o.now = 1760426134 + 10;
    TP_ASSERT(verify_str(t, &o, &res) == 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_CONTRAINDICATED);
    TP_CHECK_EQ_INT(res.att.cpu_tee,
                    TP_TEE_UNKNOWN); /* SGX is not a VM TEE we place on */
    TP_CHECK_EQ_INT(res.att.expires_at, 1760426434);
    tp_att_result_fini(&res);
    free(t);
    free(claims);
    kit_fini(&k);
}

/* The Trustee fixture key signs, its self-signed certificate is the configured
 * root, the header carries jwk + x5c: accepted through the chain only. */
TP_TEST(attest_header_key_chains_to_root)
{
    const char *shared = tp_test_shared();
    char path[1024], cert_path[1024], *t, *h;
    FILE *fp;
    EVP_PKEY *pk;
    json_t *priv, *pub, *hdr, *empty, *expected, *x5c;
    tp_att_opts_t o;
    tp_att_result_t res;
    tp_error_t err = {0};
    static const char *const claims =
        "{\"eat_profile\":\"tag:github.com,2024:confidential-containers/Trustee\","
        "\"ear.verifier-id\":{\"developer\":\"d\",\"build\":\"b\"},"
        "\"iat\":1795000000,\"submods\":{\"cpu0\":{\"ear.status\":\"affirming\","
        "\"ear.veraison.annotated-evidence\":{\"tdx\":{}}}}}";
    if (!shared)
        TP_SKIP("../shared absent: no Trustee JWKS fixture");
    snprintf(path, sizeof path,
             "%s/fixtures/attestation/trustee-ear/jwks-fixture/"
             "signing-key.TEST-ONLY-PRIVATE.pem",
             shared);
    snprintf(cert_path, sizeof cert_path,
             "%s/fixtures/attestation/trustee-ear/jwks-fixture/cert-chain.pem", shared);
    fp = fopen(path, "r");
    TP_ASSERT(fp != NULL);
    pk = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    TP_ASSERT(pk != NULL);
    priv = jose_openssl_jwk_from_EVP_PKEY(NULL, pk);
    EVP_PKEY_free(pk);
    TP_ASSERT(priv != NULL);
    pub = tb_key_public(priv);
    snprintf(path, sizeof path,
             "%s/fixtures/attestation/trustee-ear/jwks-fixture/expected-jwks.json",
             shared);
    expected = json_load_file(path, 0, NULL);
    x5c = json_object_get(json_array_get(json_object_get(expected, "keys"), 0), "x5c");
    hdr = json_pack("{s:s,s:O,s:O}", "alg", "ES256", "jwk", pub, "x5c", x5c);
    h = json_dumps(hdr, JSON_COMPACT);
    t = tb_sign(priv, h, claims);
    TP_ASSERT(t != NULL);
    empty = json_pack("{s:[]}", "keys");
    tp_att_opts_init(&o);
    o.bind = TP_ATT_BIND_NONE; /* binding: test_attest_bind.c */
    o.jwks = empty;
    o.now = NOW;
    TP_CHECK_EQ_INT(verify_str(t, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_HEADER_KEY_UNTRUSTED);
    o.roots = tp_att_roots_load(cert_path, &err);
    TP_ASSERT(o.roots != NULL);
    TP_CHECK_EQ_INT(verify_str(t, &o, &res), 0);
    TP_CHECK_EQ_INT(res.att.cpu_tee, TP_TEE_TDX);
    TP_CHECK(res.test_key);
    tp_att_result_fini(&res);
    o.deny_test_keys = true;
    TP_CHECK_EQ_INT(verify_str(t, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_TEST_KEY);
    tp_att_roots_free(o.roots);
    free(t);
    free(h);
    json_decref(hdr);
    json_decref(empty);
    json_decref(expected);
    json_decref(pub);
    json_decref(priv);
}

/* NVIDIA NRAS: overall + per-GPU tokens (ES384), digests bind them. */
TP_TEST(attest_nras_array)
{
    const char *shared = tp_test_shared();
    char path[1024], *overall_c, *gpu_c, *gpu_tok, *overall_tok, tag[72], *body;
    json_t *oc, *arr;
    kit_t k;
    tp_att_opts_t o;
    tp_att_result_t res;
    static const char *const h384 = "{\"alg\":\"ES384\",\"kid\":\"nv1\"}";
    if (!shared)
        TP_SKIP("../shared absent: no NRAS claims");
    kit_init(&k, "P-384", "nv1");
    snprintf(path, sizeof path,
             "%s/fixtures/attestation/nvidia-nras-claims/detached_claims_remote.json",
             shared);
    gpu_c = tp_test_slurp(path, NULL);
    snprintf(path, sizeof path,
             "%s/fixtures/attestation/nvidia-nras-claims/overall_claims_remote.json",
             shared);
    overall_c = tp_test_slurp(path, NULL);
    TP_ASSERT(gpu_c && overall_c);
    gpu_tok = tb_sign(k.key, h384, gpu_c);
    tp_sha256_tag(gpu_tok, strlen(gpu_tok), tag);
    oc = json_loads(overall_c, 0, NULL);
    json_object_set_new(json_object_get(oc, "submods"), "GPU-0",
                        json_pack("[s,[s,s]]", "DIGEST", "SHA-256", tag + 7));
    {
        char *p = json_dumps(oc, JSON_COMPACT);
        overall_tok = tb_sign(k.key, h384, p);
        free(p);
    }
    arr = json_pack("[[s,s],{s:s}]", "JWT", overall_tok, "GPU-0", gpu_tok);
    body = json_dumps(arr, 0);
    tp_att_opts_init(&o);
    o.bind = TP_ATT_BIND_NONE; /* binding: test_attest_bind.c */
    o.jwks = k.jwks;
    o.now = 1727387975 + 100;
    o.verifier = "nras";
    TP_ASSERT(verify_str(body, &o, &res) == 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_AFFIRMING);
    TP_CHECK_EQ_INT(res.att.gpu_cc, 1);
    TP_CHECK_EQ_INT(res.att.cpu_tee, TP_TEE_UNKNOWN);
    TP_CHECK_EQ_INT(res.att.issued_at, 1727387975);
    TP_CHECK_EQ_INT(res.att.expires_at, 1727387975 + 3600); /* exp 2124 capped */
    TP_CHECK_STR(res.att.evidence, "dd6a874b-2f9d-4ad3-a913-dbaaaa48fc4b");
    tp_att_result_fini(&res);
    /* Pinned issuer: the GPU token is from the staging issuer. */
    o.issuer = "https://nras.attestation.nvidia.com";
    TP_CHECK_EQ_INT(verify_str(body, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_ISSUER);
    o.issuer = NULL;
    /* ES256 only: every NRAS token is ES384. */
    o.algs = 1u << TP_JWS_ES256;
    TP_CHECK_EQ_INT(verify_str(body, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_ALG_REJECTED);
    o.algs = TP_JWS_ALL;
    free(body);
    json_decref(arr);
    /* A swapped GPU token: digest mismatch. */
    {
        char *other = tb_sign(k.key, h384, gpu_c);
        /* ECDSA signatures differ each time, so the digest differs. */
        arr = json_pack("[[s,s],{s:s}]", "JWT", overall_tok, "GPU-0", other);
        body = json_dumps(arr, 0);
        TP_CHECK_EQ_INT(verify_str(body, &o, &res), 1);
        TP_CHECK_EQ_INT(res.reason, TP_ATT_R_DIGEST);
        free(body);
        json_decref(arr);
        free(other);
    }
    free(gpu_tok);
    free(overall_tok);
    free(gpu_c);
    free(overall_c);
    json_decref(oc);
    kit_fini(&k);
}

TP_TEST(attest_jwks_parse_refuses_private_and_symmetric)
{
    tp_error_t err = {0};
    static const char *const sym = "{\"kty\":\"oct\",\"k\":\"AAAA\"}";
    static const char *const priv = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
                                    "\"a\",\"y\":\"b\",\"d\":\"c\"}]}";
    static const char *const dup = "{\"keys\":[],\"keys\":[]}";
    json_t *j = tp_jwks_parse(sym, strlen(sym), "x", &err);
    TP_CHECK(j == NULL);
    TP_CHECK_CONTAINS(err.text, "symmetric");
    j = tp_jwks_parse(priv, strlen(priv), "x", &err);
    TP_CHECK(j == NULL);
    TP_CHECK_CONTAINS(err.text, "private");
    j = tp_jwks_parse(dup, strlen(dup), "x", &err);
    TP_CHECK(j == NULL);
}
