/*
 * model/workloads.c — loads pending and running workload lists against a fleet,
 * and resolves each workload's effective requirements: its class, tightened by
 * its own fields. A field that would loosen the class is an error, not ignored.
 */
#include "model/model_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_GPUS 64
#define MAX_GANG_NODES 4096

tp_workloads_t *tp_workloads_new_empty(void)
{
    tp_workloads_t *ws = calloc(1, sizeof *ws);
    if (ws && !(ws->ix = tp_strmap_new(0))) {
        free(ws);
        return NULL;
    }
    return ws;
}

void tp_workloads_free(tp_workloads_t *ws)
{
    if (!ws)
        return;
    for (int i = 0; ws->w && i < ws->n; i++) {
        free(ws->w[i].id);
        free(ws->w[i].tenant);
        free(ws->w[i].model_name);
        free(ws->w[i].gpu_models);
        free(ws->w[i].residency);
    }
    free(ws->w);
    tp_strmap_free(ws->ix);
    free(ws);
}

int tp_workloads_find(const tp_workloads_t *ws, const char *id)
{
    return tp_strmap_get(ws->ix, id);
}

int tp_workloads_check_disjoint(const tp_workloads_t *pending,
                                const tp_workloads_t *running, tp_error_t *err)
{
    for (int i = 0; i < pending->n; i++)
        if (tp_workloads_find(running, pending->w[i].id) >= 0)
            return tp_error_set(
                err, TP_EDUP,
                "workload \"%s\" is both pending and running: a workload id "
                "must be unique across --workloads and --running",
                pending->w[i].id);
    return 0;
}

/* Applies the workload's own cpu_tee / gpu_cc / attestation fields to req. */
static int tighten(jr_t *r, const tp_class_t *c, tp_req_t *req, const json_t *v,
                   const char *path)
{
    char kpath[JR_PATH];
    unsigned mask = 0;
    bool cc = false;
    tp_req_t own = {0};
    if (tp__tee_list(r, v, path, "cpu_tee", &mask) < 0)
        return r->err->code;
    if (mask) {
        if (req->tee_mask && (mask & ~req->tee_mask)) {
            jr_key_path(kpath, path, "cpu_tee");
            return jr_fail(r, TP_EINVAL, kpath,
                           "lists a TEE that class \"%s\" does not allow; a workload may "
                           "tighten its class, never loosen it",
                           c->name);
        }
        req->tee_mask = mask;
    }
    if (json_object_get(v, "gpu_cc")) {
        if (jr_bool(r, v, path, "gpu_cc", true, &cc) < 0)
            return r->err->code;
        if (req->gpu_cc && !cc) {
            jr_key_path(kpath, path, "gpu_cc");
            return jr_fail(
                r, TP_EINVAL, kpath,
                "class \"%s\" requires gpu_cc; a workload may tighten its class, "
                "never loosen it",
                c->name);
        }
        req->gpu_cc = req->gpu_cc || cc;
    }
    if (tp__attestation_req(r, v, path, &own) < 0)
        return r->err->code;
    if (own.attestation) {
        jr_key_path(kpath, path, "attestation");
        if (req->attestation &&
            tp_att_rank(own.min_status) < tp_att_rank(req->min_status))
            return jr_fail(r, TP_EINVAL, kpath,
                           "min_status \"%s\" is weaker than class \"%s\"'s \"%s\"",
                           tp_att_status_name(own.min_status), c->name,
                           tp_att_status_name(req->min_status));
        if (req->attestation && req->max_age_s &&
            (own.max_age_s == 0 || own.max_age_s > req->max_age_s)) {
            if (own.max_age_s == 0)
                own.max_age_s = req->max_age_s; /* not given: the class's stands */
            else
                return jr_fail(r, TP_EINVAL, kpath,
                               "max_age_s %lld is longer than class \"%s\"'s %lld",
                               (long long)own.max_age_s, c->name,
                               (long long)req->max_age_s);
        }
        req->attestation = true;
        req->min_status = own.min_status;
        req->max_age_s = own.max_age_s;
    }
    return 0;
}

