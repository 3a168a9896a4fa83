/*
 * tests/unit/test_model.c — the loaders: exact values from the demo files, dense
 * indices, class tightening, unknown facts, all-or-nothing failure; and the
 * generators: deterministic, loadable, realistic.
 */
#include "tests/unit/tp_test.h"

#include "gen/gen.h"
#include "model/model.h"
#include "policy/policy.h"

#include <math.h>
#include <stdlib.h>

static char path_buf[4096];
static const char *demo(const char *name)
{
    snprintf(path_buf, sizeof path_buf, "%s/../config/%s", tp_test_srcdir(), name);
    return path_buf;
}

TP_TEST(model_demo_fleet_values)
{
    tp_fleet_t *f;
    tp_error_t err;
    TP_ASSERT(tp_fleet_load(demo("demo-fleet.json"), &f, &err) == 0);
    TP_CHECK_EQ_INT(f->nnodes, 14);
    TP_CHECK_EQ_INT(f->nregions, 2);
    TP_CHECK_EQ_INT(f->ndomains, 7);
    TP_CHECK_EQ_INT(f->nclasses, 4);
    TP_CHECK_EQ_INT(f->nprofiles, 6);
    int n = tp_fleet_node(f, "par1-n2");
    TP_ASSERT(n >= 0);
    TP_CHECK_STR(f->nodes[n].id, "par1-n2");
    TP_CHECK_EQ_INT(f->nodes[n].cpu_tee, TP_TEE_SEV_SNP);
    TP_CHECK(f->nodes[n].gpu_cc);
    TP_CHECK_STR(f->gpu_models[f->nodes[n].gpu_model], "H200");
    TP_CHECK_STR(f->regions[f->nodes[n].region].id, "eu-fr");
    TP_CHECK_STR(f->domains[f->nodes[n].domain].id, "rack-par-1");
    TP_CHECK_STR(f->domains[f->domains[f->nodes[n].domain].parent].id, "site-par");
    TP_CHECK_EQ_INT(f->domains[f->nodes[n].domain].depth, 1);
    TP_CHECK_EQ_DBL(f->nodes[n].cap_w, 10500, 0);
    /* Dense indices: position == index, lookups agree. */
    for (int i = 0; i < f->nnodes; i++)
        TP_CHECK_EQ_INT(tp_fleet_node(f, f->nodes[i].id), i);
    TP_CHECK_EQ_INT(tp_fleet_node(f, "nope"), -1);
    /* Profiles replace gpu_w for matching (model, GPU model) pairs only. */
    int m = tp_strmap_get(f->model_ix, "llama-70b");
    TP_ASSERT(m >= 0);
    TP_CHECK_EQ_DBL(tp_fleet_gpu_watts(f, n, m), 695, 0);
    TP_CHECK_EQ_DBL(tp_fleet_gpu_watts(f, tp_fleet_node(f, "fra3-n1"), m), 350, 0);
    TP_CHECK_EQ_DBL(tp_fleet_gpu_watts(f, n, -1), 700, 0);
    const tp_class_t *reg = &f->classes[tp_fleet_class(f, "regulated")];
    TP_CHECK(reg->req.attestation);
    TP_CHECK_EQ_INT(reg->req.min_status, TP_ATT_AFFIRMING);
    TP_CHECK_EQ_INT(reg->req.max_age_s, 600);
    TP_CHECK_EQ_INT(reg->req.residency, TP_RESIDENCY_DECLARED);
    TP_CHECK_EQ_INT(reg->req.tee_mask, (1u << TP_TEE_TDX) | (1u << TP_TEE_SEV_SNP));
    tp_fleet_free(f);
}

