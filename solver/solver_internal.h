/*
 * solver/solver_internal.h — what the solver's files share and nothing else uses
 * (tests/unit/test_solver_*.c look inside to check the aggregation).
 *
 * Vocabulary:
 *   candidate      a workload to place: every pending workload, then every
 *                  running workload a power cap forced off its node;
 *   static class   nodes (or candidates) that every static predicate of
 *                  policy/policy.h treats alike — eligibility is computed once
 *                  per (candidate class, node class) pair;
 *   group          nodes of one static class under one power domain (at the
 *                  deepest level that keeps groups few, see classes.c);
 *   class (k)      candidates of one static class, AI model and priority: the
 *                  units of the aggregated LP;
 *   plan           a tentative assignment of candidates to nodes with its load.
 */
#ifndef TP_SOLVER_INTERNAL_H
#define TP_SOLVER_INTERNAL_H

#include "policy/policy.h"
#include "solver/solver.h"

#include <stdbool.h>
#include <stddef.h>

/* glpk.h stays inside the .c files of solver/. */
typedef struct glp_prob glp_prob_t;
typedef struct glp_tree glp_tree_t;
#include <stdint.h>

/* ---- interning of small integer vectors (aggregation keys) ---------------------- */

typedef struct {
    int *pool; /* keys, back to back, each prefixed by its length */
    size_t npool, cappool;
    int *off; /* [id] → offset of the key in pool */
    int n, capn;
    int *slots; /* open addressing: id + 1, 0 empty */
    size_t nslots;
} keytab_t;

int keytab_init(keytab_t *t, size_t expected);
void keytab_fini(keytab_t *t);
/* The dense id of key[0..len), adding it when new; TP_ENOMEM on failure. */
int keytab_intern(keytab_t *t, const int *key, int len);

/* The same for single 64-bit keys (groups: static class × domain). */
typedef struct {
    uint64_t *keys;
    int *ids; /* -1: empty */
    size_t nslots;
    int n;
} u64map_t;

int u64map_init(u64map_t *m, size_t expected);
void u64map_fini(u64map_t *m);
int u64map_intern(u64map_t *m, uint64_t key);

/* ---- the solving context -------------------------------------------------------- */

/* gang.c's work outside the class model: items w[i] with result index res[i]
 * and flag[i] (0 placed, 1 a gang that waits, 2 held back by a tenant limit). */
typedef struct {
    const tp_workload_t **w;
    int *res, *flag, n, cap;
    int **mem;   /* [item]: a placed gang's member nodes (owned), else NULL */
    char *fixed; /* [item]: placed by reclaim — the exact model leaves it */
    char *held;  /* [item]: held back by a tenant limit in side_before (flag 2
                  * then; the exact model may seat it: exact.c) */
    long *use;   /* [tenant] GPUs in use, sub-tenants included */
    long *ruse;  /* [tenant] the same, of running work alone (what is borrowed) */
    char *skip;  /* [result index]: the class model must not take it */
    double placed_gpus, weighted;
    /* Per kind (index kind + 1; 0: the whole fleet), built on first use: the
     * domains of that kind in id order (k_dom), and their nodes, canonical
     * order (CSR k_off/k_mem over k_n domains). */
    int **k_off, **k_mem, **k_dom, *k_n;
    int *r_off, *r_mem; /* running work by node (CSR) */
} side_t;

