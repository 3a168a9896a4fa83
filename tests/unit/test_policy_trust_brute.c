/*
 * tests/unit/test_policy_trust_brute.c — an independent, exhaustive check of
 * the trust predicates: every combination of an observed attestation (known or
 * not, present or not, each status, each attested TEE and CC value, fresh,
 * expired, future-dated, old, at the skew edge) against every workload a class
 * and a workload-level tightening can express, with the fleet's declared
 * cpu_tee/gpu_cc drawn at random. The oracle is written from docs/formats.md
 * alone (not from test_policy_props.c's reference): a cpu_tee, gpu_cc or
 * attestation requirement is met only by a usable result that attests. Both the
 * policy and the independent validator must agree with it, pair by pair; a
 * workload that loosens its class must not load at all.
 */
#include "tests/unit/tp_test.h"

#include "model/model.h"
#include "policy/policy.h"
#include "policy/validator.h"
#include "util/rng.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1795000000LL
#define SKEW 60

/* Attestation facets of one node. */
typedef struct {
    int known, present,
        status; /* status: 0 none, 1 contraindicated, 2 warning, 3 affirming */
    int tee;    /* -1 absent, else index into tee_names */
    int cc;     /* -1 absent, 0, 1 */
    long long iat, exp;
} facet_t;

static const char *const tee_names[] = {"none", "tdx", "sev-snp", "cca"};
static const char *const status_names[] = {"none", "contraindicated", "warning",
                                           "affirming"};

/* A requirement as the oracle sees it. */
typedef struct {
    unsigned tees; /* bit per tee_names index; 0: no TEE requirement */
    int cc;        /* 1: GPU CC required */
    int att;       /* 1: attestation required */
    int min;       /* 2 warning, 3 affirming (status index) */
    long long max_age;
} need_t;

/* Classes, as plain data. */
static const struct {
    const char *name;
    need_t need;
} klass[] = {
    {"open", {0, 0, 0, 0, 0}},        {"tee", {(1u << 1) | (1u << 2), 0, 0, 0, 0}},
    {"cc", {0, 1, 0, 0, 0}},          {"attw", {0, 0, 1, 2, 0}},
    {"atta", {0, 0, 1, 3, 600}},      {"all", {1u << 1, 1, 1, 3, 3600}},
    {"notee", {1u << 0, 0, 0, 0, 0}},
};
#define NK (int)(sizeof klass / sizeof klass[0])

static int enumerate_facets(facet_t *out)
{
    static const long long iats[] = {T0 - 100,  T0 - 3000,     T0 - 100,
                                     T0 + SKEW, T0 + SKEW + 1, T0 - 5000};
    static const long long exps[] = {T0 + 3000, T0 + 3000, T0,
                                     T0 + 4000, T0 + 4000, T0 + 1000};
    int n = 0;
    out[n++] = (facet_t){0, 0, 0, -1, -1, 0, 0};
    out[n++] = (facet_t){1, 0, 0, -1, -1, 0, 0};
    for (int st = 0; st < 4; st++)
        for (int tee = -1; tee < 4; tee++)
            for (int cc = -1; cc < 2; cc++)
                for (size_t t = 0; t < sizeof iats / sizeof iats[0]; t++)
                    out[n++] = (facet_t){1, 1, st, tee, cc, iats[t], exps[t]};
    return n;
}

/* A usable result (present, unexpired, not from the future, within max_age
 * where the work needs attestation) that attests (warning or affirming). */
static bool usable(const facet_t *a, const need_t *q)
{
    return a->known && a->present && T0 < a->exp && a->iat <= T0 + SKEW &&
           (!q->att || !q->max_age || T0 - a->iat <= q->max_age);
}

/* docs/formats.md, "eligibility", read literally. */
static bool oracle(const facet_t *a, const need_t *q)
{
    bool attests = usable(a, q) && a->status >= 2;
    if (q->tees && !(attests && a->tee >= 0 && (q->tees >> a->tee) & 1))
        return false;
    if (q->cc && !(attests && a->cc == 1))
        return false;
    if (q->att && !(usable(a, q) && a->status >= q->min))
        return false;
    return true;
}