static int load_id_list(jr_t *r, const json_t *v, const char *path, const char *key,
                        const tp_strmap_t *ix, const char *what, bool dangling_is_error,
                        int **out, int *nout)
{
    const json_t *arr = json_object_get(v, key), *e;
    char apath[JR_PATH], epath[JR_PATH];
    size_t i;
    jr_key_path(apath, path, key);
    if (jr_array(r, arr, apath) < 0)
        return r->err->code;
    if (json_array_size(arr) == 0)
        return jr_fail(r, TP_EINVAL, apath, "expected a non-empty list of %s", what);
    *out = calloc(json_array_size(arr), sizeof **out);
    if (!*out)
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
    json_array_foreach (arr, i, e) {
        jr_index_path(epath, apath, i);
        if (!json_is_string(e) || !*json_string_value(e))
            return jr_fail(r, TP_EINVAL, epath, "expected a %s name", what);
        const char *name = json_string_value(e);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(json_string_value(json_array_get(arr, j)), name))
                return jr_fail(r, TP_EDUP, epath, "\"%s\" listed twice", name);
        int x = tp_strmap_get(ix, name);
        if (x < 0 && dangling_is_error)
            return jr_fail(r, TP_EREF, epath, "no %s \"%s\" in the fleet", what, name);
        if (x >= 0)
            (*out)[(*nout)++] = x;
    }
    return 0;
}

static int load_one(jr_t *r, const tp_fleet_t *f, tp_wl_kind_t kind, tp_workload_t *w,
                    const json_t *v, const char *path)
{
    static const char *const pending_keys[] = {
        "id",          "tenant",      "model",    "gpus",        "gpu_models",
        "sensitivity", "residency",   "priority", "preemptible", "cpu_tee",
        "gpu_cc",      "attestation", "nodes",    "together",    NULL};
    static const char *const running_keys[] = {
        "id",        "tenant",   "model",       "gpus",    "gpu_models", "sensitivity",
        "residency", "priority", "preemptible", "cpu_tee", "gpu_cc",     "attestation",
        "node",      "nodes",    "together",    "members", NULL};
    const char *id = NULL, *tenant = NULL, *model = NULL, *sens = NULL, *node = NULL,
               *together = NULL;
    long long gpus = 0, prio = 0, nodes = 1;
    char kpath[JR_PATH];
    const tp_class_t *c;

    w->node = -1;
    w->model = -1;
    w->nodes = 1;
    w->preemptible = true;
    w->any_gpu_model = true;
    if (jr_object(r, v, path, kind == TP_WL_RUNNING ? running_keys : pending_keys) < 0 ||
        jr_id(r, v, path, "id", true, &id) < 0 || jr_strdup(r, id, &w->id) < 0 ||
        jr_id(r, v, path, "tenant", false, &tenant) < 0 ||
        jr_id(r, v, path, "model", false, &model) < 0 ||
        jr_int(r, v, path, "gpus", true, 1, MAX_GPUS, &gpus) < 0 ||
        jr_id(r, v, path, "sensitivity", true, &sens) < 0 ||
        jr_int(r, v, path, "priority", false, 0, 100, &prio) < 0 ||
        jr_bool(r, v, path, "preemptible", false, &w->preemptible) < 0 ||
        jr_int(r, v, path, "nodes", false, 2, MAX_GANG_NODES, &nodes) < 0 ||
        jr_id(r, v, path, "together", false, &together) < 0)
        return r->err->code;
    w->gpus = (int)gpus;
    w->nodes = (int)nodes;
    if (together && nodes < 2) {
        jr_key_path(kpath, path, "together");
        return jr_fail(r, TP_EINVAL, kpath,
                       "\"together\" applies to multi-node work: give \"nodes\" (2 or "
                       "more) too");
    }
    if (together && (w->together = 1 + tp_fleet_kind(f, together)) == 0) {
        jr_key_path(kpath, path, "together");
        return jr_fail(r, TP_EREF, kpath,
                       "no power domain of kind \"%s\" in the fleet (a domain's "
                       "\"kind\")",
                       together);
    }
    if (tenant && f->ntenants > 0 &&
        (w->tenant_ix = 1 + tp_fleet_tenant(f, tenant)) == 0) {
        jr_key_path(kpath, path, "tenant");
        return jr_fail(r, TP_EREF, kpath,
                       "no tenant \"%s\" in the fleet's policy.tenants (quotas would "
                       "not apply)",
                       tenant);
    }
    w->priority = (int)prio;
    if ((tenant && jr_strdup(r, tenant, &w->tenant) < 0) ||
        (model && jr_strdup(r, model, &w->model_name) < 0))
        return r->err->code;
    if (model)
        w->model = tp_strmap_get(f->model_ix, model);
    if ((w->cls = tp_fleet_class(f, sens)) < 0) {
        jr_key_path(kpath, path, "sensitivity");
        return jr_fail(r, TP_EREF, kpath, "no class \"%s\" in the fleet's policy.classes",
                       sens);
    }
    c = &f->classes[w->cls];
    w->req = c->req;
    if (tighten(r, c, &w->req, v, path) < 0)
        return r->err->code;
    if (json_object_get(v, "gpu_models")) {
        w->any_gpu_model = false;
        /* A GPU model the fleet lacks is not an error: it simply matches no node. */
        if (load_id_list(r, v, path, "gpu_models", f->gpu_model_ix, "GPU model", false,
                         &w->gpu_models, &w->ngpu_models) < 0)
            return r->err->code;
    }
    if (json_object_get(v, "residency")) {
        if (load_id_list(r, v, path, "residency", f->region_ix, "region", true,
                         &w->residency, &w->nresidency) < 0)
            return r->err->code;
        if (w->req.residency == TP_RESIDENCY_NONE)
            w->req.residency = TP_RESIDENCY_DECLARED;
    } else if (w->req.residency != TP_RESIDENCY_NONE) {
        jr_key_path(kpath, path, "residency");
        return jr_fail(
            r, TP_EINVAL, kpath,
            "class \"%s\" is residency-bound: the workload must list the regions "
            "its data may live in",
            c->name);
    }
    if (kind == TP_WL_RUNNING && w->nodes > 1) {
        if (json_object_get(v, "node")) {
            jr_key_path(kpath, path, "node");
            return jr_fail(r, TP_EINVAL, kpath,
                           "a running gang lists its nodes in \"members\", not \"node\"");
        }
        return 0; /* members: load_root expands them */
    }
    if (kind == TP_WL_RUNNING && json_object_get(v, "members")) {
        jr_key_path(kpath, path, "members");
        return jr_fail(r, TP_EINVAL, kpath,
                       "\"members\" belongs to a running gang (\"nodes\" of 2 or more)");
    }
    if (kind == TP_WL_RUNNING) {
        if (jr_id(r, v, path, "node", true, &node) < 0)
            return r->err->code;
        if ((w->node = tp_fleet_node(f, node)) < 0) {
            jr_key_path(kpath, path, "node");
            return jr_fail(r, TP_EREF, kpath, "no node \"%s\" in the fleet", node);
        }
    }
    return 0;
}