typedef struct {
    /* Inputs, borrowed. */
    const tp_fleet_t *f;
    const tp_state_t *s;
    const tp_workloads_t *pending, *running;
    int64_t now;
    double t0;       /* monotonic milliseconds: solve_ms only, never a path */
    double limit_ms; /* the time limit, from which every work budget derives */
    long it_budget;  /* simplex iterations of the aggregated LP */
    bool no_bound;   /* the caller reports no bound: skip work for it alone */
    const tp_solver_cache_t *cache; /* may be NULL (solver.h) */

    /* Effective caps (lower of declared and observed) and usable GPUs. */
    double *ncap, *dcap;
    int *healthy;
    /* Canonical orders (by id), so that the order of nodes, domains and
     * workloads in the input files never changes the answer: nord[r] is the
     * node of rank r, nrank its inverse; dord the domains by id. */
    int *nord, *nrank, *dord;
    /* trust(n) of docs/solver.md: CPU TEE + GPU CC + affirming attestation +
     * BMC location inside the region (0..TP_TRUST_MAX). */
    int *trust;
    int *dn_off, *dn; /* CSR: the nodes beneath each domain */

    /* Running work minus what preemption stopped. */
    tp_load_t *base;
    char *preempted; /* [running] */

    /* Candidates. */
    int nc;
    const tp_workload_t **cw;
    int *cres;    /* index in the result (pending, or pending->n + running) */
    int *corigin; /* the node a preempted candidate ran on; -1 for pending work */
    double eps_s; /* weight of term (2), scarce trust: 1 / (1 + TP_TRUST_MAX G) */
    double eps_e; /* weight of term (3), tokens/J: eps_s / (1 + G) */
    double emax;  /* largest tokens/s per watt of any profile; 0: none */
    double *eff;  /* [(model + 1) * ngpu_models + gpu model]: ctx_eff, once */

    /* Static classes. */
    int nnsc, *node_sc, *nsc_rep;
    int nwsc, *cand_wsc, *wsc_rep;
    tp_predset_t *stat; /* [wsc * nnsc + nsc] */

    /* Classes: (static class, model, priority, moved), members ascending (CSR). */
    int nk, *cand_k, *k_off, *k_mem;
    int *by_weight; /* every candidate in plan_unplaced_by_weight's order */
    /* Groups: (node static class, domain at depth group_level), nodes ascending
     * (CSR); g_anchor: that domain. */
    int ng, *node_g, *g_off, *g_mem, *g_anchor, group_level;
    double *g_minw; /* the lowest gpu_w of a group's nodes */
    /* Per AI model (index model + 1): every group, best GPU model first. */
    int **g_by_model;
    /* Demands: classes of one static class and AI model (any priority) ask
     * the same GPUs and watts of every node; k_dem[k] < ndem. The groups a
     * demand is statically eligible on, in g_by_model's order (CSR). */
    int ndem, *k_dem, *dg_off, *dg;
    side_t side;
    struct static_memo *sm; /* side work's static predicates (classes.c) */
    struct gang_lp *gl;     /* gangs inside the aggregated LP (gang_lp.c); NULL: none */
    struct gang_round *gr;  /* R's LP's gangs, rounded (gang_round.c); NULL: none */
    /* The exact model's tenant rows counted the candidates too (exact.c):
     * admission no longer guarantees them room. tn_use, while set ([tenant]
     * GPUs in use, groups included), makes plan_repair skip a candidate its
     * tenant has no room for and count what it places. */
    bool tn_rows;
    long *tn_use;
    /* Simplex iterations the exact model's runs with tenant rows (exact.c)
     * spent in this solve: they share one budget. */
    long ex_iters;
} ctx_t;

#define TP_SOLVER_MAX_GROUPS 512
#define TP_TRUST_MAX 4

typedef struct {
    int *cnode;      /* [nc]: node, or -1 */
    tp_load_t *load; /* base load plus this plan's placements */
} plan_t;

double tp_now_ms(void);
/* The indices 0..n) ordered by id(arg, i) (strcmp), then index. Caller frees. */
int *ctx_order_by_id(int n, const char *(*id)(const void *, int), const void *arg);

static inline bool ctx_static_ok(const ctx_t *c, int ci, int node)
{
    return c->stat[(size_t)c->cand_wsc[ci] * (size_t)c->nnsc +
                   (size_t)c->node_sc[node]] == 0;
}

