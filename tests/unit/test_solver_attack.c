/*
 * tests/unit/test_solver_attack.c — an adversarial pass over the solver on
 * tiny instances an exhaustive search written here can score in full (terms
 * (1)–(3) of docs/solver.md, gangs by term (1)): one or two sites, nested
 * domains with an operator-named kind ("pod") under only some rows, a rack
 * that is a root of its own, nodes directly under a row, domains and nodes
 * with no headroom, BMC draw above the estimate, gangs larger than the fleet,
 * `together` rack / row / pod / site / none, secure and residency-bound
 * classes with attestation that varies, nested tenants (top > g > t0, t1)
 * with limits that bind, running single-node work and running gangs (cap
 * preemptions included: the search starts from what every method stopped),
 * equal priorities. For every method: every method stops the same work, the
 * bound is never below the exhaustive optimum, no plan is above it,
 * `optimal` only at it, every result passes this file's gang, together,
 * tenant, cap and preemption checks and the validator; each gives the same
 * placements by id, objective and bound on the instance shuffled (nodes,
 * domains, workloads in another order) and on a second run. Then generated
 * mid-size fleets, the methods' bounds and `optimal` against each other's
 * plans; and the fixed case the shuffles found (roots walked in input order).
 * The tiny instances again with tenant limits that bind; the exhaustive
 * search recounts every plan's tenant use (the solver's bounds ignore binding
 * limits, so only that shows a search that ignored them).
 * TP_ATTACK_SEED, TP_ATTACK_ROUNDS, TP_ATTACK_MID, TP_ATTACK_VERBOSE and
 * TP_ATTACK_DUMP=dir (failing instances as JSON for the CLI) widen a run.
 */
#include "tests/unit/tp_test.h"

#include "gen/gen.h"
#include "policy/policy.h"
#include "policy/validator.h"
#include "solver/solver.h"
#include "tests/unit/test_solver_fixture.h"
#include "util/rng.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW SF_NOW

static int pick(tp_rng_t *r, int n)
{
    return (int)tp_rng_below(r, (uint64_t)n);
}

/* The four documents of an instance (owned). */
typedef struct {
    json_t *fleet, *state, *running, *pending;
} at_docs_t;

static void docs_free(at_docs_t *d)
{
    json_decref(d->fleet);
    json_decref(d->state);
    json_decref(d->running);
    json_decref(d->pending);
}

static int load_all(const at_docs_t *d, sf_inst_t *in)
{
    memset(in, 0, sizeof *in);
    if (sf_load(d->fleet, "fleet", -1, NULL, &in->f) < 0 ||
        sf_load(d->state, "state", 2, in->f, &in->s) < 0 ||
        sf_load(d->running, "running", TP_WL_RUNNING, in->f, &in->running) < 0 ||
        sf_load(d->pending, "pending", TP_WL_PENDING, in->f, &in->pending) < 0)
        return -1;
    return 0;
}

static void shuffled(tp_rng_t *r, const at_docs_t *d, at_docs_t *out)
{
    out->fleet = json_deep_copy(d->fleet);
    out->state = json_deep_copy(d->state);
    out->running = json_deep_copy(d->running);
    out->pending = json_deep_copy(d->pending);
    sf_shuffle(json_object_get(out->fleet, "nodes"), r);
    sf_shuffle(json_object_get(out->fleet, "power_domains"), r);
    sf_shuffle(out->running, r);
    sf_shuffle(out->pending, r);
}

/* Node ids by domain, for running gangs. */
typedef struct {
    char id[16], dom[32], rack[32], row[16], site[16];
    int gpus, free;
} at_node_t;

/* A wild tiny instance (see the header). At most 7 nodes, 6 pending. With
 * gangy: gangs of small members that compete for racks and rows under caps
 * that bind, little else (the root knapsack's pricing by domain). */