TP_TEST(model_demo_state_and_workloads)
{
    tp_fleet_t *f;
    tp_state_t *s;
    tp_workloads_t *ws, *run;
    tp_error_t err;
    TP_ASSERT(tp_fleet_load(demo("demo-fleet.json"), &f, &err) == 0);
    TP_ASSERT(tp_state_load(demo("demo-state.json"), f, &s, &err) == 0);
    TP_CHECK_EQ_INT(s->observed_at, 1795000000);
    const tp_node_obs_t *o = &s->nodes[tp_fleet_node(f, "fra1-n2")];
    TP_CHECK(o->known && o->att.present);
    TP_CHECK_EQ_INT(o->att.status, TP_ATT_AFFIRMING);
    TP_CHECK_EQ_INT(o->att.cpu_tee, TP_TEE_TDX);
    TP_CHECK_EQ_INT(o->att.gpu_cc, 1);
    TP_CHECK_EQ_INT(o->gpus_healthy, 7);
    TP_CHECK(isnan(o->cap_w)); /* not reported: unknown, not zero */
    TP_CHECK_STR(o->att.evidence, "sha256:0d44a1b2");
    /* A node the state does not mention is entirely unknown. */
    o = &s->nodes[tp_fleet_node(f, "par2-n2")];
    TP_CHECK(!o->known && !o->att.present && o->gpus_healthy == -1 && !o->country[0]);
    TP_CHECK(isnan(o->draw_w));
    /* fra2-n1: no country reported. */
    TP_CHECK_STR(s->nodes[tp_fleet_node(f, "fra2-n1")].country, "");
    TP_CHECK_EQ_DBL(tp_policy_node_cap(f, s, tp_fleet_node(f, "fra2-n3")), 5000, 0);

    TP_ASSERT(
        tp_workloads_load(demo("demo-workloads.json"), f, TP_WL_PENDING, &ws, &err) == 0);
    TP_ASSERT(
        tp_workloads_load(demo("demo-running.json"), f, TP_WL_RUNNING, &run, &err) == 0);
    TP_CHECK_EQ_INT(ws->n, 8);
    const tp_workload_t *w = &ws->w[tp_workloads_find(ws, "pinned-tdx")];
    /* Tightened: cpu_tee narrowed to tdx, max age 300 s (class says 3600). */
    TP_CHECK_EQ_INT(w->req.tee_mask, 1u << TP_TEE_TDX);
    TP_CHECK_EQ_INT(w->req.max_age_s, 300);
    TP_CHECK(w->req.gpu_cc);
    TP_CHECK(w->preemptible); /* default */
    w = &ws->w[tp_workloads_find(ws, "bank-kyc-de")];
    TP_CHECK(!w->preemptible);
    TP_CHECK_EQ_INT(w->nresidency, 1);
    TP_CHECK_STR(f->regions[w->residency[0]].id, "eu-de");
    TP_CHECK_EQ_INT(w->priority, 8);
    w = &ws->w[tp_workloads_find(ws, "h200-only")];
    TP_CHECK(!w->any_gpu_model);
    TP_CHECK_EQ_INT(w->ngpu_models, 1);
    TP_CHECK_EQ_INT(w->node, -1);
    TP_CHECK_EQ_INT(run->w[0].node, tp_fleet_node(f, "fra1-n1"));
    TP_CHECK_EQ_INT(tp_workloads_check_disjoint(ws, run, &err), 0);
    tp_workloads_free(ws);
    tp_workloads_free(run);
    tp_state_free(s);
    tp_fleet_free(f);
}

static const char mini[] =
    "{\"version\":1,\"regions\":{\"r\":{\"countries\":[\"DE\"]}},"
    "\"power_domains\":[{\"id\":\"d\",\"cap_w\":50000}],"
    "\"nodes\":[{\"id\":\"n\",\"power_domain\":\"d\",\"region\":\"r\",\"gpu_model\":"
    "\"G\","
    "\"gpus\":8,\"cap_w\":9000,\"idle_w\":1000,\"gpu_w\":700}],"
    "\"policy\":{\"classes\":{\"public\":{},\"internal\":{\"attestation\":{\"min_"
    "status\":"
    "\"warning\"}},\"tight\":{\"cpu_tee\":[\"tdx\"],\"residency\":\"verified\"}}}}";

