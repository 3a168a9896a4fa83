/* tests/unit/test_solver_fixture.c — see test_solver_fixture.h. */
#include "tests/unit/test_solver_fixture.h"

#include "tests/unit/tp_test.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const gms[] = {"H100", "H200", "L40S"};
static const char *const tees[] = {"none", "tdx", "sev-snp"};
static const char *const classes[] = {"public", "internal", "confidential", "regulated"};
static const char *const models[] = {"llama-8b", "mistral-7b", "other"};

static int pick(tp_rng_t *r, int n)
{
    return (int)tp_rng_below(r, (uint64_t)n);
}

static json_t *fleet_doc(tp_rng_t *r, const sf_opts_t *o)
{
    json_t *nodes = json_array();
    double rack_full[2] = {0, 0};
    for (int i = 0; i < o->nodes; i++) {
        char id[16];
        int gpus = (int[]){1, 2, 4, 8}[pick(r, 4)], rack = i % 2;
        double gw = 300 + 100 * pick(r, 5), idle = 200 + 100 * pick(r, 8);
        double full = idle + gpus * gw;
        double cap = o->tight && tp_rng_chance(r, 0.5) ? idle + gpus * gw * 0.6 : full;
        snprintf(id, sizeof id, "n%02d", i);
        rack_full[rack] += full;
        json_array_append_new(
            nodes, json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:f, s:f, s:f}", "id",
                             id, "power_domain", rack ? "rack-b" : "rack-a", "region",
                             tp_rng_chance(r, 0.7) ? "r-de" : "r-fr", "gpu_model",
                             gms[pick(r, 3)], "gpus", gpus, "cpu_tee", tees[pick(r, 3)],
                             "gpu_cc", tp_rng_chance(r, 0.5), "cap_w", cap, "idle_w",
                             idle, "gpu_w", gw));
    }
    double share = o->tight ? 0.55 + 0.1 * pick(r, 4) : 1.0;
    json_t *domains = json_pack(
        "[{s:s, s:f}, {s:s, s:s, s:f}, {s:s, s:s, s:f}]", "id", "site", "cap_w",
        (rack_full[0] + rack_full[1]) * (o->tight ? share : 1.0) + 1, "id", "rack-a",
        "parent", "site", "cap_w", rack_full[0] * share + 1, "id", "rack-b", "parent",
        "site", "cap_w", rack_full[1] * (o->tight ? 0.8 : 1.0) + 1);
    json_t *cls = json_pack("{s:{}, s:{s:{s:s, s:i}}, s:{s:[s,s], s:b, s:{s:s, s:i}}, "
                            "s:{s:[s,s], s:b, s:{s:s, s:i}, s:b}}",
                            "public", "internal", "attestation", "min_status", "warning",
                            "max_age_s", 86400, "confidential", "cpu_tee", "tdx",
                            "sev-snp", "gpu_cc", 1, "attestation", "min_status",
                            "affirming", "max_age_s", 3600, "regulated", "cpu_tee", "tdx",
                            "sev-snp", "gpu_cc", 1, "attestation", "min_status",
                            "affirming", "max_age_s", 600, "residency", 1);
    json_t *prof = json_pack("[{s:s, s:s, s:f, s:f}, {s:s, s:s, s:f, s:f}, "
                             "{s:s, s:s, s:f, s:f}, {s:s, s:s, s:f, s:f}]",
                             "model", "llama-8b", "gpu_model", "H100", "tokens_per_s",
                             9800.0, "watts", 690.0, "model", "llama-8b", "gpu_model",
                             "H200", "tokens_per_s", 11200.0, "watts", 680.0, "model",
                             "mistral-7b", "gpu_model", "H100", "tokens_per_s", 10400.0,
                             "watts", 600.0, "model", "mistral-7b", "gpu_model", "L40S",
                             "tokens_per_s", 2900.0, "watts", 320.0);
    return json_pack("{s:i, s:{s:{s:[s]}, s:{s:[s]}}, s:o, s:o, s:{s:o}, s:o}", "version",
                     1, "regions", "r-de", "countries", "DE", "r-fr", "countries", "FR",
                     "power_domains", domains, "nodes", nodes, "policy", "classes", cls,
                     "profiles", prof);
}