/* classes.c */
int ctx_build_static(ctx_t *c);
/* The key of w's static class (everything tp_policy_static reads of a
 * workload, GPUs included) into key, which has room for ctx_wl_key_room(w)
 * ints; returns its length. */
int ctx_wl_key(const tp_workload_t *w, int *key);
size_t ctx_wl_key_room(const tp_workload_t *w);
int ctx_build_classes(ctx_t *c);
void ctx_free_classes(ctx_t *c);
/* tp_policy_static(w) of every node ([node]) and, when asked, the nodes where
 * it passes (*elig) and their count, memoised per static key of w; valid until
 * the next call. NULL: out of memory. */
const tp_predset_t *ctx_static_preds(const ctx_t *c, const tp_workload_t *w,
                                     const char **elig, int *nelig);
int ctx_static_memo_new(ctx_t *c);
void ctx_static_memo_free(ctx_t *c);
/* Where a test sets it, each solve adds to [0] the (workload, node) pairs
 * where the candidates' static table or side work's memo (ctx_static_preds,
 * its elig row and count) differ from tp_policy_static, and to [1] the side
 * work's pairs it checked. NULL outside the tests. */
extern long *tp_solver_static_probe;
/* > 0 where a test sets it: the memo keeps that many rows (then the scratch
 * row), whatever its memory budget. 0 outside the tests. */
extern int tp_solver_static_memo_rows;
void ctx_static_audit(const ctx_t *c);
/* eff(model, gpu_model) = tokens/s per watt of the profile; 0 without one. */
double ctx_eff(const tp_fleet_t *f, int model, int gpu_model);
/* Objective value of candidate ci on node n. */
double ctx_value(const ctx_t *c, int ci, int n);

/* heur.c */
int plan_init(plan_t *p, const ctx_t *c);
void plan_fini(plan_t *p);
int plan_copy(plan_t *dst, const plan_t *src, const ctx_t *c);
/* Does candidate ci fit node n under p's load (GPUs, node cap, every ancestor
 * domain cap)? Static eligibility is not checked here. */
bool plan_fits(const ctx_t *c, const plan_t *p, int ci, int n);
bool ctx_fits(const ctx_t *c, const tp_load_t *l, const tp_workload_t *w, int n);
/* draw > cap, by the policy's rule (tp_policy_over_cap): a sum landing
 * exactly on a cap is not over (inline: the LP's packing asks it millions of
 * times). */
static inline bool ctx_over(double draw, double cap)
{
    return tp_policy_over_cap(draw, cap);
}
void plan_place(const ctx_t *c, plan_t *p, int ci, int n);
/* True when no node of group g can fit ci for power at g's anchor domain or
 * above (a quick test; false does not mean one fits). */
bool plan_group_full(const ctx_t *c, const plan_t *p, int ci, int g);
/* The fullest node of group g where ci is eligible and fits; -1: none. */
int plan_best_fit(const ctx_t *c, const plan_t *p, int ci, int g);
/* Places candidates list[0..n) in that order, each on the best-valued group's
 * best-fit node; a class that found no room once is not tried again. */
int plan_repair(const ctx_t *c, plan_t *p, const int *list, int n);
/* All unplaced candidates, by weight (1 + priority) × gpus descending, moved
 * running work first among equals, then index. Caller frees. NULL on ENOMEM. */
int *plan_unplaced_by_weight(const ctx_t *c, const plan_t *p, int *n);
/* Every candidate in that order (sorted once per solve; ctx_build_classes
 * keeps it in c->by_weight). Caller frees. NULL on ENOMEM. */
int *plan_weight_order(const ctx_t *c);
/* First fit (the naive baseline): each candidate, in canonical order, on the
 * first eligible node with room in canonical (id) order. */
int plan_first_fit(const ctx_t *c, plan_t *p);
/* skip[i] == i: position i is open; otherwise it links towards the next open
 * one. Returns the first open position ≥ i (halving the paths it walks); the
 * caller keeps a never-closed sentinel at the end. */
