/*
 * tests/unit/test_metrics.c — scheduler/metrics.c: label escaping, cumulative
 * histogram buckets, series per (route, method, code), the OpenMetrics form,
 * and KPI gauges read from a KPI document (NaN for a null share).
 */
#include "scheduler/metrics.h"
#include "tests/unit/tp_test.h"

#include <stdlib.h>
#include <string.h>

TP_TEST(metrics_escape_label_values)
{
    char *e = tp_metrics_escape("a\"b\\c\nd");
    TP_CHECK_STR(e, "a\\\"b\\\\c\\nd");
    free(e);
}

TP_TEST(metrics_histograms_and_formats)
{
    tp_metrics_t *m = tp_metrics_new();
    TP_ASSERT(m);
    tp_metrics_request(m, "/v1/kpis", "GET", 200, 0.0004);
    tp_metrics_request(m, "/v1/kpis", "GET", 200, 0.003);
    tp_metrics_request(m, "/v1/kpis", "GET", 200, 20);
    tp_metrics_request(m, "/x\"y", "POST", 404, 0.01);
    tp_metrics_observe(m, TP_M_SOLVE, 0.2);
    tp_metrics_observe(m, TP_M_PH_QUEUE, 0.004);
    tp_metrics_observe(m, TP_M_PH_QUEUE, 0.04);
    tp_metrics_observe(m, TP_M_PH_TOTAL, 0.05);
    tp_metrics_count(m, TP_M_AUDIT_RECORDS, 3);
    json_t *k =
        json_pack("{s:{s:{s:n,s:{s:f}}},s:{s:[{s:s,s:f,s:f,s:f}]}}", "tee_share", "now",
                  "share", "sensitive", "share", 1.0, "power", "domains", "domain",
                  "rack \"a\"", "draw_w", 100.0, "cap_w", 300.0, "headroom_w", 200.0);
    tp_metrics_extra_t x = {.kpis = k, .requests = 4, .running = 2};
    char *t = NULL;
    size_t len = 0;
    TP_ASSERT(tp_metrics_render(m, &x, false, &t, &len) == 0);
    TP_CHECK_EQ_INT(strlen(t), len);
    const char *base =
        "trustplace_http_request_duration_seconds_bucket{route=\"/v1/kpis\","
        "method=\"GET\",code=\"200\",le=";
    char want[256];
    snprintf(want, sizeof want, "%s\"0.0005\"} 1\n", base);
    TP_CHECK_CONTAINS(t, want);
    snprintf(want, sizeof want, "%s\"0.005\"} 2\n", base); /* cumulative */
    TP_CHECK_CONTAINS(t, want);
    snprintf(want, sizeof want, "%s\"10\"} 2\n", base);
    TP_CHECK_CONTAINS(t, want);
    snprintf(want, sizeof want, "%s\"+Inf\"} 3\n", base);
    TP_CHECK_CONTAINS(t, want);
    TP_CHECK_CONTAINS(t, "route=\"/v1/kpis\",method=\"GET\",code=\"200\"} 3\n");
    TP_CHECK_CONTAINS(t, "route=\"/x\\\"y\",method=\"POST\",code=\"404\"");
    TP_CHECK_CONTAINS(t, "trustplace_solver_duration_seconds_count 1\n");
    TP_CHECK_CONTAINS(t, "trustplace_audit_records_total 3\n");
    TP_CHECK_CONTAINS(t, "# TYPE trustplace_audit_records_total counter\n");
    /* where placement requests' time went, one series per phase */
    TP_CHECK_CONTAINS(t, "trustplace_placement_phase_seconds_bucket{phase=\"queue\","
                         "le=\"0.005\"} 1\n");
    TP_CHECK_CONTAINS(t, "trustplace_placement_phase_seconds_count{phase=\"queue\"} 2\n");
    TP_CHECK_CONTAINS(t, "trustplace_placement_phase_seconds_bucket{phase=\"total\","
                         "le=\"0.075\"} 1\n");
    TP_CHECK_CONTAINS(t, "trustplace_placement_phase_seconds_count{phase=\"audit\"} 0\n");
    TP_CHECK_CONTAINS(t,
                      "trustplace_placement_phase_seconds_count{phase=\"respond\"} 0\n");
    TP_CHECK_CONTAINS(t, "trustplace_tee_share_ratio NaN\n");
    TP_CHECK_CONTAINS(t, "trustplace_sensitive_tee_share_ratio 1\n");
    TP_CHECK_CONTAINS(
        t, "trustplace_power_domain_headroom_watts{domain=\"rack \\\"a\\\"\"} 200\n");
    TP_CHECK(!strstr(t, "# EOF"));
    free(t);
    TP_ASSERT(tp_metrics_render(m, &x, true, &t, &len) == 0);
    TP_CHECK_CONTAINS(t, "# TYPE trustplace_audit_records counter\n");
    TP_CHECK_CONTAINS(t, "trustplace_audit_records_total 3\n");
    TP_CHECK(len > 6 && !strcmp(t + len - 6, "# EOF\n"));
    free(t);
    json_decref(k);
    tp_metrics_free(m);
}
