/*
 * sim/scenario.c — loads a scenario file (docs/sim.md) and compiles one of its
 * parameter variants into a sim_setup_t the engine runs: the union fleet (every
 * node any event adds), the initial state, deployments, arrival sources and
 * events with their node selections resolved to indices.
 *
 * Strict like the other loaders: unknown keys, wrong types and dangling names
 * are errors that name the file and the JSON path ("$.events[2].domain").
 */
#include "sim/sim_internal.h"

#include "gen/gen.h"
#include "util/file.h"
#include "util/json_in.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCENARIO_BYTES ((size_t)64 << 20)

/* A non-empty string member. */
static int str(jr_t *j, const json_t *obj, const char *path, const char *key, bool req,
               const char **out)
{
    const char *s = NULL;
    char p[JR_PATH];
    if (jr_string(j, obj, path, key, req, &s) < 0)
        return j->err->code;
    if (s && !*s) {
        jr_key_path(p, path, key);
        return jr_fail(j, TP_EINVAL, p, "expected a non-empty string");
    }
    if (s)
        *out = s;
    return 0;
}

/* Seconds (a number) → µs. */
static int secs(jr_t *j, const json_t *obj, const char *path, const char *key, bool req,
                double lo, double hi, int64_t *out)
{
    double v = NAN;
    if (jr_number(j, obj, path, key, req, lo, hi, &v) < 0)
        return TP_EINVAL;
    if (!isnan(v))
        *out = (int64_t)llround(v * SIM_US);
    return 0;
}

/* "${TP_SHARED}/x" → $TP_SHARED/x (else ../shared/x); other relative names are
 * relative to the scenario's directory. Caller frees. */
static char *resolve(const char *base_dir, const char *name)
{
    static const char var[] = "${TP_SHARED}";
    char buf[4096];
    if (!strncmp(name, var, sizeof var - 1)) {
        const char *sh = getenv("TP_SHARED");
        snprintf(buf, sizeof buf, "%s%s", sh && *sh ? sh : "../shared",
                 name + sizeof var - 1);
    } else if (name[0] == '/' || !base_dir) {
        snprintf(buf, sizeof buf, "%s", name);
    } else {
        snprintf(buf, sizeof buf, "%s/%s", base_dir, name);
    }
    return strdup(buf);
}

/* ---- the trace cache ------------------------------------------------------------ */

/* A trace by path (and, for request traces, by its column mapping), read once. */
static const void *trace_get(struct tp_scenario *sc, const char *path, int kind,
                             const void *spec_v, tp_error_t *err)
{
    char key[4096];
    const tp_req_trace_spec_t *spec = spec_v;
    const tp_job_trace_spec_t *js = spec_v;
    if (kind == 0)
        snprintf(key, sizeof key, "%s\n%d\n%s\n%s\n%s\n%d", path, (int)spec->format,
                 spec->time, spec->context, spec->generated, (int)spec->unit);
    else if (kind == 2)
        snprintf(key, sizeof key, "%s\n%d\n%s\n%s\n%s\n%s\n%s\n%s\n%d\n%d", path,
                 (int)js->format, js->submit, js->gpus, js->duration,
                 js->sensitivity ? js->sensitivity : "", js->tenant ? js->tenant : "",
                 js->model ? js->model : "", (int)js->unit, (int)js->duration_unit);
    else
        snprintf(key, sizeof key, "%s", path);
    for (int i = 0; i < sc->ntraces; i++)
        if (sc->trace_kind[i] == kind && !strcmp(sc->trace_paths[i], key))
            return sc->traces[i];
    void *t = kind == 0   ? calloc(1, sizeof(tp_azure_trace_t))
              : kind == 2 ? calloc(1, sizeof(tp_job_trace_t))
                          : calloc(1, sizeof(tp_pod_list_t));
    char **paths = realloc(sc->trace_paths, (size_t)(sc->ntraces + 1) * sizeof *paths);
    if (paths)
        sc->trace_paths = paths;
    void **ts = realloc(sc->traces, (size_t)(sc->ntraces + 1) * sizeof *ts);
    if (ts)
        sc->traces = ts;
    int *ks = realloc(sc->trace_kind, (size_t)(sc->ntraces + 1) * sizeof *ks);
    if (ks)
        sc->trace_kind = ks;
    if (!t || !paths || !ts || !ks) {
        free(t);
        tp_error_set(err, TP_ENOMEM, "out of memory");
        return NULL;
    }
    int rc = kind == 0   ? tp_sim_request_trace_load(path, spec, t, err)
             : kind == 2 ? tp_sim_job_trace_load(path, js, t, err)
                         : tp_alibaba_pod_list(path, t, NULL, err);
    if (rc < 0) {
        free(t);
        return NULL;
    }
    sc->trace_paths[sc->ntraces] = strdup(key);
    sc->traces[sc->ntraces] = t;
    sc->trace_kind[sc->ntraces] = kind;
    sc->ntraces++;
    return t;
}

/* ---- the union fleet --------------------------------------------------------------- */

static const char *const node_keys[] = {
    "id",    "power_domain", "region", "gpu_model", "gpus",     "cpu_tee", "gpu_cc",
    "cap_w", "idle_w",       "gpu_w",  "bmc",       "verifier", NULL};

/* Adds the nodes (and domains) of the add_nodes events to the fleet document. */
static int add_event_nodes(jr_t *j, json_t *fleet, const json_t *events)
{
    json_t *nodes = json_object_get(fleet, "nodes"),
           *doms = json_object_get(fleet, "power_domains");
    const json_t *e;
    size_t i;
    if (!json_is_array(nodes) || !json_is_array(doms))
        return 0; /* the fleet loader reports it */
    json_array_foreach (events, i, e) {
        char path[JR_PATH], p2[JR_PATH];
        const json_t *t = json_object_get(e, "type");
        if (!json_is_string(t) || strcmp(json_string_value(t), "add_nodes"))
            continue;
        jr_index_path(path, "$.events", i);
        const json_t *nl = json_object_get(e, "nodes"),
                     *tmpl = json_object_get(e, "template");
        const json_t *pd = json_object_get(e, "power_domains");
        if (pd) {
            jr_key_path(p2, path, "power_domains");
            if (!json_is_array(pd))
                return jr_fail(j, TP_EINVAL, p2, "expected an array of power domains");
            json_array_extend(doms, (json_t *)pd);
        }
        if (!!nl == !!tmpl) {
            jr_key_path(p2, path, "nodes");
            return jr_fail(j, TP_EINVAL, p2,
                           "give either \"nodes\" (a list of fleet nodes) or "
                           "\"template\" with \"count\"");
        }
        if (nl) {
            jr_key_path(p2, path, "nodes");
            if (!json_is_array(nl) || json_array_size(nl) == 0)
                return jr_fail(j, TP_EINVAL, p2,
                               "expected a non-empty array of fleet nodes");
            const json_t *n;
            size_t k;
            json_array_foreach (nl, k, n) {
                char p3[JR_PATH];
                jr_index_path(p3, p2, k);
                if (jr_object(j, n, p3, node_keys) < 0)
                    return TP_EINVAL;
                json_array_append(nodes, (json_t *)n);
            }
        } else {
            long long count = 0;
            const char *prefix = NULL;
            jr_key_path(p2, path, "template");
            if (jr_object(j, tmpl, p2, node_keys) < 0)
                return TP_EINVAL;
            if (json_object_get(tmpl, "id"))
                return jr_fail(j, TP_EINVAL, p2,
                               "a template has no \"id\" (ids are id_prefix + number)");
            if (jr_int(j, e, path, "count", true, 1, 100000, &count) < 0 ||
                str(j, e, path, "id_prefix", true, &prefix) < 0)
                return TP_EINVAL;
            for (long long k = 0; k < count; k++) {
                char id[160];
                json_t *n = json_deep_copy(tmpl);
                snprintf(id, sizeof id, "%s%lld", prefix, k + 1);
                json_object_set_new(n, "id", json_string(id));
                json_array_append_new(nodes, n);
            }
        }
    }
    return 0;
}

static int load_fleet(jr_t *j, struct tp_scenario *sc, const json_t *root, sim_setup_t *s)
{
    const json_t *fv = json_object_get(root, "fleet");
    json_t *doc = NULL;
    int base_nodes;
    if (!fv)
        return jr_fail(j, TP_EINVAL, "$.fleet", "missing required key");
    if (json_is_string(fv)) {
        char *path = resolve(sc->base_dir, json_string_value(fv));
        json_error_t je;
        doc = path ? json_load_file(path, JSON_REJECT_DUPLICATES, &je) : NULL;
        if (!doc) {
            int rc = tp_error_set(j->err, TP_EINVAL, "%s: $.fleet: %s:%d:%d: %s", j->file,
                                  path ? path : "?", je.line, je.column, je.text);
            free(path);
            return rc;
        }
        free(path);
    } else {
        static const char *const k1[] = {"generate", NULL};
        static const char *const k2[] = {"nodes", "regions", "seed", "rack_nodes", NULL};
        const json_t *g = json_object_get(fv, "generate");
        long long nodes = 0, seed = 1, rack_nodes = 0;
        const char *regions = NULL;
        if (jr_object(j, fv, "$.fleet", k1) < 0)
            return TP_EINVAL;
        if (!g)
            return jr_fail(j, TP_EINVAL, "$.fleet.generate",
                           "missing required key (or give a file name)");
        if (jr_object(j, g, "$.fleet.generate", k2) < 0 ||
            jr_int(j, g, "$.fleet.generate", "nodes", true, 1, 200000, &nodes) < 0 ||
            str(j, g, "$.fleet.generate", "regions", false, &regions) < 0 ||
            jr_int(j, g, "$.fleet.generate", "seed", false, 0, INT64_MAX, &seed) < 0 ||
            jr_int(j, g, "$.fleet.generate", "rack_nodes", false, 1, 1000, &rack_nodes) <
                0)
            return TP_EINVAL;
        tp_gen_fleet_opts_t o = {(int)nodes, (uint64_t)seed, regions};
        o.rack_nodes = (int)rack_nodes;
        tp_error_t ge;
        if (!(doc = tp_gen_fleet(&o, &ge)))
            return jr_fail(j, TP_EINVAL, "$.fleet.generate", "%s", ge.text);
    }
    /* "tenants": the fleet's policy.tenants, replaced (checked by the fleet's loader). */
    const json_t *ten = json_object_get(root, "tenants");
    if (ten) {
        json_t *pol = json_object_get(doc, "policy");
        if (!json_is_object(ten)) {
            json_decref(doc);
            return jr_fail(j, TP_EINVAL, "$.tenants",
                           "expected an object: tenant → {\"quota_gpus\", …}");
        }
        if (!json_is_object(pol))
            json_object_set_new(doc, "policy", pol = json_object());
        json_object_set_new(pol, "tenants", json_deep_copy(ten));
    }
    base_nodes = json_is_array(json_object_get(doc, "nodes"))
                     ? (int)json_array_size(json_object_get(doc, "nodes"))
                     : 0;
    const json_t *events = json_object_get(root, "events");
    if (json_is_array(events) && add_event_nodes(j, doc, events) < 0) {
        json_decref(doc);
        return TP_EINVAL;
    }
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    tp_error_t fe;
    int rc = text ? tp_fleet_load_buffer("fleet", text, strlen(text), &s->fleet, &fe)
                  : TP_ENOMEM;
    free(text);
    const char *tp = ten ? strstr(fe.text, "$.policy.tenants") : NULL;
    if (rc < 0 && tp) { /* the scenario's own "tenants": name its path */
        json_decref(doc);
        return tp_error_set(j->err, rc, "%s: $.tenants%s", j->file,
                            tp + strlen("$.policy.tenants"));
    }
    if (rc < 0) {
        json_decref(doc);
        return tp_error_set(j->err, rc, "%s: $.fleet (with the nodes events add): %s",
                            j->file, fe.text);
    }
    s->fleet_doc = doc;
    s->present0 = calloc((size_t)s->fleet->nnodes, sizeof *s->present0);
    if (!s->present0)
        return tp_error_set(j->err, TP_ENOMEM, "out of memory");
    for (int n = 0; n < base_nodes && n < s->fleet->nnodes; n++)
        s->present0[n] = true;
    s->fleet_changes = s->fleet->nnodes != base_nodes;
    return 0;
}

