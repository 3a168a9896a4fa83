/*
 * tests/unit/test_policy_props.c — property tests of the eligibility policy over
 * many random (node, workload, state) triples:
 *   1. the policy agrees, predicate by predicate, with the deliberately simple
 *      reference below, which works from the raw random description (strings,
 *      not the loader's resolved masks), so it also checks class tightening;
 *   2. adding any requirement never makes a node eligible that was not;
 *   3. an expired, future-dated, too-old or missing attestation is never
 *      eligible for a workload whose class needs one.
 */
#include "tests/unit/tp_test.h"

#include "model/model.h"
#include "policy/policy.h"
#include "policy/validator.h"
#include "util/rng.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#define NNODES 40
#define NWL 120
#define ROUNDS 40 /* 40 × 40 × 120 = 192,000 triples, plus as many tightened */
#define NOW 1795000000LL

static const char *const tees[] = {"none", "tdx", "sev-snp", "cca"};
static const char *const statuses[] = {"none", "contraindicated", "warning", "affirming"};
static const char *const gpu_models[] = {"H100", "H200", "L40S"};
static const char *const regions[] = {"r-de", "r-fr", "r-us"};
static const char *const countries[] = {"DE", "FR", "US"};

/* The classes of the random fleets, described plainly for the reference. */
typedef struct {
    const char *name;
    const char *tee[3]; /* NULL-terminated; tee[0] == NULL: any */
    int cc, att;
    int min_rank; /* 1 warning, 2 affirming */
    long max_age;
    int residency; /* 0 none, 1 declared, 2 verified */
} rclass_t;

static const rclass_t classes[] = {
    {"public", {NULL}, 0, 0, 0, 0, 0},
    {"internal", {NULL}, 0, 1, 1, 86400, 0},
    {"confidential", {"tdx", "sev-snp", NULL}, 1, 1, 2, 3600, 0},
    {"regulated", {"tdx", "sev-snp", NULL}, 1, 1, 2, 600, 1},
    {"sovereign", {NULL}, 0, 0, 0, 0, 2},
    {"tee-claimed", {"tdx", NULL}, 0, 0, 0, 0, 0},
};
#define NCLASSES (int)(sizeof classes / sizeof classes[0])

typedef struct {
    int tee, cc, gm, gpus, region, domain;
    double cap, idle, gpu_w;
} rnode_t;

typedef struct {
    int known, present, status, att_tee /* -1 absent */, att_cc /* -1 absent */;
    long long iat, exp;
    int healthy;      /* -1 absent */
    int country;      /* -1 absent */
    double cap, draw; /* NAN absent */
} robs_t;

typedef struct {
    int cls, gpus;
    int ngm, gm[2];
    int nres, res[2];
    int ntee, tee[3]; /* own cpu_tee list */
    int cc;           /* own gpu_cc: -1 absent, 0, 1 */
    int att;          /* own attestation given */
    int min_rank;
    long max_age; /* 0: not given */
    int model;    /* -1 none, 0 llama (has a profile on H100) */
} rwl_t;

typedef struct {
    rnode_t n[NNODES];
    robs_t o[NNODES];
    double dom_cap[3]; /* site, rack-a, rack-b */
    rwl_t w[NWL];
    int nrun, run_node[8], run_gpus[8];
} world_t;

static int rank_of(int status)
{
    return status == 3 ? 2 : status == 2 ? 1 : 0;
}

/* ---- the random world, as JSON the loaders read ------------------------------------ */

