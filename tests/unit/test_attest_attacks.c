/*
 * tests/unit/test_attest_attacks.c — an adversary's view of the verifier:
 * forged and mutated tokens (alg confusion, kid and header-key tricks, crit,
 * JWE and nested JWTs, claims of the wrong type, duplicate keys, lookalike
 * node names, replayed nonces, mixed-up NRAS responses), EAR trust vectors as
 * real verifiers write them, and verifier configuration that would let one
 * node's result stand for another's.
 */
#include "collectors/collectors.h"
#include "tests/testbed/testbed.h"
#include "tp_test.h"

#include <jose/jose.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1795000000
#define EAR_ID                                                                           \
    "\"eat_profile\":\"tag:github.com,2024:confidential-containers/Trustee\","           \
    "\"ear.verifier-id\":{\"developer\":\"https://confidentialcontainers.org\","         \
    "\"build\":\"attestation-service 0.1.0\"},"
#define TDX_SUB                                                                          \
    "{\"ear.status\":\"affirming\",\"ear.veraison.annotated-evidence\":{\"tdx\":{}}}"

/* base64url of text (new string). */
static char *b64(const char *text)
{
    json_t *s = jose_b64_enc(text, strlen(text));
    char *out = s ? strdup(json_string_value(s)) : NULL;
    json_decref(s);
    return out;
}

/* header.payload.sig from the exact texts given (sig already base64url). */
static char *raw_token(const char *hdr, const char *payload, const char *sig)
{
    char *h = b64(hdr), *p = b64(payload), *t = NULL;
    size_t n = strlen(h) + strlen(p) + strlen(sig) + 3;
    if (h && p && (t = malloc(n)))
        snprintf(t, n, "%s.%s.%s", h, p, sig);
    free(h);
    free(p);
    return t;
}

static void opts(tp_att_opts_t *o, const json_t *jwks)
{
    tp_att_opts_init(o);
    o->jwks = jwks;
    o->now = NOW;
    o->bind = TP_ATT_BIND_NONE;
}

static int verify_s(const char *tok, const tp_att_opts_t *o, tp_att_result_t *res)
{
    return tp_att_verify(tok, strlen(tok), o, res);
}

/* An affirming Trustee-shaped EAR for TDX with the given extra top-level
 * claims (text ending in ',' or empty). */
static char *ear_claims(const char *extra, const char *submod)
{
    char *c = malloc(4096);
    if (c)
        snprintf(c, 4096, "{" EAR_ID "%s\"iat\":%d,\"submods\":{\"cpu0\":%s}}", extra,
                 NOW, submod ? submod : TDX_SUB);
    return c;
}

