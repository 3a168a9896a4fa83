/*
 * scheduler/k8s.c — the Kubernetes scheduler-extender logic (see k8s.h).
 *
 * A pod is read in two steps: pod_read() checks the pod's shape and extracts its
 * facts (identity, the trustplace.io/ labels and annotations, the GPU count) into
 * an owned pod_facts_t; facts_workload() turns facts into a workload against a
 * fleet, through model/'s workload loader so that a pod means exactly what the
 * same workload in a file would. The bind cache keeps facts, not workloads, so
 * that bind rebuilds the workload against the fleet of that moment.
 */
#include "scheduler/k8s.h"

#include "util/json_in.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "trustplace.io/"
#define GPU_RESOURCE "nvidia.com/gpu"
#define MAX_GPUS 64
#define ID_MAX 128
#define DEF_CACHE 4096
#define DEF_TTL 900
#define DEF_MAX_NODES 20000

enum { K_SENS, K_TENANT, K_MODEL, K_GPU_MODELS, K_RESIDENCY, K_PRIORITY, K_PREEMPT, K_N };
static const char *const key_names[K_N] = {"sensitivity", "tenant",    "model",
                                           "gpu-models",  "residency", "priority",
                                           "preemptible"};

/* What a pod asks for, before the fleet gives it meaning. Every string owned. */
typedef struct {
    char *uid, *name, *ns;
    char *who;        /* "pod NS/NAME", for messages */
    char *val[K_N];   /* the label or annotation value; NULL when absent */
    char *where[K_N]; /* its JSON path */
    int gpus;
} pod_facts_t;

struct entry {
    pod_facts_t pf;
    int64_t at;    /* when filter saw it */
    uint64_t used; /* LRU tick */
    bool live;
};

struct tp_k8s {
    tp_k8s_options_t opt;
    char *default_sens;
    struct entry *e;
    int cap, nslots; /* slots ever used (≤ cap) */
    json_t *ix;      /* uid → slot */
    uint64_t tick;
};

/* ---- small helpers ------------------------------------------------------------ */

static void facts_free(pod_facts_t *pf)
{
    free(pf->uid);
    free(pf->name);
    free(pf->ns);
    free(pf->who);
    for (int i = 0; i < K_N; i++) {
        free(pf->val[i]);
        free(pf->where[i]);
    }
    memset(pf, 0, sizeof *pf);
}

static const char *type_name(const json_t *v)
{
    return v ? jr_type_name(v) : "nothing";
}

/* jr_object() that also accepts NULL (no body at all). */
static int strict_object(jr_t *r, const json_t *v, const char *path,
                         const char *const *keys)
{
    if (!v)
        return jr_fail(r, TP_EINVAL, path, "expected an object, got nothing");
    return jr_object(r, v, path, keys);
}

/* A member that must be a non-empty string without NUL. */
static int need_string(jr_t *r, const json_t *obj, const char *path, const char *key,
                       const char **out)
{
    char kpath[JR_PATH];
    if (jr_string(r, obj, path, key, true, out) < 0)
        return r->err->code;
    if (!**out) {
        jr_key_path(kpath, path, key);
        return jr_fail(r, TP_EINVAL, kpath, "expected a non-empty string");
    }
    return 0;
}

/* Optional member of one JSON type: absent or null → *out NULL. */
static int opt_typed(jr_t *r, const json_t *obj, const char *path, const char *key,
                     json_type want, const char *what, const json_t **out)
{
    const json_t *v = json_object_get(obj, key);
    char kpath[JR_PATH];
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (json_typeof(v) != want) {
        jr_key_path(kpath, path, key);
        return jr_fail(r, TP_EINVAL, kpath, "expected %s, got %s", what, type_name(v));
    }
    *out = v;
    return 0;
}

static int opt_object(jr_t *r, const json_t *obj, const char *path, const char *key,
                      const json_t **out)
{
    return opt_typed(r, obj, path, key, JSON_OBJECT, "an object", out);
}

static int opt_array(jr_t *r, const json_t *obj, const char *path, const char *key,
                     const json_t **out)
{
    return opt_typed(r, obj, path, key, JSON_ARRAY, "an array", out);
}

/* ---- the pod -------------------------------------------------------------------- */

/* The trustplace.io/ keys of one labels or annotations map. */
static int read_keys(jr_t *r, const json_t *map, const char *path, pod_facts_t *pf)
{
    const char *key;
    const json_t *v;
    char kpath[JR_PATH];
    json_object_foreach ((json_t *)map, key, v) {
        int k;
        if (strncmp(key, PREFIX, sizeof PREFIX - 1) != 0)
            continue;
        jr_key_path(kpath, path, key);
        for (k = 0; k < K_N; k++)
            if (!strcmp(key + sizeof PREFIX - 1, key_names[k]))
                break;
        if (k == K_N)
            return jr_fail(
                r, TP_EINVAL, kpath,
                "unknown trustplace.io key (expected one of: sensitivity, "
                "tenant, model, gpu-models, residency, priority, preemptible)");
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
            return jr_fail(r, TP_EINVAL, kpath, "expected a string, got %s",
                           type_name(v));
        if (pf->val[k]) {
            if (strcmp(pf->val[k], json_string_value(v)) != 0)
                return jr_fail(r, TP_EINVAL, kpath,
                               "\"%.64s\" contradicts %s = \"%.64s\"; set it once",
                               json_string_value(v), pf->where[k], pf->val[k]);
            continue;
        }
        if (!(pf->val[k] = strdup(json_string_value(v))) ||
            !(pf->where[k] = strdup(kpath)))
            return tp_error_set(r->err, TP_ENOMEM, "out of memory");
    }
    return 0;
}

