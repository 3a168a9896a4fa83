/*
 * scheduler/k8s.h — the Kubernetes scheduler-extender protocol
 * (k8s.io/kube-scheduler/extender/v1) over jansson values: turns a pod into a
 * trustplace workload, answers filter and prioritize from policy/'s predicates,
 * and maps a bind call back to the pod its filter call saw. Pure: no HTTP, no
 * sockets, no clock, no logging; the server (scheduler/) owns those.
 *
 * Wire shapes (docs/k8s.md; ../shared/fixtures/k8s-extender/): ExtenderArgs
 * {"Pod": v1.Pod, "Nodes": v1.NodeList|null, "NodeNames": [string]|null} with
 * PascalCase keys; a Kubernetes node name must equal a fleet node id. Eligibility
 * is policy/policy.h's (tp_policy_static / tp_policy_capacity) — never
 * re-implemented here.
 *
 * Pod → workload (docs/k8s.md § "Labels and annotations"): each key may be a
 * label or an annotation (both set and different: an error):
 *   trustplace.io/sensitivity  a class of the fleet's policy.classes (required,
 *                              unless tp_k8s_options_t.default_sensitivity)
 *   trustplace.io/tenant       tenant id (default: the pod's namespace)
 *   trustplace.io/model        AI model (selects the efficiency profile)
 *   trustplace.io/gpu-models   comma-separated allowed GPU models
 *   trustplace.io/residency    comma-separated allowed regions (fleet region ids)
 *   trustplace.io/priority     0..100 (default 0)
 *   trustplace.io/preemptible  "true" | "false" (default true)
 * Any other trustplace.io/ key is an error (a typo must not weaken a policy).
 * GPUs: the nvidia.com/gpu request (else limit) summed over spec.containers,
 * raised to the largest single initContainer's; 1..64. Workload id:
 * "<namespace>.<name>" (the pod's UID when that exceeds 128 bytes).
 *
 * A tp_k8s_t remembers the pods its filter calls parsed (by UID, bounded, least
 * recently used evicted, entries older than a TTL ignored) so that bind can find
 * them. It is not thread-safe: call it from one thread (the server's loop) or
 * under a lock. Every function accepts any JSON value (wrong types, missing
 * members, huge lists) and answers with a precise error, never a crash.
 */
#ifndef TP_SCHEDULER_K8S_H
#define TP_SCHEDULER_K8S_H

#include "model/model.h"
#include "policy/policy.h"
#include "util/error.h"

#include <jansson.h>
#include <stdint.h>

/* What the extender decides against; all borrowed for the duration of a call. */
typedef struct {
    const tp_fleet_t *fleet;
    const tp_state_t *state;
    const tp_load_t *load; /* running work (and what the server placed) */
    int64_t now;           /* Unix seconds: attestation ages and the cache TTL */
} tp_k8s_view_t;

typedef struct {
    /* Class for pods without trustplace.io/sensitivity; NULL (the default):
     * such pods are refused with an Error — fail closed. Copied. */
    const char *default_sensitivity;
    int cache_size;      /* pods remembered between filter and bind; 0: 4096 */
    int64_t cache_ttl_s; /* how long a filtered pod stays bindable; 0: 900 */
    int max_nodes;       /* longest node list accepted (400 beyond); 0: 20000 */
} tp_k8s_options_t;

typedef struct tp_k8s tp_k8s_t;

/* opt may be NULL (all defaults). NULL on ENOMEM. Free with tp_k8s_free(). */
tp_k8s_t *tp_k8s_new(const tp_k8s_options_t *opt);
void tp_k8s_free(tp_k8s_t *k); /* accepts NULL */
/* Pods currently remembered (for tests and /metrics). */
int tp_k8s_cached(const tp_k8s_t *k);

/* The workload a pod (a v1.Pod JSON object) asks for, against fleet f. path
 * names pod in messages (e.g. "$.Pod"). On success *w_out is filled with fields
 * malloc'd exactly as in a tp_workloads_t entry (id, tenant, model_name,
 * gpu_models, residency) and node = -1: the caller either moves it into a
 * tp_workloads_t (whose tp_workloads_free() then frees them) or releases it with
 * tp_k8s_workload_clear(). On failure *w_out is zeroed and err says what is
 * wrong, with the JSON path of the offending label, annotation or resource. */
int tp_k8s_pod_workload(const tp_k8s_t *k, const tp_fleet_t *f, const json_t *pod,
                        const char *path, tp_workload_t *w_out, tp_error_t *err);
/* Frees the fields of a workload filled by this module and zeroes it. */
void tp_k8s_workload_clear(tp_workload_t *w);

