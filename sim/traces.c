/*
 * sim/traces.c — the Azure LLM CSV reader of sim/traces.h (the Alibaba pod
 * list is read by traces/alibaba.c). Strict: the header must be exactly the published
 * one, every field is range-checked, and the first bad row fails the whole file with its
 * line number. CRLF line endings (as the Azure files have) are accepted.
 */
#include "sim/traces.h"

#include "util/csv.h"
#include "util/file.h"

#include <errno.h>
#include <stdbool.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRACE_BYTES (1LL << 31)

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "YYYY-MM-DD HH:MM:SS[.f…][Z|+00:00]" → µs since 1970; -1 when malformed. */
static int64_t parse_timestamp(const char *s)
{
    int y, mo, d, h, mi, se;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) < 19 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
        s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != ' ' && s[10] != 'T') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &se))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
        return -1;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        int n = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (n < 6)
                frac = frac * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0 || n > 9)
            return -1;
        for (int k = n; k < 6; k++)
            frac *= 10;
    }
    if (*p == 'Z')
        p++;
    else if (!strcmp(p, "+00:00"))
        p += 6;
    if (*p)
        return -1;
    int64_t days = days_from_civil(y, mo, d);
    return ((days * 86400 + h * 3600 + mi * 60 + se) * 1000000) + frac;
}

const tp_req_trace_spec_t tp_azure_preset = {TP_TRACE_CSV, "TIMESTAMP", "ContextTokens",
                                             "GeneratedTokens", TP_TU_DATETIME};

static const char *const unit_names[] = {"s", "ms", "us", "datetime"};

#define MAX_ROLES 8

/* Reading rows of a mapped trace: each role (time, context, …) names a column of
 * the CSV header or a key of the JSONL objects; val[k] is its text in the row
 * (NULL for an optional role the trace lacks). */
typedef struct {
    const char *name;
    int line;
    tp_error_t *err;
    int nroles;
    const char *const *roles; /* "time", "context", … */
    const char *col[MAX_ROLES];
    bool optional[MAX_ROLES];
    const char *val[MAX_ROLES];
    char buf[MAX_ROLES][128];
} rows_t;

typedef int (*row_fn)(void *ctx, rows_t *r);

static int read_csv(rows_t *r, const char *text, size_t len, row_fn fn, void *ctx)
{
    tp_csv_t c;
    tp_csv_init(&c, r->name, text, len);
    int rc = tp_csv_next(&c, r->err), ncol, ix[MAX_ROLES];
    if (rc < 0)
        return rc;
    if (rc == 0)
        return tp_error_set(r->err, TP_EPARSE, "%s:1: empty file (expected a header)",
                            r->name);
    /* The header names the columns; the mapping must find each once. */
    ncol = c.nfield;
    for (int k = 0; k < r->nroles; k++) {
        ix[k] = -1;
        for (int f = 0; r->col[k] && f < c.nfield; f++)
            if (!strcmp(c.field[f], r->col[k])) {
                if (ix[k] >= 0)
                    return tp_error_set(r->err, TP_EPARSE,
                                        "%s:1: column mapping %s=\"%s\": the header "
                                        "names it twice",
                                        r->name, r->roles[k], r->col[k]);
                ix[k] = f;
            }
        if (ix[k] < 0 && r->col[k] && !r->optional[k]) {
            char cols[512] = "";
            size_t used = 0;
            for (int f = 0; f < c.nfield && used < sizeof cols; f++)
                used += (size_t)snprintf(cols + used, sizeof cols - used, "%s\"%s\"",
                                         f ? ", " : "", c.field[f]);
            return tp_error_set(r->err, TP_EPARSE,
                                "%s:1: column mapping %s=\"%s\": no such column in the "
                                "header (%s)",
                                r->name, r->roles[k], r->col[k], cols);
        }
        if (ix[k] < 0 && r->col[k])
            return tp_error_set(r->err, TP_EPARSE,
                                "%s:1: column mapping %s=\"%s\": no such column in the "
                                "header",
                                r->name, r->roles[k], r->col[k]);
    }
    while ((rc = tp_csv_next(&c, r->err)) > 0) {
        r->line = c.line;
        if (tp_csv_blank(&c) && tp_csv_at_end(&c))
            break; /* a trailing empty line */
        if (c.nfield != ncol)
            return tp_error_set(r->err, TP_EPARSE,
                                "%s:%d: expected %d fields (as the header), got %d",
                                r->name, c.line, ncol, c.nfield);
        for (int k = 0; k < r->nroles; k++)
            r->val[k] = ix[k] >= 0 ? c.field[ix[k]] : NULL;
        if ((rc = fn(ctx, r)) < 0)
            return rc;
    }
    return rc;
}