/* ---- the initial state ------------------------------------------------------------- */

static int load_state(jr_t *j, struct tp_scenario *sc, const json_t *root, sim_setup_t *s)
{
    const json_t *v = json_object_get(root, "state");
    tp_error_t se;
    if (!v || (json_is_string(v) && !strcmp(json_string_value(v), "attested"))) {
        s->state_mode = 0;
        return 0;
    }
    if (json_is_string(v) && !strcmp(json_string_value(v), "generated")) {
        json_t *doc = tp_gen_state(s->fleet, s->seed, s->start_s, &se);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        int rc = text ? tp_state_load_buffer("generated state", text, strlen(text),
                                             s->fleet, &s->state0, &se)
                      : TP_ENOMEM;
        free(text);
        json_decref(doc);
        if (rc < 0)
            return tp_error_set(j->err, rc, "%s: $.state: %s", j->file, se.text);
        s->state_mode = 1;
        return 0;
    }
    static const char *const k[] = {"file", NULL};
    const char *file = NULL;
    if (!json_is_object(v))
        return jr_fail(
            j, TP_EINVAL, "$.state",
            "expected \"attested\", \"generated\" or {\"file\": \"state.json\"}");
    if (jr_object(j, v, "$.state", k) < 0 ||
        str(j, v, "$.state", "file", true, &file) < 0)
        return TP_EINVAL;
    char *path = resolve(sc->base_dir, file);
    int rc = tp_state_load(path, s->fleet, &s->state0, &se);
    free(path);
    if (rc < 0)
        return tp_error_set(j->err, rc, "%s: $.state.file: %s", j->file, se.text);
    s->state_mode = 2;
    return 0;
}

/* ---- mixes and names ------------------------------------------------------------------
 */

/* obj[key]: {"name": weight, …} resolved through ix into w[] (n entries). */
static int mix(jr_t *j, const json_t *obj, const char *path, const char *key,
               const tp_strmap_t *ix, const char *what, double *w, int n, bool *given)
{
    const json_t *m = json_object_get(obj, key), *x;
    const char *name;
    char p[JR_PATH];
    double sum = 0;
    if (given)
        *given = m != NULL;
    if (!m)
        return 0;
    jr_key_path(p, path, key);
    if (jr_object(j, m, p, NULL) < 0)
        return TP_EINVAL;
    json_object_foreach ((json_t *)m, name, x) {
        char p2[JR_PATH];
        jr_key_path(p2, p, name);
        int i = tp_strmap_get(ix, name);
        if (i < 0 || i >= n)
            return jr_fail(j, TP_EINVAL, p2, "no %s \"%s\" in the fleet", what, name);
        if (!json_is_number(x) || json_number_value(x) < 0)
            return jr_fail(j, TP_EINVAL, p2, "expected a non-negative weight");
        w[i] = json_number_value(x);
        sum += w[i];
    }
    if (sum <= 0)
        return jr_fail(j, TP_EINVAL, p, "expected at least one positive weight");
    return 0;
}

static int region_list(jr_t *j, const tp_fleet_t *f, const json_t *obj, const char *path,
                       const char *key, int **out, int *nout)
{
    const json_t *a = json_object_get(obj, key), *x;
    char p[JR_PATH];
    size_t i;
    *nout = 0;
    if (!a)
        return 0;
    jr_key_path(p, path, key);
    if (!json_is_array(a) || json_array_size(a) == 0)
        return jr_fail(j, TP_EINVAL, p, "expected a non-empty array of region names");
    *out = calloc(json_array_size(a), sizeof **out);
    if (!*out)
        return tp_error_set(j->err, TP_ENOMEM, "out of memory");
    json_array_foreach (a, i, x) {
        char p2[JR_PATH];
        jr_index_path(p2, p, i);
        int r = json_is_string(x) ? tp_fleet_region(f, json_string_value(x)) : -1;
        if (r < 0)
            return jr_fail(j, TP_EINVAL, p2,
                           "expected the name of a region of the fleet");
        (*out)[(*nout)++] = r;
    }
    return 0;
}

static int load_deployments(jr_t *j, const json_t *root, sim_setup_t *s)
{
    static const char *const k[] = {
        "id",           "model",        "sensitivity", "residency",      "gpus",
        "min_replicas", "max_replicas", "priority",    "prefill_weight", NULL};
    const json_t *a = json_object_get(root, "deployments"), *d;
    size_t i;
    if (!a)
        return 0;
    if (!json_is_array(a))
        return jr_fail(j, TP_EINVAL, "$.deployments", "expected an array");
    s->deps = calloc(json_array_size(a) + 1, sizeof *s->deps);
    if (!s->deps)
        return tp_error_set(j->err, TP_ENOMEM, "out of memory");
    json_array_foreach (a, i, d) {
        sim_deployment_t *dp = &s->deps[i];
        char path[JR_PATH], p2[JR_PATH];
        const char *id = NULL, *model = NULL, *sens = NULL;
        long long gpus = 1, mn = 0, mx = 1000, prio = 50;
        jr_index_path(path, "$.deployments", i);
        s->ndeps = (int)i + 1;
        dp->prefill_weight = 0.1;
        if (jr_object(j, d, path, k) < 0 || str(j, d, path, "id", true, &id) < 0 ||
            str(j, d, path, "model", true, &model) < 0 ||
            str(j, d, path, "sensitivity", true, &sens) < 0 ||
            jr_int(j, d, path, "gpus", false, 1, 64, &gpus) < 0 ||
            jr_int(j, d, path, "min_replicas", false, 0, 100000, &mn) < 0 ||
            jr_int(j, d, path, "max_replicas", false, 1, 100000, &mx) < 0 ||
            jr_int(j, d, path, "priority", false, 0, 100, &prio) < 0 ||
            jr_number(j, d, path, "prefill_weight", false, 0, 10, &dp->prefill_weight) <
                0)
            return TP_EINVAL;
        for (size_t q = 0; q < i; q++)
            if (!strcmp(s->deps[q].id, id)) {
                jr_key_path(p2, path, "id");
                return jr_fail(j, TP_EINVAL, p2, "duplicate deployment id \"%s\"", id);
            }
        dp->id = strdup(id);
        dp->gpus = (int)gpus;
        dp->min_replicas = (int)mn;
        dp->max_replicas = (int)mx;
        dp->priority = (int)prio;
        if ((dp->model = tp_strmap_get(s->fleet->model_ix, model)) < 0) {
            jr_key_path(p2, path, "model");
            return jr_fail(j, TP_EINVAL, p2, "no profile in the fleet names model \"%s\"",
                           model);
        }
        if ((dp->cls = tp_fleet_class(s->fleet, sens)) < 0) {
            jr_key_path(p2, path, "sensitivity");
            return jr_fail(j, TP_EINVAL, p2, "no class \"%s\" in the fleet's policy",
                           sens);
        }
        if (region_list(j, s->fleet, d, path, "residency", &dp->res, &dp->nres) < 0)
            return TP_EINVAL;
        if (s->fleet->classes[dp->cls].req.residency != TP_RESIDENCY_NONE && !dp->nres) {
            jr_key_path(p2, path, "residency");
            return jr_fail(j, TP_EINVAL, p2,
                           "class \"%s\" is residency-bound: list the regions", sens);
        }
        if (mn > mx) {
            jr_key_path(p2, path, "min_replicas");
            return jr_fail(j, TP_EINVAL, p2, "greater than max_replicas");
        }
    }
    return 0;
}

/* {"dep": weight} over the deployments. */
static int dep_mix(jr_t *j, const json_t *obj, const char *path, sim_setup_t *s,
                   sim_source_t *src)
{
    const json_t *m = json_object_get(obj, "deployments"), *x;
    const char *name;
    char p[JR_PATH];
    double sum = 0;
    jr_key_path(p, path, "deployments");
    src->dep_w = calloc((size_t)s->ndeps + 1, sizeof *src->dep_w);
    if (!src->dep_w)
        return tp_error_set(j->err, TP_ENOMEM, "out of memory");
    if (!m)
        return jr_fail(j, TP_EINVAL, p,
                       "missing required key (requests are routed to deployments)");
    if (jr_object(j, m, p, NULL) < 0)
        return TP_EINVAL;
    json_object_foreach ((json_t *)m, name, x) {
        char p2[JR_PATH];
        int d = -1;
        jr_key_path(p2, p, name);
        for (int q = 0; q < s->ndeps; q++)
            if (!strcmp(s->deps[q].id, name))
                d = q;
        if (d < 0)
            return jr_fail(j, TP_EINVAL, p2, "no deployment \"%s\" in $.deployments",
                           name);
        if (!json_is_number(x) || json_number_value(x) < 0)
            return jr_fail(j, TP_EINVAL, p2, "expected a non-negative weight");
        src->dep_w[d] = json_number_value(x);
        sum += src->dep_w[d];
    }
    if (sum <= 0)
        return jr_fail(j, TP_EINVAL, p, "expected at least one positive weight");
    return 0;
}

static int diurnal(jr_t *j, const json_t *obj, const char *path, sim_diurnal_t *d)
{
    static const char *const k[] = {"amplitude", "peak_hour", NULL};
    const json_t *v = json_object_get(obj, "diurnal");
    char p[JR_PATH];
    d->amplitude = 0;
    d->peak_hour = 14;
    if (!v)
        return 0;
    jr_key_path(p, path, "diurnal");
    return jr_object(j, v, p, k) < 0 ||
                   jr_number(j, v, p, "amplitude", true, 0, 1, &d->amplitude) < 0 ||
                   jr_number(j, v, p, "peak_hour", false, 0, 24, &d->peak_hour) < 0
               ? TP_EINVAL
               : 0;
}

