/*
 * model/fleet.c — loads and validates the fleet file (regions, the power-domain
 * tree, nodes, policy classes, efficiency profiles) into tp_fleet_t.
 */
#include "model/model_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_W 1e9 /* 1 GW: anything above is a typo */
#define MAX_GPUS 64

int tp__tee_list(jr_t *r, const json_t *obj, const char *path, const char *key,
                 unsigned *mask)
{
    const json_t *arr = json_object_get(obj, key), *v;
    char apath[JR_PATH], vpath[JR_PATH];
    size_t i;
    if (!arr)
        return 0;
    jr_key_path(apath, path, key);
    if (jr_array(r, arr, apath) < 0)
        return r->err->code;
    if (json_array_size(arr) == 0)
        return jr_fail(r, TP_EINVAL, apath,
                       "expected a non-empty list of TEEs (none, tdx, sev-snp, cca)");
    *mask = 0;
    json_array_foreach (arr, i, v) {
        jr_index_path(vpath, apath, i);
        int t = json_is_string(v) ? tp_tee_parse(json_string_value(v)) : -2;
        if (t < 0)
            return jr_fail(r, TP_EINVAL, vpath,
                           "expected one of \"none\", \"tdx\", \"sev-snp\", \"cca\"");
        if (*mask & (1u << t))
            return jr_fail(r, TP_EDUP, vpath, "\"%s\" listed twice", tp_tee_name(t));
        *mask |= 1u << t;
    }
    return 0;
}

int tp__attestation_req(jr_t *r, const json_t *obj, const char *path, tp_req_t *req)
{
    static const char *const keys[] = {"min_status", "max_age_s", NULL};
    const json_t *a = json_object_get(obj, "attestation");
    char apath[JR_PATH], spath[JR_PATH];
    const char *status = "affirming";
    long long age = 0;
    if (!a)
        return 0;
    jr_key_path(apath, path, "attestation");
    if (jr_object(r, a, apath, keys) < 0 ||
        jr_string(r, a, apath, "min_status", true, &status) < 0 ||
        jr_int(r, a, apath, "max_age_s", false, 1, 366LL * 86400, &age) < 0)
        return r->err->code;
    int s = tp_att_status_parse(status);
    if (s != TP_ATT_AFFIRMING && s != TP_ATT_WARNING) {
        jr_key_path(spath, apath, "min_status");
        return jr_fail(r, TP_EINVAL, spath,
                       "expected \"affirming\" or \"warning\", got \"%s\"", status);
    }
    req->attestation = true;
    req->min_status = (tp_att_status_t)s;
    req->max_age_s = age;
    return 0;
}

/* Adds name to an interned list if new; returns its index or a negative code. */
static int intern(jr_t *r, char ***names, int *n, tp_strmap_t *ix, const char *name)
{
    int i = tp_strmap_get(ix, name);
    char **grown, *copy;
    if (i >= 0)
        return i;
    grown = realloc(*names, (size_t)(*n + 1) * sizeof **names);
    if (!grown)
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
    *names = grown;
    if (jr_strdup(r, name, &copy) < 0)
        return TP_ENOMEM;
    grown[*n] = copy;
    if (tp_strmap_put(ix, copy, *n) < 0) {
        free(copy);
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
    }
    return (*n)++;
}

