/*
 * tests/unit/test_k8s.c — scheduler/k8s.c against every body of
 * ../shared/fixtures/k8s-extender/ (filter in both node forms, the compact wire
 * form, prioritize, bind request and responses, the error shapes) on a small
 * fleet whose node ids are the fixtures' node names, plus adversarial bodies:
 * every member of a real request replaced by every wrong type, bad label values,
 * huge and unknown node lists — each a precise error, never a crash.
 */
#include "scheduler/k8s.h"
#include "tests/unit/tp_test.h"

#include <stdlib.h>

#define NOW 1795000000LL

/* gpu-node-a: H100, TDX + GPU CC, attested affirming, eu-de.
 * gpu-node-b: A100, SEV-SNP, attested warning, eu-de.
 * gpu-node-c: H100, no TEE, no attestation, eu-fr. */
static const char fleet_json[] =
    "{\"version\": 1, \"regions\": {\"eu-de\": {\"countries\": [\"DE\"]}, \"eu-fr\": "
    "{\"countries\": [\"FR\"]}},"
    " \"power_domains\": [{\"id\": \"site\", \"cap_w\": 100000}, {\"id\": \"rack\", "
    "\"parent\": "
    "\"site\", \"cap_w\": 40000}],"
    " \"nodes\": ["
    "  {\"id\": \"gpu-node-a\", \"power_domain\": \"rack\", \"region\": \"eu-de\", "
    "\"gpu_model\": \"H100-SXM\", \"gpus\": 8, \"cpu_tee\": \"tdx\", \"gpu_cc\": true, "
    "\"cap_w\": 10200, \"idle_w\": 1400, \"gpu_w\": 700},"
    "  {\"id\": \"gpu-node-b\", \"power_domain\": \"rack\", \"region\": \"eu-de\", "
    "\"gpu_model\": \"A100-80G\", \"gpus\": 8, \"cpu_tee\": \"sev-snp\", \"cap_w\": "
    "6500, "
    "\"idle_w\": 1100, \"gpu_w\": 400},"
    "  {\"id\": \"gpu-node-c\", \"power_domain\": \"site\", \"region\": \"eu-fr\", "
    "\"gpu_model\": \"H100-SXM\", \"gpus\": 8, \"cap_w\": 10200, \"idle_w\": 1400, "
    "\"gpu_w\": "
    "700}],"
    " \"policy\": {\"classes\": {\"public\": {}, \"internal\": {\"attestation\": "
    "{\"min_status\": \"warning\", \"max_age_s\": 86400}},"
    "  \"confidential\": {\"cpu_tee\": [\"tdx\", \"sev-snp\"], \"gpu_cc\": true, "
    "\"attestation\": {\"min_status\": \"affirming\", \"max_age_s\": 3600}},"
    "  \"regulated\": {\"cpu_tee\": [\"tdx\", \"sev-snp\"], \"gpu_cc\": true, "
    "\"attestation\": "
    "{\"min_status\": \"affirming\", \"max_age_s\": 600}, \"residency\": true}}},"
    " \"profiles\": [{\"model\": \"llama-8b\", \"gpu_model\": \"H100-SXM\", "
    "\"tokens_per_s\": "
    "9800, \"watts\": 690},"
    "  {\"model\": \"llama-8b\", \"gpu_model\": \"A100-80G\", \"tokens_per_s\": 4300, "
    "\"watts\": 390}]}";

static const char state_json[] =
    "{\"observed_at\": 1795000000, \"nodes\": {"
    " \"gpu-node-a\": {\"attestation\": {\"status\": \"affirming\", \"cpu_tee\": "
    "\"tdx\", "
    "\"gpu_cc\": true, \"issued_at\": 1794999900, \"expires_at\": 1795003000}, "
    "\"gpus_healthy\": 8, \"country\": \"DE\"},"
    " \"gpu-node-b\": {\"attestation\": {\"status\": \"warning\", \"cpu_tee\": "
    "\"sev-snp\", "
    "\"gpu_cc\": false, \"issued_at\": 1794999900, \"expires_at\": 1795003000}, "
    "\"country\": \"DE\"}}}";

typedef struct {
    tp_fleet_t *f;
    tp_state_t *s;
    tp_load_t *l;
    tp_k8s_view_t v;
    tp_k8s_t *k;
} env_t;

static bool env_open(env_t *e, const char *default_sensitivity)
{
    tp_error_t err;
    tp_k8s_options_t o = {.default_sensitivity = default_sensitivity};
    memset(e, 0, sizeof *e);
    if (tp_fleet_load_buffer("fleet", fleet_json, strlen(fleet_json), &e->f, &err) < 0 ||
        tp_state_load_buffer("state", state_json, strlen(state_json), e->f, &e->s, &err) <
            0) {
        fprintf(stderr, "  %s\n", err.text);
        return false;
    }
    e->l = tp_load_new(e->f, e->s, NULL);
    e->k = tp_k8s_new(&o);
    e->v = (tp_k8s_view_t){e->f, e->s, e->l, NOW};
    return e->l && e->k;
}

static void env_close(env_t *e)
{
    tp_k8s_free(e->k);
    tp_load_free(e->l);
    tp_state_free(e->s);
    tp_fleet_free(e->f);
}

/* A fixture, parsed; NULL (and the test skips) when ../shared is absent. */
static json_t *fixture(const char *name)
{
    char path[512];
    json_error_t je;
    const char *d = tp_test_shared();
    if (!d)
        return NULL;
    snprintf(path, sizeof path, "%s/fixtures/k8s-extender/%s", d, name);
    json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!v)
        fprintf(stderr, "  %s: %s\n", path, je.text);
    return v;
}

#define FIXTURE(var, name)                                                               \
    json_t *var = fixture(name);                                                         \
    if (!var)                                                                            \
    TP_SKIP("no ../shared/fixtures/k8s-extender/" name)