/* The sensitivity / residency / model mixes of jobs and alibaba sources. */
static int job_mixes(jr_t *j, const json_t *v, const char *path, sim_setup_t *s,
                     sim_source_t *src)
{
    const tp_fleet_t *f = s->fleet;
    bool given;
    if (f->nclasses > SIM_MAX_CLASSES || f->nregions > SIM_MAX_REGIONS)
        return jr_fail(j, TP_EINVAL, path,
                       "the simulator handles at most %d classes and %d regions",
                       SIM_MAX_CLASSES, SIM_MAX_REGIONS);
    src->model_w = calloc((size_t)f->nmodels + 1, sizeof *src->model_w);
    if (!src->model_w)
        return tp_error_set(j->err, TP_ENOMEM, "out of memory");
    if (mix(j, v, path, "sensitivity", f->class_ix, "class", src->class_w, f->nclasses,
            &given) < 0)
        return TP_EINVAL;
    if (!given) /* all in the first class the fleet declares */
        src->class_w[0] = 1;
    if (mix(j, v, path, "residency", f->region_ix, "region", src->region_w, f->nregions,
            &given) < 0)
        return TP_EINVAL;
    if (!given)
        for (int r = 0; r < f->nregions; r++)
            src->region_w[r] = 1;
    return mix(j, v, path, "models", f->model_ix, "model", src->model_w, f->nmodels,
               NULL);
}

/* obj[key]: {"N": weight, …} with integer keys 1..max (at most SIM_MAX_SIZES);
 * absent: *n stays 0. */
static int size_mix(jr_t *j, const json_t *obj, const char *path, const char *key,
                    int max, int *sizes, double *w, int *n)
{
    const json_t *g = json_object_get(obj, key), *x;
    const char *name;
    char p[JR_PATH];
    *n = 0;
    if (!g)
        return 0;
    jr_key_path(p, path, key);
    if (jr_object(j, g, p, NULL) < 0)
        return TP_EINVAL;
    json_object_foreach ((json_t *)g, name, x) {
        char p2[JR_PATH], *e;
        long v = strtol(name, &e, 10);
        jr_key_path(p2, p, name);
        if (*e || v < 1 || v > max)
            return jr_fail(j, TP_EINVAL, p2, "expected a count 1..%d as the key", max);
        if (*n == SIM_MAX_SIZES)
            return jr_fail(j, TP_EINVAL, p2, "at most %d sizes", SIM_MAX_SIZES);
        if (!json_is_number(x) || json_number_value(x) < 0)
            return jr_fail(j, TP_EINVAL, p2, "expected a non-negative weight");
        sizes[*n] = (int)v;
        w[(*n)++] = json_number_value(x);
    }
    if (*n == 0)
        return jr_fail(j, TP_EINVAL, p, "expected at least one size");
    return 0;
}

/* "tenants": {name: weight} of the fleet's policy.tenants; absent: no tenant. */
static int tenant_mix(jr_t *j, const json_t *v, const char *path, sim_setup_t *s,
                      sim_source_t *src)
{
    const tp_fleet_t *f = s->fleet;
    if (!json_object_get(v, "tenants"))
        return 0;
    if (f->ntenants <= 0) {
        char p[JR_PATH];
        jr_key_path(p, path, "tenants");
        return jr_fail(j, TP_EINVAL, p,
                       "the fleet declares no policy.tenants (give the scenario "
                       "\"tenants\")");
    }
    if (!(src->tenant_w = calloc((size_t)f->ntenants, sizeof *src->tenant_w)))
        return tp_error_set(j->err, TP_ENOMEM, "out of memory");
    return mix(j, v, path, "tenants", f->tenant_ix, "tenant", src->tenant_w, f->ntenants,
               NULL);
}

/* "together": a domain kind of the fleet, or null for none; default "rack" when
 * the fleet has racks. */
static int together(jr_t *j, const json_t *v, const char *path, sim_setup_t *s,
                    sim_source_t *src)
{
    const json_t *t = json_object_get(v, "together");
    char p[JR_PATH];
    jr_key_path(p, path, "together");
    src->together = 0;
    if (!t) {
        src->together = tp_fleet_kind(s->fleet, "rack") + 1;
        return 0;
    }
    if (json_is_null(t))
        return 0;
    if (!json_is_string(t))
        return jr_fail(j, TP_EINVAL, p, "expected a domain kind or null");
    int k = tp_fleet_kind(s->fleet, json_string_value(t));
    if (k < 0)
        return jr_fail(j, TP_EINVAL, p, "no power domain of kind \"%s\" in the fleet",
                       json_string_value(t));
    src->together = k + 1;
    return 0;
}

/* "jobs": [{"id", "at_s", "gpus", "duration_s", "sensitivity", …}] in time order. */
static int load_list(jr_t *j, const json_t *v, const char *path, sim_setup_t *s,
                     sim_source_t *src)
{
    static const char *const k[] = {"id",          "at_s",       "gpus",  "duration_s",
                                    "sensitivity", "residency",  "model", "priority",
                                    "preemptible", "gpu_models", NULL};
    const json_t *a = json_object_get(v, "jobs"), *x;
    const tp_fleet_t *f = s->fleet;
    char p[JR_PATH];
    size_t i;
    jr_key_path(p, path, "jobs");
    if (!json_is_array(a) || !json_array_size(a))
        return jr_fail(j, TP_EINVAL, p, "expected a non-empty array of jobs");
    src->jobs = calloc(json_array_size(a), sizeof *src->jobs);
    if (!src->jobs)
        return tp_error_set(j->err, TP_ENOMEM, "out of memory");
    json_array_foreach (a, i, x) {
        sim_listjob_t *lj = &src->jobs[i];
        char jp[JR_PATH], kp[JR_PATH];
        const char *id = NULL, *sens = NULL, *model = NULL;
        long long gpus = 0, prio = 0;
        bool pre = true;
        int *res = NULL, nres = 0;
        jr_index_path(jp, p, i);
        src->njobs = (int)i + 1;
        if (jr_object(j, x, jp, k) < 0 || str(j, x, jp, "id", true, &id) < 0 ||
            secs(j, x, jp, "at_s", true, 0, 1e10, &lj->at_us) < 0 ||
            jr_int(j, x, jp, "gpus", true, 1, 64, &gpus) < 0 ||
            secs(j, x, jp, "duration_s", true, 0.001, 1e10, &lj->dur_us) < 0 ||
            str(j, x, jp, "sensitivity", true, &sens) < 0 ||
            str(j, x, jp, "model", false, &model) < 0 ||
            jr_int(j, x, jp, "priority", false, 0, 100, &prio) < 0)
            return TP_EINVAL;
        const json_t *pb = json_object_get(x, "preemptible");
        if (pb) {
            jr_key_path(kp, jp, "preemptible");
            if (!json_is_boolean(pb))
                return jr_fail(j, TP_EINVAL, kp, "expected true or false");
            pre = json_is_true(pb);
        }
        if (i > 0 && lj->at_us < src->jobs[i - 1].at_us) {
            jr_key_path(kp, jp, "at_s");
            return jr_fail(j, TP_EINVAL, kp, "jobs must be listed in time order");
        }
        lj->id = strdup(id);
        lj->gpus = (int)gpus;
        lj->priority = (int)prio;
        lj->preemptible = pre;
        lj->model = -1;
        if ((lj->cls = tp_fleet_class(f, sens)) < 0) {
            jr_key_path(kp, jp, "sensitivity");
            return jr_fail(j, TP_EINVAL, kp, "no class \"%s\" in the fleet's policy",
                           sens);
        }
        if (model && (lj->model = tp_strmap_get(f->model_ix, model)) < 0) {
            jr_key_path(kp, jp, "model");
            return jr_fail(j, TP_EINVAL, kp, "no profile in the fleet names model \"%s\"",
                           model);
        }
        if (region_list(j, f, x, jp, "residency", &res, &nres) < 0) {
            free(res);
            return TP_EINVAL;
        }
        if (nres)
            memcpy(lj->res, res, (size_t)nres * sizeof *res);
        lj->nres = nres;
        free(res);
        if (f->classes[lj->cls].req.residency != TP_RESIDENCY_NONE && !nres) {
            jr_key_path(kp, jp, "residency");
            return jr_fail(j, TP_EINVAL, kp,
                           "class \"%s\" is residency-bound: list the regions", sens);
        }
        const json_t *gm = json_object_get(x, "gpu_models"), *g;
        size_t q;
        if (gm) {
            jr_key_path(kp, jp, "gpu_models");
            if (!json_is_array(gm) || !json_array_size(gm) || json_array_size(gm) > 16)
                return jr_fail(j, TP_EINVAL, kp, "expected 1..16 GPU model names");
            json_array_foreach (gm, q, g) {
                int x2 = json_is_string(g)
                             ? tp_strmap_get(f->gpu_model_ix, json_string_value(g))
                             : -1;
                if (x2 < 0)
                    return jr_fail(j, TP_EINVAL, kp,
                                   "names a GPU model no node of the fleet has");
                lj->gm[lj->ngm++] = x2;
            }
        }
    }
    return 0;
}

/* The column mapping of a "trace" source: format, columns, time_unit. */
static int request_spec(jr_t *j, const json_t *v, const char *path,
                        tp_req_trace_spec_t *sp)
{
    static const char *const k_cols[] = {"time", "context", "generated", NULL};
    static const char *const units[] = {"s", "ms", "us", "datetime", NULL};
    const char *fmt = NULL, *unit = NULL;
    const json_t *c = json_object_get(v, "columns");
    char p[JR_PATH];
    if (str(j, v, path, "format", true, &fmt) < 0 ||
        str(j, v, path, "time_unit", true, &unit) < 0)
        return TP_EINVAL;
    if (strcmp(fmt, "csv") && strcmp(fmt, "jsonl")) {
        jr_key_path(p, path, "format");
        return jr_fail(j, TP_EINVAL, p, "expected \"csv\" or \"jsonl\"");
    }
    sp->format = fmt[0] == 'c' ? TP_TRACE_CSV : TP_TRACE_JSONL;
    int u = 0;
    while (units[u] && strcmp(units[u], unit))
        u++;
    if (!units[u]) {
        jr_key_path(p, path, "time_unit");
        return jr_fail(j, TP_EINVAL, p, "expected \"s\", \"ms\", \"us\" or \"datetime\"");
    }
    sp->unit = (tp_time_unit_t)u;
    jr_key_path(p, path, "columns");
    if (!c)
        return jr_fail(
            j, TP_EINVAL, p,
            "required: {\"time\": NAME, \"context\": NAME, \"generated\": NAME}");
    if (jr_object(j, c, p, k_cols) < 0 || str(j, c, p, "time", true, &sp->time) < 0 ||
        str(j, c, p, "context", true, &sp->context) < 0 ||
        str(j, c, p, "generated", true, &sp->generated) < 0)
        return TP_EINVAL;
    return 0;
}