static int load_regions(jr_t *r, tp_fleet_t *f, const json_t *regions)
{
    static const char *const keys[] = {"countries", NULL};
    const char *id;
    json_t *v;
    int i = 0;
    if (jr_object(r, regions, "$.regions", NULL) < 0)
        return r->err->code;
    if (json_object_size(regions) == 0)
        return jr_fail(r, TP_EINVAL, "$.regions", "expected at least one region");
    f->nregions = (int)json_object_size(regions);
    f->regions = calloc((size_t)f->nregions, sizeof *f->regions);
    f->region_ix = tp_strmap_new((size_t)f->nregions);
    if (!f->regions || !f->region_ix)
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
    json_object_foreach ((json_t *)regions, id, v) {
        tp_region_t *rg = &f->regions[i];
        char path[JR_PATH], cpath[JR_PATH], epath[JR_PATH];
        const json_t *cs, *c;
        size_t k;
        jr_key_path(path, "$.regions", id);
        if (jr_check_id(r, path, id) < 0 || jr_object(r, v, path, keys) < 0 ||
            jr_strdup(r, id, &rg->id) < 0)
            return r->err->code;
        tp_strmap_put(f->region_ix, rg->id, i);
        i++;
        cs = json_object_get(v, "countries");
        jr_key_path(cpath, path, "countries");
        if (!cs)
            return jr_fail(r, TP_EINVAL, cpath, "missing required key");
        if (jr_array(r, cs, cpath) < 0)
            return r->err->code;
        if (json_array_size(cs) == 0)
            return jr_fail(r, TP_EINVAL, cpath, "expected at least one country code");
        rg->countries = calloc(json_array_size(cs), sizeof *rg->countries);
        if (!rg->countries)
            return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
        json_array_foreach (cs, k, c) {
            const char *s = json_is_string(c) ? json_string_value(c) : "";
            jr_index_path(epath, cpath, k);
            if (strlen(s) != 2 || !isupper((unsigned char)s[0]) ||
                !isupper((unsigned char)s[1]))
                return jr_fail(
                    r, TP_EINVAL, epath,
                    "expected an ISO 3166 alpha-2 code in upper case (\"DE\")");
            if (tp_region_has_country(rg, s))
                return jr_fail(r, TP_EDUP, epath, "country \"%s\" listed twice", s);
            if (jr_strdup(r, s, &rg->countries[rg->ncountries]) < 0)
                return r->err->code;
            rg->ncountries++;
        }
    }
    return 0;
}

static int load_domains(jr_t *r, tp_fleet_t *f, const json_t *domains)
{
    static const char *const keys[] = {"id", "parent", "cap_w", "kind", NULL};
    const json_t *v;
    size_t i;
    if (jr_array(r, domains, "$.power_domains") < 0)
        return r->err->code;
    if (json_array_size(domains) == 0)
        return jr_fail(r, TP_EINVAL, "$.power_domains",
                       "expected at least one power domain");
    f->ndomains = (int)json_array_size(domains);
    f->domains = calloc((size_t)f->ndomains, sizeof *f->domains);
    f->domain_ix = tp_strmap_new((size_t)f->ndomains);
    if (!f->domains || !f->domain_ix)
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
    /* First pass: ids and caps; second: parents, once every id is known. */
    json_array_foreach (domains, i, v) {
        tp_domain_t *d = &f->domains[i];
        char path[JR_PATH], ipath[JR_PATH];
        const char *id = NULL, *kind = NULL;
        jr_index_path(path, "$.power_domains", i);
        d->parent = -1;
        d->kind = -1;
        if (jr_object(r, v, path, keys) < 0 || jr_id(r, v, path, "id", true, &id) < 0 ||
            jr_number(r, v, path, "cap_w", true, 1, MAX_W, &d->cap_w) < 0 ||
            jr_id(r, v, path, "kind", false, &kind) < 0 || jr_strdup(r, id, &d->id) < 0)
            return r->err->code;
        if (kind && (d->kind = intern(r, &f->kinds, &f->nkinds, f->kind_ix, kind)) < 0)
            return r->err->code;
        if (tp_strmap_put(f->domain_ix, d->id, (int)i) == TP_EDUP) {
            jr_key_path(ipath, path, "id");
            return jr_fail(r, TP_EDUP, ipath, "duplicate power domain id \"%s\"", id);
        }
    }
    json_array_foreach (domains, i, v) {
        const char *parent = NULL;
        char path[JR_PATH], ppath[JR_PATH];
        jr_index_path(path, "$.power_domains", i);
        if (jr_id(r, v, path, "parent", false, &parent) < 0)
            return r->err->code;
        if (!parent)
            continue;
        jr_key_path(ppath, path, "parent");
        f->domains[i].parent = tp_strmap_get(f->domain_ix, parent);
        if (f->domains[i].parent < 0)
            return jr_fail(r, TP_EREF, ppath, "no power domain has id \"%s\"", parent);
    }
    /* Depths; a walk longer than the number of domains has met a cycle. */
    for (int d = 0; d < f->ndomains; d++) {
        int depth = 0;
        for (int p = f->domains[d].parent; p >= 0; p = f->domains[p].parent) {
            if (++depth > f->ndomains) {
                char path[JR_PATH];
                jr_index_path(path, "$.power_domains", (size_t)d);
                return jr_fail(r, TP_ECYCLE, path,
                               "power domain \"%s\" is its own ancestor (cycle in the "
                               "parent links)",
                               f->domains[d].id);
            }
        }
        f->domains[d].depth = depth;
    }
    /* A kind names one level of the topology: no domain of a kind lies beneath
     * another of the same kind (else "together" would be ambiguous). */
    for (int d = 0; d < f->ndomains; d++)
        for (int p = f->domains[d].parent; p >= 0 && f->domains[d].kind >= 0;
             p = f->domains[p].parent)
            if (f->domains[p].kind == f->domains[d].kind) {
                char path[JR_PATH], kpath[JR_PATH];
                jr_index_path(path, "$.power_domains", (size_t)d);
                jr_key_path(kpath, path, "kind");
                return jr_fail(r, TP_EINVAL, kpath,
                               "kind \"%s\" is also the kind of its ancestor \"%s\"; a "
                               "kind names one level of the topology",
                               f->kinds[f->domains[d].kind], f->domains[p].id);
            }
    return 0;
}