static inline int plan_next_open(int *skip, int i)
{
    while (skip[i] != i) {
        skip[i] = skip[skip[i]];
        i = skip[i];
    }
    return i;
}
/* The least watts candidate ci draws on any node of group g. */
double plan_least_watts(const ctx_t *c, int ci, int g);
double plan_objective(const ctx_t *c, const plan_t *p, double *weighted);
/* solver.c: replaces *best with first fit (first_fit) or the priority greedy
 * from c->base when that plan is better. */
int ctx_try_plan(const ctx_t *c, plan_t *best, bool first_fit);

/* improve.c: ruin and recreate by value per watt; p only ever gets a plan of
 * higher objective. bound: a valid upper bound on p's objective plus the gang
 * LP's open gangs' term (1) (INFINITY or NaN: none); the ladder stops once
 * plan_improve_done(its best, bound); exchanges: then the gang exchanges and
 * chain exchanges. *tries: how many ruins (and exchanges, chains) were tried. */
int plan_improve(const ctx_t *c, plan_t *p, double bound, bool exchanges, int *tries);
/* Whether a plan of this objective is close enough to a valid bound (finite,
 * > 0) that the ladder stops climbing. */
bool plan_improve_done(double objective, double bound);

/* lp.c: aggregated LP (column and row generation), rounding, packing. */
typedef struct {
    double bound; /* valid upper bound on the objective; INFINITY when none */
    /* The bound before reshare() (lp.c): what the ladder stops on, so that
     * the plan is the same whether that pass runs (no_bound: it does not). */
    double stop;
    int rounds;
    bool stopped;   /* the iteration budget (c->it_budget) cut it short */
    bool gap_stop;  /* column generation stopped on a proven gap (LP_GAP_STOP) */
    bool optimal;   /* LP solved to optimality (bound is the LP's optimum) */
    int ruin_tries; /* set by solver.c's aggregate: plan_improve's *tries */
} lp_out_t;
int lp_aggregate(const ctx_t *c, plan_t *p, lp_out_t *out, char *msg, size_t msglen);

/* milp.c: a lexicographic MILP over a GLPK problem (GLP_MAX) whose columns
 * are all integer: maximises obj[0]·x, fixes it at its optimum with a row,
 * then obj[1], …; the start (or x = 0), which must be feasible, is the
 * incumbent, passed as a cutoff row so that GLPK's MIP presolver stays on in
 * every stage; reduced-cost fixing from each stage's LP carries over to the
 * later ones; cuts on; all stages together stop after node_budget
 * branch-and-bound nodes (stopped) or when iters reaches it_budget simplex
 * iterations (time_limited; 0: no budget) — deterministic work limits, no
 * clock, except that the naive baseline (milp_pairs) also sets wall_ms: on
 * large models GLPK's presolve and root cuts run long between callbacks, and
 * a plain GLPK MILP stops on its time limit. Runs inside glpk_guarded(). */
typedef struct {
    int nstages;
    const double *obj[3]; /* 1-based coefficients */
    bool integral[3];     /* the stage's values are integers */
    double mip_gap;
    long node_budget;
    bool no_search; /* LP bounds only: no branch and cut (stopped when not proven) */
    long it_budget; /* simplex iterations, LPs and searches together; 0: none */
    long iters;     /* in/out: iterations spent (exact.c's sub-MILPs share it) */
    double wall_ms; /* > 0: also GLPK's own clock (tm_lim), the naive baseline only */
    const double *start; /* [ncols + 1]: a feasible start, or NULL (x = 0) */
    double *x;           /* [ncols + 1]: the answer */
    /* Rounds of GMI cuts (cuts.c) on the first stage's LP before its search
     * when it does not prove the incumbent; 0: none. */
    int cut_rounds;
    bool cut_force; /* tests: the rounds run even when the LP proves it */
    /* out */
    int cuts, cuts_bad; /* cuts added; cuts the incumbent violated (dropped) */
    int rechecked;      /* presolver "infeasible" verdicts searched again */
    int solved;         /* stages proven optimal */
    bool found, time_limited, stopped;
    double value[3], bound[3];
    long nodes;
} lex_t;
int lex_solve(glp_prob_t *P, lex_t *lx);
/* What is left of lx's iteration budget, as GLPK's it_lim (INT_MAX: none). */
int lex_it_left(const lex_t *lx);
/* In a branch-and-cut callback of a search that began at P's iteration count
 * it0: has lx's budget run out (then time_limited)? At GLP_ICUTGEN it first
 * charges the cut pass to lx->iters (milp.c, CUT_NNZ_PER_ITER). */
