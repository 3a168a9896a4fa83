/*
 * model/state.c — loads the observed state (what the collectors found) against a
 * fleet. Absent or null facts are unknown (NAN / -1 / ""), never zero.
 */
#include "model/model_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TIME (1LL << 40) /* ~36,800 AD; larger is a typo (milliseconds?) */

static void obs_init(tp_node_obs_t *o)
{
    memset(o, 0, sizeof *o);
    o->cap_w = NAN;
    o->draw_w = NAN;
    o->gpus_healthy = -1;
    o->att.cpu_tee = TP_TEE_UNKNOWN;
    o->att.gpu_cc = -1;
}

tp_state_t *tp_state_new_empty(const tp_fleet_t *f)
{
    tp_state_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->nnodes = f->nnodes;
    s->ndomains = f->ndomains;
    s->nodes = calloc((size_t)f->nnodes, sizeof *s->nodes);
    s->domain_cap_w = calloc((size_t)f->ndomains + 1, sizeof *s->domain_cap_w);
    if (!s->nodes || !s->domain_cap_w) {
        free(s->nodes);
        free(s->domain_cap_w);
        free(s);
        return NULL;
    }
    for (int i = 0; i < f->nnodes; i++)
        obs_init(&s->nodes[i]);
    for (int i = 0; i < f->ndomains; i++)
        s->domain_cap_w[i] = NAN;
    return s;
}

void tp_state_free(tp_state_t *s)
{
    if (!s)
        return;
    for (int i = 0; s->nodes && i < s->nnodes; i++) {
        free(s->nodes[i].att.verifier);
        free(s->nodes[i].att.evidence);
    }
    free(s->nodes);
    free(s->domain_cap_w);
    free(s);
}

static bool is_null(const json_t *obj, const char *key)
{
    return json_is_null(json_object_get(obj, key));
}

static int load_attestation(jr_t *r, tp_attestation_t *a, const json_t *v,
                            const char *path)
{
    static const char *const keys[] = {"status",     "cpu_tee",  "gpu_cc",   "issued_at",
                                       "expires_at", "verifier", "evidence", NULL};
    const char *status = NULL, *tee = NULL, *ver = NULL, *ev = NULL;
    long long iat = 0, exp = 0;
    char kpath[JR_PATH];
    if (jr_object(r, v, path, keys) < 0 ||
        jr_string(r, v, path, "status", true, &status) < 0 ||
        jr_int(r, v, path, "issued_at", true, 0, MAX_TIME, &iat) < 0 ||
        jr_int(r, v, path, "expires_at", true, 0, MAX_TIME, &exp) < 0 ||
        jr_string(r, v, path, "verifier", false, &ver) < 0 ||
        jr_string(r, v, path, "evidence", false, &ev) < 0)
        return r->err->code;
    int s = tp_att_status_parse(status);
    if (s < 0) {
        jr_key_path(kpath, path, "status");
        return jr_fail(
            r, TP_EINVAL, kpath,
            "expected \"affirming\", \"warning\", \"contraindicated\" or \"none\", "
            "got \"%s\"",
            status);
    }
    if (exp <= iat) {
        jr_key_path(kpath, path, "expires_at");
        return jr_fail(r, TP_ERANGE, kpath, "expires_at %lld is not after issued_at %lld",
                       exp, iat);
    }
    a->status = (tp_att_status_t)s;
    a->issued_at = iat;
    a->expires_at = exp;
    if (!is_null(v, "cpu_tee")) {
        if (jr_string(r, v, path, "cpu_tee", false, &tee) < 0)
            return r->err->code;
        if (tee) {
            int t = tp_tee_parse(tee);
            if (t < 0) {
                jr_key_path(kpath, path, "cpu_tee");
                return jr_fail(
                    r, TP_EINVAL, kpath,
                    "expected one of \"none\", \"tdx\", \"sev-snp\", \"cca\" or "
                    "null, got \"%s\"",
                    tee);
            }
            a->cpu_tee = (tp_tee_t)t;
        }
    }
    if (!is_null(v, "gpu_cc") && json_object_get(v, "gpu_cc")) {
        bool cc = false;
        if (jr_bool(r, v, path, "gpu_cc", true, &cc) < 0)
            return r->err->code;
        a->gpu_cc = cc;
    }
    if ((ver && jr_strdup(r, ver, &a->verifier) < 0) ||
        (ev && jr_strdup(r, ev, &a->evidence) < 0))
        return r->err->code;
    a->present = true;
    return 0;
}