static int load_bmc(jr_t *r, tp_node_t *n, const json_t *v, const char *path)
{
    static const char *const keys[] = {"url", "credentials", "insecure", NULL};
    const json_t *b = json_object_get(v, "bmc");
    char bpath[JR_PATH];
    const char *url = NULL, *cred = NULL;
    if (!b)
        return 0;
    jr_key_path(bpath, path, "bmc");
    if (jr_object(r, b, bpath, keys) < 0 ||
        jr_string(r, b, bpath, "url", true, &url) < 0 ||
        jr_id(r, b, bpath, "credentials", false, &cred) < 0 ||
        jr_bool(r, b, bpath, "insecure", false, &n->bmc_insecure) < 0)
        return r->err->code;
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
        char upath[JR_PATH];
        jr_key_path(upath, bpath, "url");
        return jr_fail(r, TP_EINVAL, upath, "expected an http:// or https:// URL");
    }
    if (jr_strdup(r, url, &n->bmc_url) < 0 ||
        (cred && jr_strdup(r, cred, &n->bmc_credentials) < 0))
        return r->err->code;
    return 0;
}

static int load_nodes(jr_t *r, tp_fleet_t *f, const json_t *nodes)
{
    static const char *const keys[] = {
        "id",    "power_domain", "region", "gpu_model", "gpus",     "cpu_tee", "gpu_cc",
        "cap_w", "idle_w",       "gpu_w",  "bmc",       "verifier", NULL};
    const json_t *v;
    size_t i;
    if (jr_array(r, nodes, "$.nodes") < 0)
        return r->err->code;
    if (json_array_size(nodes) == 0)
        return jr_fail(r, TP_EINVAL, "$.nodes", "expected at least one node");
    f->nnodes = (int)json_array_size(nodes);
    f->nodes = calloc((size_t)f->nnodes, sizeof *f->nodes);
    f->node_ix = tp_strmap_new((size_t)f->nnodes);
    if (!f->nodes || !f->node_ix)
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
    json_array_foreach (nodes, i, v) {
        tp_node_t *n = &f->nodes[i];
        char path[JR_PATH], kpath[JR_PATH];
        const char *id = NULL, *dom = NULL, *reg = NULL, *gm = NULL, *tee = "none",
                   *ver = NULL;
        long long gpus = 0;
        jr_index_path(path, "$.nodes", i);
        n->domain = n->region = n->gpu_model = -1;
        if (jr_object(r, v, path, keys) < 0 || jr_id(r, v, path, "id", true, &id) < 0 ||
            jr_strdup(r, id, &n->id) < 0)
            return r->err->code;
        if (tp_strmap_put(f->node_ix, n->id, (int)i) == TP_EDUP) {
            jr_key_path(kpath, path, "id");
            return jr_fail(r, TP_EDUP, kpath, "duplicate node id \"%s\"", id);
        }
        if (jr_id(r, v, path, "power_domain", true, &dom) < 0 ||
            jr_id(r, v, path, "region", true, &reg) < 0 ||
            jr_id(r, v, path, "gpu_model", true, &gm) < 0 ||
            jr_int(r, v, path, "gpus", true, 1, MAX_GPUS, &gpus) < 0 ||
            jr_string(r, v, path, "cpu_tee", false, &tee) < 0 ||
            jr_bool(r, v, path, "gpu_cc", false, &n->gpu_cc) < 0 ||
            jr_number(r, v, path, "cap_w", true, 1, MAX_W, &n->cap_w) < 0 ||
            jr_number(r, v, path, "idle_w", true, 0, MAX_W, &n->idle_w) < 0 ||
            jr_number(r, v, path, "gpu_w", true, 0, 1e5, &n->gpu_w) < 0 ||
            jr_id(r, v, path, "verifier", false, &ver) < 0 || load_bmc(r, n, v, path) < 0)
            return r->err->code;
        n->gpus = (int)gpus;
        if ((n->domain = tp_strmap_get(f->domain_ix, dom)) < 0) {
            jr_key_path(kpath, path, "power_domain");
            return jr_fail(r, TP_EREF, kpath, "no power domain has id \"%s\"", dom);
        }
        if ((n->region = tp_strmap_get(f->region_ix, reg)) < 0) {
            jr_key_path(kpath, path, "region");
            return jr_fail(r, TP_EREF, kpath, "no region \"%s\" in $.regions", reg);
        }
        int t = tp_tee_parse(tee);
        if (t < 0) {
            jr_key_path(kpath, path, "cpu_tee");
            return jr_fail(r, TP_EINVAL, kpath,
                           "expected one of \"none\", \"tdx\", \"sev-snp\", \"cca\", got "
                           "\"%s\"",
                           tee);
        }
        n->cpu_tee = (tp_tee_t)t;
        if (n->idle_w > n->cap_w) {
            jr_key_path(kpath, path, "idle_w");
            return jr_fail(r, TP_ERANGE, kpath, "idle_w %g exceeds the node's cap_w %g",
                           n->idle_w, n->cap_w);
        }
        n->gpu_model = intern(r, &f->gpu_models, &f->ngpu_models, f->gpu_model_ix, gm);
        if (n->gpu_model < 0 || (ver && jr_strdup(r, ver, &n->verifier) < 0))
            return r->err->code;
    }
    return 0;
}