bool lex_it_over(glp_tree_t *T, lex_t *lx, int it0);
/* cuts.c: Gomory mixed-integer cuts from P's optimal tableau rows, the
 * auxiliary variables of rows 1..m0 with integer coefficients on integer
 * columns counted as integers (GLPK's own generator does not). */
typedef struct {
    int *ind, *rind, *cind;
    double *val, *rval, *cval, *pi, *x;
    bool *rint;
    int cap, ncol; /* rows and columns the scratch holds */
    int cuts, bad; /* cuts added; cuts the incumbent violated (dropped) */
} cut_ws_t;
int cut_ws_init(cut_ws_t *w, int m, int n); /* for up to m rows, n columns */
void cut_ws_fini(cut_ws_t *w);
/* One round: at most max_cuts cuts that P's LP point violates, appended to P
 * as >= rows (none that inc, a feasible integer point or NULL, violates).
 * P: an optimal basis with its factorization. The number added. */
int gmi_round(glp_prob_t *P, int m0, const double *inc, int max_cuts, cut_ws_t *w);

/* GLPK 5.0's cut generators call glp_add_cols(pool, n) and fail on n = 0:
 * true at the root when the presolver left rows but no column, so that a
 * branch-and-cut callback switches its cuts off first (milp.c, exact.c). */
bool ios_cuts_would_fail(glp_tree_t *T);
/* Branch-and-bound nodes worth about a second (less under a shorter time limit)
 * for a MILP of nbin binaries: a deterministic budget. */
long milp_node_budget(const ctx_t *c, int nbin);
/* Simplex iterations (lex_t.it_budget) worth the time limit: the work budget
 * that stands where GLPK's wall-clock limit was (MILP_ITERS_PER_MS). */
long milp_iter_budget(const ctx_t *c);

/* A constraint matrix in GLPK's triplet form (1-based), grown by mat_push. */
typedef struct {
    int *ia, *ja;
    double *ar;
    size_t nnz, cap;
} mat_t;
int mat_push(mat_t *m, int i, int j, double a); /* TP_ENOMEM on failure */
void mat_fini(mat_t *m);

/* The naive baseline (TP_SOLVER_EXACT): the per-pair MILP — one binary per
 * eligible (candidate, node) from p's load — with the weighted objective in
 * one solve, stopped by the time limit or mip_gap. Places the answer into p. */
#define MILP_MAX_MS 1000.0
#define MILP_PAIR_NODES_PER_MS 400.0
/* Simplex iterations per ms of time limit for the MILPs (milp_iter_budget):
 * bench-solver-exact spends 5-7 per ms of CPU (cuts and presolve included),
 * so the budget ends a solve near the limit on an idle core. */
#define MILP_ITERS_PER_MS 10.0
typedef struct {
    double bound;
    bool optimal, time_limited, found;
    bool term1_optimal; /* term (1) of the answer is proven optimal */
    bool stopped;       /* the node budget ended the search early */
    int pairs, nodes;
    int gangs; /* side items the exact model decided (then bound covers them) */
    /* A tenant row held the gangs to the room admission left: the bound
     * then covers that restriction only, not every plan. */
    bool gang_limited;
    /* The tenant rows counted every candidate and the work admission held
     * back was in the model (a side item each): the bound covers it. */
    bool held_in;
} milp_out_t;
int milp_pairs(const ctx_t *c, plan_t *p, double mip_gap, milp_out_t *out, char *msg,
               size_t msglen);
