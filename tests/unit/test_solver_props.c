/*
 * tests/unit/test_solver_props.c — properties of tp_solve() over thousands of
 * random small instances (tests/unit/test_solver_fixture.c):
 *   - every result passes the validator (tp_solve refuses otherwise) and, when
 *     nothing was preempted, passes it again here, run by the test itself;
 *   - every pending workload carries reasons, exactly tp_policy_count's against
 *     the final load;
 *   - the same input gives the same result;
 *   - the aggregated path's bound is never below the exact optimum, and neither
 *     path nor the baseline ever beats the exact optimum;
 *   - AUTO never places fewer priority-weighted GPUs than greedy first fit.
 * And exactness: on hundreds of instances of ≤ 12 nodes and ≤ 10 workloads,
 * most with caps that bind, the objective equals an exhaustive search written
 * here that scores plans from the formula in docs/solver.md (its own code, not
 * the solver's). And order independence: the same instance with nodes, domains
 * and workloads shuffled gives the same placements by id. And determinism under
 * load: a time limit far too short for the LP gives the same answer with and
 * without threads competing for the CPU (work budgets, not the clock, decide).
 * And greedy is first fit, checked against a first fit written here.
 */
#include "tests/unit/tp_test.h"

#include "policy/policy.h"
#include "policy/validator.h"
#include "solver/solver.h"
#include "solver/solver_internal.h"
#include "tests/unit/test_solver_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 3000

static tp_solution_t *solve(const sf_inst_t *in, tp_solver_method_t m)
{
    return sf_solve(in, m);
}

static bool same_result(const tp_result_t *a, const tp_result_t *b)
{
    if (a->nplacements != b->nplacements || a->npending != b->npending ||
        a->npreemptions != b->npreemptions || a->objective != b->objective)
        return false;
    for (int i = 0; i < a->nplacements; i++)
        if (memcmp(&a->placements[i], &b->placements[i], sizeof a->placements[i]))
            return false;
    for (int i = 0; i < a->npending; i++)
        if (memcmp(&a->pending[i], &b->pending[i], sizeof a->pending[i]))
            return false;
    for (int i = 0; i < a->npreemptions; i++)
        if (a->preemptions[i].workload != b->preemptions[i].workload ||
            a->preemptions[i].node != b->preemptions[i].node ||
            strcmp(a->preemptions[i].why, b->preemptions[i].why))
            return false;
    return true;
}

static void check_result(const sf_inst_t *in, const tp_solution_t *sol, int round)
{
    const tp_result_t *r = sol->result;
    tp_load_t *l = sf_final_load(in, r);
    int np = in->pending->n;
    for (int i = 0; i < r->npending; i++) {
        const tp_pending_t *p = &r->pending[i];
        const tp_workload_t *w = p->workload < np ? &in->pending->w[p->workload]
                                                  : &in->running->w[p->workload - np];
        int counts[TP_PRED_COUNT], sum = 0;
        tp_policy_count(in->f, in->s, l, w, SF_NOW, counts);
        for (int k = 0; k < TP_PRED_COUNT; k++) {
            sum += p->reasons[k];
            if (p->reasons[k] != counts[k])
                tp_test_fail(__FILE__, __LINE__,
                             "round %d: %s: reason %s %d, policy says %d", round, w->id,
                             tp_pred_name((tp_pred_t)k), p->reasons[k], counts[k]);
        }
        if (sum == 0)
            tp_test_fail(__FILE__, __LINE__, "round %d: %s pending without reasons",
                         round, w->id);
    }
    for (int i = 0; i < r->npreemptions; i++)
        if (!in->running->w[r->preemptions[i].workload].preemptible)
            tp_test_fail(__FILE__, __LINE__, "round %d: non-preemptible work preempted",
                         round);
    if (r->npreemptions == 0) {
        tp_violations_t v;
        tp_violations_init(&v);
        int nv = tp_validate(in->f, in->s, in->pending, in->running, r, SF_NOW, &v);
        if (nv != 0)
            tp_test_fail(__FILE__, __LINE__, "round %d: %d violations: %s", round, nv,
                         v.n ? v.msgs[0] : "");
        tp_violations_fini(&v);
    }
    tp_load_free(l);
}

