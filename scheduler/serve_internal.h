/*
 * scheduler/serve_internal.h — what the service's files share (not an API).
 *
 * Threads and ownership. Everything below belongs to the loop thread. The one
 * worker job in flight (svc_t.busy) may READ fleet, state, running, records and
 * power events while it runs; the loop only reads them meanwhile, and applies
 * every change (a job's outcome, a collector cycle, a fleet reload) when no job
 * is in flight — so neither side ever locks or waits on the other.
 *
 *   serve.c   start, recovery from the journal, signals, collectors, drain
 *   world.c   the in-memory model: records, running set, state copies, fleets
 *   worker.c  the operations queue, batching, solve + validate + commit
 *   api.c     routes, request parsing and the JSON views
 */
#ifndef TP_SCHEDULER_SERVE_INTERNAL_H
#define TP_SCHEDULER_SERVE_INTERNAL_H

#include "collectors/collectors.h"
#include "model/model.h"
#include "policy/policy.h"
#include "policy/validator.h"
#include "scheduler/access.h"
#include "scheduler/httpd.h"
#include "scheduler/store.h"
#include "scheduler/k8s.h"
#include "scheduler/serve.h"

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

typedef enum { REC_RUNNING, REC_PENDING, REC_RELEASED, REC_PREEMPTED } rec_state_t;
const char *rec_state_name(rec_state_t s);
int rec_state_parse(const char *s); /* -1 when unknown */

/* One workload the service has decided on (ids unique; never removed). */
typedef struct {
    char *id, *tenant; /* tenant may be NULL */
    rec_state_t state;
    char *node; /* node id while running, else NULL (a gang: its first member) */
    int gpus;   /* per member for a gang */
    /* A running gang: its member node ids, from the decision's "members"
     * (rec_set keeps them; none while not running). */
    char **members;
    int nmembers;
    char *spec;     /* the workload as submitted, compact JSON (no "node") */
    char *decision; /* the decision answered, compact JSON */
} rec_t;

/* An active or scheduled power event. */
typedef struct {
    int64_t id;
    char *domain_id;
    double cap_w;       /* resolved cap */
    int64_t start, end; /* end 0: open-ended */
    bool started, ended;
    bool queued; /* an operation for its start or end is queued */
} pevent_t;

typedef struct {
    char *key, *hash;
    int status;
    char *response; /* NULL while its request is in flight */
    struct op *inflight;
} idem_t;

typedef struct op op_t;

