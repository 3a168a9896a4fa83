/*
 * sim/engine.h — what the files of the engine share: the world of one
 * simulation (one scenario variant under one policy), its jobs and deployment
 * queues, and the functions each engine file exports to the others.
 *
 * Files, one job each:
 *   engine.c     the event queue and the clock: the world's set-up and tear-down,
 *                and the loop that pops events in (time, class, push order);
 *   power.c      power and energy accounting: node and domain draw, over-cap
 *                detection, integration of the running totals between events;
 *   events.c     the fleet and its facts: the view the policy sees (rebuilt when
 *                nodes come and go), attestation renewals, the scenario events;
 *   jobs.c       the life of a workload: pending and running lists, starting
 *                (with the security check of every placement) and stopping;
 *   inference.c  deployments: each one's fluid FIFO request queue served at its
 *                replicas' capacity, and the autoscaler;
 *   arrivals.c   the request and job sources (traces, generators) → work;
 *   warm.c       a warm start: the scenario's running work, checked and started at 0;
 *   tick.c       the scheduling tick: one policy call for the whole pending set,
 *                validated, then applied;
 *   kpi.c        wait histograms, the periodic sample (timeseries.csv rows,
 *                pending reasons) and the summary object of one run.
 *
 * Time is integer microseconds from the scenario start. Events sit in a binary
 * heap ordered by (time, class, push order); at equal times the classes run
 *   0 fleet changes → 1 state changes (caps, failures, attestation, outages,
 *   renewals) → 2 completions → 3 arrivals → 4 scheduling tick → 5 KPI sample,
 * so a tick sees everything that happened at its instant, and a sample sees the
 * tick's decisions. Work that arrives between ticks waits for the next tick:
 * decisions are batched per tick (tick_s, default 10 s).
 *
 * Nodes are kept in "union" indexing (every node the scenario ever has); the
 * policy sees a tp_fleet_t of the nodes present now, rebuilt when nodes are
 * added or retired, and a tp_state_t kept in step with the simulated facts.
 *
 * Ownership: the world owns every job (all[]), which pend[]/run[] borrow; it is
 * freed by the engine's tear-down. Nothing here is thread-safe or shared
 * between simulations.
 */
#ifndef TP_SIM_ENGINE_H
#define TP_SIM_ENGINE_H

#include "sim/heap.h"
#include "sim/sim_internal.h"

#include <stdbool.h>
#include <stdint.h>

/* CLS_WINDOW first: a KPI window closes before anything at its boundary happens. */
enum {
    CLS_WINDOW,
    CLS_FLEET,
    CLS_STATE,
    CLS_COMPLETE,
    CLS_ARRIVAL,
    CLS_TICK,
    CLS_SAMPLE
};
enum {
    K_EVENT,     /* scenario event starts: arg = index */
    K_EVENT_END, /* … ends (duration_s) */
    K_RENEW,     /* attestation renewal round */
    K_COMPLETE,  /* ptr = job, gen */
    K_ARRIVAL,   /* arg = source */
    K_TICK,
    K_SAMPLE,
    K_WINDOW, /* a KPI window closes (sim/windows.c) */
    K_WARMUP  /* the warm-up ends: KPIs restart from zero */
};

/* Per-window KPIs: cumulative figures at a boundary; a window is the difference. */
enum {
    WK_PENDING_GPU_S,
    WK_WORK_GPU_S,
    WK_JOBS_DONE,
    WK_ENERGY_J,
    WK_PREEMPTIONS,
    WK_VIOLATIONS,
    WK_VIOL_GPU_S,
    WK_REQ_SERVED,
    WK_REQ_TOKENS,
    WK_BUSY_GPU_S,
    WK_HEALTHY_GPU_S,
    WK_COUNT
};
#define SIM_MAX_WINDOWS 64
enum { JOB_BATCH, JOB_REPLICA };
enum { JS_PENDING, JS_RUNNING, JS_DONE };
enum { STOP_COMPLETE, STOP_PREEMPT, STOP_EVICT, STOP_SCALE };
/* Why pending work waits (docs/sim.md). */
enum { R_TICK, R_SECURITY, R_RESIDENCY, R_HARDWARE, R_CAPACITY, R_POWER, R_COUNT };
enum { EVICT_FAILURE, EVICT_REVOKED, EVICT_RETIRED, EVICT_COUNT };