static int unit_of(jr_t *j, const json_t *v, const char *path, const char *key,
                   bool datetime, tp_time_unit_t *out)
{
    static const char *const units[] = {"s", "ms", "us", "datetime", NULL};
    const char *u = NULL;
    char p[JR_PATH];
    if (str(j, v, path, key, false, &u) < 0)
        return TP_EINVAL;
    if (!u)
        return 0;
    int k = 0;
    while (units[k] && strcmp(units[k], u))
        k++;
    if (!units[k] || (k == 3 && !datetime)) {
        jr_key_path(p, path, key);
        return jr_fail(j, TP_EINVAL, p, "expected \"s\", \"ms\", \"us\"%s",
                       datetime ? " or \"datetime\"" : "");
    }
    *out = (tp_time_unit_t)k;
    return 0;
}

/* A "job_trace" source: a CSV/JSONL job log with a column mapping; rows without
 * sensitivity or model draw them from the mixes, like residency, priority and
 * preemptibility. */
static int load_job_trace(jr_t *j, struct tp_scenario *sc, const json_t *v,
                          const char *path, sim_setup_t *s, sim_source_t *src)
{
    static const char *const k[] = {"type",      "format",        "file",      "columns",
                                    "time_unit", "duration_unit", "speedup",   "offset_s",
                                    "limit",     "sensitivity",   "residency", "models",
                                    "priority",  "preemptible",   NULL};
    static const char *const kc[] = {"submit", "gpus",  "duration", "sensitivity",
                                     "tenant", "model", NULL};
    const json_t *c = json_object_get(v, "columns"), *pr = json_object_get(v, "priority");
    const char *fmt = NULL, *file = NULL;
    char p[JR_PATH];
    long long limit = 0;
    tp_job_trace_spec_t sp = {0};
    sp.unit = TP_TU_S;
    sp.duration_unit = TP_TU_S;
    src->kind = SRC_JOBTRACE;
    src->prio_lo = 0;
    src->prio_hi = 10;
    src->preemptible = 0.8;
    if (jr_object(j, v, path, k) < 0 || str(j, v, path, "format", true, &fmt) < 0 ||
        str(j, v, path, "file", true, &file) < 0 ||
        unit_of(j, v, path, "time_unit", true, &sp.unit) < 0 ||
        unit_of(j, v, path, "duration_unit", false, &sp.duration_unit) < 0 ||
        jr_number(j, v, path, "speedup", false, 1e-6, 1e9, &src->speedup) < 0 ||
        secs(j, v, path, "offset_s", false, 0, 1e9, &src->offset_us) < 0 ||
        jr_int(j, v, path, "limit", false, 0, INT64_MAX, &limit) < 0 ||
        jr_number(j, v, path, "preemptible", false, 0, 1, &src->preemptible) < 0 ||
        job_mixes(j, v, path, s, src) < 0)
        return TP_EINVAL;
    src->limit = limit;
    if (strcmp(fmt, "csv") && strcmp(fmt, "jsonl")) {
        jr_key_path(p, path, "format");
        return jr_fail(j, TP_EINVAL, p, "expected \"csv\" or \"jsonl\"");
    }
    sp.format = fmt[0] == 'c' ? TP_TRACE_CSV : TP_TRACE_JSONL;
    jr_key_path(p, path, "columns");
    if (!c)
        return jr_fail(j, TP_EINVAL, p,
                       "required: {\"submit\", \"gpus\", \"duration\", and optional "
                       "\"sensitivity\", \"tenant\", \"model\"}");
    if (jr_object(j, c, p, kc) < 0 || str(j, c, p, "submit", true, &sp.submit) < 0 ||
        str(j, c, p, "gpus", true, &sp.gpus) < 0 ||
        str(j, c, p, "duration", true, &sp.duration) < 0 ||
        str(j, c, p, "sensitivity", false, &sp.sensitivity) < 0 ||
        str(j, c, p, "tenant", false, &sp.tenant) < 0 ||
        str(j, c, p, "model", false, &sp.model) < 0)
        return TP_EINVAL;
    if (pr) {
        jr_key_path(p, path, "priority");
        if (!json_is_array(pr) || json_array_size(pr) != 2 ||
            !json_is_integer(json_array_get(pr, 0)) ||
            !json_is_integer(json_array_get(pr, 1)) ||
            json_integer_value(json_array_get(pr, 0)) < 0 ||
            json_integer_value(json_array_get(pr, 1)) > 100 ||
            json_integer_value(json_array_get(pr, 0)) >
                json_integer_value(json_array_get(pr, 1)))
            return jr_fail(j, TP_EINVAL, p, "expected [lowest, highest] in 0..100");
        src->prio_lo = (int)json_integer_value(json_array_get(pr, 0));
        src->prio_hi = (int)json_integer_value(json_array_get(pr, 1));
    }
    char *fpath = resolve(sc->base_dir, file);
    tp_error_t te;
    const tp_job_trace_t *t = fpath ? trace_get(sc, fpath, 2, &sp, &te) : NULL;
    if (!t) {
        free(fpath);
        jr_key_path(p, path, "file");
        return tp_error_set(j->err, te.code ? te.code : TP_ENOMEM, "%s: %s: %s", j->file,
                            p, te.text);
    }
    src->jtrace = t;
    src->jt_cls = calloc(t->n + 1, sizeof *src->jt_cls);
    src->jt_model = calloc(t->n + 1, sizeof *src->jt_model);
    if (!src->jt_cls || !src->jt_model) {
        free(fpath);
        return tp_error_set(j->err, TP_ENOMEM, "out of memory");
    }
    /* Names in the rows must be the fleet's: refused with the trace's line. */
    for (size_t i = 0; i < t->n; i++) {
        const tp_trace_job_t *r = &t->job[i];
        src->jt_cls[i] =
            r->sensitivity[0] ? tp_strmap_get(s->fleet->class_ix, r->sensitivity) : -1;
        src->jt_model[i] = r->model[0] ? tp_strmap_get(s->fleet->model_ix, r->model) : -1;
        const char *bad = r->sensitivity[0] && src->jt_cls[i] < 0 ? "sensitivity"
                          : r->model[0] && src->jt_model[i] < 0   ? "model"
                                                                  : NULL;
        if (bad) {
            int rc =
                tp_error_set(j->err, TP_EINVAL,
                             "%s:%d: column \"%s\" (%s): \"%s\" is not a %s of the fleet",
                             fpath, r->line, bad[0] == 's' ? sp.sensitivity : sp.model,
                             bad, bad[0] == 's' ? r->sensitivity : r->model,
                             bad[0] == 's' ? "policy class" : "model with profiles");
            free(fpath);
            return rc;
        }
    }
    free(fpath);
    return 0;
}