/* A deep copy of a loaded entry (a running gang's further members). */
static int dup_entry(jr_t *r, tp_workload_t *dst, const tp_workload_t *src)
{
    *dst = *src;
    dst->id = dst->tenant = dst->model_name = NULL;
    dst->gpu_models = dst->residency = NULL;
    if (jr_strdup(r, src->id, &dst->id) < 0 ||
        (src->tenant && jr_strdup(r, src->tenant, &dst->tenant) < 0) ||
        (src->model_name && jr_strdup(r, src->model_name, &dst->model_name) < 0))
        return r->err->code;
    dst->gpu_models = malloc(((size_t)src->ngpu_models + 1) * sizeof *dst->gpu_models);
    dst->residency = malloc(((size_t)src->nresidency + 1) * sizeof *dst->residency);
    if (!dst->gpu_models || !dst->residency)
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
    if (src->ngpu_models)
        memcpy(dst->gpu_models, src->gpu_models,
               (size_t)src->ngpu_models * sizeof *dst->gpu_models);
    if (src->nresidency)
        memcpy(dst->residency, src->residency,
               (size_t)src->nresidency * sizeof *dst->residency);
    return 0;
}

/* A running gang's "members": exactly `nodes` distinct node ids, which become
 * entries at ws->w[at .. at + nodes) (ws->w[at] is already loaded). */