typedef struct sim_job {
    char id[48];
    int kind, dep, cls, model, gpus, priority;
    bool preemptible;
    int origin;
    int res[SIM_MAX_REGIONS], nres;
    tp_residency_t res_mode;
    bool any_gm, gm_from_model; /* from_model: the list is the model's profiles */
    int *gm_u, ngm;             /* union GPU model indices */
    int *gm_cur, ngm_cur;
    int64_t arrive_us, queued_us, started_us;
    /* Batch: the work left and in all, in µs at the reference speed (docs/sim.md);
     * speed: reference µs done per µs on the node it runs on now. */
    int64_t remaining_us, work_us;
    double speed;
    int node_u, ix, state;
    uint32_t gen;
    bool violating, moving;
    bool trace; /* from a trace or an explicit list (else a generator) */
    bool warm;  /* warm start: running at t = 0, not a placement until it restarts */
    int reason;
    double watts, tok_rate, cap;
    /* Gangs (sim/gangs.c): the leader is the pending entry and runs member 0;
     * mem[] its further members (allocated at arrival, reused at every start),
     * each a running job on its own node with leader set. A gang starts and
     * stops whole. tenant: union fleet tenant index, -1: none. */
    int nodes, together, tenant; /* nodes 0: single-node; together: 1 + kind */
    struct sim_job *leader;
    struct sim_job **mem;
    double gang_speed;
} job_t;

typedef struct {
    int64_t t_us;
    double start;
    int32_t gen_tokens;
    bool trace; /* from a trace (else a generator) */
} req_t;

typedef struct {
    double served, arrived, cap, rate;
    int64_t last_us, rate_us, last_scale_us;
    req_t *q;
    size_t qh, qn, qcap;
    int running, pending, next_id;
    double per_replica; /* gpus × the fleet's GPU-weighted mean profile */
    double need;        /* tokens/s the autoscaler last sized for */
    /* GPU-seconds its replicas ran (integrated when their number changes) and the
     * work that arrived from traces: the GPU-hours split by origin (docs/sim.md). */
    double gpu_s, arrived_trace_w, arrived_w;
    int64_t gpu_us;
} dep_rt_t;

typedef struct {
    const sim_setup_t *s;
    const char *policy_name;
    tp_sim_policy_t *pol;
    const sim_run_opts_t *opts;
    const tp_fleet_t *U;
    tp_fleet_t *F; /* == U (borrowed) when every node is present from start to end */
    bool own_F;
    tp_state_t *S;
    int nu;
    int *n_of_u, *u_of_n, *gm_map;
    double *ref_tps; /* [model] the reference speed of batch work (tokens/s per GPU) */
    bool *present;
    tp_node_obs_t *obs; /* [u] the simulated facts */
    double *dcap;       /* [domain] observed cap; NAN: none */
    int *failed, *bmc_out, *stop_renew, *revoked, *gpus_used, *node_v;
    bool *renews;
    tp_att_status_t *att_status0;
    double *work_w, *domain_w;
    char **vnames;
    int nv, *v_out;
    int **ev_nodes, *ev_nnodes;
    /* jobs */
    job_t **all;
    size_t nall, cap_all;
    job_t **pend, **run;
    tp_workload_t *pend_w, *run_w;
    int npend, cap_pend, nrun, cap_run, cap_pend_w, cap_run_w;
    dep_rt_t *dr;
    unsigned rule_mask[SIM_MAX_REGIONS];
    tp_residency_t rule_mode[SIM_MAX_REGIONS];
    /* sources */
    tp_rng_t *rng;
    size_t *src_pos;
    int *src_pass;
    size_t **pod_order;
    long long *src_count;
    tp_heap_t heap;
    int64_t now_us, last_us;
    bool changed;
    long long events;
    /* running totals */
    double total_w, token_rate;
    /* Draw of running work by kind (replicas, batch) and batch token rates by
     * origin: served-request and batch tokens per joule are reported apart. */
    double replica_w, batch_w, batch_rate_trace, batch_rate_gen;
    int batch_gpus_trace, batch_gpus_gen;
    double batch_gpu_s_trace, batch_gpu_s_gen;
    int busy_gpus, healthy_gpus, viol_gpus;
    int pend_gpus_cls[SIM_MAX_CLASSES];
    int ndom_over;
    /* KPIs */
    double energy_replica_j, energy_batch_j;
    double tok_req_trace, tok_req_gen, tok_batch_trace, tok_batch_gen;
    double energy_j, tokens, busy_gpu_s, healthy_gpu_s, viol_gpu_s, over_cap_s;
    double pend_gpu_s_cls[SIM_MAX_CLASSES], pend_gpu_s_reason[R_COUNT];
    long long decisions, validated, validator_flags, placements, preemptions,
        evictions[EVICT_COUNT], violations, viol_pred[TP_PRED_COUNT];
    long long jobs_arrived, jobs_done, req_arrived, req_served, replicas_started;
    double work_done_gpu_s,
        work_completed_gpu_s;         /* reference GPU-seconds of batch work */
    double work_rate, work_int_gpu_s; /* Σ gpus × speed of running batch; its integral */
    /* KPI windows: boundaries [0, b1, …, duration], the figures at the last one,
     * and each closed window's differences. */
    int64_t win_b[SIM_MAX_WINDOWS + 1];
    int nwin, win_closed;
    double win_prev[WK_COUNT], win_val[SIM_MAX_WINDOWS][WK_COUNT];
    bool win_warm[SIM_MAX_WINDOWS];
    sim_hist_t wait_cls[SIM_MAX_CLASSES], wait_reason[R_COUNT],
        req_wait_cls[SIM_MAX_CLASSES];
    double decide_ms_total;
    /* samples */
    double tee_sum, sens_tee_sum;
    int tee_n, sens_tee_n;
    double last_tokens, last_energy;
    double *dom_min, *dom_sum;
    int nsamples;
    double min_headroom, site_min_headroom;
    sim_buf_t *csv;
    int variant;
    tp_error_t *err;
    /* gangs and tenants (sim/gangs.c) */
    tp_workload_t *view_w; /* the running list the policy sees: gang members */
    job_t **view_j;        /* consecutive, gang set (model.h) */
    int cap_view_w, cap_view_j, nview;
    int gangs_running;
    long long gangs_arrived, gangs_started, gangs_stopped, gangs_done;
    sim_hist_t *gang_wait; /* [SIM_MAX_GANG + 1] by size; NULL: no gangs */
    long *ten_use, *ten_use_prev, *ten_max; /* [tenant] GPUs, groups include members */
    double *ten_gpu_s;   /* [tenant × nhours] integrated use (GPU-seconds) */
    double *ten_q_gpu_s; /* [tenant × 4] the same per quarter of the run */
    int nhours;
} world_t;