typedef struct svc {
    tp_serve_opts_t o;
    uv_loop_t *loop;
    tp_httpd_t *http;
    tp_store_t *journal;      /* scheduler/store.h: SQLite or etcd */
    struct tp_leader *leader; /* scheduler/leader.h: with etcd only */
    struct tp_share *share;   /* scheduler/share.h: etcd with collectors */
    bool data_given;          /* --data or --store sqlite:DIR named a directory */
    tp_tokens_t *tokens;
    tp_tokens_t *clients; /* --tls-clients: certificate fingerprint → role */
    tp_k8s_t *k8s;
    tp_kubeapi_t *kube; /* NULL: /k8s/bind journals but binds no pod */

    json_t *fleet_doc; /* the fleet file as parsed (profiles merged on top) */
    json_t *profiles;  /* journaled profile entries, in order */
    tp_fleet_t *fleet;
    tp_state_t *state;      /* observed; owned copy */
    tp_state_t *next_state; /* a collector cycle's result waiting for the worker */
    tp_workloads_t *running;
    /* of running on state (tp_load_new bit for bit); NULL when dropped. Kept
     * current by apply() (svc_running_changed), built on the loop before a job
     * that solves; the job borrows it (the solver's cache) */
    tp_load_t *load;
    /* [running index]: its node, while load is kept (tp_load_refresh's node_of);
     * apply() follows every start, stop and move */
    int *run_node, caprun_node;
    /* per node / per running index: its running work, -1 ends */
    int *run_first, *run_next;
    /* The validator's tally of running (policy/validator.h): built by the
     * worker when NULL, kept current by worker.c's apply() as work starts and
     * stops, dropped by svc_invalidate() (fleet, state or running replaced). */
    tp_vtally_t *vtally;
    /* The solver's cache for this fleet (solver/solver.h): the same life. */
    struct tp_solver_cache_s *solver_cache;
    /* GET /v1/nodes/{id} answers, reused within the same second while nothing changed */
    uint64_t version; /* bumped by every change to the model */
    struct node_view {
        char *json;
        int64_t at;
        uint64_t version;
    } * views;
    int nviews;

    rec_t *recs;
    int nrecs, caprecs;
    tp_strmap_t *rec_ix;

    idem_t *idem;
    int nidem, capidem;
    tp_strmap_t *idem_ix;

    pevent_t *events;
    int nevents, capevents;
    json_t *preemptions; /* array of {workload, node, why, event, at} */

    /* the operations queue and the job in flight */
    op_t *qhead, *qtail;
    bool busy;
    int inflight_requests;

    tp_collect_cfg_t *ccfg;
    tp_collector_t *collector;
    int64_t last_cycle_end;
    bool has_collectors;
    uv_timer_t cycle_timer, tick_timer;
    uv_timer_t event_timer; /* the next power event's start or end (serve.c) */
    uv_signal_t sighup, sigterm, sigint;
    bool draining;

    uint64_t auth_refused, requests;
    bool prune_queued;  /* an OP_PRUNE waits or runs (retention.c) */
    int64_t last_prune; /* when the last one was queued */
    struct adr *adr;    /* openadr.c: the VTN poller, or NULL */
    json_t
        *adr_orders; /* order source "openadr:EV/IV@MOD" → power event id (0: queued) */
    struct tp_obs *obs; /* observe.c: audit log, KPI history, metrics */
} svc_t;