/* Sets Pod.metadata.labels[key] (creating labels when needed). */
static void set_label(json_t *req, const char *map, const char *key, const char *value)
{
    json_t *meta = json_object_get(json_object_get(req, "Pod"), "metadata");
    json_t *m = json_object_get(meta, map);
    if (!json_is_object(m)) {
        m = json_object();
        json_object_set_new(meta, map, m);
    }
    json_object_set_new(m, key, json_string(value));
}

/* The same keys (case-sensitive) with the same JSON types; a null map (Go's nil
 * map) and an object are the same type. */
static bool same_shape(const json_t *a, const json_t *b)
{
    const char *key;
    const json_t *v;
    if (json_object_size(a) != json_object_size(b))
        return false;
    json_object_foreach ((json_t *)a, key, v) {
        const json_t *w = json_object_get(b, key);
        if (!w)
            return false;
        if (json_typeof(v) != json_typeof(w) && !(json_is_object(v) && json_is_null(w)) &&
            !(json_is_null(v) && json_is_object(w)))
            return false;
    }
    return true;
}

static bool names_are(const json_t *arr, const char *const *want, size_t n)
{
    if (json_array_size(arr) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(json_string_value(json_array_get(arr, i)), want[i]) != 0)
            return false;
    return true;
}

static const char *str_at(const json_t *obj, const char *k1, const char *k2)
{
    return json_string_value(json_object_get(json_object_get(obj, k1), k2));
}

TP_TEST(k8s_fixture_filter_node_names)
{
    env_t e;
    int st;
    tp_error_t err;
    FIXTURE(req, "filter-request.json");
    FIXTURE(want, "filter-response.json");
    TP_ASSERT(env_open(&e, NULL));
    /* The fixture pod carries no trustplace label: refused, fail closed, with a
     * 200 so the Error reaches `kubectl describe pod`. */
    json_t *res = tp_k8s_filter(e.k, &e.v, req, &st, &err);
    TP_ASSERT(res != NULL);
    TP_CHECK_EQ_INT(st, 200);
    TP_CHECK_CONTAINS(
        json_string_value(json_object_get(res, "Error")),
        "pod ml-team/finetune-llama-7b-xk2p9: no trustplace.io/sensitivity");
    TP_CHECK(json_is_null(json_object_get(res, "NodeNames")));
    TP_CHECK_EQ_INT(tp_k8s_cached(e.k), 0);
    json_decref(res);

    /* Confidential: only gpu-node-a (TDX, CC, affirming) passes; b and c fail
     * static predicates, so preemption cannot help there. */
    set_label(req, "labels", "trustplace.io/sensitivity", "confidential");
    res = tp_k8s_filter(e.k, &e.v, req, &st, &err);
    TP_ASSERT(res != NULL);
    TP_CHECK_EQ_INT(st, 200);
    TP_CHECK(same_shape(res, want));
    static const char *const only_a[] = {"gpu-node-a"};
    TP_CHECK(names_are(json_object_get(res, "NodeNames"), only_a, 1));
    TP_CHECK(json_is_null(json_object_get(res, "Nodes")));
    TP_CHECK_STR(json_string_value(json_object_get(res, "Error")), "");
    TP_CHECK_EQ_INT(json_object_size(json_object_get(res, "FailedNodes")), 0);
    TP_CHECK_STR(str_at(res, "FailedAndUnresolvableNodes", "gpu-node-b"),
                 "gpu_cc, attestation_status");
    TP_CHECK_STR(str_at(res, "FailedAndUnresolvableNodes", "gpu-node-c"),
                 "cpu_tee, gpu_cc, attestation_missing");
    /* Every verdict is policy/'s own. */
    tp_workload_t w;
    TP_ASSERT(tp_k8s_pod_workload(e.k, e.f, json_object_get(req, "Pod"), "$.Pod", &w,
                                  &err) == 0);
    for (int n = 0; n < e.f->nnodes; n++) {
        bool kept = false;
        for (size_t i = 0; i < json_array_size(json_object_get(res, "NodeNames")); i++)
            kept |= !strcmp(
                json_string_value(json_array_get(json_object_get(res, "NodeNames"), i)),
                e.f->nodes[n].id);
        TP_CHECK_EQ_INT(kept, tp_policy_check(e.f, e.s, e.l, n, &w, NOW) == 0);
    }
    TP_CHECK_STR(w.id, "ml-team.finetune-llama-7b-xk2p9");
    TP_CHECK_STR(w.tenant, "ml-team");
    TP_CHECK_EQ_INT(w.gpus, 1);
    TP_CHECK_STR(e.f->classes[w.cls].name, "confidential");
    tp_k8s_workload_clear(&w);
    TP_CHECK_EQ_INT(tp_k8s_cached(e.k), 1);
    json_decref(res);

    /* The compact wire bytes mean the same. */
    FIXTURE(wire, "filter-request.wire.json");
    set_label(wire, "labels", "trustplace.io/sensitivity", "confidential");
    json_t *res2 = tp_k8s_filter(e.k, &e.v, wire, &st, &err);
    res = tp_k8s_filter(e.k, &e.v, req, &st, &err);
    TP_CHECK(json_equal(res, res2));
    TP_CHECK_EQ_INT(tp_k8s_cached(e.k), 1); /* same UID: one entry */
    json_decref(res);
    json_decref(res2);
    json_decref(wire);
    json_decref(req);
    json_decref(want);
    env_close(&e);
}