static void random_world(tp_rng_t *g, world_t *W)
{
    /* Around the fleet's draw (~70 kW), so that domain caps sometimes bind. */
    W->dom_cap[0] = 60000 + tp_rng_below(g, 60000);
    W->dom_cap[1] = 35000 + tp_rng_below(g, 40000);
    W->dom_cap[2] = 35000 + tp_rng_below(g, 40000);
    for (int i = 0; i < NNODES; i++) {
        rnode_t *n = &W->n[i];
        robs_t *o = &W->o[i];
        n->tee = (int)tp_rng_below(g, 4);
        n->cc = (int)tp_rng_below(g, 2);
        n->gm = (int)tp_rng_below(g, 3);
        n->gpus = (int)tp_rng_range(g, 1, 8);
        n->region = (int)tp_rng_below(g, 3);
        n->domain = 1 + (int)tp_rng_below(g, 2);
        n->idle = 100 + tp_rng_below(g, 1000);
        n->gpu_w = 100 + tp_rng_below(g, 600);
        n->cap = n->idle + 500 + tp_rng_below(g, 6000);
        o->known = tp_rng_chance(g, 0.9);
        o->present = tp_rng_chance(g, 0.8);
        o->status = (int)tp_rng_below(g, 4);
        o->att_tee = tp_rng_chance(g, 0.15)  ? -1
                     : tp_rng_chance(g, 0.8) ? n->tee
                                             : (int)tp_rng_below(g, 4);
        o->att_cc = tp_rng_chance(g, 0.15)  ? -1
                    : tp_rng_chance(g, 0.8) ? n->cc
                                            : (int)tp_rng_below(g, 2);
        /* Times around the edges: expired, just valid, too old for 600/3600, future. */
        static const long long ages[] = {0,    59,    60,    599, 600, 601, 3599, 3600,
                                         3601, 86400, 90000, -30, -60, -61, -500};
        o->iat = NOW - ages[tp_rng_below(g, sizeof ages / sizeof ages[0])];
        static const long long lives[] = {1, 60, 3600, 7200, 100000};
        o->exp = o->iat + lives[tp_rng_below(g, 5)];
        if (tp_rng_chance(g, 0.1))
            o->exp = NOW; /* expires exactly now: expired */
        if (o->exp <= o->iat)
            o->exp = o->iat + 1;
        o->healthy = tp_rng_chance(g, 0.3) ? -1 : (int)tp_rng_range(g, 0, n->gpus);
        o->country = tp_rng_chance(g, 0.3)   ? -1
                     : tp_rng_chance(g, 0.8) ? n->region
                                             : (int)tp_rng_below(g, 3);
        o->cap = tp_rng_chance(g, 0.7) ? NAN : 1 + tp_rng_below(g, 8000);
        o->draw = tp_rng_chance(g, 0.5) ? NAN : tp_rng_below(g, 6000);
    }
    for (int i = 0; i < NWL; i++) {
        rwl_t *w = &W->w[i];
        const rclass_t *c;
        memset(w, 0, sizeof *w);
        w->cls = (int)tp_rng_below(g, NCLASSES);
        c = &classes[w->cls];
        w->gpus = 1 << tp_rng_below(g, 4); /* 1, 2, 4, 8 as in real fleets */
        w->model = tp_rng_chance(g, 0.5) ? 0 : -1;
        if (tp_rng_chance(g, 0.3)) {
            w->ngm = 1 + (int)tp_rng_below(g, 2);
            w->gm[0] = (int)tp_rng_below(g, 3);
            w->gm[1] = (w->gm[0] + 1) % 3;
        }
        if (c->residency || tp_rng_chance(g, 0.2)) {
            w->nres = 1 + (int)tp_rng_below(g, 2);
            w->res[0] = (int)tp_rng_below(g, 3);
            w->res[1] = (w->res[0] + 2) % 3;
        }
        /* Own requirements, only ever tightening the class. */
        if (tp_rng_chance(g, 0.3)) {
            if (c->tee[0]) {
                w->tee[w->ntee++] = 1; /* tdx is in every restricted class */
            } else {
                int k = 1 + (int)tp_rng_below(g, 3), first = (int)tp_rng_below(g, 4);
                for (int t = 0; t < k; t++)
                    w->tee[w->ntee++] = (first + t) % 4;
            }
        }
        w->cc = tp_rng_chance(g, 0.6) ? -1 : c->cc ? 1 : (int)tp_rng_below(g, 2);
        if (tp_rng_chance(g, 0.3)) {
            w->att = 1;
            w->min_rank =
                c->att ? c->min_rank + (int)tp_rng_below(g, 3 - (unsigned)c->min_rank)
                       : 1 + (int)tp_rng_below(g, 2);
            if (w->min_rank > 2)
                w->min_rank = 2;
            static const long maxes[] = {0, 60, 600, 3600};
            w->max_age = maxes[tp_rng_below(g, 4)];
            if (c->att && c->max_age && w->max_age > c->max_age)
                w->max_age = c->max_age;
        }
    }
    W->nrun = (int)tp_rng_below(g, 6);
    for (int i = 0; i < W->nrun; i++) {
        W->run_node[i] = (int)tp_rng_below(g, NNODES);
        W->run_gpus[i] = 1 + (int)tp_rng_below(g, 3);
    }
}

static json_t *class_json(const rclass_t *c)
{
    json_t *o = json_object();
    if (c->tee[0]) {
        json_t *a = json_array();
        for (int i = 0; c->tee[i]; i++)
            json_array_append_new(a, json_string(c->tee[i]));
        json_object_set_new(o, "cpu_tee", a);
    }
    if (c->cc)
        json_object_set_new(o, "gpu_cc", json_true());
    if (c->att)
        json_object_set_new(o, "attestation",
                            json_pack("{s:s, s:I}", "min_status",
                                      c->min_rank == 2 ? "affirming" : "warning",
                                      "max_age_s", (json_int_t)c->max_age));
    if (c->residency)
        json_object_set_new(o, "residency",
                            c->residency == 2 ? json_string("verified") : json_true());
    return o;
}

