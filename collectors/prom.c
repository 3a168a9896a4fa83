/*
 * collectors/prom.c — a careful line parser for NVIDIA dcgm-exporter's
 * Prometheus text exposition (format 0.0.4): per GPU power, utilisation and
 * framebuffer. Lines that are not well formed are counted and skipped, never
 * guessed at; label values may carry the escapes \\ \" \n. Both the Hostname
 * label of released dcgm-exporter and the hostname label of its main branch are
 * accepted.
 */
#include "collectors/collectors.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 8192
#define MAX_LABELS 32

typedef struct {
    char name[64];
    char value[256];
} label_t;

typedef struct {
    char name[128];
    label_t labels[MAX_LABELS];
    int nlabels;
    double value;
} sample_t;

static bool name_start(int c)
{
    return isalpha(c) || c == '_' || c == ':';
}

static bool name_char(int c)
{
    return isalnum(c) || c == '_' || c == ':';
}

/* Parses one sample line [p, end); 0 or -1. */
static int parse_sample(const char *p, const char *end, sample_t *s)
{
    size_t n = 0;
    char num[64];
    char *ep;
    s->nlabels = 0;
    if (p >= end || !name_start((unsigned char)*p))
        return -1;
    while (p < end && name_char((unsigned char)*p)) {
        if (n + 1 >= sizeof s->name)
            return -1;
        s->name[n++] = *p++;
    }
    s->name[n] = '\0';
    if (p < end && *p == '{') {
        p++;
        for (;;) {
            label_t *l;
            size_t ln = 0, vn = 0;
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            if (p < end && *p == '}') {
                p++;
                break;
            }
            if (s->nlabels >= MAX_LABELS || p >= end || !name_start((unsigned char)*p))
                return -1;
            l = &s->labels[s->nlabels++];
            while (p < end && name_char((unsigned char)*p)) {
                if (ln + 1 >= sizeof l->name)
                    return -1;
                l->name[ln++] = *p++;
            }
            l->name[ln] = '\0';
            if (p + 1 >= end || p[0] != '=' || p[1] != '"')
                return -1;
            p += 2;
            while (p < end && *p != '"') {
                char c = *p++;
                if (c == '\\') {
                    if (p >= end)
                        return -1;
                    c = *p++;
                    if (c == 'n')
                        c = '\n';
                    else if (c != '\\' && c != '"')
                        return -1;
                }
                if (vn + 1 >= sizeof l->value)
                    return -1;
                l->value[vn++] = c;
            }
            if (p >= end)
                return -1;
            l->value[vn] = '\0';
            p++; /* closing quote */
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == '}') {
                p++;
                break;
            }
            return -1;
        }
    }
    if (p >= end || (*p != ' ' && *p != '\t'))
        return -1;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    n = 0;
    while (p < end && *p != ' ' && *p != '\t') {
        if (n + 1 >= sizeof num)
            return -1;
        num[n++] = *p++;
    }
    num[n] = '\0';
    if (n == 0)
        return -1;
    errno = 0;
    s->value = strtod(num, &ep);
    if (*ep != '\0' || errno == ERANGE)
        return -1;
    /* An optional integer timestamp, then nothing. */
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p < end && *p == '-')
        p++;
    while (p < end && isdigit((unsigned char)*p))
        p++;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
        p++;
    return p == end ? 0 : -1;
}

static const char *label(const sample_t *s, const char *name)
{
    for (int i = 0; i < s->nlabels; i++)
        if (!strcmp(s->labels[i].name, name))
            return s->labels[i].value;
    return NULL;
}

static tp_dcgm_gpu_t *gpu_slot(tp_dcgm_t *d, int idx)
{
    tp_dcgm_gpu_t *g;
    int i;
    for (i = 0; i < d->ngpus; i++)
        if (d->gpus[i].gpu == idx)
            return &d->gpus[i];
    if (d->ngpus >= TP_DCGM_MAX_GPUS)
        return NULL;
    /* Keep ordered by index. */
    for (i = d->ngpus; i > 0 && d->gpus[i - 1].gpu > idx; i--)
        d->gpus[i] = d->gpus[i - 1];
    g = &d->gpus[i];
    memset(g, 0, sizeof *g);
    g->gpu = idx;
    g->power_w = g->util_pct = g->fb_free_mib = g->fb_used_mib = NAN;
    d->ngpus++;
    return g;
}

static void take(const sample_t *s, tp_dcgm_t *d)
{
    static const char *const names[] = {"DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_UTIL",
                                        "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_USED"};
    const char *gl = label(s, "gpu"), *host, *uuid, *model;
    tp_dcgm_gpu_t *g;
    char *ep;
    long idx;
    int which = -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(s->name, names[i]))
            which = i;
    if (which < 0 || !gl || !isfinite(s->value) || s->value < 0)
        return;
    errno = 0;
    idx = strtol(gl, &ep, 10);
    if (!gl[0] || *ep || errno || idx < 0 || idx > 1023)
        return;
    g = gpu_slot(d, (int)idx);
    if (!g)
        return;
    d->samples++;
    if ((host = label(s, "Hostname")) || (host = label(s, "hostname")))
        snprintf(d->hostname, sizeof d->hostname, "%s", host);
    if ((uuid = label(s, "UUID")))
        snprintf(g->uuid, sizeof g->uuid, "%s", uuid);
    if ((model = label(s, "modelName")))
        snprintf(g->model, sizeof g->model, "%s", model);
    switch (which) {
    case 0:
        g->power_w = s->value;
        break;
    case 1:
        g->util_pct = s->value;
        break;
    case 2:
        g->fb_free_mib = s->value;
        break;
    default:
        g->fb_used_mib = s->value;
        break;
    }
}

int tp_dcgm_parse(const char *text, size_t len, tp_dcgm_t *out, tp_error_t *err)
{
    const char *p = text, *end = text + len;
    sample_t *s = malloc(sizeof *s);
    bool nonblank = false;
    memset(out, 0, sizeof *out);
    out->gpus = calloc(TP_DCGM_MAX_GPUS, sizeof *out->gpus);
    if (!s || !out->gpus) {
        free(s);
        tp_dcgm_fini(out);
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end, *q = p;
        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        if (q < le && *q != '#' && !(le - q == 1 && *q == '\r')) {
            nonblank = true;
            if (le - q > MAX_LINE || memchr(q, '\0', (size_t)(le - q)) ||
                parse_sample(q, le, s) < 0)
                out->bad_lines++;
            else
                take(s, out);
        }
        p = nl ? nl + 1 : end;
    }
    free(s);
    if (nonblank && out->samples == 0 && out->bad_lines > 0) {
        int bad = out->bad_lines;
        tp_dcgm_fini(out);
        return tp_error_set(err, TP_EINVAL,
                            "no usable dcgm-exporter samples (%d bad lines)", bad);
    }
    return 0;
}

void tp_dcgm_fini(tp_dcgm_t *d)
{
    if (!d)
        return;
    free(d->gpus);
    memset(d, 0, sizeof *d);
}