/* The nvidia.com/gpu count of one container: its request, else its limit. */
static int container_gpus(jr_t *r, const json_t *c, const char *path, long long *out)
{
    static const char *const lists[] = {"requests", "limits"};
    const json_t *res, *m;
    char rpath[JR_PATH], lpath[JR_PATH], qpath[JR_PATH];
    long long got[2] = {-1, -1};
    *out = 0;
    if (!json_is_object(c))
        return jr_fail(r, TP_EINVAL, path, "expected an object, got %s", type_name(c));
    if (opt_object(r, c, path, "resources", &res) < 0)
        return r->err->code;
    if (!res)
        return 0;
    jr_key_path(rpath, path, "resources");
    for (int i = 0; i < 2; i++) {
        const json_t *q;
        if (opt_object(r, res, rpath, lists[i], &m) < 0)
            return r->err->code;
        if (!m || !(q = json_object_get(m, GPU_RESOURCE)))
            continue;
        jr_key_path(lpath, rpath, lists[i]);
        jr_key_path(qpath, lpath, GPU_RESOURCE);
        const char *s = json_is_string(q) ? json_string_value(q) : NULL;
        size_t n = s ? strlen(s) : 0;
        if (!s || n == 0 || n > 9 || strspn(s, "0123456789") != n)
            return jr_fail(
                r, TP_EINVAL, qpath,
                "expected a whole number of GPUs as a decimal string, got %s%s%.32s%s",
                s ? "\"" : type_name(q), s ? "" : "", s ? s : "", s ? "\"" : "");
        got[i] = strtoll(s, NULL, 10);
    }
    if (got[0] >= 0 && got[1] >= 0 && got[0] != got[1])
        return jr_fail(
            r, TP_EINVAL, rpath,
            "nvidia.com/gpu request %lld differs from its limit %lld (extended "
            "resources must not be overcommitted)",
            got[0], got[1]);
    *out = got[0] >= 0 ? got[0] : got[1] >= 0 ? got[1] : 0;
    return 0;
}

/* Sum over spec.containers, raised to the largest single initContainer. */
static int pod_gpus(jr_t *r, const json_t *spec, const char *path, const char *who,
                    int *out)
{
    const json_t *arr, *c;
    char apath[JR_PATH], cpath[JR_PATH];
    long long sum = 0, init = 0, g;
    size_t i;
    if (opt_array(r, spec, path, "containers", &arr) < 0)
        return r->err->code;
    jr_key_path(apath, path, "containers");
    if (!arr || json_array_size(arr) == 0)
        return jr_fail(r, TP_EINVAL, apath, "expected a non-empty array of containers");
    json_array_foreach (arr, i, c) {
        jr_index_path(cpath, apath, i);
        if (container_gpus(r, c, cpath, &g) < 0)
            return r->err->code;
        sum += g;
        if (sum > MAX_GPUS)
            break;
    }
    if (opt_array(r, spec, path, "initContainers", &arr) < 0)
        return r->err->code;
    jr_key_path(apath, path, "initContainers");
    json_array_foreach (arr, i, c) {
        jr_index_path(cpath, apath, i);
        if (container_gpus(r, c, cpath, &g) < 0)
            return r->err->code;
        init = g > init ? g : init;
    }
    g = sum > init ? sum : init;
    if (g < 1 || g > MAX_GPUS)
        return jr_fail(
            r, TP_EINVAL, path,
            "%s requests %s%lld nvidia.com/gpu; trustplace places 1..%d GPUs on "
            "one node",
            who, g > MAX_GPUS ? "more than " : "", g > MAX_GPUS ? (long long)MAX_GPUS : g,
            MAX_GPUS);
    *out = (int)g;
    return 0;
}