static char *fleet_text(const world_t *W)
{
    json_t *nodes = json_array(), *cls = json_object(), *doc;
    for (int i = 0; i < NNODES; i++) {
        const rnode_t *n = &W->n[i];
        char id[16];
        snprintf(id, sizeof id, "n%d", i);
        json_array_append_new(
            nodes, json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:f, s:f, s:f}", "id",
                             id, "power_domain", n->domain == 1 ? "rack-a" : "rack-b",
                             "region", regions[n->region], "gpu_model", gpu_models[n->gm],
                             "gpus", n->gpus, "cpu_tee", tees[n->tee], "gpu_cc", n->cc,
                             "cap_w", n->cap, "idle_w", n->idle, "gpu_w", n->gpu_w));
    }
    for (int c = 0; c < NCLASSES; c++)
        json_object_set_new(cls, classes[c].name, class_json(&classes[c]));
    doc =
        json_pack("{s:i, s:{s:{s:[s]}, s:{s:[s]}, s:{s:[s]}}, s:[{s:s, s:f}, {s:s, s:s, "
                  "s:f}, {s:s, "
                  "s:s, s:f}], s:o, s:{s:o}, s:[{s:s, s:s, s:f, s:f}]}",
                  "version", 1, "regions", "r-de", "countries", "DE", "r-fr", "countries",
                  "FR", "r-us", "countries", "US", "power_domains", "id", "site", "cap_w",
                  W->dom_cap[0], "id", "rack-a", "parent", "site", "cap_w", W->dom_cap[1],
                  "id", "rack-b", "parent", "site", "cap_w", W->dom_cap[2], "nodes",
                  nodes, "policy", "classes", cls, "profiles", "model", "llama",
                  "gpu_model", "H100", "tokens_per_s", 1000.0, "watts", 555.0);
    char *s = json_dumps(doc, 0);
    json_decref(doc);
    return s;
}

static char *state_text(const world_t *W)
{
    json_t *nodes = json_object(), *doc;
    for (int i = 0; i < NNODES; i++) {
        const robs_t *o = &W->o[i];
        json_t *e;
        char id[16];
        if (!o->known)
            continue;
        snprintf(id, sizeof id, "n%d", i);
        e = json_object();
        if (o->present) {
            json_t *a =
                json_pack("{s:s, s:I, s:I}", "status", statuses[o->status], "issued_at",
                          (json_int_t)o->iat, "expires_at", (json_int_t)o->exp);
            if (o->att_tee >= 0)
                json_object_set_new(a, "cpu_tee", json_string(tees[o->att_tee]));
            if (o->att_cc >= 0)
                json_object_set_new(a, "gpu_cc", json_boolean(o->att_cc));
            json_object_set_new(e, "attestation", a);
        }
        if (o->healthy >= 0)
            json_object_set_new(e, "gpus_healthy", json_integer(o->healthy));
        if (o->country >= 0)
            json_object_set_new(e, "country", json_string(countries[o->country]));
        if (!isnan(o->cap))
            json_object_set_new(e, "cap_w", json_real(o->cap));
        if (!isnan(o->draw))
            json_object_set_new(e, "draw_w", json_real(o->draw));
        json_object_set_new(nodes, id, e);
    }
    doc = json_pack("{s:I, s:o}", "observed_at", (json_int_t)NOW, "nodes", nodes);
    char *s = json_dumps(doc, 0);
    json_decref(doc);
    return s;
}

static json_t *wl_json(const rwl_t *w, int i)
{
    char id[16];
    snprintf(id, sizeof id, "w%d", i);
    json_t *o = json_pack("{s:s, s:i, s:s}", "id", id, "gpus", w->gpus, "sensitivity",
                          classes[w->cls].name);
    if (w->model == 0)
        json_object_set_new(o, "model", json_string("llama"));
    if (w->ngm) {
        json_t *a = json_array();
        for (int k = 0; k < w->ngm; k++)
            json_array_append_new(a, json_string(gpu_models[w->gm[k]]));
        json_object_set_new(o, "gpu_models", a);
    }
    if (w->nres) {
        json_t *a = json_array();
        for (int k = 0; k < w->nres; k++)
            json_array_append_new(a, json_string(regions[w->res[k]]));
        json_object_set_new(o, "residency", a);
    }
    if (w->ntee) {
        json_t *a = json_array();
        int seen = 0;
        for (int k = 0; k < w->ntee; k++)
            if (!(seen & (1 << w->tee[k]))) {
                json_array_append_new(a, json_string(tees[w->tee[k]]));
                seen |= 1 << w->tee[k];
            }
        json_object_set_new(o, "cpu_tee", a);
    }
    if (w->cc >= 0)
        json_object_set_new(o, "gpu_cc", json_boolean(w->cc));
    if (w->att) {
        json_t *a =
            json_pack("{s:s}", "min_status", w->min_rank == 2 ? "affirming" : "warning");
        if (w->max_age)
            json_object_set_new(a, "max_age_s", json_integer(w->max_age));
        json_object_set_new(o, "attestation", a);
    }
    return o;
}

static char *workloads_text(const rwl_t *ws, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, wl_json(&ws[i], i));
    char *s = json_dumps(a, 0);
    json_decref(a);
    return s;
}

