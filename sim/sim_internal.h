/*
 * sim/sim_internal.h — what the files of sim/ share: the compiled scenario
 * variant (sim_setup_t), the engine's entry point and the policies' helpers.
 */
#ifndef TP_SIM_INTERNAL_H
#define TP_SIM_INTERNAL_H

#include "policy/policy.h"
#include "sim/sim.h"
#include "sim/traces.h"
#include "util/json_in.h"
#include "util/rng.h"

#define SIM_US 1000000LL
#define SIM_MAX_CLASSES 16
#define SIM_MAX_REGIONS 32
#define SIM_MAX_SIZES 8
#define SIM_HIST_BINS 1200
#define SIM_MAX_SEEDS 1000
#define SIM_MAX_GANG 64 /* members of a generated gang */

/* Security predicates: a placement failing any of these is a security violation. */
#define SIM_PREDS_SECURITY                                                               \
    (TP_PRED_BIT(TP_PRED_CPU_TEE) | TP_PRED_BIT(TP_PRED_GPU_CC) |                        \
     TP_PRED_BIT(TP_PRED_ATTESTATION_MISSING) | TP_PRED_BIT(TP_PRED_ATTESTATION_STALE) | \
     TP_PRED_BIT(TP_PRED_ATTESTATION_STATUS) | TP_PRED_BIT(TP_PRED_RESIDENCY) |          \
     TP_PRED_BIT(TP_PRED_RESIDENCY_MISMATCH) |                                           \
     TP_PRED_BIT(TP_PRED_RESIDENCY_UNVERIFIED))

typedef struct {
    char *id;
    int model;      /* fleet model index (stable: profiles never change) */
    int cls;        /* class index */
    int *res, nres; /* residency regions; nres 0: none */
    int gpus, min_replicas, max_replicas, priority;
    double prefill_weight; /* decode-token cost of one context token */
} sim_deployment_t;

typedef enum {
    SRC_AZURE, /* a request trace: "azure" or "trace" */
    SRC_ALIBABA,
    SRC_REQUESTS,
    SRC_JOBS,
    SRC_LIST,
    SRC_JOBTRACE, /* "job_trace" */
    SRC_TRAINING  /* "training": generated gangs (sim/gangs.c) */
} sim_src_kind_t;

/* One job of a "list" source. */
typedef struct {
    char *id;
    int64_t at_us, dur_us;
    int gpus, cls, model, priority;
    bool preemptible;
    int res[SIM_MAX_REGIONS], nres;
    int gm[16], ngm; /* union GPU model indices; ngm 0: any */
} sim_listjob_t;

typedef struct {
    double amplitude, peak_hour; /* rate × (1 + a·cos(2π(h − peak)/24)) */
} sim_diurnal_t;

typedef struct {
    sim_src_kind_t kind;
    char *label; /* "azure:conv.csv", … */
    /* azure */
    const tp_azure_trace_t *azure; /* borrowed from the scenario's trace cache */
    double speedup;
    int repeat; /* passes over the trace; 0: until the end of the run */
    int64_t offset_us;
    long long limit; /* rows (azure) or pods (alibaba); 0: all */
    double *dep_w;   /* [ndeployments] routing weights (requests, azure) */
    /* alibaba */
    const tp_pod_list_t *pods;
    double duration_scale;
    bool use_gpu_spec;
    char **gpu_map_from; /* Alibaba type names … */
    int *gpu_map_to;     /* … → union fleet gpu model index */
    int ngpu_map;
    /* requests */
    double rate_per_s;
    sim_diurnal_t diurnal;
    double ctx_mean, gen_mean;
    /* jobs */
    double rate_per_h;
    int sizes[SIM_MAX_SIZES];
    double size_w[SIM_MAX_SIZES];
    int nsizes;
    double dur_mean_s, dur_sigma;
    int prio_lo, prio_hi;
    double preemptible;
    /* training: members per gang (a mix like sizes) and the kind they stay
     * under (1 + union fleet kind index; 0: none) */
    int gnodes[SIM_MAX_SIZES];
    double gnodes_w[SIM_MAX_SIZES];
    int ngnodes, together;
    /* jobs and training: tenant weights [ntenants]; NULL: no tenant */
    double *tenant_w;
    /* jobs and alibaba: the mixes (weights; all-zero model_w: no model) */
    double class_w[SIM_MAX_CLASSES];
    double region_w[SIM_MAX_REGIONS];
    double *model_w; /* [nmodels] */
    /* list */
    sim_listjob_t *jobs;
    int njobs;
    /* job_trace: the trace and, per row, its class and model (-1: drawn from the
     * mixes) */
    const tp_job_trace_t *jtrace;
    int *jt_cls, *jt_model;
} sim_source_t;