/* Forged headers and keys: every one is refused, with the reason given. */
TP_TEST(attest_attack_forged_headers)
{
    json_t *key = tb_key_new("P-256", "k1"), *other = tb_key_new("P-256", "k1");
    json_t *p384 = tb_key_new("P-384", "k384");
    json_t *jwks =
        json_pack("{s:[o,o]}", "keys", tb_key_public(key), tb_key_public(p384));
    json_t *opub = tb_key_public(other);
    char *claims = ear_claims("", NULL), *ojwk = json_dumps(opub, JSON_COMPACT);
    tp_att_opts_t o;
    opts(&o, jwks);
    struct {
        const json_t *signer;
        char hdr[1024];
        tp_att_reason_t want;
    } cases[] = {
        /* jku / x5u name a key set elsewhere: never fetched, never trusted. */
        {other, "{\"alg\":\"ES256\",\"kid\":\"k1\",\"jku\":\"https://evil.example/j\"}",
         TP_ATT_R_SIG_INVALID},
        {other, "{\"alg\":\"ES256\",\"x5u\":\"https://evil.example/c.pem\"}",
         TP_ATT_R_SIG_INVALID},
        /* kid with path characters, or not a string. */
        {key, "{\"alg\":\"ES256\",\"kid\":\"../../k1\"}", TP_ATT_R_KID_UNKNOWN},
        {key, "{\"alg\":\"ES256\",\"kid\":\"k1\\u0000\"}", TP_ATT_R_MALFORMED},
        {key, "{\"alg\":\"ES256\",\"kid\":1}", TP_ATT_R_MALFORMED},
        {key, "{\"alg\":\"ES256\",\"kid\":\"k1\",\"kid\":\"k384\"}", TP_ATT_R_MALFORMED},
        /* The pinned kid with a P-256 token signed for the P-384 key. */
        {p384, "{\"alg\":\"ES384\",\"kid\":\"k1\"}", TP_ATT_R_KEY_MISMATCH},
        /* alg spelled differently, or not in the allow-list. */
        {key, "{\"alg\":\"es256\",\"kid\":\"k1\"}", TP_ATT_R_ALG_REJECTED},
        {key, "{\"alg\":\"ES256 \",\"kid\":\"k1\"}", TP_ATT_R_ALG_REJECTED},
        {key, "{\"alg\":\"EdDSA\",\"kid\":\"k1\"}", TP_ATT_R_ALG_REJECTED},
        {key, "{\"alg\":[\"ES256\"],\"kid\":\"k1\"}", TP_ATT_R_ALG_REJECTED},
        /* crit, even naming a parameter libjose knows (b64). */
        {key, "{\"alg\":\"ES256\",\"kid\":\"k1\",\"crit\":[\"b64\"],\"b64\":false}",
         TP_ATT_R_MALFORMED},
        {key, "{\"alg\":\"ES256\",\"kid\":\"k1\",\"crit\":[]}", TP_ATT_R_MALFORMED},
        /* A nested JWT (cty) carries a string, not claims. */
        {key, "", TP_ATT_R_OK},
    };
    /* The attacker's own key in the header, with and without the pinned kid. */
    snprintf(cases[13].hdr, sizeof cases[13].hdr, "{\"alg\":\"ES256\",\"jwk\":%s}", ojwk);
    cases[13].signer = other;
    cases[13].want = TP_ATT_R_HEADER_KEY_UNTRUSTED;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tp_att_result_t res;
        char *t = tb_sign(cases[i].signer, cases[i].hdr, claims);
        int rc;
        if (!t) /* a header libjose will not sign: refused before the signature */
            t = raw_token(cases[i].hdr, claims, "AAAA");
        TP_ASSERT(t != NULL);
        rc = verify_s(t, &o, &res);
        if (rc == 0 || res.reason != cases[i].want)
            tp_test_fail(__FILE__, __LINE__, "case %zu (%s): rc %d, %s: %s", i,
                         cases[i].hdr, rc, tp_att_reason_name(res.reason), res.detail);
        tp_att_result_fini(&res);
        free(t);
    }
    {
        char hdr[1024];
        tp_att_result_t res;
        char *t;
        snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"k1\",\"jwk\":%s}", ojwk);
        t = tb_sign(other, hdr, claims);
        TP_ASSERT(verify_s(t, &o, &res) != 0);
        TP_CHECK_EQ_INT(res.reason, TP_ATT_R_HEADER_KEY_UNTRUSTED);
        free(t);
        /* Nested: the payload is another JWS, a string. */
        t = tb_sign(key, "{\"alg\":\"ES256\",\"kid\":\"k1\",\"cty\":\"JWT\"}",
                    "\"a.b.c\"");
        TP_ASSERT(verify_s(t, &o, &res) != 0);
        TP_CHECK_EQ_INT(res.reason, TP_ATT_R_CLAIMS_INVALID);
        free(t);
    }
    free(ojwk);
    free(claims);
    json_decref(opub);
    json_decref(jwks);
    json_decref(p384);
    json_decref(other);
    json_decref(key);
}