static char *running_text(const world_t *W)
{
    json_t *a = json_array();
    for (int i = 0; i < W->nrun; i++) {
        char id[16], node[16];
        snprintf(id, sizeof id, "r%d", i);
        snprintf(node, sizeof node, "n%d", W->run_node[i]);
        json_array_append_new(a,
                              json_pack("{s:s, s:i, s:s, s:s, s:s}", "id", id, "gpus",
                                        W->run_gpus[i], "sensitivity", "public", "node",
                                        node, "model", (i % 2) ? "llama" : "other"));
    }
    char *s = json_dumps(a, 0);
    json_decref(a);
    return s;
}

/* ---- the reference: FORMATS.md, read literally ---------------------------------------
 */

static int in_list(const char *const *list, const char *s)
{
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], s))
            return 1;
    return 0;
}

static double ref_watts(const world_t *W, int node, int model)
{
    /* The only profile: model "llama" on "H100" at 555 W per GPU. */
    return model == 0 && W->n[node].gm == 0 ? 555.0 : W->n[node].gpu_w;
}

static unsigned reference(const world_t *W, int ni, const rwl_t *w)
{
    const rnode_t *n = &W->n[ni];
    const robs_t *o = &W->o[ni];
    const rclass_t *c = &classes[w->cls];
    unsigned fail = 0;
#define FAIL(p) (fail |= 1u << (p))

    /* Effective requirements: the class, tightened by the workload. */
    const char *tee_list[5] = {NULL};
    int ntl = 0;
    if (w->ntee)
        for (int k = 0; k < w->ntee; k++)
            tee_list[ntl++] = tees[w->tee[k]];
    else
        for (int k = 0; c->tee[k]; k++)
            tee_list[ntl++] = c->tee[k];
    int need_cc = c->cc || w->cc == 1;
    int need_att = c->att || w->att;
    int min_rank = w->att ? w->min_rank : c->min_rank;
    long max_age = w->att && w->max_age ? w->max_age : c->att ? c->max_age : 0;
    int residency = c->residency ? c->residency : w->nres ? 1 : 0;

    int has = o->known && o->present;
    int usable = has && NOW < o->exp && o->iat <= NOW + 60 &&
                 !(need_att && max_age && NOW - o->iat > max_age);

    if (w->ngm) {
        int ok = 0;
        for (int k = 0; k < w->ngm; k++)
            ok |= w->gm[k] == n->gm;
        if (!ok)
            FAIL(TP_PRED_GPU_MODEL);
    }
    int healthy = o->known && o->healthy >= 0 ? o->healthy : n->gpus;
    int unhealthy = w->gpus <= n->gpus && healthy < w->gpus;
    if (unhealthy)
        FAIL(TP_PRED_NODE_UNHEALTHY);
    /* Only a usable warning or affirming result attests a TEE or CC mode; the
     * fleet file's n->tee and n->cc are claims and play no part. */
    int attests = usable && rank_of(o->status) > 0;
    if (ntl) {
        const char *tee = attests && o->att_tee >= 0 ? tees[o->att_tee] : NULL;
        if (!tee || !in_list(tee_list, tee))
            FAIL(TP_PRED_CPU_TEE);
    }
    if (need_cc && !(attests && o->att_cc == 1))
        FAIL(TP_PRED_GPU_CC);
    if (need_att) {
        if (!has)
            FAIL(TP_PRED_ATTESTATION_MISSING);
        else if (!usable)
            FAIL(TP_PRED_ATTESTATION_STALE);
        else if (rank_of(o->status) < min_rank)
            FAIL(TP_PRED_ATTESTATION_STATUS);
    }
    if (residency) {
        int ok = 0;
        for (int k = 0; k < w->nres; k++)
            ok |= w->res[k] == n->region;
        if (!ok)
            FAIL(TP_PRED_RESIDENCY);
        int country = o->known ? o->country : -1;
        if (country >= 0 && country != n->region) /* region k has country k only */
            FAIL(TP_PRED_RESIDENCY_MISMATCH);
        if (residency == 2 && country < 0)
            FAIL(TP_PRED_RESIDENCY_UNVERIFIED);
    }

    /* Capacity against the running work, from scratch. */
    int used = 0;
    double draw[NNODES], dom[3] = {0, 0, 0};
    for (int k = 0; k < NNODES; k++)
        draw[k] = W->n[k].idle;
    for (int r = 0; r < W->nrun; r++) {
        if (W->run_node[r] == ni)
            used += W->run_gpus[r];
        draw[W->run_node[r]] +=
            W->run_gpus[r] * ref_watts(W, W->run_node[r], r % 2 ? 0 : -1);
    }
    for (int k = 0; k < NNODES; k++) {
        if (W->o[k].known && !isnan(W->o[k].draw) && W->o[k].draw > draw[k])
            draw[k] = W->o[k].draw;
        dom[0] += draw[k];
        dom[W->n[k].domain] += draw[k];
    }
    if (!unhealthy && healthy - used < w->gpus)
        FAIL(TP_PRED_GPU_CAPACITY);
    double add = w->gpus * ref_watts(W, ni, w->model);
    double ncap = o->known && !isnan(o->cap) && o->cap < n->cap ? o->cap : n->cap;
    if (draw[ni] + add > ncap * (1 + 1e-9))
        FAIL(TP_PRED_POWER_NODE);
    if (dom[0] + add > W->dom_cap[0] * (1 + 1e-9) ||
        dom[n->domain] + add > W->dom_cap[n->domain] * (1 + 1e-9))
        FAIL(TP_PRED_POWER_DOMAIN);
#undef FAIL
    return fail;
}

