/*
 * sim/output.c — runs a scenario's variants × policies (tp_sim_run), and turns
 * the results into summary.json, timeseries.csv, the text table and (through
 * sim/report.c) report.html; merges shard outputs back into one result.
 *
 * summary.json is deterministic: no wall-clock figures, numbers rounded to six
 * significant digits, keys in a fixed order. A merge of shards rebuilds exactly
 * the document (and CSV) the unsharded run writes.
 */
#include "sim/sim_internal.h"
#include "util/file.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* One shard's summary.json or timeseries.csv. */
#define MAX_SHARD_BYTES ((size_t)1 << 30)

struct tp_sim_out {
    json_t *summary;
    sim_buf_t csv;
    double wall_s;
    long long events;
};

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *events_json(const sim_setup_t *s)
{
    json_t *a = json_array();
    for (int e = 0; e < s->nevents; e++) {
        const sim_event_t *ev = &s->events[e];
        if (ev->at_us > s->duration_us)
            continue;
        json_array_append_new(a,
                              json_pack("{s:f, s:s}", "at_s", (double)ev->at_us / SIM_US,
                                        "label", ev->label ? ev->label : "event"));
    }
    return a;
}

/* Splits "a,b" into known policy names; NULL with err set on a bad name. */
static char **split_policies(const char *list, int *n, tp_error_t *err)
{
    char *copy = strdup(list), *save = NULL;
    char **out = calloc(strlen(list) / 2 + 2, sizeof *out);
    *n = 0;
    if (!copy || !out) {
        free(copy);
        free(out);
        tp_error_set(err, TP_ENOMEM, "out of memory");
        return NULL;
    }
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const char *known = NULL;
        for (int i = 0; tp_sim_policy_names[i]; i++)
            if (!strcmp(tp_sim_policy_names[i], tok))
                known = tp_sim_policy_names[i];
        for (int i = 0; known && i < *n; i++)
            if (out[i] == known)
                known = NULL;
        if (!known) {
            tp_error_set(err, TP_EUSAGE,
                         "--policy: \"%s\" is unknown or repeated (trustplace, "
                         "capacity-first, first-fit, efficiency-greedy)",
                         tok);
            free(copy);
            free(out);
            return NULL;
        }
        out[(*n)++] = (char *)known;
    }
    free(copy);
    if (*n == 0) {
        free(out);
        tp_error_set(err, TP_EUSAGE, "--policy: no policy named");
        return NULL;
    }
    return out;
}

int tp_sim_run(const tp_scenario_t *sc_c, const tp_sim_opts_t *o, tp_sim_out_t **out,
               tp_error_t *err)
{
    struct tp_scenario *sc = (struct tp_scenario *)sc_c;
    tp_sim_out_t *r = calloc(1, sizeof *r);
    char **pols = NULL;
    int npols = 0, rc = 0, V = sc->nvariants;
    int si = o->shard_count > 0 ? o->shard_index : 0,
        sn = o->shard_count > 0 ? o->shard_count : 1;
    double t0 = wall();
    *out = NULL;
    tp_error_clear(err);
    if (!r)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    if (si < 0 || si >= sn) {
        free(r);
        return tp_error_set(err, TP_EUSAGE, "--shard %d/%d: expected 0 ≤ i < n", si, sn);
    }
    if (o->policies && !(pols = split_policies(o->policies, &npols, err))) {
        free(r);
        return err->code;
    }
    int mine = 0;
    for (int v = si; v < V; v += sn)
        mine++;
    json_t *results = json_array();
    r->summary = json_object();
    json_object_set_new(r->summary, "scenario", json_string(sc->name));
    json_object_set_new(r->summary, "variants", json_integer(V));
    json_object_set_new(r->summary, "trustplace",
                        json_string(tp_sim_trustplace_uses_solver()
                                        ? "solver"
                                        : "greedy adapter (solver/ absent)"));
    json_object_set_new(r->summary, "results", results);
    if (sn > 1)
        json_object_set_new(r->summary, "shard",
                            json_pack("{s:i, s:i}", "index", si, "count", sn));
    rc = sim_buf_put(&r->csv, sim_csv_header());
    int done = 0;
    for (int v = si; v < V && rc == 0; v += sn) {
        sim_setup_t *s = NULL;
        if ((rc = sim_setup_new(sc, v, o->seed_set, o->seed, &s, err)) < 0)
            break;
        char **use = pols ? pols : s->policies;
        int nuse = pols ? npols : s->npolicies;
        json_t *res = json_object(), *pj = json_object();
        json_object_set_new(res, "variant", json_integer(v));
        json_object_set_new(res, "seed", json_integer((json_int_t)s->seed));
        json_object_set_new(res, "params", json_incref(s->params));
        json_object_set_new(res, "duration_s",
                            json_real((double)s->duration_us / SIM_US));
        json_object_set_new(res, "tick_s", json_real((double)s->tick_us / SIM_US));
        json_object_set_new(res, "sample_s", json_real((double)s->sample_us / SIM_US));
        int present = 0;
        for (int n = 0; n < s->fleet->nnodes; n++)
            present += s->present0[n];
        json_object_set_new(res, "nodes", json_integer(present));
        json_object_set_new(res, "nodes_added", json_integer(s->fleet->nnodes - present));
        json_object_set_new(res, "solver_method", json_string(s->solver.method));
        json_object_set_new(res, "events", events_json(s));
        json_object_set_new(res, "policies", pj);
        json_array_append_new(results, res);
        for (int p = 0; p < nuse && rc == 0; p++) {
            sim_run_opts_t ro = {o->progress, o->progress_arg,
                                 (double)done / (mine * nuse), 1.0 / (mine * nuse),
                                 o->no_validate};
            json_t *k = NULL;
            long long ev = 0;
            rc = sim_simulate(s, v, use[p], &ro, &r->csv, &k, &ev, err);
            r->events += ev;
            if (rc == 0)
                json_object_set_new(pj, use[p], k);
            done++;
        }
        sim_setup_free(s);
    }
    free(pols);
    r->wall_s = wall() - t0;
    if (rc < 0) {
        tp_sim_out_free(r);
        return rc;
    }
    if (o->progress)
        o->progress(o->progress_arg, 1.0, "done");
    *out = r;
    return 0;
}