TP_TEST(solver_props_random)
{
    tp_rng_t rng;
    tp_rng_init(&rng, 20260317);
    for (int round = 0; round < ROUNDS * tp_test_soak(); round++) {
        sf_opts_t o = {.nodes = 1 + (int)tp_rng_below(&rng, 12),
                       .pending = (int)tp_rng_below(&rng, 14),
                       .running = (int)tp_rng_below(&rng, 10),
                       .tight = tp_rng_chance(&rng, 0.5)};
        sf_inst_t in;
        TP_ASSERT(sf_make(&rng, &o, &in) == 0);
        tp_solution_t *a = solve(&in, TP_SOLVER_AUTO), *b = solve(&in, TP_SOLVER_AUTO);
        tp_solution_t *agg = solve(&in, TP_SOLVER_AGGREGATE);
        tp_solution_t *gr = solve(&in, TP_SOLVER_GREEDY);
        if (a && b && agg && gr) {
            check_result(&in, a, round);
            check_result(&in, agg, round);
            check_result(&in, gr, round);
            if (!same_result(a->result, b->result))
                tp_test_fail(__FILE__, __LINE__, "round %d: two runs differ", round);
            if (a->weighted_gpus + 1e-9 < gr->weighted_gpus)
                tp_test_fail(__FILE__, __LINE__, "round %d: %g weighted GPUs < greedy %g",
                             round, a->weighted_gpus, gr->weighted_gpus);
            /* AUTO starts from the aggregated plan: never worse in term (1). */
            if (a->weighted_gpus + 1e-9 < agg->weighted_gpus ||
                a->result->objective + 1e-9 < agg->result->objective)
                tp_test_fail(__FILE__, __LINE__,
                             "round %d: AUTO %g weighted GPUs < AGGREGATE %g", round,
                             a->weighted_gpus, agg->weighted_gpus);
            if (a->optimal) {
                double opt = a->result->objective;
                if (agg->result->bound < opt - 1e-6)
                    tp_test_fail(__FILE__, __LINE__,
                                 "round %d: LP bound %.9g < optimum %.9g", round,
                                 agg->result->bound, opt);
                if (agg->result->objective > opt + 1e-6 ||
                    gr->result->objective > opt + 1e-6)
                    tp_test_fail(__FILE__, __LINE__,
                                 "round %d: a heuristic beat the optimum", round);
            }
        }
        tp_solution_free(a);
        tp_solution_free(b);
        tp_solution_free(agg);
        tp_solution_free(gr);
        sf_free(&in);
    }
}

/* ---- exhaustive search ------------------------------------------------------------ */

/* The objective exactly as docs/solver.md writes it, computed here from the
 * fleet and state, sharing nothing with the solver:
 *   value(w, n) = (1 + p) g + ε_s g (4 − trust(n)) + ε_e g eff(w, n) / eff_max
 *   ε_s = 1 / (1 + 4G), ε_e = ε_s / (1 + G), G = Σ gpus of the candidates,
 *   trust(n) = [CPU TEE declared or attested] + [GPU CC declared or attested]
 *            + [attestation present and affirming] + [BMC country in the region],
 *   eff = tokens_per_s / watts of the (model, GPU model) profile, 0 without one
 * (sf_trust, sf_eff: test_solver_fixture.c). */
static double doc_value(const sf_inst_t *in, const tp_workload_t *w, int n, double G)
{
    const tp_fleet_t *f = in->f;
    double emax = 0, es = 1.0 / (1.0 + 4 * G), ee = es / (1.0 + G);
    for (int i = 0; i < f->nprofiles; i++)
        if (f->profiles[i].watts > 0 &&
            f->profiles[i].tokens_per_s / f->profiles[i].watts > emax)
            emax = f->profiles[i].tokens_per_s / f->profiles[i].watts;
    double v = (1.0 + w->priority) * w->gpus + es * w->gpus * (4 - sf_trust(in, n));
    if (emax > 0 && w->model >= 0)
        v += ee * w->gpus * sf_eff(f, w->model, f->nodes[n].gpu_model) / emax;
    return v;
}

typedef struct {
    const sf_inst_t *in;
    tp_load_t *l;
    double G, best, *rest; /* rest[i]: the most workloads i.. could still add */
    int order[16];
} ex_t;

