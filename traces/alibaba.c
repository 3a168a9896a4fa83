/*
 * traces/alibaba.c — reads the Alibaba GPU v2023 node and pod lists (CSV without
 * quoting) into trustplace documents. See alibaba.h for what is synthesised.
 */
#include "traces/alibaba.h"

#include "util/csv.h"
#include "util/file.h"
#include "util/strmap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ID 64
#define MAX_TRACE_BYTES ((size_t)1 << 31)

typedef struct {
    tp_csv_t in;
    tp_error_t *err;
} csv_t;

/* The next line split into fields; 1 when a line was read, 0 at the end, < 0 on
 * error. A final newline is optional; an empty line elsewhere is an error, and
 * so is a quote character (the trace is unquoted CSV). */
static int csv_next(csv_t *c)
{
    int rc = tp_csv_next(&c->in, c->err);
    if (rc <= 0)
        return rc;
    if (tp_csv_blank(&c->in))
        return tp_error_set(c->err, TP_EPARSE, "%s:%d: empty line", c->in.name,
                            c->in.line);
    for (int i = 0; i < c->in.nfield; i++)
        if (strchr(c->in.field[i], '"'))
            return tp_error_set(c->err, TP_EPARSE,
                                "%s:%d: quoted fields are not supported", c->in.name,
                                c->in.line);
    return 1;
}

static int expect_header(csv_t *c, const char *const *cols, int ncols)
{
    int rc = csv_next(c);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return tp_error_set(c->err, TP_EPARSE, "%s: empty file (expected a CSV header)",
                            c->in.name);
    for (int i = 0; i < ncols; i++)
        if (i >= c->in.nfield || strcmp(c->in.field[i], cols[i]) != 0)
            return tp_error_set(
                c->err, TP_EPARSE, "%s:1: header column %d: expected \"%s\", got \"%s\"",
                c->in.name, i + 1, cols[i], i < c->in.nfield ? c->in.field[i] : "");
    if (c->in.nfield != ncols)
        return tp_error_set(c->err, TP_EPARSE, "%s:1: header has %d columns, expected %d",
                            c->in.name, c->in.nfield, ncols);
    return 0;
}

static int row_fields(csv_t *c, int ncols)
{
    if (c->in.nfield != ncols)
        return tp_error_set(c->err, TP_EPARSE, "%s:%d: %d fields, expected %d",
                            c->in.name, c->in.line, c->in.nfield, ncols);
    return 0;
}

static int int_field(csv_t *c, int i, const char *col, long long lo, long long hi,
                     long long *out)
{
    const char *s = c->in.field[i];
    char *end;
    bool digits = *s != '\0';
    for (const char *q = s; *q; q++)
        digits &= *q >= '0' && *q <= '9';
    errno = 0;
    long long v = digits ? strtoll(s, &end, 10) : 0;
    if (!digits || errno || v < lo || v > hi)
        return tp_error_set(
            c->err, TP_EPARSE,
            "%s:%d: column \"%s\": expected an integer %lld..%lld, got \"%s\"",
            c->in.name, c->in.line, col, lo, hi, s);
    *out = v;
    return 0;
}

static bool ident(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_ID)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

static int id_field(csv_t *c, int i, const char *col)
{
    if (!ident(c->in.field[i]))
        return tp_error_set(c->err, TP_EPARSE,
                            "%s:%d: column \"%s\": expected 1..%d of [A-Za-z0-9._-], got "
                            "\"%s\"",
                            c->in.name, c->in.line, col, MAX_ID, c->in.field[i]);
    return 0;
}

/* Names seen so far, to reject duplicates (the map borrows the copies). */
typedef struct {
    tp_strmap_t *map;
    char **names;
    int n, cap;
} seen_t;

static int seen_add(seen_t *s, csv_t *c, const char *name, const char *col)
{
    if (tp_strmap_get(s->map, name) >= 0)
        return tp_error_set(c->err, TP_EDUP, "%s:%d: column \"%s\": \"%s\" appears twice",
                            c->in.name, c->in.line, col, name);
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 1024;
        char **p = realloc(s->names, (size_t)cap * sizeof *p);
        if (!p)
            return tp_error_set(c->err, TP_ENOMEM, "out of memory");
        s->names = p;
        s->cap = cap;
    }
    if (!(s->names[s->n] = strdup(name)) ||
        tp_strmap_put(s->map, s->names[s->n], s->n) < 0) {
        free(s->names[s->n]);
        return tp_error_set(c->err, TP_ENOMEM, "out of memory");
    }
    s->n++;
    return 0;
}