/* Checks a pod's shape and extracts its facts. */
static int pod_read(jr_t *r, const json_t *pod, const char *path, pod_facts_t *pf)
{
    const json_t *meta, *spec, *map;
    const char *name, *ns, *uid;
    char mpath[JR_PATH], spath[JR_PATH], lpath[JR_PATH];
    memset(pf, 0, sizeof *pf);
    if (!json_is_object(pod))
        return jr_fail(r, TP_EINVAL, path, "expected a v1.Pod object, got %s",
                       type_name(pod));
    jr_key_path(mpath, path, "metadata");
    jr_key_path(spath, path, "spec");
    if (opt_object(r, pod, path, "metadata", &meta) < 0)
        return r->err->code;
    if (!meta)
        return jr_fail(r, TP_EINVAL, mpath, "expected the pod's metadata object");
    if (need_string(r, meta, mpath, "name", &name) < 0 ||
        need_string(r, meta, mpath, "namespace", &ns) < 0 ||
        need_string(r, meta, mpath, "uid", &uid) < 0)
        return r->err->code;
    size_t wl = strlen(ns) + strlen(name) + 6;
    if (!(pf->uid = strdup(uid)) || !(pf->name = strdup(name)) ||
        !(pf->ns = strdup(ns)) || !(pf->who = malloc(wl)))
        return tp_error_set(r->err, TP_ENOMEM, "out of memory");
    snprintf(pf->who, wl, "pod %s/%s", ns, name);
    if (opt_object(r, meta, mpath, "labels", &map) < 0)
        return r->err->code;
    jr_key_path(lpath, mpath, "labels");
    if (map && read_keys(r, map, lpath, pf) < 0)
        return r->err->code;
    if (opt_object(r, meta, mpath, "annotations", &map) < 0)
        return r->err->code;
    jr_key_path(lpath, mpath, "annotations");
    if (map && read_keys(r, map, lpath, pf) < 0)
        return r->err->code;
    if (opt_object(r, pod, path, "spec", &spec) < 0)
        return r->err->code;
    if (!spec)
        return jr_fail(r, TP_EINVAL, spath, "expected the pod's spec object");
    return pod_gpus(r, spec, spath, pf->who, &pf->gpus);
}

/* Splits a comma-separated list (spaces around items allowed) into a new JSON
 * array of distinct identifiers; each must pass check (may be NULL). */
static int split_list(jr_t *r, const char *s, const char *where, json_t **out)
{
    json_t *arr = json_array();
    const char *p = s;
    *out = NULL;
    if (!arr)
        return tp_error_set(r->err, TP_ENOMEM, "out of memory");
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char item[ID_MAX + 1];
        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == 0 || n > ID_MAX) {
            json_decref(arr);
            return jr_fail(r, TP_EINVAL, where,
                           "expected a comma-separated list of names (1..%d bytes each), "
                           "got \"%.80s\"",
                           ID_MAX, s);
        }
        memcpy(item, p, n);
        item[n] = '\0';
        if (jr_check_id(r, where, item) < 0) {
            json_decref(arr);
            return r->err->code;
        }
        for (size_t i = 0; i < json_array_size(arr); i++)
            if (!strcmp(json_string_value(json_array_get(arr, i)), item)) {
                json_decref(arr);
                return jr_fail(r, TP_EDUP, where, "\"%s\" listed twice", item);
            }
        if (json_array_append_new(arr, json_string(item)) < 0) {
            json_decref(arr);
            return tp_error_set(r->err, TP_ENOMEM, "out of memory");
        }
        if (!end)
            break;
        p = end + 1;
    }
    *out = arr;
    return 0;
}

static void list_names(char *buf, size_t size, char *const *names, int n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < size; i++)
        used +=
            (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
}

/* Builds the workload document of docs/formats.md from the facts, checking each
 * value against the label or annotation it came from. */
