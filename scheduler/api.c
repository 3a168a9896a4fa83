/*
 * scheduler/api.c — the routes of docs/serve.md: access check, strict request
 * parsing (400 malformed JSON, 422 with the JSON path), reads answered on the
 * loop from the model, writes queued for the worker (scheduler/worker.c).
 */
#include "scheduler/leader.h"
#include "scheduler/serve_internal.h"
#include "scheduler/k8s.h"
#include "util/json_in.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX_ITEMS 1000

char *json_text(json_t *doc)
{
    char *t = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
    json_decref(doc);
    return t;
}

void respond_json(tp_httpd_req_t *req, int status, json_t *doc)
{
    char *t = json_text(doc);
    if (t)
        tp_httpd_respond(req, status, t, strlen(t));
    else
        tp_httpd_error(req, 500, "internal", NULL, "out of memory");
    free(t);
}

void api_ceiling(void *arg, tp_httpd_req_t *req, const tp_httpd_view_t *v)
{
    (void)arg;
    (void)v;
    tp_httpd_respond(req, 200, "{}", 2);
}

/* ---- helpers ---- */

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* Percent-decodes s[0..len) into out (size cap); -1 on a bad escape, NUL or overflow. */
static int pct_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int a = hexval((unsigned char)s[i + 1]), b = hexval((unsigned char)s[i + 2]);
            if (a < 0 || b < 0)
                return -1;
            c = a * 16 + b;
            i += 2;
        }
        if (c == 0 || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* The decoded segment after prefix, or NULL when path does not start with it. */
static const char *tail_id(const char *path, const char *prefix, char *buf, size_t cap)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) || !path[n] || strchr(path + n, '/'))
        return NULL;
    return pct_decode(path + n, strlen(path + n), buf, cap) == 0 ? buf : NULL;
}

/* The role of the request's credential: its connection's client certificate
 * when --tls-clients pins it, else its bearer token. */
static tp_role_t credential(const svc_t *s, const tp_httpd_view_t *v)
{
    tp_role_t r = tp_clients_check(s->clients, v->client_sha256, NULL);
    if (r != TP_ROLE_NONE)
        return r;
    return tp_tokens_check(s->tokens, v->authorization,
                           v->authorization ? strlen(v->authorization) : 0, NULL);
}

static bool authorize(svc_t *s, tp_httpd_req_t *req, const tp_httpd_view_t *v,
                      tp_action_t a)
{
    if (!s->tokens && !s->clients)
        return true;
    tp_role_t role = credential(s, v);
    if (role == TP_ROLE_NONE) {
        s->auth_refused++;
        tp_httpd_error(req, 401, "unauthenticated", NULL,
                       "a valid bearer token%s is required (Authorization: Bearer …)",
                       s->clients ? " or a pinned client certificate" : "");
        return false;
    }
    if (!tp_role_allows(role, a)) {
        s->auth_refused++;
        tp_httpd_error(req, 403, "forbidden", NULL, "role %s may not %s",
                       tp_role_name(role), tp_action_name(a));
        return false;
    }
    return true;
}

/* Parses the body strictly; answers 400 and returns NULL when it is not JSON. */
static json_t *body_json(tp_httpd_req_t *req, const tp_httpd_view_t *v)
{
    tp_error_t err = {0};
    jr_t r = {"body", &err};
    if (!v->body || !v->body_len) {
        tp_httpd_error(req, 400, "malformed_json", "$", "a JSON body is required");
        return NULL;
    }
    json_t *doc = jr_parse_buffer(&r, v->body, v->body_len);
    if (!doc)
        tp_httpd_error(req, 400, "malformed_json", "$", "%s", err.text);
    return doc;
}

