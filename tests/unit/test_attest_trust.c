/*
 * tests/unit/test_attest_trust.c — the attestation verifier fails closed: NRAS
 * warnings read as NRAS writes them, negative results attest nothing, the
 * worst of duplicate status sources, results bound to their node (claim,
 * UEID, nonce), EAR profile and verifier identity, RSA sizes in bits, x5c
 * chains and JWKS keys that must allow signing, JWKS as real verifiers
 * publish them (one key per alg under one kid, x5c-only keys), and the
 * verifier configuration (https anchors, binding, nonce).
 */
#include "collectors/collectors.h"
#include "tests/testbed/testbed.h"
#include "tp_test.h"

#include <jose/jose.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1795000000
#define EAR_ID                                                                           \
    "\"eat_profile\":\"tag:github.com,2023:veraison/ear\",\"ear.verifier-id\":{"         \
    "\"developer\":\"https://veraison-project.org\",\"build\":\"vts 0.0.1\"},"

static int verify_s(const char *tok, const tp_att_opts_t *o, tp_att_result_t *res)
{
    return tp_att_verify(tok, strlen(tok), o, res);
}

static json_t *jwks_of(const json_t *priv)
{
    return json_pack("{s:[o]}", "keys", tb_key_public(priv));
}

/* Signs claims (JSON text) with key under header h and verifies; rc. */
static int sign_verify(const json_t *key, const char *h, const char *claims,
                       const tp_att_opts_t *o, tp_att_result_t *res)
{
    char *t = tb_sign(key, h, claims);
    int rc;
    if (!t)
        return -100;
    rc = verify_s(t, o, res);
    free(t);
    return rc;
}

static void opts(tp_att_opts_t *o, const json_t *jwks)
{
    tp_att_opts_init(o);
    o->jwks = jwks;
    o->now = NOW;
    o->bind = TP_ATT_BIND_NONE;
}

/* ---- NRAS --------------------------------------------------------------------- */

/* An NRAS body [["JWT", overall], {"GPU-0": gpu, …}] over the given GPU
 * claims, with the overall claims of the nvtrust fixture and the digests bound. */
static char *nras_body_n(const json_t *key, json_t *const *gpus, int n,
                         const char *shared)
{
    static const char *const h384 = "{\"alg\":\"ES384\",\"kid\":\"nv1\"}";
    char path[1024], *op, *ot, *body;
    json_t *oc, *arr, *toks;
    snprintf(path, sizeof path,
             "%s/fixtures/attestation/nvidia-nras-claims/overall_claims_remote.json",
             shared);
    oc = json_load_file(path, 0, NULL);
    if (!oc)
        return NULL;
    toks = json_object();
    json_object_clear(json_object_get(oc, "submods"));
    for (int i = 0; i < n; i++) {
        char label[16], tag[72], *gp = json_dumps(gpus[i], JSON_COMPACT);
        char *gt = tb_sign(key, h384, gp);
        snprintf(label, sizeof label, "GPU-%d", i);
        tp_sha256_tag(gt, strlen(gt), tag);
        json_object_set_new(json_object_get(oc, "submods"), label,
                            json_pack("[s,[s,s]]", "DIGEST", "SHA-256", tag + 7));
        json_object_set_new(toks, label, json_string(gt));
        free(gp);
        free(gt);
    }
    op = json_dumps(oc, JSON_COMPACT);
    ot = tb_sign(key, h384, op);
    arr = json_pack("[[s,s],o]", "JWT", ot, toks);
    body = json_dumps(arr, 0);
    json_decref(arr);
    json_decref(oc);
    free(op);
    free(ot);
    return body;
}

static char *nras_body(const json_t *key, json_t *gpu_claims, const char *shared)
{
    return nras_body_n(key, &gpu_claims, 1, shared);
}

static json_t *nras_gpu_fixture(const char *shared)
{
    char path[1024];
    snprintf(path, sizeof path,
             "%s/fixtures/attestation/nvidia-nras-claims/detached_claims_remote.json",
             shared);
    return json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
}

/* Real NRAS tokens carry "x-nvidia-attestation-warning": null; only a value
 * is a warning. */
