/*
 * solver/bench/bench_solver.c — `make bench-solver`: the placement solver against
 * two baselines run in the same process, on generated fleets and on the real
 * Alibaba GPU v2023 fleet and pods. Not a test: it prints a table.
 *
 *   trustplace   tp_solve(), method AUTO (aggregated LP + packing at scale)
 *   greedy       first fit in input order, same eligibility (TP_SOLVER_GREEDY)
 *   naive-milp   a plain GLPK MILP: one binary per eligible (workload, node)
 *                pair (TP_SOLVER_EXACT), presolve and cuts on, the weighted
 *                objective, the same time limit as trustplace (--time-limit-ms,
 *                10 s); skipped above NAIVE_MAX_PAIRS binaries, which GLPK
 *                cannot even load and solve the root LP of within that limit
 *
 * Instances: 1 = 1,000 × 200, 2 = 10,000 × 2,000, 3 = 10,000 × 1 + 40,000
 * running, 4 = the Alibaba fleet and pods, 5 = a contended tenth of them;
 * contended (demand exceeds supply): 6 = 10,000 × 10,000, 7 = 10,000 × 30,000,
 * 8 = 50,000 × 150,000, 9 = demand response: 10,000 nodes with 10,000 running
 * and 10,000 pending, every row's observed cap at 75% of its declared cap;
 * 10 = mixed: 10,000 nodes, 2,000 pending of which 10% are gangs of 2–16 nodes
 * (together: rack up to the 8-node rack, row above), 20 tenants (4 groups)
 * each running exactly its quota (one-GPU work), limits 1.5 × quota; 11 = the
 * same, gang-heavy: 50% of the pending workloads are gangs.
 * --only N runs instance N (or "generated" / "alibaba" / "contended");
 * --runs R; --time-limit-ms T.
 *
 * Each cell is the median of --runs runs (5; 3 for the contended sizes) of the
 * solve time (wall clock) and of the process CPU time spent in tp_solve — the
 * machine may be shared, and CPU time is what the solver itself used; a method
 * runs once when a run takes longer than 5 s. Placed GPUs, priority-weighted
 * GPUs, objective, bound, gap and fleet tokens/J come from the same result.
 */
#include "gen/gen.h"
#include "model/model.h"
#include "policy/policy.h"
#include "solver/solver.h"
#include "traces/alibaba.h"
#include "util/rng.h"

#include <getopt.h>
#include <stdbool.h>
#include <time.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW TP_GEN_DEFAULT_NOW
#define NAIVE_MAX_PAIRS 3000000LL

typedef struct {
    char name[128];
    tp_fleet_t *f;
    tp_state_t *s;
    tp_workloads_t *pending, *running;
} inst_t;

static void inst_free(inst_t *in)
{
    tp_workloads_free(in->pending);
    tp_workloads_free(in->running);
    tp_state_free(in->s);
    tp_fleet_free(in->f);
    memset(in, 0, sizeof *in);
}

static int fail(const char *what, const tp_error_t *err)
{
    fprintf(stderr, "bench-solver: %s: %s\n", what, err->text);
    return -1;
}

static char *dump(const json_t *doc)
{
    return json_dumps(doc, JSON_COMPACT);
}

static int load_fleet(json_t *doc, tp_fleet_t **f, tp_error_t *err)
{
    char *text = doc ? dump(doc) : NULL;
    int rc = text ? tp_fleet_load_buffer("fleet", text, strlen(text), f, err) : -1;
    free(text);
    json_decref(doc);
    return rc;
}

static int load_wl(json_t *doc, const tp_fleet_t *f, tp_wl_kind_t kind,
                   tp_workloads_t **w, tp_error_t *err)
{
    char *text = doc ? dump(doc) : NULL;
    int rc =
        text ? tp_workloads_load_buffer("workloads", text, strlen(text), f, kind, w, err)
             : -1;
    free(text);
    json_decref(doc);
    return rc;
}

/* Running work that fits, dealt to random eligible nodes within every cap:
 * without tenants, `count` one-GPU workloads (like inference replicas); with
 * tenants (the mixed case), generated sizes (1/2/4/8 GPUs) on the fullest of
 * the eligible nodes probed, as a packing scheduler left them, each to the
 * first tenant it still fits under the quota of, until `count` GPUs run — every
 * tenant exactly at its quota when count = Σ quotas. */