static int load_node(jr_t *r, const tp_node_t *n, tp_node_obs_t *o, const json_t *v,
                     const char *path)
{
    static const char *const keys[] = {"attestation",  "cap_w",   "draw_w",
                                       "gpus_healthy", "country", NULL};
    const json_t *att;
    char kpath[JR_PATH];
    if (jr_object(r, v, path, keys) < 0)
        return r->err->code;
    o->known = true;
    att = json_object_get(v, "attestation");
    if (att && !json_is_null(att)) {
        jr_key_path(kpath, path, "attestation");
        if (load_attestation(r, &o->att, att, kpath) < 0)
            return r->err->code;
    }
    if ((!is_null(v, "cap_w") &&
         jr_number(r, v, path, "cap_w", false, 1, 1e9, &o->cap_w) < 0) ||
        (!is_null(v, "draw_w") &&
         jr_number(r, v, path, "draw_w", false, 0, 1e9, &o->draw_w) < 0))
        return r->err->code;
    if (!is_null(v, "gpus_healthy")) {
        long long h = -1;
        if (jr_int(r, v, path, "gpus_healthy", false, 0, n->gpus, &h) < 0)
            return r->err->code;
        o->gpus_healthy = (int)h;
    }
    if (!is_null(v, "country")) {
        const char *c = NULL;
        if (jr_string(r, v, path, "country", false, &c) < 0)
            return r->err->code;
        if (c) {
            if (strlen(c) != 2 || !isupper((unsigned char)c[0]) ||
                !isupper((unsigned char)c[1])) {
                jr_key_path(kpath, path, "country");
                return jr_fail(
                    r, TP_EINVAL, kpath,
                    "expected an ISO 3166 alpha-2 code in upper case or null, got "
                    "\"%s\"",
                    c);
            }
            memcpy(o->country, c, 3);
        }
    }
    return 0;
}

int tp_state_node_from_json(const tp_fleet_t *f, int node, const json_t *v,
                            const char *name, const char *path, tp_node_obs_t *o,
                            tp_error_t *err)
{
    jr_t r = {name, err};
    tp_error_clear(err);
    obs_init(o);
    int rc = load_node(&r, &f->nodes[node], o, v, path);
    if (rc < 0) {
        free(o->att.verifier);
        free(o->att.evidence);
        obs_init(o);
    }
    return rc;
}

/* "power_domains": {"rack-a1": {"cap_w": 50000}}: caps observed or imposed now (a
 * demand-response event, a lost feed). Lower than the declared cap wins. */
static int load_domains(jr_t *r, const tp_fleet_t *f, tp_state_t *s, const json_t *doms)
{
    static const char *const keys[] = {"cap_w", NULL};
    const char *id;
    json_t *v;
    if (jr_object(r, doms, "$.power_domains", NULL) < 0)
        return r->err->code;
    json_object_foreach ((json_t *)doms, id, v) {
        char path[JR_PATH];
        int d = tp_strmap_get(f->domain_ix, id);
        jr_key_path(path, "$.power_domains", id);
        if (d < 0)
            return jr_fail(r, TP_EREF, path, "no power domain \"%s\" in the fleet (%s)",
                           id, f->source);
        if (jr_object(r, v, path, keys) < 0 ||
            jr_number(r, v, path, "cap_w", true, 1, 1e9, &s->domain_cap_w[d]) < 0)
            return r->err->code;
    }
    return 0;
}

static int load_root(jr_t *r, const tp_fleet_t *f, tp_state_t *s, const json_t *root)
{
    static const char *const keys[] = {"observed_at", "nodes", "power_domains", NULL};
    const json_t *nodes, *v, *doms;
    const char *id;
    long long at = 0;
    if (jr_object(r, root, "$", keys) < 0 ||
        jr_int(r, root, "$", "observed_at", false, 0, MAX_TIME, &at) < 0)
        return r->err->code;
    s->observed_at = at;
    doms = json_object_get(root, "power_domains");
    if (doms && load_domains(r, f, s, doms) < 0)
        return r->err->code;
    nodes = json_object_get(root, "nodes");
    if (!nodes)
        return jr_fail(r, TP_EINVAL, "$.nodes", "missing required key");
    if (jr_object(r, nodes, "$.nodes", NULL) < 0)
        return r->err->code;
    json_object_foreach ((json_t *)nodes, id, v) {
        char path[JR_PATH];
        int n = tp_fleet_node(f, id);
        jr_key_path(path, "$.nodes", id);
        if (n < 0)
            return jr_fail(r, TP_EREF, path, "no node \"%s\" in the fleet (%s)", id,
                           f->source);
        if (load_node(r, &f->nodes[n], &s->nodes[n], v, path) < 0)
            return r->err->code;
    }
    return 0;
}

static int finish(jr_t *r, const tp_fleet_t *f, json_t *root, tp_state_t **out)
{
    tp_state_t *s;
    int rc;
    *out = NULL;
    if (!root)
        return r->err->code;
    s = tp_state_new_empty(f);
    if (!s) {
        json_decref(root);
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
    }
    rc = load_root(r, f, s, root);
    json_decref(root);
    if (rc < 0) {
        tp_state_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int tp_state_load(const char *path, const tp_fleet_t *f, tp_state_t **out,
                  tp_error_t *err)
{
    jr_t r = {path, err};
    tp_error_clear(err);
    return finish(&r, f, jr_parse_file(&r, path), out);
}

int tp_state_load_buffer(const char *name, const char *text, size_t len,
                         const tp_fleet_t *f, tp_state_t **out, tp_error_t *err)
{
    jr_t r = {name, err};
    tp_error_clear(err);
    return finish(&r, f, jr_parse_buffer(&r, text, len), out);
}