typedef enum {
    EV_POWER_CAP,
    EV_GPU_FAILURE,
    EV_ATT_REVOKE,
    EV_ATT_EXPIRE,
    EV_VERIFIER_OUTAGE,
    EV_BMC_OUTAGE,
    EV_ADD_NODES,
    EV_RETIRE_NODES,
    EV_RESIDENCY_RULE,
    EV_NKINDS
} sim_ev_kind_t;

typedef struct {
    sim_ev_kind_t kind;
    int64_t at_us, dur_us; /* dur_us 0: permanent */
    char *label;           /* for the report: "power_cap site-fra ×0.8" */
    int domain;
    double factor, cap_w; /* power: factor of the declared cap, or cap_w (>0) */
    int *nodes, nnodes;   /* selected union nodes */
    int count;            /* >0: pick this many of nodes at random (seeded) */
    int gpus;             /* gpu_failure: per node */
    char *verifier;
    int region;
    unsigned class_mask;
    tp_residency_t mode;
} sim_event_t;

typedef struct {
    char *name;
    uint64_t seed;
    int64_t start_s, duration_us, tick_us, sample_us;
    int64_t renew_us, ttl_us;
    int state_mode;     /* 0 attested, 1 generated, 2 file */
    tp_state_t *state0; /* for state_mode 2 (and 1): against the union fleet */
    double target_util, window_s, drain_s, cooldown_s;
    /* Batch jobs: work at a reference speed (default) or wall time. ref_gpu:
     * the union GPU model whose profile is the reference; -1: the GPU-weighted
     * mean profile of each job's model (sim_reference_tps). */
    bool wall_time_jobs;
    int ref_gpu;
    int64_t warmup_us; /* KPIs exclude [0, warmup) (0: none) */
    /* warm_start: running work at t = 0 (sim/warm.c); warm NULL: none */
    tp_workloads_t *warm;
    char *warm_file;      /* "SCENARIO: $.warm_start.running: FILE" */
    int64_t *warm_rem_us; /* [warm->n] the work left of each */
    tp_fleet_t *fleet;    /* the union fleet: every node any event adds */
    json_t *fleet_doc;    /* its document */
    bool *present0;       /* [union node] present at the start */
    bool fleet_changes;   /* any add/retire event */
    sim_deployment_t *deps;
    int ndeps;
    sim_source_t *srcs;
    int nsrcs;
    sim_event_t *events;
    int nevents;
    char **policies;
    int npolicies;
    tp_sim_policy_opts_t solver; /* method points at a static string */
    json_t *params;              /* this variant's grid values {"/path": value} */
} sim_setup_t;

struct tp_scenario {
    char *name, *source, *base_dir;
    json_t *doc;
    json_t *grid; /* [{"path", "values"}] or NULL */
    int nvariants;
    /* Trace cache: each file read once, shared by the variants. */
    char **trace_paths;
    void **traces;
    int *trace_kind; /* 0 request trace, 1 pods, 2 job trace */
    int ntraces;
    uint64_t *seeds; /* the scenario's "seeds" (nseeds 0: none) */
    int nseeds;
};

/* ---- seeds (sim/seeds.c) */
/* "N", "A-B", or a comma-separated list of those → distinct seeds in order
 * (caller frees *out); TP_EUSAGE with a message on a bad spec. */
int sim_seeds_parse(const char *spec, uint64_t **out, int *n, tp_error_t *err);
/* Two-sided 95% Student-t quantile for df degrees of freedom. */
double sim_t975(int df);
/* The aggregate of n per-seed values of one KPI tree: numbers → {"mean", "ci95",
 * "n"}, objects recursed key by key over the runs that have the key, anything
 * else dropped. A new reference, or NULL when nothing is numeric. */