static json_t *gen_running(const tp_fleet_t *f, const tp_state_t *s, int count,
                           uint64_t seed, tp_error_t *err)
{
    int *left = calloc((size_t)f->ntenants + 1, sizeof *left), tcur = 0;
    json_t *cand = tp_gen_workloads(f, count * 2, seed, err), *out = json_array();
    tp_workloads_t *ws = NULL;
    tp_load_t *l = tp_load_new(f, s, NULL);
    tp_rng_t rng;
    int made = 0, nmade = 0; /* GPUs, workloads */
    tp_rng_init(&rng, seed);
    if (!cand || !out || !l || !left)
        goto done;
    for (int t = 0; t < f->ntenants; t++) {
        bool group = false;
        for (int u = 0; u < f->ntenants; u++)
            group |= f->tenants[u].parent == t;
        left[t] = group ? 0 : f->tenants[t].quota_gpus;
    }
    for (size_t i = 0; i < json_array_size(cand) && f->ntenants == 0; i++)
        json_object_set_new(json_array_get(cand, i), "gpus", json_integer(1));
    if (load_wl(json_copy(cand), f, TP_WL_PENDING, &ws, err) < 0)
        goto done;
    for (int i = 0; i < ws->n && made < count; i++) {
        const tp_workload_t *w = &ws->w[i];
        int start = (int)tp_rng_below(&rng, (uint64_t)f->nnodes), best = -1;
        int t = tcur;
        while (t < f->ntenants && left[t] < w->gpus)
            t++;
        if (f->ntenants && t >= f->ntenants)
            continue; /* no tenant has room for this size */
        for (int k = 0; k < 256; k++) {
            int n = (start + k) % f->nnodes;
            if (tp_policy_check(f, s, l, n, w, NOW))
                continue;
            if (best < 0 || l->gpus_used[n] > l->gpus_used[best])
                best = n;
            if (!f->ntenants)
                break; /* one-GPU work: the first that fits */
        }
        if (best < 0)
            continue;
        tp_load_apply(l, f, best, w->gpus, tp_fleet_gpu_watts(f, best, w->model), +1);
        json_t *o = json_deep_copy(json_array_get(cand, (size_t)i));
        char id[32];
        snprintf(id, sizeof id, "r-%06d", ++nmade);
        json_object_set_new(o, "id", json_string(id));
        json_object_set_new(o, "node", json_string(f->nodes[best].id));
        if (f->ntenants) {
            json_object_set_new(o, "tenant", json_string(f->tenants[t].name));
            left[t] -= w->gpus;
            while (tcur < f->ntenants && left[tcur] == 0)
                tcur++;
        }
        json_array_append_new(out, o);
        made += w->gpus;
    }
done:
    free(left);
    json_decref(cand);
    tp_workloads_free(ws);
    tp_load_free(l);
    if (made < count) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static int make_generated(inst_t *in, int nodes, int pending, int running, int tenants,
                          double gangs, tp_error_t *err)
{
    tp_gen_fleet_opts_t fo = {.nodes = nodes, .seed = 42, .tenants = tenants};
    char *text;
    int rc;
    snprintf(in->name, sizeof in->name, "%d nodes x %d pending%s", nodes, pending,
             running ? " + running" : "");
    if (running)
        snprintf(in->name, sizeof in->name, "%dk nodes x %d + %dk running", nodes / 1000,
                 pending, running / 1000);
    if (load_fleet(tp_gen_fleet(&fo, err), &in->f, err) < 0)
        return fail("fleet", err);
    json_t *st = tp_gen_state(in->f, 7, NOW, err);
    if (!st || !(text = dump(st)))
        return fail("state", err);
    json_decref(st);
    rc = tp_state_load_buffer("state", text, strlen(text), in->f, &in->s, err);
    free(text);
    if (rc < 0)
        return fail("state", err);
    if (load_wl(tp_gen_workloads_gangs(in->f, pending, 11, gangs, err), in->f,
                TP_WL_PENDING, &in->pending, err) < 0)
        return fail("workloads", err);
    if (tenants) { /* every tenant runs at its quota */
        running = 0;
        for (int t = 0; t < in->f->ntenants; t++)
            if (in->f->tenants[t].parent >= 0)
                running += in->f->tenants[t].quota_gpus;
        snprintf(
            in->name, sizeof in->name,
            "mixed: %dk nodes x %d (%.0f%% gangs of 2-16, together rack|row) + %dk GPUs "
            "running, %d tenants at quota",
            nodes / 1000, pending, 100 * gangs, running / 1000, tenants);
    }
    if (running) {
        json_t *r = gen_running(in->f, in->s, running, 13, err);
        if (!r) {
            fprintf(stderr, "bench-solver: could not generate %d running workloads\n",
                    running);
            return -1;
        }
        if (load_wl(r, in->f, TP_WL_RUNNING, &in->running, err) < 0)
            return fail("running", err);
    } else if (!(in->running = tp_workloads_new_empty())) {
        return -1;
    }
    return 0;
}

/* Every `nstride`-th node and `pstride`-th GPU pod when subsampling (1: all). */
static json_t *stride(json_t *arr, int k)
{
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(arr); i += (size_t)k)
        json_array_append(out, json_array_get(arr, i));
    json_decref(arr);
    return out;
}