/* Unsigned and MAC'd tokens, JWE, and mangled compact forms. */
TP_TEST(attest_attack_alg_confusion_and_shapes)
{
    json_t *key = tb_key_new("P-256", "k1"), *pub = tb_key_public(key);
    json_t *jwks = json_pack("{s:[O]}", "keys", pub);
    char *claims = ear_claims("", NULL),
         *good = tb_sign(key, "{\"alg\":\"ES256\"}", claims);
    char *pubtext = json_dumps(pub, JSON_COMPACT | JSON_SORT_KEYS);
    tp_att_opts_t o;
    tp_att_result_t res;
    char *t;
    opts(&o, jwks);
    TP_ASSERT(good != NULL);
    TP_CHECK_EQ_INT(verify_s(good, &o, &res), 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_AFFIRMING);
    tp_att_result_fini(&res);

    /* alg none, with and without a signature segment. */
    t = raw_token("{\"alg\":\"none\"}", claims, "");
    TP_ASSERT(verify_s(t, &o, &res) != 0);
    free(t);
    t = raw_token("{\"alg\":\"none\"}", claims, "AAAA");
    TP_ASSERT(verify_s(t, &o, &res) != 0);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_ALG_REJECTED);
    free(t);
    /* HS256 keyed with the published public key (the classic confusion),
     * signed properly with libjose. */
    {
        json_t *oct = json_pack("{s:s,s:o}", "kty", "oct", "k",
                                jose_b64_enc(pubtext, strlen(pubtext)));
        t = tb_sign(oct, "{\"alg\":\"HS256\"}", claims);
        if (t) {
            TP_ASSERT(verify_s(t, &o, &res) != 0);
            TP_CHECK_EQ_INT(res.reason, TP_ATT_R_ALG_REJECTED);
            free(t);
        }
        json_decref(oct);
    }
    /* JWE (five segments), four, a leading dot, padding, whitespace inside. */
    {
        static const char *const shapes[] = {
            "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", "a.b.c.d", ".a.b", "a..b", "a.b.",
        };
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            TP_ASSERT(verify_s(shapes[i], &o, &res) != 0);
            TP_ASSERT(res.reason == TP_ATT_R_MALFORMED || res.reason == TP_ATT_R_OK);
        }
    }
    {
        size_t n = strlen(good);
        char *m = malloc(n + 3);
        /* Base64 padding on the signature, and a space inside the payload. */
        snprintf(m, n + 3, "%s==", good);
        TP_ASSERT(verify_s(m, &o, &res) != 0);
        snprintf(m, n + 3, "%s", good);
        m[strchr(m, '.') - m + 3] = ' ';
        TP_ASSERT(verify_s(m, &o, &res) != 0);
        /* One flipped payload character: the signature no longer holds. */
        snprintf(m, n + 3, "%s", good);
        {
            char *c = strchr(m, '.') + 5;
            *c = *c == 'A' ? 'B' : 'A';
        }
        TP_ASSERT(verify_s(m, &o, &res) != 0);
        free(m);
    }
    free(pubtext);
    free(good);
    free(claims);
    json_decref(jwks);
    json_decref(pub);
    json_decref(key);
}

/* Claims of the wrong type or value, duplicate keys: refused (a claim the
 * normaliser cannot read never defaults to something usable). */