void tp_sim_out_free(tp_sim_out_t *o)
{
    if (!o)
        return;
    json_decref(o->summary);
    free(o->csv.buf);
    free(o);
}

const json_t *tp_sim_out_summary(const tp_sim_out_t *o)
{
    return o->summary;
}

const char *tp_sim_out_timeseries(const tp_sim_out_t *o)
{
    return o->csv.buf ? o->csv.buf : "";
}

void tp_sim_out_perf(const tp_sim_out_t *o, double *wall_s, long long *events)
{
    if (wall_s)
        *wall_s = o->wall_s;
    if (events)
        *events = o->events;
}

#define DUMP_FLAGS (JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10))

static int write_file(const char *dir, const char *name, const char *text,
                      tp_error_t *err)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return tp_error_set(err, TP_EIO, "%s: %s", tmp, strerror(errno));
    fputs(text, f);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return tp_error_set(err, TP_EIO, "cannot write %s", path);
    }
    return 0;
}

static int mkdir_p(const char *dir, tp_error_t *err)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0777);
            *p = '/';
        }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return tp_error_set(err, TP_EIO, "%s: %s", dir, strerror(errno));
    return 0;
}

int tp_sim_out_write(const tp_sim_out_t *o, const char *dir, tp_error_t *err)
{
    int rc = mkdir_p(dir, err);
    if (rc < 0)
        return rc;
    char *js = json_dumps(o->summary, DUMP_FLAGS);
    char *html = tp_sim_report_html(o->summary, tp_sim_out_timeseries(o));
    if (!js || !html) {
        free(js);
        free(html);
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    size_t n = strlen(js);
    char *js2 = realloc(js, n + 2);
    if (js2) {
        js = js2;
        memcpy(js + n, "\n", 2);
    }
    if ((rc = write_file(dir, "summary.json", js, err)) == 0 &&
        (rc = write_file(dir, "timeseries.csv", tp_sim_out_timeseries(o), err)) == 0)
        rc = write_file(dir, "report.html", html, err);
    free(js);
    free(html);
    return rc;
}

/* ---- the text table ------------------------------------------------------------------
 */

static double jnum(const json_t *o, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *t = strtok_r(buf, ".", &save); t && o; t = strtok_r(NULL, ".", &save))
        o = json_object_get(o, t);
    return o ? json_number_value(o) : 0;
}

/* The worst p95 job wait over the classes with sensitive names in the table. */
static double worst_p95(const json_t *k, const char **cls)
{
    const json_t *bc = json_object_get(json_object_get(k, "wait"), "by_class"), *h;
    const char *name;
    double worst = 0;
    *cls = "-";
    json_object_foreach ((json_t *)bc, name, h) {
        double p = json_number_value(json_object_get(h, "p95_s"));
        if (json_integer_value(json_object_get(h, "n")) && p >= worst) {
            worst = p;
            *cls = name;
        }
    }
    return worst;
}

static double total_pending(const json_t *k)
{
    const json_t *pc =
                     json_object_get(json_object_get(k, "pending_gpu_hours"), "by_class"),
                 *v;
    const char *name;
    double s = 0;
    json_object_foreach ((json_t *)pc, name, v)
        s += json_number_value(v);
    return s;
}