TP_TEST(attest_nras_warning_null_is_not_a_warning)
{
    const char *shared = tp_test_shared();
    static const struct {
        const char *json; /* the key's value; NULL: absent */
        tp_att_status_t want;
    } cases[] = {{"null", TP_ATT_AFFIRMING},
                 {NULL, TP_ATT_AFFIRMING},
                 {"\"\"", TP_ATT_AFFIRMING},
                 {"\"THE CERTIFICATE HCC RIM L4 Signer IS REVOKED\"", TP_ATT_WARNING},
                 {"true", TP_ATT_WARNING}};
    json_t *key, *jwks;
    if (!shared)
        TP_SKIP("../shared absent: no NRAS claims");
    key = tb_key_new("P-384", "nv1");
    jwks = jwks_of(key);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *gc = nras_gpu_fixture(shared);
        tp_att_opts_t o;
        tp_att_result_t res;
        char *body;
        TP_ASSERT(gc != NULL);
        json_object_del(gc, "x-nvidia-attestation-warning");
        if (cases[i].json)
            json_object_set_new(gc, "x-nvidia-attestation-warning",
                                json_loads(cases[i].json, JSON_DECODE_ANY, NULL));
        body = nras_body(key, gc, shared);
        opts(&o, jwks);
        o.now = 1727387975 + 100;
        TP_ASSERT(body && verify_s(body, &o, &res) == 0);
        if (res.att.status != cases[i].want)
            tp_test_fail(__FILE__, __LINE__, "warning %s: %s",
                         cases[i].json ? cases[i].json : "absent",
                         tp_att_status_name(res.att.status));
        TP_CHECK_EQ_INT(res.att.gpu_cc, 1);
        tp_att_result_fini(&res);
        free(body);
        json_decref(gc);
    }
    json_decref(jwks);
    json_decref(key);
}