static int load_class(jr_t *r, tp_class_t *c, const json_t *v, const char *path)
{
    static const char *const keys[] = {"cpu_tee", "gpu_cc", "attestation", "residency",
                                       NULL};
    const json_t *res;
    if (jr_object(r, v, path, keys) < 0 ||
        tp__tee_list(r, v, path, "cpu_tee", &c->req.tee_mask) < 0 ||
        jr_bool(r, v, path, "gpu_cc", false, &c->req.gpu_cc) < 0 ||
        tp__attestation_req(r, v, path, &c->req) < 0)
        return r->err->code;
    res = json_object_get(v, "residency");
    if (res) {
        char rpath[JR_PATH];
        jr_key_path(rpath, path, "residency");
        if (json_is_boolean(res))
            c->req.residency =
                json_is_true(res) ? TP_RESIDENCY_DECLARED : TP_RESIDENCY_NONE;
        else if (json_is_string(res) && !strcmp(json_string_value(res), "verified"))
            c->req.residency = TP_RESIDENCY_VERIFIED;
        else
            return jr_fail(r, TP_EINVAL, rpath, "expected true, false or \"verified\"");
    }
    return 0;
}

/* policy.tenants: {"name": {"quota_gpus": Q, "limit_gpus": L, "parent": "group"}}. */
static int load_tenants(jr_t *r, tp_fleet_t *f, const json_t *tenants)
{
    static const char *const keys[] = {"quota_gpus", "limit_gpus", "parent", NULL};
    const char *name;
    json_t *v;
    int i = 0;
    if (jr_object(r, tenants, "$.policy.tenants", NULL) < 0)
        return r->err->code;
    f->ntenants = (int)json_object_size(tenants);
    f->tenants = calloc((size_t)f->ntenants + 1, sizeof *f->tenants);
    if (!f->tenants)
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
    json_object_foreach ((json_t *)tenants, name, v) {
        tp_tenant_t *t = &f->tenants[i];
        char path[JR_PATH];
        long long quota = 0, limit = -1;
        jr_key_path(path, "$.policy.tenants", name);
        t->parent = -1;
        if (jr_check_id(r, path, name) < 0 || jr_object(r, v, path, keys) < 0 ||
            jr_int(r, v, path, "quota_gpus", true, 0, 100000000, &quota) < 0 ||
            jr_int(r, v, path, "limit_gpus", false, 0, 100000000, &limit) < 0 ||
            jr_strdup(r, name, &t->name) < 0)
            return r->err->code;
        t->quota_gpus = (int)quota;
        t->limit_gpus = (int)limit;
        if (t->limit_gpus >= 0 && t->limit_gpus < t->quota_gpus) {
            char lpath[JR_PATH];
            jr_key_path(lpath, path, "limit_gpus");
            return jr_fail(r, TP_ERANGE, lpath,
                           "limit_gpus %d is below quota_gpus %d (the limit is the quota "
                           "plus what the tenant may borrow)",
                           t->limit_gpus, t->quota_gpus);
        }
        if (tp_strmap_put(f->tenant_ix, t->name, i) < 0)
            return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
        i++;
    }
    i = 0;
    json_object_foreach ((json_t *)tenants, name, v) {
        char path[JR_PATH], ppath[JR_PATH];
        const char *parent = NULL;
        jr_key_path(path, "$.policy.tenants", name);
        if (jr_id(r, v, path, "parent", false, &parent) < 0)
            return r->err->code;
        if (parent) {
            jr_key_path(ppath, path, "parent");
            if ((f->tenants[i].parent = tp_strmap_get(f->tenant_ix, parent)) < 0)
                return jr_fail(r, TP_EREF, ppath, "no tenant \"%s\" in $.policy.tenants",
                               parent);
            int depth = 0;
            for (int p = f->tenants[i].parent; p >= 0; p = f->tenants[p].parent)
                if (++depth > f->ntenants)
                    return jr_fail(r, TP_ECYCLE, ppath,
                                   "tenant \"%s\" is its own ancestor (cycle in the "
                                   "parent links)",
                                   name);
        }
        i++;
    }
    return 0;
}