static int load_source(jr_t *j, struct tp_scenario *sc, const json_t *v, const char *path,
                       sim_setup_t *s, sim_source_t *src)
{
    static const char *const k_azure[] = {"type",     "file",  "speedup",     "repeat",
                                          "offset_s", "limit", "deployments", NULL};
    static const char *const k_trace[] = {
        "type",   "format",   "file",  "columns",     "time_unit", "speedup",
        "repeat", "offset_s", "limit", "deployments", NULL};
    static const char *const k_ali[] = {
        "type",        "file",      "speedup", "duration_scale", "offset_s", "limit",
        "sensitivity", "residency", "models",  "gpu_map",        NULL};
    static const char *const k_req[] = {
        "type",        "rate_per_s", "diurnal", "context_tokens", "generated_tokens",
        "deployments", NULL};
    static const char *const k_jobs[] = {
        "type",      "rate_per_h", "diurnal",  "gpus",        "duration_s", "sensitivity",
        "residency", "models",     "priority", "preemptible", "tenants",    NULL};
    static const char *const k_train[] = {
        "type",        "rate_per_h", "diurnal",  "gpus",     "duration_s",
        "sensitivity", "residency",  "models",   "priority", "preemptible",
        "tenants",     "nodes",      "together", NULL};
    static const char *const k_list[] = {"type", "jobs", NULL};
    const char *type = NULL, *file = NULL;
    char p[JR_PATH], label[512];
    if (!json_is_object(v))
        return jr_fail(j, TP_EINVAL, path, "expected an object");
    if (str(j, v, path, "type", true, &type) < 0)
        return TP_EINVAL;
    src->speedup = 1;
    src->duration_scale = 1;
    if (!strcmp(type, "azure") || !strcmp(type, "alibaba") || !strcmp(type, "trace")) {
        long long repeat = 1, limit = 0;
        bool azure = type[0] != 'a' || type[1] == 'z'; /* a request trace */
        tp_req_trace_spec_t spec = tp_azure_preset;
        src->kind = azure ? SRC_AZURE : SRC_ALIBABA;
        if (type[0] == 't' && request_spec(j, v, path, &spec) < 0)
            return TP_EINVAL;
        if (jr_object(j, v, path,
                      type[0] == 't' ? k_trace
                      : azure        ? k_azure
                                     : k_ali) < 0 ||
            str(j, v, path, "file", true, &file) < 0 ||
            jr_number(j, v, path, "speedup", false, 1e-6, 1e9, &src->speedup) < 0 ||
            secs(j, v, path, "offset_s", false, 0, 1e9, &src->offset_us) < 0 ||
            jr_int(j, v, path, "limit", false, 0, INT64_MAX, &limit) < 0)
            return TP_EINVAL;
        src->limit = limit;
        char *fpath = resolve(sc->base_dir, file);
        tp_error_t te;
        const void *t = fpath ? trace_get(sc, fpath, azure ? 0 : 1, &spec, &te) : NULL;
        snprintf(label, sizeof label, "%s:%s", type,
                 strrchr(file, '/') ? strrchr(file, '/') + 1 : file);
        free(fpath);
        if (!t) {
            jr_key_path(p, path, "file");
            return tp_error_set(j->err, te.code ? te.code : TP_ENOMEM, "%s: %s: %s",
                                j->file, p, te.text);
        }
        if (azure) {
            src->azure = t;
            if (jr_int(j, v, path, "repeat", false, 0, 1000000, &repeat) < 0 ||
                dep_mix(j, v, path, s, src) < 0)
                return TP_EINVAL;
            src->repeat = (int)repeat;
        } else {
            src->pods = t;
            if (jr_number(j, v, path, "duration_scale", false, 1e-9, 1e9,
                          &src->duration_scale) < 0 ||
                job_mixes(j, v, path, s, src) < 0)
                return TP_EINVAL;
            const json_t *gm = json_object_get(v, "gpu_map"), *x;
            const char *name;
            if (gm) {
                jr_key_path(p, path, "gpu_map");
                if (jr_object(j, gm, p, NULL) < 0)
                    return TP_EINVAL;
                src->use_gpu_spec = true;
                src->gpu_map_from = calloc(json_object_size(gm) + 1, sizeof(char *));
                src->gpu_map_to = calloc(json_object_size(gm) + 1, sizeof(int));
                if (!src->gpu_map_from || !src->gpu_map_to)
                    return tp_error_set(j->err, TP_ENOMEM, "out of memory");
                json_object_foreach ((json_t *)gm, name, x) {
                    char p2[JR_PATH];
                    jr_key_path(p2, p, name);
                    int g = json_is_string(x) ? tp_strmap_get(s->fleet->gpu_model_ix,
                                                              json_string_value(x))
                                              : -1;
                    if (g < 0)
                        return jr_fail(j, TP_EINVAL, p2,
                                       "expected the name of a GPU model of the fleet");
                    src->gpu_map_from[src->ngpu_map] = strdup(name);
                    src->gpu_map_to[src->ngpu_map++] = g;
                }
            }
        }
    } else if (!strcmp(type, "requests")) {
        src->kind = SRC_REQUESTS;
        src->ctx_mean = 1000;
        src->gen_mean = 200;
        snprintf(label, sizeof label, "requests");
        if (jr_object(j, v, path, k_req) < 0 ||
            jr_number(j, v, path, "rate_per_s", true, 0, 1e7, &src->rate_per_s) < 0 ||
            diurnal(j, v, path, &src->diurnal) < 0 ||
            jr_number(j, v, path, "context_tokens", false, 0, 1e7, &src->ctx_mean) < 0 ||
            jr_number(j, v, path, "generated_tokens", false, 0, 1e7, &src->gen_mean) <
                0 ||
            dep_mix(j, v, path, s, src) < 0)
            return TP_EINVAL;
    } else if (!strcmp(type, "jobs") || !strcmp(type, "training")) {
        static const char *const kd[] = {"mean", "sigma", NULL};
        const json_t *d = json_object_get(v, "duration_s"),
                     *pr = json_object_get(v, "priority");
        bool train = type[0] == 't';
        src->kind = train ? SRC_TRAINING : SRC_JOBS;
        src->dur_mean_s = train ? 4 * 3600 : 3600;
        src->dur_sigma = 1;
        src->prio_lo = train ? 20 : 0;
        src->prio_hi = train ? 40 : 10;
        src->preemptible = train ? 1 : 0.8;
        snprintf(label, sizeof label, "%s", type);
        if (jr_object(j, v, path, train ? k_train : k_jobs) < 0 ||
            jr_number(j, v, path, "rate_per_h", true, 0, 1e9, &src->rate_per_h) < 0 ||
            diurnal(j, v, path, &src->diurnal) < 0 ||
            jr_number(j, v, path, "preemptible", false, 0, 1, &src->preemptible) < 0 ||
            job_mixes(j, v, path, s, src) < 0 || tenant_mix(j, v, path, s, src) < 0 ||
            size_mix(j, v, path, "gpus", 64, src->sizes, src->size_w, &src->nsizes) < 0)
            return TP_EINVAL;
        if (train) {
            if (size_mix(j, v, path, "nodes", SIM_MAX_GANG, src->gnodes, src->gnodes_w,
                         &src->ngnodes) < 0 ||
                together(j, v, path, s, src) < 0)
                return TP_EINVAL;
            if (!src->ngnodes) { /* 2–16 members, smaller gangs more often */
                static const int gn[] = {2, 4, 8, 16};
                static const double gw[] = {0.4, 0.3, 0.2, 0.1};
                memcpy(src->gnodes, gn, sizeof gn);
                memcpy(src->gnodes_w, gw, sizeof gw);
                src->ngnodes = 4;
            }
            for (int k = 0; k < src->ngnodes; k++)
                if (src->gnodes[k] < 2) {
                    jr_key_path(p, path, "nodes");
                    return jr_fail(j, TP_EINVAL, p,
                                   "expected gang sizes of 2..%d members (single-node "
                                   "work is a \"jobs\" source)",
                                   SIM_MAX_GANG);
                }
            if (!src->nsizes) { /* whole 8-GPU nodes */
                src->sizes[0] = 8;
                src->size_w[0] = 1;
                src->nsizes = 1;
            }
        }
        if (!src->nsizes) {
            src->sizes[0] = 1, src->sizes[1] = 2, src->sizes[2] = 4, src->sizes[3] = 8;
            src->size_w[0] = 0.4, src->size_w[1] = 0.25, src->size_w[2] = 0.2,
            src->size_w[3] = 0.15;
            src->nsizes = 4;
        }
        if (d) {
            jr_key_path(p, path, "duration_s");
            if (jr_object(j, d, p, kd) < 0 ||
                jr_number(j, d, p, "mean", true, 1, 1e8, &src->dur_mean_s) < 0 ||
                jr_number(j, d, p, "sigma", false, 0, 4, &src->dur_sigma) < 0)
                return TP_EINVAL;
        }
        if (pr) {
            jr_key_path(p, path, "priority");
            if (!json_is_array(pr) || json_array_size(pr) != 2 ||
                !json_is_integer(json_array_get(pr, 0)) ||
                !json_is_integer(json_array_get(pr, 1)))
                return jr_fail(j, TP_EINVAL, p, "expected [lowest, highest] priorities");
            src->prio_lo = (int)json_integer_value(json_array_get(pr, 0));
            src->prio_hi = (int)json_integer_value(json_array_get(pr, 1));
            if (src->prio_lo < 0 || src->prio_hi > 100 || src->prio_lo > src->prio_hi)
                return jr_fail(j, TP_EINVAL, p, "expected 0 ≤ lowest ≤ highest ≤ 100");
        }
    } else if (!strcmp(type, "job_trace")) {
        if (load_job_trace(j, sc, v, path, s, src) < 0)
            return TP_EINVAL;
        snprintf(label, sizeof label, "job_trace:%s",
                 strrchr(json_string_value(json_object_get(v, "file")), '/')
                     ? strrchr(json_string_value(json_object_get(v, "file")), '/') + 1
                     : json_string_value(json_object_get(v, "file")));
    } else if (!strcmp(type, "list")) {
        src->kind = SRC_LIST;
        snprintf(label, sizeof label, "list");
        if (jr_object(j, v, path, k_list) < 0 || load_list(j, v, path, s, src) < 0)
            return TP_EINVAL;
    } else {
        jr_key_path(p, path, "type");
        return jr_fail(
            j, TP_EINVAL, p,
            "expected \"trace\", \"job_trace\", \"azure\", \"alibaba\", \"requests\", "
            "\"jobs\", \"training\" or \"list\", "
            "got \"%s\"",
            type);
    }
    src->label = strdup(label);
    return 0;
}

/* ---- events --------------------------------------------------------------------------
 */

/* The nodes an event names: "nodes", "domain", "region", "gpu_model", "cpu_tee"
 * (all given filters must hold; none: every node) and an optional "count". */
static int selector(jr_t *j, const tp_fleet_t *f, const json_t *e, const char *path,
                    sim_event_t *ev)
{
    const json_t *ids = json_object_get(e, "nodes");
    const char *dom = NULL, *reg = NULL, *gm = NULL, *tee = NULL;
    long long count = 0;
    int d = -1, r = -1, g = -1, t = -2;
    char p[JR_PATH];
    if (str(j, e, path, "domain", false, &dom) < 0 ||
        str(j, e, path, "region", false, &reg) < 0 ||
        str(j, e, path, "gpu_model", false, &gm) < 0 ||
        str(j, e, path, "cpu_tee", false, &tee) < 0 ||
        jr_int(j, e, path, "count", false, 1, 1000000, &count) < 0)
        return TP_EINVAL;
    if (dom && (d = tp_strmap_get(f->domain_ix, dom)) < 0) {
        jr_key_path(p, path, "domain");
        return jr_fail(j, TP_EINVAL, p, "no power domain \"%s\" in the fleet", dom);
    }
    if (reg && (r = tp_fleet_region(f, reg)) < 0) {
        jr_key_path(p, path, "region");
        return jr_fail(j, TP_EINVAL, p, "no region \"%s\" in the fleet", reg);
    }
    if (gm && (g = tp_strmap_get(f->gpu_model_ix, gm)) < 0) {
        jr_key_path(p, path, "gpu_model");
        return jr_fail(j, TP_EINVAL, p, "no node of GPU model \"%s\" in the fleet", gm);
    }
    if (tee && (t = tp_tee_parse(tee)) < 0) {
        jr_key_path(p, path, "cpu_tee");
        return jr_fail(j, TP_EINVAL, p,
                       "expected one of \"none\", \"tdx\", \"sev-snp\", \"cca\"");
    }
    ev->nodes = calloc((size_t)f->nnodes, sizeof *ev->nodes);
    char *in = calloc((size_t)f->nnodes, 1);
    if (!ev->nodes || !in) {
        free(in);
        return tp_error_set(j->err, TP_ENOMEM, "out of memory");
    }
    if (ids) {
        const json_t *x;
        size_t i;
        jr_key_path(p, path, "nodes");
        if (!json_is_array(ids) || !json_array_size(ids)) {
            free(in);
            return jr_fail(j, TP_EINVAL, p, "expected a non-empty array of node ids");
        }
        json_array_foreach (ids, i, x) {
            char p2[JR_PATH];
            int n = json_is_string(x) ? tp_fleet_node(f, json_string_value(x)) : -1;
            jr_index_path(p2, p, i);
            if (n < 0) {
                free(in);
                return jr_fail(j, TP_EINVAL, p2, "no node with that id in the fleet");
            }
            in[n] = 1;
        }
    } else {
        memset(in, 1, (size_t)f->nnodes);
    }
    for (int n = 0; n < f->nnodes; n++) {
        bool under = d < 0;
        for (int x = f->nodes[n].domain; !under && x >= 0; x = f->domains[x].parent)
            under = x == d;
        if (in[n] && under && (r < 0 || f->nodes[n].region == r) &&
            (g < 0 || f->nodes[n].gpu_model == g) &&
            (t < -1 || (int)f->nodes[n].cpu_tee == t))
            ev->nodes[ev->nnodes++] = n;
    }
    free(in);
    ev->count = (int)count;
    if (ev->nnodes == 0)
        return jr_fail(j, TP_EINVAL, path, "selects no node");
    return 0;
}

static int push_event(jr_t *j, sim_setup_t *s, const sim_event_t *ev)
{
    sim_event_t *g = realloc(s->events, (size_t)(s->nevents + 1) * sizeof *g);
    if (!g)
        return tp_error_set(j->err, TP_ENOMEM, "out of memory");
    s->events = g;
    s->events[s->nevents++] = *ev;
    return 0;
}