TP_TEST(model_workload_tightening)
{
    tp_fleet_t *f;
    tp_workloads_t *ws;
    tp_error_t err;
    TP_ASSERT(tp_fleet_load_buffer("mini", mini, strlen(mini), &f, &err) == 0);
    static const struct {
        const char *json;
        int ok;
        const char *expect;
    } cases[] = {
        /* A public workload may add attestation, TEEs, CC and residency. */
        {"[{\"id\":\"a\",\"gpus\":1,\"sensitivity\":\"public\",\"cpu_tee\":[\"tdx\"],"
         "\"gpu_cc\":true,\"attestation\":{\"min_status\":\"warning\",\"max_age_s\":60},"
         "\"residency\":[\"r\"]}]",
         1, NULL},
        /* internal demands warning: affirming tightens it, and a max age may be added. */
        {"[{\"id\":\"a\",\"gpus\":1,\"sensitivity\":\"internal\",\"attestation\":"
         "{\"min_status\":\"affirming\",\"max_age_s\":30}}]",
         1, NULL},
        {"[{\"id\":\"a\",\"gpus\":1,\"sensitivity\":\"tight\",\"residency\":[\"r\"],"
         "\"cpu_tee\":[\"sev-snp\"]}]",
         0, "does not allow"},
        {"[{\"id\":\"a\",\"gpus\":1,\"sensitivity\":\"tight\"}]", 0, "residency-bound"},
        {"[{\"id\":\"a\",\"gpus\":1,\"sensitivity\":\"public\",\"gpu_models\":[\"X\"]}]",
         1, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = tp_workloads_load_buffer("w", cases[i].json, strlen(cases[i].json), f,
                                          TP_WL_PENDING, &ws, &err);
        TP_CHECK_EQ_INT(rc == 0, cases[i].ok);
        if (rc < 0) {
            TP_CHECK(ws == NULL);
            TP_CHECK_CONTAINS(err.text, cases[i].expect);
            continue;
        }
        if (i == 0) {
            TP_CHECK(ws->w[0].req.attestation && ws->w[0].req.gpu_cc);
            TP_CHECK_EQ_INT(ws->w[0].req.residency, TP_RESIDENCY_DECLARED);
            TP_CHECK_EQ_INT(ws->w[0].req.max_age_s, 60);
        }
        if (i == 1)
            TP_CHECK_EQ_INT(ws->w[0].req.min_status, TP_ATT_AFFIRMING);
        if (i == 4) /* a GPU model the fleet lacks matches nothing */
            TP_CHECK(!ws->w[0].any_gpu_model && ws->w[0].ngpu_models == 0);
        tp_workloads_free(ws);
    }
    /* The verified residency mode of a class passes to its workloads. */
    const char *v =
        "[{\"id\":\"a\",\"gpus\":1,\"sensitivity\":\"tight\",\"residency\":[\"r\"]}]";
    TP_ASSERT(tp_workloads_load_buffer("w", v, strlen(v), f, TP_WL_PENDING, &ws, &err) ==
              0);
    TP_CHECK_EQ_INT(ws->w[0].req.residency, TP_RESIDENCY_VERIFIED);
    tp_workloads_free(ws);
    tp_fleet_free(f);
}

TP_TEST(model_errors_leave_nothing)
{
    tp_fleet_t *f = (tp_fleet_t *)1;
    tp_error_t err;
    /* Fails at the last node: the earlier ones were loaded, and must be freed (ASan). */
    const char *bad =
        "{\"version\":1,\"regions\":{\"r\":{\"countries\":[\"DE\"]}},\"power_domains\":"
        "[{\"id\":\"d\",\"cap_w\":5}],\"nodes\":[{\"id\":\"a\",\"power_domain\":\"d\","
        "\"region\":\"r\",\"gpu_model\":\"G\",\"gpus\":1,\"cap_w\":9,\"idle_w\":1,\"gpu_"
        "w\":1},"
        "{\"id\":\"b\",\"power_domain\":\"d\",\"region\":\"r\",\"gpu_model\":\"G\","
        "\"gpus\":1,"
        "\"cap_w\":9,\"idle_w\":1,\"gpu_w\":1,\"verifier\":\"\"}],\"policy\":{"
        "\"classes\":{\"p\":{}}}}";
    TP_CHECK_EQ_INT(tp_fleet_load_buffer("bad.json", bad, strlen(bad), &f, &err),
                    TP_EINVAL);
    TP_CHECK(f == NULL);
    TP_CHECK_STR(err.text,
                 "bad.json: $.nodes[1].verifier: expected a non-empty identifier");
    TP_CHECK_EQ_INT(err.code, TP_EINVAL);
    /* Syntax errors name line and column. */
    TP_CHECK(tp_fleet_load_buffer("x.json", "{\n  \"version\": 1,\n  oops\n}", 26, &f,
                                  &err) == TP_EPARSE);
    TP_CHECK_CONTAINS(err.text, "x.json:3:");
    TP_CHECK_EQ_INT(tp_fleet_load("/nonexistent/fleet.json", &f, &err), TP_EIO);
    TP_CHECK_CONTAINS(err.text, "/nonexistent/fleet.json");
}

static char *gen_fleet_text(int nodes, uint64_t seed)
{
    tp_error_t err;
    tp_gen_fleet_opts_t o = {nodes, seed, NULL};
    json_t *j = tp_gen_fleet(&o, &err);
    char *s = j ? json_dumps(j, 0) : NULL;
    json_decref(j);
    return s;
}

TP_TEST(gen_deterministic_and_loadable)
{
    char *a = gen_fleet_text(1000, 42), *b = gen_fleet_text(1000, 42),
         *c = gen_fleet_text(1000, 43);
    tp_fleet_t *f;
    tp_error_t err;
    TP_ASSERT(a && b && c);
    TP_CHECK_STR(a, b);
    TP_CHECK(strcmp(a, c) != 0);
    TP_ASSERT(tp_fleet_load_buffer("gen", a, strlen(a), &f, &err) == 0);
    TP_CHECK_EQ_INT(f->nnodes, 1000);
    TP_CHECK(f->ngpu_models >= 4);
    TP_CHECK_EQ_INT(f->nregions, 3);
    TP_CHECK_EQ_INT(f->nclasses, 4);
    int tee[TP_TEE_COUNT] = {0}, cc = 0;
    for (int i = 0; i < f->nnodes; i++) {
        tee[f->nodes[i].cpu_tee]++;
        cc += f->nodes[i].gpu_cc;
    }
    TP_CHECK(tee[TP_TEE_NONE] > 100 && tee[TP_TEE_TDX] > 100 &&
             tee[TP_TEE_SEV_SNP] > 100);
    TP_CHECK(cc > 100);
    /* Caps bind: every rack's cap is below its nodes' full-load draw. */
    double *full = calloc((size_t)f->ndomains, sizeof *full);
    for (int i = 0; i < f->nnodes; i++)
        full[f->nodes[i].domain] +=
            f->nodes[i].idle_w + f->nodes[i].gpus * f->nodes[i].gpu_w;
    for (int d = 0; d < f->ndomains; d++)
        if (full[d] > 0)
            TP_CHECK(f->domains[d].cap_w < full[d]);
    free(full);

    json_t *wj = tp_gen_workloads(f, 500, 7, &err),
           *wj2 = tp_gen_workloads(f, 500, 7, &err);
    json_t *sj = tp_gen_state(f, 7, TP_GEN_DEFAULT_NOW, &err);
    char *wt = json_dumps(wj, 0), *wt2 = json_dumps(wj2, 0), *st = json_dumps(sj, 0);
    TP_CHECK_STR(wt, wt2);
    tp_workloads_t *ws;
    tp_state_t *s;
    TP_ASSERT(
        tp_workloads_load_buffer("gw", wt, strlen(wt), f, TP_WL_PENDING, &ws, &err) == 0);
    TP_ASSERT(tp_state_load_buffer("gs", st, strlen(st), f, &s, &err) == 0);
    int sizes[9] = {0}, classes[8] = {0};
    for (int i = 0; i < ws->n; i++) {
        sizes[ws->w[i].gpus]++;
        classes[ws->w[i].cls]++;
    }
    TP_CHECK(sizes[1] && sizes[2] && sizes[4] && sizes[8]);
    for (int c2 = 0; c2 < f->nclasses; c2++)
        TP_CHECK(classes[c2] > 20);
    /* The state has each kind of trouble the issue asks for. */
    int stale = 0, contra = 0, missing = 0, mismatch = 0, unknown = 0;
    for (int i = 0; i < f->nnodes; i++) {
        const tp_node_obs_t *o = &s->nodes[i];
        missing += !o->known || !o->att.present;
        stale += o->att.present && o->att.expires_at <= TP_GEN_DEFAULT_NOW;
        contra += o->att.present && o->att.status == TP_ATT_CONTRAINDICATED;
        unknown += !o->country[0];
        mismatch += o->country[0] &&
                    !tp_region_has_country(&f->regions[f->nodes[i].region], o->country);
    }
    TP_CHECK(stale > 5 && contra > 5 && missing > 5 && mismatch > 5 && unknown > 50);
    tp_workloads_free(ws);
    tp_state_free(s);
    json_decref(wj);
    json_decref(wj2);
    json_decref(sj);
    free(wt);
    free(wt2);
    free(st);
    tp_fleet_free(f);
    free(a);
    free(b);
    free(c);
}

TP_TEST(gen_rejects_bad_options)
{
    tp_error_t err;
    tp_gen_fleet_opts_t o = {10, 1, "eu-de,atlantis"};
    TP_CHECK(tp_gen_fleet(&o, &err) == NULL);
    TP_CHECK_CONTAINS(err.text, "unknown region \"atlantis\"");
    o.regions = "x:de";
    TP_CHECK(tp_gen_fleet(&o, &err) == NULL);
    TP_CHECK_CONTAINS(err.text, "NAME:CC");
    o.regions = "eu-de,eu-de";
    TP_CHECK(tp_gen_fleet(&o, &err) == NULL);
    o.regions = "mars:MA";
    json_t *j = tp_gen_fleet(&o, &err);
    TP_CHECK(j != NULL);
    json_decref(j);
    o.nodes = 0;
    TP_CHECK(tp_gen_fleet(&o, &err) == NULL);
}