json_t *sim_aggregate(json_t *const *runs, int n);
/* v rounded to six significant digits (0 for NaN and infinities): every number
 * summary.json holds, so that it is the same on every platform. */
double sim_r6(double v);

/* The summary table's columns (sim/output.c), shared by the text table and the
 * report: header, KPI path in a policy's object, scale, decimals. */
typedef struct {
    const char *head, *path;
    double scale;
    int prec;
} sim_col_t;
#define SIM_TABLE_NCOLS 13
extern const sim_col_t sim_table_cols[SIM_TABLE_NCOLS];
/* A KPI of a run (a number; *ci NAN) or of an aggregate ({"mean", "ci95"}). */
double sim_kv(const json_t *k, const char *path, double *ci);

/* Compiles variant v of the scenario (0 ≤ v < nvariants), with the seed override.
 * Caller frees with sim_setup_free(). */
int sim_setup_new(struct tp_scenario *sc, int v, bool seed_set, uint64_t seed,
                  sim_setup_t **out, tp_error_t *err);
void sim_setup_free(sim_setup_t *s);
/* Reads $.warm_start (v) with its running file at path (resolved) into s: the
 * fleet, present0 and state0 must be set (sim/warm.c). */
int sim_warm_load(jr_t *j, const json_t *v, const char *path, sim_setup_t *s);
/* The reference speed of batch work of a model, tokens/s per GPU: its profile on
 * batch.reference_gpu, else the GPU-weighted mean of its profiles over the GPUs
 * present at the start that have one (0: none). */
double sim_reference_tps(const sim_setup_t *s, int model);
/* The GPU-weighted mean of a model's profiles over the GPUs present at the start
 * that have one (0: none). */
double sim_mean_tps(const sim_setup_t *s, int model);

/* KPIs of one (variant, policy) run; see docs/sim.md. */
typedef struct {
    long long hist[SIM_HIST_BINS];
    long long n;
    double sum, max;
} sim_hist_t;

void sim_hist_add(sim_hist_t *h, double v);
/* {"n", "mean_s", "p50_s", "p95_s", "max_s"} (sim/kpi.c). */
json_t *sim_hist_json(const sim_hist_t *h);
double sim_hist_quantile(const sim_hist_t *h, double q);

/* One simulation: setup under one policy. Appends its timeseries rows to csv
 * (variant v, policy name) and returns its summary object in *kpis. */
typedef struct {
    char *buf;
    size_t len, cap;
} sim_buf_t;
int sim_buf_printf(sim_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int sim_buf_put(sim_buf_t *b, const char *s);

typedef struct {
    void (*progress)(void *arg, double done, const char *what, long long events);
    void *progress_arg;
    double done0, done_span; /* the share of the whole run this simulation is */
    bool no_validate;
    long long events0; /* events of the simulations before this one */
} sim_run_opts_t;

int sim_simulate(const sim_setup_t *s, int variant, const char *policy,
                 const sim_run_opts_t *o, sim_buf_t *csv, json_t **kpis,
                 long long *events, tp_error_t *err);
/* The CSV header line of timeseries.csv (with its newline). */
const char *sim_csv_header(void);

/* Shared by the policies: shape-keyed caching of pending reasons, the
 * cap-drop preemption rule of the baselines, and node scoring. */
int sim_policy_preempt_over_cap(const tp_sim_view_t *v, tp_load_t *l, tp_result_t *r);
int sim_policy_pending_reasons(const tp_sim_view_t *v, const tp_load_t *l,
                               const char *placed, tp_result_t *r);
/* Makes p a greedy policy: pending work in arrival order, each onto the most
 * efficient (else the first) eligible node; with spill, onto any node with room
 * when no eligible one has. */
int sim_greedy_init(tp_sim_policy_t *p, bool efficient, bool spill, tp_error_t *err);
/* The trustplace policy: the solver (sim/policy_trustplace.c). */
int sim_trustplace_new(tp_sim_policy_t *p, const tp_sim_policy_opts_t *o,
                       tp_error_t *err);

#endif