TP_TEST(k8s_fixture_filter_capacity_is_resolvable)
{
    env_t e;
    int st;
    FIXTURE(req, "filter-request.json");
    FIXTURE(want, "filter-response-unresolvable.json");
    TP_ASSERT(env_open(&e, "public"));
    /* gpu-node-a full: only capacity fails there → FailedNodes, not unresolvable. */
    tp_load_apply(e.l, e.f, 0, 8, 700, +1);
    json_t *res = tp_k8s_filter(e.k, &e.v, req, &st, NULL);
    TP_ASSERT(res != NULL);
    TP_CHECK_EQ_INT(st, 200);
    TP_CHECK(same_shape(res, want));
    static const char *const bc[] = {"gpu-node-b", "gpu-node-c"};
    TP_CHECK(names_are(json_object_get(res, "NodeNames"), bc, 2));
    TP_CHECK_STR(str_at(res, "FailedNodes", "gpu-node-a"), "gpu_capacity");
    TP_CHECK_EQ_INT(json_object_size(json_object_get(res, "FailedAndUnresolvableNodes")),
                    0);
    json_decref(res);
    /* A dropped rack cap: a and b fail power_domain, c (on the site) does not. */
    tp_load_apply(e.l, e.f, 0, 8, 700, -1);
    e.s->domain_cap_w[tp_strmap_get(e.f->domain_ix, "rack")] = 2600;
    res = tp_k8s_filter(e.k, &e.v, req, &st, NULL);
    static const char *const c[] = {"gpu-node-c"};
    TP_CHECK(names_are(json_object_get(res, "NodeNames"), c, 1));
    TP_CHECK_STR(str_at(res, "FailedNodes", "gpu-node-a"), "power_domain");
    TP_CHECK_STR(str_at(res, "FailedNodes", "gpu-node-b"), "power_domain");
    json_decref(res);
    json_decref(req);
    json_decref(want);
    env_close(&e);
}

TP_TEST(k8s_fixture_filter_node_list)
{
    env_t e;
    int st;
    FIXTURE(req, "filter-request-nodes.json");
    FIXTURE(want, "filter-response-nodes.json");
    TP_ASSERT(env_open(&e, NULL));
    set_label(req, "annotations", "trustplace.io/sensitivity", "internal");
    json_t *res = tp_k8s_filter(e.k, &e.v, req, &st, NULL);
    TP_ASSERT(res != NULL);
    TP_CHECK_EQ_INT(st, 200);
    TP_CHECK(same_shape(res, want));
    TP_CHECK(same_shape(json_object_get(res, "Nodes"), json_object_get(want, "Nodes")));
    TP_CHECK(json_is_null(json_object_get(res, "NodeNames")));
    /* internal needs a warning-or-better attestation: a and b, the node objects
     * handed back exactly as the scheduler sent them. */
    json_t *items = json_object_get(json_object_get(res, "Nodes"), "items");
    json_t *in = json_object_get(json_object_get(req, "Nodes"), "items");
    TP_ASSERT(json_array_size(items) == 2);
    TP_CHECK(json_equal(json_array_get(items, 0), json_array_get(in, 0)));
    TP_CHECK(json_equal(json_array_get(items, 1), json_array_get(in, 1)));
    TP_CHECK(json_equal(
        json_array_get(items, 0),
        json_array_get(json_object_get(json_object_get(want, "Nodes"), "items"), 0)));
    TP_CHECK_STR(str_at(res, "FailedAndUnresolvableNodes", "gpu-node-c"),
                 "attestation_missing");
    json_decref(res);
    json_decref(req);
    json_decref(want);
    env_close(&e);
}

TP_TEST(k8s_fixture_error_shapes)
{
    env_t e;
    int st;
    tp_error_t err;
    FIXTURE(want, "filter-response-error.json");
    FIXTURE(bind_ok, "bind-response.json");
    FIXTURE(bind_err, "bind-response-error.json");
    TP_ASSERT(env_open(&e, NULL));
    json_t *bad = json_pack("{s:[]}", "Pod");
    json_t *res = tp_k8s_filter(e.k, &e.v, bad, &st, &err);
    TP_ASSERT(res != NULL);
    TP_CHECK_EQ_INT(st, 400);
    TP_CHECK(same_shape(res, want));
    TP_CHECK_STR(json_string_value(json_object_get(res, "Error")),
                 "request: $.Pod: expected the pod (a v1.Pod object), got an array");
    TP_CHECK_STR(err.text, json_string_value(json_object_get(res, "Error")));
    json_decref(res);
    json_decref(bad);
    /* No state yet: 503 with the same shape. */
    tp_k8s_view_t none = {e.f, NULL, NULL, NOW};
    FIXTURE(req, "filter-request.json");
    res = tp_k8s_filter(e.k, &none, req, &st, NULL);
    TP_CHECK_EQ_INT(st, 503);
    TP_CHECK(same_shape(res, want));
    json_decref(res);
    TP_CHECK(tp_k8s_prioritize(e.k, &none, req, &st, &err) == NULL);
    TP_CHECK_EQ_INT(st, 503);
    json_decref(req);

    res = tp_k8s_bind_result(NULL);
    TP_CHECK(json_equal(res, bind_ok));
    json_decref(res);
    res = tp_k8s_bind_result(json_string_value(json_object_get(bind_err, "Error")));
    TP_CHECK(json_equal(res, bind_err));
    json_decref(res);
    json_decref(want);
    json_decref(bind_ok);
    json_decref(bind_err);
    env_close(&e);
}

TP_TEST(k8s_fixture_preempt_is_not_served)
{
    env_t e;
    int st;
    tp_error_t err;
    FIXTURE(req, "preempt-request.json");
    TP_ASSERT(env_open(&e, "public"));
    /* The shipped config sets no preemptVerb; a preemption body sent to filter
     * is not mistaken for ExtenderArgs. */
    json_t *res = tp_k8s_filter(e.k, &e.v, req, &st, &err);
    TP_CHECK_EQ_INT(st, 400);
    TP_CHECK_CONTAINS(json_string_value(json_object_get(res, "Error")),
                      "request: $.NodeNameTo");
    TP_CHECK_EQ_INT(tp_k8s_cached(e.k), 0);
    json_decref(res);
    json_decref(req);
    env_close(&e);
}

