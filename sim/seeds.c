/*
 * sim/seeds.c — replicas of a run over several seeds: the seed list ("1-10",
 * "1,4,9", or a scenario's "seeds") and the aggregate of per-seed KPIs: every
 * number becomes {"mean", "ci95", "n"}, the half-width of a two-sided 95%
 * Student-t confidence interval of the mean (0 with one value).
 */
#include "sim/sim_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* t(0.975, df) for df = 1..30; beyond, the normal 1.96 is within 2%. */
double sim_t975(int df)
{
    static const double t[] = {0,     12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365,
                               2.306, 2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
                               2.120, 2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069,
                               2.064, 2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
    if (df < 1)
        return 0;
    return df <= 30 ? t[df] : 1.96;
}

static int add_seed(uint64_t **s, int *n, unsigned long long v, tp_error_t *err)
{
    if (*n >= SIM_MAX_SEEDS)
        return tp_error_set(err, TP_EUSAGE, "seeds: more than %d", SIM_MAX_SEEDS);
    for (int i = 0; i < *n; i++)
        if ((*s)[i] == v)
            return tp_error_set(err, TP_EUSAGE, "seeds: %llu is listed twice", v);
    uint64_t *g = realloc(*s, (size_t)(*n + 1) * sizeof *g);
    if (!g)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    *s = g;
    (*s)[(*n)++] = v;
    return 0;
}

static int parse_u64(const char *p, char **end, unsigned long long *v)
{
    if (*p < '0' || *p > '9')
        return -1;
    errno = 0;
    *v = strtoull(p, end, 10);
    return errno ? -1 : 0;
}

int sim_seeds_parse(const char *spec, uint64_t **out, int *n, tp_error_t *err)
{
    *out = NULL;
    *n = 0;
    const char *p = spec;
    int rc = 0;
    while (rc == 0) {
        unsigned long long a, b;
        char *e;
        if (parse_u64(p, &e, &a) < 0) {
            rc = TP_EUSAGE;
            break;
        }
        b = a;
        if (*e == '-' &&
            (parse_u64(e + 1, &e, &b) < 0 || b < a || b - a >= SIM_MAX_SEEDS)) {
            rc = TP_EUSAGE;
            break;
        }
        for (unsigned long long v = a; v <= b && rc == 0; v++)
            rc = add_seed(out, n, v, err);
        if (rc < 0)
            break;
        if (*e == '\0')
            return 0;
        if (*e != ',') {
            rc = TP_EUSAGE;
            break;
        }
        p = e + 1;
    }
    free(*out);
    *out = NULL;
    *n = 0;
    if (rc == TP_EUSAGE)
        return tp_error_set(err, TP_EUSAGE,
                            "seeds \"%s\": expected N, A-B (A ≤ B) or a comma-separated "
                            "list of those (at most %d seeds)",
                            spec, SIM_MAX_SEEDS);
    return rc;
}

json_t *sim_aggregate(json_t *const *runs, int n)
{
    int nums = 0, objs = 0;
    for (int i = 0; i < n; i++) {
        nums += json_is_number(runs[i]);
        objs += json_is_object(runs[i]);
    }
    if (nums && nums == n) {
        double sum = 0, ss = 0;
        for (int i = 0; i < n; i++)
            sum += json_number_value(runs[i]);
        double mean = sum / n;
        for (int i = 0; i < n; i++) {
            double d = json_number_value(runs[i]) - mean;
            ss += d * d;
        }
        double ci = n > 1 ? sim_t975(n - 1) * sqrt(ss / (n - 1)) / sqrt(n) : 0;
        return json_pack("{s:f, s:f, s:i}", "mean", sim_r6(mean), "ci95", sim_r6(ci), "n",
                         n);
    }
    if (!objs)
        return NULL; /* strings, arrays, mixed: not a KPI */
    /* Objects: each key over the runs that have it, in first-seen order. */
    json_t *o = json_object(), **sub = calloc((size_t)n + 1, sizeof *sub);
    if (!o || !sub) {
        json_decref(o);
        free(sub);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const char *key;
        json_t *v;
        if (!json_is_object(runs[i]))
            continue;
        json_object_foreach (runs[i], key, v) {
            if (json_object_get(o, key))
                continue;
            int m = 0;
            for (int k = 0; k < n; k++) {
                json_t *x = json_object_get(runs[k], key);
                if (x)
                    sub[m++] = x;
            }
            json_t *a = sim_aggregate(sub, m);
            if (a)
                json_object_set_new(o, key, a);
        }
    }
    free(sub);
    return o;
}
