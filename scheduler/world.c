/*
 * scheduler/world.c — the service's in-memory model: decision records, the
 * running set, copies of the observed state, fleets rebuilt with profiles.
 */
#include "scheduler/serve_internal.h"
#include "solver/solver.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void svc_log(const svc_t *s, const char *fmt, ...)
{
    if (s->o.quiet)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "trustplace serve: %s\n", buf);
}

static const char *const REC_NAMES[] = {"running", "pending", "released", "preempted"};

const char *rec_state_name(rec_state_t s)
{
    return REC_NAMES[s];
}

int rec_state_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (!strcmp(s, REC_NAMES[i]))
            return i;
    return -1;
}

rec_t *rec_find(svc_t *s, const char *id)
{
    int i = tp_strmap_get(s->rec_ix, id);
    return i < 0 ? NULL : &s->recs[i];
}

rec_t *rec_upsert(svc_t *s, const char *id)
{
    rec_t *r = rec_find(s, id);
    if (r)
        return r;
    if (s->nrecs == s->caprecs) {
        int cap = s->caprecs ? 2 * s->caprecs : 1024;
        rec_t *n = realloc(s->recs, (size_t)cap * sizeof *n);
        if (!n)
            return NULL;
        s->recs = n;
        s->caprecs = cap;
    }
    r = &s->recs[s->nrecs];
    memset(r, 0, sizeof *r);
    if (!(r->id = strdup(id)) || tp_strmap_put(s->rec_ix, r->id, s->nrecs) < 0) {
        free(r->id);
        return NULL;
    }
    s->nrecs++;
    return r;
}

static int repl(char **dst, const char *src)
{
    if (*dst == src)
        return 0;
    char *n = src ? strdup(src) : NULL;
    if (src && !n)
        return TP_ENOMEM;
    free(*dst);
    *dst = n;
    return 0;
}

static void members_free(rec_t *r)
{
    for (int i = 0; i < r->nmembers; i++)
        free(r->members[i]);
    free(r->members);
    r->members = NULL;
    r->nmembers = 0;
}

void rec_free(rec_t *r)
{
    members_free(r);
    free(r->id);
    free(r->tenant);
    free(r->node);
    free(r->spec);
    free(r->decision);
}

/* A running gang's members: the "members" of its decision. */
static int members_set(rec_t *r)
{
    members_free(r);
    if (r->state != REC_RUNNING || !r->decision || !strstr(r->decision, "\"members\""))
        return 0;
    json_t *d = json_loads(r->decision, 0, NULL), *m = json_object_get(d, "members"), *e;
    size_t i;
    int rc = 0;
    if (json_is_array(m) && json_array_size(m) > 1 &&
        !(r->members = calloc(json_array_size(m), sizeof *r->members)))
        rc = TP_ENOMEM;
    json_array_foreach (r->members ? m : NULL, i, e) {
        if (!json_is_string(e) || !(r->members[i] = strdup(json_string_value(e)))) {
            rc = json_is_string(e) ? TP_ENOMEM : TP_EPARSE;
            break;
        }
        r->nmembers++;
    }
    json_decref(d);
    return rc;
}

int rec_set(rec_t *r, const char *tenant, rec_state_t st, const char *node, int gpus,
            const char *spec, const char *decision)
{
    if (repl(&r->tenant, tenant) || repl(&r->node, node) ||
        (spec && repl(&r->spec, spec)) || (decision && repl(&r->decision, decision)))
        return TP_ENOMEM;
    r->state = st;
    r->gpus = gpus;
    return members_set(r);
}

static int *dup_ints(const int *a, int n)
{
    int *d = malloc((size_t)(n > 0 ? n : 1) * sizeof *d);
    if (d && n)
        memcpy(d, a, (size_t)n * sizeof *d);
    return d;
}