/* NRAS results bind by the GPUs' UEIDs. */
TP_TEST(attest_nras_bound_by_ueid)
{
    const char *shared = tp_test_shared();
    const char *mine[] = {"481858311570236547493498289839486179865867984732"};
    const char *other[] = {"490457405999046854973671575630853621547794591064"};
    json_t *key, *jwks, *gc;
    tp_att_opts_t o;
    tp_att_result_t res;
    char *body;
    if (!shared)
        TP_SKIP("../shared absent: no NRAS claims");
    key = tb_key_new("P-384", "nv1");
    jwks = jwks_of(key);
    gc = nras_gpu_fixture(shared);
    TP_ASSERT(gc != NULL);
    body = nras_body(key, gc, shared);
    TP_ASSERT(body != NULL);
    opts(&o, jwks);
    o.now = 1727387975 + 100;
    o.bind = TP_ATT_BIND_UEID;
    o.node_id = "node-a";
    o.node_ids = mine;
    o.n_node_ids = 1;
    TP_CHECK_EQ_INT(verify_s(body, &o, &res), 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_AFFIRMING);
    TP_CHECK(!res.unbound);
    tp_att_result_fini(&res);
    /* Fetched for node B, issued for node A's GPU: rejected. */
    o.node_id = "node-b";
    o.node_ids = other;
    TP_CHECK_EQ_INT(verify_s(body, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_NODE);
    /* The eat_nonce the overall token carries must be the one sent. */
    o.node_id = "node-a";
    o.node_ids = mine;
    o.nonce = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb";
    TP_CHECK_EQ_INT(verify_s(body, &o, &res), 0);
    tp_att_result_fini(&res);
    o.nonce = "00112233445566778899aabbccddeeff";
    TP_CHECK_EQ_INT(verify_s(body, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_NONCE);
    /* Two GPUs, one naming no UEID: the node is not named by all of them. */
    {
        json_t *two[2] = {gc, json_deep_copy(gc)};
        o.nonce = NULL;
        json_object_del(two[1], "ueid");
        free(body);
        body = nras_body_n(key, two, 2, shared);
        TP_CHECK_EQ_INT(verify_s(body, &o, &res), 0);
        TP_CHECK(res.unbound);
        TP_CHECK_EQ_INT(res.att.status, TP_ATT_NONE);
        tp_att_result_fini(&res);
        /* Both named, one by another node's GPU: rejected. */
        json_object_set_new(two[1], "ueid", json_string(other[0]));
        free(body);
        body = nras_body_n(key, two, 2, shared);
        TP_CHECK_EQ_INT(verify_s(body, &o, &res), 1);
        TP_CHECK_EQ_INT(res.reason, TP_ATT_R_NODE);
        json_decref(two[1]);
    }
    /* No UEID at all: cannot be bound, status none, nothing attested. */
    free(body);
    json_object_del(gc, "ueid");
    body = nras_body(key, gc, shared);
    o.nonce = NULL;
    TP_CHECK_EQ_INT(verify_s(body, &o, &res), 0);
    TP_CHECK(res.unbound);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_NONE);
    TP_CHECK_EQ_INT(res.att.gpu_cc, -1);
    tp_att_result_fini(&res);
    free(body);
    json_decref(gc);
    json_decref(jwks);
    json_decref(key);
}

/* NRAS responses mixed up by an adversary on the path (or a confused proxy):
 * GPU tokens moved between labels or responses, relabelled, re-signed with
 * another key, with their own nonce, expired or in debug mode. */
TP_TEST(attest_nras_spliced_responses)
{
    const char *shared = tp_test_shared();
    json_t *key, *evil, *jwks, *g0, *g1, *a, *b, *spliced;
    tp_att_opts_t o;
    tp_att_result_t res;
    char *ta, *tb, *t;
    if (!shared)
        TP_SKIP("../shared absent: no NRAS claims");
    key = tb_key_new("P-384", "nv1");
    evil = tb_key_new("P-384", "nv1");
    jwks = jwks_of(key);
    g0 = nras_gpu_fixture(shared);
    TP_ASSERT(g0 != NULL);
    g1 = json_deep_copy(g0);
    json_object_set_new(g1, "hwmodel", json_string("GH100 A01 GSP BROM (other)"));
    opts(&o, jwks);
    o.now = 1727387975 + 100;
    {
        json_t *two[2] = {g0, g1};
        ta = nras_body_n(key, two, 2, shared);
        tb = nras_body_n(key, &g1, 1, shared);
    }
    TP_ASSERT(ta && tb);
    a = json_loads(ta, 0, NULL);
    b = json_loads(tb, 0, NULL);
    TP_ASSERT(verify_s(ta, &o, &res) == 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_AFFIRMING);
    tp_att_result_fini(&res);
    /* The two GPU tokens swapped between their labels. */
    spliced = json_deep_copy(a);
    {
        json_t *toks = json_array_get(spliced, 1), *x = json_object_get(toks, "GPU-0");
        json_incref(x);
        json_object_set(toks, "GPU-0", json_object_get(toks, "GPU-1"));
        json_object_set_new(toks, "GPU-1", x);
    }
    t = json_dumps(spliced, 0);
    TP_CHECK_EQ_INT(verify_s(t, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_DIGEST);
    free(t);
    json_decref(spliced);
    /* Response A's overall token with response B's GPU token. */
    spliced = json_pack("[O,O]", json_array_get(a, 0), json_array_get(b, 1));
    t = json_dumps(spliced, 0);
    TP_CHECK_EQ_INT(verify_s(t, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_DIGEST);
    free(t);
    json_decref(spliced);
    /* One GPU dropped, or relabelled. */
    spliced = json_deep_copy(a);
    json_object_del(json_array_get(spliced, 1), "GPU-1");
    t = json_dumps(spliced, 0);
    TP_CHECK_EQ_INT(verify_s(t, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_DIGEST);
    free(t);
    json_object_set(json_array_get(spliced, 1), "GPU-9",
                    json_object_get(json_array_get(a, 1), "GPU-1"));
    t = json_dumps(spliced, 0);
    TP_CHECK_EQ_INT(verify_s(t, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_DIGEST);
    free(t);
    json_decref(spliced);
    /* A GPU token with a nonce of its own, expired, in debug mode, or signed
     * (consistently, digests and all) by a key that is not pinned. */
    {
        for (int m = 0; m < 4; m++) {
            json_t *g = json_deep_copy(g0);
            char *body;
            if (m == 0)
                json_object_set_new(g, "eat_nonce",
                                    json_string("00112233445566778899aabb"));
            else if (m == 1)
                json_object_set_new(g, "exp", json_integer(1727387975 + 1));
            else if (m == 2)
                json_object_set_new(g, "dbgstat", json_string("enabled"));
            body = nras_body(m == 3 ? evil : key, g, shared);
            TP_ASSERT(body != NULL);
            if (m == 2) {
                TP_CHECK_EQ_INT(verify_s(body, &o, &res), 0);
                TP_CHECK_EQ_INT(res.att.status, TP_ATT_CONTRAINDICATED);
                TP_CHECK_EQ_INT(res.att.gpu_cc, 0);
                tp_att_result_fini(&res);
            } else {
                TP_CHECK_EQ_INT(verify_s(body, &o, &res), 1);
                TP_CHECK_EQ_INT(res.reason, m == 0   ? TP_ATT_R_NONCE
                                            : m == 1 ? TP_ATT_R_EXPIRED
                                                     : TP_ATT_R_SIG_INVALID);
            }
            free(body);
            json_decref(g);
        }
    }
    json_decref(a);
    json_decref(b);
    free(ta);
    free(tb);
    json_decref(g1);
    json_decref(g0);
    json_decref(jwks);
    json_decref(evil);
    json_decref(key);
}

/* ---- EAR claims ----------------------------------------------------------------- */

/* A contraindicated or none result attests no TEE and no CC. */
TP_TEST(attest_negative_results_attest_nothing)
{
    json_t *key = tb_key_new("P-256", "k1"), *jwks = jwks_of(key), *c;
    tp_att_opts_t o;
    tp_att_result_t res;
    char *p;
    static const char *const st[] = {"contraindicated", "affirming"};
    opts(&o, jwks);
    for (int i = 0; i < 2; i++) {
        c = tb_ear_claims("tdx", true, st[i], NOW, NOW + 300, "j");
        p = json_dumps(c, JSON_COMPACT);
        /* i == 1: affirming, but the CPU component is required and missing in
         * name (a GPU-only result is asked for the CPU): status none. */
        if (i == 1) {
            json_object_del(json_object_get(c, "submods"), "cpu0");
            free(p);
            p = json_dumps(c, JSON_COMPACT);
            o.require = TP_ATT_REQ_CPU;
        }
        TP_ASSERT(sign_verify(key, "{\"alg\":\"ES256\",\"kid\":\"k1\"}", p, &o, &res) ==
                  0);
        TP_CHECK_EQ_INT(res.att.status, i ? TP_ATT_NONE : TP_ATT_CONTRAINDICATED);
        TP_CHECK_EQ_INT(res.att.cpu_tee, TP_TEE_UNKNOWN);
        TP_CHECK(res.att.gpu_cc != 1);
        tp_att_result_fini(&res);
        free(p);
        json_decref(c);
    }
    json_decref(jwks);
    json_decref(key);
}

/* Both spellings in one submodule, or duplicate sources: the worst wins, in
 * whichever order they appear. */
TP_TEST(attest_duplicate_status_sources_take_worst)
{
    static const char *const subs[] = {
        "{\"ear.status\":\"affirming\",\"ear_status\":\"contraindicated\"}",
        "{\"ear_status\":\"contraindicated\",\"ear.status\":\"affirming\"}",
        "{\"ear.status\":\"affirming\",\"ear.trustworthiness-vector\":{\"hardware\":2},"
        "\"ear_trustworthiness_vector\":{\"hardware\":96}}",
        "{\"ear_status\":\"affirming\",\"ear.trustworthiness-vector\":{\"executables\":"
        "33}}",
        "{\"ear.status\":2,\"ear_status\":\"warning\"}",
    };
    static const tp_att_status_t want[] = {TP_ATT_CONTRAINDICATED, TP_ATT_CONTRAINDICATED,
                                           TP_ATT_CONTRAINDICATED, TP_ATT_WARNING,
                                           TP_ATT_WARNING};
    json_t *key = tb_key_new("P-256", "k1"), *jwks = jwks_of(key);
    tp_att_opts_t o;
    opts(&o, jwks);
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        char claims[1024];
        tp_att_result_t res;
        snprintf(claims, sizeof claims,
                 "{" EAR_ID "\"iat\":%d,\"submods\":{\"cpu0\":%s}}", NOW, subs[i]);
        TP_ASSERT(sign_verify(key, "{\"alg\":\"ES256\"}", claims, &o, &res) == 0);
        if (res.att.status != want[i])
            tp_test_fail(__FILE__, __LINE__, "case %zu: %s", i,
                         tp_att_status_name(res.att.status));
        tp_att_result_fini(&res);
    }
    json_decref(jwks);
    json_decref(key);
}

/* An EAR names a known profile and its verifier; pinned ids must match. */
TP_TEST(attest_ear_profile_and_verifier_id)
{
    static const struct {
        const char *head; /* claims before iat */
        tp_att_reason_t want;
    } cases[] = {
        {"", TP_ATT_R_PROFILE},
        {"\"eat_profile\":\"tag:example.com,2024:not-ear\",\"ear.verifier-id\":{"
         "\"developer\":\"d\",\"build\":\"b\"},",
         TP_ATT_R_PROFILE},
        {"\"eat_profile\":\"tag:github.com,2023:veraison/ear\",", TP_ATT_R_PROFILE},
        {"\"eat_profile\":\"tag:github.com,2023:veraison/ear\",\"ear.verifier-id\":{"
         "\"developer\":\"https://evil.example\",\"build\":\"vts 0.0.1\"},",
         TP_ATT_R_ISSUER},
        {"\"eat_profile\":\"tag:github.com,2023:veraison/ear\",\"ear.verifier-id\":{"
         "\"developer\":\"https://veraison-project.org\",\"build\":\"vts 9\"},",
         TP_ATT_R_ISSUER},
        {EAR_ID, TP_ATT_R_OK},
        {"\"eat_profile\":\"tag:ietf.org,2026:rats/ear#03\",\"ear_verifier_id\":{"
         "\"developer\":\"https://veraison-project.org\",\"build\":\"vts 0.0.1\"},",
         TP_ATT_R_OK},
    };
    json_t *key = tb_key_new("P-256", "k1"), *jwks = jwks_of(key);
    tp_att_opts_t o;
    opts(&o, jwks);
    o.verifier_developer = "https://veraison-project.org";
    o.verifier_build = "vts 0.0.1";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char claims[1024];
        tp_att_result_t res;
        int rc;
        snprintf(claims, sizeof claims,
                 "{%s\"iat\":%d,\"submods\":{\"cpu0\":{\"ear.status\":\"affirming\"}}}",
                 cases[i].head, NOW);
        rc = sign_verify(key, "{\"alg\":\"ES256\"}", claims, &o, &res);
        TP_CHECK_EQ_INT(rc, cases[i].want == TP_ATT_R_OK ? 0 : 1);
        if (rc == 1 && res.reason != cases[i].want)
            tp_test_fail(__FILE__, __LINE__, "case %zu: %s (%s)", i,
                         tp_att_reason_name(res.reason), res.detail);
        if (rc == 0)
            tp_att_result_fini(&res);
    }
    json_decref(jwks);
    json_decref(key);
}

/* A result names its node ("sub" by default, or a configured claim / JSON
 * pointer, or one of the node's identities). */
TP_TEST(attest_bound_to_node)
{
    json_t *key = tb_key_new("P-256", "k1"), *jwks = jwks_of(key);
    tp_att_opts_t o;
    tp_att_result_t res;
    char claims[1024];
    const char *ids[] = {"vm-7f3a", "vm-0000"};
    static const char *const fmt = "{" EAR_ID "\"iat\":%d,%s\"submods\":{\"cpu0\":{"
                                   "\"ear.status\":\"affirming\","
                                   "\"ear.veraison.annotated-evidence\":{\"tdx\":{}}}}}";
    opts(&o, jwks);
    o.bind = TP_ATT_BIND_CLAIM;
    o.node_id = "node-b";
    /* Issued for node A, fetched for node B. */
    snprintf(claims, sizeof claims, fmt, NOW, "\"sub\":\"node-a\",");
    TP_CHECK_EQ_INT(sign_verify(key, "{\"alg\":\"ES256\"}", claims, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_NODE);
    TP_CHECK_CONTAINS(res.detail, "node-a");
    o.node_id = "node-a";
    TP_CHECK_EQ_INT(sign_verify(key, "{\"alg\":\"ES256\"}", claims, &o, &res), 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_AFFIRMING);
    TP_CHECK_EQ_INT(res.att.cpu_tee, TP_TEE_TDX);
    tp_att_result_fini(&res);
    /* Prefix or case tricks do not match. */
    o.node_id = "node-a2";
    TP_CHECK_EQ_INT(sign_verify(key, "{\"alg\":\"ES256\"}", claims, &o, &res), 1);
    /* A non-string claim is not a name. */
    snprintf(claims, sizeof claims, fmt, NOW, "\"sub\":[\"node-a\"],");
    o.node_id = "node-a";
    TP_CHECK_EQ_INT(sign_verify(key, "{\"alg\":\"ES256\"}", claims, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_NODE);
    /* No name at all: none (not rejected: the verifier answered), no TEE. */
    snprintf(claims, sizeof claims, fmt, NOW, "");
    TP_CHECK_EQ_INT(sign_verify(key, "{\"alg\":\"ES256\"}", claims, &o, &res), 0);
    TP_CHECK(res.unbound);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_NONE);
    TP_CHECK_EQ_INT(res.att.cpu_tee, TP_TEE_UNKNOWN);
    tp_att_result_fini(&res);
    /* Unless the verifier is configured not to bind. */
    o.bind = TP_ATT_BIND_NONE;
    TP_CHECK_EQ_INT(sign_verify(key, "{\"alg\":\"ES256\"}", claims, &o, &res), 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_AFFIRMING);
    tp_att_result_fini(&res);
    /* A JSON pointer and per-node identities (an Azure VM id, say). */
    o.bind = TP_ATT_BIND_CLAIM;
    o.node_claim = "/x-ms-runtime/vm~1id";
    o.node_ids = ids;
    o.n_node_ids = 2;
    snprintf(claims, sizeof claims, fmt, NOW,
             "\"x-ms-runtime\":{\"vm/id\":\"vm-7f3a\"},\"sub\":\"node-b\",");
    TP_CHECK_EQ_INT(sign_verify(key, "{\"alg\":\"ES256\"}", claims, &o, &res), 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_AFFIRMING);
    tp_att_result_fini(&res);
    snprintf(claims, sizeof claims, fmt, NOW,
             "\"x-ms-runtime\":{\"vm/id\":\"vm-1111\"},");
    TP_CHECK_EQ_INT(sign_verify(key, "{\"alg\":\"ES256\"}", claims, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_NODE);
    /* A nonce sent must come back. */
    o.node_claim = NULL;
    o.node_ids = NULL;
    o.n_node_ids = 0;
    o.nonce = "0123456789abcdef0123456789abcdef";
    snprintf(claims, sizeof claims, fmt, NOW, "\"sub\":\"node-a\",");
    TP_CHECK_EQ_INT(sign_verify(key, "{\"alg\":\"ES256\"}", claims, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_NONCE);
    snprintf(claims, sizeof claims, fmt, NOW,
             "\"sub\":\"node-a\",\"eat_nonce\":\"0123456789abcdef0123456789abcdef\",");
    TP_CHECK_EQ_INT(sign_verify(key, "{\"alg\":\"ES256\"}", claims, &o, &res), 0);
    tp_att_result_fini(&res);
    json_decref(jwks);
    json_decref(key);
}

/* ---- keys ---------------------------------------------------------------------- */

static const char *const RS_CLAIMS =
    "{" EAR_ID
    "\"iat\":1795000000,\"submods\":{\"cpu0\":{\"ear.status\":\"affirming\"}}}";

/* Bits, not bytes: a 2041-bit modulus takes 256 bytes but is not 2048 bits. */
TP_TEST(attest_rsa_bits_not_bytes)
{
    json_t *k2041 = tb_rsa_key_new(2041, "r"), *k2048 = tb_rsa_key_new(2048, "r");
    json_t *j1, *j2;
    tp_att_opts_t o;
    tp_att_result_t res;
    TP_ASSERT(k2041 && k2048);
    j1 = jwks_of(k2041);
    j2 = jwks_of(k2048);
    opts(&o, j1);
    TP_CHECK_EQ_INT(
        sign_verify(k2041, "{\"alg\":\"RS256\",\"kid\":\"r\"}", RS_CLAIMS, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_KEY_MISMATCH);
    TP_CHECK_CONTAINS(res.detail, "2041");
    o.jwks = j2;
    TP_CHECK_EQ_INT(
        sign_verify(k2048, "{\"alg\":\"PS256\",\"kid\":\"r\"}", RS_CLAIMS, &o, &res), 0);
    tp_att_result_fini(&res);
    json_decref(j1);
    json_decref(j2);
    json_decref(k2041);
    json_decref(k2048);
}

/* Real JWKS list one key once per alg under one kid (select by the token's
 * alg); two different keys under one kid for one alg stay ambiguous. */
TP_TEST(attest_jwks_one_kid_per_alg)
{
    json_t *rsa = tb_rsa_key_new(2048, "k"), *ec = tb_key_new("P-256", "k");
    json_t *other = tb_rsa_key_new(2048, "k");
    json_t *pub = tb_key_public(rsa), *ecpub = tb_key_public(ec),
           *opub = tb_key_public(other);
    json_t *jwks, *a, *b, *c;
    tp_att_opts_t o;
    tp_att_result_t res;
    TP_ASSERT(rsa && ec && other && pub && ecpub && opub);
    a = json_deep_copy(pub);
    b = json_deep_copy(pub);
    json_object_set_new(a, "alg", json_string("RS256"));
    json_object_set_new(b, "alg", json_string("PS384"));
    c = json_deep_copy(ecpub);
    json_object_set_new(c, "alg", json_string("ES256"));
    jwks = json_pack("{s:[O,O,O]}", "keys", a, b, c);
    opts(&o, jwks);
    TP_CHECK_EQ_INT(
        sign_verify(rsa, "{\"alg\":\"RS256\",\"kid\":\"k\"}", RS_CLAIMS, &o, &res), 0);
    tp_att_result_fini(&res);
    TP_CHECK_EQ_INT(
        sign_verify(rsa, "{\"alg\":\"PS384\",\"kid\":\"k\"}", RS_CLAIMS, &o, &res), 0);
    tp_att_result_fini(&res);
    TP_CHECK_EQ_INT(
        sign_verify(ec, "{\"alg\":\"ES256\",\"kid\":\"k\"}", RS_CLAIMS, &o, &res), 0);
    tp_att_result_fini(&res);
    /* PS512 is listed for no key under k: refused. */
    TP_CHECK_EQ_INT(
        sign_verify(rsa, "{\"alg\":\"PS512\",\"kid\":\"k\"}", RS_CLAIMS, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_KEY_MISMATCH);
    /* No kid, RS256: one key suits it. */
    TP_CHECK_EQ_INT(sign_verify(rsa, "{\"alg\":\"RS256\"}", RS_CLAIMS, &o, &res), 0);
    tp_att_result_fini(&res);
    json_decref(jwks);
    /* Two different RSA keys under k for RS256: ambiguous, whichever signed. */
    json_object_set_new(opub, "alg", json_string("RS256"));
    jwks = json_pack("{s:[O,O]}", "keys", a, opub);
    o.jwks = jwks;
    TP_CHECK_EQ_INT(
        sign_verify(rsa, "{\"alg\":\"RS256\",\"kid\":\"k\"}", RS_CLAIMS, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_KID_UNKNOWN);
    TP_CHECK_CONTAINS(res.detail, "different");
    json_decref(jwks);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(pub);
    json_decref(ecpub);
    json_decref(opub);
    json_decref(rsa);
    json_decref(ec);
    json_decref(other);
}

/* A key given only as x5c: taken from the leaf, with the size and purpose
 * checks; a JWK whose n/e differ from its own certificate is refused. */
TP_TEST(attest_jwks_x5c_only_keys)
{
    json_t *rsa = tb_rsa_key_new(2048, NULL), *small = tb_rsa_key_new(2041, NULL);
    json_t *other = tb_rsa_key_new(2048, NULL);
    static const struct {
        int key; /* 0 rsa, 1 small, 2 rsa with other's n/e */
        const char *ku, *eku;
        int rc;
        tp_att_reason_t why;
    } cases[] = {
        {0, NULL, NULL, 0, TP_ATT_R_OK},
        {0, "critical,digitalSignature", "codeSigning", 0, TP_ATT_R_OK},
        {0, "critical,keyEncipherment", NULL, 1, TP_ATT_R_KEY_MISMATCH},
        {0, "digitalSignature", "serverAuth", 1, TP_ATT_R_KEY_MISMATCH},
        {0, "digitalSignature", "serverAuth,clientAuth", 1, TP_ATT_R_KEY_MISMATCH},
        {1, NULL, NULL, 1, TP_ATT_R_KEY_MISMATCH},
        {2, NULL, NULL, 1, TP_ATT_R_KEY_MISMATCH},
    };
    TP_ASSERT(rsa && small && other);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const json_t *k = cases[i].key == 1 ? small : rsa;
        char *cert = tb_cert_new(k, k, "signer", "signer", false, cases[i].ku,
                                 cases[i].eku, NOW - 86400, NOW + 86400);
        json_t *jwk, *jwks;
        tp_att_opts_t o;
        tp_att_result_t res;
        int rc;
        TP_ASSERT(cert != NULL);
        jwk = json_pack("{s:s,s:s,s:s,s:[s]}", "kty", "RSA", "kid", "maa", "alg", "RS256",
                        "x5c", cert);
        if (cases[i].key == 2) {
            json_t *op = tb_key_public(other);
            json_object_set(jwk, "n", json_object_get(op, "n"));
            json_object_set(jwk, "e", json_object_get(op, "e"));
            json_decref(op);
        }
        jwks = json_pack("{s:[o]}", "keys", jwk);
        opts(&o, jwks);
        rc = sign_verify(k, "{\"alg\":\"RS256\",\"kid\":\"maa\"}", RS_CLAIMS, &o, &res);
        if (rc != cases[i].rc || (rc == 1 && res.reason != cases[i].why))
            tp_test_fail(__FILE__, __LINE__, "case %zu: rc %d %s (%s)", i, rc,
                         tp_att_reason_name(res.reason), res.detail);
        if (rc == 0)
            tp_att_result_fini(&res);
        json_decref(jwks);
        free(cert);
    }
    json_decref(rsa);
    json_decref(small);
    json_decref(other);
}

/* A header key chained to a configured root is used only when the chain is
 * for signing: the leaf allows digital signatures, no EKU excludes it. */
TP_TEST(attest_x5c_chain_for_signing)
{
    json_t *root = tb_key_new("P-256", NULL), *leaf = tb_key_new("P-256", NULL);
    json_t *lpub = tb_key_public(leaf), *empty = json_pack("{s:[]}", "keys");
    char *root_cert =
        tb_cert_new(root, root, "root", "root", true, "critical,keyCertSign,cRLSign",
                    NULL, NOW - 86400, NOW + 86400 * 365);
    static const struct {
        const char *ku, *eku;
        int rc;
    } cases[] = {
        {"critical,digitalSignature", NULL, 0},
        {NULL, NULL, 0},
        {"critical,digitalSignature", "codeSigning", 0},
        {"critical,keyAgreement", NULL, 1},
        {"critical,digitalSignature", "serverAuth", 1},
        {NULL, "clientAuth", 1},
    };
    X509_STORE *st = X509_STORE_new();
    {
        unsigned char der[4096];
        const unsigned char *p = der;
        int n = EVP_DecodeBlock(der, (const unsigned char *)root_cert,
                                (int)strlen(root_cert));
        X509 *x = d2i_X509(NULL, &p, n);
        TP_ASSERT(x && X509_STORE_add_cert(st, x) == 1);
        X509_free(x);
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *lc = tb_cert_new(leaf, root, "leaf", "root", false, cases[i].ku,
                               cases[i].eku, NOW - 86400, NOW + 86400);
        json_t *hdr = json_pack("{s:s,s:O,s:[s,s]}", "alg", "ES256", "jwk", lpub, "x5c",
                                lc, root_cert);
        char *h = json_dumps(hdr, JSON_COMPACT);
        tp_att_opts_t o;
        tp_att_result_t res;
        int rc;
        opts(&o, empty);
        o.roots = st;
        rc = sign_verify(leaf, h, RS_CLAIMS, &o, &res);
        if (rc != cases[i].rc)
            tp_test_fail(__FILE__, __LINE__, "case %zu: rc %d (%s)", i, rc, res.detail);
        if (rc == 1)
            TP_CHECK_EQ_INT(res.reason, TP_ATT_R_HEADER_KEY_UNTRUSTED);
        else
            tp_att_result_fini(&res);
        free(h);
        free(lc);
        json_decref(hdr);
    }
    X509_STORE_free(st);
    free(root_cert);
    json_decref(empty);
    json_decref(lpub);
    json_decref(root);
    json_decref(leaf);
}

/* ---- verifier configuration ---------------------------------------------------- */

static int load_collectors(const char *section, tp_collect_cfg_t **c, tp_error_t *err)
{
    char text[4096];
    tp_fleet_t *f = NULL;
    int rc;
    snprintf(text, sizeof text,
             "{\"version\": 1, \"regions\": {\"eu-de\": {\"countries\": [\"DE\"]}},"
             " \"power_domains\": [{\"id\": \"site\", \"cap_w\": 100000}],"
             " \"nodes\": [{\"id\": \"n1\", \"power_domain\": \"site\", \"region\": "
             "\"eu-de\", \"gpu_model\": \"H100\", \"gpus\": 8, \"cap_w\": 10200, "
             "\"idle_w\": 1400, \"gpu_w\": 700, \"verifier\": \"v\"}],"
             " \"policy\": {\"classes\": {\"public\": {}}}, \"collectors\": %s}",
             section);
    *c = NULL;
    if (tp_fleet_load_buffer("fleet", text, strlen(text), &f, err) < 0)
        return -100;
    rc = tp_collect_config_load(f, c, err);
    tp_fleet_free(f);
    return rc;
}

TP_TEST(attest_verifier_config_fails_closed)
{
    static const struct {
        const char *v;      /* the verifier "v" */
        const char *needle; /* in the error; NULL: valid */
    } cases[] = {
        {"{\"url\": \"http://a.example/{node}\", \"jwks_url\": \"https://a.example/j\", "
         "\"algs\": [\"ES256\"]}",
         "$.collectors.verifiers.v.url: plain http://"},
        {"{\"url\": \"https://a.example/{node}\", \"jwks_url\": \"http://a.example/j\", "
         "\"algs\": [\"ES256\"]}",
         "$.collectors.verifiers.v.jwks_url: plain http://"},
        {"{\"url\": \"https://a.example/{node}\", \"jwks_url\": \"http://a.example/j\", "
         "\"algs\": [\"ES256\"], \"allow_http\": true}",
         NULL},
        {"{\"url\": \"https://u:p@a.example/{node}\", \"jwks_url\": "
         "\"https://a.example/j\", "
         "\"algs\": [\"ES256\"]}",
         "user:password@"},
        {"{\"url\": \"https://a.example/{node}\", \"jwks_url\": "
         "\"https://a.example@evil.example/j\", \"algs\": [\"ES256\"]}",
         "user:password@"},
        {"{\"url\": \"https://a.example\\\\@evil.example/{node}\", \"jwks_url\": "
         "\"https://a.example/j\", \"algs\": [\"ES256\"]}",
         "backslash"},
        {"{\"url\": \"ftp://a.example/{node}\", \"jwks_url\": \"https://a.example/j\", "
         "\"algs\": [\"ES256\"]}",
         "expected an https:// URL"},
        {"{\"url\": \"https://a.example/{node}\", \"jwks_url\": \"https://a.example/j\", "
         "\"algs\": [\"ES256\"], \"bind\": \"ueid\", \"identities\": {\"n9\": [\"1\"]}}",
         "no node \"n9\""},
        {"{\"url\": \"https://a.example/{node}\", \"jwks_url\": \"https://a.example/j\", "
         "\"algs\": [\"ES256\"], \"bind\": \"ueid\", \"node_claim\": \"sub\", "
         "\"identities\": {\"n1\": [\"1\"]}}",
         "node_claim is only used with bind \"claim\""},
        {"{\"url\": \"https://a.example/{node}?n={nonce}\", \"jwks_url\": "
         "\"https://a.example/j\", \"algs\": [\"ES256\"]}",
         "{nonce} in url go together"},
        {"{\"url\": \"https://a.example/{node}\", \"jwks_url\": \"https://a.example/j\", "
         "\"algs\": [\"ES256\"], \"format\": \"ita\", \"verifier_id\": {\"developer\": "
         "\"x\"}}",
         "only EAR results carry a verifier id"},
        {"{\"url\": \"https://a.example/{node}\", \"format\": \"keylime\"}", NULL},
        {"{\"url\": \"https://a.example/{node}\", \"format\": \"keylime\", \"bind\": "
         "\"claim\"}",
         "bind \"url\" or \"none\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char section[2048];
        tp_collect_cfg_t *c = NULL;
        tp_error_t err = {0};
        int rc;
        snprintf(section, sizeof section, "{\"verifiers\": {\"v\": %s}}", cases[i].v);
        rc = load_collectors(section, &c, &err);
        if (cases[i].needle && (rc >= 0 || !strstr(err.text, cases[i].needle)))
            tp_test_fail(__FILE__, __LINE__, "case %zu: rc %d, %s", i, rc, err.text);
        if (!cases[i].needle && rc != 0)
            tp_test_fail(__FILE__, __LINE__, "case %zu: %s", i, err.text);
        tp_collect_config_free(c);
    }
    /* What a valid verifier carries into the collector. */
    {
        tp_collect_cfg_t *c = NULL;
        tp_error_t err = {0};
        TP_ASSERT(load_collectors("{\"verifiers\": {\"v\": {\"url\": "
                                  "\"https://a.example/{node}?n={nonce}\", \"jwks_url\": "
                                  "\"https://a.example/j\", \"algs\": [\"ES384\"], "
                                  "\"format\": \"nras\", \"bind\": \"ueid\", \"nonce\": "
                                  "true, \"identities\": {\"n1\": [\"42\"]}}}}",
                                  &c, &err) == 0);
        TP_CHECK_EQ_INT(c->verifiers[0].format, TP_ATT_FMT_NRAS);
        TP_CHECK_EQ_INT(c->verifiers[0].bind, TP_ATT_BIND_UEID);
        TP_CHECK(c->verifiers[0].nonce);
        TP_CHECK(!c->verifiers[0].allow_http);
        TP_CHECK_STR(json_string_value(json_array_get(
                         json_object_get(c->verifiers[0].identities, "n1"), 0)),
                     "42");
        tp_collect_config_free(c);
    }
}