TP_TEST(k8s_fixture_prioritize)
{
    env_t e;
    int st;
    tp_error_t err;
    FIXTURE(req, "prioritize-request.json");
    FIXTURE(want, "prioritize-response.json");
    TP_ASSERT(env_open(&e, "public"));
    json_t *res = tp_k8s_prioritize(e.k, &e.v, req, &st, &err);
    TP_ASSERT(res != NULL);
    TP_CHECK_EQ_INT(st, 200);
    TP_ASSERT(json_is_array(res) && json_array_size(res) == json_array_size(want));
    for (size_t i = 0; i < json_array_size(res); i++) {
        json_t *h = json_array_get(res, i);
        TP_CHECK(same_shape(h, json_array_get(want, i)));
        TP_CHECK_STR(json_string_value(json_object_get(h, "Host")),
                     json_string_value(json_object_get(json_array_get(want, i), "Host")));
        json_int_t s = json_integer_value(json_object_get(h, "Score"));
        TP_CHECK(s >= 1 && s <= 10); /* both eligible */
    }
    json_decref(res);
    /* With a model, the H100 node's 14.2 tokens/J beat the A100's 11.0. */
    set_label(req, "labels", "trustplace.io/model", "llama-8b");
    res = tp_k8s_prioritize(e.k, &e.v, req, &st, &err);
    TP_ASSERT(res != NULL);
    json_int_t sa = json_integer_value(json_object_get(json_array_get(res, 0), "Score"));
    json_int_t sb = json_integer_value(json_object_get(json_array_get(res, 1), "Score"));
    TP_CHECK(sa > sb);
    TP_CHECK(sa >= 8 && sa <= 10);
    json_decref(res);
    /* Ineligible and unknown nodes score 0. */
    set_label(req, "labels", "trustplace.io/sensitivity", "confidential");
    json_array_append_new(json_object_get(req, "NodeNames"), json_string("gpu-node-zz"));
    res = tp_k8s_prioritize(e.k, &e.v, req, &st, &err);
    TP_ASSERT(res != NULL && json_array_size(res) == 3);
    TP_CHECK(json_integer_value(json_object_get(json_array_get(res, 0), "Score")) >= 1);
    TP_CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(res, 1), "Score")),
                    0);
    TP_CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(res, 2), "Score")),
                    0);
    json_decref(res);
    /* Headroom: a nearly full power budget lowers a node's score. */
    set_label(req, "labels", "trustplace.io/sensitivity", "public");
    res = tp_k8s_prioritize(e.k, &e.v, req, &st, &err);
    json_int_t before =
        json_integer_value(json_object_get(json_array_get(res, 1), "Score"));
    json_decref(res);
    tp_load_apply(e.l, e.f, 1, 6, 400, +1); /* b: 1100 + 2400 + 390 of 6500 */
    res = tp_k8s_prioritize(e.k, &e.v, req, &st, &err);
    json_int_t after =
        json_integer_value(json_object_get(json_array_get(res, 1), "Score"));
    TP_CHECK(after < before);
    json_decref(res);
    /* A pod that cannot become a workload: 422 and the reason. */
    set_label(req, "labels", "trustplace.io/sensitivity", "secret");
    TP_CHECK(tp_k8s_prioritize(e.k, &e.v, req, &st, &err) == NULL);
    TP_CHECK_EQ_INT(st, 422);
    TP_CHECK_CONTAINS(err.text, "no class \"secret\"");
    TP_CHECK_EQ_INT(tp_k8s_cached(e.k), 0); /* prioritize remembers nothing */
    json_decref(req);
    json_decref(want);
    env_close(&e);
}