static json_t *state_doc(tp_rng_t *r, const tp_fleet_t *f, const sf_opts_t *o)
{
    json_t *nodes = json_object();
    for (int i = 0; i < f->nnodes; i++) {
        const tp_node_t *n = &f->nodes[i];
        if (tp_rng_chance(r, 0.1))
            continue;
        json_t *ob = json_object();
        if (tp_rng_chance(r, 0.8)) {
            static const char *const st[] = {"affirming", "affirming", "affirming",
                                             "warning", "contraindicated"};
            long long age = tp_rng_chance(r, 0.8) ? pick(r, 500) : 700 + pick(r, 90000);
            json_object_set_new(
                ob, "attestation",
                json_pack(
                    "{s:s, s:s, s:b, s:I, s:I}", "status", st[pick(r, 5)], "cpu_tee",
                    tp_tee_name(n->cpu_tee), "gpu_cc", n->gpu_cc, "issued_at",
                    (json_int_t)(SF_NOW - age), "expires_at",
                    (json_int_t)(SF_NOW - age + (tp_rng_chance(r, 0.9) ? 100000 : 10))));
        }
        if (tp_rng_chance(r, o->tight ? 0.3 : 0.05))
            json_object_set_new(ob, "cap_w",
                                json_real(n->cap_w * (0.6 + 0.1 * pick(r, 4))));
        if (tp_rng_chance(r, 0.3))
            json_object_set_new(ob, "draw_w",
                                json_real(n->idle_w * (0.9 + 0.05 * pick(r, 4))));
        if (tp_rng_chance(r, 0.1))
            json_object_set_new(ob, "gpus_healthy", json_integer(pick(r, n->gpus + 1)));
        if (tp_rng_chance(r, 0.6)) {
            const char *c = n->region == 0 ? "DE" : "FR";
            json_object_set_new(ob, "country",
                                json_string(tp_rng_chance(r, 0.9) ? c : "US"));
        }
        json_object_set_new(nodes, n->id, ob);
    }
    json_t *doc =
        json_pack("{s:I, s:o}", "observed_at", (json_int_t)SF_NOW, "nodes", nodes);
    if (o->tight && tp_rng_chance(r, 0.3))
        json_object_set_new(doc, "power_domains",
                            json_pack("{s:{s:f}}", "rack-a", "cap_w",
                                      f->domains[1].cap_w * (0.5 + 0.1 * pick(r, 4))));
    return doc;
}

static json_t *wl(tp_rng_t *r, const char *prefix, int i)
{
    char id[16];
    snprintf(id, sizeof id, "%s%02d", prefix, i);
    int c = pick(r, 4);
    json_t *w = json_pack("{s:s, s:i, s:s, s:i, s:b}", "id", id, "gpus",
                          (int[]){1, 1, 2, 4, 8}[pick(r, 5)], "sensitivity", classes[c],
                          "priority", pick(r, 11), "preemptible", tp_rng_chance(r, 0.7));
    int m = pick(r, 4);
    if (m < 3)
        json_object_set_new(w, "model", json_string(models[m]));
    if (c == 3 || tp_rng_chance(r, 0.1))
        json_object_set_new(w, "residency",
                            tp_rng_chance(r, 0.7) ? json_pack("[s]", "r-de")
                                                  : json_pack("[s,s]", "r-de", "r-fr"));
    if (tp_rng_chance(r, 0.2))
        json_object_set_new(w, "gpu_models", json_pack("[s]", gms[pick(r, 3)]));
    return w;
}