static void dfs(ex_t *x, int i, double value)
{
    if (value > x->best)
        x->best = value;
    if (i == x->in->pending->n || value + x->rest[i] <= x->best + 1e-12)
        return;
    const tp_workload_t *w = &x->in->pending->w[x->order[i]];
    for (int n = 0; n < x->in->f->nnodes; n++) {
        if (tp_policy_check(x->in->f, x->in->s, x->l, n, w, SF_NOW))
            continue;
        double watts = tp_fleet_gpu_watts(x->in->f, n, w->model);
        tp_load_apply(x->l, x->in->f, n, w->gpus, watts, +1);
        dfs(x, i + 1, value + doc_value(x->in, w, n, x->G));
        tp_load_apply(x->l, x->in->f, n, w->gpus, watts, -1);
    }
    dfs(x, i + 1, value); /* not placed */
}

/* The objective of a result, scored by the formula above. */
static double doc_objective(const sf_inst_t *in, const tp_result_t *r)
{
    double G = 0, v = 0;
    for (int i = 0; i < in->pending->n; i++)
        G += in->pending->w[i].gpus;
    for (int i = 0; i < r->nplacements; i++)
        v += doc_value(in, &in->pending->w[r->placements[i].workload],
                       r->placements[i].node, G);
    return v;
}

static double exhaustive(const sf_inst_t *in)
{
    ex_t x = {.in = in};
    double rest[17] = {0};
    int np = in->pending->n;
    for (int i = 0; i < np; i++) {
        x.G += in->pending->w[i].gpus;
        x.order[i] = i;
    }
    /* Heaviest first: the bound prunes sooner. */
    for (int i = 1; i < np; i++)
        for (int j = i; j > 0; j--) {
            const tp_workload_t *a = &in->pending->w[x.order[j]],
                                *b = &in->pending->w[x.order[j - 1]];
            if ((1.0 + a->priority) * a->gpus <= (1.0 + b->priority) * b->gpus)
                break;
            int t = x.order[j];
            x.order[j] = x.order[j - 1];
            x.order[j - 1] = t;
        }
    for (int i = np - 1; i >= 0; i--) {
        const tp_workload_t *w = &in->pending->w[x.order[i]];
        /* (1) plus the most (2) and (3) can add: 4 ε_s g + ε_e g < 5 ε_s g */
        rest[i] =
            rest[i + 1] + (1.0 + w->priority) * w->gpus + 5.0 * w->gpus / (1.0 + 4 * x.G);
    }
    x.rest = rest;
    x.l = tp_load_new(in->f, in->s, in->running);
    dfs(&x, 0, 0);
    tp_load_free(x.l);
    return x.best;
}

/* AUTO is optimal and matches an exhaustive search on 500 random instances. */
static int exact_vs_exhaustive(void)
{
    tp_rng_t rng;
    int checked = 0;
    tp_rng_init(&rng, 77);
    for (int round = 0; round < 500; round++) {
        bool big = round % 10 == 0;
        sf_opts_t o = {.nodes = big ? 12 : 2 + (int)tp_rng_below(&rng, 7),
                       .pending = big ? 10 : 1 + (int)tp_rng_below(&rng, 8),
                       .running = (int)tp_rng_below(&rng, 4),
                       .tight = tp_rng_chance(&rng, 0.8)};
        sf_inst_t in;
        if (sf_make(&rng, &o, &in) != 0) {
            tp_test_fail(__FILE__, __LINE__, "sf_make failed");
            return 0;
        }
        tp_load_t *l = tp_load_new(in.f, in.s, in.running);
        bool over = false; /* preemption instances have their own tests */
        for (int n = 0; n < in.f->nnodes; n++)
            over |= l->node_w[n] > tp_policy_node_cap(in.f, in.s, n) * (1 + 1e-9);
        for (int d = 0; d < in.f->ndomains; d++)
            over |= l->domain_w[d] > tp_policy_domain_cap(in.f, in.s, d) * (1 + 1e-9);
        tp_load_free(l);
        if (!over) {
            tp_solution_t *sol = solve(&in, TP_SOLVER_AUTO);
            if (sol) {
                double best = exhaustive(&in);
                if (!sol->optimal)
                    tp_test_fail(__FILE__, __LINE__, "round %d: %s not optimal (%s)",
                                 round, sol->method,
                                 sol->time_limited ? "time limit" : "?");
                double got = doc_objective(&in, sol->result);
                if (fabs(got - best) > 1e-9 * (1 + best) ||
                    fabs(sol->result->objective - got) > 1e-9 * (1 + best))
                    tp_test_fail(__FILE__, __LINE__,
                                 "round %d (%d nodes, %d workloads): objective %.12f, "
                                 "scored %.12f, exhaustive %.12f",
                                 round, in.f->nnodes, in.pending->n,
                                 sol->result->objective, got, best);
                checked++;
            }
            tp_solution_free(sol);
        }
        sf_free(&in);
    }
    return checked;
}