static void seen_fini(seen_t *s)
{
    tp_strmap_free(s->map);
    for (int i = 0; i < s->n; i++)
        free(s->names[i]);
    free(s->names);
}

static double gpu_watts(const char *model)
{
    static const struct {
        const char *model;
        double w;
    } table[] = {
        {"P100", 250}, {"V100M16", 300}, {"V100M32", 300}, {"T4", 70}, {"A10", 150}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i].model, model))
            return table[i].w;
    return 300; /* G1, G2, G3 are undisclosed; assume a 300 W class accelerator */
}

/* ---- nodes ------------------------------------------------------------------------ */

static int add_rack(json_t *domains, json_t *nodes, int rack, size_t first, double full)
{
    char id[32];
    snprintf(id, sizeof id, "openb-rack-%03d", rack);
    for (size_t i = first; i < json_array_size(nodes); i++)
        if (json_object_set_new(json_array_get(nodes, i), "power_domain",
                                json_string(id)))
            return TP_ENOMEM;
    return json_array_append_new(domains, json_pack("{s:s, s:s, s:f}", "id", id, "parent",
                                                    "openb-site", "cap_w", full))
               ? TP_ENOMEM
               : 0;
}

int tp_alibaba_fleet_buffer(const char *name, const char *text, size_t len,
                            const tp_alibaba_opts_t *o, json_t **out,
                            tp_alibaba_stats_t *st, tp_error_t *err)
{
    static const char *const cols[] = {"sn", "cpu_milli", "memory_mib", "gpu", "model"};
    csv_t c = {.err = err};
    tp_csv_init(&c.in, name, text, len);
    seen_t seen = {tp_strmap_new(2048), NULL, 0, 0};
    tp_alibaba_stats_t s = {0};
    int per_rack = o && o->nodes_per_rack > 0 ? o->nodes_per_rack : 8;
    double share = o && o->site_cap_share > 0 ? o->site_cap_share : 0.9;
    json_t *doc = NULL, *domains = json_array(), *nodes = json_array();
    int rc, rack = 0;
    size_t rack_first = 0;
    double rack_full = 0, total = 0;
    tp_error_clear(err);
    *out = NULL;
    if (!seen.map || !domains || !nodes) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = expect_header(&c, cols, 5)) < 0)
        goto out;
    while ((rc = csv_next(&c)) > 0) {
        long long cpu, mem, gpus;
        s.rows++;
        if ((rc = row_fields(&c, 5)) < 0 || (rc = id_field(&c, 0, "sn")) < 0 ||
            (rc = int_field(&c, 1, "cpu_milli", 0, 100000000, &cpu)) < 0 ||
            (rc = int_field(&c, 2, "memory_mib", 0, 1LL << 40, &mem)) < 0 ||
            (rc = int_field(&c, 3, "gpu", 0, 64, &gpus)) < 0 ||
            (rc = seen_add(&seen, &c, c.in.field[0], "sn")) < 0)
            goto out;
        const char *model = c.in.field[4];
        if (gpus == 0) {
            if (*model) {
                rc = tp_error_set(
                    err, TP_EPARSE,
                    "%s:%d: column \"model\": \"%s\" given for a node without "
                    "GPUs",
                    name, c.in.line, model);
                goto out;
            }
            s.skipped++;
            continue;
        }
        if (!ident(model)) {
            rc = tp_error_set(
                err, TP_EPARSE,
                "%s:%d: column \"model\": expected a GPU model name for a node "
                "with %lld GPUs, got \"%s\"",
                name, c.in.line, gpus, model);
            goto out;
        }
        double gw = gpu_watts(model), idle = 300 + 50.0 * (double)gpus;
        double full = idle + (double)gpus * gw;
        if (json_array_append_new(
                nodes, json_pack("{s:s, s:s, s:s, s:I, s:s, s:b, s:f, s:f, s:f}", "id",
                                 c.in.field[0], "region", "openb", "gpu_model", model,
                                 "gpus", (json_int_t)gpus, "cpu_tee", "none", "gpu_cc", 0,
                                 "cap_w", full, "idle_w", idle, "gpu_w", gw))) {
            rc = tp_error_set(err, TP_ENOMEM, "out of memory");
            goto out;
        }
        s.kept++;
        s.gpus += gpus;
        rack_full += full;
        total += full;
        if (json_array_size(nodes) - rack_first == (size_t)per_rack) {
            if (add_rack(domains, nodes, ++rack, rack_first, rack_full) < 0) {
                rc = tp_error_set(err, TP_ENOMEM, "out of memory");
                goto out;
            }
            rack_first = json_array_size(nodes);
            rack_full = 0;
        }
    }
    if (rc < 0)
        goto out;
    if (s.kept == 0) {
        rc = tp_error_set(err, TP_EINVAL, "%s: no node with GPUs", name);
        goto out;
    }
    if (rack_first < json_array_size(nodes) &&
        add_rack(domains, nodes, ++rack, rack_first, rack_full) < 0) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto out;
    }
    if (json_array_insert_new(
            domains, 0,
            json_pack("{s:s, s:f}", "id", "openb-site", "cap_w", share * total)) < 0 ||
        !(doc = json_pack("{s:i, s:{s:{s:[s]}}, s:O, s:O, s:{s:{s:{}}}, s:[]}", "version",
                          1, "regions", "openb", "countries", "CN", "power_domains",
                          domains, "nodes", nodes, "policy", "classes", "public",
                          "profiles"))) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto out;
    }
    *out = doc;
    if (st)
        *st = s;
    rc = 0;