int sf_load(json_t *doc, const char *what, int kind, const tp_fleet_t *f, void *out)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    tp_error_t err;
    int rc;
    if (!text)
        return -1;
    if (kind < 0)
        rc = tp_fleet_load_buffer(what, text, strlen(text), (tp_fleet_t **)out, &err);
    else if (kind == 2)
        rc = tp_state_load_buffer(what, text, strlen(text), f, (tp_state_t **)out, &err);
    else
        rc = tp_workloads_load_buffer(what, text, strlen(text), f, (tp_wl_kind_t)kind,
                                      (tp_workloads_t **)out, &err);
    if (rc < 0)
        fprintf(stderr, "fixture %s: %s\n%s\n", what, err.text, text);
    free(text);
    return rc;
}

void sf_shuffle(json_t *a, tp_rng_t *r)
{
    for (size_t i = json_array_size(a); i > 1; i--) {
        size_t j = (size_t)tp_rng_below(r, i);
        json_t *x = json_incref(json_array_get(a, i - 1)), *y = json_array_get(a, j);
        json_array_set(a, i - 1, y);
        json_array_set_new(a, j, x);
    }
}

bool sf_tenant_take(const tp_fleet_t *f, long *use, const tp_workload_t *w, int sign)
{
    long g = (long)w->gpus * tp_wl_nodes(w);
    if (!use)
        return true;
    for (int t = tp_wl_tenant(w); sign > 0 && t >= 0; t = f->tenants[t].parent)
        if (f->tenants[t].limit_gpus >= 0 && use[t] + g > f->tenants[t].limit_gpus)
            return false;
    for (int t = tp_wl_tenant(w); t >= 0; t = f->tenants[t].parent)
        use[t] += sign * g;
    return true;
}

static atomic_int burn_stop;
static pthread_t burn_th[2];

static void *burn(void *arg)
{
    volatile double x = 1;
    (void)arg;
    while (!atomic_load(&burn_stop))
        for (int i = 0; i < 100000; i++)
            x = x * 1.0000001 + 1e-9;
    return NULL;
}

int sf_burn_start(void)
{
    atomic_store(&burn_stop, 0);
    for (int t = 0; t < 2; t++)
        if (pthread_create(&burn_th[t], NULL, burn, NULL) != 0) {
            atomic_store(&burn_stop, 1);
            while (t-- > 0)
                pthread_join(burn_th[t], NULL);
            return -1;
        }
    return 0;
}

void sf_burn_stop(void)
{
    atomic_store(&burn_stop, 1);
    for (int t = 0; t < 2; t++)
        pthread_join(burn_th[t], NULL);
}

int sf_make(tp_rng_t *r, const sf_opts_t *o, sf_inst_t *in)
{
    int rc = -1;
    memset(in, 0, sizeof *in);
    json_t *fd = fleet_doc(r, o), *sd = NULL, *p = json_array(), *run = json_array();
    if (sf_load(fd, "fleet", -1, NULL, &in->f) < 0 ||
        sf_load((sd = state_doc(r, in->f, o)), "state", 2, in->f, &in->s) < 0)
        goto out;
    for (int i = 0; i < o->pending; i++)
        json_array_append_new(p, wl(r, "p", i));
    int *used = calloc((size_t)in->f->nnodes, sizeof *used);
    for (int i = 0; i < o->running && used; i++) {
        json_t *w = wl(r, "r", i);
        int n = pick(r, in->f->nnodes),
            g = (int)json_integer_value(json_object_get(w, "gpus"));
        if (used[n] + g > in->f->nodes[n].gpus) {
            json_decref(w);
            continue;
        }
        used[n] += g;
        json_object_set_new(w, "node", json_string(in->f->nodes[n].id));
        json_array_append_new(run, w);
    }
    free(used);
    if (o->shuffle) {
        /* The same documents with nodes, domains and workloads reordered. */
        tp_rng_t sr;
        tp_rng_init(&sr, o->shuffle);
        sf_shuffle(json_object_get(fd, "nodes"), &sr);
        sf_shuffle(json_object_get(fd, "power_domains"), &sr);
        sf_shuffle(p, &sr);
        sf_shuffle(run, &sr);
        tp_state_free(in->s);
        tp_fleet_free(in->f);
        in->s = NULL;
        if (sf_load(fd, "fleet", -1, NULL, &in->f) < 0 ||
            sf_load(sd, "state", 2, in->f, &in->s) < 0)
            goto out;
    }
    if (sf_load(p, "pending", TP_WL_PENDING, in->f, &in->pending) < 0 ||
        sf_load(run, "running", TP_WL_RUNNING, in->f, &in->running) < 0)
        goto out;
    rc = 0;
out:
    json_decref(fd);
    json_decref(sd);
    json_decref(p);
    json_decref(run);
    return rc;
}