static void make_docs(tp_rng_t *r, at_docs_t *d, bool gangy)
{
    json_t *doms = json_array(), *nodes = json_array(), *sn = json_object();
    at_node_t nd[8];
    int nn = 0, nsites = 1 + pick(r, 2);
    bool huge = pick(r, 8) == 0, any_pod = false;
    for (int s = 0; s < nsites; s++) {
        char site[16];
        snprintf(site, sizeof site, "S%d", s);
        json_array_append_new(
            doms, json_pack("{s:s, s:f, s:s}", "id", site, "cap_w", 1e9, "kind", "site"));
    }
    int nrows = 1 + pick(r, 3);
    double site_full[2] = {0, 0};
    json_t *site_doc[2] = {json_array_get(doms, 0), json_array_get(doms, 1)};
    for (int w = 0; w < nrows && nn < 7; w++) {
        char row[16];
        int s = pick(r, nsites);
        bool pod = pick(r, 2);
        any_pod |= pod;
        snprintf(row, sizeof row, "W%d", w);
        json_t *rowd =
            json_pack("{s:s, s:s, s:f, s:s}", "id", row, "parent",
                      (const char *[]){"S0", "S1"}[s], "cap_w", 1e9, "kind", "row");
        json_array_append_new(doms, rowd);
        double row_full = 0;
        char under[16];
        snprintf(under, sizeof under, "%s", row);
        if (pod) { /* an operator-named level under this row only */
            snprintf(under, sizeof under, "P%d", w);
            json_array_append_new(doms,
                                  json_pack("{s:s, s:s, s:f, s:s}", "id", under, "parent",
                                            row, "cap_w", 1e9, "kind", "pod"));
        }
        for (int k = 0, nk = 1 + pick(r, 2); k < nk && nn < 7; k++) {
            char rack[32];
            bool root = pick(r, 8) == 0; /* a rack that is a root of its own */
            double full = 0;
            snprintf(rack, sizeof rack, "R%d%d", w, k);
            for (int i = 0, per = 1 + pick(r, 3); i < per && nn < 7; i++, nn++) {
                at_node_t *x = &nd[nn];
                int gpus = huge && pick(r, 2) ? 64 : (int[]){2, 4, 8}[pick(r, 3)];
                double idle = 100 * pick(r, 4),
                       gw = (double[]){0, 100, 300, 500}[pick(r, 4)];
                double most = idle + gpus * gw, cap;
                int c = gangy ? 2 + pick(r, 4) : pick(r, 6);
                cap = c == 0   ? fmax(1, idle) /* no headroom */
                      : c == 1 ? idle + gw * gpus * 0.5 + 1
                               : most + 1;
                snprintf(x->id, sizeof x->id, "n%d", nn);
                snprintf(x->dom, sizeof x->dom, "%s", rack);
                snprintf(x->rack, sizeof x->rack, "%s", root ? "" : rack);
                x->gpus = x->free = gpus;
                full += most;
                json_array_append_new(
                    nodes,
                    json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:f, s:f, s:f}", "id",
                              x->id, "power_domain",
                              !root && pick(r, 10) == 0 ? under : rack, "region",
                              pick(r, 4) ? "eu" : "us", "gpu_model",
                              pick(r, 3) ? "H100" : "L40S", "gpus", gpus, "cpu_tee",
                              pick(r, 2) ? "tdx" : "none", "gpu_cc", pick(r, 2), "cap_w",
                              cap, "idle_w", idle, "gpu_w", gw));
                if (pick(r, 4)) {
                    json_t *o = json_object();
                    int st = pick(r, 4);
                    if (st < 3)
                        json_object_set_new(
                            o, "attestation",
                            json_pack("{s:s, s:s, s:b, s:I, s:I}", "status",
                                      st ? "affirming" : "warning", "cpu_tee",
                                      pick(r, 3) ? "tdx" : "none", "gpu_cc", pick(r, 2),
                                      "issued_at", (json_int_t)(NOW - 100), "expires_at",
                                      (json_int_t)(NOW + (pick(r, 5) ? 3600 : -10))));
                    if (pick(r, 2))
                        json_object_set_new(o, "country",
                                            json_string(pick(r, 3) ? "DE" : "US"));
                    if (pick(r, 5) == 0) /* BMC draw above the estimate */
                        json_object_set_new(o, "draw_w",
                                            json_real(idle + 100 * pick(r, 5)));
                    if (pick(r, 6) == 0)
                        json_object_set_new(o, "gpus_healthy",
                                            json_integer(pick(r, gpus + 1)));
                    json_object_set_new(sn, x->id, o);
                }
            }
            json_t *rd =
                json_pack("{s:s, s:f, s:s}", "id", rack, "cap_w", 1e9, "kind", "rack");
            int rc = gangy ? 1 + pick(r, 3) : pick(r, 5);
            json_object_set_new(rd, "cap_w",
                                json_real(rc == 0   ? 1 /* nothing fits beyond idle */
                                          : rc == 1 ? full * 0.4 + 1
                                          : rc == 2 ? full * 0.7 + 1
                                                    : full + 1));
            if (root) {
                for (int i = nn - 1; i >= 0 && !strcmp(nd[i].dom, rack); i--)
                    nd[i].row[0] = nd[i].site[0] = 0;
            } else {
                json_object_set_new(rd, "parent", json_string(under));
                row_full += full;
                for (int i = nn - 1; i >= 0 && !strcmp(nd[i].dom, rack); i--) {
                    snprintf(nd[i].row, sizeof nd[i].row, "%s", row);
                    snprintf(nd[i].site, sizeof nd[i].site, "S%d", s);
                }
            }
            json_array_append_new(doms, rd);
        }
        if (pick(r, 3) == 0)
            json_object_set_new(rowd, "cap_w", json_real(row_full * 0.5 + 1));
        site_full[s] += row_full;
    }
    for (int s = 0; s < nsites; s++)
        if (gangy || pick(r, 2))
            json_object_set_new(site_doc[s], "cap_w",
                                json_real(site_full[s] * (0.2 + 0.2 * pick(r, 4)) + 1));
    json_t *tenants = json_pack(
        "{s:{s:i, s:i}, s:{s:i, s:i, s:s}, s:{s:i, s:i, s:s}, s:{s:i, s:s}, s:{s:i, "
        "s:i}}",
        "top", "quota_gpus", 8, "limit_gpus", 8 + 4 * pick(r, 5), "g", "quota_gpus", 4,
        "limit_gpus", 8 + 8 * pick(r, 3), "parent", "top", "t0", "quota_gpus", 2,
        "limit_gpus", 2 + 4 * pick(r, 4), "parent", "g", "t1", "quota_gpus", 0, "parent",
        "g", "t2", "quota_gpus", 4, "limit_gpus", 4 + 8 * pick(r, 2));
    json_t *profiles = json_pack(
        "[{s:s, s:s, s:f, s:f}, {s:s, s:s, s:f, s:f}, {s:s, s:s, s:f, s:f}]", "model",
        "m1", "gpu_model", "H100", "tokens_per_s", 9000.0, "watts", 400.0, "model", "m1",
        "gpu_model", "L40S", "tokens_per_s", 3000.0, "watts", 900.0, "model", "m2",
        "gpu_model", "H100", "tokens_per_s", 5000.0, "watts", 50.0);
    json_t *classes = json_pack("{s:{}, s:{s:[s], s:{s:s}}, s:{s:b}}", "public", "secure",
                                "cpu_tee", "tdx", "attestation", "min_status",
                                "affirming", "regulated", "residency", 1);
    d->fleet =
        json_pack("{s:i, s:{s:{s:[s]}, s:{s:[s]}}, s:o, s:o, s:{s:o, s:o}, s:o}",
                  "version", 1, "regions", "eu", "countries", "DE", "us", "countries",
                  "US", "power_domains", doms, "nodes", nodes, "policy", "classes",
                  classes, "tenants", tenants, "profiles", profiles);
    d->state = json_pack("{s:I, s:o}", "observed_at", (json_int_t)NOW, "nodes", sn);
    static const char *tn[] = {"t0", "t1", "t2", "g", NULL};
    static const char *models[] = {NULL, "m1", "m2"};
    /* Running: singles and a gang of two, where GPUs are free. */
    d->running = json_array();
    for (int i = 0, nr = gangy ? pick(r, 2) : pick(r, 4); i < nr; i++) {
        char id[16];
        int a = pick(r, nn), g = 1 << pick(r, 3);
        snprintf(id, sizeof id, "r%d", i);
        json_t *w =
            json_pack("{s:s, s:s, s:i, s:i, s:b}", "id", id, "sensitivity", "public",
                      "gpus", g, "priority", pick(r, 3), "preemptible", pick(r, 2));
        if (tn[pick(r, 5)])
            json_object_set_new(w, "tenant", json_string(tn[pick(r, 4)]));
        if (models[pick(r, 3)])
            json_object_set_new(w, "model", json_string(models[1 + pick(r, 2)]));
        if (pick(r, 3) == 0) {
            int b = pick(r, nn);
            if (b == a || nd[a].free < g || nd[b].free < g) {
                json_decref(w);
                continue;
            }
            nd[a].free -= g;
            nd[b].free -= g;
            json_object_set_new(w, "nodes", json_integer(2));
            json_object_set_new(w, "members", json_pack("[s, s]", nd[a].id, nd[b].id));
        } else {
            if (nd[a].free < g) {
                json_decref(w);
                continue;
            }
            nd[a].free -= g;
            json_object_set_new(w, "node", json_string(nd[a].id));
        }
        json_array_append_new(d->running, w);
    }
    /* Pending: singles and gangs of 2–4 together in every kind, or none. */
    d->pending = json_array();
    int ng = gangy ? 2 + pick(r, 3) : pick(r, 3),
        ns = gangy ? pick(r, 3) : 1 + pick(r, 4);
    static const char *kinds[] = {NULL, "rack", "row", "pod", "site"};
    for (int i = 0; i < ng + ns; i++) {
        char id[16];
        snprintf(id, sizeof id, "%c%d", i < ng ? 'g' : 's', i);
        int gpus = gangy ? 1 << pick(r, 3) : pick(r, 10) == 0 ? 64 : 1 << pick(r, 4);
        int pr = pick(r, 4) == 0 ? 100 : pick(r, 3) * 2;
        int cl = gangy ? 2 + pick(r, 4) : pick(r, 6);
        json_t *w = json_pack("{s:s, s:s, s:i, s:i}", "id", id, "sensitivity",
                              cl == 0   ? "secure"
                              : cl == 1 ? "regulated"
                                        : "public",
                              "gpus", gpus, "priority", pr);
        if (cl == 1)
            json_object_set_new(w, "residency",
                                json_pack("[s]", pick(r, 3) ? "eu" : "us"));
        const char *m = models[pick(r, 3)];
        if (m)
            json_object_set_new(w, "model", json_string(m));
        const char *t = tn[pick(r, 5)];
        if (t)
            json_object_set_new(w, "tenant", json_string(t));
        if (pick(r, 6) == 0)
            json_object_set_new(w, "gpu_models", json_pack("[s]", "L40S"));
        if (i < ng) {
            json_object_set_new(
                w, "nodes", json_integer(!gangy && pick(r, 6) == 0 ? 8 : 2 + pick(r, 3)));
            const char *k = kinds[gangy ? 1 + pick(r, 4) : pick(r, 5)];
            if (k && !strcmp(k, "pod") && !any_pod)
                k = "rack";
            if (k)
                json_object_set_new(w, "together", json_string(k));
        }
        json_array_append_new(d->pending, w);
    }
}