static int load_event(jr_t *j, const json_t *e, const char *path, sim_setup_t *s)
{
    static const char *const k_cap[] = {"type",   "at_s",  "duration_s", "domain",
                                        "factor", "cap_w", NULL};
    static const char *const k_dr[] = {"type", "at_s", "domain", "curve", NULL};
    static const char *const k_sel[] = {"type",   "at_s",   "duration_s", "nodes",
                                        "domain", "region", "gpu_model",  "cpu_tee",
                                        "count",  "gpus",   NULL};
    static const char *const k_ver[] = {"type", "at_s", "duration_s", "verifier", NULL};
    static const char *const k_add[] = {"type",  "at_s",      "nodes",         "template",
                                        "count", "id_prefix", "power_domains", NULL};
    static const char *const k_res[] = {"type",    "at_s", "region",
                                        "classes", "mode", NULL};
    const tp_fleet_t *f = s->fleet;
    const char *type = NULL;
    sim_event_t ev = {0};
    char p[JR_PATH], label[256];
    if (!json_is_object(e))
        return jr_fail(j, TP_EINVAL, path, "expected an object");
    if (str(j, e, path, "type", true, &type) < 0 ||
        secs(j, e, path, "at_s", true, 0, 1e10, &ev.at_us) < 0)
        return TP_EINVAL;
    if (!strcmp(type, "power_cap") || !strcmp(type, "demand_response")) {
        bool dr = type[0] == 'd';
        const char *dom = NULL;
        if (jr_object(j, e, path, dr ? k_dr : k_cap) < 0 ||
            str(j, e, path, "domain", true, &dom) < 0)
            return TP_EINVAL;
        ev.kind = EV_POWER_CAP;
        if ((ev.domain = tp_strmap_get(f->domain_ix, dom)) < 0) {
            jr_key_path(p, path, "domain");
            return jr_fail(j, TP_EINVAL, p, "no power domain \"%s\" in the fleet", dom);
        }
        if (!dr) {
            ev.factor = NAN;
            if (secs(j, e, path, "duration_s", false, 1, 1e10, &ev.dur_us) < 0 ||
                jr_number(j, e, path, "factor", false, 0.01, 10, &ev.factor) < 0 ||
                jr_number(j, e, path, "cap_w", false, 1, 1e9, &ev.cap_w) < 0)
                return TP_EINVAL;
            if (isnan(ev.factor) == (ev.cap_w == 0))
                return jr_fail(j, TP_EINVAL, path,
                               "give exactly one of \"factor\" and \"cap_w\"");
            if (isnan(ev.factor))
                ev.factor = 0;
            if (ev.cap_w)
                snprintf(label, sizeof label, "cap %s %.0f kW", dom, ev.cap_w / 1000);
            else
                snprintf(label, sizeof label, "cap %s ×%.2g", dom, ev.factor);
            ev.label = strdup(label);
            return push_event(j, s, &ev);
        }
        /* A demand-response curve: [[offset_s, factor], …] → one cap change per point. */
        const json_t *c = json_object_get(e, "curve"), *pt;
        size_t i;
        jr_key_path(p, path, "curve");
        if (!json_is_array(c) || !json_array_size(c))
            return jr_fail(j, TP_EINVAL, p,
                           "expected a non-empty array of [offset_s, factor] points");
        double last = -1;
        json_array_foreach (c, i, pt) {
            char p2[JR_PATH];
            jr_index_path(p2, p, i);
            if (!json_is_array(pt) || json_array_size(pt) != 2 ||
                !json_is_number(json_array_get(pt, 0)) ||
                !json_is_number(json_array_get(pt, 1)))
                return jr_fail(j, TP_EINVAL, p2, "expected [offset_s, factor]");
            double off = json_number_value(json_array_get(pt, 0));
            double fac = json_number_value(json_array_get(pt, 1));
            if (off < 0 || off <= last)
                return jr_fail(j, TP_EINVAL, p2,
                               "offsets must be non-negative and increasing");
            if (fac < 0.01 || fac > 10)
                return jr_fail(j, TP_EINVAL, p2, "expected a factor in 0.01..10");
            last = off;
            sim_event_t pe = ev;
            pe.at_us = ev.at_us + (int64_t)llround(off * SIM_US);
            pe.factor = fac;
            snprintf(label, sizeof label, "DR %s ×%.2g", dom, fac);
            pe.label = strdup(label);
            if (push_event(j, s, &pe) < 0)
                return TP_ENOMEM;
        }
        return 0;
    }
    if (!strcmp(type, "gpu_failure") || !strcmp(type, "attestation_revoke") ||
        !strcmp(type, "attestation_expire") || !strcmp(type, "bmc_outage") ||
        !strcmp(type, "retire_nodes")) {
        long long gpus = 1;
        if (jr_object(j, e, path, k_sel) < 0 ||
            secs(j, e, path, "duration_s", false, 1, 1e10, &ev.dur_us) < 0 ||
            jr_int(j, e, path, "gpus", false, 1, 64, &gpus) < 0 ||
            selector(j, f, e, path, &ev) < 0) {
            free(ev.nodes);
            return TP_EINVAL;
        }
        ev.gpus = (int)gpus;
        ev.kind = type[0] == 'g'    ? EV_GPU_FAILURE
                  : type[0] == 'b'  ? EV_BMC_OUTAGE
                  : type[0] == 'r'  ? EV_RETIRE_NODES
                  : type[12] == 'r' ? EV_ATT_REVOKE
                                    : EV_ATT_EXPIRE;
        if (json_object_get(e, "gpus") && ev.kind != EV_GPU_FAILURE) {
            free(ev.nodes);
            jr_key_path(p, path, "gpus");
            return jr_fail(j, TP_EINVAL, p, "only a gpu_failure has \"gpus\"");
        }
        if (ev.kind == EV_RETIRE_NODES && ev.dur_us) {
            free(ev.nodes);
            jr_key_path(p, path, "duration_s");
            return jr_fail(j, TP_EINVAL, p,
                           "retired nodes do not come back (add them again)");
        }
        snprintf(label, sizeof label, "%s (%d node%s)", type,
                 ev.count ? ev.count : ev.nnodes,
                 (ev.count ? ev.count : ev.nnodes) == 1 ? "" : "s");
        ev.label = strdup(label);
        return push_event(j, s, &ev);
    }
    if (!strcmp(type, "verifier_outage")) {
        const char *ver = NULL;
        if (jr_object(j, e, path, k_ver) < 0 ||
            str(j, e, path, "verifier", true, &ver) < 0 ||
            secs(j, e, path, "duration_s", false, 1, 1e10, &ev.dur_us) < 0)
            return TP_EINVAL;
        bool any = false;
        for (int n = 0; n < f->nnodes; n++)
            any |= f->nodes[n].verifier && !strcmp(f->nodes[n].verifier, ver);
        if (!any) {
            jr_key_path(p, path, "verifier");
            return jr_fail(j, TP_EINVAL, p, "no node of the fleet names verifier \"%s\"",
                           ver);
        }
        ev.kind = EV_VERIFIER_OUTAGE;
        ev.verifier = strdup(ver);
        snprintf(label, sizeof label, "verifier %s down", ver);
        ev.label = strdup(label);
        return push_event(j, s, &ev);
    }
    if (!strcmp(type, "add_nodes")) {
        if (jr_object(j, e, path, k_add) < 0)
            return TP_EINVAL;
        /* The nodes were appended to the union fleet in event order; find them. */
        ev.kind = EV_ADD_NODES;
        return push_event(j, s, &ev); /* nodes filled in by assign_added() */
    }
    if (!strcmp(type, "residency_rule")) {
        const char *reg = NULL, *mode = "declared";
        const json_t *cl = json_object_get(e, "classes"), *x;
        size_t i;
        if (jr_object(j, e, path, k_res) < 0 ||
            str(j, e, path, "region", true, &reg) < 0 ||
            str(j, e, path, "mode", false, &mode) < 0)
            return TP_EINVAL;
        ev.kind = EV_RESIDENCY_RULE;
        if ((ev.region = tp_fleet_region(f, reg)) < 0) {
            jr_key_path(p, path, "region");
            return jr_fail(j, TP_EINVAL, p, "no region \"%s\" in the fleet", reg);
        }
        jr_key_path(p, path, "mode");
        if (!strcmp(mode, "declared"))
            ev.mode = TP_RESIDENCY_DECLARED;
        else if (!strcmp(mode, "verified"))
            ev.mode = TP_RESIDENCY_VERIFIED;
        else
            return jr_fail(j, TP_EINVAL, p, "expected \"declared\" or \"verified\"");
        jr_key_path(p, path, "classes");
        if (!json_is_array(cl) || !json_array_size(cl))
            return jr_fail(j, TP_EINVAL, p, "expected a non-empty array of class names");
        json_array_foreach (cl, i, x) {
            char p2[JR_PATH];
            int c = json_is_string(x) ? tp_fleet_class(f, json_string_value(x)) : -1;
            jr_index_path(p2, p, i);
            if (c < 0)
                return jr_fail(j, TP_EINVAL, p2,
                               "expected a class of the fleet's policy");
            ev.class_mask |= 1u << c;
        }
        snprintf(label, sizeof label, "residency %s %s", reg, mode);
        ev.label = strdup(label);
        return push_event(j, s, &ev);
    }
    jr_key_path(p, path, "type");
    return jr_fail(j, TP_EINVAL, p,
                   "unknown event type \"%s\" (power_cap, demand_response, gpu_failure, "
                   "attestation_revoke, attestation_expire, verifier_outage, bmc_outage, "
                   "add_nodes, retire_nodes, residency_rule)",
                   type);
}

/* add_nodes events own the union nodes appended after the base fleet, in order. */
static int assign_added(jr_t *j, const json_t *events, sim_setup_t *s)
{
    int next = 0;
    while (next < s->fleet->nnodes && s->present0[next])
        next++;
    for (int i = 0, k = 0; i < s->nevents; i++) {
        sim_event_t *ev = &s->events[i];
        if (ev->kind != EV_ADD_NODES)
            continue;
        /* The k-th add_nodes event of the file. */
        const json_t *e;
        size_t x;
        int seen = 0, count = 0;
        json_array_foreach (events, x, e) {
            const json_t *t = json_object_get(e, "type");
            if (!json_is_string(t) || strcmp(json_string_value(t), "add_nodes"))
                continue;
            if (seen++ == k) {
                const json_t *nl = json_object_get(e, "nodes");
                count = nl ? (int)json_array_size(nl)
                           : (int)json_integer_value(json_object_get(e, "count"));
                break;
            }
        }
        k++;
        ev->nodes = calloc((size_t)count + 1, sizeof *ev->nodes);
        if (!ev->nodes)
            return tp_error_set(j->err, TP_ENOMEM, "out of memory");
        for (int c = 0; c < count; c++)
            ev->nodes[ev->nnodes++] = next++;
        char label[128];
        snprintf(label, sizeof label, "+%d nodes", count);
        ev->label = strdup(label);
    }
    return 0;
}

/* The reference GPU of batch work: a GPU model of the fleet on which every model
 * a job source can emit has a profile (else a job's work has no stated speed). */
