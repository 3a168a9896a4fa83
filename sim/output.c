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

/* The aggregate over seeds of each variant: {"variant", "params", "seeds",
 * "policies": {name: sim_aggregate of its per-seed KPIs}}, variants in order. */
static json_t *aggregates(const json_t *results)
{
    json_t *out = json_array();
    size_t n = json_array_size(results);
    json_t **runs = calloc(n + 1, sizeof *runs);
    if (!out || !runs) {
        json_decref(out);
        free(runs);
        return NULL;
    }
    for (size_t i = 0; i < n;) {
        const json_t *first = json_array_get(results, i);
        json_int_t v = json_integer_value(json_object_get(first, "variant"));
        size_t end = i;
        json_t *seeds = json_array(), *pols = json_object();
        while (end < n && json_integer_value(json_object_get(json_array_get(results, end),
                                                             "variant")) == v) {
            json_array_append(seeds,
                              json_object_get(json_array_get(results, end), "seed"));
            end++;
        }
        const char *pname;
        json_t *pk;
        json_object_foreach (json_object_get((json_t *)first, "policies"), pname, pk) {
            int m = 0;
            for (size_t k = i; k < end; k++) {
                json_t *x = json_object_get(
                    json_object_get(json_array_get(results, k), "policies"), pname);
                if (x)
                    runs[m++] = x;
            }
            json_t *agg = sim_aggregate(runs, m);
            if (agg)
                json_object_set_new(pols, pname, agg);
        }
        json_array_append_new(out, json_pack("{s:I, s:O, s:o, s:o}", "variant", v,
                                             "params", json_object_get(first, "params"),
                                             "seeds", seeds, "policies", pols));
        i = end;
    }
    free(runs);
    return out;
}

