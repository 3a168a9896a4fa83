/*
 * model/model.h — trustplace's shared vocabulary: the fleet an operator declares,
 * the state the collectors observed, the workloads (pending and running) and the
 * placement result. See docs/formats.md for the JSON files these load from.
 *
 * Loading is strict and all-or-nothing: a loader either returns a complete,
 * validated object or an error (file:line:col or JSON path, and what was
 * expected) and nothing. Every object is immutable after loading, except where a
 * function below says otherwise.
 *
 * Nodes, regions, power domains, classes, GPU models and workloads get dense
 * integer indices (their position in the arrays below) so that the policy,
 * solver and simulator index arrays, not strings, on hot paths.
 */
#ifndef TP_MODEL_H
#define TP_MODEL_H

#include "util/error.h"
#include "util/strmap.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- enumerations ----------------------------------------------------------- */

/* CPU trusted execution environments. TP_TEE_UNKNOWN: no verified fact. */
typedef enum {
    TP_TEE_UNKNOWN = -1,
    TP_TEE_NONE = 0,
    TP_TEE_TDX,
    TP_TEE_SEV_SNP,
    TP_TEE_CCA,
    TP_TEE_COUNT
} tp_tee_t;

/* RATS / EAR trust tiers. Ranked by tp_att_rank(): affirming > warning >
 * contraindicated = none. */
typedef enum {
    TP_ATT_NONE = 0,
    TP_ATT_CONTRAINDICATED,
    TP_ATT_WARNING,
    TP_ATT_AFFIRMING,
    TP_ATT_COUNT
} tp_att_status_t;

typedef enum {
    TP_RESIDENCY_NONE = 0, /* may run anywhere */
    TP_RESIDENCY_DECLARED, /* node's declared region must be allowed */
    TP_RESIDENCY_VERIFIED  /* … and its BMC must report a country of that region */
} tp_residency_t;

/* The predicates of FORMATS.md, in its order. A node fails a workload with a set
 * of these (a bitmask of 1u << TP_PRED_*). Names are the contract. */
#define TP_PRED_MAP(X)                                                                   \
    X(GPU_MODEL, "gpu_model")                                                            \
    X(GPU_CAPACITY, "gpu_capacity")                                                      \
    X(NODE_UNHEALTHY, "node_unhealthy")                                                  \
    X(CPU_TEE, "cpu_tee")                                                                \
    X(GPU_CC, "gpu_cc")                                                                  \
    X(ATTESTATION_MISSING, "attestation_missing")                                        \
    X(ATTESTATION_STALE, "attestation_stale")                                            \
    X(ATTESTATION_STATUS, "attestation_status")                                          \
    X(RESIDENCY, "residency")                                                            \
    X(RESIDENCY_MISMATCH, "residency_mismatch")                                          \
    X(RESIDENCY_UNVERIFIED, "residency_unverified")                                      \
    X(POWER_NODE, "power_node")                                                          \
    X(POWER_DOMAIN, "power_domain")                                                      \
    X(GANG_TOPOLOGY, "gang_topology")                                                    \
    X(TENANT_LIMIT, "tenant_limit")

typedef enum {
#define TP_PRED_ENUM(name, str) TP_PRED_##name,
    TP_PRED_MAP(TP_PRED_ENUM)
#undef TP_PRED_ENUM
        TP_PRED_COUNT
} tp_pred_t;

const char *tp_tee_name(tp_tee_t t); /* "tdx", …; "unknown" */
int tp_tee_parse(const char *s);     /* tp_tee_t, or -2 when unknown */
const char *tp_att_status_name(tp_att_status_t s);
int tp_att_status_parse(const char *s); /* tp_att_status_t, or -1 */
int tp_att_rank(tp_att_status_t s);     /* affirming 2, warning 1, else 0 */
const char *tp_pred_name(tp_pred_t p);

/* ---- the fleet ---------------------------------------------------------------- */