/* lx's outcome as a milp_out_t (bound: Σ of the stages' bounds, weighted by
 * 1, ε_s, ε_e when there are several). */
void lex_report(const lex_t *lx, const ctx_t *c, milp_out_t *out);
/* exact.c: AUTO's exact model — the per-pair MILP with identical candidates
 * aggregated into one integer per (type, node), gangs (side items placed by
 * the greedy pass or waiting for room) as one binary per domain of their kind
 * plus member binaries, tenant limits as rows; lexicographic, inc (or NULL)
 * with the side items' gangs as they stand (the greedy pass's or, from
 * solver.c, the gang LP's) as incumbent (inc: a complete plan on p's load).
 * When its answer is no worse than the incumbent, gangs included, it
 * replaces p and the gangs' side items (flags, members, tenants' use);
 * out->bound then covers the decided gangs less their final term (1). */
int milp_exact(ctx_t *c, plan_t *p, const plan_t *inc, milp_out_t *out, char *msg,
               size_t msglen);
/* Eligible pairs (static and fitting alone), counting up to limit + 1. */
long milp_count_pairs(const ctx_t *c, const plan_t *p, long limit);

/* gang.c: gangs, tenant limits and reclaim (see the file's header). side_before
 * runs after preempt_run, before make_candidates: it places gangs and reclaiming
 * work on c->base, marks side.skip; side_after places held-back work on the
 * final plan and adds reasons for every side item that waits. */
int side_before(ctx_t *c, tp_result_t *r);
int side_after(ctx_t *c, plan_t *p, tp_result_t *r);
void side_fini(ctx_t *c);
/* Adds gpus (may be negative) to tenant t's use and every group above it. */
void side_charge(ctx_t *c, int t, long gpus);

/* gang.c, shared with gang_lp.c: GPUs tenant t (and every group above it) may
 * still take under the use counts `use`; whether gang w fits whole in the
 * g-th domain of its kind (side.k_*) on l — best fit, members applied to l and
 * listed in members — or in any (id order); w's static eligibility per node;
 * side item it's members (NULL: it waits), with tenants' use and term (1). */
long side_room(const ctx_t *c, const long *use, int t);
/* Term (1) of the side items as they stand: held back by a tenant limit
 * (flag 2, placed or not later), placed by reclaim or single-node (fixed:
 * every method keeps them), and the other gangs (free: the greedy pass's,
 * which a model may re-decide; nfree of them). */
typedef struct {
    double held, fixed, free_gangs;
    int nfree;
} side_sums_t;
void side_sums(const ctx_t *c, side_sums_t *out);
/* Adds gpus (may be negative) to use[] of tenant t and every group above it. */
void side_use_add(const ctx_t *c, long *use, int t, long gpus);
bool side_gang_in(const ctx_t *c, tp_load_t *l, const tp_workload_t *w, const char *elig,
                  int g, int *members);
/* side_gang_in, with cheap: each member on the node that draws least (then
 * the fullest) instead of the fullest. */
bool side_gang_in_by(const ctx_t *c, tp_load_t *l, const tp_workload_t *w,
                     const char *elig, int g, int *members, bool cheap);
bool side_place_gang(const ctx_t *c, tp_load_t *l, const tp_workload_t *w,
                     const char *elig, int *members);
int side_static_row(const ctx_t *c, const tp_workload_t *w, char *elig);
/* heur.c: first fit's eligibility bitsets are skipped (each node tested
 * instead) above this many 64-bit words; 4M. Tests lower it to reach that
 * path on small fleets; nothing else writes it. */
extern size_t tp_solver_elig_max_words;
/* solver.c: where a test sets it, domain_bound stores there each value it
 * computes (its bits are otherwise hidden: the LP's bound is nearly always
 * below it). NULL outside the tests; solves never read it. */