int wl_append(tp_workloads_t *ws, const tp_workload_t *w, int node)
{
    tp_workload_t *n = realloc(ws->w, (size_t)(ws->n + 1) * sizeof *n);
    if (!n)
        return TP_ENOMEM;
    ws->w = n;
    tp_workload_t *c = &ws->w[ws->n];
    *c = *w;
    c->node = node;
    c->id = strdup(w->id);
    c->tenant = w->tenant ? strdup(w->tenant) : NULL;
    c->model_name = w->model_name ? strdup(w->model_name) : NULL;
    c->gpu_models = w->gpu_models ? dup_ints(w->gpu_models, w->ngpu_models) : NULL;
    c->residency = w->residency ? dup_ints(w->residency, w->nresidency) : NULL;
    ws->n++; /* freed by tp_workloads_free() even if a copy failed */
    if (!c->id || (w->tenant && !c->tenant) || (w->model_name && !c->model_name) ||
        (w->gpu_models && !c->gpu_models) || (w->residency && !c->residency))
        return TP_ENOMEM;
    return tp_strmap_put(ws->ix, c->id, ws->n - 1);
}

int wl_append_gang(tp_workloads_t *ws, const tp_workload_t *w, const int *nodes)
{
    int base = ws->n, rc = 0;
    for (int m = 0; m < tp_wl_nodes(w) && rc >= 0; m++) {
        rc = wl_append(ws, w, nodes[m]);
        if (rc == TP_EDUP && m > 0) /* the id names the first member */
            rc = 0;
        ws->w[ws->n - 1].gang = tp_wl_nodes(w) > 1 ? base + 1 : 0;
    }
    return rc;
}

int wl_entries(const tp_workloads_t *ws, const char *id, int *first)
{
    int i = tp_workloads_find(ws, id);
    *first = i;
    if (i < 0)
        return 0;
    int n = 1;
    while (ws->w[i].gang == i + 1 && i + n < ws->n && ws->w[i + n].gang == i + 1)
        n++;
    return n;
}

