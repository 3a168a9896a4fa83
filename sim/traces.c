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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRACE_BYTES (1LL << 31)

/* A decimal integer in [lo, hi] filling the whole field. */
static int field_int(tp_csv_t *c, int i, const char *col, long long lo, long long hi,
                     long long *out, tp_error_t *err)
{
    const char *s = c->field[i];
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (!*s || *e || errno || v < lo || v > hi || *s == '+' || *s == ' ')
        return tp_error_set(err, TP_EPARSE,
                            "%s:%d: %s: expected an integer in %lld..%lld, got \"%s\"",
                            c->name, c->line, col, lo, hi, s);
    *out = v;
    return 0;
}

static int check_header(tp_csv_t *c, const char *want, tp_error_t *err)
{
    int rc = tp_csv_next(c, err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return tp_error_set(err, TP_EPARSE, "%s:1: empty file (expected the header %s)",
                            c->name, want);
    /* Rebuild the joined header to compare with the published one. */
    char joined[1024] = "";
    size_t used = 0;
    for (int i = 0; i < c->nfield; i++)
        used += (size_t)snprintf(joined + used, sizeof joined - used, "%s%s",
                                 i ? "," : "", c->field[i]);
    if (strcmp(joined, want) != 0)
        return tp_error_set(err, TP_EPARSE,
                            "%s:1: expected the header \"%s\", got \"%s\"", c->name, want,
                            joined);
    return 0;
}

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

int tp_sim_azure_parse(const char *name, const char *text, size_t len,
                       tp_azure_trace_t *out, tp_error_t *err)
{
    tp_csv_t c;
    tp_csv_init(&c, name, text, len);
    size_t cap = 1024;
    int rc;
    int64_t last = -1;
    memset(out, 0, sizeof *out);
    tp_error_clear(err);
    if ((rc = check_header(&c, "TIMESTAMP,ContextTokens,GeneratedTokens", err)) < 0)
        return rc;
    out->req = malloc(cap * sizeof *out->req);
    if (!out->req)
        return tp_error_set(err, TP_ENOMEM, "%s: out of memory", name);
    while ((rc = tp_csv_next(&c, err)) > 0) {
        long long ctx, gen;
        if (tp_csv_blank(&c) && tp_csv_at_end(&c))
            break; /* a trailing empty line */
        if (c.nfield != 3) {
            rc = tp_error_set(err, TP_EPARSE, "%s:%d: expected 3 fields, got %d", name,
                              c.line, c.nfield);
            break;
        }
        int64_t t = parse_timestamp(c.field[0]);
        if (t < 0) {
            rc = tp_error_set(
                err, TP_EPARSE,
                "%s:%d: TIMESTAMP: expected \"YYYY-MM-DD HH:MM:SS.fffffff\", "
                "got \"%s\"",
                name, c.line, c.field[0]);
            break;
        }
        if (last >= 0 && t < last) {
            rc = tp_error_set(err, TP_EPARSE,
                              "%s:%d: TIMESTAMP: \"%s\" is earlier than the row before "
                              "(the trace must be sorted)",
                              name, c.line, c.field[0]);
            break;
        }
        if ((rc = field_int(&c, 1, "ContextTokens", 0, 10000000, &ctx, err)) < 0 ||
            (rc = field_int(&c, 2, "GeneratedTokens", 0, 10000000, &gen, err)) < 0)
            break;
        if (out->n == cap) {
            tp_azure_req_t *g = realloc(out->req, 2 * cap * sizeof *g);
            if (!g) {
                rc = tp_error_set(err, TP_ENOMEM, "%s: out of memory", name);
                break;
            }
            out->req = g;
            cap *= 2;
        }
        if (last < 0)
            out->epoch_us = t;
        last = t;
        out->req[out->n++] =
            (tp_azure_req_t){t - out->epoch_us, (int32_t)ctx, (int32_t)gen};
    }
    if (rc == 0 && out->n == 0)
        rc = tp_error_set(err, TP_EPARSE, "%s:2: no requests after the header", name);
    if (rc < 0) {
        tp_sim_azure_fini(out);
        return rc;
    }
    return 0;
}

int tp_sim_azure_load(const char *path, tp_azure_trace_t *out, tp_error_t *err)
{
    char *text;
    size_t len;
    memset(out, 0, sizeof *out);
    int rc = tp_file_read(path, MAX_TRACE_BYTES, &text, &len, err);
    if (rc < 0)
        return rc;
    rc = tp_sim_azure_parse(path, text, len, out, err);
    free(text);
    return rc;
}

void tp_sim_azure_fini(tp_azure_trace_t *t)
{
    free(t->req);
    memset(t, 0, sizeof *t);
}