/* ---- loading a world
 * ------------------------------------------------------------------- */

typedef struct {
    tp_fleet_t *f;
    tp_state_t *s;
    tp_workloads_t *ws, *run;
    tp_load_t *load;
} loaded_t;

static int load_world(const world_t *W, loaded_t *L)
{
    tp_error_t err;
    char *ft = fleet_text(W), *st = state_text(W), *wt = workloads_text(W->w, NWL),
         *rt = running_text(W);
    int rc = tp_fleet_load_buffer("fleet", ft, strlen(ft), &L->f, &err);
    if (rc == 0)
        rc = tp_state_load_buffer("state", st, strlen(st), L->f, &L->s, &err);
    if (rc == 0)
        rc = tp_workloads_load_buffer("workloads", wt, strlen(wt), L->f, TP_WL_PENDING,
                                      &L->ws, &err);
    if (rc == 0)
        rc = tp_workloads_load_buffer("running", rt, strlen(rt), L->f, TP_WL_RUNNING,
                                      &L->run, &err);
    if (rc == 0 && !(L->load = tp_load_new(L->f, L->s, L->run)))
        rc = TP_ENOMEM;
    if (rc < 0)
        fprintf(stderr, "  load: %s\n", err.text);
    free(ft);
    free(st);
    free(wt);
    free(rt);
    return rc;
}

static void unload(loaded_t *L)
{
    tp_load_free(L->load);
    tp_workloads_free(L->ws);
    tp_workloads_free(L->run);
    tp_state_free(L->s);
    tp_fleet_free(L->f);
    memset(L, 0, sizeof *L);
}

static void print_set(const char *label, unsigned s)
{
    fprintf(stderr, "    %s:", label);
    for (int p = 0; p < TP_PRED_COUNT; p++)
        if (s & (1u << p))
            fprintf(stderr, " %s", tp_pred_name((tp_pred_t)p));
    fprintf(stderr, "\n");
}

TP_TEST(policy_agrees_with_reference)
{
    tp_rng_t g;
    long triples = 0, eligible = 0, mismatches = 0, hist[TP_PRED_COUNT] = {0};
    tp_rng_init(&g, 20261123);
    for (int round = 0; round < ROUNDS * tp_test_soak(); round++) {
        static world_t W;
        loaded_t L = {0};
        random_world(&g, &W);
        TP_ASSERT(load_world(&W, &L) == 0);
        for (int wi = 0; wi < NWL; wi++)
            for (int ni = 0; ni < NNODES; ni++) {
                unsigned got = tp_policy_check(L.f, L.s, L.load, ni, &L.ws->w[wi], NOW);
                unsigned want = reference(&W, ni, &W.w[wi]);
                triples++;
                eligible += got == 0;
                for (int p = 0; p < TP_PRED_COUNT; p++)
                    hist[p] += (got >> p) & 1;
                if (got != want && mismatches++ < 5) {
                    tp_test_fail(__FILE__, __LINE__, "round %d node n%d workload w%d",
                                 round, ni, wi);
                    print_set("policy   ", got);
                    print_set("reference", want);
                }
            }
        unload(&L);
    }
    TP_CHECK_EQ_INT(mismatches, 0);
    fprintf(stderr, "  %ld triples, %ld eligible\n", triples, eligible);
    /* Every per-node predicate is exercised (gang_topology and tenant_limit
     * are decided by the solver over the whole fleet, not per node). */
    for (int p = 0; p <= TP_PRED_POWER_DOMAIN; p++) {
        fprintf(stderr, "  %s %ld\n", tp_pred_name((tp_pred_t)p), hist[p]);
        TP_CHECK(hist[p] > 0);
    }
    /* The random worlds must exercise both outcomes, or the test proves little. */
    TP_CHECK(eligible > triples / 100);
    TP_CHECK(eligible < triples / 2);
}

/* Tightens workload w by one requirement, chosen by k; returns 0 if k does not
 * apply to w (e.g. gpu_cc already required). */