static int expand_members(jr_t *r, const tp_fleet_t *f, tp_workloads_t *ws, int at,
                          const json_t *v, const char *path)
{
    const json_t *arr = json_object_get(v, "members"), *e;
    tp_workload_t *w0 = &ws->w[at];
    char apath[JR_PATH], epath[JR_PATH];
    size_t k;
    jr_key_path(apath, path, "members");
    if (!arr)
        return jr_fail(r, TP_EINVAL, apath,
                       "missing required key (a running gang lists its member nodes)");
    if (jr_array(r, arr, apath) < 0)
        return r->err->code;
    if ((int)json_array_size(arr) != w0->nodes)
        return jr_fail(r, TP_EINVAL, apath,
                       "expected %d member nodes (\"nodes\"), got %zu", w0->nodes,
                       json_array_size(arr));
    json_array_foreach (arr, k, e) {
        jr_index_path(epath, apath, k);
        if (!json_is_string(e))
            return jr_fail(r, TP_EINVAL, epath, "expected a node id");
        int n = tp_fleet_node(f, json_string_value(e));
        if (n < 0)
            return jr_fail(r, TP_EREF, epath, "no node \"%s\" in the fleet",
                           json_string_value(e));
        for (size_t j = 0; j < k; j++)
            if (ws->w[at + (int)j].node == n)
                return jr_fail(r, TP_EDUP, epath,
                               "node \"%s\" listed twice: a gang's members run on "
                               "distinct nodes",
                               json_string_value(e));
        if (k > 0) {
            ws->n = at + (int)k + 1; /* so that free() sees it */
            if (dup_entry(r, &ws->w[at + (int)k], w0) < 0)
                return r->err->code;
        }
        ws->w[at + (int)k].node = n;
        ws->w[at + (int)k].gang = at + 1;
    }
    int kind = tp_wl_together(w0);
    if (kind >= 0) {
        int d0 = tp_fleet_node_domain_of_kind(f, ws->w[at].node, kind);
        for (int j = 0; j < w0->nodes; j++)
            if (d0 < 0 ||
                tp_fleet_node_domain_of_kind(f, ws->w[at + j].node, kind) != d0) {
                jr_index_path(epath, apath, (size_t)j);
                return jr_fail(r, TP_EINVAL, epath,
                               "member node \"%s\" is not under the same \"%s\" domain "
                               "as the first member",
                               f->nodes[ws->w[at + j].node].id, f->kinds[kind]);
            }
    }
    return 0;
}

static int load_root(jr_t *r, const tp_fleet_t *f, tp_wl_kind_t kind, tp_workloads_t *ws,
                     const json_t *root)
{
    const json_t *v;
    size_t i, total = 0;
    if (jr_array(r, root, "$") < 0)
        return r->err->code;
    /* Room for every member of every running gang. */
    json_array_foreach (root, i, v) {
        const json_t *nodes = json_object_get(v, "nodes");
        long long k = json_is_integer(nodes) ? json_integer_value(nodes) : 1;
        total += kind == TP_WL_RUNNING && k > 1 && k <= MAX_GANG_NODES ? (size_t)k : 1;
    }
    ws->w = calloc(total + 1, sizeof *ws->w);
    if (!ws->w)
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
    int at = 0;
    json_array_foreach (root, i, v) {
        char path[JR_PATH];
        jr_index_path(path, "$", i);
        ws->n = at + 1; /* so that free() sees the partly loaded entry */
        if (load_one(r, f, kind, &ws->w[at], v, path) < 0)
            return r->err->code;
        if (kind == TP_WL_RUNNING && ws->w[at].nodes > 1 &&
            expand_members(r, f, ws, at, v, path) < 0)
            return r->err->code;
        int rc = tp_strmap_put(ws->ix, ws->w[at].id, at);
        if (rc == TP_EDUP) {
            char ipath[JR_PATH];
            jr_key_path(ipath, path, "id");
            return jr_fail(r, TP_EDUP, ipath, "duplicate workload id \"%s\"",
                           ws->w[at].id);
        }
        if (rc < 0)
            return tp_error_set(r->err, rc, "%s: out of memory", r->file);
        at += ws->w[at].gang ? ws->w[at].nodes : 1;
        ws->n = at;
    }
    return 0;
}

static int finish(jr_t *r, const tp_fleet_t *f, tp_wl_kind_t kind, json_t *root,
                  tp_workloads_t **out)
{
    tp_workloads_t *ws;
    int rc;
    *out = NULL;
    if (!root)
        return r->err->code;
    ws = tp_workloads_new_empty();
    if (!ws) {
        json_decref(root);
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
    }
    rc = load_root(r, f, kind, ws, root);
    json_decref(root);
    if (rc < 0) {
        tp_workloads_free(ws);
        return rc;
    }
    *out = ws;
    return 0;
}

int tp_workloads_load(const char *path, const tp_fleet_t *f, tp_wl_kind_t kind,
                      tp_workloads_t **out, tp_error_t *err)
{
    jr_t r = {path, err};
    tp_error_clear(err);
    return finish(&r, f, kind, jr_parse_file(&r, path), out);
}

int tp_workloads_load_buffer(const char *name, const char *text, size_t len,
                             const tp_fleet_t *f, tp_wl_kind_t kind, tp_workloads_t **out,
                             tp_error_t *err)
{
    jr_t r = {name, err};
    tp_error_clear(err);
    return finish(&r, f, kind, jr_parse_buffer(&r, text, len), out);
}