out:
    json_decref(domains);
    json_decref(nodes);
    seen_fini(&seen);
    return rc;
}

int tp_alibaba_fleet(const char *path, const tp_alibaba_opts_t *o, json_t **out,
                     tp_alibaba_stats_t *st, tp_error_t *err)
{
    char *text;
    size_t len;
    int rc = tp_file_read(path, MAX_TRACE_BYTES, &text, &len, err);
    *out = NULL;
    if (rc < 0)
        return rc;
    rc = tp_alibaba_fleet_buffer(path, text, len, o, out, st, err);
    free(text);
    return rc;
}

/* ---- pods ---------------------------------------------------------------------------
 */

static int in_set(const char *s, const char *const *set)
{
    for (int i = 0; set[i]; i++)
        if (!strcmp(s, set[i]))
            return i;
    return -1;
}

static const char *const qos_names[] = {"Guaranteed", "LS", "Burstable", "BE", NULL};

int tp_alibaba_qos_priority(tp_qos_t q)
{
    static const int prio[] = {90, 70, 40, 10};
    return q >= TP_QOS_GUARANTEED && q <= TP_QOS_BE ? prio[q] : 0;
}

bool tp_alibaba_qos_preemptible(tp_qos_t q)
{
    return q == TP_QOS_BE;
}