/* ---- the objective, scored here (docs/solver.md, Objective) -------------------- */

/* The objective counts a gang by term (1) and single-node work by terms
 * (1)–(3), with ε_s = 1 / (1 + 4G), ε_e = ε_s / (1 + G), G the GPUs of the
 * single-node candidates — but work a tenant limit held back (solver.c,
 * gang.c admission) is a side item scored by term (1) and left out of G.
 * Which items those are depends on the admission order, so the search keeps
 * two scores per plan: lo, with every single whose tenant chain has a limit
 * scored by term (1) and G all singles (at most the solver's optimum), and
 * hi, with every single scored in full and G the singles of no limit (at
 * least it). A single's raw terms (2) and (3): g (4 − trust), g eff / eff_max. */
static bool may_be_held(const tp_fleet_t *f, const tp_workload_t *w)
{
    for (int t = tp_wl_tenant(w); t >= 0; t = f->tenants[t].parent)
        if (f->tenants[t].limit_gpus >= 0)
            return true;
    return false;
}

static void raw_terms(const sf_inst_t *in, const tp_workload_t *w, int n, double *t2,
                      double *t3)
{
    const tp_fleet_t *f = in->f;
    double emax = 0;
    for (int i = 0; i < f->nprofiles; i++)
        if (f->profiles[i].watts > 0 &&
            f->profiles[i].tokens_per_s / f->profiles[i].watts > emax)
            emax = f->profiles[i].tokens_per_s / f->profiles[i].watts;
    *t2 = w->gpus * (4.0 - sf_trust(in, n));
    *t3 = emax > 0 && w->model >= 0
              ? w->gpus * sf_eff(f, w->model, f->nodes[n].gpu_model) / emax
              : 0;
}

typedef struct {
    double t1, lo2, lo3, hi2, hi3; /* term (1); raw (2), (3) of lo's and hi's sets */
} score_t;

typedef struct {
    const sf_inst_t *in;
    const tp_workload_t **cand; /* pending work, then stopped running singles */
    int ncand;
    tp_load_t *l;
    double es_lo, ee_lo, es_hi, ee_hi; /* the two scores' weights */
    double best1, lo, hi;              /* maxima over plans */
    long *use;                         /* [tenant] GPUs in use, groups included */
    long *use0;                        /* use of the running work alone */
    char *on;                          /* [candidate] placed in the plan at hand */
    int over;                          /* plans that pass a tenant's limit */
} ax_t;

/* The plan at hand's tenant use summed afresh from x->on (not as
 * sf_tenant_take keeps it): does it add to a tenant past its limit? Checks
 * the search itself: the solver's bounds ignore binding limits, so no
 * "optimal" claim or bound would show a search that ignored them. */
static bool over_limit(const ax_t *x)
{
    const tp_fleet_t *f = x->in->f;
    bool over = false;
    for (int t = 0; t < f->ntenants && !over; t++) {
        long u = x->use0[t];
        for (int i = 0; i < x->ncand; i++)
            for (int k = tp_wl_tenant(x->cand[i]); x->on[i] && k >= 0;
                 k = f->tenants[k].parent)
                if (k == t)
                    u += (long)x->cand[i]->gpus * tp_wl_nodes(x->cand[i]);
        over = f->tenants[t].limit_gpus >= 0 && u > f->tenants[t].limit_gpus &&
               u > x->use0[t]; /* running work alone may be over it */
    }
    return over;
}

static void adfs(ax_t *x, int i, score_t v);

static void members(ax_t *x, int i, score_t v, int from, int got, int dom)
{
    const tp_fleet_t *f = x->in->f;
    const tp_workload_t *w = x->cand[i];
    int need = tp_wl_nodes(w), kind = tp_wl_together(w);
    if (got == need) {
        if (sf_tenant_take(x->in->f, x->use, w, +1)) {
            x->on[i] = 1;
            adfs(x, i + 1, v);
            x->on[i] = 0;
            sf_tenant_take(x->in->f, x->use, w, -1);
        }
        return;
    }
    if (f->nnodes - from < need - got)
        return;
    for (int n = from; n < f->nnodes; n++) {
        int d = kind >= 0 ? tp_fleet_node_domain_of_kind(f, n, kind) : -1;
        if ((kind >= 0 && d < 0) || (got > 0 && d != dom) ||
            tp_policy_check(f, x->in->s, x->l, n, w, NOW))
            continue;
        double watts = tp_fleet_gpu_watts(f, n, w->model);
        score_t u = v;
        u.t1 += (1.0 + w->priority) * w->gpus;
        if (need == 1) {
            double t2, t3;
            raw_terms(x->in, w, n, &t2, &t3);
            u.hi2 += t2;
            u.hi3 += t3;
            if (!may_be_held(f, w)) {
                u.lo2 += t2;
                u.lo3 += t3;
            }
        }
        tp_load_apply(x->l, f, n, w->gpus, watts, +1);
        members(x, i, u, n + 1, got + 1, d);
        tp_load_apply(x->l, f, n, w->gpus, watts, -1);
    }
}