static int make_alibaba(inst_t *in, const char *shared, int nstride, int pstride,
                        tp_error_t *err)
{
    char path[1024];
    tp_alibaba_stats_t ns, ps;
    json_t *fleet, *pods;
    snprintf(path, sizeof path,
             "%s/traces/alibaba-gpu-v2023/openb_node_list_gpu_node.csv", shared);
    if (tp_alibaba_fleet(path, NULL, &fleet, &ns, err) < 0)
        return fail("alibaba fleet", err);
    if (nstride > 1) {
        json_t *nodes = stride(json_incref(json_object_get(fleet, "nodes")), nstride);
        json_object_set_new(fleet, "nodes", nodes);
    }
    if (load_fleet(fleet, &in->f, err) < 0)
        return fail("alibaba fleet", err);
    snprintf(path, sizeof path,
             "%s/traces/alibaba-gpu-v2023/openb_pod_list_gpuspec33.csv", shared);
    if (tp_alibaba_pods(path, &pods, &ps, err) < 0)
        return fail("alibaba pods", err);
    if (pstride > 1)
        pods = stride(pods, pstride);
    if (load_wl(pods, in->f, TP_WL_PENDING, &in->pending, err) < 0)
        return fail("alibaba pods", err);
    in->s = tp_state_new_empty(in->f);
    in->running = tp_workloads_new_empty();
    snprintf(in->name, sizeof in->name, "alibaba %d nodes x %d pods", in->f->nnodes,
             in->pending->n);
    return in->s && in->running ? 0 : -1;
}

static double tp_bench_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const char *label;
    int ok; /* 1 a result, 0 skipped, -1 no solution */
    char note[96];
    double ms, cpu, placed, weighted, obj, bound, gap, tpj;
    int runs;
    bool limited;
} row_t;

static void measure(const inst_t *in, tp_solver_method_t m, double limit_ms, double gap,
                    int runs, row_t *row)
{
    tp_solver_opts_t o = {
        .now = NOW, .time_limit_ms = limit_ms, .mip_gap = gap, .method = m};
    double t[1024], u[1024];
    int k = 0;
    row->ok = 1;
    for (; k < runs && k < 1024; k++) {
        tp_solution_t *sol;
        tp_error_t err;
        double t0 = tp_bench_ms(), c0 = cpu_ms();
        if (tp_solve(in->f, in->s, in->pending, in->running, &o, &sol, &err) < 0) {
            row->ok = -1;
            row->ms = tp_bench_ms() - t0;
            row->runs = 1;
            if (err.code == TP_ESOLVER && strstr(err.text, "no integer solution"))
                snprintf(row->note, sizeof row->note, "no solution in %.0f s",
                         limit_ms / 1000);
            else
                snprintf(row->note, sizeof row->note, "error: %.80s", err.text);
            return;
        }
        const tp_result_t *r = sol->result;
        t[k] = r->solve_ms;
        u[k] = cpu_ms() - c0;
        row->limited |= sol->time_limited;
        row->placed = sol->placed_gpus;
        row->weighted = sol->weighted_gpus;
        row->obj = r->objective;
        row->bound = r->bound;
        row->gap = r->gap;
        row->tpj = sol->tokens_per_j;
        tp_solution_free(sol);
        if (t[k] > 5000) {
            k++;
            break;
        }
    }
    qsort(t, (size_t)k, sizeof t[0], by_double);
    qsort(u, (size_t)k, sizeof u[0], by_double);
    row->runs = k;
    row->ms = t[k / 2];
    row->cpu = u[k / 2];
}