/* "FILE: $.x.y: message" → the path into out. */
static const char *err_path(const char *text, char *out, size_t cap)
{
    const char *p = strstr(text, "$");
    size_t n = 0;
    if (!p)
        return "$";
    while (p[n] && p[n] != ':' && p[n] != ' ' && n + 1 < cap)
        n++;
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

static void reject_schema(tp_httpd_req_t *req, const tp_error_t *err)
{
    char path[256];
    tp_httpd_error(req, 422, "invalid_request", err_path(err->text, path, sizeof path),
                   "%s", err->text);
}

static op_t *op_new(op_kind_t kind, tp_httpd_req_t *req)
{
    op_t *op = calloc(1, sizeof *op);
    if (op) {
        op->kind = kind;
        op->req = req;
    }
    return op;
}

static bool good_key(const char *k)
{
    size_t n = strlen(k);
    if (n < 1 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e)
            return false;
    return true;
}

/* The workloads of a body: {"workloads": [1..BATCH_MAX_ITEMS]} when many, else
 * one workload object. A new array, or NULL after answering 422. */
static json_t *workload_items(tp_httpd_req_t *req, const json_t *doc, bool many)
{
    tp_error_t err = {0};
    json_t *items;
    if (many) {
        static const char *const keys[] = {"workloads", NULL};
        jr_t r = {"body", &err};
        if (jr_object(&r, doc, "$", keys) < 0 ||
            jr_array(&r, json_object_get(doc, "workloads"), "$.workloads") < 0) {
            reject_schema(req, &err);
            return NULL;
        }
        items = json_incref(json_object_get(doc, "workloads"));
        if (json_array_size(items) == 0 || json_array_size(items) > BATCH_MAX_ITEMS) {
            tp_httpd_error(req, 422, "invalid_request", "$.workloads",
                           "expected 1..%d workloads, got %zu", BATCH_MAX_ITEMS,
                           json_array_size(items));
            json_decref(items);
            return NULL;
        }
        return items;
    }
    if (!json_is_object(doc)) {
        tp_httpd_error(req, 422, "invalid_request", "$",
                       "expected a workload object, got %s", jr_type_name(doc));
        return NULL;
    }
    items = json_array();
    json_array_append(items, (json_t *)doc);
    return items;
}

/* ---- placements ---- */

static void post_placements(svc_t *s, tp_httpd_req_t *req, const tp_httpd_view_t *v,
                            bool batch)
{
    json_t *doc = body_json(req, v);
    tp_error_t err = {0};
    char path[256];
    if (!doc)
        return;
    op_t *op = op_new(OP_PLACE, req);
    json_t *items = NULL;
    if (!op)
        goto oom;
    op->batch = batch;
    if (!(items = workload_items(req, doc, batch)))
        goto done;
    if (v->idempotency_key && !good_key(v->idempotency_key)) {
        tp_httpd_error(req, 400, "invalid_idempotency_key", NULL,
                       "Idempotency-Key must be 1..255 printable ASCII characters");
        goto done;
    }
    char hash[72];
    if (v->idempotency_key) {
        tp_sha256_tag(v->body, v->body_len, hash);
        idem_t *e = idem_find(s, v->idempotency_key);
        if (e && (e->response || e->inflight) && strcmp(e->hash, hash)) {
            tp_httpd_error(req, 422, "idempotency_key_reused", NULL,
                           "this Idempotency-Key was used with a different request body");
            goto done;
        }
        if (e && e->response) {
            tp_httpd_respond_hdr(req, e->status, e->response, strlen(e->response),
                                 "idempotent-replayed", "true");
            goto done;
        }
        if (e && e->inflight) {
            tp_httpd_error(req, 409, "idempotency_key_in_flight", NULL,
                           "a request with this Idempotency-Key is still being decided; "
                           "retry");
            goto done;
        }
    }
    op->wl = tp_workloads_new_empty();
    op->specs = calloc(json_array_size(items) + 1, sizeof *op->specs);
    if (!op->wl || !op->specs)
        goto oom;
    size_t i;
    json_t *it;
    json_array_foreach (items, i, it) {
        char prefix[64];
        tp_workloads_t *one = NULL;
        if (batch)
            snprintf(prefix, sizeof prefix, "$.workloads[%zu]", i);
        else
            snprintf(prefix, sizeof prefix, "$");
        if (parse_workload(s->fleet, it, prefix, false, &one, &err, path, sizeof path) <
            0) {
            tp_httpd_error(req, err.code == TP_ENOMEM ? 503 : 422, "invalid_workload",
                           path, "%s", err.text);
            goto done;
        }
        int rc = wl_append(op->wl, &one->w[0], -1);
        tp_workloads_free(one);
        if (rc == TP_EDUP) {
            tp_httpd_error(req, 422, "invalid_workload", prefix,
                           "workload id listed twice in this batch");
            goto done;
        }
        if (rc < 0 || !(op->specs[i] = json_dumps(it, JSON_COMPACT | JSON_SORT_KEYS)))
            goto oom;
    }
    if (v->idempotency_key) {
        idem_t *e = idem_find(s, v->idempotency_key);
        if (!e && !(e = idem_add(s, v->idempotency_key, hash)))
            goto oom;
        if (strcmp(e->hash, hash)) {
            free(e->hash);
            e->hash = strdup(hash);
        }
        e->inflight = op;
        op->idem = e;
    }
    op_enqueue(s, op);
    op = NULL;
    goto done;
oom:
    tp_httpd_error(req, 503, "unavailable", NULL, "out of memory");
done:
    op_free(op);
    json_decref(items);
    json_decref(doc);
}

static json_t *rec_json(const rec_t *r)
{
    json_t *d = r->decision ? json_loads(r->decision, 0, NULL) : NULL, *m = NULL;
    if (r->nmembers > 1) { /* a running gang: every member node, GPUs per member */
        m = json_array();
        for (int i = 0; i < r->nmembers; i++)
            json_array_append_new(m, json_string(r->members[i]));
    }
    return json_pack("{s:s,s:s?,s:s,s:s?,s:i,s:o*,s:o?}", "workload", r->id, "tenant",
                     r->tenant, "state", rec_state_name(r->state), "node", r->node,
                     "gpus", r->gpus, "members", m, "decision", d);
}

/* Does record r run on node (any member of a gang)? */
static bool rec_on(const rec_t *r, const char *node)
{
    if (r->node && !strcmp(node, r->node))
        return true;
    for (int i = 0; i < r->nmembers; i++)
        if (!strcmp(node, r->members[i]))
            return true;
    return false;
}

static void list_placements(svc_t *s, tp_httpd_req_t *req, const tp_httpd_view_t *v)
{
    char node[160] = "", state[32] = "", tenant[160] = "";
    const char *q = v->query;
    while (q && *q) {
        const char *amp = strchr(q, '&'), *eq = strchr(q, '=');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (!eq || eq > q + len) {
            tp_httpd_error(req, 400, "invalid_query", NULL,
                           "expected key=value in the query");
            return;
        }
        size_t klen = (size_t)(eq - q);
        char *dst = NULL;
        size_t cap = 0;
        if (klen == 4 && !strncmp(q, "node", 4))
            dst = node, cap = sizeof node;
        else if (klen == 5 && !strncmp(q, "state", 5))
            dst = state, cap = sizeof state;
        else if (klen == 6 && !strncmp(q, "tenant", 6))
            dst = tenant, cap = sizeof tenant;
        if (!dst || pct_decode(eq + 1, len - klen - 1, dst, cap) < 0) {
            tp_httpd_error(req, 400, "invalid_query", NULL,
                           "query parameters are node, state and tenant; got \"%.*s\"",
                           (int)len, q);
            return;
        }
        q = amp ? amp + 1 : NULL;
    }
    if (*state && rec_state_parse(state) < 0) {
        tp_httpd_error(req, 400, "invalid_query", NULL,
                       "state: expected running, pending, released or preempted");
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < s->nrecs; i++) {
        const rec_t *r = &s->recs[i];
        if ((*node && !rec_on(r, node)) ||
            (*state && strcmp(state, rec_state_name(r->state))) ||
            (*tenant && (!r->tenant || strcmp(tenant, r->tenant))))
            continue;
        json_array_append_new(arr, rec_json(r));
    }
    respond_json(req, 200, json_pack("{s:o}", "placements", arr));
}

/* ---- nodes ---- */

static json_t *num_or_null(double x)
{
    return isnan(x) ? json_null() : json_real(x);
}

static json_t *node_summary(svc_t *s, int n, int64_t now)
{
    const tp_node_t *nd = &s->fleet->nodes[n];
    const tp_node_obs_t *o = &s->state->nodes[n];
    const tp_load_t *l = svc_load(s);
    json_t *att = json_null();
    if (o->att.present)
        att = json_pack("{s:s,s:I,s:b}", "status", tp_att_status_name(o->att.status),
                        "expires_in_s", (json_int_t)(o->att.expires_at - now), "expired",
                        o->att.expires_at <= now);
    return json_pack("{s:s,s:s,s:i,s:i,s:s,s:s,s:o,s:o}", "id", nd->id, "gpu_model",
                     s->fleet->gpu_models[nd->gpu_model], "gpus", nd->gpus, "gpus_used",
                     l ? l->gpus_used[n] : -1, "power_domain",
                     s->fleet->domains[nd->domain].id, "region",
                     s->fleet->regions[nd->region].id, "attestation", att, "draw_w",
                     num_or_null(o->draw_w));
}

static json_t *preds_json(tp_predset_t p)
{
    json_t *a = json_array();
    for (int i = 0; i < TP_PRED_COUNT; i++)
        if (p & TP_PRED_BIT(i))
            json_array_append_new(a, json_string(tp_pred_name((tp_pred_t)i)));
    return a;
}

static void get_node(svc_t *s, tp_httpd_req_t *req, const char *id)
{
    int n = tp_fleet_node(s->fleet, id);
    int64_t now = (int64_t)time(NULL);
    if (n < 0) {
        tp_httpd_error(req, 404, "not_found", NULL, "no node \"%s\" in the fleet", id);
        return;
    }
    const tp_fleet_t *f = s->fleet;
    if (!s->views && (s->views = calloc((size_t)f->nnodes, sizeof *s->views)))
        s->nviews = f->nnodes;
    struct node_view *cv = n < s->nviews ? &s->views[n] : NULL;
    if (cv && cv->json && cv->at == now && cv->version == s->version) {
        tp_httpd_respond(req, 200, cv->json, strlen(cv->json));
        return;
    }
    const tp_node_t *nd = &f->nodes[n];
    const tp_node_obs_t *o = &s->state->nodes[n];
    const tp_load_t *l = svc_load_lists(s);
    json_t *declared =
        json_pack("{s:s,s:s,s:s,s:i,s:s,s:b,s:f,s:f,s:f}", "power_domain",
                  f->domains[nd->domain].id, "region", f->regions[nd->region].id,
                  "gpu_model", f->gpu_models[nd->gpu_model], "gpus", nd->gpus, "cpu_tee",
                  tp_tee_name(nd->cpu_tee), "gpu_cc", nd->gpu_cc, "cap_w", nd->cap_w,
                  "idle_w", nd->idle_w, "gpu_w", nd->gpu_w);
    json_t *att = json_null();
    if (o->att.present)
        att = json_pack(
            "{s:s,s:s,s:o,s:I,s:I,s:I,s:s?}", "status", tp_att_status_name(o->att.status),
            "cpu_tee", tp_tee_name(o->att.cpu_tee), "gpu_cc",
            o->att.gpu_cc < 0 ? json_null() : json_boolean(o->att.gpu_cc), "issued_at",
            (json_int_t)o->att.issued_at, "age_s", (json_int_t)(now - o->att.issued_at),
            "expires_in_s", (json_int_t)(o->att.expires_at - now), "verifier",
            o->att.verifier);
    json_t *observed = json_pack(
        "{s:b,s:o,s:o,s:o,s:o,s:o,s:o}", "known", o->known, "age_s",
        s->state->observed_at ? json_integer(now - s->state->observed_at) : json_null(),
        "cap_w", num_or_null(o->cap_w), "draw_w", num_or_null(o->draw_w), "gpus_healthy",
        o->gpus_healthy < 0 ? json_null() : json_integer(o->gpus_healthy), "country",
        o->country[0] ? json_string(o->country) : json_null(), "attestation", att);
    /* eligibility per class: a one-GPU workload of the class, any GPU model,
     * allowed in the node's own region */
    json_t *elig = json_object();
    tp_state_t *eff = state_effective(s, now);
    for (int c = 0; eff && c < f->nclasses; c++) {
        int region = nd->region;
        tp_workload_t w = {.id = "probe",
                           .gpus = 1,
                           .any_gpu_model = true,
                           .cls = c,
                           .req = f->classes[c].req,
                           .residency = &region,
                           .nresidency = 1,
                           .node = -1,
                           .model = -1,
                           .preemptible = true};
        tp_predset_t st = tp_policy_static(f, eff, n, &w, now);
        tp_predset_t cap = l ? tp_policy_capacity(f, eff, l, n, &w) : 0;
        json_object_set_new(elig, f->classes[c].name,
                            json_pack("{s:b,s:o}", "eligible", !(st | cap), "failing",
                                      preds_json(st | cap)));
    }
    state_effective_free(eff);
    json_t *running = json_array();
    for (int i = l ? s->run_first[n] : -1; i >= 0; i = s->run_next[i])
        json_array_append_new(running, json_string(s->running->w[i].id));
    char *text = json_text(json_pack(
        "{s:s,s:o,s:o,s:i,s:f,s:o,s:o}", "id", nd->id, "declared", declared, "observed",
        observed, "gpus_used", l ? l->gpus_used[n] : -1, "planned_draw_w",
        l ? l->node_w[n] : 0.0, "running", running, "eligibility", elig));
    if (!text) {
        tp_httpd_error(req, 500, "internal", NULL, "out of memory");
        return;
    }
    tp_httpd_respond(req, 200, text, strlen(text));
    if (cv) { /* the answer stands for the rest of this second, unless the model changes
               */
        free(cv->json);
        cv->json = text;
        cv->at = now;
        cv->version = s->version;
    } else {
        free(text);
    }
}

static void list_nodes(svc_t *s, tp_httpd_req_t *req)
{
    int64_t now = (int64_t)time(NULL);
    json_t *arr = json_array();
    for (int n = 0; n < s->fleet->nnodes; n++)
        json_array_append_new(arr, node_summary(s, n, now));
    respond_json(req, 200, json_pack("{s:o}", "nodes", arr));
}

/* ---- explain ---- */

static void explain(svc_t *s, tp_httpd_req_t *req, const tp_httpd_view_t *v)
{
    json_t *doc = body_json(req, v), *items = NULL, *out = NULL;
    tp_error_t err = {0};
    char path[256];
    int64_t now = (int64_t)time(NULL);
    if (!doc)
        return;
    bool many = json_is_object(doc) && json_object_get(doc, "workloads");
    if (!(items = workload_items(req, doc, many)))
        goto done;
    out = json_array();
    tp_state_t *eff = state_effective(s, now);
    const tp_load_t *l = svc_load(s);
    size_t i;
    json_t *it;
    json_array_foreach (items, i, it) {
        char prefix[64];
        tp_workloads_t *one = NULL;
        snprintf(prefix, sizeof prefix, many ? "$.workloads[%zu]" : "$", i);
        if (parse_workload(s->fleet, it, prefix, false, &one, &err, path, sizeof path) <
            0) {
            tp_httpd_error(req, 422, "invalid_workload", path, "%s", err.text);
            state_effective_free(eff);
            goto done;
        }
        int counts[TP_PRED_COUNT];
        int ok =
            eff && l ? tp_policy_count(s->fleet, eff, l, &one->w[0], now, counts) : 0;
        json_t *reasons = json_object();
        for (int p = 0; p < TP_PRED_COUNT; p++)
            if (counts[p])
                json_object_set_new(reasons, tp_pred_name((tp_pred_t)p),
                                    json_integer(counts[p]));
        json_array_append_new(out, json_pack("{s:s,s:i,s:i,s:o}", "workload",
                                             one->w[0].id, "eligible_nodes", ok, "nodes",
                                             s->fleet->nnodes, "reasons", reasons));
        tp_workloads_free(one);
    }
    state_effective_free(eff);
    respond_json(req, 200,
                 many ? json_pack("{s:O}", "explanations", out)
                      : json_incref(json_array_get(out, 0)));
done:
    json_decref(out);
    json_decref(items);
    json_decref(doc);
}

/* ---- power events, preemptions, profiles ---- */

static void post_power(svc_t *s, tp_httpd_req_t *req, const tp_httpd_view_t *v)
{
    static const char *const keys[] = {"domain", "cap_w", "factor", "start", "end", NULL};
    json_t *doc = body_json(req, v);
    tp_error_t err = {0};
    jr_t r = {"body", &err};
    const char *domain = NULL;
    double cap = NAN, factor = NAN;
    long long now = (long long)time(NULL), start = now, end = 0;
    if (!doc)
        return;
    if (jr_object(&r, doc, "$", keys) < 0 ||
        jr_id(&r, doc, "$", "domain", true, &domain) < 0 ||
        jr_number(&r, doc, "$", "cap_w", false, 0, 1e9, &cap) < 0 ||
        jr_number(&r, doc, "$", "factor", false, 0, 1, &factor) < 0 ||
        jr_int(&r, doc, "$", "start", false, 0, 1LL << 40, &start) < 0 ||
        jr_int(&r, doc, "$", "end", false, 0, 1LL << 40, &end) < 0) {
        reject_schema(req, &err);
        goto done;
    }
    int d = tp_strmap_get(s->fleet->domain_ix, domain);
    if (d < 0) {
        tp_httpd_error(req, 422, "invalid_event", "$.domain", "no power domain \"%s\"",
                       domain);
        goto done;
    }
    if (isnan(cap) == isnan(factor)) {
        tp_httpd_error(req, 422, "invalid_event", "$",
                       "give exactly one of cap_w and factor");
        goto done;
    }
    if (end && end <= start) {
        tp_httpd_error(req, 422, "invalid_event", "$.end", "end must be after start");
        goto done;
    }
    if (end && end <= now) {
        tp_httpd_error(req, 422, "invalid_event", "$.end", "the event is already over");
        goto done;
    }
    if (isnan(cap))
        cap = factor * tp_policy_domain_cap(s->fleet, s->state, d);
    op_t *op = op_new(OP_POWER, req);
    /* journaled resolved, so that recovery needs no cap of the moment */
    json_t *norm = json_pack("{s:s,s:f,s:I,s:I}", "domain", domain, "cap_w", cap, "start",
                             (json_int_t)start, "end", (json_int_t)end);
    if (!op || !(op->body = json_text(norm)) || !(op->ev.domain_id = strdup(domain))) {
        op_free(op);
        tp_httpd_error(req, 503, "unavailable", NULL, "out of memory");
        goto done;
    }
    op->ev.cap_w = cap;
    op->ev.start = start;
    op->ev.end = end;
    op_enqueue(s, op);
done:
    json_decref(doc);
}

static void list_events(svc_t *s, tp_httpd_req_t *req)
{
    json_t *arr = json_array();
    for (int i = 0; i < s->nevents; i++) {
        const pevent_t *e = &s->events[i];
        json_array_append_new(
            arr, json_pack("{s:I,s:s,s:f,s:I,s:I,s:s}", "event", (json_int_t)e->id,
                           "domain", e->domain_id, "cap_w", e->cap_w, "start",
                           (json_int_t)e->start, "end", (json_int_t)e->end, "state",
                           e->ended     ? "ended"
                           : e->started ? "active"
                                        : "scheduled"));
    }
    respond_json(req, 200, json_pack("{s:o}", "events", arr));
}

static void post_profiles(svc_t *s, tp_httpd_req_t *req, const tp_httpd_view_t *v)
{
    static const char *const keys[] = {"model", "gpu_model", "tokens_per_s", "watts",
                                       NULL};
    json_t *doc = body_json(req, v), *e;
    tp_error_t err = {0};
    jr_t r = {"body", &err};
    size_t i;
    if (!doc)
        return;
    if (jr_array(&r, doc, "$") < 0) {
        reject_schema(req, &err);
        goto done;
    }
    if (json_array_size(doc) == 0 || json_array_size(doc) > BATCH_MAX_ITEMS) {
        tp_httpd_error(req, 422, "invalid_profiles", "$", "expected 1..%d profiles",
                       BATCH_MAX_ITEMS);
        goto done;
    }
    json_array_foreach (doc, i, e) {
        char p[64];
        const char *m, *g;
        double t, w;
        jr_index_path(p, "$", i);
        if (jr_object(&r, e, p, keys) < 0 || jr_id(&r, e, p, "model", true, &m) < 0 ||
            jr_id(&r, e, p, "gpu_model", true, &g) < 0 ||
            jr_number(&r, e, p, "tokens_per_s", true, 0, 1e9, &t) < 0 ||
            jr_number(&r, e, p, "watts", true, 1e-3, 1e5, &w) < 0) {
            reject_schema(req, &err);
            goto done;
        }
    }
    op_t *op = op_new(OP_PROFILES, req);
    if (!op || !(op->body = json_dumps(doc, JSON_COMPACT))) {
        op_free(op);
        tp_httpd_error(req, 503, "unavailable", NULL, "out of memory");
        goto done;
    }
    op->doc = json_incref(doc);
    op_enqueue(s, op);
done:
    json_decref(doc);
}

/* ---- the Kubernetes scheduler extender (scheduler/k8s.h) ---- */

static void k8s_call(svc_t *s, tp_httpd_req_t *req, const tp_httpd_view_t *v, bool filter)
{
    json_t *args = body_json(req, v);
    tp_error_t err = {0};
    int status = 500;
    int64_t now = (int64_t)time(NULL);
    if (!args)
        return;
    tp_state_t *eff = state_effective(s, now);
    tp_k8s_view_t view = {s->fleet, eff, svc_load(s), now};
    json_t *out = filter ? tp_k8s_filter(s->k8s, &view, args, &status, &err)
                         : tp_k8s_prioritize(s->k8s, &view, args, &status, &err);
    state_effective_free(eff);
    json_decref(args);
    if (out)
        respond_json(req, status, out);
    else
        tp_httpd_error(req, status, "k8s", NULL, "%s",
                       err.text[0] ? err.text : "out of memory");
}

static void k8s_bind(svc_t *s, tp_httpd_req_t *req, const tp_httpd_view_t *v)
{
    json_t *args = body_json(req, v);
    tp_error_t err = {0};
    tp_workload_t w = {0};
    int node = -1;
    if (!args)
        return;
    int rc =
        tp_k8s_bind_lookup(s->k8s, s->fleet, (int64_t)time(NULL), args, &w, &node, &err);
    if (rc < 0) {
        respond_json(req, rc == TP_EINVAL ? 400 : 200, tp_k8s_bind_result(err.text));
        json_decref(args);
        return;
    }
    char kpath[512];
    json_t *binding = s->kube ? tp_k8s_binding(args, kpath, sizeof kpath, &err) : NULL;
    if (s->kube && !binding) {
        tp_k8s_workload_clear(&w);
        respond_json(req, 200, tp_k8s_bind_result(err.text));
        json_decref(args);
        return;
    }
    tp_k8s_forget(s->k8s, json_string_value(json_object_get(args, "PodUID")));
    json_decref(args);
    op_t *op = op_new(OP_BIND, req);
    bool ok = op && (op->wl = tp_workloads_new_empty()) &&
              (op->specs = calloc(2, sizeof *op->specs)) &&
              wl_append(op->wl, &w, -1) == 0 &&
              (op->specs[0] = json_text(wl_spec(s->fleet, &w)));
    if (ok && binding)
        ok = (op->kpath = strdup(kpath)) && (op->body = json_text(json_incref(binding)));
    json_decref(binding);
    tp_k8s_workload_clear(&w);
    if (!ok) {
        op_free(op);
        respond_json(req, 500, tp_k8s_bind_result("out of memory"));
        return;
    }
    op->node = node;
    op_enqueue(s, op);
}

/* ---- health ---- */

/* Whether v carries a credential that may read (always, without --tokens);
 * unlike authorize() it neither answers nor counts a refusal. */
static bool may_read(const svc_t *s, const tp_httpd_view_t *v)
{
    return (!s->tokens && !s->clients) || tp_role_allows(credential(s, v), TP_ACT_READ);
}

/* Kubernetes probes send no token: without one (with --tokens) the answer
 * says ready or not and names the stale kinds of fact, never a node, a count
 * or the replicas; a reader's token gets the detail. */
static void readyz(svc_t *s, tp_httpd_req_t *req, bool detail)
{
    int64_t now = (int64_t)time(NULL);
    int stale_after = s->ccfg ? s->ccfg->stale_after_s : 300;
    json_t *stale = json_array();
    int64_t age = s->state->observed_at ? now - s->state->observed_at : -1;
    bool fresh = age >= 0 && age <= stale_after;
    if (!fresh)
        json_array_append_new(stale,
                              json_pack("{s:s,s:o}", "fact", "observed_state", "age_s",
                                        age < 0 ? json_null() : json_integer(age)));
    int expired = 0;
    for (int n = 0; n < s->fleet->nnodes; n++) {
        const tp_attestation_t *a = &s->state->nodes[n].att;
        if (a->present && a->expires_at <= now && ++expired <= 50)
            json_array_append_new(stale, json_pack("{s:s,s:s}", "fact", "attestation",
                                                   "node", s->fleet->nodes[n].id));
    }
    bool store_ok;
    json_t *ha = tp_leader_status(s, &store_ok); /* role, leader, store health */
    bool ready = fresh && !s->draining && store_ok;
    if (!detail) {
        json_t *kinds = json_array();
        if (!fresh)
            json_array_append_new(kinds, json_string("observed_state"));
        if (expired)
            json_array_append_new(kinds, json_string("attestation"));
        if (!store_ok)
            json_array_append_new(kinds, json_string("store"));
        json_decref(stale);
        json_decref(ha);
        respond_json(req, ready ? 200 : 503,
                     json_pack("{s:b,s:b,s:o}", "ready", ready, "draining", s->draining,
                               "stale_facts", kinds));
        return;
    }
    respond_json(req, ready ? 200 : 503,
                 json_pack("{s:b,s:b,s:i,s:o,s:o}", "ready", ready, "draining",
                           s->draining, "expired_attestations", expired, "stale", stale,
                           "ha", ha));
}

/* ---- routing ---- */

void api_handle(void *arg, tp_httpd_req_t *req, const tp_httpd_view_t *v)
{
    svc_t *s = arg;
    const char *m = v->method, *p = v->path;
    char id[256];
    bool get = !strcmp(m, "GET"), post = !strcmp(m, "POST"), del = !strcmp(m, "DELETE");
    s->requests++;
    if (!strcmp(p, "/healthz")) {
        if (!get)
            goto method;
        respond_json(req, 200,
                     json_pack("{s:s,s:I,s:I,s:I,s:i}", "status", "alive", "requests",
                               (json_int_t)s->requests, "auth_refused",
                               (json_int_t)s->auth_refused, "tls_refused",
                               (json_int_t)tp_httpd_tls_refused(s->http), "connections",
                               tp_httpd_connections(s->http)));
        return;
    }
    if (s->draining && !get) {
        tp_httpd_error(req, 503, "draining", NULL, "the service is shutting down");
        return;
    }
    if (!get &&
        tp_leader_redirect(s, req, p, v->query)) /* a follower: 307 to the leader */
        return;
    if (!strcmp(p, "/readyz")) {
        if (!get)
            goto method;
        readyz(s, req, may_read(s, v));
    } else if (!strcmp(p, "/v1/placements")) {
        if (post && authorize(s, req, v, TP_ACT_PLACE))
            post_placements(s, req, v, false);
        else if (get && authorize(s, req, v, TP_ACT_READ))
            list_placements(s, req, v);
        else if (!post && !get)
            goto method;
    } else if (!strcmp(p, "/v1/placements:batch")) {
        if (!post)
            goto method;
        if (authorize(s, req, v, TP_ACT_PLACE))
            post_placements(s, req, v, true);
    } else if (tail_id(p, "/v1/placements/", id, sizeof id)) {
        rec_t *r;
        if (get && authorize(s, req, v, TP_ACT_READ)) {
            if ((r = rec_find(s, id)))
                respond_json(req, 200, rec_json(r));
            else
                tp_httpd_error(req, 404, "not_found", NULL, "no workload \"%s\"", id);
        } else if (del && authorize(s, req, v, TP_ACT_PLACE)) {
            if (!(r = rec_find(s, id))) {
                tp_httpd_error(req, 404, "not_found", NULL, "no workload \"%s\"", id);
                return;
            }
            op_t *op = op_new(OP_RELEASE, req);
            if (!op || !(op->workload = strdup(id))) {
                op_free(op);
                tp_httpd_error(req, 503, "unavailable", NULL, "out of memory");
                return;
            }
            op_enqueue(s, op);
        } else if (!get && !del) {
            goto method;
        }
    } else if (!strcmp(p, "/v1/nodes")) {
        if (!get)
            goto method;
        if (authorize(s, req, v, TP_ACT_READ))
            list_nodes(s, req);
    } else if (tail_id(p, "/v1/nodes/", id, sizeof id)) {
        if (!get)
            goto method;
        if (authorize(s, req, v, TP_ACT_READ))
            get_node(s, req, id);
    } else if (!strcmp(p, "/v1/explain")) {
        if (!post)
            goto method;
        if (authorize(s, req, v, TP_ACT_EXPLAIN))
            explain(s, req, v);
    } else if (!strcmp(p, "/v1/power/events")) {
        if (post && authorize(s, req, v, TP_ACT_POWER))
            post_power(s, req, v);
        else if (get && authorize(s, req, v, TP_ACT_READ))
            list_events(s, req);
        else if (!post && !get)
            goto method;
    } else if (!strcmp(p, "/v1/preemptions")) {
        if (!get)
            goto method;
        if (authorize(s, req, v, TP_ACT_READ))
            respond_json(req, 200, json_pack("{s:O}", "preemptions", s->preemptions));
    } else if (!strcmp(p, "/k8s/filter") || !strcmp(p, "/k8s/prioritize") ||
               !strcmp(p, "/k8s/bind")) {
        if (!post)
            goto method;
        if (authorize(s, req, v, TP_ACT_PLACE)) {
            if (!strcmp(p, "/k8s/bind"))
                k8s_bind(s, req, v);
            else
                k8s_call(s, req, v, !strcmp(p, "/k8s/filter"));
        }
    } else if (!strcmp(p, "/v1/profiles")) {
        if (!post)
            goto method;
        if (authorize(s, req, v, TP_ACT_PROFILES))
            post_profiles(s, req, v);
    } else if (obs_path(p)) {
        if (!get)
            goto method;
        if (!strcmp(p, "/") || authorize(s, req, v, TP_ACT_READ))
            obs_route(s, req, v);
    } else {
        tp_httpd_error(req, 404, "not_found", NULL, "no route %s %s", m, p);
    }
    return;
method:
    tp_httpd_error(req, 405, "method_not_allowed", NULL, "%s is not allowed on %s", m, p);
}
