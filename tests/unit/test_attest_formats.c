/*
 * tests/unit/test_attest_formats.c — the verifier formats beyond EAR and NRAS,
 * on real published material (tests/fixtures/attestation/README.md says where
 * each file came from): Intel Trust Authority TDX tokens, Microsoft Azure
 * Attestation tokens for confidential VMs (SEV-SNP and TDX), Keylime agent
 * status (../shared), and a JWKS as Intel publishes it (n/e plus an x5c chain).
 * The real tokens' signing keys are not published: their real claims are
 * re-signed here with a key generated at run time.
 */
#include "collectors/collectors.h"
#include "tests/testbed/testbed.h"
#include "tp_test.h"

#include <jose/jose.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX "tests/fixtures/attestation/"

static json_t *load(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        fprintf(stderr, "%s: %s\n", path, je.text);
    return j;
}

typedef struct {
    json_t *key, *jwks;
    tp_att_opts_t o;
} rig_t;

/* One signing key for every rig of the process: an RSA-2048 key takes up to a
 * second to make (more under the sanitizers), and what these tests vary is the
 * claims, never the key. */
static void rig_init(rig_t *r, tp_att_format_t fmt, int64_t now)
{
    static json_t *key;
    if (!key)
        key = tb_rsa_key_new(2048, "k");
    r->key = json_incref(key);
    r->jwks = json_pack("{s:[o]}", "keys", tb_key_public(r->key));
    tp_att_opts_init(&r->o);
    r->o.jwks = r->jwks;
    r->o.now = now;
    r->o.format = fmt;
    r->o.bind = TP_ATT_BIND_NONE;
}

static void rig_fini(rig_t *r)
{
    json_decref(r->key);
    json_decref(r->jwks);
}

/* Signs claims (PS384, as ITA does; RS256 for MAA) and verifies. */
static int run(rig_t *r, const json_t *claims, tp_att_result_t *res)
{
    char *p = json_dumps(claims, JSON_COMPACT);
    const char *h = r->o.format == TP_ATT_FMT_MAA ? "{\"alg\":\"RS256\",\"kid\":\"k\"}"
                                                  : "{\"alg\":\"PS384\",\"kid\":\"k\"}";
    char *t = p ? tb_sign(r->key, h, p) : NULL;
    int rc = t ? tp_att_verify(t, strlen(t), &r->o, res) : -100;
    free(p);
    free(t);
    return rc;
}

/* ---- Intel Trust Authority ------------------------------------------------------ */