int tp_sim_run(const tp_scenario_t *sc_c, const tp_sim_opts_t *o, tp_sim_out_t **out,
               tp_error_t *err)
{
    struct tp_scenario *sc = (struct tp_scenario *)sc_c;
    tp_sim_out_t *r = calloc(1, sizeof *r);
    char **pols = NULL;
    uint64_t *seeds = NULL;
    int npols = 0, rc = 0, V = sc->nvariants, S = 0;
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
    /* Seeds: --seeds, else the scenario's "seeds" unless --seed names one. */
    if (o->seeds) {
        if ((rc = sim_seeds_parse(o->seeds, &seeds, &S, err)) < 0) {
            free(pols);
            free(r);
            return rc;
        }
    } else if (!o->seed_set && sc->nseeds) {
        if (!(seeds = malloc((size_t)sc->nseeds * sizeof *seeds))) {
            free(pols);
            free(r);
            return tp_error_set(err, TP_ENOMEM, "out of memory");
        }
        memcpy(seeds, sc->seeds, (size_t)sc->nseeds * sizeof *seeds);
        S = sc->nseeds;
    }
    /* Runs: variant v with seed k is run v·S + k; a shard owns runs ≡ its index. */
    int S1 = S ? S : 1, runs = V * S1;
    int mine = 0;
    for (int u = si; u < runs; u += sn)
        mine++;
    json_t *results = json_array();
    r->summary = json_object();
    json_object_set_new(r->summary, "scenario", json_string(sc->name));
    json_object_set_new(r->summary, "variants", json_integer(V));
    if (S) {
        json_t *sl = json_array();
        for (int k = 0; k < S; k++)
            json_array_append_new(sl, json_integer((json_int_t)seeds[k]));
        json_object_set_new(r->summary, "seeds", sl);
    }
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
    for (int u = si; u < runs && rc == 0; u += sn) {
        int v = u / S1;
        sim_setup_t *s = NULL;
        if ((rc = sim_setup_new(sc, v, S ? true : o->seed_set,
                                S ? seeds[u % S1] : o->seed, &s, err)) < 0)
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
        json_object_set_new(
            res, "batch",
            json_pack("{s:s, s:s}", "duration", s->wall_time_jobs ? "wall_time" : "work",
                      "reference",
                      s->ref_gpu >= 0 ? s->fleet->gpu_models[s->ref_gpu]
                                      : "GPU-weighted mean profile of each model"));
        json_object_set_new(res, "events", events_json(s));
        json_object_set_new(res, "policies", pj);
        json_array_append_new(results, res);
        for (int p = 0; p < nuse && rc == 0; p++) {
            sim_run_opts_t ro = {
                o->progress,         o->progress_arg, (double)done / (mine * nuse),
                1.0 / (mine * nuse), o->no_validate,  r->events};
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
    free(seeds);
    /* Aggregates over the seeds, when every run is here (a shard's come at merge). */
    if (rc == 0 && S && sn == 1) {
        json_t *ag = aggregates(results);
        if (!ag)
            rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        else
            json_object_set_new(r->summary, "aggregates", ag);
    }
    r->wall_s = wall() - t0;
    if (rc < 0) {
        tp_sim_out_free(r);
        return rc;
    }
    if (o->progress)
        o->progress(o->progress_arg, 1.0, "done", r->events);
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
    char path[4096], *tmp;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = tp_file_replace_open(path, &tmp, err);
    if (!f)
        return TP_EIO;
    fputs(text, f);
    return tp_file_replace_close(f, tmp, path, !ferror(f), err);
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

/* A KPI of a run (a number) or of an aggregate ({"mean", "ci95"}); ci NAN for a
 * single run. */
double sim_kv(const json_t *k, const char *path, double *ci)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *t = strtok_r(buf, ".", &save); t && k; t = strtok_r(NULL, ".", &save))
        k = json_object_get(k, t);
    *ci = NAN;
    if (json_is_object(k)) {
        *ci = json_number_value(json_object_get(k, "ci95"));
        return json_number_value(json_object_get(k, "mean"));
    }
    return k ? json_number_value(k) : 0;
}

/* The table's columns: header, KPI path, scale, decimals. Completed work leads
 * next to violations; tokens per joule only per kind (served requests, batch). */
const sim_col_t sim_table_cols[SIM_TABLE_NCOLS] = {
    {"viol", "security_violations.placements", 1, 0},
    {"viol-GPUh", "security_violations.gpu_hours", 1, 1},
    {"sensTEE%", "sensitive_in_tee", 100, 1},
    {"work-GPUh", "jobs.completed_work_gpu_h", 1, 0},
    {"jobs-done", "jobs.completed", 1, 0},
    {"pend-GPUh", "pending_gpu_hours.total", 1, 1},
    {"job-p95-s", "wait.jobs_p95_worst_s", 1, 0},
    {"req-p95-s", "wait.requests_p95_worst_s", 1, 1},
    {"req-tok/J", "tokens_per_j_requests", 1, 3},
    {"batch-tok/J", "tokens_per_j_batch", 1, 3},
    {"energy-kWh", "energy_kwh", 1, 0},
    {"util%", "gpu_util", 100, 1},
    {"preempt", "preemptions", 1, 0},
};
_Static_assert(sizeof sim_table_cols / sizeof sim_table_cols[0] == SIM_TABLE_NCOLS,
               "SIM_TABLE_NCOLS");
#define NCOLS SIM_TABLE_NCOLS
#define cols sim_table_cols

static void print_table(FILE *f, const json_t *pols)
{
    const char *pname;
    const json_t *k;
    char cell[NCOLS][48];
    int width[NCOLS];
    for (int c = 0; c < NCOLS; c++)
        width[c] = (int)strlen(cols[c].head);
    /* Two passes: widths, then the rows. */
    for (int pass = 0; pass < 2; pass++) {
        if (pass) {
            fprintf(f, "%-18s", "policy");
            for (int c = 0; c < NCOLS; c++)
                fprintf(f, " %*s", width[c], cols[c].head);
            fputc('\n', f);
        }
        json_object_foreach ((json_t *)pols, pname, k) {
            for (int c = 0; c < NCOLS; c++) {
                double ci, m = sim_kv(k, cols[c].path, &ci) * cols[c].scale;
                if (isnan(ci))
                    snprintf(cell[c], sizeof cell[c], "%.*f", cols[c].prec, m);
                else
                    snprintf(cell[c], sizeof cell[c], "%.*f±%.*f", cols[c].prec, m,
                             cols[c].prec, ci * cols[c].scale);
                int len = (int)strlen(cell[c]) - (isnan(ci) ? 0 : 1); /* ± is 2 bytes */
                if (len > width[c])
                    width[c] = len;
            }
            if (!pass)
                continue;
            fprintf(f, "%-18s", pname);
            for (int c = 0; c < NCOLS; c++) {
                int pad =
                    width[c] - ((int)strlen(cell[c]) - (strstr(cell[c], "±") ? 1 : 0));
                fprintf(f, " %*s%s", pad > 0 ? pad : 0, "", cell[c]);
            }
            fputc('\n', f);
        }
    }
}

/* Where the tokens came from: the share from traces, per kind. */
static void print_origin(FILE *f, const json_t *pols)
{
    const json_t *k = json_object_iter_value(json_object_iter((json_t *)pols));
    double ci;
    if (!k)
        return;
    double rt = sim_kv(k, "tokens_by_origin.requests_trace", &ci),
           rg = sim_kv(k, "tokens_by_origin.requests_generated", &ci),
           bt = sim_kv(k, "tokens_by_origin.batch_trace", &ci),
           bg = sim_kv(k, "tokens_by_origin.batch_generated", &ci);
    fprintf(f,
            "tokens (%s): requests %.3g from traces, %.3g generated; batch %.3g from "
            "traces, %.3g generated — %.2f%% of all tokens from traces; %.2f%% of the "
            "busy GPU-hours\n",
            json_object_iter_key(json_object_iter((json_t *)pols)), rt, rg, bt, bg,
            rt + rg + bt + bg > 0 ? 100 * (rt + bt) / (rt + rg + bt + bg) : 0,
            100 * sim_kv(k, "gpu_hours_by_origin.trace_share", &ci));
}

/* Gangs and tenants, when the scenario has them: each tenant's GPUs in use ÷ its
 * quota over the run and per quarter of it, its most GPUs at once vs its limit;
 * the p95 wait of gangs by members. */
static void print_gangs(FILE *f, const json_t *pols)
{
    const json_t *k0 = json_object_iter_value(json_object_iter((json_t *)pols)), *k;
    const json_t *ten = json_object_get(k0, "tenants"), *t, *q;
    const json_t *by = json_object_get(json_object_get(k0, "gangs"), "wait_by_size");
    const char *pname, *tname, *qname;
    double ci;
    if (ten) {
        fprintf(f,
                "\nper-tenant GPUs in use ÷ quota (mean over the run, then by quarter "
                "of it); most GPUs at once vs limit\n%-12s %6s %6s  %-18s %6s",
                "tenant", "quota", "limit", "policy", "mean");
        json_object_foreach ((json_t *)json_object_get(
                                 json_object_iter_value(json_object_iter((json_t *)ten)),
                                 "share_of_quota_by_quarter"),
                             qname, q)
            fprintf(f, " %9s", qname);
        fprintf(f, " %6s\n", "max");
        json_object_foreach ((json_t *)ten, tname, t) {
            json_object_foreach ((json_t *)pols, pname, k) {
                char p[160];
                const json_t *x = json_object_get(json_object_get(k, "tenants"), tname);
                fprintf(f, "%-12s %6.0f %6.0f  %-18s", tname,
                        sim_kv(x, "quota_gpus", &ci), sim_kv(x, "limit_gpus", &ci),
                        pname);
                fprintf(f, " %6.2f", sim_kv(x, "share_of_quota", &ci));
                json_object_foreach (
                    (json_t *)json_object_get(x, "share_of_quota_by_quarter"), qname, q) {
                    snprintf(p, sizeof p, "share_of_quota_by_quarter.%s", qname);
                    fprintf(f, " %9.2f", sim_kv(x, p, &ci));
                }
                fprintf(f, " %6.0f\n", sim_kv(x, "max_gpus", &ci));
            }
        }
    }
    if (by) {
        fprintf(f, "\ngang wait p95 (s) by members:\n%-18s", "policy");
        json_object_foreach ((json_t *)by, qname, q)
            fprintf(f, " %8s", qname);
        fputc('\n', f);
        json_object_foreach ((json_t *)pols, pname, k) {
            fprintf(f, "%-18s", pname);
            json_object_foreach ((json_t *)by, qname, q) {
                char p[96];
                snprintf(p, sizeof p, "gangs.wait_by_size.%s.p95_s", qname);
                fprintf(f, " %8.0f", sim_kv(k, p, &ci));
            }
            fputc('\n', f);
        }
    }
}

void tp_sim_out_print(const tp_sim_out_t *o, FILE *f)
{
    const json_t *results = json_object_get(o->summary, "results"), *res;
    const json_t *aggs = json_object_get(o->summary, "aggregates");
    size_t i;
    fprintf(f, "scenario %s — trustplace policy: %s\n",
            json_string_value(json_object_get(o->summary, "scenario")),
            json_string_value(json_object_get(o->summary, "trustplace")));
    json_array_foreach (aggs ? aggs : results, i, res) {
        const json_t *params = json_object_get(res, "params"), *pv;
        const char *pname;
        const json_t *run = res;
        if (aggs) { /* the variant's first run, for its settings */
            size_t r;
            json_array_foreach (results, r, run)
                if (json_equal(json_object_get(run, "variant"),
                               json_object_get(res, "variant")))
                    break;
            fprintf(f, "\nvariant %lld (%zu seeds: mean ± 95%% CI",
                    (long long)json_integer_value(json_object_get(res, "variant")),
                    json_array_size(json_object_get(res, "seeds")));
        } else {
            fprintf(f, "\nvariant %lld (seed %lld",
                    (long long)json_integer_value(json_object_get(res, "variant")),
                    (long long)json_integer_value(json_object_get(res, "seed")));
        }
        json_object_foreach ((json_t *)params, pname, pv) {
            char *t = json_dumps(pv, JSON_ENCODE_ANY | JSON_COMPACT);
            fprintf(f, ", %s=%s", pname, t ? t : "?");
            free(t);
        }
        fprintf(f, "; %.0f h, %lld nodes", jnum(run, "duration_s") / 3600,
                (long long)json_integer_value(json_object_get(run, "nodes")));
        if (json_integer_value(json_object_get(run, "nodes_added")))
            fprintf(f, " + up to %lld added",
                    (long long)json_integer_value(json_object_get(run, "nodes_added")));
        fprintf(f, ")\n");
        print_table(f, json_object_get(res, "policies"));
        print_origin(f, json_object_get(res, "policies"));
        print_gangs(f, json_object_get(res, "policies"));
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

/* Run index of a result: variant · |seeds| + the seed's position in seeds (-1
 * when the seed is not in the list). */
static long run_of(const json_t *seeds, long variant, json_int_t seed)
{
    size_t n = json_array_size(seeds);
    if (!n)
        return variant;
    for (size_t k = 0; k < n; k++)
        if (json_integer_value(json_array_get(seeds, k)) == seed)
            return variant * (long)n + (long)k;
    return -1;
}

typedef struct {
    long run;
    json_t *res;
} res_t;

static int cmp_res(const void *a, const void *b)
{
    const res_t *x = a, *y = b;
    return x->run < y->run ? -1 : x->run > y->run;
}

typedef struct {
    long unit; /* variant · seeds + the seed's position */
    size_t order;
    const char *line;
    size_t len;
} row_t;

static int cmp_row(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    if (x->unit != y->unit)
        return x->unit < y->unit ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The seed of a timeseries row: its last field. */
static json_int_t row_seed(const char *line, size_t len)
{
    size_t i = len;
    while (i > 0 && line[i - 1] != ',')
        i--;
    return strtoll(line + i, NULL, 10);
}

int tp_sim_merge(const char *const *dirs, int ndirs, tp_sim_out_t **out, tp_error_t *err)
{
    tp_sim_out_t *r = calloc(1, sizeof *r);
    res_t *res = NULL;
    json_t *first = NULL;
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
            static const char *const same[] = {"scenario", "variants", "trustplace",
                                               "seeds"};
            for (size_t k = 0; k < sizeof same / sizeof same[0] && rc == 0; k++) {
                const json_t *a = json_object_get(doc, same[k]),
                             *b = json_object_get(first, same[k]);
                if ((a || b) && !(a && b && json_equal(a, b)))
                    rc =
                        tp_error_set(err, TP_EINVAL,
                                     "%s: from another scenario, seed list or build than "
                                     "%s/summary.json (\"%s\" differs)",
                                     path, dirs[0], same[k]);
            }
        }
        const json_t *seeds = json_object_get(first, "seeds");
        size_t i;
        const json_t *x;
        res_t *g = realloc(res, (nres + json_array_size(rs) + 1) * sizeof *g);
        if (!g) {
            rc = tp_error_set(err, TP_ENOMEM, "out of memory");
        } else {
            res = g;
            json_array_foreach (rs, i, x)
                res[nres++] = (res_t){
                    run_of(seeds, (long)json_integer_value(json_object_get(x, "variant")),
                           json_integer_value(json_object_get(x, "seed"))),
                    json_incref((json_t *)x)};
        }
        if (doc != first)
            json_decref(doc);
        snprintf(path, sizeof path, "%s/timeseries.csv", dirs[d]);
        if (rc == 0 && !(csvs[d] = read_text(path, err)))
            rc = err->code;
        if (rc == 0 && strncmp(csvs[d], sim_csv_header(), strlen(sim_csv_header())))
            rc = tp_error_set(err, TP_EPARSE,
                              "%s:1: not the timeseries header of this build", path);
        /* Rows after the header, tagged with their run. */
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
            rows[nrows] = (row_t){
                run_of(seeds, strtol(p, NULL, 10), row_seed(p, nl ? len - 1 : len)),
                nrows, p, len};
            nrows++;
            p += len;
        }
    }
    if (rc == 0 && !first)
        rc = tp_error_set(err, TP_EUSAGE, "sim merge: no directories given");
    if (rc == 0) {
        qsort(res, nres, sizeof *res, cmp_res);
        size_t S = json_array_size(json_object_get(first, "seeds"));
        long long R = json_integer_value(json_object_get(first, "variants")) *
                      (long long)(S ? S : 1);
        const json_t *sl = json_object_get(first, "seeds");
        char what[96];
        for (size_t i = 0; i <= nres && i < (size_t)R && rc == 0; i++) {
            long long u = i < nres ? res[i].run : (long long)R;
            if (u == (long long)i)
                continue;
            if (u < 0) {
                rc = tp_error_set(err, TP_EINVAL, "a result's seed is not in \"seeds\"");
                break;
            }
            long long x = u < (long long)i ? u : (long long)i; /* the run at fault */
            if (S)
                snprintf(what, sizeof what, "variant %lld seed %lld", x / (long long)S,
                         (long long)json_integer_value(
                             json_array_get(sl, (size_t)(x % (long long)S))));
            else
                snprintf(what, sizeof what, "variant %lld", x);
            rc =
                tp_error_set(err, TP_EINVAL,
                             u < (long long)i ? "%s appears in two shards"
                                              : "%s is missing (a shard did not finish?)",
                             what);
        }
        if (rc == 0 && (long long)nres > R)
            rc = tp_error_set(err, TP_EINVAL, "more results than runs");
    }
    if (rc == 0) {
        /* The same document as an unsharded run: its keys in order, minus "shard",
         * plus the aggregates over seeds. */
        const char *key;
        json_t *val, *arr = json_array();
        r->summary = json_object();
        for (size_t i = 0; i < nres; i++)
            json_array_append(arr, res[i].res);
        json_object_foreach (first, key, val) {
            if (!strcmp(key, "shard") || !strcmp(key, "aggregates"))
                continue;
            json_object_set(r->summary, key, strcmp(key, "results") ? val : arr);
        }
        if (json_object_get(first, "seeds")) {
            json_t *ag = aggregates(arr);
            if (!ag)
                rc = tp_error_set(err, TP_ENOMEM, "out of memory");
            else
                json_object_set_new(r->summary, "aggregates", ag);
        }
        json_decref(arr);
        qsort(rows, nrows, sizeof *rows, cmp_row);
        if (rc == 0)
            rc = sim_buf_put(&r->csv, sim_csv_header());
        for (size_t i = 0; i < nrows && rc == 0; i++) {
            char *line = strndup(rows[i].line, rows[i].len);
            rc = line ? sim_buf_put(&r->csv, line) : TP_ENOMEM;
            free(line);
        }
    }
    for (size_t i = 0; i < nres; i++)
        json_decref(res[i].res);
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