static void adfs(ax_t *x, int i, score_t v)
{
    if (i == x->ncand) {
        x->over += x->use && over_limit(x);
        x->best1 = fmax(x->best1, v.t1);
        x->lo = fmax(x->lo, v.t1 + x->es_lo * v.lo2 + x->ee_lo * v.lo3);
        x->hi = fmax(x->hi, v.t1 + x->es_hi * v.hi2 + x->ee_hi * v.hi3);
        return;
    }
    members(x, i, v, 0, 0, -1);
    adfs(x, i + 1, v);
}

typedef struct {
    double t1, lo, hi; /* the most term (1); the optimum lies in [lo, hi] */
    int over;          /* plans searched that pass a tenant limit (0) */
} opt_t;

/* The exhaustive optimum, from the load and use of the running work less
 * what the result stopped (stopped[running index], NULL: none), the stopped
 * single-node work a candidate again (a stopped gang waits whole); with
 * limits false, as if no tenant had a limit. */
static opt_t exhaustive(const sf_inst_t *in, const char *stopped, bool limits)
{
    const tp_workloads_t *R = in->running;
    ax_t x = {.in = in,
              .cand =
                  malloc(((size_t)in->pending->n + (size_t)R->n + 1) * sizeof *x.cand),
              .l = tp_load_new(in->f, in->s, R),
              .use = limits ? calloc((size_t)in->f->ntenants + 1, sizeof(long)) : NULL,
              .use0 = calloc((size_t)in->f->ntenants + 1, sizeof(long)),
              .on = calloc((size_t)in->pending->n + (size_t)R->n + 1, 1)};
    double g_all = 0, g_free = 0;
    for (int i = 0; i < in->pending->n; i++)
        x.cand[x.ncand++] = &in->pending->w[i];
    for (int i = 0; i < R->n; i++) {
        if (stopped && stopped[i]) {
            const tp_workload_t *w = &R->w[i];
            tp_load_apply(x.l, in->f, w->node, w->gpus,
                          tp_fleet_gpu_watts(in->f, w->node, w->model), -1);
            if (!w->gang)
                x.cand[x.ncand++] = w;
            continue;
        }
        for (int t = tp_wl_tenant(&R->w[i]); x.use && t >= 0;
             t = in->f->tenants[t].parent)
            x.use[t] += R->w[i].gpus;
    }
    for (int i = 0; i < x.ncand; i++) {
        const tp_workload_t *w = x.cand[i];
        if (tp_wl_nodes(w) == 1) {
            g_all += w->gpus;
            g_free += may_be_held(in->f, w) ? 0 : w->gpus;
        }
    }
    x.es_lo = 1.0 / (1.0 + 4 * g_all);
    x.ee_lo = x.es_lo / (1.0 + g_all);
    x.es_hi = 1.0 / (1.0 + 4 * g_free);
    x.ee_hi = x.es_hi / (1.0 + g_free);
    if (x.use)
        memcpy(x.use0, x.use, (size_t)in->f->ntenants * sizeof(long));
    adfs(&x, 0, (score_t){0});
    tp_load_free(x.l);
    free(x.use);
    free(x.use0);
    free(x.on);
    free(x.cand);
    return (opt_t){x.best1, x.lo, x.hi, x.over};
}

/* ---- this file's rules on a result --------------------------------------------- */

/* Preempted running work, by running index (caller frees). */
static char *stopped_of(const sf_inst_t *in, const tp_result_t *res)
{
    char *st = calloc((size_t)in->running->n + 1, 1);
    for (int i = 0; st && i < res->npreemptions; i++)
        st[res->preemptions[i].workload] = 1;
    return st;
}

