/*
 * tests/unit/test_kpi.c — scheduler/kpi.c on a fixed history with a fixed
 * `now`: GPU-hour windows and TEE shares computed by hand, a move (new
 * placement, then the preemption on the old node) that must not end the span,
 * rows offered twice, and a release.
 */
#include "scheduler/kpi.h"
#include "tests/unit/tp_test.h"

#include <stdlib.h>
#include <string.h>

static const char FLEET[] =
    "{\"version\":1,\"regions\":{\"r\":{\"countries\":[\"DE\"]}},"
    "\"power_domains\":[{\"id\":\"d\",\"cap_w\":50000}],"
    "\"nodes\":[{\"id\":\"t1\",\"power_domain\":\"d\",\"region\":\"r\",\"gpu_model\":"
    "\"H\","
    "\"gpus\":8,\"cpu_tee\":\"tdx\",\"cap_w\":10000,\"idle_w\":1000,\"gpu_w\":700},"
    "{\"id\":\"p1\",\"power_domain\":\"d\",\"region\":\"r\",\"gpu_model\":\"H\",\"gpus\":"
    "8,"
    "\"cap_w\":10000,\"idle_w\":1000,\"gpu_w\":700}],"
    "\"policy\":{\"classes\":{\"public\":{},\"confidential\":{\"cpu_tee\":[\"tdx\"]}}}}";

#define NOW 1000000
#define TEE_FACTS                                                                        \
    "{\"attestation\":{\"status\":\"affirming\",\"cpu_tee\":\"tdx\",\"expires_at\":"     \
    "2000000}}"
#define PLAIN_FACTS                                                                      \
    "{\"attestation\":{\"status\":\"affirming\",\"cpu_tee\":\"none\",\"expires_at\":"    \
    "2000000}}"

static void row(tp_kpi_hist_t *h, int64_t seq, int64_t at, const char *fmt,
                const char *wl, const char *node, const char *sens, int gpus,
                const char *facts)
{
    char b[512];
    snprintf(b, sizeof b, fmt, wl, node, sens, gpus, facts);
    TP_CHECK_EQ_INT(tp_kpi_hist_add(h, seq, at, b), 0);
}

#define DECISION                                                                         \
    "{\"kind\":\"decision\",\"state\":\"running\",\"workload\":\"%s\",\"node\":\"%s\","  \
    "\"spec\":{\"sensitivity\":\"%s\"},\"gpus\":%d,\"facts\":%s}"
#define PREEMPT                                                                          \
    "{\"kind\":\"preemption\",\"workload\":\"%s\",\"node\":\"%s\",\"why\":\"%s%d\","     \
    "\"x\":%s}"
#define RELEASE                                                                          \
    "{\"kind\":\"release\",\"workload\":\"%s\",\"node\":\"%s\",\"s\":\"%s\",\"g\":%d,"   \
    "\"x\":%s}"

/* The number at doc.a.b[.c[.d]] (NULL ends the path). */
static double num(json_t *doc, const char *a, const char *b, const char *c, const char *d)
{
    const char *path[] = {a, b, c, d};
    for (int i = 0; i < 4 && path[i]; i++)
        doc = json_object_get(doc, path[i]);
    return json_number_value(doc);
}

/* The fleet above, an empty observed state and running set, an empty history
 * and KPI input at NOW. */
typedef struct {
    tp_fleet_t *f;
    tp_state_t *st;
    tp_workloads_t *run;
    tp_kpi_hist_t *h;
    json_t *none;
    tp_kpi_in_t in;
} fx_t;

static int fx_new(fx_t *x)
{
    tp_error_t err = {0};
    memset(x, 0, sizeof *x);
    if (tp_fleet_load_buffer("fleet.json", FLEET, strlen(FLEET), &x->f, &err) < 0)
        return -1;
    x->st = tp_state_new_empty(x->f);
    x->run = tp_workloads_new_empty();
    x->h = tp_kpi_hist_new();
    x->none = json_array();
    x->in = (tp_kpi_in_t){.fleet = x->f,
                          .state = x->st,
                          .running = x->run,
                          .pending = x->none,
                          .preemptions = x->none,
                          .hist = x->h,
                          .now = NOW};
    return x->st && x->run && x->h && x->none ? 0 : -1;
}