void tp_sim_out_print(const tp_sim_out_t *o, FILE *f)
{
    const json_t *results = json_object_get(o->summary, "results"), *res;
    size_t i;
    fprintf(f, "scenario %s — trustplace policy: %s\n",
            json_string_value(json_object_get(o->summary, "scenario")),
            json_string_value(json_object_get(o->summary, "trustplace")));
    json_array_foreach (results, i, res) {
        const json_t *params = json_object_get(res, "params"), *pv, *k;
        const char *pname;
        fprintf(f, "\nvariant %lld (seed %lld",
                (long long)json_integer_value(json_object_get(res, "variant")),
                (long long)json_integer_value(json_object_get(res, "seed")));
        json_object_foreach ((json_t *)params, pname, pv) {
            char *t = json_dumps(pv, JSON_ENCODE_ANY | JSON_COMPACT);
            fprintf(f, ", %s=%s", pname, t ? t : "?");
            free(t);
        }
        fprintf(f, "; %.0f h, %lld nodes", jnum(res, "duration_s") / 3600,
                (long long)json_integer_value(json_object_get(res, "nodes")));
        if (json_integer_value(json_object_get(res, "nodes_added")))
            fprintf(f, " + up to %lld added",
                    (long long)json_integer_value(json_object_get(res, "nodes_added")));
        fprintf(f, ")\n");
        fprintf(f, "%-18s %6s %8s %6s %6s %8s %10s %6s %9s %16s %8s %7s %9s\n", "policy",
                "viol", "viol-GPUh", "TEE%", "sensTEE", "tok/J", "energy-kWh", "util%",
                "pend-GPUh", "p95-wait(worst)", "req-p95", "preempt", "site-hr-kW");
        json_object_foreach ((json_t *)json_object_get(res, "policies"), pname, k) {
            const char *wc;
            double p95 = worst_p95(k, &wc);
            char wbuf[40];
            const json_t *rq = json_object_get(json_object_get(k, "wait"),
                                               "requests_by_class"),
                         *h;
            const char *rn;
            double rp = 0;
            json_object_foreach ((json_t *)rq, rn, h)
                if (json_number_value(json_object_get(h, "p95_s")) > rp)
                    rp = json_number_value(json_object_get(h, "p95_s"));
            snprintf(wbuf, sizeof wbuf, "%.0fs %.9s", p95, wc);
            fprintf(f,
                    "%-18s %6lld %8.1f %5.1f%% %6.1f%% %8.3f %10.1f %5.1f%% %9.1f %16s "
                    "%7.1fs %7lld %9.1f\n",
                    pname, (long long)jnum(k, "security_violations.placements"),
                    jnum(k, "security_violations.gpu_hours"), 100 * jnum(k, "tee_share"),
                    100 * jnum(k, "sensitive_in_tee"), jnum(k, "tokens_per_j"),
                    jnum(k, "energy_kwh"), 100 * jnum(k, "gpu_util"), total_pending(k),
                    wbuf, rp, (long long)jnum(k, "preemptions"),
                    jnum(k, "power.min_headroom_kw"));
        }
    }
}

/* ---- merge ----------------------------------------------------------------------------
 */

/* A shard's file, whole; caller frees. NULL with err set on failure. */
static char *read_text(const char *path, tp_error_t *err)
{
    char *text;
    size_t len;
    return tp_file_read(path, MAX_SHARD_BYTES, &text, &len, err) < 0 ? NULL : text;
}

static int cmp_variant(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t vx = json_integer_value(json_object_get(x, "variant"));
    json_int_t vy = json_integer_value(json_object_get(y, "variant"));
    return vx < vy ? -1 : vx > vy;
}

typedef struct {
    long variant;
    size_t order;
    const char *line;
    size_t len;
} row_t;