static int rules(const sf_inst_t *in, const tp_result_t *res, const char *what)
{
    const tp_fleet_t *f = in->f;
    const tp_workloads_t *P = in->pending, *R = in->running;
    int bad = 0, *cnt = calloc((size_t)P->n + 1, sizeof(int));
    long *use = calloc((size_t)f->ntenants + 1, sizeof(long)),
         *before = calloc((size_t)f->ntenants + 1, sizeof(long));
    char *st = stopped_of(in, res), *moved = calloc((size_t)R->n + 1, 1);
    tp_load_t *l = tp_load_new(f, in->s, R);
    bool any_moved = false;
#define BAD(...)                                                                         \
    do {                                                                                 \
        tp_test_fail(__FILE__, __LINE__, __VA_ARGS__);                                   \
        bad++;                                                                           \
    } while (0)
    for (int i = 0; i < R->n; i++) {
        const tp_workload_t *w = &R->w[i];
        for (int t = tp_wl_tenant(w); t >= 0; t = f->tenants[t].parent)
            before[t] += w->gpus, use[t] += st[i] ? 0 : w->gpus;
        if (st[i] && !w->preemptible)
            BAD("%s: non-preemptible %s preempted", what, w->id);
        if (w->gang && st[i] != st[tp_wl_gang_first(w)])
            BAD("%s: running gang %s stopped in part", what, w->id);
        if (st[i])
            tp_load_apply(l, f, w->node, w->gpus,
                          tp_fleet_gpu_watts(f, w->node, w->model), -1);
    }
    for (int i = 0; i < res->nplacements; i++) {
        const tp_placement_t *p = &res->placements[i];
        int ri = p->workload - P->n;
        const tp_workload_t *w = ri >= 0 ? &R->w[ri] : &P->w[p->workload];
        if (ri >= 0) {
            any_moved = true;
            if (!st[ri] || w->gang || moved[ri]++)
                BAD("%s: running %s moved (stopped %d, gang %d)", what, w->id, st[ri],
                    w->gang);
        } else {
            cnt[p->workload]++;
        }
        if (tp_policy_static(f, in->s, p->node, w, NOW) != 0)
            BAD("%s: %s on %s fails a static predicate", what, w->id,
                f->nodes[p->node].id);
        if (tp_policy_check(f, in->s, l, p->node, w, NOW) != 0)
            BAD("%s: %s does not fit on %s in placement order", what, w->id,
                f->nodes[p->node].id);
        tp_load_apply(l, f, p->node, w->gpus, tp_fleet_gpu_watts(f, p->node, w->model),
                      +1);
        for (int t = tp_wl_tenant(w); t >= 0; t = f->tenants[t].parent)
            use[t] += p->gpus;
        for (int j = 0; j < i && ri < 0; j++)
            if (res->placements[j].workload == p->workload) {
                int k = tp_wl_together(w);
                if (res->placements[j].node == p->node)
                    BAD("%s: %s twice on one node", what, w->id);
                if (k >= 0 &&
                    (tp_fleet_node_domain_of_kind(f, p->node, k) < 0 ||
                     tp_fleet_node_domain_of_kind(f, p->node, k) !=
                         tp_fleet_node_domain_of_kind(f, res->placements[j].node, k)))
                    BAD("%s: %s not together in a %s", what, w->id, f->kinds[k]);
            }
    }
    for (int i = 0; i < P->n; i++)
        if (cnt[i] && cnt[i] != tp_wl_nodes(&P->w[i]))
            BAD("%s: partial gang %s (%d of %d)", what, P->w[i].id, cnt[i],
                tp_wl_nodes(&P->w[i]));
    for (int t = 0; t < f->ntenants; t++) /* only a breach the result added counts */
        if (f->tenants[t].limit_gpus >= 0 && use[t] > f->tenants[t].limit_gpus &&
            use[t] > before[t])
            BAD("%s: tenant %s at %ld GPUs, limit %d", what, f->tenants[t].name, use[t],
                f->tenants[t].limit_gpus);
    tp_load_free(l);
    if (!any_moved && res->npreemptions == 0) { /* the validator: pending indices */
        tp_violations_t v;
        tp_violations_init(&v);
        int nv = tp_validate(f, in->s, P, R, res, NOW, &v);
        if (nv != 0)
            BAD("%s: validator: %d: %s", what, nv, v.n ? v.msgs[0] : "?");
        tp_violations_fini(&v);
    }
#undef BAD
    free(cnt);
    free(use);
    free(before);
    free(st);
    free(moved);
    return bad;
}

static tp_solution_t *solve_m(const sf_inst_t *in, tp_solver_method_t m, int large)
{
    tp_solver_opts_t o = {.now = NOW, .time_limit_ms = 20000, .method = m};
    if (large)
        o.exact_max_pairs = 1;
    tp_solution_t *sol = NULL;
    tp_error_t err;
    if (tp_solve(in->f, in->s, in->pending, in->running, &o, &sol, &err) < 0) {
        tp_test_fail(__FILE__, __LINE__, "tp_solve: %s", err.text);
        return NULL;
    }
    return sol;
}

#define NM 5
static const char *const mname[NM] = {"aggregate", "large", "auto", "exact", "greedy"};

static tp_solution_t *solve_i(const sf_inst_t *in, int m)
{
    static const tp_solver_method_t ms[NM] = {TP_SOLVER_AGGREGATE, TP_SOLVER_AUTO,
                                              TP_SOLVER_AUTO, TP_SOLVER_EXACT,
                                              TP_SOLVER_GREEDY};
    return solve_m(in, ms[m], m == 1);
}

/* With TP_ATTACK_DUMP=dir: an instance's documents as dir/<tag>-{fleet,state,
 * running,pending}.json, for the CLI. */
static void dump(const at_docs_t *d, const char *tag)
{
    const char *dir = getenv("TP_ATTACK_DUMP");
    const json_t *doc[4] = {d->fleet, d->state, d->running, d->pending};
    static const char *name[4] = {"fleet", "state", "running", "pending"};
    for (int k = 0; dir && k < 4; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s-%s.json", dir, tag, name[k]);
        json_dump_file(doc[k], path, JSON_COMPACT);
    }
}

/* The placements as sorted "workload@node" ids, for comparing across
 * orders (caller frees). */
static int by_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *placement_ids(const sf_inst_t *in, const tp_result_t *res)
{
    int n = res->nplacements, np = in->pending->n;
    char **v = calloc((size_t)n + 1, sizeof *v), *out = calloc((size_t)n + 1, 64);
    for (int i = 0; v && out && i < n; i++) {
        const tp_placement_t *p = &res->placements[i];
        const tp_workload_t *w = p->workload < np ? &in->pending->w[p->workload]
                                                  : &in->running->w[p->workload - np];
        if ((v[i] = malloc(64)))
            snprintf(v[i], 64, "%s@%s ", w->id, in->f->nodes[p->node].id);
    }
    for (int i = 0; v && out && i < n; i++)
        if (!v[i])
            n = i;
    if (v && out) {
        qsort(v, (size_t)n, sizeof *v, by_str);
        for (int i = 0; i < n; i++)
            strcat(out, v[i]);
    }
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
    return out;
}

typedef struct {
    int checked, skipped, low, above, wrong, claims, broken, order, tight;
    int binding; /* instances whose tenant limits lower the exhaustive term (1) */
} at_tally_t;

/* Tenant limits that bind on these tiny instances: top 2–8, g 2–8 (nested
 * under top), t0 1–4, t2 2–6 GPUs; quotas lowered to fit under them. */
static void tighten(tp_rng_t *r, at_docs_t *d)
{
    json_t *tn = json_object_get(json_object_get(d->fleet, "policy"), "tenants");
    static const char *const name[] = {"top", "g", "t0", "t2"};
    static const int base[] = {2, 2, 1, 2}, step[] = {2, 2, 1, 2}, ways[] = {4, 4, 4, 3};
    for (int k = 0; k < 4; k++) {
        json_t *t = json_object_get(tn, name[k]);
        int lim = base[k] + step[k] * pick(r, ways[k]);
        int q = (int)json_integer_value(json_object_get(t, "quota_gpus"));
        json_object_set_new(t, "limit_gpus", json_integer(lim));
        json_object_set_new(t, "quota_gpus", json_integer(q < lim ? q : lim));
    }
}

/* One instance: every method against the exhaustive optimum and the rules,
 * AUTO and AGGREGATE again and on a shuffled copy; with tight, under tenant
 * limits that bind (tighten()). */