extern double *tp_solver_domain_bound_probe;
/* Builds side.k_* for kind (kind < 0: the whole fleet) on first use. */
int side_kind_lists(ctx_t *c, int kind);

/* exact.c: rounds of GMI cuts at the exact model's root (EXACT_CUT_ROUNDS);
 * tests set it (0: none) and read tp_exact_cut_stats ([0] cuts added, [1]
 * cuts the incumbent violated, dropped: the tests expect 0) when not NULL. */
extern int tp_exact_cut_rounds;
extern long *tp_exact_cut_stats;
/* exact.c, tests: the rounds run even when the LP proves the incumbent, to
 * check the cuts against exhaustive optima (lex_t.cut_force). */
extern bool tp_exact_cut_force;

/* bound_root.c: a bound on the candidates and free gangs (side items not
 * fixed nor held; term (1)) on c->base; INFINITY where a node has no domain. */
double root_knapsack(const ctx_t *c);
/* bound_root.c: where a test sets it, root_knapsack lowers [0] to the
 * value of its cutting planes on R(ν) (rk_cuts) and [1] to its subgradient
 * steps' (rk_subgrad): parts of the bound otherwise hidden under the min of
 * the others. NULL outside the tests; solves never read it. */
extern double *tp_solver_rk_probe;
/* Tests: when not NULL, the least of rk_cuts' node-level L(ν) (bound_root.c). */
extern double *tp_solver_rk_node_probe;
int side_gang_set(ctx_t *c, int it, const int *members);

/* gang_lp.c: gang classes inside the aggregated LP on large inputs (see the
 * file's header). solver.c: gang_lp_begin takes the gangs the greedy pass
 * decided (placed or waiting for room; not reclaim's, not those a limit holds)
 * off c->base, keeps the greedy pass's plan (gangs plus the greedy orders) as
 * a safety net and re-initialises p on the lifted load; returns 1 when c->gl
 * is set (then gang_lp_end after the LP's plan and repair: the rest of the
 * gangs greedily, all chosen gangs onto c->base; gang_lp_finish after the
 * safety nets: keeps the better of that and the greedy pass's plan, commits
 * the side items; gang_lp_free always). gang_lp_value: term (1) of every open
 * gang that could be placed at all (a bound); gang_lp_placed: of those placed. */
struct gang_lp;
/* Do the static predicates treat members of a and b alike (GPUs too)? */
bool gang_same_static(const tp_workload_t *a, const tp_workload_t *b);
int gang_lp_begin(ctx_t *c, plan_t *p);
int gang_lp_end(ctx_t *c, plan_t *p);
int gang_lp_finish(ctx_t *c, plan_t *p);
double gang_lp_value(const ctx_t *c);
double gang_lp_placed(const ctx_t *c);
void gang_lp_free(ctx_t *c);
/* For ruin and recreate (improve.c), after gang_lp_end (chosen gangs on
 * c->base): the open gangs 0..count), each one's work, members (NULL: waits),
 * class and N × the least draw of one member in any domain that could seat it
 * on the lifted base; the tenants' use with the chosen gangs. gang_lp_seat:
 * the gang on l in the domain where its members draw least, within use's room
 * (then charged to use); gang_lp_set: its members (NULL: waits), moving
 * c->base and the use with it. */
int gang_lp_count(const ctx_t *c);
const tp_workload_t *gang_lp_work(const ctx_t *c, int i);
const int *gang_lp_members(const ctx_t *c, int i);
int gang_lp_class(const ctx_t *c, int i);
const long *gang_lp_use(const ctx_t *c);
double gang_lp_least_draw(const ctx_t *c, int i);
bool gang_lp_seat(const ctx_t *c, tp_load_t *l, long *use, int i, int *members);
int gang_lp_set(const ctx_t *c, int i, const int *members);
/* improve.c's exchange: N × the least draw of one member of open gang i in
 * the r-th domain of its kind on the lifted base (INFINITY: r cannot seat
 * one); gang_lp_seat_in: gang_lp_seat confined to that domain. */