static void fx_free(fx_t *x)
{
    json_decref(x->none);
    tp_kpi_hist_free(x->h);
    tp_workloads_free(x->run);
    tp_state_free(x->st);
    tp_fleet_free(x->f);
}

TP_TEST(kpi_windows_from_a_fixed_history)
{
    fx_t x;
    TP_ASSERT(fx_new(&x) == 0);
    tp_kpi_hist_t *h = x.h;
    /* c1: confidential, 4 GPUs on the TEE node t1 since NOW-2h (still running)
     * p1: public, 2 GPUs on plain node p1 from NOW-30h to NOW-1800s (released)
     * m1: public, 1 GPU, on p1 from NOW-3h, moved to t1 at NOW-1h (still running):
     *     the move journals the new decision, then the preemption on p1 */
    row(h, 1, NOW - 30 * 3600, DECISION, "p1", "p1", "public", 2, PLAIN_FACTS);
    row(h, 2, NOW - 3 * 3600, DECISION, "m1", "p1", "public", 1, PLAIN_FACTS);
    row(h, 3, NOW - 2 * 3600, DECISION, "c1", "t1", "confidential", 4, TEE_FACTS);
    row(h, 4, NOW - 3600, DECISION, "m1", "t1", "public", 1, TEE_FACTS);
    row(h, 5, NOW - 3600, PREEMPT, "m1", "p1", "power_domain:d", 0, "0");
    row(h, 3, NOW - 2 * 3600, DECISION, "c1", "t1", "confidential", 99,
        TEE_FACTS); /* again */
    row(h, 6, NOW - 1800, RELEASE, "p1", "p1", "x", 0, "0");
    json_t *k = tp_kpi_compute(&x.in);
    TP_ASSERT(k);
    json_t *win = json_object_get(json_object_get(k, "tee_share"), "windows");
    /* 1 h: c1 4×1 = 4 (TEE); m1 on t1 1×1 = 1 (TEE); p1 2×0.5 = 1 → 6 GPU-h, 5 on TEE */
    TP_CHECK_EQ_DBL(num(win, "1h", "gpu_hours", NULL, NULL), 6.0, 1e-9);
    TP_CHECK_EQ_DBL(num(win, "1h", "tee_gpu_hours", NULL, NULL), 5.0, 1e-9);
    TP_CHECK_EQ_DBL(num(win, "1h", "share", NULL, NULL), 5.0 / 6.0, 1e-9);
    TP_CHECK_EQ_DBL(num(win, "1h", "sensitive_share", NULL, NULL), 1.0, 1e-9);
    /* 24 h: c1 4×2 = 8 (TEE); m1 1×2 on p1 + 1×1 on t1 (TEE); p1 2×23.5 = 47
     * → 58 GPU-h, 9 on TEE */
    TP_CHECK_EQ_DBL(num(win, "24h", "gpu_hours", NULL, NULL), 58.0, 1e-9);
    TP_CHECK_EQ_DBL(num(win, "24h", "tee_gpu_hours", NULL, NULL), 9.0, 1e-9);
    TP_CHECK_EQ_DBL(num(win, "24h", "by_sensitivity", "public", "gpu_hours"), 50.0, 1e-9);
    TP_CHECK_EQ_DBL(num(win, "24h", "by_sensitivity", "public", "share"), 1.0 / 50.0,
                    1e-9);
    /* 7 d: p1 ran 29.5 h → 59; c1 8; m1 3 → 70 GPU-h, 9 on TEE */
    TP_CHECK_EQ_DBL(num(win, "7d", "gpu_hours", NULL, NULL), 70.0, 1e-9);
    TP_CHECK_EQ_DBL(num(win, "7d", "tee_gpu_hours", NULL, NULL), 9.0, 1e-9);
    /* the last point of the 24 h series (now): c1 4 + m1 1 GPUs, all on TEEs */
    json_t *ser = json_object_get(json_object_get(k, "tee_share"), "series_24h");
    TP_CHECK_EQ_INT(json_array_size(ser), 24);
    json_t *last = json_array_get(ser, 23);
    TP_CHECK_EQ_DBL(json_number_value(json_object_get(last, "gpus")), 5.0, 1e-9);
    TP_CHECK_EQ_DBL(json_number_value(json_object_get(last, "share")), 1.0, 1e-9);
    /* 2 h ago (point 21): c1 4 (TEE, placed exactly then), m1 1 on p1, p1 2 → 4/7 */
    json_t *p21 = json_array_get(ser, 21);
    TP_CHECK_EQ_DBL(json_number_value(json_object_get(p21, "gpus")), 7.0, 1e-9);
    TP_CHECK_EQ_DBL(json_number_value(json_object_get(p21, "share")), 4.0 / 7.0, 1e-9);
    /* nothing runs now in the model given: shares of the present are null */
    TP_CHECK(json_is_null(json_object_get(
        json_object_get(json_object_get(k, "tee_share"), "now"), "share")));
    json_decref(k);
    fx_free(&x);
}