static int read_jsonl(rows_t *r, const char *text, size_t len, row_fn fn, void *ctx)
{
    const char *p = text, *end = text + len;
    for (r->line = 1; p < end; r->line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *next = nl ? nl + 1 : end;
        size_t k = 0;
        while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
            k++;
        if (k == n) { /* blank lines are allowed */
            p = next;
            continue;
        }
        json_error_t je;
        json_t *row = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
        if (!row)
            return tp_error_set(r->err, TP_EPARSE, "%s:%d:%d: invalid JSON: %s", r->name,
                                r->line, je.column, je.text);
        int rc = 0;
        if (!json_is_object(row))
            rc = tp_error_set(r->err, TP_EPARSE, "%s:%d: expected a JSON object", r->name,
                              r->line);
        for (int q = 0; rc == 0 && q < r->nroles; q++) {
            const json_t *v = r->col[q] ? json_object_get(row, r->col[q]) : NULL;
            r->val[q] = NULL;
            if (!v && r->col[q] && !r->optional[q])
                rc = tp_error_set(
                    r->err, TP_EPARSE,
                    "%s:%d: column mapping %s=\"%s\": no such key in the row", r->name,
                    r->line, r->roles[q], r->col[q]);
            else if (json_is_string(v))
                snprintf(r->buf[q], sizeof r->buf[q], "%s", json_string_value(v));
            else if (json_is_integer(v))
                snprintf(r->buf[q], sizeof r->buf[q], "%lld",
                         (long long)json_integer_value(v));
            else if (json_is_real(v))
                snprintf(r->buf[q], sizeof r->buf[q], "%.17g", json_real_value(v));
            else if (v)
                rc = tp_error_set(r->err, TP_EPARSE,
                                  "%s:%d: column \"%s\" (%s): expected a number or a "
                                  "string, got a JSON %s",
                                  r->name, r->line, r->col[q], r->roles[q],
                                  json_is_object(v)  ? "object"
                                  : json_is_array(v) ? "array"
                                  : json_is_null(v)  ? "null"
                                                     : "boolean");
            if (v && rc == 0)
                r->val[q] = r->buf[q];
        }
        json_decref(row);
        if (rc == 0)
            rc = fn(ctx, r);
        if (rc < 0)
            return rc;
        p = next;
    }
    return 0;
}

static int read_rows(rows_t *r, tp_trace_format_t f, const char *text, size_t len,
                     row_fn fn, void *ctx)
{
    /* A UTF-8 byte-order mark (spreadsheet exports) is not part of the header. */
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) {
        text += 3;
        len -= 3;
    }
    return f == TP_TRACE_JSONL ? read_jsonl(r, text, len, fn, ctx)
                               : read_csv(r, text, len, fn, ctx);
}

/* A time in unit (a number ≥ 0, or a datetime) → µs. */
static int take_time(rows_t *r, int k, tp_time_unit_t unit, int64_t *us)
{
    const char *s = r->val[k];
    if (unit == TP_TU_DATETIME) {
        *us = parse_timestamp(s);
        if (*us >= 0)
            return 0;
        return tp_error_set(r->err, TP_EPARSE,
                            "%s:%d: column \"%s\" (%s, time_unit datetime): expected "
                            "\"YYYY-MM-DD HH:MM:SS[.fffffff][Z|+00:00]\", got \"%s\"",
                            r->name, r->line, r->col[k], r->roles[k], s);
    }
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    static const double per[] = {1e6, 1e3, 1};
    if (!*s || *e || errno || !(v >= 0) || v * per[unit] > 4e18 || *s == ' ')
        return tp_error_set(r->err, TP_EPARSE,
                            "%s:%d: column \"%s\" (%s, %s %s): expected a number ≥ 0, "
                            "got \"%s\"",
                            r->name, r->line, r->col[k], r->roles[k],
                            k == 0 ? "time_unit" : "duration_unit", unit_names[unit], s);
    *us = (int64_t)llround(v * per[unit]);
    return 0;
}