void sf_free(sf_inst_t *in)
{
    tp_fleet_free(in->f);
    tp_state_free(in->s);
    tp_workloads_free(in->pending);
    tp_workloads_free(in->running);
    memset(in, 0, sizeof *in);
}

tp_solution_t *sf_solve(const sf_inst_t *in, tp_solver_method_t m)
{
    tp_solver_opts_t o = {.now = SF_NOW, .time_limit_ms = 20000, .method = m};
    tp_solution_t *sol = NULL;
    tp_error_t err;
    if (tp_solve(in->f, in->s, in->pending, in->running, &o, &sol, &err) < 0) {
        tp_test_fail(__FILE__, __LINE__, "tp_solve (method %d): %s", (int)m, err.text);
        return NULL;
    }
    return sol;
}

int sf_trust(const sf_inst_t *in, int n)
{
    const tp_node_t *nd = &in->f->nodes[n];
    const tp_node_obs_t *o = in->s && in->s->nodes[n].known ? &in->s->nodes[n] : NULL;
    int t = 0;
    bool att = o && o->att.present;
    if (nd->cpu_tee != TP_TEE_NONE && nd->cpu_tee != TP_TEE_UNKNOWN)
        t++;
    else if (att && o->att.cpu_tee != TP_TEE_NONE && o->att.cpu_tee != TP_TEE_UNKNOWN)
        t++;
    if (nd->gpu_cc || (att && o->att.gpu_cc == 1))
        t++;
    if (att && o->att.status == TP_ATT_AFFIRMING)
        t++;
    if (o && o->country[0]) {
        const tp_region_t *rg = &in->f->regions[nd->region];
        for (int i = 0; i < rg->ncountries; i++)
            if (!strcmp(rg->countries[i], o->country)) {
                t++;
                break;
            }
    }
    return t;
}

double sf_eff(const tp_fleet_t *f, int model, int gm)
{
    for (int i = 0; i < f->nprofiles; i++)
        if (f->profiles[i].model == model && f->profiles[i].gpu_model == gm &&
            f->profiles[i].watts > 0)
            return f->profiles[i].tokens_per_s / f->profiles[i].watts;
    return 0;
}

tp_load_t *sf_final_load(const sf_inst_t *in, const tp_result_t *r)
{
    tp_load_t *l = tp_load_new(in->f, in->s, in->running);
    int np = in->pending->n;
    for (int i = 0; i < r->npreemptions; i++) {
        const tp_workload_t *w = &in->running->w[r->preemptions[i].workload];
        tp_load_apply(l, in->f, w->node, w->gpus,
                      tp_fleet_gpu_watts(in->f, w->node, w->model), -1);
    }
    for (int i = 0; i < r->nplacements; i++) {
        const tp_placement_t *p = &r->placements[i];
        const tp_workload_t *w = p->workload < np ? &in->pending->w[p->workload]
                                                  : &in->running->w[p->workload - np];
        tp_load_apply(l, in->f, p->node, w->gpus,
                      tp_fleet_gpu_watts(in->f, p->node, w->model), +1);
    }
    return l;
}