/* One data row into *p (c holds it); names are checked unique through seen. */
static int parse_pod(csv_t *c, seen_t *seen, tp_pod_t *p)
{
    static const char *const phases[] = {"Running", "Pending", "Succeeded", "Failed",
                                         NULL};
    const char *name = c->in.name;
    long long v, gpus, milli, created, deleted, sched = -1;
    int rc;
    if ((rc = row_fields(c, 11)) < 0 || (rc = id_field(c, 0, "name")) < 0 ||
        (rc = int_field(c, 1, "cpu_milli", 0, 100000000, &v)) < 0 ||
        (rc = int_field(c, 2, "memory_mib", 0, 1LL << 40, &v)) < 0 ||
        (rc = int_field(c, 3, "num_gpu", 0, 64, &gpus)) < 0 ||
        (rc = int_field(c, 4, "gpu_milli", 0, 1000, &milli)) < 0 ||
        (rc = int_field(c, 8, "creation_time", 0, 1LL << 40, &created)) < 0 ||
        (rc = int_field(c, 9, "deletion_time", 0, 1LL << 40, &deleted)) < 0 ||
        (c->in.field[10][0] &&
         (rc = int_field(c, 10, "scheduled_time", 0, 1LL << 40, &sched)) < 0) ||
        (rc = seen_add(seen, c, c->in.field[0], "name")) < 0)
        return rc;
    int q = in_set(c->in.field[6], qos_names);
    if (q < 0)
        return tp_error_set(
            c->err, TP_EPARSE,
            "%s:%d: column \"qos\": expected Guaranteed, LS, Burstable or "
            "BE, got \"%s\"",
            name, c->in.line, c->in.field[6]);
    int ph = in_set(c->in.field[7], phases);
    if (ph < 0)
        return tp_error_set(c->err, TP_EPARSE,
                            "%s:%d: column \"pod_phase\": expected Running, Pending, "
                            "Succeeded or Failed, got \"%s\"",
                            name, c->in.line, c->in.field[7]);
    if (deleted < created || (sched >= 0 && (sched < created || sched > deleted)))
        return tp_error_set(c->err, TP_ERANGE,
                            "%s:%d: times out of order (creation %lld, deletion %lld, "
                            "scheduled %lld)",
                            name, c->in.line, created, deleted, sched);
    if (sched < 0 && ph != 1 && ph != 3) /* Running or Succeeded pods were scheduled */
        return tp_error_set(c->err, TP_EPARSE,
                            "%s:%d: column \"scheduled_time\": empty, but the pod is %s",
                            name, c->in.line, c->in.field[7]);
    if ((gpus == 0) != (milli == 0) || (gpus > 1 && milli != 1000))
        return tp_error_set(
            c->err, TP_EPARSE,
            "%s:%d: column \"gpu_milli\": %lld does not match num_gpu %lld "
            "(0 with 0 GPUs, 1000 per GPU for several)",
            name, c->in.line, milli, gpus);
    if (gpus == 0 && c->in.field[5][0])
        return tp_error_set(c->err, TP_EPARSE,
                            "%s:%d: column \"gpu_spec\": given for a pod without GPUs",
                            name, c->in.line);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", c->in.field[0]);
    p->num_gpu = (int)gpus;
    p->gpu_milli = (int)milli;
    p->qos = (tp_qos_t)q;
    p->priority = tp_alibaba_qos_priority(p->qos);
    p->preemptible = tp_alibaba_qos_preemptible(p->qos);
    p->creation_s = created;
    p->deletion_s = deleted;
    p->scheduled_s = sched;
    /* gpu_spec: model names joined by '|', each an identifier, duplicates dropped. */
    char spec[sizeof p->gpu_spec * 2];
    if (strlen(c->in.field[5]) >= sizeof p->gpu_spec)
        return tp_error_set(c->err, TP_EPARSE,
                            "%s:%d: column \"gpu_spec\": longer than %zu characters",
                            name, c->in.line, sizeof p->gpu_spec - 1);
    snprintf(spec, sizeof spec, "%s", c->in.field[5]);
    for (char *s = spec, *bar; spec[0]; s = bar + 1) {
        bar = strchr(s, '|');
        if (bar)
            *bar = '\0';
        if (!ident(s))
            return tp_error_set(c->err, TP_EPARSE,
                                "%s:%d: column \"gpu_spec\": expected GPU model names "
                                "separated by '|', got an empty or bad name \"%s\"",
                                name, c->in.line, s);
        if (!tp_alibaba_spec_has(p->gpu_spec, s)) {
            size_t used = strlen(p->gpu_spec);
            snprintf(p->gpu_spec + used, sizeof p->gpu_spec - used, "%s%s",
                     used ? "|" : "", s);
        }
        if (!bar)
            break;
    }
    return 0;
}

bool tp_alibaba_spec_has(const char *spec, const char *model)
{
    size_t n = strlen(model);
    for (const char *s = spec; *s;) {
        const char *bar = strchr(s, '|');
        size_t len = bar ? (size_t)(bar - s) : strlen(s);
        if (len == n && !strncmp(s, model, n))
            return true;
        if (!bar)
            break;
        s = bar + 1;
    }
    return false;
}