static int facts_doc(const tp_k8s_t *k, const tp_fleet_t *f, jr_t *r,
                     const pod_facts_t *pf, json_t *doc)
{
    const char *sens = pf->val[K_SENS] ? pf->val[K_SENS] : k->default_sens;
    char id[ID_MAX + 1], names[256];
    json_t *list;
    int cls;
    if (!sens)
        return tp_error_set(
            r->err, TP_EINVAL,
            "%s: no trustplace.io/sensitivity label or annotation, and no "
            "default class is configured: refusing to guess a security class",
            pf->who);
    if (pf->val[K_SENS] && jr_check_id(r, pf->where[K_SENS], sens) < 0)
        return r->err->code;
    if ((cls = tp_fleet_class(f, sens)) < 0) {
        char **cn = malloc(sizeof *cn * (size_t)(f->nclasses + 1));
        if (!cn)
            return tp_error_set(r->err, TP_ENOMEM, "out of memory");
        for (int i = 0; i < f->nclasses; i++)
            cn[i] = f->classes[i].name;
        list_names(names, sizeof names, cn, f->nclasses);
        free(cn);
        return jr_fail(
            r, TP_EREF, pf->val[K_SENS] ? pf->where[K_SENS] : "default_sensitivity",
            "no class \"%.64s\" in the fleet's policy.classes (expected one of: %s)",
            sens, names);
    }
    /* Workload id: NS.NAME (a namespace has no dot), else the UID. */
    int idn = snprintf(id, sizeof id, "%s.%s", pf->ns, pf->name);
    if (idn < 0 || idn > ID_MAX)
        snprintf(id, sizeof id, "%.128s", pf->uid);
    if (jr_check_id(r, "$.Pod.metadata", id) < 0)
        return r->err->code;
    if (json_object_set_new(doc, "id", json_string(id)) < 0 ||
        json_object_set_new(doc, "gpus", json_integer(pf->gpus)) < 0 ||
        json_object_set_new(doc, "sensitivity", json_string(sens)) < 0)
        return tp_error_set(r->err, TP_ENOMEM, "out of memory");
    const char *tenant = pf->val[K_TENANT] ? pf->val[K_TENANT] : pf->ns;
    if (jr_check_id(r,
                    pf->val[K_TENANT] ? pf->where[K_TENANT] : "$.Pod.metadata.namespace",
                    tenant) < 0)
        return r->err->code;
    if (json_object_set_new(doc, "tenant", json_string(tenant)) < 0)
        return tp_error_set(r->err, TP_ENOMEM, "out of memory");
    if (pf->val[K_MODEL]) {
        if (jr_check_id(r, pf->where[K_MODEL], pf->val[K_MODEL]) < 0)
            return r->err->code;
        if (json_object_set_new(doc, "model", json_string(pf->val[K_MODEL])) < 0)
            return tp_error_set(r->err, TP_ENOMEM, "out of memory");
    }
    if (pf->val[K_GPU_MODELS]) {
        if (split_list(r, pf->val[K_GPU_MODELS], pf->where[K_GPU_MODELS], &list) < 0)
            return r->err->code;
        if (json_object_set_new(doc, "gpu_models", list) < 0)
            return tp_error_set(r->err, TP_ENOMEM, "out of memory");
    }
    if (pf->val[K_RESIDENCY]) {
        if (split_list(r, pf->val[K_RESIDENCY], pf->where[K_RESIDENCY], &list) < 0)
            return r->err->code;
        if (json_object_set_new(doc, "residency", list) < 0)
            return tp_error_set(r->err, TP_ENOMEM, "out of memory");
        for (size_t i = 0; i < json_array_size(list); i++) {
            const char *reg = json_string_value(json_array_get(list, i));
            if (tp_fleet_region(f, reg) < 0) {
                char **rn = malloc(sizeof *rn * (size_t)(f->nregions + 1));
                if (!rn)
                    return tp_error_set(r->err, TP_ENOMEM, "out of memory");
                for (int j = 0; j < f->nregions; j++)
                    rn[j] = f->regions[j].id;
                list_names(names, sizeof names, rn, f->nregions);
                free(rn);
                return jr_fail(r, TP_EREF, pf->where[K_RESIDENCY],
                               "no region \"%s\" in the fleet (expected some of: %s)",
                               reg, names);
            }
        }
    } else if (f->classes[cls].req.residency != TP_RESIDENCY_NONE) {
        return tp_error_set(r->err, TP_EINVAL,
                            "%s: class \"%s\" is residency-bound: the pod must list the "
                            "regions its data may live in (annotation %sresidency)",
                            pf->who, sens, PREFIX);
    }
    if (pf->val[K_PRIORITY]) {
        const char *s = pf->val[K_PRIORITY];
        size_t n = strlen(s);
        long long p =
            n && n <= 3 && strspn(s, "0123456789") == n ? strtoll(s, NULL, 10) : -1;
        if (p < 0 || p > 100)
            return jr_fail(r, TP_EINVAL, pf->where[K_PRIORITY],
                           "expected an integer in 0..100, got \"%.32s\"", s);
        if (json_object_set_new(doc, "priority", json_integer(p)) < 0)
            return tp_error_set(r->err, TP_ENOMEM, "out of memory");
    }
    if (pf->val[K_PREEMPT]) {
        const char *s = pf->val[K_PREEMPT];
        if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
            return jr_fail(r, TP_EINVAL, pf->where[K_PREEMPT],
                           "expected \"true\" or \"false\", got \"%.32s\"", s);
        if (json_object_set_new(doc, "preemptible", json_boolean(s[0] == 't')) < 0)
            return tp_error_set(r->err, TP_ENOMEM, "out of memory");
    }
    return 0;
}

static int facts_workload(const tp_k8s_t *k, const tp_fleet_t *f, const pod_facts_t *pf,
                          tp_workload_t *w, tp_error_t *err)
{
    jr_t r = {pf->who, err};
    json_t *doc = json_object(), *arr = json_array();
    tp_workloads_t *ws = NULL;
    tp_error_t lerr;
    char *text = NULL;
    int rc;
    memset(w, 0, sizeof *w);
    w->node = -1;
    if (!doc || !arr || json_array_append(arr, doc) < 0) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = facts_doc(k, f, &r, pf, doc)) < 0)
        goto out;
    if (!(text = json_dumps(arr, JSON_COMPACT))) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto out;
    }
    /* model/'s loader gives the workload its meaning (class, tightening, indices). */
    if ((rc = tp_workloads_load_buffer(pf->who, text, strlen(text), f, TP_WL_PENDING, &ws,
                                       &lerr)) < 0) {
        tp_error_set(err, rc, "%s (the workload its labels describe)", lerr.text);
        goto out;
    }
    *w = ws->w[0];
    memset(&ws->w[0], 0, sizeof ws->w[0]);
    rc = 0;
out:
    tp_workloads_free(ws);
    free(text);
    json_decref(doc);
    json_decref(arr);
    return rc;
}