/* Security requirements; a class's, or a workload's after tightening. */
typedef struct {
    unsigned tee_mask;          /* allowed cpu_tee values (1u << tp_tee_t); 0: any */
    bool gpu_cc;                /* GPUs must run in confidential-computing mode */
    bool attestation;           /* a usable attestation result is required */
    tp_att_status_t min_status; /* with attestation: lowest acceptable tier */
    int64_t max_age_s;          /* with attestation: max age of the result; 0: none */
    tp_residency_t residency;
} tp_req_t;

typedef struct {
    char *name;
    tp_req_t req;
} tp_class_t;

typedef struct {
    char *id;
    char **countries; /* ISO 3166 alpha-2, upper case */
    int ncountries;
} tp_region_t;

typedef struct {
    char *id;
    int parent; /* index into fleet->domains, -1 for a root */
    double cap_w;
    int depth; /* 0 for a root */
    int kind;  /* index into fleet->kinds ("rack", "row", …); -1 when not given */
} tp_domain_t;

/* A tenant of policy.tenants: a guaranteed quota and an optional limit (quota
 * plus what it may borrow), in GPUs; a tenant may belong to a parent group whose
 * quota and limit bound the sum of its members' use. */
typedef struct {
    char *name;
    int quota_gpus;
    int limit_gpus; /* -1: no limit */
    int parent;     /* index into fleet->tenants, -1 for a top-level tenant */
} tp_tenant_t;

typedef struct {
    char *id;
    int domain;    /* index into fleet->domains */
    int region;    /* index into fleet->regions */
    int gpu_model; /* index into fleet->gpu_models */
    int gpus;
    tp_tee_t cpu_tee; /* declared: a claim, never a verified fact */
    bool gpu_cc;      /* declared */
    double cap_w, idle_w, gpu_w;
    /* Collectors' business; NULL when absent. */
    char *bmc_url, *bmc_credentials, *verifier;
    bool bmc_insecure;
} tp_node_t;

typedef struct {
    int model;                  /* index into fleet->models */
    int gpu_model;              /* index into fleet->gpu_models */
    double tokens_per_s, watts; /* per GPU */
} tp_profile_t;

typedef struct {
    char *source; /* file name, for messages */
    tp_region_t *regions;
    int nregions;
    tp_domain_t *domains;
    int ndomains;
    tp_node_t *nodes;
    int nnodes;
    tp_class_t *classes;
    int nclasses;
    tp_profile_t *profiles;
    int nprofiles;
    char **gpu_models; /* interned names from nodes and profiles */
    int ngpu_models;
    char **models; /* interned AI model names from profiles */
    int nmodels;
    int *profile_of; /* [model * ngpu_models + gpu_model] → profile index or -1 */
    char **kinds;    /* interned domain kinds ("rack", "row", "site", …) */
    int nkinds;
    tp_tenant_t *tenants; /* policy.tenants; none: no quotas apply */
    int ntenants;
    /* The "collectors" section (BMC credentials, verifiers, TLS), owned by the fleet
     * and validated by collectors/, which alone knows its schema; NULL if absent. */
    json_t *collectors;
    tp_strmap_t *node_ix, *region_ix, *domain_ix, *class_ix, *gpu_model_ix, *model_ix;
    tp_strmap_t *kind_ix, *tenant_ix;
} tp_fleet_t;

/* Loads and validates a fleet file. On success *out is a new fleet the caller
 * frees with tp_fleet_free(); on failure *out is NULL and err says why. */
int tp_fleet_load(const char *path, tp_fleet_t **out, tp_error_t *err);
/* Same, from a JSON text in memory; name is used in messages. */
int tp_fleet_load_buffer(const char *name, const char *text, size_t len, tp_fleet_t **out,
                         tp_error_t *err);
void tp_fleet_free(tp_fleet_t *f);

int tp_fleet_node(const tp_fleet_t *f, const char *id);   /* index or -1 */
int tp_fleet_region(const tp_fleet_t *f, const char *id); /* index or -1 */
int tp_fleet_class(const tp_fleet_t *f, const char *name);
/* Profile for (AI model index, GPU model index), or NULL. model may be -1.
 * Inline, like tp_fleet_gpu_watts: the solver asks millions of times. */