TP_TEST(k8s_fixture_bind)
{
    env_t e;
    int st, node;
    tp_error_t err;
    tp_workload_t w;
    FIXTURE(req, "filter-request.json");
    FIXTURE(bind, "bind-request.json");
    TP_ASSERT(env_open(&e, "public"));
    /* Before any filter call the pod is unknown. */
    TP_CHECK_EQ_INT(tp_k8s_bind_lookup(e.k, e.f, NOW, bind, &w, &node, &err), TP_ENOENT);
    TP_CHECK_CONTAINS(err.text,
                      "pod ml-team/finetune-llama-7b-xk2p9 (uid "
                      "b3f0d2a4-8c1e-4f6b-a7d9-2e5c9f0a1b37): no filter call saw it");
    TP_CHECK_EQ_INT(node, -1);
    set_label(req, "annotations", "trustplace.io/priority", "40");
    set_label(req, "annotations", "trustplace.io/preemptible", "false");
    set_label(req, "annotations", "trustplace.io/gpu-models", "H100-SXM, H200");
    set_label(req, "labels", "trustplace.io/tenant", "research");
    json_decref(tp_k8s_filter(e.k, &e.v, req, &st, NULL));
    TP_CHECK_EQ_INT(st, 200);
    TP_ASSERT(tp_k8s_bind_lookup(e.k, e.f, NOW + 5, bind, &w, &node, &err) == 0);
    TP_CHECK_EQ_INT(node, tp_fleet_node(e.f, "gpu-node-a"));
    TP_CHECK_STR(w.id, "ml-team.finetune-llama-7b-xk2p9");
    TP_CHECK_STR(w.tenant, "research");
    TP_CHECK_EQ_INT(w.gpus, 1);
    TP_CHECK_EQ_INT(w.priority, 40);
    TP_CHECK(!w.preemptible);
    TP_CHECK(!w.any_gpu_model);
    TP_CHECK_EQ_INT(w.ngpu_models, 1); /* H200 is not in this fleet */
    TP_CHECK_EQ_INT(w.node, -1);
    tp_k8s_workload_clear(&w);
    /* A node outside the fleet; a pod renamed under the same UID. */
    json_t *b2 = json_deep_copy(bind);
    json_object_set_new(b2, "Node", json_string("gpu-node-zz"));
    TP_CHECK_EQ_INT(tp_k8s_bind_lookup(e.k, e.f, NOW, b2, &w, &node, &err), TP_EREF);
    TP_CHECK_CONTAINS(err.text,
                      "request: $.Node: no node \"gpu-node-zz\" in the trustplace fleet");
    TP_CHECK_EQ_INT(node, -1);
    TP_CHECK(w.id == NULL);
    json_object_set_new(b2, "Node", json_string("gpu-node-a"));
    json_object_set_new(b2, "PodName", json_string("other"));
    TP_CHECK_EQ_INT(tp_k8s_bind_lookup(e.k, e.f, NOW, b2, &w, &node, &err), TP_EINVAL);
    TP_CHECK_CONTAINS(err.text, "was filtered as ml-team/finetune-llama-7b-xk2p9");
    /* Malformed bodies. */
    json_object_set_new(b2, "PodName", json_integer(3));
    TP_CHECK_EQ_INT(tp_k8s_bind_lookup(e.k, e.f, NOW, b2, &w, &node, &err), TP_EINVAL);
    TP_CHECK_STR(err.text, "request: $.PodName: expected a string, got an integer");
    json_object_del(b2, "PodName");
    TP_CHECK_EQ_INT(tp_k8s_bind_lookup(e.k, e.f, NOW, b2, &w, &node, &err), TP_EINVAL);
    TP_CHECK_CONTAINS(err.text, "$.PodName");
    json_object_set_new(b2, "PodName", json_string("x"));
    json_object_set_new(b2, "podUID", json_string("x"));
    TP_CHECK_EQ_INT(tp_k8s_bind_lookup(e.k, e.f, NOW, b2, &w, &node, &err), TP_EINVAL);
    TP_CHECK_CONTAINS(err.text, "$.podUID: unknown key");
    TP_CHECK_EQ_INT(
        tp_k8s_bind_lookup(e.k, e.f, NOW, json_array_get(bind, 0), &w, &node, &err),
        TP_EINVAL);
    json_decref(b2);
    /* Expired after the TTL (default 900 s). */
    TP_CHECK_EQ_INT(tp_k8s_bind_lookup(e.k, e.f, NOW + 901, bind, &w, &node, &err),
                    TP_ENOENT);
    TP_CHECK_EQ_INT(tp_k8s_cached(e.k), 0);
    /* forget() */
    json_decref(tp_k8s_filter(e.k, &e.v, req, &st, NULL));
    TP_CHECK_EQ_INT(tp_k8s_forget(e.k, "b3f0d2a4-8c1e-4f6b-a7d9-2e5c9f0a1b37"), 0);
    TP_CHECK_EQ_INT(tp_k8s_forget(e.k, "b3f0d2a4-8c1e-4f6b-a7d9-2e5c9f0a1b37"),
                    TP_ENOENT);
    TP_CHECK_EQ_INT(tp_k8s_bind_lookup(e.k, e.f, NOW, bind, &w, &node, &err), TP_ENOENT);
    json_decref(req);
    json_decref(bind);
    env_close(&e);
}

TP_TEST(k8s_bind_cache_is_bounded_lru)
{
    env_t e;
    int st, node;
    tp_workload_t w;
    tp_error_t err;
    FIXTURE(req, "filter-request.json");
    TP_ASSERT(env_open(&e, "public"));
    tp_k8s_free(e.k);
    e.k =
        tp_k8s_new(&(tp_k8s_options_t){.default_sensitivity = "public", .cache_size = 3});
    TP_ASSERT(e.k != NULL);
    json_t *meta = json_object_get(json_object_get(req, "Pod"), "metadata");
    char uid[16], name[16];
    for (int i = 0; i < 5; i++) {
        snprintf(uid, sizeof uid, "uid-%d", i);
        snprintf(name, sizeof name, "pod-%d", i);
        json_object_set_new(meta, "uid", json_string(uid));
        json_object_set_new(meta, "name", json_string(name));
        json_decref(tp_k8s_filter(e.k, &e.v, req, &st, NULL));
        if (i == 2) { /* touch uid-0 so that uid-1 is the least recently used */
            json_t *b = json_pack("{s:s,s:s,s:s,s:s}", "PodName", "pod-0", "PodNamespace",
                                  "ml-team", "PodUID", "uid-0", "Node", "gpu-node-a");
            TP_CHECK_EQ_INT(tp_k8s_bind_lookup(e.k, e.f, NOW, b, &w, &node, &err), 0);
            tp_k8s_workload_clear(&w);
            json_decref(b);
        }
    }
    TP_CHECK_EQ_INT(tp_k8s_cached(e.k), 3);
    static const int kept[5] = {1, 0, 0, 1, 1};
    for (int i = 0; i < 5; i++) {
        snprintf(uid, sizeof uid, "uid-%d", i);
        snprintf(name, sizeof name, "pod-%d", i);
        json_t *b = json_pack("{s:s,s:s,s:s,s:s}", "PodName", name, "PodNamespace",
                              "ml-team", "PodUID", uid, "Node", "gpu-node-b");
        int rc = tp_k8s_bind_lookup(e.k, e.f, NOW, b, &w, &node, &err);
        if ((rc == 0) != kept[i])
            tp_test_fail(__FILE__, __LINE__, "%s: rc %d", uid, rc);
        tp_k8s_workload_clear(&w);
        json_decref(b);
    }
    json_decref(req);
    env_close(&e);
}

