/*
 * cli/cmd_place.c — `trustplace place`: where the pending work goes, what a cap
 * forces off, and why the rest waits (solver/solver.h). A table for people by
 * default, the FORMATS.md result with --json.
 */
#include "cli/commands.h"
#include "cli/inputs.h"
#include "model/result_json.h"
#include "solver/solver.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: trustplace place --config F [--state S] --workloads W [--running R]\n"
            "                        [--time-limit-ms T] [--now T] [--json]\n"
            "Decides where the pending workloads run: only on nodes that pass every\n"
            "security, residency and GPU-model requirement, within GPU capacity and\n"
            "every node and power-domain cap. When observed caps fall below the draw of\n"
            "the running work, the least-priority preemptible work is preempted (and\n"
            "restarted elsewhere where it can be). Work that cannot be placed is listed\n"
            "as pending with, per predicate, the number of nodes failing it.\n"
            "Exit 0 when a result is printed (even with work pending), 2 on bad input,\n"
            "1 when the solver fails.\n"
            "  --time-limit-ms T  GLPK time budget (default %.0f)\n"
            "  --method M         auto (default), lp, milp, greedy\n"
            "  --now T            judge attestation freshness at Unix time T\n"
            "                     (default: the state's observed_at, else now)\n"
            "  --json             print the result as JSON (FORMATS.md)\n",
            TP_SOLVER_DEFAULT_LIMIT_MS);
}

static void print_reasons(const int *reasons)
{
    char a[32];
    int order[TP_PRED_COUNT], k = 0;
    for (int p = 0; p < TP_PRED_COUNT; p++)
        if (reasons[p])
            order[k++] = p;
    for (int i = 1; i < k; i++) /* largest first; ties in FORMATS.md order */
        for (int j = i; j > 0 && reasons[order[j]] > reasons[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int i = 0; i < k; i++)
        printf("%s%s %s", i ? ", " : "", tp_fmt_int(a, reasons[order[i]]),
               tp_pred_name((tp_pred_t)order[i]));
}

static void print_table(const tp_inputs_t *in, const tp_solution_t *sol)
{
    const tp_result_t *r = sol->result;
    const tp_fleet_t *f = in->fleet;
    char a[32], b[32];
    printf("placements: %s (%s GPUs)\n", tp_fmt_int(a, r->nplacements),
           tp_fmt_int(b, (long long)sol->placed_gpus));
    if (r->nplacements)
        printf("  %-24s %-24s %4s\n", "WORKLOAD", "NODE", "GPUS");
    for (int i = 0; i < r->nplacements; i++) {
        const tp_placement_t *p = &r->placements[i];
        int moved = p->workload >= in->pending->n;
        printf("  %-24s %-24s %4d%s%s\n",
               tp_result_workload_id(in->pending, in->running, p->workload),
               f->nodes[p->node].id, p->gpus, moved ? "  moved from " : "",
               moved ? f->nodes[in->running->w[p->workload - in->pending->n].node].id
                     : "");
    }
    printf("pending: %s\n", tp_fmt_int(a, r->npending));
    for (int i = 0; i < r->npending; i++) {
        printf("  %-24s ",
               tp_result_workload_id(in->pending, in->running, r->pending[i].workload));
        print_reasons(r->pending[i].reasons);
        printf("\n");
    }
    printf("preemptions: %s\n", tp_fmt_int(a, r->npreemptions));
    for (int i = 0; i < r->npreemptions; i++) {
        const tp_preemption_t *p = &r->preemptions[i];
        printf("  %-24s %-24s %s\n", in->running->w[p->workload].id, f->nodes[p->node].id,
               p->why);
    }
    for (int i = 0; i < sol->ncaps_unmet; i++)
        printf("cap unmet: %s (non-preemptible work alone exceeds it)\n",
               sol->caps_unmet[i]);
    printf("solve %.1f ms (%s), objective %.4f", r->solve_ms, sol->method, r->objective);
    if (!isnan(r->bound))
        printf(", bound %.4f, gap %.3f%%", r->bound, 100 * r->gap);
    printf(", weighted GPUs %s, tokens/J %.3f\n",
           tp_fmt_int(a, (long long)sol->weighted_gpus), sol->tokens_per_j);
}

int tp_cmd_place(int argc, char **argv)
{
    static const struct option opts[] = {TP_INPUT_LONG_OPTIONS,
                                         {"time-limit-ms", required_argument, 0, 't'},
                                         {"method", required_argument, 0, 'm'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    tp_inputs_t in = {0};
    tp_solver_opts_t so = {0};
    tp_solution_t *sol = NULL;
    tp_error_t err;
    int c, json = 0, rc = TP_EXIT_OK;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (tp_inputs_option(&in, c, optarg))
            continue;
        switch (c) {
        case 't': {
            long long t = tp_parse_count(optarg);
            if (t < 1 || t > 3600000) {
                fprintf(stderr,
                        "trustplace place: --time-limit-ms: expected 1..3600000, "
                        "got \"%s\"\n",
                        optarg);
                return TP_EXIT_INPUT;
            }
            so.time_limit_ms = (double)t;
            break;
        }
        case 'm':
            if (!strcmp(optarg, "auto"))
                so.method = TP_SOLVER_AUTO;
            else if (!strcmp(optarg, "lp"))
                so.method = TP_SOLVER_AGGREGATE;
            else if (!strcmp(optarg, "milp"))
                so.method = TP_SOLVER_EXACT;
            else if (!strcmp(optarg, "greedy"))
                so.method = TP_SOLVER_GREEDY;
            else {
                fprintf(stderr,
                        "trustplace place: --method: expected auto, lp, milp or greedy, "
                        "got \"%s\"\n",
                        optarg);
                return TP_EXIT_INPUT;
            }
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return TP_EXIT_OK;
        default:
            usage(stderr);
            return TP_EXIT_INPUT;
        }
    }
    if (!in.config || !in.workloads_path || optind != argc) {
        fprintf(stderr, "trustplace place: --config and --workloads are required\n");
        usage(stderr);
        return TP_EXIT_INPUT;
    }
    if (tp_inputs_load(&in) < 0)
        return TP_EXIT_INPUT;
    so.now = in.now;
    if (tp_solve(in.fleet, in.state, in.pending, in.running, &so, &sol, &err) < 0) {
        fprintf(stderr, "trustplace place: %s\n", err.text);
        rc = TP_EXIT_NO;
        goto out;
    }
    for (int i = 0; i < sol->ncaps_unmet; i++)
        fprintf(stderr,
                "trustplace place: warning: %s stays over its cap: only non-preemptible "
                "work is left to stop\n",
                sol->caps_unmet[i]);
    if (json) {
        tp_result_meta_t meta;
        tp_solution_meta(sol, in.fleet, in.pending, in.running, &meta);
        json_t *doc =
            tp_result_to_json(in.fleet, in.pending, in.running, sol->result, &meta);
        if (!doc ||
            json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) < 0) {
            fprintf(stderr, "trustplace place: out of memory\n");
            rc = TP_EXIT_NO;
        } else {
            printf("\n");
        }
        json_decref(doc);
    } else {
        print_table(&in, sol);
    }
out:
    tp_solution_free(sol);
    tp_inputs_fini(&in);
    return rc;
}
