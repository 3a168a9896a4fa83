/* cli/inputs.c — loading the common inputs and small output helpers. */
#include "cli/inputs.h"
#include "util/file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

long long tp_parse_count(const char *s)
{
    char *end;
    long long v;
    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    return errno || *end ? -1 : v;
}

int tp_inputs_option(tp_inputs_t *in, int c, const char *arg)
{
    switch (c) {
    case 'c':
        in->config = arg;
        return 1;
    case 's':
        in->state_path = arg;
        return 1;
    case 'w':
        in->workloads_path = arg;
        return 1;
    case 'r':
        in->running_path = arg;
        return 1;
    case 'n':
        in->now_arg = arg;
        return 1;
    }
    return 0;
}

int tp_inputs_load(tp_inputs_t *in)
{
    tp_error_t err;
    int rc;
    if ((rc = tp_fleet_load(in->config, &in->fleet, &err)) < 0)
        goto fail;
    if (in->state_path) {
        if ((rc = tp_state_load(in->state_path, in->fleet, &in->state, &err)) < 0)
            goto fail;
    } else if (!(in->state = tp_state_new_empty(in->fleet))) {
        rc = tp_error_set(&err, TP_ENOMEM, "out of memory");
        goto fail;
    }
    if (in->workloads_path)
        rc = tp_workloads_load(in->workloads_path, in->fleet, TP_WL_PENDING, &in->pending,
                               &err);
    else
        rc = (in->pending = tp_workloads_new_empty()) ? 0 : TP_ENOMEM;
    if (rc < 0)
        goto fail;
    if (in->running_path)
        rc = tp_workloads_load(in->running_path, in->fleet, TP_WL_RUNNING, &in->running,
                               &err);
    else
        rc = (in->running = tp_workloads_new_empty()) ? 0 : TP_ENOMEM;
    if (rc < 0 || (rc = tp_workloads_check_disjoint(in->pending, in->running, &err)) < 0)
        goto fail;
    if (in->now_arg) {
        long long t = tp_parse_count(in->now_arg);
        if (t < 0 || t > (1LL << 40)) {
            rc = tp_error_set(&err, TP_EUSAGE, "--now: expected Unix seconds, got \"%s\"",
                              in->now_arg);
            goto fail;
        }
        in->now = t;
    } else {
        in->now = in->state->observed_at ? in->state->observed_at : (int64_t)time(NULL);
    }
    return 0;
fail:
    fprintf(stderr, "trustplace: %s\n",
            err.code == TP_ENOMEM && !err.text[0] ? "out of memory" : err.text);
    tp_inputs_fini(in);
    return rc < 0 ? rc : TP_EINVAL;
}

void tp_inputs_fini(tp_inputs_t *in)
{
    tp_fleet_free(in->fleet);
    tp_state_free(in->state);
    tp_workloads_free(in->pending);
    tp_workloads_free(in->running);
    in->fleet = NULL;
    in->state = NULL;
    in->pending = in->running = NULL;
}

const char *tp_fmt_int(char *buf, long long v)
{
    char tmp[32];
    int len, j = 0;
    unsigned long long u = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
    len = snprintf(tmp, sizeof tmp, "%llu", u);
    if (v < 0)
        buf[j++] = '-';
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[j++] = ',';
        buf[j++] = tmp[i];
    }
    buf[j] = '\0';
    return buf;
}

/* The temporaries of the outputs now open (a command writes one or two). */
static struct {
    FILE *f;
    char *tmp;
} outs[4];

FILE *tp_out_open(const char *path)
{
    tp_error_t err = {0};
    char *tmp;
    FILE *f;
    size_t i = 0;
    if (!path || !strcmp(path, "-"))
        return stdout;
    while (i < sizeof outs / sizeof outs[0] && outs[i].f)
        i++;
    if (i == sizeof outs / sizeof outs[0]) {
        fprintf(stderr, "trustplace: %s: too many outputs open\n", path);
        return NULL;
    }
    if (!(f = tp_file_replace_open(path, &tmp, &err))) {
        fprintf(stderr, "trustplace: %s\n", err.text);
        return NULL;
    }
    outs[i].f = f;
    outs[i].tmp = tmp;
    return f;
}

int tp_out_close(FILE *f, const char *path)
{
    tp_error_t err = {0};
    char *tmp = NULL;
    if (f == stdout)
        return fflush(stdout) == 0 && !ferror(stdout) ? 0 : TP_EIO;
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++)
        if (outs[i].f == f) {
            tmp = outs[i].tmp;
            outs[i].f = NULL;
            outs[i].tmp = NULL;
        }
    if (!tmp) { /* not ours: close it, report nothing written */
        fclose(f);
        return TP_EIO;
    }
    if (tp_file_replace_close(f, tmp, path, true, &err) < 0) {
        fprintf(stderr, "trustplace: cannot write %s\n", err.text);
        return TP_EIO;
    }
    return 0;
}