TP_TEST(attest_attack_claim_types)
{
    json_t *key = tb_key_new("P-256", "k1"),
           *jwks = json_pack("{s:[o]}", "keys", tb_key_public(key));
    static const struct {
        const char *claims;
        tp_att_reason_t want;
    } cases[] = {
        {"{" EAR_ID "\"iat\":\"1795000000\",\"submods\":{\"cpu0\":" TDX_SUB "}}",
         TP_ATT_R_CLAIMS_INVALID},
        {"{" EAR_ID "\"iat\":1795000000.0,\"submods\":{\"cpu0\":" TDX_SUB "}}",
         TP_ATT_R_CLAIMS_INVALID},
        {"{" EAR_ID "\"iat\":-1,\"submods\":{\"cpu0\":" TDX_SUB "}}",
         TP_ATT_R_CLAIMS_INVALID},
        {"{" EAR_ID "\"iat\":9223372036854775807,\"submods\":{\"cpu0\":" TDX_SUB "}}",
         TP_ATT_R_FUTURE},
        {"{" EAR_ID "\"iat\":1795000000,\"exp\":1794999999,\"submods\":{\"cpu0\":" TDX_SUB
         "}}",
         TP_ATT_R_CLAIMS_INVALID},
        {"{" EAR_ID
         "\"iat\":1795000000,\"exp\":-9223372036854775807,\"submods\":{\"cpu0\":" TDX_SUB
         "}}",
         TP_ATT_R_CLAIMS_INVALID},
        {"{" EAR_ID
         "\"iat\":1795000000,\"nbf\":9223372036854775807,\"submods\":{\"cpu0\":" TDX_SUB
         "}}",
         TP_ATT_R_FUTURE},
        {"{" EAR_ID "\"iat\":1794990000,\"exp\":1794990001,\"submods\":{\"cpu0\":" TDX_SUB
         "}}",
         TP_ATT_R_EXPIRED},
        {"{" EAR_ID "\"iat\":1795000000,\"submods\":{\"cpu0\":{\"ear.status\":true}}}",
         TP_ATT_R_CLAIMS_INVALID},
        {"{" EAR_ID "\"iat\":1795000000,\"submods\":{\"cpu0\":{\"ear.status\":200}}}",
         TP_ATT_R_CLAIMS_INVALID},
        {"{" EAR_ID
         "\"iat\":1795000000,\"submods\":{\"cpu0\":{\"ear.status\":\"Affirming\"}}}",
         TP_ATT_R_CLAIMS_INVALID},
        {"{" EAR_ID
         "\"iat\":1795000000,\"submods\":{\"cpu0\":{\"ear.status\":\"affirming\","
         "\"ear.trustworthiness-vector\":{\"hardware\":2.5}}}}",
         TP_ATT_R_CLAIMS_INVALID},
        {"{" EAR_ID
         "\"iat\":1795000000,\"submods\":{\"cpu0\":{\"ear.status\":\"affirming\","
         "\"ear.status\":\"contraindicated\"}}}",
         TP_ATT_R_CLAIMS_INVALID},
        {"{" EAR_ID "\"iat\":1795000000,\"iat\":1795000001,\"submods\":{\"cpu0\":" TDX_SUB
         "}}",
         TP_ATT_R_CLAIMS_INVALID},
        {"{" EAR_ID "\"iat\":1795000000,\"submods\":[" TDX_SUB "]}",
         TP_ATT_R_CLAIMS_INVALID},
        {"{" EAR_ID "\"iat\":1795000000,\"submods\":{\"cpu0\":\"affirming\"}}",
         TP_ATT_R_CLAIMS_INVALID},
        {"[1]", TP_ATT_R_CLAIMS_INVALID},
    };
    tp_att_opts_t o;
    opts(&o, jwks);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tp_att_result_t res;
        char *t = tb_sign(key, "{\"alg\":\"ES256\"}", cases[i].claims);
        int rc;
        TP_ASSERT(t != NULL);
        rc = verify_s(t, &o, &res);
        if (rc == 0 || res.reason != cases[i].want)
            tp_test_fail(__FILE__, __LINE__, "case %zu: rc %d, %s: %s", i, rc,
                         tp_att_reason_name(res.reason), res.detail);
        tp_att_result_fini(&res);
        free(t);
    }
    json_decref(jwks);
    json_decref(key);
}

/* Binding: lookalike, padded or re-cased names are other nodes; a replayed
 * nonce or a nonce of the wrong type is refused. */