static inline const tp_profile_t *tp_fleet_profile(const tp_fleet_t *f, int model,
                                                   int gpu_model)
{
    if (model < 0 || gpu_model < 0 || model >= f->nmodels || gpu_model >= f->ngpu_models)
        return NULL;
    int p = f->profile_of[model * f->ngpu_models + gpu_model];
    return p >= 0 ? &f->profiles[p] : NULL;
}
/* Planning draw of one busy GPU of node n running AI model `model` (-1: none):
 * the matching profile's watts, else the node's gpu_w. */
static inline double tp_fleet_gpu_watts(const tp_fleet_t *f, int node, int model)
{
    const tp_profile_t *p = tp_fleet_profile(f, model, f->nodes[node].gpu_model);
    return p ? p->watts : f->nodes[node].gpu_w;
}
bool tp_region_has_country(const tp_region_t *r, const char *country);
int tp_fleet_kind(const tp_fleet_t *f, const char *kind);   /* index or -1 */
int tp_fleet_tenant(const tp_fleet_t *f, const char *name); /* index or -1 */
/* The ancestor of node n's domain (or that domain) whose kind is `kind`; -1. */
int tp_fleet_node_domain_of_kind(const tp_fleet_t *f, int node, int kind);

/* ---- observed state --------------------------------------------------------------- */

typedef struct {
    bool present; /* the attestation object exists */
    tp_att_status_t status;
    tp_tee_t cpu_tee; /* TP_TEE_UNKNOWN when the result does not say */
    int gpu_cc;       /* 1, 0, or -1 when the result does not say */
    int64_t issued_at, expires_at;
    char *verifier, *evidence; /* NULL when absent */
} tp_attestation_t;

typedef struct {
    bool known; /* the state file has an entry for this node */
    tp_attestation_t att;
    double cap_w;     /* observed cap; NAN when unknown */
    double draw_w;    /* observed draw; NAN when unknown */
    int gpus_healthy; /* -1 when unknown */
    char country[3];  /* ISO alpha-2; "" when the BMC reports none */
} tp_node_obs_t;

typedef struct {
    int64_t observed_at;  /* 0 when the file gave none */
    int nnodes;           /* == fleet->nnodes */
    tp_node_obs_t *nodes; /* indexed like fleet->nodes */
    int ndomains;         /* == fleet->ndomains */
    double *domain_cap_w; /* observed domain caps (demand response); NAN when unknown */
} tp_state_t;

/* Loads a state file against a fleet (every node id must be the fleet's). */
int tp_state_load(const char *path, const tp_fleet_t *f, tp_state_t **out,
                  tp_error_t *err);
int tp_state_load_buffer(const char *name, const char *text, size_t len,
                         const tp_fleet_t *f, tp_state_t **out, tp_error_t *err);
/* One node's entry of a state document (v, at JSON path `path`; name is used
 * in messages) checked as tp_state_load checks it, into *o (initialised here;
 * free its att.verifier / att.evidence). On error *o holds unknowns. */
int tp_state_node_from_json(const tp_fleet_t *f, int node, const json_t *v,
                            const char *name, const char *path, tp_node_obs_t *o,
                            tp_error_t *err);
/* A state in which nothing is known about any node. NULL on ENOMEM. */
tp_state_t *tp_state_new_empty(const tp_fleet_t *f);
void tp_state_free(tp_state_t *s);

/* ---- workloads ----------------------------------------------------------------------
 */