TP_TEST(attest_ita_real_token_needs_its_key)
{
    size_t len;
    char *tok = tp_test_slurp(FIX "ita/tdx-v1-pilot.jwt", &len);
    json_t *dev = load(FIX "ita/jwks-dev-amber.json");
    tp_att_opts_t o;
    tp_att_result_t res;
    TP_ASSERT(tok && dev);
    tp_att_opts_init(&o);
    o.jwks = dev;
    o.format = TP_ATT_FMT_ITA;
    o.now = 1706769511 + 10;
    /* Signed by ITA's pilot key: not the development key we hold. */
    TP_CHECK_EQ_INT(tp_att_verify(tok, len, &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_KID_UNKNOWN);
    free(tok);
    json_decref(dev);
}

TP_TEST(attest_ita_tdx_claims_normalised)
{
    static const struct {
        const char *key; /* in the tdx claims; NULL: as published */
        const char *json;
        tp_att_status_t want;
    } cases[] = {
        {NULL, NULL, TP_ATT_AFFIRMING},
        {"attester_tcb_status", "\"SWHardeningNeeded\"", TP_ATT_WARNING},
        {"attester_tcb_status", "\"ConfigurationAndSWHardeningNeeded\"", TP_ATT_WARNING},
        {"attester_tcb_status", "\"OutOfDate\"", TP_ATT_CONTRAINDICATED},
        {"attester_tcb_status", "\"OutOfDateConfigurationNeeded\"",
         TP_ATT_CONTRAINDICATED},
        {"attester_tcb_status", "\"Revoked\"", TP_ATT_CONTRAINDICATED},
        {"attester_tcb_status", "\"OUT_OF_DATE\"", TP_ATT_CONTRAINDICATED},
        {"attester_tcb_status", "\"uptodate\"", TP_ATT_CONTRAINDICATED},
        {"attester_tcb_status", NULL, TP_ATT_NONE},
        {"tdx_is_debuggable", "true", TP_ATT_CONTRAINDICATED},
        {"tdx_td_attributes_debug", "true", TP_ATT_CONTRAINDICATED},
        {"dbgstat", "\"enabled\"", TP_ATT_CONTRAINDICATED},
        {"policy_ids_unmatched",
         "[{\"id\": \"8500e95a-58da-4b8a-a585-274730576d31\", "
         "\"version\": \"v1\"}]",
         TP_ATT_CONTRAINDICATED},
        {"policy_ids_unmatched", "[]", TP_ATT_AFFIRMING},
        {"policy_ids_unmatched", "null", TP_ATT_AFFIRMING},
    };
    json_t *real = load(FIX "ita/tdx-v1-pilot.claims.raw.json");
    rig_t r;
    TP_ASSERT(real != NULL);
    rig_init(&r, TP_ATT_FMT_ITA, 1706769511 + 10);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int nested = 0; nested < 2; nested++) {
            json_t *c = json_deep_copy(real), *tdx = c;
            tp_att_result_t res;
            if (nested) { /* v2 tokens: the TDX claims under "tdx" */
                tdx = json_deep_copy(real);
                json_object_clear(c);
                json_object_set(c, "iat", json_object_get(tdx, "iat"));
                json_object_set(c, "exp", json_object_get(tdx, "exp"));
                json_object_set(c, "iss", json_object_get(tdx, "iss"));
                json_object_set(c, "jti", json_object_get(tdx, "jti"));
                json_object_set_new(c, "ver", json_string("2.0.0"));
                json_object_set_new(c, "tdx", tdx);
            }
            if (cases[i].key) {
                json_object_del(tdx, cases[i].key);
                if (cases[i].json)
                    json_object_set_new(tdx, cases[i].key,
                                        json_loads(cases[i].json, JSON_DECODE_ANY, NULL));
            }
            if (run(&r, c, &res) != 0) {
                tp_test_fail(__FILE__, __LINE__, "case %zu/%d: %s", i, nested,
                             res.detail);
            } else {
                if (res.att.status != cases[i].want)
                    tp_test_fail(__FILE__, __LINE__, "case %zu/%d: %s", i, nested,
                                 tp_att_status_name(res.att.status));
                TP_CHECK_EQ_INT(res.att.cpu_tee, cases[i].want == TP_ATT_AFFIRMING ||
                                                         cases[i].want == TP_ATT_WARNING
                                                     ? TP_TEE_TDX
                                                     : TP_TEE_UNKNOWN);
                TP_CHECK_EQ_INT(res.att.gpu_cc, -1);
                TP_CHECK_EQ_INT(res.att.issued_at, 1706769511);
                TP_CHECK_EQ_INT(res.att.expires_at, 1706769811);
                TP_CHECK_STR(res.att.evidence, "0748c105-4e75-4233-ac19-004fef63216c");
                tp_att_result_fini(&res);
            }
            json_decref(c);
        }
    }
    /* An SGX token is not a TDX result. */
    {
        json_t *c = json_deep_copy(real);
        tp_att_result_t res;
        json_object_set_new(c, "attester_type", json_string("SGX"));
        TP_CHECK_EQ_INT(run(&r, c, &res), 1);
        TP_CHECK_EQ_INT(res.reason, TP_ATT_R_CLAIMS_INVALID);
        json_decref(c);
    }
    /* Expired with the token's own exp. */
    {
        tp_att_result_t res;
        r.o.now = 1706769811 + 61;
        TP_CHECK_EQ_INT(run(&r, real, &res), 1);
        TP_CHECK_EQ_INT(res.reason, TP_ATT_R_EXPIRED);
    }
    rig_fini(&r);
    json_decref(real);
}

/* A composite token (TDX + NVIDIA GPU, "nvgpu" beside "tdx"): the GPU part is
 * read as NRAS's GPU claims are. */