void tp_k8s_workload_clear(tp_workload_t *w)
{
    free(w->id);
    free(w->tenant);
    free(w->model_name);
    free(w->gpu_models);
    free(w->residency);
    memset(w, 0, sizeof *w);
    w->node = -1;
}

int tp_k8s_pod_workload(const tp_k8s_t *k, const tp_fleet_t *f, const json_t *pod,
                        const char *path, tp_workload_t *w_out, tp_error_t *err)
{
    tp_error_t e;
    jr_t r = {"request", &e};
    pod_facts_t pf;
    int rc;
    tp_error_clear(&e);
    memset(w_out, 0, sizeof *w_out);
    w_out->node = -1;
    if ((rc = pod_read(&r, pod, path ? path : "$.Pod", &pf)) == 0)
        rc = facts_workload(k, f, &pf, w_out, &e);
    facts_free(&pf);
    if (rc < 0 && err)
        *err = e;
    return rc;
}

/* ---- the bind cache ------------------------------------------------------------- */

tp_k8s_t *tp_k8s_new(const tp_k8s_options_t *opt)
{
    tp_k8s_t *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    if (opt)
        k->opt = *opt;
    k->cap = k->opt.cache_size > 0 ? k->opt.cache_size : DEF_CACHE;
    if (k->opt.cache_ttl_s <= 0)
        k->opt.cache_ttl_s = DEF_TTL;
    if (k->opt.max_nodes <= 0)
        k->opt.max_nodes = DEF_MAX_NODES;
    k->opt.default_sensitivity = NULL;
    k->e = calloc((size_t)k->cap, sizeof *k->e);
    k->ix = json_object();
    if (!k->e || !k->ix ||
        (opt && opt->default_sensitivity &&
         !(k->default_sens = strdup(opt->default_sensitivity)))) {
        tp_k8s_free(k);
        return NULL;
    }
    return k;
}

void tp_k8s_free(tp_k8s_t *k)
{
    if (!k)
        return;
    for (int i = 0; k->e && i < k->nslots; i++)
        facts_free(&k->e[i].pf);
    free(k->e);
    json_decref(k->ix);
    free(k->default_sens);
    free(k);
}

int tp_k8s_cached(const tp_k8s_t *k)
{
    return k ? (int)json_object_size(k->ix) : 0;
}

static void drop(tp_k8s_t *k, int i)
{
    json_object_del(k->ix, k->e[i].pf.uid);
    facts_free(&k->e[i].pf);
    k->e[i].live = false;
}

static int slot_of(const tp_k8s_t *k, const char *uid)
{
    const json_t *v = json_object_get(k->ix, uid);
    return v ? (int)json_integer_value(v) : -1;
}

/* Remembers pf (moved in; zeroed on return either way). */
static void remember(tp_k8s_t *k, pod_facts_t *pf, int64_t now)
{
    int i = slot_of(k, pf->uid);
    if (i < 0) {
        if (k->nslots < k->cap) {
            i = k->nslots++;
        } else {
            /* A free slot, else the least recently used one. */
            i = 0;
            for (int j = 0; j < k->cap; j++) {
                if (!k->e[j].live) {
                    i = j;
                    break;
                }
                if (k->e[j].used < k->e[i].used)
                    i = j;
            }
        }
    }
    if (k->e[i].live)
        drop(k, i);
    if (json_object_set_new(k->ix, pf->uid, json_integer(i)) < 0) {
        facts_free(pf); /* ENOMEM: not remembered; bind will say so */
        return;
    }
    k->e[i].pf = *pf;
    memset(pf, 0, sizeof *pf);
    k->e[i].at = now;
    k->e[i].used = ++k->tick;
    k->e[i].live = true;
}

int tp_k8s_forget(tp_k8s_t *k, const char *pod_uid)
{
    int i = pod_uid ? slot_of(k, pod_uid) : -1;
    if (i < 0)
        return TP_ENOENT;
    drop(k, i);
    return 0;
}

/* ---- ExtenderArgs --------------------------------------------------------------- */

enum { FORM_NONE, FORM_NAMES, FORM_NODES };

typedef struct {
    const json_t *pod;
    int form;
    const json_t *items; /* FORM_NAMES: the NodeNames array; FORM_NODES: Nodes.items */
    size_t n;
} kargs_t;

static const char *node_name_at(const kargs_t *a, size_t i)
{
    const json_t *e = json_array_get(a->items, i);
    if (a->form == FORM_NODES)
        e = json_object_get(json_object_get(e, "metadata"), "name");
    return json_string_value(e);
}