TP_TEST(solver_exact_vs_exhaustive)
{
    TP_CHECK(exact_vs_exhaustive() > 250);
}

/* The same with the exact model's GMI cuts (solver/cuts.c) forced on at every
 * root, even where the LP proves the start: a cut that removed the optimum
 * would show as a lower answer (or a bound below it); and none of them ever
 * cuts off the incumbent. */
TP_TEST(solver_exact_vs_exhaustive_cuts_forced)
{
    long stats[2] = {0, 0};
    tp_exact_cut_stats = stats;
    tp_exact_cut_force = true;
    int checked = exact_vs_exhaustive();
    tp_exact_cut_force = false;
    tp_exact_cut_stats = NULL;
    TP_CHECK(checked > 250);
    TP_CHECK(stats[0] > 100); /* cuts were added */
    TP_CHECK(stats[1] == 0);
}

/* ---- order independence -------------------------------------------------------------
 */

/* "workload id → node id" of every placement, sorted: comparable across orders. */
static char *placement_text(const sf_inst_t *in, const tp_result_t *r)
{
    int np = in->pending->n, n = r->nplacements;
    char **lines = calloc((size_t)n + 1, sizeof *lines);
    size_t len = 1;
    for (int i = 0; i < n; i++) {
        const tp_placement_t *p = &r->placements[i];
        const tp_workload_t *w = p->workload < np ? &in->pending->w[p->workload]
                                                  : &in->running->w[p->workload - np];
        size_t l = strlen(w->id) + strlen(in->f->nodes[p->node].id) + 8;
        lines[i] = malloc(l);
        snprintf(lines[i], l, "%c%s>%s;", p->workload < np ? 'p' : 'r', w->id,
                 in->f->nodes[p->node].id);
        len += strlen(lines[i]);
    }
    for (int i = 1; i < n; i++) /* insertion sort: a handful of lines */
        for (int j = i; j > 0 && strcmp(lines[j], lines[j - 1]) < 0; j--) {
            char *t = lines[j];
            lines[j] = lines[j - 1];
            lines[j - 1] = t;
        }
    char *out = calloc(len, 1);
    for (int i = 0; i < n; i++) {
        strcat(out, lines[i]);
        free(lines[i]);
    }
    free(lines);
    return out;
}

TP_TEST(solver_order_independent)
{
    tp_rng_t rng;
    tp_rng_init(&rng, 4242);
    static const tp_solver_method_t methods[] = {TP_SOLVER_AUTO, TP_SOLVER_AGGREGATE};
    for (int round = 0; round < 300 * tp_test_soak(); round++) {
        sf_opts_t o = {.nodes = 2 + (int)tp_rng_below(&rng, 14),
                       .pending = 1 + (int)tp_rng_below(&rng, 16),
                       .running = (int)tp_rng_below(&rng, 10),
                       .tight = tp_rng_chance(&rng, 0.7)};
        tp_rng_t copy = rng;
        sf_inst_t a, b;
        TP_ASSERT(sf_make(&rng, &o, &a) == 0);
        o.shuffle = 1000 + (uint64_t)round;
        TP_ASSERT(sf_make(&copy, &o, &b) == 0);
        for (int m = 0; m < 2; m++) {
            tp_solution_t *x = solve(&a, methods[m]), *y = solve(&b, methods[m]);
            if (x && y) {
                char *tx = placement_text(&a, x->result),
                     *ty = placement_text(&b, y->result);
                if (fabs(x->result->objective - y->result->objective) > 1e-9 ||
                    strcmp(tx, ty) || x->result->npreemptions != y->result->npreemptions)
                    tp_test_fail(__FILE__, __LINE__,
                                 "round %d method %d: shuffled input changed the answer: "
                                 "%.12f %s vs %.12f %s",
                                 round, (int)methods[m], x->result->objective, tx,
                                 y->result->objective, ty);
                free(tx);
                free(ty);
            }
            tp_solution_free(x);
            tp_solution_free(y);
        }
        sf_free(&a);
        sf_free(&b);
    }
}

