/*
 * model/state_json.c — the observed state out, in the format tp_state_load()
 * reads (docs/formats.md): observed_at, per node its attestation object and the
 * facts that are known, and the observed power-domain caps.
 */
#include "model/state_json.h"
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *att_json(const tp_attestation_t *a)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (json_object_set_new(o, "status", json_string(tp_att_status_name(a->status))) ||
        json_object_set_new(o, "cpu_tee",
                            a->cpu_tee == TP_TEE_UNKNOWN
                                ? json_null()
                                : json_string(tp_tee_name(a->cpu_tee))) ||
        json_object_set_new(o, "gpu_cc",
                            a->gpu_cc < 0 ? json_null() : json_boolean(a->gpu_cc)) ||
        json_object_set_new(o, "issued_at", json_integer(a->issued_at)) ||
        json_object_set_new(o, "expires_at", json_integer(a->expires_at)) ||
        (a->verifier && json_object_set_new(o, "verifier", json_string(a->verifier))) ||
        (a->evidence && json_object_set_new(o, "evidence", json_string(a->evidence)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *node_json(const tp_node_obs_t *o)
{
    json_t *v = json_object();
    if (!v)
        return NULL;
    if ((o->att.present && json_object_set_new(v, "attestation", att_json(&o->att))) ||
        (!isnan(o->cap_w) && json_object_set_new(v, "cap_w", json_real(o->cap_w))) ||
        (!isnan(o->draw_w) && json_object_set_new(v, "draw_w", json_real(o->draw_w))) ||
        (o->gpus_healthy >= 0 &&
         json_object_set_new(v, "gpus_healthy", json_integer(o->gpus_healthy))) ||
        (o->country[0] && json_object_set_new(v, "country", json_string(o->country)))) {
        json_decref(v);
        return NULL;
    }
    return v;
}

json_t *tp_state_to_json(const tp_fleet_t *f, const tp_state_t *s)
{
    json_t *root = json_object(), *nodes = json_object(), *doms = json_object();
    if (!root || !nodes || !doms)
        goto fail;
    for (int n = 0; n < s->nnodes && n < f->nnodes; n++) {
        json_t *v;
        if (!s->nodes[n].known)
            continue;
        v = node_json(&s->nodes[n]);
        if (!v || json_object_set_new(nodes, f->nodes[n].id, v))
            goto fail;
    }
    for (int d = 0; d < s->ndomains && d < f->ndomains; d++)
        if (!isnan(s->domain_cap_w[d]) &&
            json_object_set_new(doms, f->domains[d].id,
                                json_pack("{s:f}", "cap_w", s->domain_cap_w[d])))
            goto fail;
    if (json_object_set_new(root, "observed_at", json_integer(s->observed_at)) ||
        json_object_set_new(root, "nodes", nodes))
        goto fail_nodes_set;
    nodes = NULL;
    if (json_object_size(doms) && json_object_set_new(root, "power_domains", doms))
        goto fail_doms_set;
    if (!json_object_size(doms))
        json_decref(doms);
    return root;
fail:
    json_decref(nodes);
fail_nodes_set:
    json_decref(doms);
fail_doms_set:
    json_decref(root);
    return NULL;
}

/* Integral reals print as integers ("cap_w": 500, not 500.0). */
static int dump_value(FILE *out, const json_t *v)
{
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
        fabs(json_real_value(v)) < 1e15)
        return fprintf(out, "%.0f", json_real_value(v)) < 0 ? -1 : 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        int first = 1;
        if (fputc('{', out) == EOF)
            return -1;
        json_object_foreach ((json_t *)v, k, m) {
            json_t *ks = json_string(k);
            char *kt = ks ? json_dumps(ks, JSON_ENCODE_ANY) : NULL;
            json_decref(ks);
            if (!kt || fprintf(out, "%s%s: ", first ? "" : ", ", kt) < 0) {
                free(kt);
                return -1;
            }
            free(kt);
            first = 0;
            if (dump_value(out, m) < 0)
                return -1;
        }
        return fputc('}', out) == EOF ? -1 : 0;
    }
    {
        char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        int rc = t && fputs(t, out) >= 0 ? 0 : -1;
        free(t);
        return rc;
    }
}

int tp_state_write(FILE *out, const tp_fleet_t *f, const tp_state_t *s, tp_error_t *err)
{
    json_t *doc = tp_state_to_json(f, s), *nodes, *v;
    const char *id;
    int first = 1;
    if (!doc)
        return tp_error_set(err, TP_ENOMEM, "out of memory writing the state");
    nodes = json_object_get(doc, "nodes");
    if (fprintf(out, "{\"observed_at\": %lld,\n \"nodes\": {",
                (long long)json_integer_value(json_object_get(doc, "observed_at"))) < 0)
        goto io;
    json_object_foreach (nodes, id, v) {
        json_t *ks = json_string(id);
        char *kt = ks ? json_dumps(ks, JSON_ENCODE_ANY) : NULL;
        json_decref(ks);
        if (!kt || fprintf(out, "%s\n  %s: ", first ? "" : ",", kt) < 0) {
            free(kt);
            goto io;
        }
        free(kt);
        first = 0;
        if (dump_value(out, v) < 0)
            goto io;
    }
    if (fprintf(out, "%s}", first ? "" : "\n ") < 0)
        goto io;
    if ((v = json_object_get(doc, "power_domains"))) {
        if (fprintf(out, ",\n \"power_domains\": ") < 0 || dump_value(out, v) < 0)
            goto io;
    }
    if (fprintf(out, "}\n") < 0)
        goto io;
    json_decref(doc);
    return 0;
io:
    json_decref(doc);
    return tp_error_set(err, TP_EIO, "writing the state: %s", strerror(errno));
}

int tp_state_save(const char *path, const tp_fleet_t *f, const tp_state_t *s,
                  tp_error_t *err)
{
    char *tmp;
    FILE *out = tp_file_replace_open(path, &tmp, err);
    int rc;
    if (!out)
        return err->code;
    rc = tp_state_write(out, f, s, err);
    if (rc < 0) {
        tp_file_replace_close(out, tmp, path, false, err);
        return rc;
    }
    return tp_file_replace_close(out, tmp, path, true, err);
}