static int args_read(const tp_k8s_t *k, jr_t *r, const json_t *args, kargs_t *a)
{
    static const char *const keys[] = {"Pod", "Nodes", "NodeNames", NULL};
    const json_t *names, *nodes, *e;
    char ipath[JR_PATH], mpath[JR_PATH];
    size_t i;
    memset(a, 0, sizeof *a);
    if (strict_object(r, args, "$", keys) < 0)
        return r->err->code;
    a->pod = json_object_get(args, "Pod");
    if (!a->pod || !json_is_object(a->pod))
        return jr_fail(r, TP_EINVAL, "$.Pod",
                       "expected the pod (a v1.Pod object), got %s",
                       a->pod ? type_name(a->pod) : "nothing");
    if (opt_array(r, args, "$", "NodeNames", &names) < 0 ||
        opt_object(r, args, "$", "Nodes", &nodes) < 0)
        return r->err->code;
    if (names) {
        a->form = FORM_NAMES;
        a->items = names;
        json_array_foreach (names, i, e) {
            jr_index_path(ipath, "$.NodeNames", i);
            if (!json_is_string(e) || !json_string_length(e))
                return jr_fail(r, TP_EINVAL, ipath, "expected a node name, got %s",
                               type_name(e));
        }
    } else if (nodes) {
        const json_t *items;
        a->form = FORM_NODES;
        if (opt_array(r, nodes, "$.Nodes", "items", &items) < 0)
            return r->err->code;
        a->items = items;
        json_array_foreach (items, i, e) {
            const char *nm;
            jr_index_path(ipath, "$.Nodes.items", i);
            if (!json_is_object(e))
                return jr_fail(r, TP_EINVAL, ipath, "expected a v1.Node object, got %s",
                               type_name(e));
            jr_key_path(mpath, ipath, "metadata");
            if (!json_is_object(json_object_get(e, "metadata")))
                return jr_fail(r, TP_EINVAL, mpath,
                               "expected the node's metadata object");
            if (need_string(r, json_object_get(e, "metadata"), mpath, "name", &nm) < 0)
                return r->err->code;
        }
    }
    a->n = json_array_size(a->items);
    if (a->n > (size_t)k->opt.max_nodes)
        return jr_fail(
            r, TP_ERANGE, a->form == FORM_NAMES ? "$.NodeNames" : "$.Nodes.items",
            "%zu nodes; at most %d are accepted in one call", a->n, k->opt.max_nodes);
    return 0;
}

static int view_check(const tp_k8s_view_t *v, tp_error_t *e)
{
    if (!v || !v->fleet || !v->state || !v->load)
        return tp_error_set(
            e, TP_EUNSUPPORTED,
            "trustplace has no fleet, state or load to decide against yet");
    if (v->state->nnodes != v->fleet->nnodes || v->load->nnodes != v->fleet->nnodes)
        return tp_error_set(e, TP_EVIOLATION,
                            "state or load does not match the fleet (%d nodes)",
                            v->fleet->nnodes);
    return 0;
}

/* "cpu_tee, attestation_missing" */
static void pred_names(char *buf, size_t size, tp_predset_t s)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int p = 0; p < TP_PRED_COUNT && used < size; p++)
        if (s & TP_PRED_BIT(p))
            used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
                                     tp_pred_name((tp_pred_t)p));
}

/* ---- filter ------------------------------------------------------------------------ */

static json_t *filter_error(const char *msg)
{
    return json_pack("{s:n,s:n,s:n,s:n,s:s}", "Nodes", "NodeNames", "FailedNodes",
                     "FailedAndUnresolvableNodes", "Error", msg);
}

json_t *tp_k8s_filter(tp_k8s_t *k, const tp_k8s_view_t *v, const json_t *args,
                      int *http_status, tp_error_t *err)
{
    tp_error_t e;
    jr_t r = {"request", &e};
    kargs_t a;
    pod_facts_t pf = {0};
    tp_workload_t w = {0};
    json_t *kept = NULL, *failed = NULL, *unres = NULL, *res = NULL;
    char why[512];
    tp_error_clear(&e);
    *http_status = 400;
    if (args_read(k, &r, args, &a) < 0)
        goto fail;
    *http_status = 503;
    if (view_check(v, &e) < 0)
        goto fail;
    /* From here the request is a well-formed ExtenderArgs: the scheduler shows a
     * 200 reply's Error to the user, so a pod we cannot judge is answered so. */
    *http_status = 200;
    if (pod_read(&r, a.pod, "$.Pod", &pf) < 0 ||
        facts_workload(k, v->fleet, &pf, &w, &e) < 0)
        goto fail;
    kept = json_array();
    failed = json_object();
    unres = json_object();
    if (!kept || !failed || !unres)
        goto nomem;
    for (size_t i = 0; i < a.n; i++) {
        const char *name = node_name_at(&a, i);
        int n = tp_fleet_node(v->fleet, name);
        tp_predset_t st, cap;
        int rc;
        if (n < 0) {
            rc = json_object_set_new(unres, name,
                                     json_string("not in the trustplace fleet (a node's "
                                                 "name must be its fleet id)"));
        } else {
            st = tp_policy_static(v->fleet, v->state, n, &w, v->now);
            cap = tp_policy_capacity(v->fleet, v->state, v->load, n, &w);
            pred_names(why, sizeof why, st | cap);
            if (st)
                rc = json_object_set_new(unres, name, json_string(why));
            else if (cap)
                rc = json_object_set_new(failed, name, json_string(why));
            else
                rc = json_array_append(kept, json_array_get(a.items, i));
        }
        if (rc < 0)
            goto nomem;
    }
    if (a.form == FORM_NODES)
        res = json_pack("{s:{s:{},s:O},s:n,s:O,s:O,s:s}", "Nodes", "metadata", "items",
                        kept, "NodeNames", "FailedNodes", failed,
                        "FailedAndUnresolvableNodes", unres, "Error", "");
    else if (a.form == FORM_NAMES)
        res =
            json_pack("{s:n,s:O,s:O,s:O,s:s}", "Nodes", "NodeNames", kept, "FailedNodes",
                      failed, "FailedAndUnresolvableNodes", unres, "Error", "");
    else /* neither list: every node is filtered out, as the scheduler does */
        res = json_pack("{s:n,s:n,s:O,s:O,s:s}", "Nodes", "NodeNames", "FailedNodes",
                        failed, "FailedAndUnresolvableNodes", unres, "Error", "");
    if (!res)
        goto nomem;
    remember(k, &pf, v->now);
    goto done;
nomem:
    tp_error_set(&e, TP_ENOMEM, "out of memory");
    *http_status = 500;
fail:
    res = filter_error(e.text);
    if (err)
        *err = e;
done:
    json_decref(kept);
    json_decref(failed);
    json_decref(unres);
    facts_free(&pf);
    tp_k8s_workload_clear(&w);
    return res;
}