/* One bad pod: the filter answers 200 with an Error containing `msg`. */
static void expect_pod_error(env_t *e, json_t *req, const char *msg, int line)
{
    int st = 0;
    json_t *res = tp_k8s_filter(e->k, &e->v, req, &st, NULL);
    const char *got = json_string_value(json_object_get(res, "Error"));
    if (!res || st != 200 || !got || !strstr(got, msg))
        tp_test_fail(__FILE__, line, "status %d, Error \"%s\", wanted \"%s\"", st,
                     got ? got : "(none)", msg);
    if (res && !json_is_null(json_object_get(res, "NodeNames")))
        tp_test_fail(__FILE__, line, "a refused pod still got nodes");
    json_decref(res);
}

TP_TEST(k8s_pod_label_errors)
{
    env_t e;
    FIXTURE(base, "filter-request.json");
    TP_ASSERT(env_open(&e, "public"));
    static const struct {
        const char *map, *key, *value, *msg;
    } cases[] = {
        {"labels", "trustplace.io/sensitivity", "secret",
         "pod ml-team/finetune-llama-7b-xk2p9: "
         "$.Pod.metadata.labels[\"trustplace.io/sensitivity\"]: no class "
         "\"secret\" "
         "in the fleet's policy.classes (expected one of: public, internal, "
         "confidential, "
         "regulated)"},
        {"labels", "trustplace.io/sensitivty", "public",
         "$.Pod.metadata.labels[\"trustplace.io/sensitivty\"]: unknown trustplace.io "
         "key"},
        {"annotations", "trustplace.io/priority", "101",
         "$.Pod.metadata.annotations[\"trustplace.io/priority\"]: expected an integer in "
         "0..100, got \"101\""},
        {"annotations", "trustplace.io/priority", "-1", "expected an integer in 0..100"},
        {"annotations", "trustplace.io/priority", "", "expected an integer in 0..100"},
        {"annotations", "trustplace.io/preemptible", "yes",
         "[\"trustplace.io/preemptible\"]: expected \"true\" or \"false\", got \"yes\""},
        {"annotations", "trustplace.io/residency", "eu-de,mars",
         "[\"trustplace.io/residency\"]: no region \"mars\" in the fleet (expected some "
         "of: "
         "eu-de, eu-fr)"},
        {"annotations", "trustplace.io/residency", "eu-de,,eu-fr",
         "expected a comma-separated list of names"},
        {"annotations", "trustplace.io/residency", "eu-de, eu-de",
         "\"eu-de\" listed twice"},
        {"annotations", "trustplace.io/gpu-models", "H100 SXM",
         "identifier \"H100 SXM\" has a space"},
        {"annotations", "trustplace.io/tenant", "a\tb",
         "has a space or control character"},
        {"annotations", "trustplace.io/model", "", "expected a non-empty identifier"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *req = json_deep_copy(base);
        set_label(req, cases[i].map, cases[i].key, cases[i].value);
        expect_pod_error(&e, req, cases[i].msg, __LINE__);
        json_decref(req);
    }
    /* Label and annotation disagree. */
    json_t *req = json_deep_copy(base);
    set_label(req, "labels", "trustplace.io/sensitivity", "public");
    set_label(req, "annotations", "trustplace.io/sensitivity", "internal");
    expect_pod_error(
        &e, req,
        "$.Pod.metadata.annotations[\"trustplace.io/sensitivity\"]: \"internal\" "
        "contradicts $.Pod.metadata.labels[\"trustplace.io/sensitivity\"] = "
        "\"public\"",
        __LINE__);
    /* A non-string label value. */
    json_object_set_new(
        json_object_get(json_object_get(json_object_get(req, "Pod"), "metadata"),
                        "labels"),
        "trustplace.io/sensitivity", json_integer(1));
    expect_pod_error(&e, req, "expected a string, got an integer", __LINE__);
    json_decref(req);
    /* A residency-bound class without residency. */
    req = json_deep_copy(base);
    set_label(req, "labels", "trustplace.io/sensitivity", "regulated");
    expect_pod_error(&e, req,
                     "pod ml-team/finetune-llama-7b-xk2p9: class \"regulated\" is "
                     "residency-bound: the pod must list the regions",
                     __LINE__);
    /* … and with it, the residency predicate is applied (c is in eu-fr). */
    set_label(req, "annotations", "trustplace.io/residency", "eu-fr");
    int st;
    json_t *res = tp_k8s_filter(e.k, &e.v, req, &st, NULL);
    TP_CHECK_EQ_INT(json_array_size(json_object_get(res, "NodeNames")), 0);
    TP_CHECK_CONTAINS(str_at(res, "FailedAndUnresolvableNodes", "gpu-node-a"),
                      "residency");
    json_decref(res);
    json_decref(req);
    json_decref(base);
    env_close(&e);
}

/* Pod.spec.containers[0].resources */
static json_t *resources(json_t *req, int container)
{
    json_t *spec = json_object_get(json_object_get(req, "Pod"), "spec");
    return json_object_get(
        json_array_get(json_object_get(spec, "containers"), (size_t)container),
        "resources");
}

TP_TEST(k8s_pod_gpu_count)
{
    env_t e;
    tp_workload_t w;
    tp_error_t err;
    FIXTURE(base, "filter-request.json");
    TP_ASSERT(env_open(&e, "public"));
    json_t *req = json_deep_copy(base), *pod = json_object_get(req, "Pod");
    json_t *spec = json_object_get(pod, "spec");
    json_t *cs = json_object_get(spec, "containers");
    /* A second container with a limit only, an init container with more. */
    json_array_append_new(cs, json_pack("{s:s,s:{s:{s:s}}}", "name", "side", "resources",
                                        "limits", "nvidia.com/gpu", "3"));
    TP_ASSERT(tp_k8s_pod_workload(e.k, e.f, pod, "$.Pod", &w, &err) == 0);
    TP_CHECK_EQ_INT(w.gpus, 4);
    tp_k8s_workload_clear(&w);
    json_object_set_new(spec, "initContainers",
                        json_pack("[{s:s,s:{s:{s:s}}}]", "name", "init", "resources",
                                  "requests", "nvidia.com/gpu", "6"));
    TP_ASSERT(tp_k8s_pod_workload(e.k, e.f, pod, "$.Pod", &w, &err) == 0);
    TP_CHECK_EQ_INT(w.gpus, 6);
    tp_k8s_workload_clear(&w);
    static const struct {
        const char *list, *value, *msg;
    } cases[] = {
        {"requests", "1.5",
         "$.Pod.spec.containers[0].resources.requests[\"nvidia.com/gpu\"]: expected a "
         "whole "
         "number of GPUs as a decimal string, got \"1.5\""},
        {"requests", "2",
         "$.Pod.spec.containers[0].resources: nvidia.com/gpu request 2 "
         "differs from its limit 1"},
        {"limits", "1k", "got \"1k\""},
        {"limits", "99999999999", "got \"99999999999\""},
        {"requests", "62", "requests more than 64 nvidia.com/gpu"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *r2 = json_deep_copy(req);
        if (!strcmp(cases[i].value, "62"))
            json_object_set_new(json_object_get(resources(r2, 0), "limits"),
                                "nvidia.com/gpu", json_string("62"));
        json_object_set_new(json_object_get(resources(r2, 0), cases[i].list),
                            "nvidia.com/gpu", json_string(cases[i].value));
        TP_CHECK(tp_k8s_pod_workload(e.k, e.f, json_object_get(r2, "Pod"), "$.Pod", &w,
                                     &err) < 0);
        TP_CHECK_CONTAINS(err.text, cases[i].msg);
        TP_CHECK(w.id == NULL);
        json_decref(r2);
    }
    /* A quantity that is a JSON number, not a string. */
    json_object_set_new(json_object_get(resources(req, 0), "requests"), "nvidia.com/gpu",
                        json_integer(1));
    TP_CHECK(tp_k8s_pod_workload(e.k, e.f, pod, "$.Pod", &w, &err) < 0);
    TP_CHECK_CONTAINS(
        err.text, "expected a whole number of GPUs as a decimal string, got an integer");
    /* No GPU at all. */
    json_object_del(spec, "initContainers");
    json_array_remove(cs, 1);
    json_object_del(json_object_get(resources(req, 0), "requests"), "nvidia.com/gpu");
    json_object_del(json_object_get(resources(req, 0), "limits"), "nvidia.com/gpu");
    TP_CHECK(tp_k8s_pod_workload(e.k, e.f, pod, "$.Pod", &w, &err) < 0);
    TP_CHECK_CONTAINS(err.text,
                      "pod ml-team/finetune-llama-7b-xk2p9 requests 0 nvidia.com/gpu");
    json_decref(req);
    json_decref(base);
    env_close(&e);
}

TP_TEST(k8s_adversarial_args)
{
    env_t e;
    int st;
    tp_error_t err;
    FIXTURE(base, "filter-request.json");
    TP_ASSERT(env_open(&e, "public"));
    static const struct {
        const char *body, *msg;
    } cases[] = {
        {"[]", "request: $: expected an object"},
        {"{}", "request: $.Pod: expected the pod (a v1.Pod object), got nothing"},
        {"{\"Pod\": null}", "$.Pod: expected the pod (a v1.Pod object), got null"},
        {"{\"Pod\": {}, \"NodeNames\": [\"a\", 3]}",
         "$.NodeNames[1]: expected a node name, got an integer"},
        {"{\"Pod\": {}, \"NodeNames\": [\"\"]}", "$.NodeNames[0]: expected a node name"},
        {"{\"Pod\": {}, \"NodeNames\": {}}",
         "$.NodeNames: expected an array, got an object"},
        {"{\"Pod\": {}, \"Nodes\": []}", "$.Nodes: expected an object, got an array"},
        {"{\"Pod\": {}, \"Nodes\": {\"items\": {}}}", "$.Nodes.items: expected an array"},
        {"{\"Pod\": {}, \"Nodes\": {\"items\": [1]}}",
         "$.Nodes.items[0]: expected a v1.Node object, got an integer"},
        {"{\"Pod\": {}, \"Nodes\": {\"items\": [{}]}}",
         "$.Nodes.items[0].metadata: expected the node's metadata"},
        {"{\"Pod\": {}, \"Nodes\": {\"items\": [{\"metadata\": {\"name\": 7}}]}}",
         "$.Nodes.items[0].metadata.name: expected a string"},
        {"{\"Pod\": {}, \"nodeNames\": []}", "$.nodeNames: unknown key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *a = json_loads(cases[i].body, 0, NULL);
        TP_ASSERT(a != NULL);
        json_t *res = tp_k8s_filter(e.k, &e.v, a, &st, &err);
        TP_CHECK_EQ_INT(st, 400);
        TP_CHECK_CONTAINS(json_string_value(json_object_get(res, "Error")), cases[i].msg);
        json_decref(res);
        TP_CHECK(tp_k8s_prioritize(e.k, &e.v, a, &st, &err) == NULL);
        TP_CHECK_EQ_INT(st, 400);
        TP_CHECK_CONTAINS(err.text, cases[i].msg);
        json_decref(a);
    }
    /* The pod's own shape: 200 with the JSON path in Error. */
    static const char *const pods[][2] = {
        {"{\"Pod\": {}}", "$.Pod.metadata: expected the pod's metadata object"},
        {"{\"Pod\": {\"metadata\": {\"name\": \"x\", \"namespace\": \"y\"}}}",
         "$.Pod.metadata.uid: missing required key"},
        {"{\"Pod\": {\"metadata\": {\"name\": \"x\", \"namespace\": \"y\", \"uid\": "
         "\"u\", "
         "\"labels\": []}}}",
         "$.Pod.metadata.labels: expected an object, got an array"},
        {"{\"Pod\": {\"metadata\": {\"name\": \"x\", \"namespace\": \"y\", \"uid\": "
         "\"u\"}}}",
         "$.Pod.spec: expected the pod's spec object"},
        {"{\"Pod\": {\"metadata\": {\"name\": \"x\", \"namespace\": \"y\", \"uid\": "
         "\"u\"}, "
         "\"spec\": {\"containers\": [[]]}}}",
         "$.Pod.spec.containers[0]: expected an object, got an array"},
        {"{\"Pod\": {\"metadata\": {\"name\": \"x\", \"namespace\": \"y\", \"uid\": "
         "\"u\"}, "
         "\"spec\": {\"containers\": [{\"resources\": {\"limits\": 5}}]}}}",
         "$.Pod.spec.containers[0].resources.limits: expected an object, got an integer"},
        {"{\"Pod\": {\"metadata\": {\"name\": \"x\", \"namespace\": \"y\", \"uid\": "
         "\"u\"}, "
         "\"spec\": {\"containers\": []}}}",
         "$.Pod.spec.containers: expected a non-empty array of containers"},
    };
    for (size_t i = 0; i < sizeof pods / sizeof pods[0]; i++) {
        json_t *a = json_loads(pods[i][0], 0, NULL);
        TP_ASSERT(a != NULL);
        expect_pod_error(&e, a, pods[i][1], __LINE__);
        json_decref(a);
    }
    /* Huge node lists are refused whole; unknown nodes are unresolvable. */
    json_t *req = json_deep_copy(base);
    json_t *names = json_object_get(req, "NodeNames");
    for (int i = 0; i < 20001; i++)
        json_array_append_new(names, json_string("gpu-node-zz"));
    json_t *res = tp_k8s_filter(e.k, &e.v, req, &st, NULL);
    TP_CHECK_EQ_INT(st, 400);
    TP_CHECK_CONTAINS(json_string_value(json_object_get(res, "Error")),
                      "$.NodeNames: 20004 nodes; at most 20000 are accepted in one call");
    json_decref(res);
    json_decref(req);
    req = json_deep_copy(base);
    json_array_append_new(json_object_get(req, "NodeNames"), json_string("gpu-node-zz"));
    res = tp_k8s_filter(e.k, &e.v, req, &st, NULL);
    TP_CHECK_EQ_INT(st, 200);
    TP_CHECK_CONTAINS(str_at(res, "FailedAndUnresolvableNodes", "gpu-node-zz"),
                      "not in the trustplace fleet");
    TP_CHECK_EQ_INT(json_array_size(json_object_get(res, "NodeNames")), 3);
    json_decref(res);
    /* Neither list: nothing passes, still a well-formed reply. */
    json_object_set_new(req, "NodeNames", json_null());
    res = tp_k8s_filter(e.k, &e.v, req, &st, NULL);
    TP_CHECK_EQ_INT(st, 200);
    TP_CHECK(json_is_null(json_object_get(res, "NodeNames")) &&
             json_is_null(json_object_get(res, "Nodes")));
    TP_CHECK_STR(json_string_value(json_object_get(res, "Error")), "");
    json_decref(res);
    json_decref(req);
    json_decref(base);
    env_close(&e);
}

/* Replaces, one at a time, every value inside a real request by each wrong
 * type, and runs filter, prioritize and bind on the result: every call must
 * answer (a body or an error), and the checks run under ASan+UBSan in make test. */
static int mutations;
static void mutate_walk(env_t *e, json_t *root, json_t *v, int depth)
{
    static const char *const repl[] = {"null", "7", "\"x\"", "[]", "{}", "[1,{}]"};
    int st, node;
    tp_error_t err;
    tp_workload_t w;
    if (depth > 12)
        return;
    if (json_is_object(v)) {
        const char *key;
        json_t *c;
        void *tmp;
        json_object_foreach_safe (v, tmp, key, c) {
            json_t *saved = json_incref(c);
            for (size_t r = 0; r < sizeof repl / sizeof repl[0]; r++) {
                json_object_set_new(v, key, json_loads(repl[r], JSON_DECODE_ANY, NULL));
                json_decref(tp_k8s_filter(e->k, &e->v, root, &st, &err));
                TP_CHECK(st == 200 || st == 400);
                json_decref(tp_k8s_prioritize(e->k, &e->v, root, &st, &err));
                tp_k8s_bind_lookup(e->k, e->f, NOW, root, &w, &node, &err);
                tp_k8s_workload_clear(&w);
                mutations++;
            }
            json_object_set_new(v, key, saved);
            mutate_walk(e, root, saved, depth + 1);
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && i < 4; i++)
            mutate_walk(e, root, json_array_get(v, i), depth + 1);
    }
}

TP_TEST(k8s_adversarial_every_member_every_type)
{
    env_t e;
    static const char *const files[] = {"filter-request.json",
                                        "filter-request-nodes.json", "bind-request.json"};
    TP_ASSERT(env_open(&e, "public"));
    mutations = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        json_t *req = fixture(files[i]);
        if (!req) {
            env_close(&e);
            TP_SKIP("no ../shared/fixtures/k8s-extender");
        }
        mutate_walk(&e, req, req, 0);
        json_decref(req);
    }
    TP_CHECK(mutations > 500);
    /* After all that, the real request still gets its real answer. */
    json_t *req = fixture("filter-request.json");
    int st;
    json_t *res = tp_k8s_filter(e.k, &e.v, req, &st, NULL);
    TP_CHECK_EQ_INT(st, 200);
    TP_CHECK_EQ_INT(json_array_size(json_object_get(res, "NodeNames")), 3);
    json_decref(res);
    json_decref(req);
    env_close(&e);
}