int tp_alibaba_pod_list_buffer(const char *name, const char *text, size_t len,
                               tp_pod_list_t *out, tp_alibaba_stats_t *st,
                               tp_error_t *err)
{
    static const char *const cols[] = {"name",          "cpu_milli",     "memory_mib",
                                       "num_gpu",       "gpu_milli",     "gpu_spec",
                                       "qos",           "pod_phase",     "creation_time",
                                       "deletion_time", "scheduled_time"};
    csv_t c = {.err = err};
    tp_csv_init(&c.in, name, text, len);
    seen_t seen = {tp_strmap_new(16384), NULL, 0, 0};
    tp_alibaba_stats_t s = {0};
    size_t cap = 0;
    int rc;
    tp_error_clear(err);
    memset(out, 0, sizeof *out);
    if (!seen.map) {
        rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = expect_header(&c, cols, 11)) < 0)
        goto out;
    while ((rc = csv_next(&c)) > 0) {
        s.rows++;
        if (out->n == cap) {
            size_t nc = cap ? 2 * cap : 1024;
            tp_pod_t *g = realloc(out->pod, nc * sizeof *g);
            if (!g) {
                rc = tp_error_set(err, TP_ENOMEM, "out of memory");
                goto out;
            }
            out->pod = g;
            cap = nc;
        }
        tp_pod_t *p = &out->pod[out->n];
        if ((rc = parse_pod(&c, &seen, p)) < 0)
            goto out;
        out->n++;
        if (p->num_gpu == 0) {
            s.skipped++;
            continue;
        }
        s.kept++;
        s.gpus += p->num_gpu;
        s.fractional += p->gpu_milli < 1000;
    }
    if (rc == 0 && out->n == 0)
        rc = tp_error_set(err, TP_EPARSE, "%s:2: no pods after the header", name);
    if (rc == 0 && st)
        *st = s;
out:
    seen_fini(&seen);
    if (rc < 0)
        tp_alibaba_pod_list_fini(out);
    return rc < 0 ? rc : 0;
}

int tp_alibaba_pod_list(const char *path, tp_pod_list_t *out, tp_alibaba_stats_t *st,
                        tp_error_t *err)
{
    char *text;
    size_t len;
    memset(out, 0, sizeof *out);
    int rc = tp_file_read(path, MAX_TRACE_BYTES, &text, &len, err);
    if (rc < 0)
        return rc;
    rc = tp_alibaba_pod_list_buffer(path, text, len, out, st, err);
    free(text);
    return rc;
}

void tp_alibaba_pod_list_fini(tp_pod_list_t *p)
{
    free(p->pod);
    memset(p, 0, sizeof *p);
}

int tp_alibaba_pods_buffer(const char *name, const char *text, size_t len, json_t **out,
                           tp_alibaba_stats_t *st, tp_error_t *err)
{
    tp_pod_list_t pl;
    int rc = tp_alibaba_pod_list_buffer(name, text, len, &pl, st, err);
    *out = NULL;
    if (rc < 0)
        return rc;
    json_t *list = json_array();
    for (size_t i = 0; list && i < pl.n; i++) {
        const tp_pod_t *p = &pl.pod[i];
        if (p->num_gpu == 0)
            continue;
        json_t *w = json_pack("{s:s, s:s, s:i, s:s, s:i, s:b}", "id", p->name, "tenant",
                              "openb", "gpus", p->num_gpu, "sensitivity", "public",
                              "priority", p->priority, "preemptible", p->preemptible);
        if (!w || json_array_append_new(list, w))
            goto oom;
        if (p->gpu_spec[0]) {
            json_t *gm = json_array();
            if (!gm || json_object_set_new(w, "gpu_models", gm))
                goto oom;
            char spec[sizeof p->gpu_spec];
            snprintf(spec, sizeof spec, "%s", p->gpu_spec);
            char *save = NULL;
            for (char *tok = strtok_r(spec, "|", &save); tok;
                 tok = strtok_r(NULL, "|", &save))
                if (json_array_append_new(gm, json_string(tok)))
                    goto oom;
        }
    }
    if (!list)
        goto oom;
    tp_alibaba_pod_list_fini(&pl);
    *out = list;
    return 0;
oom:
    json_decref(list);
    tp_alibaba_pod_list_fini(&pl);
    return tp_error_set(err, TP_ENOMEM, "out of memory");
}

int tp_alibaba_pods(const char *path, json_t **out, tp_alibaba_stats_t *st,
                    tp_error_t *err)
{
    char *text;
    size_t len;
    int rc = tp_file_read(path, MAX_TRACE_BYTES, &text, &len, err);
    *out = NULL;
    if (rc < 0)
        return rc;
    rc = tp_alibaba_pods_buffer(path, text, len, out, st, err);
    free(text);
    return rc;
}