static void attack_one(tp_rng_t *r, int round, at_tally_t *t, bool verbose, bool tight)
{
    at_docs_t d = {0}, sd = {0};
    sf_inst_t in, sh;
    make_docs(r, &d, round % 2);
    if (tight)
        tighten(r, &d);
    if (load_all(&d, &in) < 0) {
        tp_test_fail(__FILE__, __LINE__, "round %d: instance did not load", round);
        char *s = json_dumps(d.fleet, JSON_COMPACT);
        fprintf(stderr, "%s\n", s);
        free(s);
        sf_free(&in);
        docs_free(&d);
        return;
    }
    tp_solution_t *sol[NM];
    bool skip = false;
    char *st[NM];
    /* Every method shares phase 1's and 1b's stops; a reclaim also fixes
     * the reclaiming work's nodes, which the search here does not model. */
    for (int m = 0; m < NM; m++) {
        sol[m] = solve_i(&in, m);
        st[m] = sol[m] ? stopped_of(&in, sol[m]->result) : NULL;
        skip |= !st[m];
        for (int i = 0; sol[m] && i < sol[m]->result->npreemptions; i++)
            skip |= !strncmp(sol[m]->result->preemptions[i].why, "reclaim:", 8);
        if (m > 0 && st[m] && st[0] &&
            memcmp(st[m], st[0], (size_t)in.running->n + 1) != 0) {
            t->broken++;
            tp_test_fail(__FILE__, __LINE__, "round %d: %s stops other work than %s",
                         round, mname[m], mname[0]);
        }
    }
    if (skip) {
        t->skipped++;
    } else {
        opt_t best = exhaustive(&in, st[0], true);
        t->binding += tight && exhaustive(&in, st[0], false).t1 > best.t1 + 1e-9;
        if (best.over) {
            t->broken++;
            tp_test_fail(__FILE__, __LINE__,
                         "round %d: %d plans of the exhaustive search pass a tenant "
                         "limit",
                         round, best.over);
        }
        double tol = 1e-6 * (1 + best.hi);
        bool bad = false;
        for (int m = 0; m < NM; m++) {
            const tp_result_t *res = sol[m]->result;
            if (m < 4 && !(res->bound >= best.lo - tol)) {
                t->low++;
                bad = true;
                tp_test_fail(__FILE__, __LINE__,
                             "round %d %s: bound %.9f below the exhaustive optimum (at "
                             "least %.9f)",
                             round, mname[m], res->bound, best.lo);
            }
            if (res->objective > best.hi + tol ||
                sol[m]->weighted_gpus > best.t1 + 1e-9) {
                t->above++;
                bad = true;
                tp_test_fail(__FILE__, __LINE__,
                             "round %d %s: objective %.9f (%.1f weighted) above the "
                             "exhaustive (at most %.9f, %.1f weighted)",
                             round, mname[m], res->objective, sol[m]->weighted_gpus,
                             best.hi, best.t1);
            }
            if (sol[m]->optimal && (res->objective < best.lo - tol ||
                                    sol[m]->weighted_gpus < best.t1 - 1e-9)) {
                t->wrong++;
                bad = true;
                tp_test_fail(__FILE__, __LINE__,
                             "round %d %s: \"optimal\" at %.9f (%.1f weighted), "
                             "exhaustive at least %.9f (%.1f weighted)",
                             round, mname[m], res->objective, sol[m]->weighted_gpus,
                             best.lo, best.t1);
            }
            t->claims += sol[m]->optimal;
            t->tight += m < 4 && res->bound < best.hi + 1e-3;
            int nb = rules(&in, res, mname[m]);
            t->broken += nb;
            bad |= nb > 0;
        }
        if (bad && verbose) {
            char *s[4] = {
                json_dumps(d.fleet, JSON_COMPACT), json_dumps(d.state, JSON_COMPACT),
                json_dumps(d.running, JSON_COMPACT), json_dumps(d.pending, JSON_COMPACT)};
            fprintf(stderr, "fleet %s\nstate %s\nrunning %s\npending %s\n", s[0], s[1],
                    s[2], s[3]);
            for (int k = 0; k < 4; k++)
                free(s[k]);
        }
        t->checked++;
    }
    /* Order and repetition: every method gives the same placements by id,
     * objective and bound on the shuffled copy and on a second run. */
    shuffled(r, &d, &sd);
    if (load_all(&sd, &sh) == 0) {
        for (int m = 0; m < NM; m++) {
            tp_solution_t *a = solve_i(&sh, m), *b = solve_i(&in, m);
            char *pa = a ? placement_ids(&sh, a->result) : NULL,
                 *pb = b ? placement_ids(&in, b->result) : NULL,
                 *p0 = sol[m] ? placement_ids(&in, sol[m]->result) : NULL;
            if (pa && pb && p0 &&
                (fabs(a->result->objective - sol[m]->result->objective) >
                     1e-9 * (1 + sol[m]->result->objective) ||
                 b->result->objective != sol[m]->result->objective || strcmp(pa, p0) ||
                 strcmp(pb, p0) ||
                 fabs(a->result->bound - sol[m]->result->bound) >
                     1e-9 * (1 + fabs(sol[m]->result->bound)) ||
                 memcmp(&b->result->bound, &sol[m]->result->bound, sizeof(double)))) {
                t->order++;
                char tag[32];
                snprintf(tag, sizeof tag, "w%d", round);
                dump(&d, tag);
                snprintf(tag, sizeof tag, "w%d-shuffled", round);
                dump(&sd, tag);
                tp_test_fail(__FILE__, __LINE__,
                             "round %d %s: objective %.9f, shuffled %.9f, again %.9f; "
                             "bound %.9f, shuffled %.9f, again %.9f; placements %s| "
                             "shuffled %s| again %s",
                             round, mname[m], sol[m]->result->objective,
                             a->result->objective, b->result->objective,
                             sol[m]->result->bound, a->result->bound, b->result->bound,
                             p0, pa, pb);
            }
            free(pa);
            free(pb);
            free(p0);
            tp_solution_free(a);
            tp_solution_free(b);
        }
    }
    sf_free(&sh);
    for (int m = 0; m < NM; m++) {
        tp_solution_free(sol[m]);
        free(st[m]);
    }
    sf_free(&in);
    docs_free(&d);
    docs_free(&sd);
}

static void attack(uint64_t seed, int rounds, at_tally_t *t, bool tight)
{
    tp_rng_t r;
    tp_rng_init(&r, seed);
    for (int round = 0; round < rounds; round++)
        attack_one(&r, round, t, getenv("TP_ATTACK_VERBOSE") != NULL, tight);
    printf("  seed %llu: %d wild instances checked (%d skipped: reclaim); bounds "
           "below the optimum %d, plans above it %d, false \"optimal\" %d (of %d), "
           "rule breaks %d, order or repeat differences %d; bounds within 1e-3: %d\n",
           (unsigned long long)seed, t->checked, t->skipped, t->low, t->above, t->wrong,
           t->claims, t->broken, t->order, t->tight);
}