static void wl_entry_free(tp_workload_t *w)
{
    free(w->id);
    free(w->tenant);
    free(w->model_name);
    free(w->gpu_models);
    free(w->residency);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The order-keeping pass: every entry after a removed one shifts down, the
 * index is rebuilt once. */
static int remove_compact(tp_workloads_t *ws, const bool *gone, int n, int *follow)
{
    /* Gangs leave whole; those that stay get their first member's new index. */
    int *to = malloc(((size_t)ws->n + 1) * sizeof *to);
    if (!to)
        return TP_ENOMEM;
    for (int i = 0, m = 0; i < ws->n; i++)
        to[i] = i < n && gone[i] ? -1 : m++;
    for (int i = 0; i < ws->n; i++)
        if (ws->w[i].gang > 0 && to[i] >= 0)
            ws->w[i].gang = to[ws->w[i].gang - 1] + 1;
    free(to);
    int k = 0;
    for (int i = 0; i < ws->n; i++) {
        if (i < n && gone[i]) {
            wl_entry_free(&ws->w[i]);
            continue;
        }
        if (follow)
            follow[k] = follow[i];
        ws->w[k++] = ws->w[i];
    }
    ws->n = k;
    tp_strmap_t *ix = tp_strmap_new((size_t)ws->n);
    if (!ix)
        return TP_ENOMEM;
    for (int i = 0; i < ws->n; i++)
        tp_strmap_put(ix, ws->w[i].id, i);
    tp_strmap_free(ws->ix);
    ws->ix = ix;
    return 0;
}

int wl_remove_marked(tp_workloads_t *ws, const bool *gone, const int *list, int k, int n,
                     int *follow, bool *changed)
{
    if (k <= 0)
        return 0;
    if (!list)
        return remove_compact(ws, gone, n, follow);
    int *hole = malloc((size_t)k * sizeof *hole), *src = malloc((size_t)k * sizeof *src);
    if (!hole || !src) {
        free(hole);
        free(src);
        return remove_compact(ws, gone, n, follow);
    }
    memcpy(hole, list, (size_t)k * sizeof *hole);
    qsort(hole, (size_t)k, sizeof *hole, cmp_int);
    /* Plan: each hole, lowest first, takes the last entry that stays; holes at
     * or past the new end are simply cut off. A gang leaving, or one that would
     * have to move, takes the order-keeping pass instead (gangs stay whole and
     * in place). */
    bool fast = true;
    int end = ws->n, nm = 0;
    for (int q = 0; q < k && fast; q++)
        fast = ws->w[hole[q]].gang == 0;
    for (int q = 0; q < k && fast; q++) {
        int h = hole[q];
        if (h >= end)
            break;
        while (end - 1 > h && end - 1 < n && gone[end - 1])
            end--;
        if (end - 1 == h) {
            end = h;
            break;
        }
        if (ws->w[end - 1].gang > 0) {
            fast = false;
            break;
        }
        src[q] = --end;
        nm = q + 1;
    }
    if (!fast) {
        free(hole);
        free(src);
        return remove_compact(ws, gone, n, follow);
    }
    for (int q = 0; q < k; q++) /* every removed id leaves the index first */
        tp_strmap_del(ws->ix, ws->w[hole[q]].id);
    for (int q = 0; q < k; q++)
        wl_entry_free(&ws->w[hole[q]]);
    for (int q = 0; q < nm; q++) {
        tp_workload_t *w = &ws->w[hole[q]];
        *w = ws->w[src[q]];
        tp_strmap_set(ws->ix, w->id, hole[q]);
        if (follow)
            follow[hole[q]] = follow[src[q]];
        if (changed) /* its place among its node's work changed */
            changed[w->node] = true;
    }
    ws->n = end;
    free(hole);
    free(src);
    return 0;
}

static int copy_obs(tp_node_obs_t *d, const tp_node_obs_t *o)
{
    *d = *o;
    d->att.verifier = o->att.verifier ? strdup(o->att.verifier) : NULL;
    d->att.evidence = o->att.evidence ? strdup(o->att.evidence) : NULL;
    return (o->att.verifier && !d->att.verifier) || (o->att.evidence && !d->att.evidence)
               ? TP_ENOMEM
               : 0;
}

tp_state_t *state_copy(const tp_fleet_t *f, const tp_state_t *src)
{
    tp_state_t *s = tp_state_new_empty(f);
    if (!s || !src)
        return s;
    s->observed_at = src->observed_at;
    for (int n = 0; n < f->nnodes; n++)
        if (copy_obs(&s->nodes[n], &src->nodes[n]) < 0) {
            tp_state_free(s);
            return NULL;
        }
    for (int d = 0; d < f->ndomains; d++)
        s->domain_cap_w[d] = src->domain_cap_w[d];
    return s;
}

tp_state_t *state_remap(const tp_fleet_t *from, const tp_state_t *src,
                        const tp_fleet_t *to)
{
    tp_state_t *s = tp_state_new_empty(to);
    if (!s || !src)
        return s;
    s->observed_at = src->observed_at;
    for (int n = 0; n < to->nnodes; n++) {
        int o = tp_fleet_node(from, to->nodes[n].id);
        if (o >= 0 && copy_obs(&s->nodes[n], &src->nodes[o]) < 0) {
            tp_state_free(s);
            return NULL;
        }
    }
    for (int d = 0; d < to->ndomains; d++) {
        int o = tp_strmap_get(from->domain_ix, to->domains[d].id);
        if (o >= 0)
            s->domain_cap_w[d] = src->domain_cap_w[o];
    }
    return s;
}

tp_state_t *state_effective(const svc_t *s, int64_t now)
{
    tp_state_t *e = malloc(sizeof *e);
    if (!e)
        return NULL;
    *e = *s->state;
    e->domain_cap_w = malloc(((size_t)e->ndomains + 1) * sizeof *e->domain_cap_w);
    if (!e->domain_cap_w) {
        free(e);
        return NULL;
    }
    memcpy(e->domain_cap_w, s->state->domain_cap_w, (size_t)e->ndomains * sizeof(double));
    for (int i = 0; i < s->nevents; i++) {
        const pevent_t *ev = &s->events[i];
        if (!ev->started || ev->ended || ev->start > now || (ev->end && ev->end <= now))
            continue;
        int d = tp_strmap_get(s->fleet->domain_ix, ev->domain_id);
        if (d >= 0 && (isnan(e->domain_cap_w[d]) || ev->cap_w < e->domain_cap_w[d]))
            e->domain_cap_w[d] = ev->cap_w;
    }
    return e;
}

void state_effective_free(tp_state_t *e)
{
    if (e) {
        free(e->domain_cap_w);
        free(e);
    }
}

int fleet_build(const svc_t *s, const json_t *doc, const json_t *profiles,
                tp_fleet_t **out, tp_error_t *err)
{
    json_t *d = json_deep_copy(doc), *p, *e;
    size_t i, k;
    if (!d)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    if (profiles && json_array_size(profiles)) {
        p = json_object_get(d, "profiles");
        if (!json_is_array(p)) {
            p = json_array();
            json_object_set_new(d, "profiles", p);
        }
        json_array_foreach (profiles, i, e) {
            const char *m = json_string_value(json_object_get(e, "model"));
            const char *g = json_string_value(json_object_get(e, "gpu_model"));
            json_t *old;
            bool replaced = false;
            json_array_foreach (p, k, old) {
                const char *om = json_string_value(json_object_get(old, "model"));
                const char *og = json_string_value(json_object_get(old, "gpu_model"));
                if (m && g && om && og && !strcmp(m, om) && !strcmp(g, og)) {
                    json_array_set(p, k, e);
                    replaced = true;
                    break;
                }
            }
            if (!replaced)
                json_array_append(p, e);
        }
    }
    char *text = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    if (!text)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    int rc = tp_fleet_load_buffer(s->o.config, text, strlen(text), out, err);
    free(text);
    return rc;
}

/* "request: $[0].gpus: expected …" → path "$.gpus" (prefix-rewritten) and the
 * message "$.gpus: expected …". */
static void rewrite_error(tp_error_t *err, const char *name, const char *prefix,
                          char *path, size_t pathlen)
{
    char msg[TP_ERROR_TEXT];
    const char *t = err->text;
    size_t nl = strlen(name);
    if (!strncmp(t, name, nl) && t[nl] == ':' && t[nl + 1] == ' ')
        t += nl + 2;
    if (!strncmp(t, "$[0]", 4)) {
        const char *end = strstr(t, ": ");
        size_t plen = end ? (size_t)(end - t) : strlen(t);
        snprintf(path, pathlen, "%s%.*s", prefix, (int)(plen - 4), t + 4);
        snprintf(msg, sizeof msg, "%s%s", path, end ? end : "");
    } else {
        snprintf(path, pathlen, "%s", prefix);
        snprintf(msg, sizeof msg, "%s", t);
    }
    snprintf(err->text, sizeof err->text, "%s", msg);
}

int parse_workload(const tp_fleet_t *f, const json_t *obj, const char *prefix,
                   bool with_node, tp_workloads_t **out, tp_error_t *err, char *path,
                   size_t pathlen)
{
    json_t *arr = json_array();
    char *text;
    *out = NULL;
    if (!arr || json_array_append(arr, (json_t *)obj) < 0 ||
        !(text = json_dumps(arr, JSON_COMPACT))) {
        json_decref(arr);
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    json_decref(arr);
    int rc =
        tp_workloads_load_buffer("request", text, strlen(text), f,
                                 with_node ? TP_WL_RUNNING : TP_WL_PENDING, out, err);
    free(text);
    if (rc < 0)
        rewrite_error(err, "request", prefix, path, pathlen);
    return rc;
}

static int build(const svc_t *s, const tp_fleet_t *f, tp_workloads_t **out,
                 json_t *misfits, tp_error_t *err)
{
    tp_workloads_t *ws = tp_workloads_new_empty();
    char path[128];
    *out = NULL;
    if (!ws)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    for (int i = 0; i < s->nrecs; i++) {
        const rec_t *r = &s->recs[i];
        if (r->state != REC_RUNNING)
            continue;
        json_t *spec = json_loads(r->spec, JSON_REJECT_DUPLICATES, NULL);
        tp_workloads_t *one = NULL;
        int rc = spec && r->node ? 0 : TP_EPARSE;
        if (!rc && r->nmembers > 1) { /* a gang: "members", every one checked */
            json_t *m = json_array();
            for (int k = 0; k < r->nmembers; k++)
                json_array_append_new(m, json_string(r->members[k]));
            rc = json_object_set_new(spec, "members", m);
        } else if (!rc) {
            rc = json_object_set_new(spec, "node", json_string(r->node));
        }
        if (!rc)
            rc = parse_workload(f, spec, "$", true, &one, err, path, sizeof path);
        else
            tp_error_set(err, TP_EPARSE, "stored spec is not a JSON object");
        json_decref(spec);
        if (!rc) {
            int *nodes = malloc((size_t)one->n * sizeof *nodes);
            for (int k = 0; nodes && k < one->n; k++)
                nodes[k] = one->w[k].node;
            rc = nodes ? wl_append_gang(ws, &one->w[0], nodes) : TP_ENOMEM;
            free(nodes);
        }
        tp_workloads_free(one);
        if (rc < 0 && rc != TP_ENOMEM && misfits) {
            svc_log(s, "running workload \"%s\" on \"%s\" no longer fits the fleet: %s",
                    r->id, r->node ? r->node : "?", err->text);
            json_array_append_new(misfits, json_string(r->id));
            continue;
        }
        if (rc < 0) {
            char why[TP_ERROR_TEXT];
            snprintf(why, sizeof why, "%s", err->text);
            tp_error_set(err, rc, "running workload \"%s\" on \"%s\" does not fit: %s",
                         r->id, r->node ? r->node : "?", why);
            tp_workloads_free(ws);
            return rc;
        }
    }
    tp_error_clear(err);
    *out = ws;
    return 0;
}

int running_build(const svc_t *s, const tp_fleet_t *f, tp_workloads_t **out,
                  tp_error_t *err)
{
    return build(s, f, out, NULL, err);
}

int running_build_tolerant(const svc_t *s, const tp_fleet_t *f, tp_workloads_t **out,
                           json_t *misfits, tp_error_t *err)
{
    return build(s, f, out, misfits, err);
}

void svc_invalidate(svc_t *s)
{
    tp_vtally_free(s->vtally);
    s->vtally = NULL;
    tp_solver_cache_free(s->solver_cache);
    s->solver_cache = NULL;
    svc_running_changed(s, NULL);
}

void svc_running_changed(svc_t *s, const bool *changed)
{
    s->version++;
    if (changed && s->load && s->run_node) {
        tp_load_refresh(s->load, s->fleet, s->state, s->running, s->run_node, changed);
    } else {
        tp_load_free(s->load);
        s->load = NULL;
        free(s->run_node);
        s->run_node = NULL;
        s->caprun_node = 0;
    }
    free(s->run_first);
    free(s->run_next);
    s->run_first = s->run_next = NULL;
}

const tp_load_t *svc_load(svc_t *s)
{
    if (s->load)
        return s->load;
    int cap = s->running->n + 64;
    s->run_node = malloc((size_t)cap * sizeof *s->run_node);
    s->load = s->run_node ? tp_load_new(s->fleet, s->state, s->running) : NULL;
    if (!s->load) {
        free(s->run_node);
        s->run_node = NULL;
        return NULL;
    }
    s->caprun_node = cap;
    for (int i = 0; i < s->running->n; i++)
        s->run_node[i] = s->running->w[i].node;
    return s->load;
}

const tp_load_t *svc_load_lists(svc_t *s)
{
    if (!svc_load(s))
        return NULL;
    if (s->run_first)
        return s->load;
    s->run_first = malloc(((size_t)s->fleet->nnodes + 1) * sizeof *s->run_first);
    s->run_next = malloc(((size_t)s->running->n + 1) * sizeof *s->run_next);
    if (!s->run_first || !s->run_next) {
        free(s->run_first);
        free(s->run_next);
        s->run_first = s->run_next = NULL;
        return NULL;
    }
    for (int n = 0; n < s->fleet->nnodes; n++)
        s->run_first[n] = -1;
    for (int i = s->running->n - 1; i >= 0; i--) {
        int n = s->running->w[i].node;
        s->run_next[i] = s->run_first[n];
        s->run_first[n] = i;
    }
    return s->load;
}

idem_t *idem_find(svc_t *s, const char *key)
{
    int i = tp_strmap_get(s->idem_ix, key);
    return i < 0 ? NULL : &s->idem[i];
}

idem_t *idem_add(svc_t *s, const char *key, const char *hash)
{
    if (s->nidem == s->capidem) {
        int cap = s->capidem ? 2 * s->capidem : 256;
        idem_t *n = realloc(s->idem, (size_t)cap * sizeof *n);
        if (!n)
            return NULL;
        /* the in-flight ops point at entries: re-point them */
        for (int i = 0; i < s->nidem; i++)
            if (n[i].inflight)
                n[i].inflight->idem = &n[i];
        s->idem = n;
        s->capidem = cap;
    }
    idem_t *e = &s->idem[s->nidem];
    memset(e, 0, sizeof *e);
    if (!(e->key = strdup(key)) || !(e->hash = strdup(hash)) ||
        tp_strmap_put(s->idem_ix, e->key, s->nidem) < 0) {
        free(e->key);
        free(e->hash);
        return NULL;
    }
    s->nidem++;
    return e;
}

int64_t pevent_add(svc_t *s, int64_t id, const char *domain, double cap_w, int64_t start,
                   int64_t end)
{
    if (s->nevents == s->capevents) {
        int cap = s->capevents ? 2 * s->capevents : 16;
        pevent_t *n = realloc(s->events, (size_t)cap * sizeof *n);
        if (!n)
            return TP_ENOMEM;
        s->events = n;
        s->capevents = cap;
    }
    pevent_t *e = &s->events[s->nevents];
    memset(e, 0, sizeof *e);
    if (!(e->domain_id = strdup(domain)))
        return TP_ENOMEM;
    e->id = id;
    e->cap_w = cap_w;
    e->start = start;
    e->end = end;
    s->nevents++;
    return id;
}

json_t *wl_spec(const tp_fleet_t *f, const tp_workload_t *w)
{
    json_t *o = json_pack("{s:s,s:i,s:s,s:i,s:b}", "id", w->id, "gpus", w->gpus,
                          "sensitivity", f->classes[w->cls].name, "priority", w->priority,
                          "preemptible", w->preemptible);
    if (!o)
        return NULL;
    if (w->tenant)
        json_object_set_new(o, "tenant", json_string(w->tenant));
    if (w->model_name)
        json_object_set_new(o, "model", json_string(w->model_name));
    if (!w->any_gpu_model) {
        json_t *a = json_array();
        for (int i = 0; i < w->ngpu_models; i++)
            json_array_append_new(a, json_string(f->gpu_models[w->gpu_models[i]]));
        json_object_set_new(o, "gpu_models", a);
    }
    if (w->nresidency) {
        json_t *a = json_array();
        for (int i = 0; i < w->nresidency; i++)
            json_array_append_new(a, json_string(f->regions[w->residency[i]].id));
        json_object_set_new(o, "residency", a);
    }
    return o;
}