static char *fleet_json(const facet_t *fs, int n, tp_rng_t *g)
{
    json_t *nodes = json_array(), *cls = json_object(), *doc;
    char *s;
    for (int i = 0; i < n; i++) {
        char id[16];
        (void)fs;
        snprintf(id, sizeof id, "x%d", i);
        /* The declared claims are random: they must never matter. */
        json_array_append_new(
            nodes, json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:b,s:i,s:i,s:i}", "id", id,
                             "power_domain", "p", "region", "de", "gpu_model", "H100",
                             "gpus", 8, "cpu_tee", tee_names[tp_rng_below(g, 4)],
                             "gpu_cc", (int)tp_rng_below(g, 2), "cap_w", 100000, "idle_w",
                             10, "gpu_w", 10));
    }
    for (int k = 0; k < NK; k++) {
        const need_t *q = &klass[k].need;
        json_t *c = json_object();
        if (q->tees) {
            json_t *l = json_array();
            for (int t = 0; t < 4; t++)
                if ((q->tees >> t) & 1)
                    json_array_append_new(l, json_string(tee_names[t]));
            json_object_set_new(c, "cpu_tee", l);
        }
        if (q->cc)
            json_object_set_new(c, "gpu_cc", json_true());
        if (q->att) {
            json_t *a = json_pack("{s:s}", "min_status", status_names[q->min]);
            if (q->max_age)
                json_object_set_new(a, "max_age_s", json_integer(q->max_age));
            json_object_set_new(c, "attestation", a);
        }
        json_object_set_new(cls, klass[k].name, c);
    }
    doc = json_pack("{s:i,s:{s:{s:[s]}},s:[{s:s,s:i}],s:o,s:{s:o}}", "version", 1,
                    "regions", "de", "countries", "DE", "power_domains", "id", "p",
                    "cap_w", 100000000, "nodes", nodes, "policy", "classes", cls);
    s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return s;
}

static char *state_json(const facet_t *fs, int n)
{
    json_t *nodes = json_object(), *doc;
    char *s;
    for (int i = 0; i < n; i++) {
        char id[16];
        json_t *e;
        if (!fs[i].known)
            continue;
        snprintf(id, sizeof id, "x%d", i);
        e = json_pack("{s:i,s:s}", "gpus_healthy", 8, "country", "DE");
        if (fs[i].present) {
            json_t *a = json_pack("{s:s,s:I,s:I}", "status", status_names[fs[i].status],
                                  "issued_at", (json_int_t)fs[i].iat, "expires_at",
                                  (json_int_t)fs[i].exp);
            if (fs[i].tee >= 0)
                json_object_set_new(a, "cpu_tee", json_string(tee_names[fs[i].tee]));
            if (fs[i].cc >= 0)
                json_object_set_new(a, "gpu_cc", json_boolean(fs[i].cc));
            json_object_set_new(e, "attestation", a);
        }
        json_object_set_new(nodes, id, e);
    }
    doc = json_pack("{s:I,s:o}", "observed_at", (json_int_t)T0, "nodes", nodes);
    s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return s;
}

/* A workload-level variant: tees (0: not given), cc (-1 not given), att (0 not
 * given; else min and max_age, 0: not given). */
typedef struct {
    unsigned tees;
    int cc, att, min;
    long long max_age;
} wvar_t;

/* Whether the variant only tightens the class (docs/formats.md), and the
 * requirement that results. */
static bool tightens(const need_t *c, const wvar_t *v, need_t *eff)
{
    *eff = *c;
    if (v->tees) {
        if (c->tees && (v->tees & ~c->tees))
            return false;
        eff->tees = v->tees;
    }
    if (v->cc >= 0) {
        if (c->cc && !v->cc)
            return false;
        eff->cc = c->cc || v->cc;
    }
    if (v->att) {
        if (c->att && v->min < c->min)
            return false;
        if (c->att && c->max_age && v->max_age > c->max_age)
            return false;
        eff->att = 1;
        eff->min = v->min;
        eff->max_age = v->max_age ? v->max_age : (c->att ? c->max_age : 0);
    }
    return true;
}

static char *wl_text(int k, const wvar_t *v)
{
    json_t *w = json_pack("{s:s,s:i,s:s}", "id", "w", "gpus", 1, "sensitivity",
                          klass[k].name),
           *arr;
    char *s;
    if (v->tees) {
        json_t *l = json_array();
        for (int t = 0; t < 4; t++)
            if ((v->tees >> t) & 1)
                json_array_append_new(l, json_string(tee_names[t]));
        json_object_set_new(w, "cpu_tee", l);
    }
    if (v->cc >= 0)
        json_object_set_new(w, "gpu_cc", json_boolean(v->cc));
    if (v->att) {
        json_t *a = json_pack("{s:s}", "min_status", status_names[v->min]);
        if (v->max_age)
            json_object_set_new(a, "max_age_s", json_integer(v->max_age));
        json_object_set_new(w, "attestation", a);
    }
    arr = json_pack("[o]", w);
    s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return s;
}