TP_TEST(attest_attack_binding_and_nonce)
{
    json_t *key = tb_key_new("P-256", "k1"),
           *jwks = json_pack("{s:[o]}", "keys", tb_key_public(key));
    static const char *const subs[] = {
        "\"sub\":\"n\\u043ede-1\",", /* Cyrillic o */
        "\"sub\":\"node-1 \",",      "\"sub\":\"Node-1\",", "\"sub\":\"node-1\\u0000\",",
        "\"sub\":[\"node-1\"],",     "\"sub\":\"\",",
    };
    static const char *const nonces[] = {
        "\"eat_nonce\":\"00112233445566778899aabbccddeeff\",", /* replayed */
        "\"eat_nonce\":[\"0123456789abcdef0123456789abcdef\"],",
        "\"eat_nonce\":\"0123456789ABCDEF0123456789ABCDEF\",",
        "",
    };
    tp_att_opts_t o;
    tp_att_result_t res;
    opts(&o, jwks);
    o.bind = TP_ATT_BIND_CLAIM;
    o.node_id = "node-1";
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        char *c = ear_claims(subs[i], NULL), *t = tb_sign(key, "{\"alg\":\"ES256\"}", c);
        int rc = verify_s(t, &o, &res);
        if (rc == 0)
            tp_test_fail(__FILE__, __LINE__, "sub case %zu accepted: %s", i,
                         tp_att_status_name(res.att.status));
        tp_att_result_fini(&res);
        free(t);
        free(c);
    }
    /* UEID binding: empty, listed, wrong-typed or foreign UEIDs anywhere in the
     * result never bind; naming none leaves the result unbound (none). */
    {
        static const char *const mine[] = {"u1"};
        static const struct {
            const char *extra, *sub;
            int rc; /* 0 accepted (then: bound?), 1 rejected */
            bool bound;
        } u[] = {
            {"\"ueid\":\"u1\",", NULL, 0, true},
            {"\"ueid\":\"\",", NULL, 1, false},
            {"\"ueid\":[],", NULL, 1, false},
            {"\"ueid\":[\"u1\"],", NULL, 1, false},
            {"\"ueid\":\"U1\",", NULL, 1, false},
            {"\"ueid\":\"u1\",",
             "{\"ear.status\":\"affirming\",\"ueid\":\"u2\",\"ear.veraison.annotated-"
             "evidence\":{\"tdx\":{}}}",
             1, false},
            {"", NULL, 0, false},
        };
        o.bind = TP_ATT_BIND_UEID;
        o.node_ids = mine;
        o.n_node_ids = 1;
        for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
            char *c = ear_claims(u[i].extra, u[i].sub),
                 *t = tb_sign(key, "{\"alg\":\"ES256\"}", c);
            int rc = verify_s(t, &o, &res);
            if (rc != u[i].rc)
                tp_test_fail(__FILE__, __LINE__, "ueid case %zu: rc %d (%s)", i, rc,
                             res.detail);
            if (rc == 0) {
                TP_CHECK_EQ_INT(res.unbound, !u[i].bound);
                TP_CHECK_EQ_INT(res.att.status,
                                u[i].bound ? TP_ATT_AFFIRMING : TP_ATT_NONE);
                TP_CHECK_EQ_INT(res.att.cpu_tee,
                                u[i].bound ? TP_TEE_TDX : TP_TEE_UNKNOWN);
                tp_att_result_fini(&res);
            } else {
                TP_CHECK_EQ_INT(res.reason, TP_ATT_R_NODE);
            }
            free(t);
            free(c);
        }
        o.node_ids = NULL;
        o.n_node_ids = 0;
    }
    o.bind = TP_ATT_BIND_NONE;
    o.nonce = "0123456789abcdef0123456789abcdef";
    for (size_t i = 0; i < sizeof nonces / sizeof nonces[0]; i++) {
        char *c = ear_claims(nonces[i], NULL),
             *t = tb_sign(key, "{\"alg\":\"ES256\"}", c);
        TP_ASSERT(verify_s(t, &o, &res) != 0);
        TP_CHECK_EQ_INT(res.reason, TP_ATT_R_NONCE);
        free(t);
        free(c);
    }
    json_decref(jwks);
    json_decref(key);
}

/* Trustee writes every trust claim, 0 ("no claim") for those its policy did
 * not set (the Trustee fixture does); Veraison's own
 * UpdateStatusFromTrustVector ignores claims in the none tier. An affirming
 * result with such zeros is affirming, not none; a made claim that is worse,
 * or -1 (verifier malfunction) / 1 (unexpected evidence), still lowers it. */