static int load_policy(jr_t *r, tp_fleet_t *f, const json_t *policy)
{
    static const char *const keys[] = {"classes", "tenants", NULL};
    const json_t *classes, *v;
    const char *name;
    int i = 0;
    if (jr_object(r, policy, "$.policy", keys) < 0)
        return r->err->code;
    classes = json_object_get(policy, "classes");
    if (!classes)
        return jr_fail(r, TP_EINVAL, "$.policy.classes", "missing required key");
    if (jr_object(r, classes, "$.policy.classes", NULL) < 0)
        return r->err->code;
    if (json_object_size(classes) == 0)
        return jr_fail(r, TP_EINVAL, "$.policy.classes", "expected at least one class");
    f->nclasses = (int)json_object_size(classes);
    f->classes = calloc((size_t)f->nclasses, sizeof *f->classes);
    f->class_ix = tp_strmap_new((size_t)f->nclasses);
    if (!f->classes || !f->class_ix)
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
    json_object_foreach ((json_t *)classes, name, v) {
        char path[JR_PATH];
        jr_key_path(path, "$.policy.classes", name);
        if (jr_check_id(r, path, name) < 0 ||
            jr_strdup(r, name, &f->classes[i].name) < 0 ||
            load_class(r, &f->classes[i], v, path) < 0)
            return r->err->code;
        tp_strmap_put(f->class_ix, f->classes[i].name, i);
        i++;
    }
    if (json_object_get(policy, "tenants"))
        return load_tenants(r, f, json_object_get(policy, "tenants"));
    return 0;
}