/* ---- world.c ---- */
void svc_log(const svc_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
rec_t *rec_find(svc_t *s, const char *id);
rec_t *rec_upsert(svc_t *s, const char *id); /* NULL on ENOMEM */
/* Sets a record (copies); a running gang's members come from its decision. */
int rec_set(rec_t *r, const char *tenant, rec_state_t st, const char *node, int gpus,
            const char *spec, const char *decision);
void rec_free(rec_t *r);
/* Appends a deep copy of w, running on node, to ws. */
int wl_append(tp_workloads_t *ws, const tp_workload_t *w, int node);
/* Appends gang w (pending or a running entry) running on nodes[0..tp_wl_nodes(w)):
 * one entry per member, consecutive, `gang` set (model/model.h). */
int wl_append_gang(tp_workloads_t *ws, const tp_workload_t *w, const int *nodes);
/* The entries of running workload id in ws: *first, returns their count (a gang:
 * its members; 0: none). */
int wl_entries(const tp_workloads_t *ws, const char *id, int *first);
/* Removes the entries i < n with gone[i] from ws; list holds those k indices
 * (any order, each once; a gang: all its members). Single-node work leaves in
 * O(k): the last entries that stay fill the holes (running order is not kept)
 * and the id index follows entry by entry; the nodes of moved entries are
 * marked in changed (may be NULL: their order among a node's work changed).
 * When a gang leaves or would have to move: one order-keeping pass, the index
 * rebuilt (also when list is NULL: then k only needs to be > 0). follow (may
 * be NULL) is an int per entry that moves with them. */
int wl_remove_marked(tp_workloads_t *ws, const bool *gone, const int *list, int k, int n,
                     int *follow, bool *changed);
tp_state_t *state_copy(const tp_fleet_t *f, const tp_state_t *src);
/* src (observed against fleet from) mapped by node and domain id onto fleet to. */
tp_state_t *state_remap(const tp_fleet_t *from, const tp_state_t *src,
                        const tp_fleet_t *to);
/* The state solves see: observed caps lowered by the power events in force. */
tp_state_t *state_effective(const svc_t *s, int64_t now);
void state_effective_free(tp_state_t *e);
/* The fleet of doc with profile entries merged over its "profiles". */
int fleet_build(const svc_t *s, const json_t *doc, const json_t *profiles,
                tp_fleet_t **out, tp_error_t *err);
/* The running set of recs against fleet f; workloads whose spec or node no
 * longer fit are reported in err and make it fail. */
int running_build(const svc_t *s, const tp_fleet_t *f, tp_workloads_t **out,
                  tp_error_t *err);
/* Same, skipping what does not fit; the skipped ids are appended to misfits. */
int running_build_tolerant(const svc_t *s, const tp_fleet_t *f, tp_workloads_t **out,
                           json_t *misfits, tp_error_t *err);
/* One workload object (or an array element) → a tp_workloads_t of one, with the
 * error path rewritten to `prefix`. */
int parse_workload(const tp_fleet_t *f, const json_t *obj, const char *prefix,
                   bool with_node, tp_workloads_t **out, tp_error_t *err, char *path,
                   size_t pathlen);
/* s->load, built when dropped (NULL on ENOMEM). */
const tp_load_t *svc_load(svc_t *s);
/* The same, with s->run_first / run_next (running work per node) built too. */
const tp_load_t *svc_load_lists(svc_t *s);
/* The fleet, the observed state or the running set was replaced: the load, the
 * per-node lists and the validator's tally are rebuilt on use. */
void svc_invalidate(svc_t *s);
/* Running work started or stopped and s->vtally already follows it: the tally
 * is kept; the load is brought up to date on the nodes marked in changed
 * (tp_load_refresh; NULL: dropped, rebuilt on use); the per-node lists are
 * rebuilt on use. */
void svc_running_changed(svc_t *s, const bool *changed);
/* The workload as a docs/formats.md object (for work that came without one,
 * e.g. from a pod); new reference. */
json_t *wl_spec(const tp_fleet_t *f, const tp_workload_t *w);
idem_t *idem_find(svc_t *s, const char *key);
idem_t *idem_add(svc_t *s, const char *key, const char *hash);
int64_t pevent_add(svc_t *s, int64_t id, const char *domain, double cap_w, int64_t start,
                   int64_t end);

/* ---- worker.c ---- */
typedef enum {
    OP_PLACE,
    OP_RELEASE,
    OP_POWER,
    OP_POWER_END,
    OP_PROFILES,
    OP_RELOAD,
    OP_RECONCILE,
    OP_BIND,
    OP_PRUNE /* retention.c */
} op_kind_t;

struct op {
    op_kind_t kind;
    op_t *next;
    uint64_t t_enq;      /* uv_hrtime() when queued (the phase metrics) */
    tp_httpd_req_t *req; /* NULL for timer-driven work */
    /* OP_PLACE */
    tp_workloads_t *wl; /* parsed, owned */
    char **specs;       /* [wl->n] compact JSON */
    bool batch;
    idem_t *idem;
    /* OP_RELEASE */
    char *workload;
    int node;    /* OP_BIND: the node kube-scheduler chose */
    char *kpath; /* OP_BIND with an API server: the Binding's path; body: the Binding */
    /* OP_POWER / OP_POWER_END */
    int64_t event_id;
    char *body;
    pevent_t ev;
    /* OP_PROFILES / OP_RELOAD */
    json_t *doc;
    /* outcome (worker → loop) */
    int status;
    char *answer;
    char *extra_hdr, *extra_val;
    void *result; /* kind-specific outcome, applied on the loop */
};

void op_enqueue(svc_t *s, op_t *op);
void op_free(op_t *op);
void worker_kick(svc_t *s);

/* ---- retention.c (docs/serve.md, "Retention") ---- */
/* Whether a prune is due this tick (loop; called once a second). */
bool prune_due(svc_t *s);
/* OP_PRUNE on the worker: deletes what the retention lets go from the journal;
 * the deleted keys go into op->doc. */
void prune_run(svc_t *s, op_t *op, int64_t now);
/* On the loop after it: the same idempotency keys and placements leave memory. */
void prune_apply(svc_t *s, const op_t *op);

/* ---- openadr.c (docs/serve.md, "OpenADR 3") ---- */
int adr_start(svc_t *s, tp_error_t *err); /* with --openadr: load, check, poll */
void adr_stop(svc_t *s);                  /* draining: no more polls */
void adr_free(svc_t *s);
/* A power event op was journaled: remember its VTN source (if any). */
void adr_note(svc_t *s, const op_t *op);

/* ---- kubebind.c ---- */
/* Creates op's v1.Binding (op->kpath, op->body) in the API server (worker
 * thread; blocks it for at most two API calls). 0 when the pod is bound to
 * node: 201, or — after a 409, a 5xx or no answer — the pod found bound to
 * that node. Otherwise a negative code and the reason in msg. */
int kube_bind(const svc_t *s, const op_t *op, const char *node, char *msg, size_t n);

/* ---- api.c ---- */
void api_handle(void *arg, tp_httpd_req_t *req, const tp_httpd_view_t *v);
void api_ceiling(void *arg, tp_httpd_req_t *req, const tp_httpd_view_t *v);
/* The JSON text of doc (compact); NULL on ENOMEM. Steals doc. */
char *json_text(json_t *doc);
void respond_json(tp_httpd_req_t *req, int status, json_t *doc);

/* ---- observe.c (docs/observability.md) ---- */
/* After recovery: audit triggers on the journal, DATA/audit.jsonl (rows the
 * journal holds beyond the file are appended: crash recovery), KPI history. */
int obs_start(svc_t *s, tp_error_t *err);
/* Right after the journal opens: its writes from then on leave audit rows. */
int obs_audit_on(svc_t *s, tp_error_t *err);
void obs_free(svc_t *s);
/* Journal audit rows not yet in audit.jsonl → the file (fsync) and the KPI
 * history; on the thread that writes the journal. */
void obs_flush(svc_t *s);
/* The same without the fsync (a job: its answers need not wait for it); true
 * when rows were appended — then the loop calls obs_sync_start(). */
bool obs_append(svc_t *s);
/* Loop thread: fdatasync audit.jsonl on the libuv pool, beside the next job
 * (the journal, committed before every answer, holds every row: a start
 * appends what a power loss took from the file). obs_syncing: one in flight. */
void obs_sync_start(svc_t *s);
bool obs_syncing(const svc_t *s);
/* A hand-written audit row (config reloads, start) in the caller's transaction. */
int obs_note(svc_t *s, int64_t at, const char *kind, const char *change, tp_error_t *err);
json_t *obs_kpis(svc_t *s, int64_t now);
/* GET /, /v1/kpis, /metrics (obs_route answers a GET of an obs_path). */
bool obs_path(const char *path);
void obs_route(svc_t *s, tp_httpd_req_t *req, const tp_httpd_view_t *v);
/* tp_httpd_opts_t.observe, and the solver / collector timings. */
void obs_request(void *arg, const char *method, const char *path, int status,
                 double seconds);
/* which: a tp_metric_t histogram (scheduler/metrics.h) */
void obs_time(svc_t *s, int which, double seconds);

/* ---- serve.c ---- */
/* The recovery callbacks (rows → records), also used by the follower feed. */
void svc_load_callbacks(svc_t *s, tp_store_load_t *cb);
void svc_after_job(svc_t *s);
/* The fleet is being replaced: stop the collectors that borrow it, free it once
 * they are closed. */
void svc_retire_fleet(svc_t *s, tp_fleet_t *f);
/* Starts a collector cycle now unless one runs (shared collection gained nodes). */
void svc_collect_now(svc_t *s);

#endif
