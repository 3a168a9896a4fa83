/*
 * scheduler/k8s.c — the Kubernetes scheduler-extender logic (see k8s.h).
 * Interface first; the implementation follows in the next commits.
 */
#include "scheduler/k8s.h"

#include <stdlib.h>
#include <string.h>

struct tp_k8s {
    tp_k8s_options_t opt;
};

tp_k8s_t *tp_k8s_new(const tp_k8s_options_t *opt)
{
    tp_k8s_t *k = calloc(1, sizeof *k);
    if (k && opt)
        k->opt = *opt;
    if (k)
        k->opt.default_sensitivity = NULL;
    return k;
}

void tp_k8s_free(tp_k8s_t *k)
{
    free(k);
}

int tp_k8s_cached(const tp_k8s_t *k)
{
    (void)k;
    return 0;
}

int tp_k8s_pod_workload(const tp_k8s_t *k, const tp_fleet_t *f, const json_t *pod,
                        const char *path, tp_workload_t *w_out, tp_error_t *err)
{
    (void)k, (void)f, (void)pod;
    memset(w_out, 0, sizeof *w_out);
    return tp_error_set(err, TP_EUNSUPPORTED, "%s: not implemented yet", path);
}

void tp_k8s_workload_clear(tp_workload_t *w)
{
    free(w->id);
    free(w->tenant);
    free(w->model_name);
    free(w->gpu_models);
    free(w->residency);
    memset(w, 0, sizeof *w);
}

json_t *tp_k8s_filter(tp_k8s_t *k, const tp_k8s_view_t *v, const json_t *args,
                      int *http_status, tp_error_t *err)
{
    (void)k, (void)v, (void)args;
    *http_status = 400;
    tp_error_set(err, TP_EUNSUPPORTED, "filter: not implemented yet");
    return json_pack("{s:n,s:n,s:n,s:n,s:s}", "Nodes", "NodeNames", "FailedNodes",
                     "FailedAndUnresolvableNodes", "Error", "not implemented yet");
}

json_t *tp_k8s_prioritize(tp_k8s_t *k, const tp_k8s_view_t *v, const json_t *args,
                          int *http_status, tp_error_t *err)
{
    (void)k, (void)v, (void)args;
    *http_status = 400;
    tp_error_set(err, TP_EUNSUPPORTED, "prioritize: not implemented yet");
    return NULL;
}

int tp_k8s_bind_lookup(tp_k8s_t *k, const tp_fleet_t *f, int64_t now, const json_t *args,
                       tp_workload_t *w_out, int *node_out, tp_error_t *err)
{
    (void)k, (void)f, (void)now, (void)args;
    memset(w_out, 0, sizeof *w_out);
    *node_out = -1;
    return tp_error_set(err, TP_EUNSUPPORTED, "bind: not implemented yet");
}

int tp_k8s_forget(tp_k8s_t *k, const char *pod_uid)
{
    (void)k, (void)pod_uid;
    return TP_ENOENT;
}

json_t *tp_k8s_bind_result(const char *error_or_null)
{
    return json_pack("{s:s}", "Error", error_or_null ? error_or_null : "");
}