static int tighten(rwl_t *w, int k, tp_rng_t *g)
{
    const rclass_t *c = &classes[w->cls];
    switch (k) {
    case 0: /* require GPU CC */
        if (c->cc || w->cc == 1)
            return 0;
        w->cc = 1;
        return 1;
    case 1: /* narrow the TEE list: keep one of its entries, or demand tdx */
        if (w->ntee == 1)
            return 0;
        if (w->ntee == 0)
            w->tee[0] = 1; /* tdx: allowed by every class that restricts TEEs */
        w->ntee = 1;
        return 1;
    case 2: /* demand attestation, or a stronger / fresher one */
        if (!w->att && !c->att) {
            w->att = 1;
            w->min_rank = 1;
            w->max_age = 0;
            return 1;
        }
        if (!w->att) {
            w->att = 1;
            w->min_rank = c->min_rank;
            w->max_age = c->max_age;
        }
        if (w->min_rank < 2) {
            w->min_rank = 2;
            return 1;
        }
        if (w->max_age == 0 || w->max_age > 60) {
            w->max_age = 60;
            return 1;
        }
        return 0;
    case 3: /* add residency, or shrink it to one region */
        if (w->nres == 1)
            return 0;
        if (w->nres == 0)
            w->res[0] = (int)tp_rng_below(g, 3);
        w->nres = 1;
        return 1;
    case 4: /* restrict GPU models */
        if (w->ngm == 1)
            return 0;
        if (w->ngm == 0)
            w->gm[0] = (int)tp_rng_below(g, 3);
        w->ngm = 1;
        return 1;
    default: /* more GPUs */
        if (w->gpus >= 9)
            return 0;
        w->gpus++;
        return 1;
    }
}

TP_TEST(policy_tightening_never_widens)
{
    tp_rng_t g;
    long checked = 0, narrowed = 0;
    tp_rng_init(&g, 777);
    for (int round = 0; round < ROUNDS / 2 * tp_test_soak(); round++) {
        static world_t W;
        static rwl_t tight[NWL];
        loaded_t L = {0};
        tp_workloads_t *tw = NULL;
        tp_error_t err;
        random_world(&g, &W);
        TP_ASSERT(load_world(&W, &L) == 0);
        for (int i = 0; i < NWL; i++) {
            tight[i] = W.w[i];
            int k = (int)tp_rng_below(&g, 6);
            for (int tries = 0; tries < 6 && !tighten(&tight[i], (k + tries) % 6, &g);
                 tries++)
                ;
        }
        char *text = workloads_text(tight, NWL);
        int rc = tp_workloads_load_buffer("tight", text, strlen(text), L.f, TP_WL_PENDING,
                                          &tw, &err);
        free(text);
        if (rc < 0) {
            tp_test_fail(__FILE__, __LINE__, "tightened workloads rejected: %s",
                         err.text);
            unload(&L);
            return;
        }
        for (int wi = 0; wi < NWL; wi++)
            for (int ni = 0; ni < NNODES; ni++) {
                unsigned loose = tp_policy_check(L.f, L.s, L.load, ni, &L.ws->w[wi], NOW);
                unsigned strict = tp_policy_check(L.f, L.s, L.load, ni, &tw->w[wi], NOW);
                checked++;
                narrowed += loose == 0 && strict != 0;
                if (strict == 0 && loose != 0) {
                    tp_test_fail(__FILE__, __LINE__,
                                 "tightening w%d made node n%d eligible (round %d)", wi,
                                 ni, round);
                    print_set("before", loose);
                    char *a = json_dumps(wl_json(&W.w[wi], wi), 0),
                         *b = json_dumps(wl_json(&tight[wi], wi), 0);
                    fprintf(stderr, "    %s\n    %s\n", a, b);
                    free(a);
                    free(b);
                }
            }
        tp_workloads_free(tw);
        unload(&L);
    }
    TP_CHECK(checked > 0);
    TP_CHECK(narrowed > 0); /* some tightening really did exclude nodes */
}

TP_TEST(policy_unusable_attestation_never_eligible)
{
    tp_rng_t g;
    long cases = 0;
    tp_rng_init(&g, 4242);
    for (int round = 0; round < ROUNDS * tp_test_soak(); round++) {
        static world_t W;
        loaded_t L = {0};
        random_world(&g, &W);
        TP_ASSERT(load_world(&W, &L) == 0);
        for (int ni = 0; ni < NNODES; ni++) {
            const robs_t *o = &W.o[ni];
            int missing = !o->known || !o->present;
            int dead = !missing && (NOW >= o->exp || o->iat > NOW + 60);
            if (!missing && !dead)
                continue;
            for (int wi = 0; wi < NWL; wi++) {
                const tp_workload_t *w = &L.ws->w[wi];
                if (!w->req.attestation)
                    continue;
                cases++;
                unsigned fail = tp_policy_check(L.f, L.s, L.load, ni, w, NOW);
                TP_CHECK(fail & TP_PREDS_ATTESTATION);
                /* Even with no load at all (an empty fleet), never eligible. */
                TP_CHECK(tp_policy_static(L.f, L.s, ni, w, NOW) & TP_PREDS_ATTESTATION);
            }
        }
        unload(&L);
    }
    TP_CHECK(cases > 1000);
}