TP_TEST(kpi_history_prunes_old_spans_without_losing_open_ones)
{
    fx_t x;
    TP_ASSERT(fx_new(&x) == 0);
    tp_kpi_hist_t *h = x.h;
    /* c1 opened 30 days ago and still running; 2500 short jobs a month ago;
     * 2100 zero-length jobs two days ago (their rows trigger a prune that drops
     * the month-old spans); then 3 one-hour jobs of 2 GPUs in the last day */
    int64_t seq = 1, t0 = NOW - 30 * 86400;
    row(h, seq++, t0, DECISION, "c1", "t1", "confidential", 1, TEE_FACTS);
    for (int i = 0; i < 2500; i++) {
        char id[32];
        snprintf(id, sizeof id, "old%d", i);
        row(h, seq++, t0 + 10 * i, DECISION, id, "p1", "public", 8, PLAIN_FACTS);
        row(h, seq++, t0 + 10 * i + 5, RELEASE, id, "p1", "x", 0, "0");
    }
    TP_CHECK_EQ_INT(tp_kpi_hist_spans(h), 2501);
    for (int i = 0; i < 2100; i++) {
        char id[32];
        snprintf(id, sizeof id, "mid%d", i);
        row(h, seq++, NOW - 2 * 86400, DECISION, id, "p1", "public", 8, PLAIN_FACTS);
        row(h, seq++, NOW - 2 * 86400, RELEASE, id, "p1", "x", 0, "0");
    }
    /* the prune at row 8192 kept c1 and the mid spans seen by then */
    TP_CHECK(tp_kpi_hist_spans(h) <= 1 + 2100);
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "new%d", i);
        row(h, seq++, NOW - 20 * 3600 + i * 3600, DECISION, id, "p1", "public", 2,
            PLAIN_FACTS);
        row(h, seq++, NOW - 19 * 3600 + i * 3600, RELEASE, id, "p1", "x", 0, "0");
    }
    json_t *k = tp_kpi_compute(&x.in);
    json_t *win = json_object_get(json_object_get(k, "tee_share"), "windows");
    /* 7 d: c1 1×168 h (TEE) + 3×2×1 h = 174 GPU-h, 168 on TEE */
    TP_CHECK_EQ_DBL(num(win, "7d", "gpu_hours", NULL, NULL), 174.0, 1e-9);
    TP_CHECK_EQ_DBL(num(win, "7d", "tee_gpu_hours", NULL, NULL), 168.0, 1e-9);
    TP_CHECK_EQ_DBL(num(win, "24h", "gpu_hours", NULL, NULL), 24.0 + 6.0, 1e-9);
    json_decref(k);
    /* c1's span survived the prune and still closes on its release */
    row(h, seq++, NOW - 3600, RELEASE, "c1", "t1", "x", 0, "0");
    k = tp_kpi_compute(&x.in);
    win = json_object_get(json_object_get(k, "tee_share"), "windows");
    TP_CHECK_EQ_DBL(num(win, "7d", "tee_gpu_hours", NULL, NULL), 167.0, 1e-9);
    json_decref(k);
    fx_free(&x);
}