/* tp_solve_cached() (the service's path: the canonical orders made once per
 * fleet, the validator's kept tally) answers exactly what tp_solve() answers,
 * tight caps (preemptions: validated whole) included; and refuses a cache made
 * for another fleet. */
TP_TEST(solver_cached_same_answer)
{
    tp_rng_t rng;
    tp_rng_init(&rng, 777);
    int rounds = 300 * tp_test_soak(), agree = 0, preempting = 0, placing = 0;
    for (int round = 0; round < rounds; round++) {
        sf_opts_t o = {.nodes = 2 + (int)tp_rng_below(&rng, 14),
                       .pending = 1 + (int)tp_rng_below(&rng, 16),
                       .running = (int)tp_rng_below(&rng, 10),
                       .tight = tp_rng_chance(&rng, 0.5)};
        sf_inst_t in;
        TP_ASSERT(sf_make(&rng, &o, &in) == 0);
        tp_solver_opts_t so = {.now = SF_NOW, .time_limit_ms = 20000};
        tp_solution_t *x = NULL, *y = NULL;
        tp_error_t e1, e2;
        tp_solver_cache_t *c = tp_solver_cache_new(in.f);
        tp_vtally_t *t = tp_vtally_new(in.f, in.s, in.running);
        tp_load_t *l = tp_load_new(in.f, in.s, in.running);
        TP_ASSERT(c && t && l);
        c->tally = t;
        c->load = round % 2 ? l : NULL; /* the kept load, or none */
        int r1 = tp_solve(in.f, in.s, in.pending, in.running, &so, &x, &e1);
        int r2 = tp_solve_cached(in.f, in.s, in.pending, in.running, c, &so, &y, &e2);
        TP_CHECK_EQ_INT(r1, r2);
        if (r1 == 0 && r2 == 0) {
            agree += same_result(x->result, y->result);
            preempting += x->result->npreemptions > 0;
            placing += x->result->nplacements > 0;
        }
        tp_solution_free(x);
        tp_solution_free(y);
        tp_solver_cache_free(c);
        tp_vtally_free(t);
        tp_load_free(l);
        sf_free(&in);
    }
    TP_CHECK_EQ_INT(agree, rounds);
    TP_CHECK(preempting > 0 && placing > rounds / 2);
}

static bool same_load(const tp_load_t *a, const tp_load_t *b)
{
    return a->nnodes == b->nnodes && a->ndomains == b->ndomains &&
           !memcmp(a->gpus_used, b->gpus_used,
                   (size_t)a->nnodes * sizeof *a->gpus_used) &&
           !memcmp(a->node_w, b->node_w, (size_t)a->nnodes * sizeof *a->node_w) &&
           !memcmp(a->domain_w, b->domain_w, (size_t)a->ndomains * sizeof *a->domain_w);
}

/* The service keeps the load of its running work by deltas (tp_load_refresh on
 * the nodes a job changed) and lends it to the solver: on random sequences of
 * starts, stops and moves it stays tp_load_new's bit for bit, and a solve with
 * it answers what tp_solve answers. A refresh that forgets a changed node, or
 * sums in another order, fails here. */