static int take_int(rows_t *r, int k, long long lo, long long hi, long long *out)
{
    const char *s = r->val[k];
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (!*s || *e || errno || v < lo || v > hi || *s == '+' || *s == ' ')
        return tp_error_set(r->err, TP_EPARSE,
                            "%s:%d: column \"%s\" (%s): expected an integer in "
                            "%lld..%lld, got \"%s\"",
                            r->name, r->line, r->col[k], r->roles[k], lo, hi, s);
    *out = v;
    return 0;
}

/* Room for element n of *arr (capacity *cap, elements of size bytes). */
static int room(rows_t *r, void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? 2 * *cap : 1024;
    void *g = realloc(*arr, nc * size);
    if (!g)
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->name);
    *arr = g;
    *cap = nc;
    return 0;
}

/* Rows must come sorted by time. */
static int check_sorted(rows_t *r, int k, int64_t t, int64_t *last)
{
    if (*last != INT64_MIN && t < *last)
        return tp_error_set(r->err, TP_EPARSE,
                            "%s:%d: column \"%s\" (%s): earlier than the row before "
                            "(the trace must be sorted by time)",
                            r->name, r->line, r->col[k], r->roles[k]);
    *last = t;
    return 0;
}

typedef struct {
    const tp_req_trace_spec_t *spec;
    int64_t last;
    size_t cap;
    tp_azure_trace_t *out;
} req_ctx_t;

static int req_row(void *ctx, rows_t *r)
{
    req_ctx_t *q = ctx;
    tp_azure_trace_t *o = q->out;
    int64_t t;
    long long c, g;
    int rc;
    if ((rc = take_time(r, 0, q->spec->unit, &t)) < 0 ||
        (rc = take_int(r, 1, 0, 10000000, &c)) < 0 ||
        (rc = take_int(r, 2, 0, 10000000, &g)) < 0 ||
        (rc = check_sorted(r, 0, t, &q->last)) < 0)
        return rc;
    if ((rc = room(r, (void **)&o->req, &q->cap, o->n, sizeof *o->req)) < 0)
        return rc;
    if (o->n == 0)
        o->epoch_us = t;
    o->req[o->n++] = (tp_azure_req_t){t - o->epoch_us, (int32_t)c, (int32_t)g};
    return 0;
}

int tp_sim_request_trace_parse(const char *name, const char *text, size_t len,
                               const tp_req_trace_spec_t *spec, tp_azure_trace_t *out,
                               tp_error_t *err)
{
    static const char *const roles[] = {"time", "context", "generated"};
    rows_t r = {.name = name, .line = 1, .err = err, .nroles = 3, .roles = roles};
    r.col[0] = spec->time;
    r.col[1] = spec->context;
    r.col[2] = spec->generated;
    req_ctx_t q = {spec, INT64_MIN, 0, out};
    memset(out, 0, sizeof *out);
    tp_error_clear(err);
    int rc = read_rows(&r, spec->format, text, len, req_row, &q);
    if (rc == 0 && out->n == 0)
        rc = tp_error_set(err, TP_EPARSE, "%s: no requests in the trace", name);
    if (rc < 0) {
        tp_sim_azure_fini(out);
        return rc;
    }
    return 0;
}

/* ---- job traces */

typedef struct {
    const tp_job_trace_spec_t *spec;
    int64_t last;
    size_t cap;
    tp_job_trace_t *out;
} job_ctx_t;

