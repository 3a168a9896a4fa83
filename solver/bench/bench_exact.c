/*
 * solver/bench/bench_exact.c — `make bench-solver-exact`: does `place` (method
 * AUTO) prove the optimum of the lexicographic objective on small contended
 * inputs (issue 11, "exact when small")? Not a test: it prints a table.
 *
 * Instances: generated fleets of --nodes nodes (60) with --workloads pending
 * workloads (150), seeds 1..--seeds (10): fleet seed s, state seed 100 + s,
 * workloads seed 200 + s. Generated racks may draw 80% of their nodes' full
 * load, so rack caps bind. Per seed: the eligible pairs, the method that won,
 * proven optimal or not, term (1) proven or not (⌊bound⌋ = ⌊objective⌋),
 * objective, bound, gap, wall and CPU time of tp_solve. The last line counts
 * the seeds proven within --within-ms (1,000) and those with term (1) proven.
 *
 * Last measured (2026-12-03, after the root's GMI cuts, solver/cuts.c, and
 * the crossover with the aggregated plan and reduced-cost RINS, exact.c;
 * docs/solver.md, Benchmark; load ~2): proven 10 / 7 / 1 / 0 of 10 at
 * 12 x 20, 20 x 40, 30 x 60, 60 x 150 (within 1 s: 10 / 6 / 1 / 0); term
 * (1) proven 10 / 9 / 7 / 0; sums of objectives 1,158.07 / 2,466.97 /
 * 3,929.23 / 9,953.54; at 60 x 150 term (1) sums to 9,951 (CBC in 30 s:
 * 9,959), gap 0.12-0.76 %, 761-1,552 ms CPU (sum 10.6 s).
 */
#include "gen/gen.h"
#include "model/model.h"
#include "policy/policy.h"
#include "solver/solver.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOW TP_GEN_DEFAULT_NOW

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int load(json_t *doc, const char *what, tp_fleet_t **f, const tp_fleet_t *fl,
                tp_state_t **s, tp_workloads_t **w, tp_error_t *err)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    int rc = -1;
    json_decref(doc);
    if (!text)
        return tp_error_set(err, TP_ENOMEM, "%s: generation failed", what);
    if (f)
        rc = tp_fleet_load_buffer(what, text, strlen(text), f, err);
    else if (s)
        rc = tp_state_load_buffer(what, text, strlen(text), fl, s, err);
    else
        rc =
            tp_workloads_load_buffer(what, text, strlen(text), fl, TP_WL_PENDING, w, err);
    free(text);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"nodes", required_argument, 0, 'n'},
                                         {"workloads", required_argument, 0, 'w'},
                                         {"seeds", required_argument, 0, 's'},
                                         {"first-seed", required_argument, 0, 'f'},
                                         {"within-ms", required_argument, 0, 'm'},
                                         {"gangs", required_argument, 0, 'g'},
                                         {0, 0, 0, 0}};
    int nodes = 60, nwl = 150, seeds = 10, first = 1, c;
    double within = 1000, gangs = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'n')
            nodes = atoi(optarg);
        else if (c == 'w')
            nwl = atoi(optarg);
        else if (c == 's')
            seeds = atoi(optarg);
        else if (c == 'f')
            first = atoi(optarg);
        else if (c == 'm')
            within = atof(optarg);
        else if (c == 'g')
            gangs = atof(optarg);
        else
            return 2;
    }
    if (nodes < 1 || nwl < 1 || seeds < 1) {
        fprintf(stderr,
                "bench-solver-exact: --nodes, --workloads, --seeds must be >= 1\n");
        return 2;
    }
    printf("exact when small: %d nodes x %d pending (gang share %.2f), AUTO, default "
           "time limit\n",
           nodes, nwl, gangs);
    printf("  %4s %7s %-8s %6s %6s %12s %12s %9s %9s %9s\n", "seed", "pairs", "method",
           "proven", "t1", "objective", "bound", "gap", "wall_ms", "cpu_ms");
    int proven = 0, in_time = 0, t1 = 0;
    for (int s = first; s < first + seeds; s++) {
        tp_error_t err;
        tp_fleet_t *f = NULL;
        tp_state_t *st = NULL;
        tp_workloads_t *w = NULL, *none = tp_workloads_new_empty();
        tp_gen_fleet_opts_t fo = {.nodes = nodes, .seed = (uint64_t)s};
        tp_solution_t *sol = NULL;
        if (load(tp_gen_fleet(&fo, &err), "fleet", &f, NULL, NULL, NULL, &err) < 0 ||
            load(tp_gen_state(f, 100 + (uint64_t)s, NOW, &err), "state", NULL, f, &st,
                 NULL, &err) < 0 ||
            load(tp_gen_workloads_gangs(f, nwl, 200 + (uint64_t)s, gangs, &err),
                 "workloads", NULL, f, NULL, &w, &err) < 0) {
            fprintf(stderr, "bench-solver-exact: seed %d: %s\n", s, err.text);
            return 1;
        }
        long pairs = 0;
        for (int i = 0; i < w->n; i++)
            for (int n = 0; n < f->nnodes; n++)
                pairs += tp_policy_static(f, st, n, &w->w[i], NOW) == 0;
        tp_solver_opts_t o = {.now = NOW, .method = TP_SOLVER_AUTO};
        double c0 = cpu_ms();
        if (tp_solve(f, st, w, none, &o, &sol, &err) < 0) {
            fprintf(stderr, "bench-solver-exact: seed %d: %s\n", s, err.text);
            return 1;
        }
        double cpu = cpu_ms() - c0;
        const tp_result_t *r = sol->result;
        proven += sol->optimal;
        in_time += sol->optimal && r->solve_ms <= within;
        /* Terms (2) and (3) together weigh less than 1 and term (1) is an
         * integer: ⌊bound⌋ = ⌊objective⌋ proves term (1) optimal. */
        bool p1 = floor(r->bound + 1e-9) <= floor(r->objective + 1e-9);
        t1 += p1;
        printf("  %4d %7ld %-8s %6s %6s %12.4f %12.4f %8.4f%% %9.1f %9.1f%s\n", s, pairs,
               sol->method, sol->optimal ? "yes" : "no", p1 ? "yes" : "no", r->objective,
               r->bound, 100 * r->gap, r->solve_ms, cpu,
               sol->time_limited ? "  (time limit)" : "");
        fflush(stdout);
        tp_solution_free(sol);
        tp_workloads_free(w);
        tp_workloads_free(none);
        tp_state_free(st);
        tp_fleet_free(f);
    }
    printf(
        "proven optimal: %d of %d seeds; proven within %.0f ms wall: %d of %d; term (1) "
        "proven: %d of %d\n",
        proven, seeds, within, in_time, seeds, t1, seeds);
    return 0;
}