/* ---- degradation never widens eligibility ------------------------------------------
 * The facts below are changed in the loaded state, the way a collector cycle would
 * change them: a result expires, is replaced by a contraindicated or `none` one
 * (which may carry any TEE / CC claim: a verifier that copies the node's claims),
 * or vanishes. None of these may add an eligible (node, workload) pair. */

typedef char elig_t[NNODES][NWL];

static void eligible_set(const loaded_t *L, int64_t now, elig_t e)
{
    for (int ni = 0; ni < NNODES; ni++)
        for (int wi = 0; wi < NWL; wi++)
            e[ni][wi] = tp_policy_check(L->f, L->s, L->load, ni, &L->ws->w[wi], now) == 0;
}

static bool needs_security(const tp_workload_t *w)
{
    return w->req.tee_mask || w->req.gpu_cc || w->req.attestation;
}

/* Counts the pairs of `after` that `before` lacks, reporting the first few. */
static long added_pairs(const char *what, int round, const elig_t before,
                        const elig_t after, const loaded_t *L)
{
    long added = 0;
    for (int ni = 0; ni < NNODES; ni++)
        for (int wi = 0; wi < NWL; wi++)
            if (after[ni][wi] && !before[ni][wi] && added++ < 3) {
                const tp_attestation_t *a = &L->s->nodes[ni].att;
                tp_test_fail(__FILE__, __LINE__,
                             "%s made n%d eligible for w%d (class %s, round %d); now: "
                             "present %d status %s tee %d cc %d iat %lld exp %lld",
                             what, ni, wi, L->f->classes[L->ws->w[wi].cls].name, round,
                             a->present, tp_att_status_name(a->status), (int)a->cpu_tee,
                             a->gpu_cc, (long long)a->issued_at,
                             (long long)a->expires_at);
            }
    return added;
}

/* A result whose status attests nothing, with whatever claims and times. */
static void contraindicate(tp_node_obs_t *o, tp_rng_t *g)
{
    if (!o->att.present || tp_rng_chance(g, 0.5)) {
        o->att.issued_at = NOW - (int64_t)tp_rng_below(g, 100);
        o->att.expires_at = NOW + 1 + (int64_t)tp_rng_below(g, 7200);
    }
    o->known = o->att.present = true;
    o->att.status = tp_rng_chance(g, 0.7) ? TP_ATT_CONTRAINDICATED : TP_ATT_NONE;
    o->att.cpu_tee = tp_rng_chance(g, 0.7) ? TP_TEE_TDX : (tp_tee_t)tp_rng_below(g, 4);
    o->att.gpu_cc = tp_rng_chance(g, 0.8) ? 1 : 0;
}

static void expire(tp_node_obs_t *o, tp_rng_t *g)
{
    static const int64_t ago[] = {0, 1, 59, 3600};
    o->att.expires_at = NOW - ago[tp_rng_below(g, 4)];
    if (o->att.issued_at >= o->att.expires_at)
        o->att.issued_at = o->att.expires_at - 1;
}

TP_TEST(policy_expiry_never_adds_eligible)
{
    tp_rng_t g;
    long expiries = 0, clocks = 0, pairs = 0, removed = 0, added = 0;
    tp_rng_init(&g, 9001);
    for (int round = 0; round < ROUNDS * tp_test_soak(); round++) {
        static world_t W;
        static elig_t before, after;
        loaded_t L = {0};
        random_world(&g, &W);
        TP_ASSERT(load_world(&W, &L) == 0);
        eligible_set(&L, NOW, before);
        /* Each result in turn expires: as the verifier's exp passing. */
        for (int ni = 0; ni < NNODES; ni++) {
            tp_node_obs_t *o = &L.s->nodes[ni], saved = *o;
            if (!o->known || !o->att.present)
                continue;
            expire(o, &g);
            eligible_set(&L, NOW, after);
            added += added_pairs("expiry", round, before, after, &L);
            for (int wi = 0; wi < NWL; wi++)
                removed += before[ni][wi] && !after[ni][wi];
            *o = saved;
            expiries++;
            pairs += NNODES * NWL;
        }
        /* The clock moves on: every result not dated in the future only ages. */
        static const int64_t steps[] = {1, 60, 601, 3601, 100000};
        for (int k = 0; k < 5; k++) {
            eligible_set(&L, NOW + steps[k], after);
            for (int ni = 0; ni < NNODES; ni++) {
                const tp_attestation_t *a = &L.s->nodes[ni].att;
                if (L.s->nodes[ni].known && a->present && a->issued_at > NOW + 60)
                    memset(after[ni], 0, NWL); /* from the future: may become usable */
            }
            added += added_pairs("the clock", round, before, after, &L);
            clocks++;
            pairs += NNODES * NWL;
        }
        unload(&L);
    }
    fprintf(stderr,
            "  %d random worlds: %ld single expiries, %ld clock advances, %ld pairs "
            "compared, %ld pairs lost eligibility\n",
            ROUNDS * tp_test_soak(), expiries, clocks, pairs, removed);
    TP_CHECK_EQ_INT(added, 0);
    TP_CHECK(removed > 100); /* expiry really does exclude work */
}