static void print_row(const row_t *r, double best_bound)
{
    if (r->ok == 0) {
        printf("  %-11s %s\n", r->label, r->note);
        return;
    }
    if (r->ok < 0) {
        printf("  %-11s %10.1f  %s\n", r->label, r->ms, r->note);
        return;
    }
    char b[32], g[32];
    double bound = isnan(r->bound) ? best_bound : r->bound;
    snprintf(b, sizeof b, isnan(bound) ? "-" : "%.2f", bound);
    if (isnan(bound) || bound <= 0)
        snprintf(g, sizeof g, "-");
    else
        snprintf(g, sizeof g, "%.4f%%", 100 * (bound - r->obj) / bound);
    printf("  %-11s %10.1f %9.1f %9.0f %11.0f %13.4f %13s %9s %9.3f%s\n", r->label, r->ms,
           r->cpu, r->placed, r->weighted, r->obj, b, g, r->tpj,
           r->runs == 1 ? "  (1 run)" : "");
    if (r->limited)
        printf("  %-11s (time limit reached: best incumbent, completed greedily)\n", "");
}

/* What tp_policy_static reads of a workload, as text: workloads with the same
 * key have the same eligible nodes, so pairs are counted once per key. */
typedef struct {
    char key[512];
    int idx;
} wkey_t;

static int by_wkey(const void *a, const void *b)
{
    const wkey_t *x = a, *y = b;
    int r = strcmp(x->key, y->key);
    return r ? r : x->idx - y->idx;
}

static long long count_pairs(const inst_t *in)
{
    int nw = in->pending->n;
    wkey_t *k = malloc(((size_t)nw + 1) * sizeof *k);
    long long pairs = 0, per = 0;
    if (!k)
        return -1;
    for (int i = 0; i < nw; i++) {
        const tp_workload_t *w = &in->pending->w[i];
        const tp_req_t *q = &w->req;
        int o = snprintf(k[i].key, sizeof k[i].key, "%d %u %d %d %d %lld %d %d|", w->gpus,
                         q->tee_mask, q->gpu_cc, q->attestation, (int)q->min_status,
                         (long long)q->max_age_s, (int)q->residency, w->any_gpu_model);
        for (int g = 0; g < w->ngpu_models && o < 400; g++)
            o += snprintf(k[i].key + o, sizeof k[i].key - (size_t)o, "%d,",
                          w->gpu_models[g]);
        o += snprintf(k[i].key + o, sizeof k[i].key - (size_t)o, "|");
        for (int r = 0; r < w->nresidency && o < 500; r++)
            o += snprintf(k[i].key + o, sizeof k[i].key - (size_t)o, "%d,",
                          w->residency[r]);
        k[i].idx = i;
    }
    qsort(k, (size_t)nw, sizeof *k, by_wkey);
    for (int i = 0; i < nw; i++) {
        if (i == 0 || strcmp(k[i].key, k[i - 1].key)) {
            per = 0;
            for (int n = 0; n < in->f->nnodes; n++)
                per += tp_policy_static(in->f, in->s, n, &in->pending->w[k[i].idx],
                                        NOW) == 0;
        }
        pairs += per;
    }
    free(k);
    return pairs;
}

static int run_instance(inst_t *in, int runs, double limit_ms)
{
    row_t ours = {.label = "trustplace"}, greedy = {.label = "greedy"},
          naive_row = {.label = "naive-milp"};
    long long pairs = count_pairs(in);
    printf("%s  (%d running; %lld eligible pairs)\n", in->name, in->running->n, pairs);
    measure(in, TP_SOLVER_AUTO, limit_ms, 0, runs, &ours);
    measure(in, TP_SOLVER_GREEDY, limit_ms, 0, runs, &greedy);
    if (pairs <= NAIVE_MAX_PAIRS)
        measure(in, TP_SOLVER_EXACT, limit_ms, 0, runs, &naive_row);
    else {
        naive_row.ok = 0;
        snprintf(naive_row.note, sizeof naive_row.note,
                 "skipped: %lld binaries (> %lld; see 1,000 x 200)", pairs,
                 NAIVE_MAX_PAIRS);
    }
    print_row(&ours, NAN);
    print_row(&greedy, ours.bound);
    print_row(&naive_row, NAN);
    printf("  -> weighted GPUs vs greedy: %+.0f%s\n", ours.weighted - greedy.weighted,
           ours.weighted + 1e-9 < greedy.weighted ? "  FEWER THAN GREEDY" : "");
    fflush(stdout);
    return 0;
}

