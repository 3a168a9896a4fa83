/*
 * policy/policy.h — eligibility: may node n run workload w, and if not, why.
 *
 * Two halves, so that the solver and the validator can reuse the second against
 * a load of their own:
 *   - static predicates: security (TEE, GPU CC, attestation), residency, GPU
 *     model and health — depend on the fleet, the observed state and `now`;
 *   - capacity predicates: free GPUs and node/domain power against a tp_load_t.
 *
 * Fail closed: a fact that is missing, expired, too old, from the future or
 * unknown fails every predicate that depends on it. A cpu_tee or gpu_cc
 * requirement (with or without an attestation requirement) is met only by a
 * usable attestation result whose status is neither none nor contraindicated
 * and which attests that TEE / CC mode. The fleet file's declared cpu_tee and
 * gpu_cc are claims for planning; no predicate here reads them. So expiry,
 * revocation or loss of a result never makes a node eligible for anything.
 *
 * Depends on model/ only. Nothing here allocates except tp_load_new().
 */
#ifndef TP_POLICY_H
#define TP_POLICY_H

#include "model/model.h"

/* Tolerated clock skew for attestation results issued "in the future". */
#define TP_POLICY_SKEW_S 60

typedef unsigned tp_predset_t; /* bit (1u << tp_pred_t) per failed predicate */
#define TP_PRED_BIT(p) (1u << (p))
#define TP_PREDS_ATTESTATION                                                             \
    (TP_PRED_BIT(TP_PRED_ATTESTATION_MISSING) | TP_PRED_BIT(TP_PRED_ATTESTATION_STALE) | \
     TP_PRED_BIT(TP_PRED_ATTESTATION_STATUS))
#define TP_PREDS_CAPACITY                                                                \
    (TP_PRED_BIT(TP_PRED_GPU_CAPACITY) | TP_PRED_BIT(TP_PRED_POWER_NODE) |               \
     TP_PRED_BIT(TP_PRED_POWER_DOMAIN))

/* Caps are compared with a relative tolerance so that float sums of watts that
 * land exactly on a cap are not rejected by rounding. The policy's rule, which
 * the solver asks too (ctx_over); the validator restates it on its own. */
#define TP_POLICY_CAP_EPS 1e-9
static inline bool tp_policy_over_cap(double draw, double cap)
{
    return draw > cap * (1 + TP_POLICY_CAP_EPS);
}

/* Work on the fleet: GPUs in use and estimated draw per node and per domain. */
typedef struct {
    int nnodes, ndomains;
    int *gpus_used;   /* [node] */
    double *node_w;   /* [node] estimated draw */
    double *domain_w; /* [domain] sum of node_w beneath it */
} tp_load_t;

/* The load of the running work (may be NULL: none). Per the power model: idle_w
 * plus gpus × watts of each running workload, raised to the BMC-reported draw
 * where that is higher. Caller frees with tp_load_free(). NULL on ENOMEM. */
tp_load_t *tp_load_new(const tp_fleet_t *f, const tp_state_t *s,
                       const tp_workloads_t *running);
tp_load_t *tp_load_copy(const tp_load_t *l);
/* Brings l, the load of an earlier running set, to tp_load_new(f, s, running)
 * bit for bit, when only the nodes with changed[n] gained, lost or swapped work
 * since (and s is the same): those nodes are summed again in running order, the
 * domains in node order, as tp_load_new does. node_of (may be NULL) is
 * running's nodes as a compact array (node_of[i] == running->w[i].node), which
 * spares the scan over the workloads: O(running) integers + O(nodes × depth),
 * with no power lookups beyond the changed nodes' work. */
void tp_load_refresh(tp_load_t *l, const tp_fleet_t *f, const tp_state_t *s,
                     const tp_workloads_t *running, const int *node_of,
                     const bool *changed);
void tp_load_free(tp_load_t *l);
/* Adds (sign +1) or removes (sign -1) `gpus` GPUs drawing `watts_per_gpu` each on
 * node n, updating every domain above it. Inline, like tp_policy_work_w: the
 * solver's packing and gang seating ask millions of times. */
static inline void tp_load_apply(tp_load_t *l, const tp_fleet_t *f, int node, int gpus,
                                 double watts_per_gpu, int sign)
{
    double w = sign * gpus * watts_per_gpu;
    l->gpus_used[node] += sign * gpus;
    l->node_w[node] += w;
    for (int d = f->nodes[node].domain; d >= 0; d = f->domains[d].parent)
        l->domain_w[d] += w;
}
/* Draw of workload w if placed on node n. */
static inline double tp_policy_work_w(const tp_fleet_t *f, int node,
                                      const tp_workload_t *w)
{
    return w->gpus * tp_fleet_gpu_watts(f, node, w->model);
}

/* Effective caps: the lower of declared and observed. */
double tp_policy_node_cap(const tp_fleet_t *f, const tp_state_t *s, int node);
double tp_policy_domain_cap(const tp_fleet_t *f, const tp_state_t *s, int domain);
/* GPUs that can take work: observed healthy count, else the declared count. */
int tp_policy_gpus_healthy(const tp_fleet_t *f, const tp_state_t *s, int node);

/* Security, residency, GPU model and health predicates. */
tp_predset_t tp_policy_static(const tp_fleet_t *f, const tp_state_t *s, int node,
                              const tp_workload_t *w, int64_t now);
/* GPU capacity and node/domain power against load l. */
tp_predset_t tp_policy_capacity(const tp_fleet_t *f, const tp_state_t *s,
                                const tp_load_t *l, int node, const tp_workload_t *w);
/* Both; 0 means eligible. */
tp_predset_t tp_policy_check(const tp_fleet_t *f, const tp_state_t *s, const tp_load_t *l,
                             int node, const tp_workload_t *w, int64_t now);

/* Over all nodes: counts[p] = nodes failing predicate p; returns eligible nodes. */
int tp_policy_count(const tp_fleet_t *f, const tp_state_t *s, const tp_load_t *l,
                    const tp_workload_t *w, int64_t now, int counts[TP_PRED_COUNT]);

/* Is the attestation of node n usable under req at `now` (present, unexpired, not
 * older than max_age_s, not from the future)? */
bool tp_policy_attestation_usable(const tp_node_obs_t *o, const tp_req_t *req,
                                  int64_t now);

#endif