TP_TEST(solver_attack_wild_vs_exhaustive)
{
    at_tally_t t = {0};
    int rounds = getenv("TP_ATTACK_ROUNDS") ? atoi(getenv("TP_ATTACK_ROUNDS")) : 1000;
    uint64_t seed = getenv("TP_ATTACK_SEED") ? strtoull(getenv("TP_ATTACK_SEED"), NULL, 0)
                                             : 0x61747461ULL;
    attack(seed, rounds, &t, false);
    TP_CHECK_EQ_INT(t.low + t.above + t.wrong + t.broken + t.order, 0);
    TP_CHECK(t.checked >= rounds / 2);
}

/* The same checks where tenant limits bind (tighten()): the exhaustive
 * search's limit walk (sf_tenant_take) is what scores these, so a search
 * that ignored the limits would find plans above every "optimal" claim. */
TP_TEST(solver_attack_tenant_limits_vs_exhaustive)
{
    at_tally_t t = {0};
    int rounds = 300 * tp_test_soak();
    attack(0x6c696d6974ULL, rounds, &t, true);
    printf("  tenant limits lowered the exhaustive term (1) on %d instances\n",
           t.binding);
    TP_CHECK_EQ_INT(t.low + t.above + t.wrong + t.broken + t.order, 0);
    TP_CHECK(t.checked >= rounds / 2);
    TP_CHECK(t.binding >= rounds / 10); /* the limits do bind */
}

/* ---- generated mid-size fleets: methods against each other ---------------------- */

/* gen-fleet (12–36 nodes, racks of 4–8, tenants or none), gen-state, and
 * 20–60 pending of which 10–40% gangs; every domain cap scaled by 0.3–1 so
 * the site or the racks bind. */
static int mid_docs(tp_rng_t *r, at_docs_t *d)
{
    tp_error_t err;
    tp_gen_fleet_opts_t fo = {.nodes = 12 + pick(r, 25),
                              .seed = 1 + (uint64_t)pick(r, 1000),
                              .tenants = pick(r, 2) ? 10 : 0,
                              .rack_nodes = 4 + pick(r, 5)};
    sf_inst_t tmp = {0};
    size_t i;
    json_t *x;
    memset(d, 0, sizeof *d);
    if (!(d->fleet = tp_gen_fleet(&fo, &err)))
        return -1;
    double scale = (double[]){0.3, 0.5, 0.7, 1.0}[pick(r, 4)];
    json_array_foreach (json_object_get(d->fleet, "power_domains"), i, x)
        json_object_set_new(
            x, "cap_w",
            json_real(fmax(1, json_number_value(json_object_get(x, "cap_w")) *
                                  (pick(r, 2) ? scale : 1))));
    if (sf_load(d->fleet, "fleet", -1, NULL, &tmp.f) < 0)
        return -1;
    d->state = tp_gen_state(tmp.f, 1 + (uint64_t)pick(r, 1000), NOW, &err);
    d->pending =
        tp_gen_workloads_gangs(tmp.f, 20 + pick(r, 41), 1 + (uint64_t)pick(r, 1000),
                               0.1 * (1 + pick(r, 4)), &err);
    d->running = json_array();
    tp_fleet_free(tmp.f);
    return d->state && d->pending ? 0 : -1;
}

TP_TEST(solver_attack_mid_methods_agree)
{
    tp_rng_t r;
    int rounds = getenv("TP_ATTACK_MID") ? atoi(getenv("TP_ATTACK_MID")) : 3, bad = 0;
    int optimal = 0, limited = 0;
    tp_rng_init(&r, getenv("TP_ATTACK_SEED") ? strtoull(getenv("TP_ATTACK_SEED"), NULL, 0)
                                             : 0x6d6964ULL);
    for (int round = 0; round < rounds; round++) {
        at_docs_t d, sd = {0};
        sf_inst_t in = {0}, sh = {0};
        if (mid_docs(&r, &d) < 0 || load_all(&d, &in) < 0) {
            tp_test_fail(__FILE__, __LINE__, "round %d: instance did not load", round);
            sf_free(&in);
            docs_free(&d);
            continue;
        }
        char tag[32];
        snprintf(tag, sizeof tag, "r%d", round);
        dump(&d, tag);                       /* with TP_ATTACK_DUMP */
        if (getenv("TP_ATTACK_DUMP_ONLY")) { /* the same draws, no solve */
            shuffled(&r, &d, &sd);
            dump(&sd, "s");
            sf_free(&in);
            docs_free(&d);
            docs_free(&sd);
            continue;
        }
        tp_solution_t *sol[4] = {solve_i(&in, 0), solve_i(&in, 1), solve_i(&in, 2),
                                 solve_i(&in, 4)};
        for (int a = 0; a < 4; a++) {
            if (!sol[a])
                continue;
            optimal += sol[a]->optimal;
            bad += rules(&in, sol[a]->result, mname[a < 3 ? a : 4]);
            for (int b = 0; b < 4; b++) {
                if (!sol[b])
                    continue;
                double ob = sol[b]->result->objective, tol = 1e-6 * (1 + ob);
                if (a < 3 && !(sol[a]->result->bound >= ob - tol)) {
                    bad++;
                    tp_test_fail(
                        __FILE__, __LINE__, "round %d: %s's bound %.6f < %s's %.6f",
                        round, sol[a]->method, sol[a]->result->bound, sol[b]->method, ob);
                }
                if (sol[a]->optimal && sol[a]->result->objective < ob - tol) {
                    bad++;
                    tp_test_fail(__FILE__, __LINE__,
                                 "round %d: %s \"optimal\" at %.6f, %s finds %.6f", round,
                                 sol[a]->method, sol[a]->result->objective,
                                 sol[b]->method, ob);
                }
            }
        }
        shuffled(&r, &d, &sd);
        if (load_all(&sd, &sh) == 0)
            for (int m = 0; m < 3; m += 2) {
                tp_solution_t *s2 = solve_i(&sh, m);
                /* Work budgets, no clock: time-limited runs compare too. */
                limited += s2 && sol[m] && sol[m]->time_limited;
                if (s2 && sol[m] &&
                    (s2->time_limited != sol[m]->time_limited ||
                     fabs(s2->result->objective - sol[m]->result->objective) >
                         1e-9 * (1 + sol[m]->result->objective))) {
                    bad++;
                    tp_test_fail(__FILE__, __LINE__,
                                 "round %d %s: objective %.9f, shuffled %.9f", round,
                                 mname[m], sol[m]->result->objective,
                                 s2->result->objective);
                    snprintf(tag, sizeof tag, "r%d-shuffled", round);
                    dump(&sd, tag);
                }
                tp_solution_free(s2);
            }
        for (int m = 0; m < 4; m++)
            tp_solution_free(sol[m]);
        sf_free(&in);
        sf_free(&sh);
        docs_free(&d);
        docs_free(&sd);
    }
    printf("  %d generated mid-size instances, 4 methods each: %d failures, %d optimal; "
           "%d of the shuffles compared time-limited\n",
           rounds, bad, optimal, limited);
    TP_CHECK_EQ_INT(bad, 0);
}