/* sim/engine.c */
int sim_push(world_t *w, int64_t t, int cls, int kind, int arg, void *ptr, uint32_t gen);
int64_t sim_now_s(const world_t *w);

/* sim/power.c */
int sim_node_power_add(world_t *w, int u, double watts);
void sim_check_caps(world_t *w);
void sim_advance(world_t *w, int64_t t);

/* sim/events.c */
void sim_set_obs(world_t *w, int u);
int sim_healthy(const world_t *w, int u);
int sim_rebuild_view(world_t *w);
int sim_renew_round(world_t *w);
int sim_scenario_event(world_t *w, int e, bool end);

/* sim/jobs.c */
void sim_fill_wl(const world_t *w, job_t *j, tp_workload_t *wl);
int sim_grow(void **arr, int *cap, int need, size_t size);
void sim_apply_rules(world_t *w, job_t *j);
int sim_pend_add(world_t *w, job_t *j);
int sim_job_gpu_models(world_t *w, job_t *j, const int *gm, int ngm, bool any);
job_t *sim_job_new(world_t *w);
void sim_load_add(world_t *w, job_t *j, int sign);
int sim_stop_job(world_t *w, job_t *j, int why);
int sim_start_job(world_t *w, job_t *j, int n);
void sim_pend_compact(world_t *w);

/* sim/inference.c */
double sim_replica_cap(const world_t *w, const sim_deployment_t *d, int u);
void sim_dep_advance(world_t *w, int di, int64_t t);
/* Integrates deployment di's replica GPU-seconds up to now. */
void sim_dep_gpu_advance(world_t *w, int di);
int sim_autoscale(world_t *w);

/* sim/arrivals.c */
int sim_arrival(world_t *w, int si);
int sim_first_arrival(world_t *w, int si);

/* sim/warm.c */
int sim_warm_start(world_t *w);

/* sim/gangs.c */
/* GPUs of a job in all: a gang's members together. */
static inline int sim_job_gpus(const job_t *j)
{
    return j->nodes > 1 ? j->nodes * j->gpus : j->gpus;
}
int sim_gangs_init(world_t *w);
void sim_gangs_fini(world_t *w);
/* Makes pending job j a gang of `nodes` members (its mem[]). */
int sim_gang_new(world_t *w, job_t *j, int nodes, int together);
/* Starts gang leader j on nodes[0..j->nodes): every member or none. */
int sim_gang_start(world_t *w, job_t *j, const int *nodes, int n);
/* The running list for the policy: *vw its entries, *vj their jobs, w->nview
 * of them (borrowed: run_w/run themselves while no gang runs). */
int sim_running_view(world_t *w, tp_workload_t **vw, job_t ***vj);
/* A tenant's GPUs change by delta (each group above it too). */
void sim_tenant_add(world_t *w, int t, int delta);
void sim_tenants_advance(world_t *w, int64_t from_us, int64_t to_us);
/* After a decision: no partial gang, no tenant that grew over its limit. */
int sim_gangs_check(world_t *w);
/* The "gangs" and "tenants" KPIs; NULL when the scenario has neither. */
json_t *sim_gangs_json(const world_t *w, json_t **tenants);

/* sim/tick.c */
int sim_tick(world_t *w);

/* sim/windows.c */
int sim_windows_init(world_t *w);
void sim_window_close(world_t *w);
void sim_warmup_end(world_t *w);
json_t *sim_windows_json(const world_t *w);

/* sim/kpi.c */
int sim_sample(world_t *w, bool final);
json_t *sim_summary(world_t *w);

#endif