static int job_row(void *ctx, rows_t *r)
{
    job_ctx_t *q = ctx;
    tp_job_trace_t *o = q->out;
    int64_t t, d;
    long long g;
    int rc;
    if ((rc = take_time(r, 0, q->spec->unit, &t)) < 0 ||
        (rc = take_int(r, 1, 1, 64, &g)) < 0 ||
        (rc = take_time(r, 2, q->spec->duration_unit, &d)) < 0 ||
        (rc = check_sorted(r, 0, t, &q->last)) < 0)
        return rc;
    if ((rc = room(r, (void **)&o->job, &q->cap, o->n, sizeof *o->job)) < 0)
        return rc;
    if (o->n == 0)
        o->epoch_us = t;
    tp_trace_job_t *j = &o->job[o->n];
    memset(j, 0, sizeof *j);
    j->t_us = t - o->epoch_us;
    j->dur_us = d;
    j->gpus = (int)g;
    j->line = r->line;
    for (int k = 3; k < 6; k++) {
        char *dst = k == 3 ? j->sensitivity : k == 4 ? j->tenant : j->model;
        const char *s = r->val[k];
        if (!s || !*s) /* not mapped, no such key, or an empty cell: absent */
            continue;
        bool ok = *s && strlen(s) < sizeof j->model;
        for (const char *c = s; ok && *c; c++)
            ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                 (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.';
        if (!ok)
            return tp_error_set(r->err, TP_EPARSE,
                                "%s:%d: column \"%s\" (%s): expected a name of 1..%zu of "
                                "[A-Za-z0-9._-], got \"%s\"",
                                r->name, r->line, r->col[k], r->roles[k],
                                sizeof j->model - 1, s);
        snprintf(dst, sizeof j->model, "%s", s);
    }
    o->n++;
    return 0;
}

int tp_sim_job_trace_parse(const char *name, const char *text, size_t len,
                           const tp_job_trace_spec_t *spec, tp_job_trace_t *out,
                           tp_error_t *err)
{
    static const char *const roles[] = {"submit",      "gpus",   "duration",
                                        "sensitivity", "tenant", "model"};
    rows_t r = {.name = name, .line = 1, .err = err, .nroles = 6, .roles = roles};
    const char *cols[] = {spec->submit,      spec->gpus,   spec->duration,
                          spec->sensitivity, spec->tenant, spec->model};
    for (int k = 0; k < 6; k++)
        r.col[k] = cols[k];
    job_ctx_t q = {spec, INT64_MIN, 0, out};
    memset(out, 0, sizeof *out);
    tp_error_clear(err);
    int rc = read_rows(&r, spec->format, text, len, job_row, &q);
    if (rc == 0 && out->n == 0)
        rc = tp_error_set(err, TP_EPARSE, "%s: no jobs in the trace", name);
    if (rc < 0) {
        tp_sim_job_trace_fini(out);
        return rc;
    }
    return 0;
}

int tp_sim_job_trace_load(const char *path, const tp_job_trace_spec_t *spec,
                          tp_job_trace_t *out, tp_error_t *err)
{
    char *text;
    size_t len;
    memset(out, 0, sizeof *out);
    int rc = tp_file_read(path, MAX_TRACE_BYTES, &text, &len, err);
    if (rc < 0)
        return rc;
    rc = tp_sim_job_trace_parse(path, text, len, spec, out, err);
    free(text);
    return rc;
}

void tp_sim_job_trace_fini(tp_job_trace_t *t)
{
    free(t->job);
    memset(t, 0, sizeof *t);
}

int tp_sim_request_trace_load(const char *path, const tp_req_trace_spec_t *spec,
                              tp_azure_trace_t *out, tp_error_t *err)
{
    char *text;
    size_t len;
    memset(out, 0, sizeof *out);
    int rc = tp_file_read(path, MAX_TRACE_BYTES, &text, &len, err);
    if (rc < 0)
        return rc;
    rc = tp_sim_request_trace_parse(path, text, len, spec, out, err);
    free(text);
    return rc;
}

int tp_sim_azure_parse(const char *name, const char *text, size_t len,
                       tp_azure_trace_t *out, tp_error_t *err)
{
    return tp_sim_request_trace_parse(name, text, len, &tp_azure_preset, out, err);
}

int tp_sim_azure_load(const char *path, tp_azure_trace_t *out, tp_error_t *err)
{
    return tp_sim_request_trace_load(path, &tp_azure_preset, out, err);
}

void tp_sim_azure_fini(tp_azure_trace_t *t)
{
    free(t->req);
    memset(t, 0, sizeof *t);
}