static int load_profiles(jr_t *r, tp_fleet_t *f, const json_t *profiles)
{
    static const char *const keys[] = {"model", "gpu_model", "tokens_per_s", "watts",
                                       NULL};
    const json_t *v;
    size_t i;
    if (jr_array(r, profiles, "$.profiles") < 0)
        return r->err->code;
    f->nprofiles = (int)json_array_size(profiles);
    f->profiles = calloc((size_t)f->nprofiles + 1, sizeof *f->profiles);
    if (!f->profiles)
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
    json_array_foreach (profiles, i, v) {
        tp_profile_t *p = &f->profiles[i];
        char path[JR_PATH];
        const char *model = NULL, *gm = NULL;
        jr_index_path(path, "$.profiles", i);
        if (jr_object(r, v, path, keys) < 0 ||
            jr_id(r, v, path, "model", true, &model) < 0 ||
            jr_id(r, v, path, "gpu_model", true, &gm) < 0 ||
            jr_number(r, v, path, "tokens_per_s", true, 0, 1e9, &p->tokens_per_s) < 0 ||
            jr_number(r, v, path, "watts", true, 1e-3, 1e5, &p->watts) < 0)
            return r->err->code;
        p->model = intern(r, &f->models, &f->nmodels, f->model_ix, model);
        p->gpu_model = intern(r, &f->gpu_models, &f->ngpu_models, f->gpu_model_ix, gm);
        if (p->model < 0 || p->gpu_model < 0)
            return r->err->code;
        for (size_t j = 0; j < i; j++)
            if (f->profiles[j].model == p->model &&
                f->profiles[j].gpu_model == p->gpu_model)
                return jr_fail(r, TP_EDUP, path,
                               "a second profile for model \"%s\" on \"%s\" (first at "
                               "$.profiles[%zu])",
                               model, gm, j);
    }
    return 0;
}

static int index_profiles(jr_t *r, tp_fleet_t *f)
{
    size_t n = (size_t)f->nmodels * (size_t)f->ngpu_models;
    f->profile_of = malloc((n ? n : 1) * sizeof *f->profile_of);
    if (!f->profile_of)
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
    for (size_t i = 0; i < n; i++)
        f->profile_of[i] = -1;
    for (int i = 0; i < f->nprofiles; i++)
        f->profile_of[f->profiles[i].model * f->ngpu_models + f->profiles[i].gpu_model] =
            i;
    return 0;
}

static int load_root(jr_t *r, tp_fleet_t *f, const json_t *root)
{
    static const char *const keys[] = {"version", "regions",  "power_domains", "nodes",
                                       "policy",  "profiles", "collectors",    NULL};
    static const char *const required[] = {"regions", "power_domains", "nodes", "policy"};
    long long version = 0;
    const json_t *profiles;
    if (jr_object(r, root, "$", keys) < 0 ||
        jr_int(r, root, "$", "version", true, 1, 1, &version) < 0)
        return r->err->code;
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!json_object_get(root, required[i])) {
            char path[JR_PATH];
            jr_key_path(path, "$", required[i]);
            return jr_fail(r, TP_EINVAL, path, "missing required key");
        }
    f->gpu_model_ix = tp_strmap_new(16);
    f->model_ix = tp_strmap_new(16);
    f->kind_ix = tp_strmap_new(8);
    f->tenant_ix = tp_strmap_new(16);
    if (!f->gpu_model_ix || !f->model_ix || !f->kind_ix || !f->tenant_ix)
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
    if (load_regions(r, f, json_object_get(root, "regions")) < 0 ||
        load_domains(r, f, json_object_get(root, "power_domains")) < 0 ||
        load_nodes(r, f, json_object_get(root, "nodes")) < 0 ||
        load_policy(r, f, json_object_get(root, "policy")) < 0)
        return r->err->code;
    profiles = json_object_get(root, "profiles");
    if (profiles && load_profiles(r, f, profiles) < 0)
        return r->err->code;
    if ((f->collectors = json_object_get(root, "collectors"))) {
        if (jr_object(r, f->collectors, "$.collectors", NULL) < 0) {
            f->collectors = NULL;
            return r->err->code;
        }
        json_incref(f->collectors);
    }
    return index_profiles(r, f);
}