TP_TEST(load_refresh_is_tp_load_new_bit_for_bit)
{
    tp_rng_t rng;
    tp_rng_init(&rng, 779);
    int rounds = 60 * tp_test_soak(), steps = 0, agree = 0, solves = 0, solved = 0;
    for (int round = 0; round < rounds; round++) {
        sf_opts_t o = {.nodes = 2 + (int)tp_rng_below(&rng, 14),
                       .pending = 1 + (int)tp_rng_below(&rng, 8),
                       .running = 4 + (int)tp_rng_below(&rng, 12),
                       .tight = tp_rng_chance(&rng, 0.5)};
        sf_inst_t in;
        TP_ASSERT(sf_make(&rng, &o, &in) == 0);
        tp_workloads_t *run = in.running;
        int nall = run->n; /* w[run->n .. nall): stopped, may start again */
        tp_load_t *l = tp_load_new(in.f, in.s, run);
        bool *changed = calloc((size_t)in.f->nnodes, sizeof *changed);
        TP_ASSERT(l && changed);
        for (int step = 0; step < 12; step++, steps++) {
            memset(changed, 0, (size_t)in.f->nnodes * sizeof *changed);
            for (int k = 1 + (int)tp_rng_below(&rng, 3); k > 0; k--) {
                int what = (int)tp_rng_below(&rng, 3);
                if (what == 0 && run->n > 0) { /* stop one: order kept */
                    int i = (int)tp_rng_below(&rng, (uint64_t)run->n);
                    tp_workload_t w = run->w[i];
                    changed[w.node] = true;
                    memmove(&run->w[i], &run->w[i + 1],
                            (size_t)(nall - i - 1) * sizeof *run->w);
                    run->w[nall - 1] = w;
                    run->n--;
                } else if (what == 1 && run->n < nall) { /* start one at the end */
                    tp_workload_t *w = &run->w[run->n++];
                    w->node = (int)tp_rng_below(&rng, (uint64_t)in.f->nnodes);
                    changed[w->node] = true;
                } else if (run->n > 0) { /* move one */
                    tp_workload_t *w = &run->w[tp_rng_below(&rng, (uint64_t)run->n)];
                    changed[w->node] = true;
                    w->node = (int)tp_rng_below(&rng, (uint64_t)in.f->nnodes);
                    changed[w->node] = true;
                }
            }
            int *node_of = malloc(((size_t)run->n + 1) * sizeof *node_of);
            TP_ASSERT(node_of != NULL);
            for (int i = 0; i < run->n; i++)
                node_of[i] = run->w[i].node;
            tp_load_refresh(l, in.f, in.s, run, step % 2 ? node_of : NULL, changed);
            free(node_of);
            tp_load_t *fresh = tp_load_new(in.f, in.s, run);
            TP_ASSERT(fresh != NULL);
            agree += same_load(l, fresh);
            tp_load_free(fresh);
        }
        /* the kept load in the solver's cache: the same answer as without */
        tp_solver_cache_t *c = tp_solver_cache_new(in.f);
        TP_ASSERT(c != NULL);
        c->load = l;
        tp_solver_opts_t so = {.now = SF_NOW, .time_limit_ms = 20000};
        tp_solution_t *x = NULL, *y = NULL;
        tp_error_t e1, e2;
        int r1 = tp_solve(in.f, in.s, in.pending, run, &so, &x, &e1);
        int r2 = tp_solve_cached(in.f, in.s, in.pending, run, c, &so, &y, &e2);
        TP_CHECK_EQ_INT(r1, r2);
        if (r1 == 0 && r2 == 0) {
            solves += same_result(x->result, y->result);
            solved++;
        } else {
            solves++;
        }
        tp_solution_free(x);
        tp_solution_free(y);
        tp_solver_cache_free(c);
        run->n = nall; /* sf_free frees every workload it made */
        tp_load_free(l);
        free(changed);
        sf_free(&in);
    }
    TP_CHECK_EQ_INT(agree, steps);
    TP_CHECK_EQ_INT(solves, rounds);
    TP_CHECK(solved > rounds / 2);
}

/* When no candidate fits anywhere alone (a full fleet, or work larger than any
 * node), AUTO skips building its models: its answer — nothing placed, every
 * candidate pending with the same reasons, the same objective — is what the
 * aggregated path and the per-pair MILP answer. */
TP_TEST(solver_nothing_fits_fast_path_same_answer)
{
    tp_rng_t rng;
    tp_rng_init(&rng, 780);
    int rounds = 40 * tp_test_soak(), agree = 0, nothing = 0;
    for (int round = 0; round < rounds; round++) {
        sf_opts_t o = {.nodes = 2 + (int)tp_rng_below(&rng, 10),
                       .pending = 1 + (int)tp_rng_below(&rng, 8),
                       .running = (int)tp_rng_below(&rng, 8),
                       .tight = tp_rng_chance(&rng, 0.5)};
        sf_inst_t in;
        TP_ASSERT(sf_make(&rng, &o, &in) == 0);
        for (int i = 0; i < in.pending->n; i++) /* more than any node has */
            in.pending->w[i].gpus = 64 + (int)tp_rng_below(&rng, 3);
        tp_solution_t *a = sf_solve(&in, TP_SOLVER_AUTO);
        tp_solution_t *g = sf_solve(&in, TP_SOLVER_AGGREGATE);
        tp_solution_t *x = sf_solve(&in, TP_SOLVER_EXACT);
        TP_ASSERT(a && g && x);
        /* The per-pair MILP places nothing exactly when nothing fits alone
         * (moved running work may fit: then every path builds its models). */
        if (x->result->nplacements == 0) {
            nothing++;
            agree += same_result(a->result, g->result) &&
                     same_result(a->result, x->result) && a->optimal &&
                     !strcmp(a->method, "milp");
        }
        tp_solution_free(a);
        tp_solution_free(g);
        tp_solution_free(x);
        sf_free(&in);
    }
    TP_CHECK_EQ_INT(agree, nothing);
    TP_CHECK(nothing > rounds / 2);
}