/* Demand response: every row (depth-1 domain) observed at 75% of its
 * declared cap, with the running work in place. */
static void cap_rows(inst_t *in, double factor)
{
    for (int d = 0; d < in->f->ndomains; d++)
        if (in->f->domains[d].depth == 1)
            in->s->domain_cap_w[d] = factor * in->f->domains[d].cap_w;
    snprintf(in->name, sizeof in->name,
             "demand response: %dk nodes x %d + %dk running, rows at 75%% of cap",
             in->f->nnodes / 1000, in->pending->n, in->running->n / 1000);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"shared", required_argument, 0, 's'},
                                         {"runs", required_argument, 0, 'r'},
                                         {"time-limit-ms", required_argument, 0, 't'},
                                         {"only", required_argument, 0, 'o'},
                                         {0, 0, 0, 0}};
    const char *shared = "../shared";
    const char *only = NULL;
    int runs = 0, c;
    double limit_ms = 10000;
    tp_error_t err;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 's')
            shared = optarg;
        else if (c == 'r')
            runs = atoi(optarg);
        else if (c == 't')
            limit_ms = atof(optarg);
        else if (c == 'o')
            only = optarg;
        else
            return 2;
    }
    printf("solver benchmark: median of %d runs (contended: %d); time limit %.0f ms for "
           "every method; solve_ms (wall) includes aggregation, reasons and the "
           "validator; cpu_ms is process CPU time in tp_solve\n",
           runs > 0 ? runs : 5, runs > 0 ? runs : 3, limit_ms);
    printf("  %-11s %10s %9s %9s %11s %13s %13s %9s %9s\n", "method", "solve_ms",
           "cpu_ms", "GPUs", "weighted", "objective", "bound", "gap", "tokens/J");
    fflush(stdout);
    struct {
        int id, nodes, pending, running;
        bool dr;
        int tenants;
        double gangs;
    } gen[] = {{1, 1000, 200, 0, false, 0, 0},       {2, 10000, 2000, 0, false, 0, 0},
               {3, 10000, 1, 40000, false, 0, 0},    {10, 10000, 2000, 0, false, 20, 0.1},
               {11, 10000, 2000, 0, false, 20, 0.5}, {6, 10000, 10000, 0, false, 0, 0},
               {7, 10000, 30000, 0, false, 0, 0},    {8, 50000, 150000, 0, false, 0, 0},
               {9, 10000, 10000, 10000, true, 0, 0}};
    for (size_t i = 0; i < sizeof gen / sizeof gen[0]; i++) {
        inst_t in = {0};
        bool contended = gen[i].id >= 6 && gen[i].id <= 9;
        if (only && !(strstr("generated", only) && !contended) &&
            !(contended && strstr("contended", only)) && atoi(only) != gen[i].id)
            continue;
        if (make_generated(&in, gen[i].nodes, gen[i].pending, gen[i].running,
                           gen[i].tenants, gen[i].gangs, &err) < 0)
            return 1;
        if (gen[i].dr)
            cap_rows(&in, 0.75);
        run_instance(&in, runs > 0 ? runs : contended ? 3 : 5, limit_ms);
        inst_free(&in);
    }
    inst_t a = {0};
    if (only && !strstr("alibaba", only) && atoi(only) != 4 && atoi(only) != 5)
        return 0;
    if (make_alibaba(&a, shared, 1, 1, &err) == 0) {
        if (!only || atoi(only) != 5)
            run_instance(&a, runs > 0 ? runs : 5, limit_ms);
        inst_free(&a);
        /* A contended tenth: ~100 nodes, ~600 pods (the naive MILP's case). */
        if ((!only || atoi(only) != 4) && make_alibaba(&a, shared, 12, 12, &err) == 0) {
            run_instance(&a, runs > 0 ? runs : 5, limit_ms);
            inst_free(&a);
        }
    } else {
        printf("alibaba: skipped (no %s/traces/alibaba-gpu-v2023)\n", shared);
    }
    return 0;
}