double gang_lp_domain_draw(const ctx_t *c, int i, int r);
bool gang_lp_seat_in(const ctx_t *c, tp_load_t *l, long *use, int i, int r, int *members);

/* gang_round.c: where c->gr is set, gang_round_take rounds the gangs of P,
 * R(ν)'s LP in rk_cuts (bound_root.c), once: column k + 1 is item citem[k]
 * (side[item]: a gang's side item, -1: single-node work) in domain cdom[k].
 * gang_round_domain: the domain it gave gang LP gang i (-1: none). */
typedef struct gang_round gang_round_t;
typedef struct {
    int ncol;
    const int *citem, *cdom, *side;
} gang_round_lp_t;
gang_round_t *gang_round_new(void);
void gang_round_free(gang_round_t *r);
void gang_round_take(const ctx_t *c, glp_prob_t *P, const gang_round_lp_t *lp);
int gang_round_domain(const gang_round_t *r, int i);

/* lp.c's view for the hooks of gang_lp.c: its problem, rows and duals. */
typedef struct {
    glp_prob_t *P;
    const int *grow; /* [group] first row of its block (GPUs, sizes, watts); 0: none */
    const int *drow; /* [domain] its row; 0: none */
    int nsz;
    const int *sizes;
    double *ug, *uw, *us;       /* separate: use per group (added to) */
    const double *pg, *pw, *ps; /* price: duals per group (pw: with the domains') */
} lp_view_t;
/* Hooks: seed columns; after lp.c built a group block (first row r) or a domain
 * row, add the gang columns' coefficients; in separate, add the gangs' use and
 * add violated rows of gang domains (returns rows added); in price, add
 * columns (returns how many) and raise *lagr; the tree bound's extra points
 * (b: watts per GPU, a: value per GPU) of group j under mode (0: the duals'
 * multipliers, 1: full value) and its constant part; rounding places gangs on
 * p from the LP's counts. */
int gang_lp_seed(const ctx_t *c, const lp_view_t *v);
int gang_lp_group_rows(const ctx_t *c, const lp_view_t *v, int j);
int gang_lp_domain_row(const ctx_t *c, const lp_view_t *v, int d);
int gang_lp_separate(const ctx_t *c, const lp_view_t *v);
int gang_lp_price(const ctx_t *c, const lp_view_t *v, double *lagr);
int gang_lp_nclasses(const ctx_t *c);
int gang_lp_points(const ctx_t *c, int j, int mode, const double **b, const double **a);
/* Whole gangs of a kind in the tree bound: n items, each worth slope per
 * watt for up to `watts` watts, drawn in domain dom and every domain above. */
int gang_lp_items(const ctx_t *c, int mode, const double **slope, const double **watts,
                  const int **dom);
double gang_lp_tree_const(const ctx_t *c, int mode);
int gang_lp_round(const ctx_t *c, plan_t *p);

/* glpk_guard.c: runs fn(arg) with GLPK's error hook installed: a GLPK error
 * frees every GLPK object of this thread (glp_free_env) and returns
 * TP_ESOLVER with GLPK's message in msg — then the caller must not touch any
 * GLPK object fn made; otherwise fn's return value, which must be 0 or
 * TP_ENOMEM (fn reports solver outcomes through arg, never as TP_ESOLVER). */
int glpk_guarded(int (*fn)(void *arg), void *arg, char *msg, size_t msglen);

/* preempt.c: stops the least-priority preemptible running work until every cap
 * holds (or nothing preemptible is left), then restarts in place what fits
 * again. Fills c->preempted, updates c->base, appends preemptions to r, and
 * returns the caps still exceeded in *unmet (caller frees each and the array). */
int preempt_run(ctx_t *c, tp_result_t *r, char ***unmet, int *nunmet);

#endif