TP_TEST(attest_ita_composite_nvgpu)
{
    const char *shared = tp_test_shared();
    char path[1024];
    json_t *real = load(FIX "ita/tdx-v1-pilot.claims.raw.json"), *gpu, *c;
    rig_t r;
    tp_att_result_t res;
    if (!shared)
        TP_SKIP("../shared absent: no NRAS GPU claims");
    snprintf(path, sizeof path,
             "%s/fixtures/attestation/nvidia-nras-claims/detached_claims_remote.json",
             shared);
    gpu = load(path);
    TP_ASSERT(real && gpu);
    c = json_pack("{s:O,s:O,s:O,s:s,s:O,s:O}", "iat", json_object_get(real, "iat"), "exp",
                  json_object_get(real, "exp"), "iss", json_object_get(real, "iss"),
                  "ver", "2.0.0", "tdx", real, "nvgpu", gpu);
    rig_init(&r, TP_ATT_FMT_ITA, 1706769511 + 10);
    r.o.require = TP_ATT_REQ_CPU | TP_ATT_REQ_GPU;
    TP_ASSERT(run(&r, c, &res) == 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_AFFIRMING);
    TP_CHECK_EQ_INT(res.att.cpu_tee, TP_TEE_TDX);
    TP_CHECK_EQ_INT(res.att.gpu_cc, 1);
    tp_att_result_fini(&res);
    /* Measurements that do not match, nested as ITA nests NRAS's detailed
     * result, with measres still "success": contraindicated. */
    json_object_set_new(gpu, "x-nvidia-attestation-detailed-result",
                        json_pack("{s:b,s:[i]}", "x-nvidia-gpu-measurements-match", 0,
                                  "x-nvidia-mismatch-indexes", 9));
    TP_ASSERT(run(&r, c, &res) == 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_CONTRAINDICATED);
    tp_att_result_fini(&res);
    json_object_del(gpu, "x-nvidia-attestation-detailed-result");
    /* The GPU in debug mode: contraindicated, and nothing attested. */
    json_object_set_new(gpu, "dbgstat", json_string("enabled"));
    TP_ASSERT(run(&r, c, &res) == 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_CONTRAINDICATED);
    TP_CHECK_EQ_INT(res.att.cpu_tee, TP_TEE_UNKNOWN);
    TP_CHECK(res.att.gpu_cc != 1);
    tp_att_result_fini(&res);
    /* No GPU part but a GPU required: none. */
    json_object_del(c, "nvgpu");
    TP_ASSERT(run(&r, c, &res) == 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_NONE);
    tp_att_result_fini(&res);
    rig_fini(&r);
    json_decref(c);
    json_decref(gpu);
    json_decref(real);
}

/* ---- Microsoft Azure Attestation ------------------------------------------------ */

