/*
 * scheduler/kpi.c — KPI spans from audit rows, and the KPI document
 * (scheduler/kpi.h; definitions in docs/observability.md).
 */
#include "scheduler/kpi.h"
#include "util/strmap.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *sens;
    int gpus;
    bool tee;
    int64_t start, end; /* end 0: still running */
} span_t;

typedef struct {
    char *workload;
    int open;   /* span index, -1 when not running */
    char *node; /* of the open span (a move's preemption row names the old one) */
} slot_t;

struct tp_kpi_hist {
    pthread_mutex_t mu;
    span_t *spans;
    int nspans, capspans;
    slot_t *slots;
    int nslots, capslots;
    tp_strmap_t *ix;
    int64_t seen;
    int adds; /* since the last prune */
};

/* Spans that ended this long before the newest row matter to no window. */
#define PRUNE_AFTER_S (8 * 86400)
#define PRUNE_EVERY 4096

tp_kpi_hist_t *tp_kpi_hist_new(void)
{
    tp_kpi_hist_t *h = calloc(1, sizeof *h);
    if (!h || !(h->ix = tp_strmap_new(1024))) {
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    return h;
}

void tp_kpi_hist_free(tp_kpi_hist_t *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->nspans; i++)
        free(h->spans[i].sens);
    for (int i = 0; i < h->nslots; i++) {
        free(h->slots[i].workload);
        free(h->slots[i].node);
    }
    free(h->spans);
    free(h->slots);
    tp_strmap_free(h->ix);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static slot_t *slot_of(tp_kpi_hist_t *h, const char *id)
{
    int i = tp_strmap_get(h->ix, id);
    if (i >= 0)
        return &h->slots[i];
    if (h->nslots == h->capslots) {
        int cap = h->capslots ? 2 * h->capslots : 256;
        slot_t *n = realloc(h->slots, (size_t)cap * sizeof *n);
        if (!n)
            return NULL;
        h->slots = n;
        h->capslots = cap;
    }
    slot_t *s = &h->slots[h->nslots];
    if (!(s->workload = strdup(id)))
        return NULL;
    s->open = -1;
    s->node = NULL;
    if (tp_strmap_put(h->ix, s->workload, h->nslots) < 0) {
        free(s->workload);
        return NULL;
    }
    h->nslots++;
    return s;
}

/* The facts of a decision row make its node an attested TEE at at. */
static bool facts_tee(json_t *facts, int64_t at)
{
    json_t *a = json_object_get(facts, "attestation");
    const char *st = json_string_value(json_object_get(a, "status"));
    const char *tee = json_string_value(json_object_get(a, "cpu_tee"));
    json_t *exp = json_object_get(a, "expires_at");
    return st && !strcmp(st, "affirming") && tee && strcmp(tee, "none") &&
           strcmp(tee, "unknown") && json_is_integer(exp) && json_integer_value(exp) > at;
}

/* Drops spans that ended before at - PRUNE_AFTER_S; open spans move down and
 * their slots follow. */
static void prune(tp_kpi_hist_t *h, int64_t at)
{
    int *to = malloc(((size_t)h->nspans + 1) * sizeof *to), k = 0;
    if (!to)
        return; /* keep everything: correct, only larger */
    for (int i = 0; i < h->nspans; i++) {
        span_t *sp = &h->spans[i];
        if (sp->end && sp->end < at - PRUNE_AFTER_S) {
            free(sp->sens);
            to[i] = -1;
            continue;
        }
        to[i] = k;
        h->spans[k++] = *sp;
    }
    for (int i = 0; i < h->nslots; i++)
        if (h->slots[i].open >= 0)
            h->slots[i].open = to[h->slots[i].open];
    h->nspans = k;
    free(to);
}

static int add_locked(tp_kpi_hist_t *h, int64_t at, json_t *row)
{
    if (++h->adds >= PRUNE_EVERY) {
        h->adds = 0;
        prune(h, at);
    }
    const char *kind = json_string_value(json_object_get(row, "kind"));
    const char *wl = json_string_value(json_object_get(row, "workload"));
    if (!kind || !wl)
        return 0;
    bool start = !strcmp(kind, "decision") &&
                 json_is_string(json_object_get(row, "state")) &&
                 !strcmp(json_string_value(json_object_get(row, "state")), "running");
    if (!start && strcmp(kind, "release") && strcmp(kind, "preemption"))
        return 0;
    slot_t *s = slot_of(h, wl);
    if (!s)
        return TP_ENOMEM;
    const char *node = json_string_value(json_object_get(row, "node"));
    /* a move journals the new placement, then the preemption on the old node */
    if (!strcmp(kind, "preemption") && node && s->node && strcmp(node, s->node))
        return 0;
    if (s->open >= 0) {
        h->spans[s->open].end = at;
        s->open = -1;
    }
    free(s->node);
    s->node = NULL;
    if (!start)
        return 0;
    if (node && !(s->node = strdup(node)))
        return TP_ENOMEM;
    if (h->nspans == h->capspans) {
        int cap = h->capspans ? 2 * h->capspans : 256;
        span_t *n = realloc(h->spans, (size_t)cap * sizeof *n);
        if (!n)
            return TP_ENOMEM;
        h->spans = n;
        h->capspans = cap;
    }
    const char *sens =
        json_string_value(json_object_get(json_object_get(row, "spec"), "sensitivity"));
    span_t *sp = &h->spans[h->nspans];
    if (!(sp->sens = strdup(sens ? sens : "unspecified")))
        return TP_ENOMEM;
    sp->gpus = (int)json_integer_value(json_object_get(row, "gpus"));
    sp->tee = facts_tee(json_object_get(row, "facts"), at);
    sp->start = at;
    sp->end = 0;
    s->open = h->nspans++;
    return 0;
}

int tp_kpi_hist_add(tp_kpi_hist_t *h, int64_t seq, int64_t at, const char *body)
{
    json_error_t je;
    json_t *row = json_loads(body, 0, &je);
    int rc = tp_kpi_hist_add_json(h, seq, at, row);
    json_decref(row);
    return rc;
}

int tp_kpi_hist_add_json(tp_kpi_hist_t *h, int64_t seq, int64_t at, json_t *row)
{
    if (!row)
        return 0; /* not ours to judge: the audit log refuses it */
    pthread_mutex_lock(&h->mu);
    int rc = 0;
    if (seq > h->seen) {
        rc = add_locked(h, at, row);
        if (!rc)
            h->seen = seq;
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int tp_kpi_hist_spans(tp_kpi_hist_t *h)
{
    pthread_mutex_lock(&h->mu);
    int n = h->nspans;
    pthread_mutex_unlock(&h->mu);
    return n;
}

bool tp_kpi_node_tee(const tp_state_t *st, int n, int64_t now)
{
    const tp_attestation_t *a = &st->nodes[n].att;
    return a->present && a->status == TP_ATT_AFFIRMING && a->expires_at > now &&
           a->cpu_tee > TP_TEE_NONE;
}

/* ---- the document ---- */

static json_t *ratio(double num, double den)
{
    return den > 0 ? json_real(num / den) : json_null();
}

static json_t *num(double x)
{
    return isnan(x) ? json_null() : json_real(x);
}

/* counts[key] += (n, tee) as {"running", "in_tee", "share"} objects. */
static void tally(json_t *by, const char *key, double n, double tee, const char *nk,
                  const char *tk)
{
    json_t *o = json_object_get(by, key);
    if (!o) {
        o = json_pack("{s:f,s:f}", nk, 0.0, tk, 0.0);
        json_object_set_new(by, key, o);
    }
    json_object_set_new(o, nk, json_real(json_number_value(json_object_get(o, nk)) + n));
    json_object_set_new(o, tk,
                        json_real(json_number_value(json_object_get(o, tk)) + tee));
}

static void shares(json_t *by, const char *nk, const char *tk)
{
    const char *k;
    json_t *o;
    json_object_foreach (by, k, o)
        json_object_set_new(o, "share",
                            ratio(json_number_value(json_object_get(o, tk)),
                                  json_number_value(json_object_get(o, nk))));
}

static bool class_sensitive(const tp_class_t *c)
{
    return c->req.tee_mask && !(c->req.tee_mask & (1u << TP_TEE_NONE));
}

static bool sens_sensitive(const tp_fleet_t *f, const char *sens)
{
    int c = tp_strmap_get(f->class_ix, sens);
    return c >= 0 && class_sensitive(&f->classes[c]);
}

static json_t *tee_now(const tp_kpi_in_t *in, bool *tee_of)
{
    const tp_fleet_t *f = in->fleet;
    json_t *by = json_object();
    int n = in->running->n, tee = 0, sn = 0, stee = 0;
    for (int i = 0; i < n; i++) {
        const tp_workload_t *w = &in->running->w[i];
        bool t = tee_of[i];
        tee += t;
        tally(by, f->classes[w->cls].name, 1, t, "running", "in_tee");
        if (class_sensitive(&f->classes[w->cls])) {
            sn++;
            stee += t;
        }
    }
    shares(by, "running", "in_tee");
    json_t *sensitive_classes = json_array();
    for (int c = 0; c < f->nclasses; c++)
        if (class_sensitive(&f->classes[c]))
            json_array_append_new(sensitive_classes, json_string(f->classes[c].name));
    return json_pack("{s:i,s:i,s:o,s:o,s:{s:o,s:i,s:i,s:o}}", "running", n, "in_tee", tee,
                     "share", ratio(tee, n), "by_sensitivity", by, "sensitive", "classes",
                     sensitive_classes, "running", sn, "in_tee", stee, "share",
                     ratio(stee, sn));
}

static json_t *windows(const tp_kpi_in_t *in)
{
    static const struct {
        const char *name;
        int64_t s;
    } W[] = {{"1h", 3600}, {"24h", 86400}, {"7d", 604800}};
    json_t *out = json_object();
    tp_kpi_hist_t *h = in->hist;
    for (size_t k = 0; k < sizeof W / sizeof W[0]; k++) {
        double all = 0, tee = 0, sall = 0, stee = 0;
        json_t *by = json_object();
        int64_t lo = in->now - W[k].s;
        for (int i = 0; h && i < h->nspans; i++) {
            const span_t *sp = &h->spans[i];
            int64_t a = sp->start > lo ? sp->start : lo;
            int64_t b = sp->end && sp->end < in->now ? sp->end : in->now;
            if (b <= a)
                continue;
            double gh = sp->gpus * (double)(b - a) / 3600.0;
            all += gh;
            tee += sp->tee ? gh : 0;
            tally(by, sp->sens, gh, sp->tee ? gh : 0, "gpu_hours", "tee_gpu_hours");
            if (sens_sensitive(in->fleet, sp->sens)) {
                sall += gh;
                stee += sp->tee ? gh : 0;
            }
        }
        shares(by, "gpu_hours", "tee_gpu_hours");
        json_object_set_new(out, W[k].name,
                            json_pack("{s:f,s:f,s:o,s:o,s:o}", "gpu_hours", all,
                                      "tee_gpu_hours", tee, "share", ratio(tee, all),
                                      "sensitive_share", ratio(stee, sall),
                                      "by_sensitivity", by));
    }
    return out;
}

/* TEE share by GPUs running at each of the last 24 hours (oldest first). */
static json_t *tee_series(const tp_kpi_in_t *in)
{
    json_t *a = json_array();
    tp_kpi_hist_t *h = in->hist;
    for (int k = 23; k >= 0; k--) {
        int64_t t = in->now - (int64_t)k * 3600;
        double all = 0, tee = 0;
        for (int i = 0; h && i < h->nspans; i++) {
            const span_t *sp = &h->spans[i];
            if (sp->start <= t && (!sp->end || sp->end > t)) {
                all += sp->gpus;
                tee += sp->tee ? sp->gpus : 0;
            }
        }
        json_array_append_new(a, json_pack("{s:I,s:f,s:o}", "at", (json_int_t)t, "gpus",
                                           all, "share", ratio(tee, all)));
    }
    return a;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static json_t *attestation(const tp_kpi_in_t *in)
{
    const tp_fleet_t *f = in->fleet;
    static const int64_t edges[] = {300, 900, 3600, 86400};
    int nb = 4, results = 0, aff = 0, warn = 0, contra = 0, expired = 0;
    int64_t *ages = malloc(((size_t)f->nnodes + 1) * sizeof *ages);
    int cum[5] = {0};
    json_t *regions = json_object();
    if (!ages)
        return NULL;
    for (int r = 0; r < f->nregions; r++)
        json_object_set_new(regions, f->regions[r].id,
                            json_pack("{s:i,s:i,s:i,s:i,s:n}", "nodes", 0, "results", 0,
                                      "affirming", 0, "fresh", 0, "oldest_age_s"));
    for (int n = 0; n < f->nnodes; n++) {
        const tp_attestation_t *a = &in->state->nodes[n].att;
        json_t *rg = json_object_get(regions, f->regions[f->nodes[n].region].id);
#define BUMP(k)                                                                          \
    json_object_set_new(rg, k,                                                           \
                        json_integer(json_integer_value(json_object_get(rg, k)) + 1))
        BUMP("nodes");
        if (!a->present)
            continue;
        BUMP("results");
        int64_t age = in->now - a->issued_at;
        ages[results++] = age;
        aff += a->status == TP_ATT_AFFIRMING;
        warn += a->status == TP_ATT_WARNING;
        contra += a->status == TP_ATT_CONTRAINDICATED;
        bool exp = a->expires_at <= in->now;
        expired += exp;
        if (a->status == TP_ATT_AFFIRMING)
            BUMP("affirming");
        if (a->status == TP_ATT_AFFIRMING && !exp)
            BUMP("fresh");
#undef BUMP
        json_t *old = json_object_get(rg, "oldest_age_s");
        if (!json_is_integer(old) || json_integer_value(old) < age)
            json_object_set_new(rg, "oldest_age_s", json_integer(age));
        int b = 0;
        while (b < nb && age > edges[b])
            b++;
        for (int k = b; k <= nb; k++)
            cum[k]++;
    }
    json_t *buckets = json_array();
    for (int k = 0; k <= nb; k++)
        json_array_append_new(
            buckets, json_pack("{s:o,s:i}", "le_s",
                               k < nb ? json_integer(edges[k]) : json_string("+Inf"),
                               "results", cum[k]));
    qsort(ages, (size_t)results, sizeof *ages, cmp_i64);
    json_t *age = json_pack(
        "{s:o,s:o,s:o,s:o}", "p50_s",
        results ? json_integer(ages[(results - 1) / 2]) : json_null(), "p90_s",
        results ? json_integer(ages[(results * 9 - 1) / 10]) : json_null(), "max_s",
        results ? json_integer(ages[results - 1]) : json_null(), "buckets", buckets);
    free(ages);
    return json_pack(
        "{s:i,s:i,s:i,s:i,s:i,s:i,s:o,s:o,s:o,s:{s:I,s:o}}", "nodes", f->nnodes,
        "results", results, "affirming", aff, "warning", warn, "contraindicated", contra,
        "expired", expired, "pass_rate", ratio(aff, results), "age", age, "by_region",
        regions, "collector_latency", "requests", (json_int_t)in->collector_requests,
        "mean_s", ratio(in->collector_latency_sum_s, (double)in->collector_requests));
}

typedef struct {
    double tps, watts;
    int observed, modelled;
} eff_t;

static void eff_put(json_t *by, const char *key, const eff_t *e)
{
    json_object_set_new(by, key,
                        json_pack("{s:f,s:f,s:o,s:i,s:i}", "tokens_per_s", e->tps,
                                  "watts", e->watts, "tokens_per_watt",
                                  ratio(e->tps, e->watts), "nodes_observed", e->observed,
                                  "nodes_modelled", e->modelled));
}

static json_t *tokens_per_watt(const tp_kpi_in_t *in)
{
    const tp_fleet_t *f = in->fleet;
    int nn = f->nnodes;
    double *tps = calloc((size_t)nn + 1, sizeof *tps),
           *model_w = calloc((size_t)nn + 1, sizeof *model_w);
    bool *busy = calloc((size_t)nn + 1, sizeof *busy);
    eff_t *gm = calloc((size_t)f->ngpu_models + 1, sizeof *gm),
          *rg = calloc((size_t)f->nregions + 1, sizeof *rg), all = {0};
    json_t *out = NULL;
    if (!tps || !model_w || !busy || !gm || !rg)
        goto done;
    int unprofiled = 0;
    for (int i = 0; i < in->running->n; i++) {
        const tp_workload_t *w = &in->running->w[i];
        int n = w->node;
        if (n < 0 || n >= nn)
            continue;
        busy[n] = true;
        const tp_profile_t *p =
            w->model >= 0 ? tp_fleet_profile(f, w->model, f->nodes[n].gpu_model) : NULL;
        if (!p) {
            unprofiled++;
            model_w[n] += w->gpus * f->nodes[n].gpu_w;
            continue;
        }
        tps[n] += p->tokens_per_s * w->gpus;
        model_w[n] += p->watts * w->gpus;
    }
    for (int n = 0; n < nn; n++) {
        if (!busy[n])
            continue;
        /* as the planner does: a measured draw above the estimate wins */
        double d = in->state->nodes[n].draw_w, est = f->nodes[n].idle_w + model_w[n];
        bool obs = !isnan(d);
        double watts = obs && d > est ? d : est;
        eff_t *e[3] = {&all, &gm[f->nodes[n].gpu_model], &rg[f->nodes[n].region]};
        for (int k = 0; k < 3; k++) {
            e[k]->tps += tps[n];
            e[k]->watts += watts;
            e[k]->observed += obs;
            e[k]->modelled += !obs;
        }
    }
    json_t *bgm = json_object(), *brg = json_object();
    for (int g = 0; g < f->ngpu_models; g++)
        if (gm[g].observed + gm[g].modelled)
            eff_put(bgm, f->gpu_models[g], &gm[g]);
    for (int r = 0; r < f->nregions; r++)
        if (rg[r].observed + rg[r].modelled)
            eff_put(brg, f->regions[r].id, &rg[r]);
    out = json_pack("{s:f,s:f,s:o,s:i,s:i,s:i,s:o,s:o}", "tokens_per_s", all.tps, "watts",
                    all.watts, "tokens_per_watt", ratio(all.tps, all.watts),
                    "nodes_observed", all.observed, "nodes_modelled", all.modelled,
                    "workloads_unprofiled", unprofiled, "by_gpu_model", bgm, "by_region",
                    brg);
done:
    free(tps);
    free(model_w);
    free(busy);
    free(gm);
    free(rg);
    return out;
}

static json_t *power(const tp_kpi_in_t *in)
{
    const tp_fleet_t *f = in->fleet;
    int nd = f->ndomains;
    double *draw = calloc((size_t)nd + 1, sizeof *draw);
    int *unknown = calloc((size_t)nd + 1, sizeof *unknown);
    json_t *doms = json_array();
    if (!draw || !unknown) {
        free(draw);
        free(unknown);
        json_decref(doms);
        return NULL;
    }
    for (int n = 0; n < f->nnodes; n++) {
        double d = in->state->nodes[n].draw_w;
        for (int dom = f->nodes[n].domain; dom >= 0; dom = f->domains[dom].parent) {
            if (isnan(d))
                unknown[dom]++;
            else
                draw[dom] += d;
        }
    }
    const double *caps = in->domain_cap_w ? in->domain_cap_w : in->state->domain_cap_w;
    for (int d = 0; d < nd; d++) {
        double cap = f->domains[d].cap_w > 0 ? f->domains[d].cap_w : NAN;
        if (caps && !isnan(caps[d]) && (isnan(cap) || caps[d] < cap))
            cap = caps[d];
        json_array_append_new(
            doms, json_pack("{s:s,s:o,s:f,s:o,s:o,s:o,s:i}", "domain", f->domains[d].id,
                            "parent",
                            f->domains[d].parent >= 0
                                ? json_string(f->domains[f->domains[d].parent].id)
                                : json_null(),
                            "draw_w", draw[d], "cap_w", num(cap), "headroom_w",
                            num(cap - draw[d]), "utilisation", ratio(draw[d], cap),
                            "nodes_unknown", unknown[d]));
    }
    free(draw);
    free(unknown);
    int cap_pre = 0, evict = 0, total = 0;
    size_t i;
    json_t *e;
    json_array_foreach (in->preemptions, i, e) {
        const char *why = json_string_value(json_object_get(e, "why"));
        total++;
        if (why && !strncmp(why, "power_", 6))
            cap_pre++;
        else if (json_integer_value(json_object_get(e, "event")) > 0)
            cap_pre++;
        else if (why && !strncmp(why, "eviction:", 9))
            evict++;
    }
    return json_pack("{s:o,s:{s:i,s:i,s:i}}", "domains", doms, "preemptions", "total",
                     total, "cap_changes", cap_pre, "evictions", evict);
}

static json_t *pending(const tp_kpi_in_t *in)
{
    json_t *by = json_object();
    int n = 0;
    double gpus = 0;
    size_t i;
    json_t *d;
    json_array_foreach (in->pending, i, d) {
        const char *id = json_string_value(json_object_get(d, "workload"));
        double g = id && in->pending_gpus
                       ? (double)json_integer_value(json_object_get(in->pending_gpus, id))
                       : 0;
        n++;
        gpus += g;
        json_t *reasons = json_object_get(d, "reasons");
        for (int p = 0; p < TP_PRED_COUNT; p++) {
            const char *name = tp_pred_name((tp_pred_t)p);
            if (json_integer_value(json_object_get(reasons, name)) > 0)
                tally(by, name, 1, g, "workloads", "gpus");
        }
    }
    return json_pack("{s:i,s:f,s:o}", "workloads", n, "gpus", gpus, "by_reason", by);
}

json_t *tp_kpi_compute(const tp_kpi_in_t *in)
{
    bool *tee = calloc((size_t)in->running->n + 1, sizeof *tee);
    if (!tee)
        return NULL;
    for (int i = 0; i < in->running->n; i++)
        tee[i] = in->running->w[i].node >= 0 &&
                 tp_kpi_node_tee(in->state, in->running->w[i].node, in->now);
    if (in->hist)
        pthread_mutex_lock(&in->hist->mu);
    json_t *win = windows(in), *series = tee_series(in);
    if (in->hist)
        pthread_mutex_unlock(&in->hist->mu);
    json_t *now_ = tee_now(in, tee);
    free(tee);
    return json_pack("{s:I,s:{s:o,s:o,s:o},s:o,s:o,s:o,s:o}", "at", (json_int_t)in->now,
                     "tee_share", "now", now_, "windows", win, "series_24h", series,
                     "attestation", attestation(in), "tokens_per_watt",
                     tokens_per_watt(in), "power", power(in), "pending", pending(in));
}