static int finish(jr_t *r, const char *name, json_t *root, tp_fleet_t **out)
{
    tp_fleet_t *f = calloc(1, sizeof *f);
    int rc;
    *out = NULL;
    if (!root) {
        free(f);
        return r->err->code;
    }
    if (!f) {
        json_decref(root);
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", name);
    }
    rc = jr_strdup(r, name, &f->source);
    if (rc == 0)
        rc = load_root(r, f, root);
    json_decref(root);
    if (rc < 0) {
        tp_fleet_free(f); /* nothing half-loaded escapes */
        return rc;
    }
    *out = f;
    return 0;
}

int tp_fleet_load(const char *path, tp_fleet_t **out, tp_error_t *err)
{
    jr_t r = {path, err};
    tp_error_clear(err);
    return finish(&r, path, jr_parse_file(&r, path), out);
}

int tp_fleet_load_buffer(const char *name, const char *text, size_t len, tp_fleet_t **out,
                         tp_error_t *err)
{
    jr_t r = {name, err};
    tp_error_clear(err);
    return finish(&r, name, jr_parse_buffer(&r, text, len), out);
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

void tp_fleet_free(tp_fleet_t *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->nregions; i++) {
        if (!f->regions)
            break;
        free(f->regions[i].id);
        free_names(f->regions[i].countries, f->regions[i].ncountries);
    }
    free(f->regions);
    for (int i = 0; f->domains && i < f->ndomains; i++)
        free(f->domains[i].id);
    free(f->domains);
    for (int i = 0; f->nodes && i < f->nnodes; i++) {
        free(f->nodes[i].id);
        free(f->nodes[i].bmc_url);
        free(f->nodes[i].bmc_credentials);
        free(f->nodes[i].verifier);
    }
    free(f->nodes);
    for (int i = 0; f->classes && i < f->nclasses; i++)
        free(f->classes[i].name);
    free(f->classes);
    free(f->profiles);
    free(f->profile_of);
    free_names(f->gpu_models, f->ngpu_models);
    free_names(f->models, f->nmodels);
    free_names(f->kinds, f->nkinds);
    for (int i = 0; f->tenants && i < f->ntenants; i++)
        free(f->tenants[i].name);
    free(f->tenants);
    tp_strmap_free(f->kind_ix);
    tp_strmap_free(f->tenant_ix);
    tp_strmap_free(f->node_ix);
    tp_strmap_free(f->region_ix);
    tp_strmap_free(f->domain_ix);
    tp_strmap_free(f->class_ix);
    tp_strmap_free(f->gpu_model_ix);
    tp_strmap_free(f->model_ix);
    json_decref(f->collectors);
    free(f->source);
    free(f);
}

int tp_fleet_node(const tp_fleet_t *f, const char *id)
{
    return tp_strmap_get(f->node_ix, id);
}

int tp_fleet_region(const tp_fleet_t *f, const char *id)
{
    return tp_strmap_get(f->region_ix, id);
}

int tp_fleet_class(const tp_fleet_t *f, const char *name)
{
    return tp_strmap_get(f->class_ix, name);
}

bool tp_region_has_country(const tp_region_t *r, const char *country)
{
    for (int i = 0; i < r->ncountries; i++)
        if (r->countries[i] && !strcmp(r->countries[i], country))
            return true;
    return false;
}

int tp_fleet_kind(const tp_fleet_t *f, const char *kind)
{
    return tp_strmap_get(f->kind_ix, kind);
}

int tp_fleet_tenant(const tp_fleet_t *f, const char *name)
{
    return tp_strmap_get(f->tenant_ix, name);
}

int tp_fleet_node_domain_of_kind(const tp_fleet_t *f, int node, int kind)
{
    for (int d = f->nodes[node].domain; d >= 0 && kind >= 0; d = f->domains[d].parent)
        if (f->domains[d].kind == kind)
            return d;
    return -1;
}