/* ---- prioritize ---------------------------------------------------------------------
 */

/* Power headroom left on node n and every domain above it after placing w: the
 * least fraction of a cap, in [0, 1]. */
static double headroom(const tp_k8s_view_t *v, int n, const tp_workload_t *w)
{
    const tp_fleet_t *f = v->fleet;
    double work = tp_policy_work_w(f, n, w);
    double cap = tp_policy_node_cap(f, v->state, n);
    double h = (cap - (v->load->node_w[n] + work)) / cap;
    for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent) {
        double dc = tp_policy_domain_cap(f, v->state, d);
        double dh = (dc - (v->load->domain_w[d] + work)) / dc;
        h = dh < h ? dh : h;
    }
    return isfinite(h) ? (h < 0 ? 0 : h > 1 ? 1 : h) : 0;
}

/* Tokens per joule of w's model on node n's GPU model; 0 without a profile. */
static double efficiency(const tp_fleet_t *f, int n, const tp_workload_t *w)
{
    const tp_profile_t *p =
        w->model >= 0 ? tp_fleet_profile(f, w->model, f->nodes[n].gpu_model) : NULL;
    return p && p->watts > 0 ? p->tokens_per_s / p->watts : 0;
}

json_t *tp_k8s_prioritize(tp_k8s_t *k, const tp_k8s_view_t *v, const json_t *args,
                          int *http_status, tp_error_t *err)
{
    tp_error_t e;
    jr_t r = {"request", &e};
    kargs_t a;
    pod_facts_t pf = {0};
    tp_workload_t w = {0};
    json_t *res = NULL;
    int *node = NULL;
    double best = 0;
    tp_error_clear(&e);
    *http_status = 400;
    if (args_read(k, &r, args, &a) < 0)
        goto fail;
    *http_status = 503;
    if (view_check(v, &e) < 0)
        goto fail;
    *http_status = 422;
    if (pod_read(&r, a.pod, "$.Pod", &pf) < 0 ||
        facts_workload(k, v->fleet, &pf, &w, &e) < 0)
        goto fail;
    *http_status = 500;
    if (!(res = json_array()) || !(node = calloc(a.n + 1, sizeof *node))) {
        tp_error_set(&e, TP_ENOMEM, "out of memory");
        goto fail;
    }
    /* Eligible nodes and the best efficiency among them. */
    for (size_t i = 0; i < a.n; i++) {
        node[i] = tp_fleet_node(v->fleet, node_name_at(&a, i));
        if (node[i] >= 0 &&
            tp_policy_check(v->fleet, v->state, v->load, node[i], &w, v->now))
            node[i] = -1;
        if (node[i] >= 0 && efficiency(v->fleet, node[i], &w) > best)
            best = efficiency(v->fleet, node[i], &w);
    }
    for (size_t i = 0; i < a.n; i++) {
        int score = 0;
        if (node[i] >= 0) {
            double eff = best > 0 ? efficiency(v->fleet, node[i], &w) / best : 1;
            score = 1 + (int)lround(9 * (0.7 * eff + 0.3 * headroom(v, node[i], &w)));
            score = score < 1 ? 1 : score > 10 ? 10 : score;
        }
        if (json_array_append_new(res, json_pack("{s:s,s:i}", "Host", node_name_at(&a, i),
                                                 "Score", score)) < 0) {
            tp_error_set(&e, TP_ENOMEM, "out of memory");
            goto fail;
        }
    }
    *http_status = 200;
    goto done;
fail:
    json_decref(res);
    res = NULL;
    if (err)
        *err = e;
done:
    free(node);
    facts_free(&pf);
    tp_k8s_workload_clear(&w);
    return res;
}

/* ---- bind
 * ------------------------------------------------------------------------------ */