static int reference_gpu(jr_t *j, sim_setup_t *s, const char *name)
{
    const tp_fleet_t *f = s->fleet;
    s->ref_gpu = tp_strmap_get(f->gpu_model_ix, name);
    if (s->ref_gpu < 0)
        return jr_fail(j, TP_EINVAL, "$.batch.reference_gpu",
                       "no GPU model \"%s\" in the fleet", name);
    for (int i = 0; i < s->nsrcs; i++) {
        const sim_source_t *src = &s->srcs[i];
        for (int m = 0; m < f->nmodels; m++) {
            bool used = src->model_w && src->model_w[m] > 0;
            for (int k = 0; k < src->njobs; k++)
                used |= src->jobs[k].model == m;
            for (size_t k = 0; src->jtrace && k < src->jtrace->n; k++)
                used |= src->jt_model[k] == m;
            if (used && !tp_fleet_profile(f, m, s->ref_gpu))
                return jr_fail(j, TP_EINVAL, "$.batch.reference_gpu",
                               "model \"%s\" (a job source's) has no profile on %s",
                               f->models[m], name);
        }
    }
    return 0;
}

double sim_mean_tps(const sim_setup_t *s, int model)
{
    const tp_fleet_t *f = s->fleet;
    double sum = 0, n = 0;
    for (int u = 0; u < f->nnodes; u++) {
        const tp_profile_t *p = tp_fleet_profile(f, model, f->nodes[u].gpu_model);
        if (p && s->present0[u]) {
            sum += f->nodes[u].gpus * p->tokens_per_s;
            n += f->nodes[u].gpus;
        }
    }
    return n > 0 ? sum / n : 0;
}

double sim_reference_tps(const sim_setup_t *s, int model)
{
    if (s->ref_gpu >= 0) {
        const tp_profile_t *p = tp_fleet_profile(s->fleet, model, s->ref_gpu);
        return p ? p->tokens_per_s : 0;
    }
    return sim_mean_tps(s, model);
}

/* ---- the document --------------------------------------------------------------------
 */

static int compile(jr_t *j, struct tp_scenario *sc, const json_t *root, sim_setup_t *s)
{
    static const char *const k[] = {
        "version",  "name",        "description", "fleet",       "state",
        "start",    "duration_s",  "tick_s",      "sample_s",    "seed",
        "policies", "attestation", "autoscaler",  "deployments", "sources",
        "events",   "grid",        "solver",      "batch",       "seeds",
        "warmup_s", "warm_start",  "tenants",     NULL};
    static const char *const k_batch[] = {"duration", "reference_gpu", NULL};
    static const char *const k_sol[] = {"method", "time_limit_ms", NULL};
    static const char *const k_att[] = {"renew_s", "ttl_s", NULL};
    static const char *const k_as[] = {"target_util", "window_s", "drain_s", "cooldown_s",
                                       NULL};
    long long version = 0, seed = 1, start = TP_GEN_DEFAULT_NOW;
    const char *name = NULL, *ref_name = NULL;
    const json_t *a, *x;
    size_t i;
    if (jr_object(j, root, "$", k) < 0 ||
        jr_int(j, root, "$", "version", true, 1, 1, &version) < 0 ||
        str(j, root, "$", "name", true, &name) < 0 ||
        jr_int(j, root, "$", "seed", false, 0, INT64_MAX, &seed) < 0 ||
        jr_int(j, root, "$", "start", false, 0, 1LL << 40, &start) < 0)
        return TP_EINVAL;
    if (json_object_get(root, "description") &&
        !json_is_string(json_object_get(root, "description")))
        return jr_fail(j, TP_EINVAL, "$.description", "expected a string");
    s->name = strdup(name);
    if (!s->seed)
        s->seed = (uint64_t)seed;
    s->start_s = start;
    s->tick_us = 10 * SIM_US;
    s->renew_us = 300 * SIM_US;
    s->ttl_us = 3600 * SIM_US;
    s->target_util = 0.7;
    s->window_s = 300;
    s->drain_s = 120;
    s->cooldown_s = 600;
    if (secs(j, root, "$", "duration_s", true, 1, 366 * 86400.0, &s->duration_us) < 0 ||
        secs(j, root, "$", "warmup_s", false, 0, 366 * 86400.0, &s->warmup_us) < 0 ||
        secs(j, root, "$", "tick_s", false, 0.001, 86400, &s->tick_us) < 0)
        return TP_EINVAL;
    if (s->warmup_us >= s->duration_us)
        return jr_fail(j, TP_EINVAL, "$.warmup_s", "expected less than duration_s");
    s->sample_us = s->duration_us / 288;
    if (s->sample_us < s->tick_us)
        s->sample_us = s->tick_us;
    if (secs(j, root, "$", "sample_s", false, 0.001, 86400 * 30.0, &s->sample_us) < 0)
        return TP_EINVAL;
    if (s->duration_us / s->sample_us > 100000)
        return jr_fail(j, TP_EINVAL, "$.sample_s",
                       "more than 100,000 samples; sample less often");
    if ((a = json_object_get(root, "attestation")) &&
        (jr_object(j, a, "$.attestation", k_att) < 0 ||
         secs(j, a, "$.attestation", "renew_s", false, 1, 86400, &s->renew_us) < 0 ||
         secs(j, a, "$.attestation", "ttl_s", false, 1, 30 * 86400.0, &s->ttl_us) < 0))
        return TP_EINVAL;
    if ((a = json_object_get(root, "autoscaler")) &&
        (jr_object(j, a, "$.autoscaler", k_as) < 0 ||
         jr_number(j, a, "$.autoscaler", "target_util", false, 0.05, 1, &s->target_util) <
             0 ||
         jr_number(j, a, "$.autoscaler", "window_s", false, 1, 86400, &s->window_s) < 0 ||
         jr_number(j, a, "$.autoscaler", "drain_s", false, 1, 86400, &s->drain_s) < 0 ||
         jr_number(j, a, "$.autoscaler", "cooldown_s", false, 0, 86400, &s->cooldown_s) <
             0))
        return TP_EINVAL;
    s->solver.method = "aggregate";
    s->ref_gpu = -1;
    if ((a = json_object_get(root, "batch"))) {
        const char *d = NULL;
        if (jr_object(j, a, "$.batch", k_batch) < 0 ||
            str(j, a, "$.batch", "duration", false, &d) < 0 ||
            str(j, a, "$.batch", "reference_gpu", false, &ref_name) < 0)
            return TP_EINVAL;
        if (d && strcmp(d, "work") && strcmp(d, "wall_time"))
            return jr_fail(j, TP_EINVAL, "$.batch.duration",
                           "expected \"work\" or \"wall_time\"");
        s->wall_time_jobs = d && !strcmp(d, "wall_time");
    }
    if ((a = json_object_get(root, "solver"))) {
        const char *m = NULL;
        if (jr_object(j, a, "$.solver", k_sol) < 0 ||
            str(j, a, "$.solver", "method", false, &m) < 0 ||
            jr_number(j, a, "$.solver", "time_limit_ms", false, 1, 3.6e6,
                      &s->solver.time_limit_ms) < 0)
            return TP_EINVAL;
        if (m && strcmp(m, "aggregate") && strcmp(m, "auto") && strcmp(m, "exact"))
            return jr_fail(j, TP_EINVAL, "$.solver.method",
                           "expected \"aggregate\", \"auto\" or \"exact\"");
        if (m)
            s->solver.method = !strcmp(m, "auto")    ? "auto"
                               : !strcmp(m, "exact") ? "exact"
                                                     : "aggregate";
    }
    /* Policies. */
    a = json_object_get(root, "policies");
    if (a && (!json_is_array(a) || !json_array_size(a)))
        return jr_fail(j, TP_EINVAL, "$.policies",
                       "expected a non-empty array of policy names");
    s->policies = calloc(a ? json_array_size(a) + 1 : 5, sizeof *s->policies);
    if (!s->policies)
        return tp_error_set(j->err, TP_ENOMEM, "out of memory");
    if (a) {
        json_array_foreach (a, i, x) {
            char p[JR_PATH];
            bool ok = false;
            jr_index_path(p, "$.policies", i);
            for (int q = 0; json_is_string(x) && tp_sim_policy_names[q]; q++)
                ok |= !strcmp(tp_sim_policy_names[q], json_string_value(x));
            if (!ok)
                return jr_fail(j, TP_EINVAL, p,
                               "expected one of trustplace, capacity-first, first-fit, "
                               "efficiency-greedy");
            for (int q = 0; q < s->npolicies; q++)
                if (!strcmp(s->policies[q], json_string_value(x)))
                    return jr_fail(j, TP_EINVAL, p, "listed twice");
            s->policies[s->npolicies++] = strdup(json_string_value(x));
        }
    } else {
        for (int q = 0; tp_sim_policy_names[q]; q++)
            s->policies[s->npolicies++] = strdup(tp_sim_policy_names[q]);
    }
    if (load_fleet(j, sc, root, s) < 0 || load_state(j, sc, root, s) < 0 ||
        load_deployments(j, root, s) < 0)
        return TP_EINVAL;
    /* Sources. */
    a = json_object_get(root, "sources");
    if (a) {
        if (!json_is_array(a))
            return jr_fail(j, TP_EINVAL, "$.sources", "expected an array");
        s->srcs = calloc(json_array_size(a) + 1, sizeof *s->srcs);
        if (!s->srcs)
            return tp_error_set(j->err, TP_ENOMEM, "out of memory");
        json_array_foreach (a, i, x) {
            char p[JR_PATH];
            jr_index_path(p, "$.sources", i);
            s->nsrcs = (int)i + 1;
            if (load_source(j, sc, x, p, s, &s->srcs[i]) < 0)
                return j->err->code;
        }
    }
    /* Events. */
    a = json_object_get(root, "events");
    if (a) {
        if (!json_is_array(a))
            return jr_fail(j, TP_EINVAL, "$.events", "expected an array");
        json_array_foreach (a, i, x) {
            char p[JR_PATH];
            jr_index_path(p, "$.events", i);
            if (load_event(j, x, p, s) < 0)
                return j->err->code;
        }
        if (assign_added(j, a, s) < 0)
            return TP_ENOMEM;
    }
    for (int e = 0; e < s->nevents; e++)
        if (s->events[e].kind == EV_RETIRE_NODES)
            s->fleet_changes = true;
    if ((a = json_object_get(root, "warm_start"))) {
        const char *file = NULL;
        if (!json_is_object(a))
            return jr_fail(j, TP_EINVAL, "$.warm_start",
                           "expected {\"running\": FILE, \"remaining_s\": …}");
        if (str(j, a, "$.warm_start", "running", true, &file) < 0)
            return TP_EINVAL;
        char *path = resolve(sc->base_dir, file);
        int rc = path ? sim_warm_load(j, a, path, s)
                      : tp_error_set(j->err, TP_ENOMEM, "out of memory");
        free(path);
        if (rc < 0)
            return rc;
    }
    return ref_name ? reference_gpu(j, s, ref_name) : 0;
}