TP_TEST(policy_contraindicated_never_adds_eligible)
{
    tp_rng_t g;
    long instances = 0, removed = 0, added = 0, secure_fail = 0;
    tp_rng_init(&g, 9002);
    for (int round = 0; round < ROUNDS * tp_test_soak(); round++) {
        static world_t W;
        static elig_t before, bare, after;
        loaded_t L = {0};
        random_world(&g, &W);
        TP_ASSERT(load_world(&W, &L) == 0);
        eligible_set(&L, NOW, before);
        for (int ni = 0; ni < NNODES; ni++) {
            tp_node_obs_t *o = &L.s->nodes[ni], saved = *o;
            /* No result at all, then a contraindicated / none one in its place. */
            o->att.present = false;
            eligible_set(&L, NOW, bare);
            contraindicate(o, &g);
            eligible_set(&L, NOW, after);
            added += added_pairs("a contraindicated result", round, before, after, &L);
            added +=
                added_pairs("a contraindicated result (vs none)", round, bare, after, &L);
            for (int wi = 0; wi < NWL; wi++) {
                removed += before[ni][wi] && !after[ni][wi];
                if (needs_security(&L.ws->w[wi])) {
                    secure_fail++;
                    TP_CHECK(!after[ni][wi]);
                }
            }
            *o = saved;
            instances++;
        }
        unload(&L);
    }
    fprintf(stderr, "  %ld contraindicated/none results, %ld pairs lost eligibility\n",
            instances, removed);
    TP_CHECK_EQ_INT(added, 0);
    TP_CHECK(removed > 100);
    TP_CHECK(secure_fail > 1000);
}

/* One placement of workload wi on node ni, checked by the validator alone. */
static bool validator_allows(const loaded_t *L, int ni, int wi)
{
    tp_workloads_t one = {&L->ws->w[wi], 1, NULL};
    tp_result_t *r = tp_result_new();
    tp_result_add_placement(r, 0, ni, L->ws->w[wi].gpus);
    int nv = tp_validate(L->f, L->s, &one, L->run, r, NOW, NULL);
    tp_result_free(r);
    return nv == 0;
}

/* Random walks of degradation over random fleets and states: after every step
 * (an expiry, a flip to contraindicated or none, a result vanishing) the set of
 * eligible pairs is a subset of the one before, for the policy and, on the changed
 * node, for the validator too. */
#define WALK_STEPS 24
TP_TEST(policy_degrading_state_never_grows_eligible_set)
{
    tp_rng_t g;
    long steps = 0, pairs = 0, shrunk = 0, added = 0, vchecked = 0, vadded = 0;
    tp_rng_init(&g, 9003);
    for (int round = 0; round < ROUNDS * tp_test_soak(); round++) {
        static world_t W;
        static elig_t before, after;
        static char vbefore[NWL];
        loaded_t L = {0};
        random_world(&g, &W);
        TP_ASSERT(load_world(&W, &L) == 0);
        eligible_set(&L, NOW, before);
        for (int k = 0; k < WALK_STEPS; k++) {
            int ni = (int)tp_rng_below(&g, NNODES);
            tp_node_obs_t *o = &L.s->nodes[ni];
            for (int wi = 0; wi < NWL; wi++)
                vbefore[wi] = validator_allows(&L, ni, wi);
            const char *what;
            switch (tp_rng_below(&g, 3)) {
            case 0:
                what = "expiry";
                if (o->att.present)
                    expire(o, &g);
                break;
            case 1:
                what = "a flip to contraindicated";
                contraindicate(o, &g);
                break;
            default:
                what = "a vanishing result";
                o->att.present = false;
                break;
            }
            eligible_set(&L, NOW, after);
            long a = added_pairs(what, round, before, after, &L);
            added += a;
            for (int n2 = 0; n2 < NNODES; n2++)
                for (int wi = 0; wi < NWL; wi++)
                    shrunk += before[n2][wi] && !after[n2][wi];
            for (int wi = 0; wi < NWL; wi++) {
                bool v = validator_allows(&L, ni, wi);
                vchecked++;
                if (v && !vbefore[wi] && vadded++ < 3)
                    tp_test_fail(__FILE__, __LINE__,
                                 "validator: %s made n%d valid for w%d (round %d)", what,
                                 ni, wi, round);
            }
            memcpy(before, after, sizeof before);
            steps++;
            pairs += NNODES * NWL;
        }
        unload(&L);
    }
    fprintf(stderr,
            "  %d random worlds, %ld degradation steps, %ld pairs compared, %ld lost "
            "eligibility; %ld validator verdicts\n",
            ROUNDS * tp_test_soak(), steps, pairs, shrunk, vchecked);
    TP_CHECK_EQ_INT(added, 0);
    TP_CHECK_EQ_INT(vadded, 0);
    TP_CHECK(shrunk > 100);
}