TP_TEST(attest_ear_no_claim_vector_entries_do_not_lower)
{
    static const struct {
        const char *sub;
        tp_att_status_t want;
    } cases[] = {
        {"{\"ear.status\":\"affirming\",\"ear.trustworthiness-vector\":{\"instance-"
         "identity"
         "\":0,\"configuration\":2,\"executables\":3,\"file-system\":0,\"hardware\":2,"
         "\"runtime-opaque\":0,\"storage-opaque\":0,\"sourced-data\":0},"
         "\"ear.veraison.annotated-evidence\":{\"tdx\":{}}}",
         TP_ATT_AFFIRMING},
        {"{\"ear.status\":\"affirming\",\"ear.trustworthiness-vector\":{\"hardware\":-1,"
         "\"executables\":0}}",
         TP_ATT_NONE},
        {"{\"ear.status\":\"affirming\",\"ear.trustworthiness-vector\":{\"hardware\":2,"
         "\"executables\":1}}",
         TP_ATT_NONE},
        {"{\"ear.status\":\"affirming\",\"ear.trustworthiness-vector\":{\"hardware\":0,"
         "\"executables\":33}}",
         TP_ATT_WARNING},
        {"{\"ear.status\":\"none\",\"ear.trustworthiness-vector\":{\"hardware\":2}}",
         TP_ATT_NONE},
        /* No status and no claim made: nothing attested. */
        {"{\"ear.trustworthiness-vector\":{\"hardware\":0}}", TP_ATT_NONE},
        {"{\"ear.trustworthiness-vector\":{\"hardware\":0,\"executables\":2}}",
         TP_ATT_AFFIRMING},
    };
    json_t *key = tb_key_new("P-256", "k1"),
           *jwks = json_pack("{s:[o]}", "keys", tb_key_public(key));
    tp_att_opts_t o;
    opts(&o, jwks);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tp_att_result_t res;
        char *c = ear_claims("", cases[i].sub),
             *t = tb_sign(key, "{\"alg\":\"ES256\"}", c);
        TP_CHECK_EQ_INT(verify_s(t, &o, &res), 0);
        if (res.att.status != cases[i].want)
            tp_test_fail(__FILE__, __LINE__, "case %zu: %s, want %s", i,
                         tp_att_status_name(res.att.status),
                         tp_att_status_name(cases[i].want));
        if (i == 0)
            TP_CHECK_EQ_INT(res.att.cpu_tee, TP_TEE_TDX);
        tp_att_result_fini(&res);
        free(t);
        free(c);
    }
    json_decref(jwks);
    json_decref(key);
}

/* RSA: a key pinned for RS256 never verifies PS256 (and back); a header that
 * names one scheme over a signature made with the other does not verify. */
TP_TEST(attest_attack_rsa_scheme_mixups)
{
    json_t *rk = tb_rsa_key_new(2048, "r1"), *pub, *jwks;
    char *claims = ear_claims("", NULL), *t;
    tp_att_opts_t o;
    tp_att_result_t res;
    TP_ASSERT(rk != NULL);
    pub = tb_key_public(rk);
    json_object_set_new(pub, "alg", json_string("RS256"));
    jwks = json_pack("{s:[O]}", "keys", pub);
    opts(&o, jwks);
    t = tb_sign(rk, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", claims);
    TP_CHECK_EQ_INT(verify_s(t, &o, &res), 0);
    tp_att_result_fini(&res);
    free(t);
    t = tb_sign(rk, "{\"alg\":\"PS256\",\"kid\":\"r1\"}", claims);
    TP_CHECK_EQ_INT(verify_s(t, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_KEY_MISMATCH);
    free(t);
    /* Signed PS256, relabelled RS256 (the key without alg: both schemes allowed). */
    json_object_del(pub, "alg");
    json_decref(jwks);
    jwks = json_pack("{s:[O]}", "keys", pub);
    o.jwks = jwks;
    t = tb_sign(rk, "{\"alg\":\"PS256\",\"kid\":\"r1\"}", claims);
    TP_CHECK_EQ_INT(verify_s(t, &o, &res), 0);
    tp_att_result_fini(&res);
    {
        char *sig = strrchr(t, '.'),
             *forged = raw_token("{\"alg\":\"RS256\",\"kid\":\"r1\"}", claims, sig + 1);
        TP_CHECK_EQ_INT(verify_s(forged, &o, &res), 1);
        TP_CHECK_EQ_INT(res.reason, TP_ATT_R_SIG_INVALID);
        free(forged);
    }
    free(t);
    /* An ES256 header against the RSA key. */
    t = tb_sign(rk, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", claims);
    {
        char *sig = strrchr(t, '.'),
             *forged = raw_token("{\"alg\":\"ES256\",\"kid\":\"r1\"}", claims, sig + 1);
        TP_CHECK_EQ_INT(verify_s(forged, &o, &res), 1);
        TP_CHECK_EQ_INT(res.reason, TP_ATT_R_KEY_MISMATCH);
        free(forged);
    }
    free(t);
    free(claims);
    json_decref(jwks);
    json_decref(pub);
    json_decref(rk);
}