void sim_setup_free(sim_setup_t *s)
{
    if (!s)
        return;
    free(s->name);
    tp_state_free(s->state0);
    tp_fleet_free(s->fleet);
    json_decref(s->fleet_doc);
    free(s->present0);
    tp_workloads_free(s->warm);
    free(s->warm_file);
    free(s->warm_rem_us);
    for (int i = 0; s->deps && i < s->ndeps; i++) {
        free(s->deps[i].id);
        free(s->deps[i].res);
    }
    free(s->deps);
    for (int i = 0; s->srcs && i < s->nsrcs; i++) {
        free(s->srcs[i].label);
        free(s->srcs[i].dep_w);
        free(s->srcs[i].model_w);
        free(s->srcs[i].tenant_w);
        free(s->srcs[i].jt_cls);
        free(s->srcs[i].jt_model);
        for (int g = 0; g < s->srcs[i].ngpu_map; g++)
            free(s->srcs[i].gpu_map_from[g]);
        free(s->srcs[i].gpu_map_from);
        free(s->srcs[i].gpu_map_to);
        for (int q = 0; q < s->srcs[i].njobs; q++)
            free(s->srcs[i].jobs[q].id);
        free(s->srcs[i].jobs);
    }
    free(s->srcs);
    for (int i = 0; i < s->nevents; i++) {
        free(s->events[i].label);
        free(s->events[i].nodes);
        free(s->events[i].verifier);
    }
    free(s->events);
    for (int i = 0; s->policies && i < s->npolicies; i++)
        free(s->policies[i]);
    free(s->policies);
    json_decref(s->params);
    free(s);
}

/* Sets the value at a JSON pointer ("/events/0/factor") of doc; the parent must
 * exist, and for arrays the index too. */
static int pointer_set(json_t *doc, const char *ptr, json_t *value)
{
    char buf[JR_PATH], *save = NULL;
    json_t *cur = doc;
    if (ptr[0] != '/' || strlen(ptr) >= sizeof buf)
        return -1;
    snprintf(buf, sizeof buf, "%s", ptr + 1);
    char *tok = strtok_r(buf, "/", &save);
    while (tok) {
        char *next = strtok_r(NULL, "/", &save);
        if (json_is_object(cur)) {
            if (!next)
                return json_object_set(cur, tok, value);
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *e;
            long ix = strtol(tok, &e, 10);
            if (*e || ix < 0 || (size_t)ix >= json_array_size(cur))
                return -1;
            if (!next)
                return json_array_set(cur, (size_t)ix, value);
            cur = json_array_get(cur, (size_t)ix);
        } else {
            return -1;
        }
        if (!cur)
            return -1;
        tok = next;
    }
    return -1;
}

int sim_setup_new(struct tp_scenario *sc, int v, bool seed_set, uint64_t seed,
                  sim_setup_t **out, tp_error_t *err)
{
    jr_t j = {sc->source, err};
    sim_setup_t *s = calloc(1, sizeof *s);
    json_t *doc = json_deep_copy(sc->doc);
    *out = NULL;
    if (!s || !doc) {
        free(s);
        json_decref(doc);
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    s->params = json_object();
    /* Apply the grid: the last path varies fastest. */
    if (sc->grid) {
        int rest = v;
        for (size_t g = json_array_size(sc->grid); g-- > 0;) {
            const json_t *e = json_array_get(sc->grid, g);
            const json_t *vals = json_object_get(e, "values");
            const char *ptr = json_string_value(json_object_get(e, "path"));
            size_t nv = json_array_size(vals);
            json_t *val = json_array_get(vals, (size_t)rest % nv);
            rest /= (int)nv;
            if (pointer_set(doc, ptr, val) < 0) {
                char p[JR_PATH];
                jr_index_path(p, "$.grid", g);
                sim_setup_free(s);
                json_decref(doc);
                return jr_fail(&j, TP_EINVAL, p,
                               "path \"%s\" names nothing in the scenario", ptr);
            }
        }
        for (size_t g = 0; g < json_array_size(sc->grid); g++) {
            const json_t *e = json_array_get(sc->grid, g);
            const char *ptr = json_string_value(json_object_get(e, "path"));
            json_t *cur = doc;
            /* read the value back for the summary */
            char buf[JR_PATH], *save = NULL;
            snprintf(buf, sizeof buf, "%s", ptr + 1);
            for (char *tok = strtok_r(buf, "/", &save); tok && cur;
                 tok = strtok_r(NULL, "/", &save))
                cur = json_is_array(cur) ? json_array_get(cur, (size_t)atol(tok))
                                         : json_object_get(cur, tok);
            json_object_set(s->params, ptr, cur ? cur : json_null());
        }
    }
    if (seed_set)
        s->seed = seed ? seed : 0;
    int rc = compile(&j, sc, doc, s);
    if (seed_set)
        s->seed = seed;
    json_decref(doc);
    if (rc < 0) {
        sim_setup_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---- the scenario object ------------------------------------------------------------
 */

static int check_grid(jr_t *j, struct tp_scenario *sc)
{
    static const char *const k[] = {"path", "values", NULL};
    const json_t *g = json_object_get(sc->doc, "grid"), *e;
    size_t i;
    long long variants = 1;
    sc->nvariants = 1;
    if (!g)
        return 0;
    if (!json_is_array(g) || !json_array_size(g))
        return jr_fail(j, TP_EINVAL, "$.grid",
                       "expected a non-empty array of {\"path\", \"values\"}");
    json_array_foreach (g, i, e) {
        char p[JR_PATH], p2[JR_PATH];
        const char *ptr = NULL;
        jr_index_path(p, "$.grid", i);
        if (jr_object(j, e, p, k) < 0 || str(j, e, p, "path", true, &ptr) < 0)
            return TP_EINVAL;
        jr_key_path(p2, p, "path");
        if (ptr[0] != '/' || !strncmp(ptr, "/grid", 5))
            return jr_fail(j, TP_EINVAL, p2,
                           "expected a JSON pointer such as \"/events/0/factor\"");
        const json_t *vals = json_object_get(e, "values");
        jr_key_path(p2, p, "values");
        if (!json_is_array(vals) || !json_array_size(vals))
            return jr_fail(j, TP_EINVAL, p2, "expected a non-empty array of values");
        variants *= (long long)json_array_size(vals);
        if (variants > 100000)
            return jr_fail(j, TP_EINVAL, "$.grid", "more than 100,000 variants");
    }
    sc->grid = json_incref((json_t *)g);
    sc->nvariants = (int)variants;
    return 0;
}

/* "seeds": "1-10" (or "1,4,9"), or an array of seeds. */
static int load_seeds(jr_t *j, struct tp_scenario *sc)
{
    const json_t *s = json_object_get(sc->doc, "seeds"), *x;
    size_t i;
    tp_error_t e;
    if (!s)
        return 0;
    if (json_is_string(s)) {
        if (sim_seeds_parse(json_string_value(s), &sc->seeds, &sc->nseeds, &e) < 0)
            return jr_fail(j, TP_EINVAL, "$.seeds", "%s", e.text);
        return 0;
    }
    if (!json_is_array(s) || !json_array_size(s) || json_array_size(s) > SIM_MAX_SEEDS)
        return jr_fail(j, TP_EINVAL, "$.seeds",
                       "expected \"A-B\" or an array of 1..%d seeds", SIM_MAX_SEEDS);
    char spec[32 * SIM_MAX_SEEDS / 4] = "";
    size_t used = 0;
    json_array_foreach (s, i, x) {
        char p[JR_PATH];
        jr_index_path(p, "$.seeds", i);
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            return jr_fail(j, TP_EINVAL, p, "expected a seed (an integer ≥ 0)");
        used +=
            (size_t)snprintf(spec + used, used < sizeof spec ? sizeof spec - used : 0,
                             "%s%lld", i ? "," : "", (long long)json_integer_value(x));
        if (used >= sizeof spec)
            return jr_fail(j, TP_EINVAL, p, "too many seeds");
    }
    if (sim_seeds_parse(spec, &sc->seeds, &sc->nseeds, &e) < 0)
        return jr_fail(j, TP_EINVAL, "$.seeds", "%s", e.text);
    return 0;
}

static int finish(struct tp_scenario *sc, json_t *doc, tp_error_t *err)
{
    jr_t j = {sc->source, err};
    const json_t *name;
    sc->doc = doc;
    if (!json_is_object(doc))
        return jr_fail(&j, TP_EINVAL, "$", "expected an object");
    name = json_object_get(doc, "name");
    sc->name = strdup(json_is_string(name) ? json_string_value(name) : "scenario");
    if (check_grid(&j, sc) < 0 || load_seeds(&j, sc) < 0)
        return TP_EINVAL;
    /* Compile every variant once so that a bad one fails now, not hours in (the
     * traces are read once and cached). */
    int check = sc->nvariants < 64 ? sc->nvariants : 64;
    for (int v = 0; v < check; v++) {
        sim_setup_t *s;
        int rc = sim_setup_new(sc, v, false, 0, &s, err);
        if (rc < 0)
            return rc;
        sim_setup_free(s);
    }
    return 0;
}

int tp_scenario_load_buffer(const char *name, const char *text, size_t len,
                            const char *base_dir, tp_scenario_t **out, tp_error_t *err)
{
    json_error_t je;
    struct tp_scenario *sc = calloc(1, sizeof *sc);
    *out = NULL;
    tp_error_clear(err);
    if (!sc)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    sc->source = strdup(name);
    sc->base_dir = strdup(base_dir ? base_dir : ".");
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        int rc = tp_error_set(err, TP_EPARSE, "%s:%d:%d: %s", name, je.line, je.column,
                              je.text);
        tp_scenario_free(sc);
        return rc;
    }
    int rc = finish(sc, doc, err);
    if (rc < 0) {
        tp_scenario_free(sc);
        return rc;
    }
    *out = sc;
    return 0;
}

int tp_scenario_load(const char *path, tp_scenario_t **out, tp_error_t *err)
{
    char *text;
    size_t len;
    *out = NULL;
    tp_error_clear(err);
    int rc = tp_file_read(path, MAX_SCENARIO_BYTES, &text, &len, err);
    if (rc < 0)
        return rc;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    rc = tp_scenario_load_buffer(path, text, len, dir, out, err);
    free(text);
    return rc;
}

void tp_scenario_free(tp_scenario_t *sc)
{
    if (!sc)
        return;
    free(sc->name);
    free(sc->source);
    free(sc->base_dir);
    json_decref(sc->doc);
    json_decref(sc->grid);
    for (int i = 0; i < sc->ntraces; i++) {
        free(sc->trace_paths[i]);
        if (sc->trace_kind[i] == 0)
            tp_sim_azure_fini(sc->traces[i]);
        else if (sc->trace_kind[i] == 2)
            tp_sim_job_trace_fini(sc->traces[i]);
        else
            tp_alibaba_pod_list_fini(sc->traces[i]);
        free(sc->traces[i]);
    }
    free(sc->trace_paths);
    free(sc->traces);
    free(sc->trace_kind);
    free(sc->seeds);
    free(sc);
}

int tp_scenario_variants(const tp_scenario_t *s)
{
    return s->nvariants;
}

const char *tp_scenario_name(const tp_scenario_t *s)
{
    return s->name;
}