TP_TEST(solver_cached_refuses_another_fleet)
{
    tp_rng_t rng;
    tp_rng_init(&rng, 778);
    sf_opts_t o = {.nodes = 4, .pending = 3, .running = 2};
    sf_inst_t a, b;
    TP_ASSERT(sf_make(&rng, &o, &a) == 0);
    TP_ASSERT(sf_make(&rng, &o, &b) == 0);
    tp_solver_cache_t *c = tp_solver_cache_new(b.f);
    TP_ASSERT(c != NULL);
    tp_solver_opts_t so = {.now = SF_NOW, .time_limit_ms = 2000};
    tp_solution_t *x = NULL;
    tp_error_t err;
    TP_CHECK_EQ_INT(tp_solve_cached(a.f, a.s, a.pending, a.running, c, &so, &x, &err),
                    TP_EINVAL);
    TP_CHECK(x == NULL);
    tp_solver_cache_free(c);
    sf_free(&a);
    sf_free(&b);
}

/* Determinism under load: with a 1 ms time limit (the least simplex budget,
 * TP_SOLVER_MIN_ITERS, which cuts the LP on many of these instances) the
 * aggregated path answers the same with two threads burning the CPU as without
 * — a wall-clock check would cut the loaded run at a different point. */
static tp_solution_t *solve_limit(const sf_inst_t *in, double ms)
{
    tp_solver_opts_t o = {
        .now = SF_NOW, .time_limit_ms = ms, .method = TP_SOLVER_AGGREGATE};
    tp_solution_t *sol = NULL;
    tp_error_t err;
    if (tp_solve(in->f, in->s, in->pending, in->running, &o, &sol, &err) < 0)
        tp_test_fail(__FILE__, __LINE__, "tp_solve: %s", err.text);
    return sol;
}

TP_TEST(solver_budget_not_clock)
{
    tp_rng_t rng;
    tp_rng_init(&rng, 9191);
    int rounds = 40 * tp_test_soak(), cut = 0;
    for (int round = 0; round < rounds; round++) {
        sf_opts_t o = {.nodes = 30 + (int)tp_rng_below(&rng, 20),
                       .pending = 80 + (int)tp_rng_below(&rng, 40),
                       .running = (int)tp_rng_below(&rng, 6),
                       .tight = true};
        sf_inst_t in;
        TP_ASSERT(sf_make(&rng, &o, &in) == 0);
        tp_solution_t *x = solve_limit(&in, 1), *y = NULL, *z = solve_limit(&in, 20000);
        TP_ASSERT(sf_burn_start() == 0);
        y = solve_limit(&in, 1);
        sf_burn_stop();
        if (x && y && z) {
            char *tx = placement_text(&in, x->result),
                 *ty = placement_text(&in, y->result);
            if (strcmp(tx, ty) || x->result->objective != y->result->objective ||
                x->time_limited != y->time_limited || x->lp_rounds != y->lp_rounds ||
                !(x->result->bound == y->result->bound ||
                  (isnan(x->result->bound) && isnan(y->result->bound))))
                tp_test_fail(__FILE__, __LINE__,
                             "round %d: load changed the answer: %.12f %s vs %.12f %s",
                             round, x->result->objective, tx, y->result->objective, ty);
            /* The budget, not the clock: 20 s of budget never cuts these. */
            TP_CHECK(!z->time_limited);
            cut += x->time_limited;
            free(tx);
            free(ty);
        }
        tp_solution_free(x);
        tp_solution_free(y);
        tp_solution_free(z);
        sf_free(&in);
    }
    printf("  %d of %d rounds cut by the least budget\n", cut, rounds);
    TP_CHECK(cut > 0); /* the least budget did cut the LP short somewhere */
}