TP_TEST(policy_trust_exhaustive_against_independent_oracle)
{
    static facet_t fs[512];
    static const long long ages[] = {0, 600, 3000, 4000, 100000};
    int nf = enumerate_facets(fs);
    tp_rng_t g;
    tp_fleet_t *f = NULL;
    tp_state_t *s = NULL;
    tp_workloads_t *none = NULL;
    tp_error_t err = {0};
    long pairs = 0, wrong = 0, vwrong = 0, guarded = 0, loaded = 0, refused = 0;
    char *ft, *st;
    tp_rng_init(&g, 0x7a77);
    ft = fleet_json(fs, nf, &g);
    st = state_json(fs, nf);
    TP_ASSERT(tp_fleet_load_buffer("fleet", ft, strlen(ft), &f, &err) == 0);
    TP_ASSERT(tp_state_load_buffer("state", st, strlen(st), f, &s, &err) == 0);
    TP_ASSERT(
        tp_workloads_load_buffer("running", "[]", 2, f, TP_WL_RUNNING, &none, &err) == 0);
    for (int k = 0; k < NK; k++)
        for (unsigned tees = 0; tees < 16; tees++)
            for (int cc = -1; cc < 2; cc++)
                for (int att = 0; att < 3; att++)
                    for (size_t ai = 0; ai < sizeof ages / sizeof ages[0]; ai++) {
                        wvar_t v = {tees, cc, att > 0, att == 2 ? 3 : 2, ages[ai]};
                        need_t eff;
                        tp_workloads_t *ws = NULL;
                        char *wt;
                        bool ok;
                        if (!att && ai)
                            continue;
                        ok = tightens(&klass[k].need, &v, &eff);
                        wt = wl_text(k, &v);
                        int rc = tp_workloads_load_buffer("w", wt, strlen(wt), f,
                                                          TP_WL_PENDING, &ws, &err);
                        free(wt);
                        if (ok != (rc == 0)) {
                            tp_test_fail(
                                __FILE__, __LINE__,
                                "class %s, tees %#x cc %d att %d/%lld: loader %s, "
                                "docs say %s (%s)",
                                klass[k].name, tees, cc, att, ages[ai],
                                rc == 0 ? "accepts" : "refuses",
                                ok ? "tightening" : "loosening", rc ? err.text : "");
                            tp_workloads_free(ws);
                            continue;
                        }
                        if (rc < 0) {
                            refused++;
                            continue;
                        }
                        loaded++;
                        for (int n = 0; n < nf; n++) {
                            bool want = oracle(&fs[n], &eff);
                            bool got = tp_policy_check(f, s, NULL, n, &ws->w[0], T0) == 0;
                            tp_workloads_t one = {&ws->w[0], 1, NULL};
                            tp_result_t *r = tp_result_new();
                            bool vok;
                            tp_result_add_placement(r, 0, n, 1);
                            vok = tp_validate(f, s, &one, none, r, T0, NULL) == 0;
                            tp_result_free(r);
                            pairs++;
                            if ((eff.tees || eff.cc || eff.att) &&
                                !(usable(&fs[n], &eff) && fs[n].status >= 2))
                                guarded += got || vok; /* must stay 0 */
                            if (got != want && wrong++ < 5)
                                tp_test_fail(
                                    __FILE__, __LINE__,
                                    "policy: class %s tees %#x cc %d att %d/%lld, "
                                    "node %d (status %s tee %d cc %d iat %+lld exp "
                                    "%+lld): %d, oracle %d",
                                    klass[k].name, tees, cc, att, ages[ai], n,
                                    status_names[fs[n].status], fs[n].tee, fs[n].cc,
                                    fs[n].iat - T0, fs[n].exp - T0, got, want);
                            if (vok != want && vwrong++ < 5)
                                tp_test_fail(__FILE__, __LINE__,
                                             "validator: class %s tees %#x node %d: %d, "
                                             "oracle %d",
                                             klass[k].name, tees, n, vok, want);
                        }
                        tp_workloads_free(ws);
                    }
    fprintf(stderr,
            "  %d attestation facets, %ld workloads loaded, %ld loosenings refused, %ld "
            "pairs\n",
            nf, loaded, refused, pairs);
    TP_CHECK_EQ_INT(wrong, 0);
    TP_CHECK_EQ_INT(vwrong, 0);
    TP_CHECK_EQ_INT(guarded, 0);
    TP_CHECK(loaded > 100 && refused > 20);
    tp_workloads_free(none);
    tp_state_free(s);
    tp_fleet_free(f);
    free(ft);
    free(st);
}