int tp_k8s_bind_lookup(tp_k8s_t *k, const tp_fleet_t *f, int64_t now, const json_t *args,
                       tp_workload_t *w_out, int *node_out, tp_error_t *err)
{
    static const char *const keys[] = {"PodName", "PodNamespace", "PodUID", "Node", NULL};
    tp_error_t e;
    jr_t r = {"request", &e};
    const char *name, *ns, *uid, *node;
    int i, rc;
    tp_error_clear(&e);
    memset(w_out, 0, sizeof *w_out);
    w_out->node = -1;
    *node_out = -1;
    if ((rc = strict_object(&r, args, "$", keys)) < 0 ||
        (rc = need_string(&r, args, "$", "PodName", &name)) < 0 ||
        (rc = need_string(&r, args, "$", "PodNamespace", &ns)) < 0 ||
        (rc = need_string(&r, args, "$", "PodUID", &uid)) < 0 ||
        (rc = need_string(&r, args, "$", "Node", &node)) < 0)
        goto out;
    i = slot_of(k, uid);
    if (i >= 0 && (now - k->e[i].at > k->opt.cache_ttl_s || now < k->e[i].at - 60)) {
        drop(k, i);
        i = -1;
    }
    if (i < 0) {
        rc = tp_error_set(
            &e, TP_ENOENT,
            "pod %.64s/%.64s (uid %.64s): no filter call saw it in the last %lld "
            "s; trustplace binds only pods it filtered",
            ns, name, uid, (long long)k->opt.cache_ttl_s);
        goto out;
    }
    if (strcmp(k->e[i].pf.name, name) != 0 || strcmp(k->e[i].pf.ns, ns) != 0) {
        rc = tp_error_set(
            &e, TP_EINVAL,
            "$.PodName/$.PodNamespace: %.64s/%.64s, but uid %.64s was filtered "
            "as %s/%s",
            ns, name, uid, k->e[i].pf.ns, k->e[i].pf.name);
        goto out;
    }
    if ((*node_out = tp_fleet_node(f, node)) < 0) {
        rc = jr_fail(
            &r, TP_EREF, "$.Node",
            "no node \"%.64s\" in the trustplace fleet (a node's name must be its "
            "fleet id)",
            node);
        goto out;
    }
    k->e[i].used = ++k->tick;
    rc = facts_workload(k, f, &k->e[i].pf, w_out, &e);
out:
    if (rc < 0) {
        *node_out = -1;
        if (err)
            *err = e;
    }
    return rc;
}

/* A DNS-1123 subdomain (pods, nodes: ≤ 253) or label (namespaces: ≤ 63). */
static bool dns_name(const char *s, size_t max, bool dots)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || s[0] == '-' || s[0] == '.' || s[n - 1] == '-' ||
        s[n - 1] == '.')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              (dots && *p == '.')))
            return false;
    return true;
}

json_t *tp_k8s_binding(const json_t *args, char *path_out, size_t path_size,
                       tp_error_t *err)
{
    static const char *const keys[] = {"PodName", "PodNamespace", "PodUID", "Node", NULL};
    tp_error_t e;
    jr_t r = {"request", &e};
    const char *name, *ns, *uid, *node;
    json_t *b = NULL;
    tp_error_clear(&e);
    if (strict_object(&r, args, "$", keys) < 0 ||
        need_string(&r, args, "$", "PodName", &name) < 0 ||
        need_string(&r, args, "$", "PodNamespace", &ns) < 0 ||
        need_string(&r, args, "$", "PodUID", &uid) < 0 ||
        need_string(&r, args, "$", "Node", &node) < 0)
        goto out;
    if (!dns_name(name, 253, true)) {
        jr_fail(&r, TP_EINVAL, "$.PodName",
                "expected a DNS-1123 subdomain, got \"%.64s\"", name);
        goto out;
    }
    if (!dns_name(ns, 63, false)) {
        jr_fail(&r, TP_EINVAL, "$.PodNamespace",
                "expected a DNS-1123 label, got \"%.64s\"", ns);
        goto out;
    }
    if (!dns_name(node, 253, true)) {
        jr_fail(&r, TP_EINVAL, "$.Node", "expected a DNS-1123 subdomain, got \"%.64s\"",
                node);
        goto out;
    }
    int n =
        snprintf(path_out, path_size, "/api/v1/namespaces/%s/pods/%s/binding", ns, name);
    if (n < 0 || (size_t)n >= path_size) {
        tp_error_set(&e, TP_ERANGE, "binding path longer than %zu bytes", path_size);
        goto out;
    }
    b = json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:{s:s,s:s,s:s}}", "apiVersion", "v1", "kind",
                  "Binding", "metadata", "name", name, "namespace", ns, "uid", uid,
                  "target", "apiVersion", "v1", "kind", "Node", "name", node);
    if (!b)
        tp_error_set(&e, TP_ENOMEM, "out of memory");
out:
    if (!b && err)
        *err = e;
    return b;
}

json_t *tp_k8s_bind_result(const char *error_or_null)
{
    return json_pack("{s:s}", "Error", error_or_null ? error_or_null : "");
}