typedef struct {
    char *id, *tenant; /* tenant may be NULL */
    char *model_name;  /* may be NULL */
    int model;         /* fleet->models index, -1 when no profile names it */
    int gpus;
    bool any_gpu_model; /* false: only gpu_models[] are allowed */
    int *gpu_models; /* fleet->gpu_models indices (names the fleet lacks are dropped) */
    int ngpu_models;
    int cls;        /* fleet->classes index */
    tp_req_t req;   /* effective: the class, tightened by the workload */
    int *residency; /* allowed regions (fleet->regions indices) */
    int nresidency;
    int priority; /* 0..100 */
    bool preemptible;
    int node; /* running work: its node; pending work: -1 */
    /* Gangs (multi-node work): `nodes` members of `gpus` GPUs each, all placed
     * in one decision or none, each on its own node; with a `together` kind all
     * under one domain of that kind. A pending gang is one entry; a running gang
     * is loaded as `nodes` consecutive entries, one per member (same id, node
     * set), so every load sees each member's draw. Zero means single-node work
     * (producers that memset a workload get plain work): read the fields below
     * with the accessors after this struct. */
    int nodes;     /* ≥ 2: a gang; 0 or 1: single-node */
    int together;  /* 1 + fleet->kinds index; 0: none */
    int gang;      /* running gang member: 1 + the first member's index; 0: none */
    int tenant_ix; /* 1 + fleet->tenants index; 0: no declared tenant */
} tp_workload_t;

static inline int tp_wl_nodes(const tp_workload_t *w)
{
    return w->nodes > 1 ? w->nodes : 1;
}
static inline int tp_wl_together(const tp_workload_t *w) /* kind index or -1 */
{
    return w->together - 1;
}
static inline int tp_wl_gang_first(const tp_workload_t *w) /* entry index or -1 */
{
    return w->gang - 1;
}
static inline int tp_wl_tenant(const tp_workload_t *w) /* tenant index or -1 */
{
    return w->tenant_ix - 1;
}

typedef struct {
    tp_workload_t *w;
    int n;           /* entries: a running gang counts once per member */
    tp_strmap_t *ix; /* id → first entry */
} tp_workloads_t;

typedef enum { TP_WL_PENDING, TP_WL_RUNNING } tp_wl_kind_t;

/* Loads a workload list (pending: no "node"; running: "node" required). */
int tp_workloads_load(const char *path, const tp_fleet_t *f, tp_wl_kind_t kind,
                      tp_workloads_t **out, tp_error_t *err);
int tp_workloads_load_buffer(const char *name, const char *text, size_t len,
                             const tp_fleet_t *f, tp_wl_kind_t kind, tp_workloads_t **out,
                             tp_error_t *err);
tp_workloads_t *tp_workloads_new_empty(void);
void tp_workloads_free(tp_workloads_t *ws);
int tp_workloads_find(const tp_workloads_t *ws, const char *id); /* index or -1 */
/* TP_EDUP when an id is both pending and running. */
int tp_workloads_check_disjoint(const tp_workloads_t *pending,
                                const tp_workloads_t *running, tp_error_t *err);

/* ---- placement result ----------------------------------------------------------------
 */

/* A gang is placed as `nodes` placements with the same workload index, one per
 * member node (distinct nodes). */
typedef struct {
    int workload; /* pending index */
    int node;
    int gpus;
} tp_placement_t;

typedef struct {
    int workload;               /* pending index */
    int reasons[TP_PRED_COUNT]; /* nodes failing each predicate */
} tp_pending_t;

typedef struct {
    int workload; /* running index */
    int node;
    char why[96]; /* "power_domain:rack-b2", "power_node:a1-n01", … */
} tp_preemption_t;

typedef struct {
    tp_placement_t *placements;
    int nplacements;
    tp_pending_t *pending;
    int npending;
    tp_preemption_t *preemptions;
    int npreemptions;
    double solve_ms, objective, bound, gap;
    int cap_placements, cap_pending, cap_preemptions; /* allocated lengths (private) */
} tp_result_t;

tp_result_t *tp_result_new(void);
void tp_result_free(tp_result_t *r);
int tp_result_add_placement(tp_result_t *r, int workload, int node, int gpus);
int tp_result_add_pending(tp_result_t *r, int workload, const int reasons[TP_PRED_COUNT]);
int tp_result_add_preemption(tp_result_t *r, int workload, int node, const char *why);

#endif