/* Two roots (site S0 over row W0 over rack R00, and rack R01 on its own) and
 * two gangs together in a rack beside two singles: the root knapsack's
 * pattern search over λ walked the roots in the fleet's order, so listing
 * R01 before S0 gave another bound (234.738127 against 234.735734; found
 * by solver_attack_wild_vs_exhaustive, seed 53). Every method's bound must
 * not depend on the order of the power domains. */
TP_TEST(solver_attack_root_order_same_bound)
{
    static const char *const doms[2] = {
        "[{\"id\":\"S0\",\"cap_w\":1561,\"kind\":\"site\"},"
        "{\"id\":\"W0\",\"parent\":\"S0\",\"cap_w\":1951,\"kind\":\"row\"},"
        "{\"id\":\"R00\",\"cap_w\":3901,\"kind\":\"rack\",\"parent\":\"W0\"},"
        "{\"id\":\"R01\",\"cap_w\":841,\"kind\":\"rack\"}]",
        "[{\"id\":\"R01\",\"cap_w\":841,\"kind\":\"rack\"},"
        "{\"id\":\"R00\",\"cap_w\":3901,\"kind\":\"rack\",\"parent\":\"W0\"},"
        "{\"id\":\"W0\",\"parent\":\"S0\",\"cap_w\":1951,\"kind\":\"row\"},"
        "{\"id\":\"S0\",\"cap_w\":1561,\"kind\":\"site\"}]"};
    const char *nodes = "[{\"id\":\"n0\",\"power_domain\":\"R00\",\"region\":\"eu\","
                        "\"gpu_model\":\"H100\","
                        "\"gpus\":4,\"cap_w\":501,\"idle_w\":100,\"gpu_w\":100},"
                        "{\"id\":\"n1\",\"power_domain\":\"R00\",\"region\":\"eu\",\"gpu_"
                        "model\":\"L40S\","
                        "\"gpus\":8,\"cap_w\":2501,\"idle_w\":100,\"gpu_w\":300},"
                        "{\"id\":\"n2\",\"power_domain\":\"R00\",\"region\":\"us\",\"gpu_"
                        "model\":\"L40S\","
                        "\"gpus\":2,\"cap_w\":901,\"idle_w\":300,\"gpu_w\":300},"
                        "{\"id\":\"n3\",\"power_domain\":\"R01\",\"region\":\"eu\",\"gpu_"
                        "model\":\"H100\","
                        "\"gpus\":4,\"cap_w\":1201,\"idle_w\":0,\"gpu_w\":300}]";
    const char *rest =
        "\"policy\":{\"classes\":{\"public\":{}}},\"profiles\":["
        "{\"model\":\"m1\",\"gpu_model\":\"H100\",\"tokens_per_s\":9000,\"watts\":400},"
        "{\"model\":\"m1\",\"gpu_model\":\"L40S\",\"tokens_per_s\":3000,\"watts\":900},"
        "{\"model\":\"m2\",\"gpu_model\":\"H100\",\"tokens_per_s\":5000,\"watts\":50}]";
    const char *state =
        "{\"observed_at\":1795000000,\"nodes\":{\"n0\":{\"attestation\":{\"status\":"
        "\"warning\",\"cpu_tee\":\"tdx\",\"gpu_cc\":true,\"issued_at\":1794999900,"
        "\"expires_at\":1795003600}},\"n1\":{\"attestation\":{\"status\":\"affirming\","
        "\"cpu_tee\":\"tdx\",\"gpu_cc\":false,\"issued_at\":1794999900,\"expires_at\":"
        "1794999990}},\"n2\":{\"attestation\":{\"status\":\"warning\",\"cpu_tee\":"
        "\"tdx\","
        "\"gpu_cc\":true,\"issued_at\":1794999900,\"expires_at\":1795003600},\"country\":"
        "\"US\",\"draw_w\":300,\"gpus_healthy\":1}}}";
    const char *pend =
        "[{\"id\":\"g0\",\"sensitivity\":\"public\",\"gpus\":2,\"priority\":4,\"model\":"
        "\"m2\",\"nodes\":2,\"together\":\"rack\"},{\"id\":\"g2\",\"sensitivity\":"
        "\"public\","
        "\"gpus\":2,\"priority\":4,\"model\":\"m2\",\"nodes\":2,\"together\":\"rack\"},"
        "{\"id\":\"s4\",\"sensitivity\":\"public\",\"gpus\":2,\"priority\":100},"
        "{\"id\":\"s5\",\"sensitivity\":\"public\",\"gpus\":2,\"priority\":2,\"model\":"
        "\"m1\"}]";
    double bound[2][NM];
    for (int o = 0; o < 2; o++) {
        char fleet[4096];
        at_docs_t d;
        sf_inst_t in;
        snprintf(fleet, sizeof fleet,
                 "{\"version\":1,\"regions\":{\"eu\":{\"countries\":[\"DE\"]},\"us\":{"
                 "\"countries\":[\"US\"]}},\"power_domains\":%s,\"nodes\":%s,%s}",
                 doms[o], nodes, rest);
        d.fleet = json_loads(fleet, 0, NULL);
        d.state = json_loads(state, 0, NULL);
        d.running = json_array();
        d.pending = json_loads(pend, 0, NULL);
        TP_ASSERT(d.fleet && d.state && d.pending && load_all(&d, &in) == 0);
        for (int m = 0; m < NM; m++) {
            tp_solution_t *sol = solve_i(&in, m);
            bound[o][m] = sol ? sol->result->bound : NAN;
            tp_solution_free(sol);
        }
        sf_free(&in);
        docs_free(&d);
    }
    for (int m = 0; m < NM - 1; m++)
        if (!(bound[0][m] == bound[1][m]))
            tp_test_fail(__FILE__, __LINE__, "%s: bound %.9f, domains reversed %.9f",
                         mname[m], bound[0][m], bound[1][m]);
}