/* POST {urlPrefix}/filter. Returns a new ExtenderFilterResult the caller
 * json_decref()s, NULL only on ENOMEM:
 *   - kept nodes as "NodeNames" (when the request sent NodeNames) or as
 *     "Nodes": {"metadata": {}, "items": [the request's node objects]} (when it
 *     sent a NodeList), the other one null;
 *   - "FailedNodes": node → failing predicate names (docs/formats.md), for nodes
 *     failing only capacity predicates (gpu_capacity, power_node, power_domain),
 *     which preemption might resolve;
 *   - "FailedAndUnresolvableNodes": nodes failing any static predicate, and
 *     nodes not in the fleet;
 *   - "Error": "" — or the reason the pod cannot be judged at all.
 * *http_status: 200 (including a pod that cannot become a workload — bad
 * label values, a malformed pod, no GPU request: the Error then reaches
 * `kubectl describe pod`), 400 when args is not an ExtenderArgs (not an object,
 * an unknown key, Pod missing, a malformed or too long node list), 503 when the
 * view has no fleet, state or load, 500 on ENOMEM. Errors carry the JSON path;
 * err (may be NULL) receives the same message. A pod that could be judged is
 * remembered for bind. */
json_t *tp_k8s_filter(tp_k8s_t *k, const tp_k8s_view_t *v, const json_t *args,
                      int *http_status, tp_error_t *err);

/* POST {urlPrefix}/prioritize. Returns a new HostPriorityList
 * [{"Host": node, "Score": 0..10}] with one entry per node of the request, in
 * its order: 0 for nodes not in the fleet or not eligible (tp_policy_check);
 * eligible nodes 1 + round(9 × (0.7 × e + 0.3 × h)), e = the node GPU model's
 * tokens per joule for the pod's model over the best among the eligible nodes
 * (1 for all when the pod names no model with profiles; 0 for a GPU model
 * without a profile), h = the power headroom left after placing the pod, the
 * least over the node's cap and every domain above it, as a fraction of that
 * cap. On error returns NULL, *http_status is 400 (not ExtenderArgs), 422
 * (the pod cannot become a workload), 503 (no fleet/state/load) or 500, and err
 * says why; the scheduler ignores prioritize errors. Does not touch the bind
 * cache. */
json_t *tp_k8s_prioritize(tp_k8s_t *k, const tp_k8s_view_t *v, const json_t *args,
                          int *http_status, tp_error_t *err);

/* POST {urlPrefix}/bind: maps ExtenderBindingArgs {PodName, PodNamespace,
 * PodUID, Node} (all strings, no other key) to the workload of the pod a filter
 * call remembered under PodUID (rebuilt against f, so a reloaded fleet is
 * honoured) and the fleet index of Node. The server then places it through its
 * normal path (policy, validator, journal). Returns 0, or: TP_EINVAL (args
 * malformed, or name/namespace differ from the filtered pod's), TP_ENOENT (no
 * filter call saw that UID within the TTL), TP_EREF (Node not in the fleet), or
 * the pod's own error. On success *w_out is owned as in tp_k8s_pod_workload();
 * on failure it is zeroed and *node_out is -1. now: Unix seconds (TTL). */
int tp_k8s_bind_lookup(tp_k8s_t *k, const tp_fleet_t *f, int64_t now, const json_t *args,
                       tp_workload_t *w_out, int *node_out, tp_error_t *err);
/* Forgets a pod (after its bind was answered). 0, or TP_ENOENT. */
int tp_k8s_forget(tp_k8s_t *k, const char *pod_uid);
/* Kubernetes expects a binder extender to bind the pod itself. This builds
 * what the server POSTs to the API server for that (as kube-scheduler's default
 * binder does): the v1.Binding {"apiVersion": "v1", "kind": "Binding",
 * "metadata": {"name", "namespace", "uid"}, "target": {"apiVersion": "v1",
 * "kind": "Node", "name"}} from the same ExtenderBindingArgs, and its path
 * "/api/v1/namespaces/NS/pods/NAME/binding" in path_out. Names are checked
 * against Kubernetes' DNS rules, so nothing can escape the path. New reference,
 * or NULL with err (TP_EINVAL; TP_ERANGE when path_size is too small). */
json_t *tp_k8s_binding(const json_t *args, char *path_out, size_t path_size,
                       tp_error_t *err);
/* ExtenderBindingResult: {"Error": ""} or {"Error": msg}. New reference; NULL on
 * ENOMEM. */
json_t *tp_k8s_bind_result(const char *error_or_null);

#endif