/* Greedy is first fit, checked by code written here: each pending workload in
 * id order on the first node in id order that tp_policy_check accepts against
 * the load so far (no running work, so nothing is preempted). Catches a
 * shortcut in plan_first_fit (the skip of full nodes) that changes its answer. */
static int by_id_at(const void *a, const void *b, const char *const *ids)
{
    return strcmp(ids[*(const int *)a], ids[*(const int *)b]);
}

static void sort_ids(int *ix, int n, const char *const *ids)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && by_id_at(&ix[j], &ix[j - 1], ids) < 0; j--) {
            int t = ix[j];
            ix[j] = ix[j - 1];
            ix[j - 1] = t;
        }
}

TP_TEST(solver_greedy_is_first_fit)
{
    tp_rng_t rng;
    tp_rng_init(&rng, 3131);
    int rounds = 200 * tp_test_soak(), placed = 0;
    for (int round = 0; round < rounds; round++) {
        sf_opts_t o = {.nodes = 2 + (int)tp_rng_below(&rng, 30),
                       .pending = 1 + (int)tp_rng_below(&rng, 60),
                       .tight = tp_rng_chance(&rng, 0.6)};
        sf_inst_t in;
        TP_ASSERT(sf_make(&rng, &o, &in) == 0);
        const tp_fleet_t *f = in.f;
        const tp_workloads_t *P = in.pending;
        int *wi = malloc(sizeof(int) * (size_t)P->n),
            *ni = malloc(sizeof(int) * (size_t)f->nnodes);
        const char **wid = malloc(sizeof(char *) * (size_t)P->n),
                   **nid = malloc(sizeof(char *) * (size_t)f->nnodes);
        int *want = malloc(sizeof(int) * (size_t)P->n);
        TP_ASSERT(wi && ni && wid && nid && want);
        for (int i = 0; i < P->n; i++) {
            wi[i] = i;
            wid[i] = P->w[i].id;
            want[i] = -1;
        }
        for (int n = 0; n < f->nnodes; n++) {
            ni[n] = n;
            nid[n] = f->nodes[n].id;
        }
        sort_ids(wi, P->n, wid);
        sort_ids(ni, f->nnodes, nid);
        tp_load_t *l = tp_load_new(f, in.s, in.running);
        TP_ASSERT(l);
        for (int a = 0; a < P->n; a++) {
            const tp_workload_t *w = &P->w[wi[a]];
            for (int b = 0; b < f->nnodes; b++)
                if (!tp_policy_check(f, in.s, l, ni[b], w, SF_NOW)) {
                    tp_load_apply(l, f, ni[b], w->gpus,
                                  tp_fleet_gpu_watts(f, ni[b], w->model), +1);
                    want[wi[a]] = ni[b];
                    break;
                }
        }
        tp_load_free(l);
        /* Twice: first fit's eligibility bitsets, then (the cap at 0) the
         * scan that tests each node, as on fleets too large for them. */
        for (int pass = 0; pass < 2; pass++) {
            size_t cap = tp_solver_elig_max_words;
            tp_solver_elig_max_words = pass ? 0 : cap;
            tp_solution_t *x = solve(&in, TP_SOLVER_GREEDY);
            tp_solver_elig_max_words = cap;
            if (x) {
                int *got = malloc(sizeof(int) * (size_t)P->n);
                TP_ASSERT(got);
                for (int i = 0; i < P->n; i++)
                    got[i] = -1;
                for (int i = 0; i < x->result->nplacements; i++)
                    got[x->result->placements[i].workload] =
                        x->result->placements[i].node;
                for (int i = 0; i < P->n; i++) {
                    placed += got[i] >= 0;
                    if (got[i] != want[i]) {
                        tp_test_fail(__FILE__, __LINE__,
                                     "round %d%s: %s on %s, first fit: %s", round,
                                     pass ? " (no bitsets)" : "", P->w[i].id,
                                     got[i] >= 0 ? f->nodes[got[i]].id : "-",
                                     want[i] >= 0 ? f->nodes[want[i]].id : "-");
                        break;
                    }
                }
                free(got);
            }
            tp_solution_free(x);
        }
        free(wi);
        free(ni);
        free(wid);
        free(nid);
        free(want);
        sf_free(&in);
    }
    TP_CHECK(placed > rounds); /* the instances place work */
}