static int cmp_row(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    if (x->variant != y->variant)
        return x->variant < y->variant ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

int tp_sim_merge(const char *const *dirs, int ndirs, tp_sim_out_t **out, tp_error_t *err)
{
    tp_sim_out_t *r = calloc(1, sizeof *r);
    json_t **res = NULL, *first = NULL;
    char **csvs = calloc((size_t)ndirs + 1, sizeof *csvs);
    row_t *rows = NULL;
    size_t nres = 0, nrows = 0, caprows = 0;
    int rc = 0;
    *out = NULL;
    tp_error_clear(err);
    if (!r || !csvs) {
        free(r);
        free(csvs);
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    for (int d = 0; d < ndirs && rc == 0; d++) {
        char path[4096];
        json_error_t je;
        snprintf(path, sizeof path, "%s/summary.json", dirs[d]);
        json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
        if (!doc) {
            rc = tp_error_set(err, TP_EPARSE, "%s:%d:%d: %s", path, je.line, je.column,
                              je.text);
            break;
        }
        const json_t *rs = json_object_get(doc, "results");
        if (!json_is_string(json_object_get(doc, "scenario")) || !json_is_array(rs)) {
            json_decref(doc);
            rc = tp_error_set(err, TP_EPARSE, "%s: not a trustplace sim summary", path);
            break;
        }
        if (!first) {
            first = doc;
        } else {
            if (!json_equal(json_object_get(doc, "scenario"),
                            json_object_get(first, "scenario")) ||
                !json_equal(json_object_get(doc, "variants"),
                            json_object_get(first, "variants")) ||
                !json_equal(json_object_get(doc, "trustplace"),
                            json_object_get(first, "trustplace")))
                rc = tp_error_set(
                    err, TP_EINVAL,
                    "%s: from another scenario or build than %s/summary.json", path,
                    dirs[0]);
        }
        size_t i;
        const json_t *x;
        json_t **g = realloc(res, (nres + json_array_size(rs) + 1) * sizeof *g);
        if (!g) {
            rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        } else {
            res = g;
            json_array_foreach (rs, i, x)
                res[nres++] = json_incref((json_t *)x);
        }
        if (doc != first)
            json_decref(doc);
        snprintf(path, sizeof path, "%s/timeseries.csv", dirs[d]);
        if (rc == 0 && !(csvs[d] = read_text(path, err)))
            rc = err->code;
        if (rc == 0 && strncmp(csvs[d], sim_csv_header(), strlen(sim_csv_header())))
            rc = tp_error_set(err, TP_EPARSE,
                              "%s:1: not the timeseries header of this build", path);
        /* Rows after the header, tagged with their variant. */
        for (const char *p = csvs[d] + (rc == 0 ? strlen(sim_csv_header()) : 0);
             rc == 0 && *p;) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p + 1) : strlen(p);
            if (nrows == caprows) {
                row_t *gr =
                    realloc(rows, (caprows = caprows ? 2 * caprows : 4096) * sizeof *gr);
                if (!gr) {
                    rc = tp_error_set(err, TP_ENOMEM, "out of memory");
                    break;
                }
                rows = gr;
            }
            rows[nrows] = (row_t){strtol(p, NULL, 10), nrows, p, len};
            nrows++;
            p += len;
        }
    }
    if (rc == 0 && !first)
        rc = tp_error_set(err, TP_EUSAGE, "sim merge: no directories given");
    if (rc == 0) {
        qsort(res, nres, sizeof *res, cmp_variant);
        long long V = json_integer_value(json_object_get(first, "variants"));
        for (size_t i = 0; i < nres && rc == 0; i++) {
            long long v = json_integer_value(json_object_get(res[i], "variant"));
            if (v != (long long)i)
                rc = tp_error_set(err, TP_EINVAL,
                                  v < (long long)i
                                      ? "variant %lld appears in two shards"
                                      : "variant %lld is missing (a shard did "
                                        "not finish?)",
                                  v < (long long)i ? v : (long long)i);
        }
        if (rc == 0 && (long long)nres + 1 == V)
            rc = tp_error_set(err, TP_EINVAL,
                              "variant %lld is missing (a shard did not "
                              "finish?)",
                              V - 1);
        else if (rc == 0 && (long long)nres != V)
            rc = tp_error_set(err, TP_EINVAL, "variants %zu..%lld are missing", nres,
                              V - 1);
    }
    if (rc == 0) {
        /* The same document as an unsharded run: its keys in order, minus "shard". */
        const char *key;
        json_t *val, *arr = json_array();
        r->summary = json_object();
        for (size_t i = 0; i < nres; i++)
            json_array_append(arr, res[i]);
        json_object_foreach (first, key, val) {
            if (!strcmp(key, "shard"))
                continue;
            json_object_set(r->summary, key, strcmp(key, "results") ? val : arr);
        }
        json_decref(arr);
        qsort(rows, nrows, sizeof *rows, cmp_row);
        rc = sim_buf_put(&r->csv, sim_csv_header());
        for (size_t i = 0; i < nrows && rc == 0; i++) {
            char *line = strndup(rows[i].line, rows[i].len);
            rc = line ? sim_buf_put(&r->csv, line) : TP_ENOMEM;
            free(line);
        }
    }
    for (size_t i = 0; i < nres; i++)
        json_decref(res[i]);
    free(res);
    json_decref(first);
    for (int d = 0; d < ndirs; d++)
        free(csvs[d]);
    free(csvs);
    free(rows);
    if (rc < 0) {
        tp_sim_out_free(r);
        return rc;
    }
    *out = r;
    return 0;
}