TP_TEST(attest_maa_confidential_vm)
{
    static const struct {
        const char *file;
        const char *ptr, *json; /* a change: "/a/b" set to json (NULL: deleted) */
        tp_att_status_t want;
        tp_tee_t tee;
    } cases[] = {
        {"sevsnpvm-sample", NULL, NULL, TP_ATT_AFFIRMING, TP_TEE_SEV_SNP},
        {"sevsnpvm-sample", "/x-ms-isolation-tee", NULL, TP_ATT_NONE, TP_TEE_UNKNOWN},
        {"sevsnpvm-sample", "/x-ms-isolation-tee/x-ms-sevsnpvm-is-debuggable", "true",
         TP_ATT_CONTRAINDICATED, TP_TEE_UNKNOWN},
        {"sevsnpvm-sample", "/x-ms-isolation-tee/x-ms-compliance-status", "\"unknown\"",
         TP_ATT_WARNING, TP_TEE_SEV_SNP},
        {"sevsnpvm-sample", "/secureboot", "false", TP_ATT_WARNING, TP_TEE_SEV_SNP},
        {"sevsnpvm-sample", "/x-ms-azurevm-kerneldebug-enabled", "true",
         TP_ATT_CONTRAINDICATED, TP_TEE_UNKNOWN},
        {"sevsnpvm-sample", "/x-ms-azurevm-debuggersdisabled", "false",
         TP_ATT_CONTRAINDICATED, TP_TEE_UNKNOWN},
        {"sevsnpvm-sample", "/x-ms-isolation-tee/x-ms-attestation-type", "\"tdxvm\"",
         TP_ATT_AFFIRMING, TP_TEE_TDX},
        {"sevsnpvm-docs", NULL, NULL, TP_ATT_AFFIRMING, TP_TEE_SEV_SNP},
        {"sevsnpvm-docs", "/x-ms-sevsnpvm-is-debuggable", "true", TP_ATT_CONTRAINDICATED,
         TP_TEE_UNKNOWN},
        {"tdxvm-docs", NULL, NULL, TP_ATT_AFFIRMING, TP_TEE_TDX},
        {"tdxvm-docs", "/attester_tcb_status", "\"OutOfDate\"", TP_ATT_CONTRAINDICATED,
         TP_TEE_UNKNOWN},
        {"tdxvm-docs", "/tdx_td_attributes_debug", "true", TP_ATT_CONTRAINDICATED,
         TP_TEE_UNKNOWN},
        {"tdxvm-docs", "/dbgstat", "\"enabled\"", TP_ATT_CONTRAINDICATED, TP_TEE_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        json_t *c;
        rig_t r;
        tp_att_result_t res;
        snprintf(path, sizeof path, FIX "maa/%s.claims.json", cases[i].file);
        c = load(path);
        TP_ASSERT(c != NULL);
        if (cases[i].ptr) {
            const char *slash = strrchr(cases[i].ptr, '/');
            json_t *parent = c;
            if (slash != cases[i].ptr) {
                char head[128];
                snprintf(head, sizeof head, "%.*s", (int)(slash - cases[i].ptr - 1),
                         cases[i].ptr + 1);
                parent = json_object_get(c, head);
            }
            json_object_del(parent, slash + 1);
            if (cases[i].json)
                json_object_set_new(parent, slash + 1,
                                    json_loads(cases[i].json, JSON_DECODE_ANY, NULL));
        }
        rig_init(&r, TP_ATT_FMT_MAA, json_integer_value(json_object_get(c, "iat")) + 10);
        if (run(&r, c, &res) != 0) {
            tp_test_fail(__FILE__, __LINE__, "case %zu: %s", i, res.detail);
        } else {
            if (res.att.status != cases[i].want || res.att.cpu_tee != cases[i].tee)
                tp_test_fail(__FILE__, __LINE__, "case %zu: %s, tee %d", i,
                             tp_att_status_name(res.att.status), res.att.cpu_tee);
            TP_CHECK_EQ_INT(res.att.gpu_cc, -1);
            /* Azure's 8-hour tokens are capped at max_age_s. */
            TP_CHECK_EQ_INT(res.att.expires_at, res.att.issued_at + 3600);
            tp_att_result_fini(&res);
        }
        rig_fini(&r);
        json_decref(c);
    }
}

/* An Azure VM is named by x-ms-azurevm-vmid: the result binds by it. */
TP_TEST(attest_maa_bound_by_vmid)
{
    json_t *c = load(FIX "maa/sevsnpvm-sample.claims.json");
    const char *mine[] = {"2DEDC52A-6832-46CE-9910-E8C9980BF5A7"};
    const char *other[] = {"88543EA6-88B0-42E3-ABB6-0CA34DF51AD9"};
    rig_t r;
    tp_att_result_t res;
    TP_ASSERT(c != NULL);
    rig_init(&r, TP_ATT_FMT_MAA, 1652993094 + 10);
    r.o.bind = TP_ATT_BIND_CLAIM;
    r.o.node_claim = "/x-ms-azurevm-vmid";
    r.o.node_id = "cvm-1";
    r.o.node_ids = mine;
    r.o.n_node_ids = 1;
    TP_ASSERT(run(&r, c, &res) == 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_AFFIRMING);
    tp_att_result_fini(&res);
    r.o.node_ids = other;
    TP_CHECK_EQ_INT(run(&r, c, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_NODE);
    /* The default claim ("sub") is absent from MAA tokens: not bound, none. */
    r.o.node_claim = NULL;
    TP_ASSERT(run(&r, c, &res) == 0);
    TP_CHECK(res.unbound);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_NONE);
    TP_CHECK_EQ_INT(res.att.cpu_tee, TP_TEE_UNKNOWN);
    tp_att_result_fini(&res);
    /* An SGX token is not a confidential VM. */
    json_object_set_new(c, "x-ms-attestation-type", json_string("sgx"));
    r.o.bind = TP_ATT_BIND_NONE;
    TP_CHECK_EQ_INT(run(&r, c, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_CLAIMS_INVALID);
    rig_fini(&r);
    json_decref(c);
}

/* ---- Keylime -------------------------------------------------------------------- */

TP_TEST(attest_keylime_agent_status)
{
    const char *shared = tp_test_shared();
    char path[1024];
    json_t *doc, *res_o;
    tp_att_opts_t o;
    tp_att_result_t res;
    char *body;
    static const struct {
        const char *status;
        int state;
        tp_att_status_t want;
    } cases[] = {
        {"PASS", 7, TP_ATT_CONTRAINDICATED}, /* as published: they disagree */
        {"PASS", 3, TP_ATT_AFFIRMING},       {"PASS", 4, TP_ATT_WARNING},
        {"PASS", 9, TP_ATT_CONTRAINDICATED}, {"FAIL", 3, TP_ATT_CONTRAINDICATED},
        {"PENDING", 1, TP_ATT_NONE},         {"PENDING", 10, TP_ATT_CONTRAINDICATED},
    };
    if (!shared)
        TP_SKIP("../shared absent: no Keylime example");
    snprintf(
        path, sizeof path,
        "%s/fixtures/attestation/keylime/verifier-GET-v2.5-agents-agent_id.example.json",
        shared);
    doc = load(path);
    TP_ASSERT(doc != NULL);
    res_o = json_object_get(doc, "results");
    tp_att_opts_init(&o);
    o.format = TP_ATT_FMT_KEYLIME;
    o.bind = TP_ATT_BIND_URL;
    o.node_id = "n1";
    o.now = 1676644582 + 5;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_object_set_new(res_o, "attestation_status", json_string(cases[i].status));
        json_object_set_new(res_o, "operational_state", json_integer(cases[i].state));
        body = json_dumps(doc, 0);
        if (tp_att_verify(body, strlen(body), &o, &res) != 0) {
            tp_test_fail(__FILE__, __LINE__, "case %zu: %s", i, res.detail);
        } else {
            if (res.att.status != cases[i].want)
                tp_test_fail(__FILE__, __LINE__, "case %zu: %s", i,
                             tp_att_status_name(res.att.status));
            TP_CHECK_EQ_INT(res.att.cpu_tee, TP_TEE_UNKNOWN); /* a TPM, no TEE */
            TP_CHECK_EQ_INT(res.att.gpu_cc, -1);
            TP_CHECK_EQ_INT(res.att.issued_at, cases[i].want == TP_ATT_AFFIRMING ||
                                                       cases[i].want == TP_ATT_WARNING
                                                   ? 1676644462
                                                   : 1676644582);
            tp_att_result_fini(&res);
        }
        free(body);
    }
    /* A PASS whose last success is older than max_age_s: expired. */
    json_object_set_new(res_o, "attestation_status", json_string("PASS"));
    json_object_set_new(res_o, "operational_state", json_integer(3));
    body = json_dumps(doc, 0);
    o.now = 1676644462 + 3600 + 61;
    TP_CHECK_EQ_INT(tp_att_verify(body, strlen(body), &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_EXPIRED);
    /* A PASS that does not say when it passed could be of any age: refused, as
     * is a wrong-typed or zero timestamp. */
    {
        static const char *const stamps[] = {NULL, "\"1676644462\"", "0", "1676644462.5",
                                             "null"};
        for (size_t i = 0; i < sizeof stamps / sizeof stamps[0]; i++) {
            json_t *d = json_deep_copy(doc), *r = json_object_get(d, "results");
            char *b;
            json_object_del(r, "last_successful_attestation");
            if (stamps[i])
                json_object_set_new(r, "last_successful_attestation",
                                    json_loads(stamps[i], JSON_DECODE_ANY, NULL));
            b = json_dumps(d, 0);
            o.now = 1676644582 + 5;
            if (tp_att_verify(b, strlen(b), &o, &res) == 0) {
                tp_test_fail(__FILE__, __LINE__, "stamp %zu: accepted as %s", i,
                             tp_att_status_name(res.att.status));
                tp_att_result_fini(&res);
            }
            TP_CHECK_EQ_INT(res.reason, TP_ATT_R_CLAIMS_INVALID);
            free(b);
            json_decref(d);
        }
    }
    /* Extra fields claiming a TEE or CC change nothing: a TPM attests neither. */
    {
        json_t *d = json_deep_copy(doc), *r = json_object_get(d, "results");
        char *b;
        json_object_set_new(r, "cpu_tee", json_string("tdx"));
        json_object_set_new(r, "gpu_cc", json_true());
        json_object_set_new(r, "tee", json_string("tdx"));
        b = json_dumps(d, 0);
        o.now = 1676644582 + 5;
        TP_ASSERT(tp_att_verify(b, strlen(b), &o, &res) == 0);
        TP_CHECK_EQ_INT(res.att.status, TP_ATT_AFFIRMING);
        TP_CHECK_EQ_INT(res.att.cpu_tee, TP_TEE_UNKNOWN);
        TP_CHECK_EQ_INT(res.att.gpu_cc, -1);
        tp_att_result_fini(&res);
        free(b);
        json_decref(d);
    }
    /* A TEE or GPU requirement is never met by a TPM: none. */
    o.now = 1676644582 + 5;
    o.require = TP_ATT_REQ_CPU;
    TP_ASSERT(tp_att_verify(body, strlen(body), &o, &res) == 0);
    TP_CHECK_EQ_INT(res.att.status, TP_ATT_NONE);
    tp_att_result_fini(&res);
    free(body);
    /* Older APIs without attestation_status, and non-200 answers, are refused. */
    o.require = 0;
    json_object_del(res_o, "attestation_status");
    body = json_dumps(doc, 0);
    TP_CHECK_EQ_INT(tp_att_verify(body, strlen(body), &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_CLAIMS_INVALID);
    free(body);
    json_object_set_new(doc, "code", json_integer(404));
    json_object_set_new(res_o, "attestation_status", json_string("PASS"));
    body = json_dumps(doc, 0);
    TP_CHECK_EQ_INT(tp_att_verify(body, strlen(body), &o, &res), 1);
    free(body);
    /* A Keylime verifier cannot be asked for a signed token, nor vice versa. */
    o.format = TP_ATT_FMT_EAR;
    json_object_set_new(doc, "code", json_integer(200));
    body = json_dumps(doc, 0);
    TP_CHECK(tp_att_verify(body, strlen(body), &o, &res) != 0);
    free(body);
    json_decref(doc);
}

/* ---- a JWKS as Intel publishes it ------------------------------------------------ */

TP_TEST(attest_jwks_real_x5c_chain)
{
    json_t *dev = load(FIX "ita/jwks-dev-amber.json"), *k, *key, *bare, *swapped, *pub;
    static const char *const claims =
        "{\"iat\":1706769511,\"attester_type\":\"TDX\",\"attester_tcb_status\":"
        "\"UpToDate\"}";
    char h[256];
    tp_att_opts_t o;
    tp_att_result_t res;
    char *t;
    TP_ASSERT(dev != NULL);
    k = json_array_get(json_object_get(dev, "keys"), 0);
    snprintf(h, sizeof h, "{\"alg\":\"PS384\",\"kid\":\"%s\"}",
             json_string_value(json_object_get(k, "kid")));
    key = tb_rsa_key_new(2048, NULL);
    t = tb_sign(key, h, claims); /* not Intel's key */
    TP_ASSERT(t != NULL);
    tp_att_opts_init(&o);
    o.format = TP_ATT_FMT_ITA;
    o.bind = TP_ATT_BIND_NONE;
    o.now = 1706769511 + 10;
    /* As published: the key is found, its certificate allows signing and
     * agrees with n/e; only the signature is wrong. */
    o.jwks = dev;
    TP_CHECK_EQ_INT(tp_att_verify(t, strlen(t), &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_SIG_INVALID);
    /* x5c only (no n/e): the key comes from the leaf; same outcome. */
    bare = json_deep_copy(dev);
    json_object_del(json_array_get(json_object_get(bare, "keys"), 0), "n");
    json_object_del(json_array_get(json_object_get(bare, "keys"), 0), "e");
    o.jwks = bare;
    TP_CHECK_EQ_INT(tp_att_verify(t, strlen(t), &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_SIG_INVALID);
    /* n/e replaced by another key while the certificate stays: refused before
     * any signature check, even when the token is signed by that key. */
    swapped = json_deep_copy(dev);
    pub = tb_key_public(key);
    json_object_set(json_array_get(json_object_get(swapped, "keys"), 0), "n",
                    json_object_get(pub, "n"));
    o.jwks = swapped;
    TP_CHECK_EQ_INT(tp_att_verify(t, strlen(t), &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_KEY_MISMATCH);
    /* The key is listed for PS384: an RS256 token under its kid is refused. */
    free(t);
    snprintf(h, sizeof h, "{\"alg\":\"RS256\",\"kid\":\"%s\"}",
             json_string_value(json_object_get(k, "kid")));
    t = tb_sign(key, h, claims);
    o.jwks = dev;
    TP_CHECK_EQ_INT(tp_att_verify(t, strlen(t), &o, &res), 1);
    TP_CHECK_EQ_INT(res.reason, TP_ATT_R_KEY_MISMATCH);
    free(t);
    json_decref(pub);
    json_decref(swapped);
    json_decref(bare);
    json_decref(key);
    json_decref(dev);
}

/* A token of one verifier presented as another's result is refused, never
 * read with the wrong rules. */
TP_TEST(attest_format_confusion_refused)
{
    json_t *ita = load(FIX "ita/tdx-v1-pilot.claims.raw.json");
    json_t *maa = load(FIX "maa/tdxvm-docs.claims.json");
    json_t *ear = json_pack("{s:s,s:{s:s,s:s},s:I,s:{s:{s:s}}}", "eat_profile",
                            "tag:github.com,2023:veraison/ear", "ear.verifier-id",
                            "developer", "d", "build", "b", "iat", (json_int_t)1706769511,
                            "submods", "cpu0", "ear.status", "affirming");
    static const struct {
        int doc; /* 0 ita, 1 maa, 2 ear */
        tp_att_format_t as;
        tp_att_reason_t why;
    } cases[] = {
        {0, TP_ATT_FMT_EAR, TP_ATT_R_PROFILE},
        {0, TP_ATT_FMT_AUTO, TP_ATT_R_PROFILE},
        {0, TP_ATT_FMT_MAA, TP_ATT_R_CLAIMS_INVALID},
        {1, TP_ATT_FMT_ITA, TP_ATT_R_CLAIMS_INVALID},
        {1, TP_ATT_FMT_EAR, TP_ATT_R_PROFILE},
        {2, TP_ATT_FMT_ITA, TP_ATT_R_CLAIMS_INVALID},
        {2, TP_ATT_FMT_MAA, TP_ATT_R_CLAIMS_INVALID},
        {2, TP_ATT_FMT_NRAS, TP_ATT_R_MALFORMED},
    };
    TP_ASSERT(ita && maa && ear);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const json_t *c = cases[i].doc == 0 ? ita : cases[i].doc == 1 ? maa : ear;
        rig_t r;
        tp_att_result_t res;
        int rc;
        rig_init(&r, cases[i].as, json_integer_value(json_object_get(c, "iat")) + 10);
        rc = run(&r, c, &res);
        if (rc != 1 || res.reason != cases[i].why)
            tp_test_fail(__FILE__, __LINE__, "case %zu: rc %d, %s (%s)", i, rc,
                         tp_att_reason_name(res.reason), res.detail);
        if (rc == 0)
            tp_att_result_fini(&res);
        rig_fini(&r);
    }
    json_decref(ita);
    json_decref(maa);
    json_decref(ear);
}
