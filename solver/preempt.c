/*
 * solver/preempt.c — when observed caps fall below the draw of the running work
 * (a demand-response event, a lost rack feed), stop as little as possible until
 * every cap holds again.
 *
 * Minimal: the over-cap nodes and domains fall into independent components
 * (everything under the highest over-cap domain, or one node). Per component,
 * a small lexicographic MILP (milp.c's lex_solve) over the preemptible running
 * workloads beneath it, y_i ∈ {0, 1}:
 *   min  Σ (1 + priority) gpus y       then   min  Σ watts y
 *   Σ_{i under e} watts_i y_i ≥ draw_e − cap_e     every over-cap node or domain e
 * i.e. the fewest priority-weighted GPUs that restore every cap, then the
 * fewest watts removed beyond need. Non-preemptible work gets no variable.
 * Where even stopping everything preemptible cannot restore a cap, the row
 * asks for what is possible and the cap is reported unmet.
 *
 * The model is solved aggregated, which is exact: workloads with the same
 * weight, the same watts and the same deepest over-cap node or domain above
 * them (hence the same set of rows) are interchangeable in every row and
 * both objectives, so one integer column 0 ≤ x_k ≤ |class k| per class
 * stands for them — the same optimum, with a few hundred columns where a
 * site-wide event on a 10,000-node fleet has tens of thousands of workloads.
 * A class's x_k stops its first members: gang members last (stopping one
 * stops its gang whole, below), then priority, then id.
 *
 * A gang stops whole: its members beneath the component are one binary
 * column that costs the whole gang (every member's weight and watts, also
 * members elsewhere), with the watts of its members beneath each row; the
 * components a gang's members fall into are solved as one (else each would
 * price the gang in full and might stop other work beside it).
 *
 * The greedy of earlier versions (nodes first, then domains deepest first;
 * victims by priority ascending, draw descending, id) provides the MILP's
 * start — so the answer is never worse than it — and closes any gap left by
 * floating-point tolerances afterwards. Then every victim, highest priority
 * first, restarts in place if it fits again.
 *
 * The load is the solver's (tp_load_new): a node's draw is the larger of the
 * estimate and the BMC's measurement, so draw the BMC sees beyond the estimate
 * is unexplained load that stays after preemption — only the stopped work's
 * planned watts come off.
 *
 * Ties go by workload id (ctx_t's canonical order), never by input position.
 */
#include "solver/solver_internal.h"

#include <glpk.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int prio;
    double watts;
    int rank; /* the workload's rank by id */
    int idx;
} victim_t;

static int by_victim(const void *a, const void *b)
{
    const victim_t *x = a, *y = b;
    if (x->prio != y->prio)
        return x->prio < y->prio ? -1 : 1;
    if (x->watts != y->watts)
        return x->watts > y->watts ? -1 : 1;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

static int by_readmit(const void *a, const void *b)
{
    const victim_t *x = a, *y = b;
    if (x->prio != y->prio)
        return x->prio > y->prio ? -1 : 1;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

static int push_str(char ***arr, int *n, const char *kind, const char *id)
{
    char **a = realloc(*arr, ((size_t)*n + 1) * sizeof *a);
    if (!a)
        return TP_ENOMEM;
    *arr = a;
    size_t len = strlen(kind) + strlen(id) + 2;
    if (!(a[*n] = malloc(len)))
        return TP_ENOMEM;
    snprintf(a[*n], len, "%s:%s", kind, id);
    (*n)++;
    return 0;
}

/* The nodes beneath each domain (CSR), only needed when some cap is exceeded. */
static int nodes_beneath(ctx_t *c)
{
    const tp_fleet_t *f = c->f;
    c->dn_off = calloc((size_t)f->ndomains + 2, sizeof *c->dn_off);
    if (!c->dn_off)
        return TP_ENOMEM;
    for (int n = 0; n < f->nnodes; n++)
        for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
            c->dn_off[d + 2]++;
    for (int d = 0; d < f->ndomains; d++)
        c->dn_off[d + 2] += c->dn_off[d + 1];
    c->dn = malloc(((size_t)c->dn_off[f->ndomains + 1] + 1) * sizeof *c->dn);
    if (!c->dn)
        return TP_ENOMEM;
    for (int r = 0; r < f->nnodes; r++) {
        int n = c->nord[r];
        for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
            c->dn[c->dn_off[d + 1]++] = n;
    }
    return 0;
}

typedef struct {
    ctx_t *c;
    const tp_workloads_t *run;
    int nr, *r_off, *r_mem, *rrank, *dorder;
    victim_t *v;
    tp_load_t *l; /* the load being shed */
} pre_t;

static void stop(pre_t *P, int ri, int sign)
{
    const tp_workload_t *w = &P->run->w[ri];
    P->c->preempted[ri] = sign < 0;
    tp_load_apply(P->l, P->c->f, w->node, w->gpus,
                  tp_fleet_gpu_watts(P->c->f, w->node, w->model), sign);
}

/* Entity e: a node (e < nnodes) or the domain e − nnodes. */
static bool entity_over(const pre_t *P, const tp_load_t *l, int e)
{
    int nn = P->c->f->nnodes;
    return e < nn ? ctx_over(l->node_w[e], P->c->ncap[e])
                  : ctx_over(l->domain_w[e - nn], P->c->dcap[e - nn]);
}

/* The preemptible, still running work beneath entity e, into P->v from nv on;
 * returns the new count. */
static int gather_at(pre_t *P, int e, bool all, int nv)
{
    const ctx_t *c = P->c;
    int nn = c->f->nnodes;
    int lo = e < nn ? e : c->dn_off[e - nn], hi = e < nn ? e + 1 : c->dn_off[e - nn + 1];
    for (int a = lo; a < hi; a++) {
        int n = e < nn ? a : c->dn[a];
        for (int b = P->r_off[n]; b < P->r_off[n + 1]; b++) {
            int ri = P->r_mem[b];
            const tp_workload_t *w = &P->run->w[ri];
            if (w->preemptible && (all || !c->preempted[ri]))
                P->v[nv++] = (victim_t){w->priority, tp_policy_work_w(c->f, n, w),
                                        P->rrank[ri], ri};
        }
    }
    return nv;
}

/* Nodes over their cap, then domains deepest first: stop the least priority,
 * largest draw first, until the cap holds. */
static void greedy(pre_t *P)
{
    const ctx_t *c = P->c;
    int nn = c->f->nnodes;
    for (int i = 0; i < nn + c->f->ndomains; i++) {
        int e = i < nn ? c->nord[i] : nn + P->dorder[i - nn];
        if (!entity_over(P, P->l, e))
            continue;
        int nv = gather_at(P, e, false, 0);
        qsort(P->v, (size_t)nv, sizeof *P->v, by_victim);
        for (int k = 0; k < nv && entity_over(P, P->l, e); k++)
            stop(P, P->v[k].idx, -1);
    }
}

/* ---- the minimal-preemption MILP, one component at a time ------------------------- */

typedef struct {
    pre_t *P;
    const tp_load_t *orig;
    int *ents, nents; /* over-cap entities of the component */
    int nv;           /* victims: P->v[0..nv) */
    /* classes of interchangeable victims (CSR over P->v indices, each class
     * in the order it stops its members) */
    int ncls, *cls_off, *cls_mem;
    /* by a gang's first running entry: its weight and watts, all members
     * together (a gang's members under over-cap entities share a component) */
    double *gweight, *gwatts;
    double *obj0, *obj1, *start, *x;
    long budget, nodes;
    bool stopped, time_limited;
} comp_t;

static bool beneath(const ctx_t *c, int node, int e)
{
    int nn = c->f->nnodes;
    if (e < nn)
        return node == e;
    for (int d = c->f->nodes[node].domain; d >= 0; d = c->f->domains[d].parent)
        if (d == e - nn)
            return true;
    return false;
}

static int comp_run(void *arg)
{
    comp_t *m = arg;
    const ctx_t *c = m->P->c;
    int nn = c->f->nnodes, rc = TP_ENOMEM;
    int *ind = malloc(((size_t)m->ncls + 1) * sizeof *ind);
    double *val = malloc(((size_t)m->ncls + 1) * sizeof *val);
    glp_prob *G = glp_create_prob();
    if (!ind || !val)
        goto out;
    glp_set_obj_dir(G, GLP_MAX);
    glp_add_cols(G, m->ncls);
    for (int k = 0; k < m->ncls; k++) {
        const tp_workload_t *w = &m->P->run->w[m->P->v[m->cls_mem[m->cls_off[k]]].idx];
        int size = w->gang ? 1 : m->cls_off[k + 1] - m->cls_off[k];
        glp_set_col_kind(G, k + 1, size == 1 ? GLP_BV : GLP_IV);
        glp_set_col_bnds(G, k + 1, GLP_DB, 0, size);
    }
    glp_add_rows(G, m->nents);
    for (int r = 0; r < m->nents; r++) {
        int e = m->ents[r], len = 0;
        double draw = e < nn ? m->orig->node_w[e] : m->orig->domain_w[e - nn];
        double cap = e < nn ? c->ncap[e] : c->dcap[e - nn], avail = 0;
        for (int k = 0; k < m->ncls; k++) {
            const victim_t *v = &m->P->v[m->cls_mem[m->cls_off[k]]];
            double coef = 0;
            if (m->P->run->w[v->idx].gang) { /* a gang: its members beneath e */
                for (int a = m->cls_off[k]; a < m->cls_off[k + 1]; a++) {
                    const victim_t *u = &m->P->v[m->cls_mem[a]];
                    if (beneath(c, m->P->run->w[u->idx].node, e))
                        coef += u->watts;
                }
                avail += coef;
            } else if (beneath(c, m->P->run->w[v->idx].node, e)) {
                coef = v->watts;
                avail += v->watts * (m->cls_off[k + 1] - m->cls_off[k]);
            }
            if (coef > 0) {
                ind[++len] = k + 1;
                val[len] = coef;
            }
        }
        glp_set_row_bnds(G, r + 1, GLP_LO, fmin(draw - cap, avail), 0);
        glp_set_mat_row(G, r + 1, len, ind, val);
    }
    lex_t lx = {.nstages = 2,
                .obj = {m->obj0, m->obj1},
                .integral = {true, false},
                .node_budget = m->budget, /* no iteration budget */
                .start = m->start,
                .x = m->x};
    rc = lex_solve(G, &lx);
    m->nodes = lx.nodes;
    m->stopped = lx.stopped;
    m->time_limited = lx.time_limited;
out:
    glp_delete_prob(G);
    free(ind);
    free(val);
    return rc;
}

/* A victim's class key: its deepest over-cap entity (which fixes its rows),
 * weight and watts; then the order a class stops its members in. */
typedef struct {
    int ent, gang, pos; /* pos: the victim's index in P->v (canonical order) */
    double weight, watts;
} vkey_t;

static int by_class(const void *a, const void *b)
{
    const vkey_t *x = a, *y = b;
    if (x->ent != y->ent)
        return x->ent < y->ent ? -1 : 1;
    if (x->weight != y->weight)
        return x->weight < y->weight ? -1 : 1;
    if (x->watts != y->watts)
        return x->watts < y->watts ? -1 : 1;
    if (x->gang != y->gang)
        return x->gang < y->gang ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* The classes of P->v[0..m->nv) (top: the component's entity of each
 * over-cap entity), ordered by their first member, i.e. canonically. */
static int classify(comp_t *m, const int *top, vkey_t *key, int *first)
{
    const ctx_t *c = m->P->c;
    const tp_fleet_t *f = c->f;
    int nn = f->nnodes;
    for (int k = 0; k < m->nv; k++) {
        const tp_workload_t *w = &m->P->run->w[m->P->v[k].idx];
        int ent = w->node;
        for (int d = f->nodes[w->node].domain; top[ent] < 0 && d >= 0;
             d = f->domains[d].parent)
            ent = nn + d;
        key[k] = (vkey_t){ent, w->gang != 0, k, (1.0 + w->priority) * w->gpus,
                          m->P->v[k].watts};
        if (w->gang) /* a gang stops whole: its members here are one column */
            key[k] = (vkey_t){nn + f->ndomains + w->gang - 1, 1, k,
                              m->gweight[w->gang - 1], m->gwatts[w->gang - 1]};
    }
    qsort(key, (size_t)m->nv, sizeof *key, by_class);
    /* class starts in key order, then reordered by their first member */
    int nc = 0;
    for (int k = 0; k < m->nv; k++)
        if (k == 0 || key[k].ent != key[k - 1].ent ||
            key[k].weight != key[k - 1].weight || key[k].watts != key[k - 1].watts)
            first[nc++] = k;
    first[nc] = m->nv;
    /* first[] follows the key; the columns follow the classes' first members */
    victim_t *order = malloc(((size_t)nc + 1) * sizeof *order);
    if (!order)
        return TP_ENOMEM;
    for (int q = 0; q < nc; q++)
        order[q] = (victim_t){0, 0, key[first[q]].pos, q};
    qsort(order, (size_t)nc, sizeof *order, by_readmit); /* by rank: pos ascending */
    int at = 0;
    m->ncls = nc;
    for (int q = 0; q < nc; q++) {
        int g = order[q].idx;
        m->cls_off[q] = at;
        for (int k = first[g]; k < first[g + 1]; k++)
            m->cls_mem[at++] = key[k].pos;
    }
    m->cls_off[nc] = at;
    free(order);
    return 0;
}

static int uf_find(int *uf, int e)
{
    while (uf[e] != e)
        e = uf[e] = uf[uf[e]];
    return e;
}

/* Replaces the greedy's choice in every component by the MILP's. */
static int minimise(pre_t *P, const tp_load_t *orig)
{
    ctx_t *c = P->c;
    const tp_fleet_t *f = c->f;
    int nn = f->nnodes, ne = nn + f->ndomains, rc = TP_ENOMEM;
    int *top = malloc(((size_t)ne + 1) * sizeof *top);
    int *ents = malloc(((size_t)ne + 1) * sizeof *ents);
    comp_t m = {.P = P, .orig = orig, .ents = ents};
    size_t vcap = (size_t)P->nr + 1;
    vkey_t *key = malloc(vcap * sizeof *key);
    int *first = malloc((vcap + 1) * sizeof *first);
    m.cls_off = malloc((vcap + 1) * sizeof *m.cls_off);
    m.cls_mem = malloc(vcap * sizeof *m.cls_mem);
    m.obj0 = malloc((vcap + 1) * sizeof *m.obj0);
    m.obj1 = malloc((vcap + 1) * sizeof *m.obj1);
    m.start = malloc((vcap + 1) * sizeof *m.start);
    m.x = malloc((vcap + 1) * sizeof *m.x);
    m.gweight = calloc(vcap, sizeof *m.gweight);
    m.gwatts = calloc(vcap, sizeof *m.gwatts);
    int *uf = malloc(((size_t)ne + 1) * sizeof *uf),
        *gcomp = malloc(vcap * sizeof *gcomp);
    if (!top || !ents || !key || !first || !m.cls_off || !m.cls_mem || !m.obj0 ||
        !m.obj1 || !m.start || !m.x || !m.gweight || !m.gwatts || !uf || !gcomp)
        goto out;
    /* What stopping a gang costs: every member, wherever it runs. */
    for (int i = 0; i < P->nr; i++) {
        const tp_workload_t *w = &P->run->w[i];
        if (w->gang) {
            m.gweight[w->gang - 1] += (1.0 + w->priority) * w->gpus;
            m.gwatts[w->gang - 1] += tp_policy_work_w(f, w->node, w);
        }
    }
    /* The component of every over-cap entity: its highest over-cap ancestor. */
    for (int e = 0; e < ne; e++) {
        top[e] = -1;
        if (!entity_over(P, orig, e))
            continue;
        top[e] = e;
        for (int d = e < nn ? f->nodes[e].domain : f->domains[e - nn].parent; d >= 0;
             d = f->domains[d].parent)
            if (entity_over(P, orig, nn + d))
                top[e] = nn + d;
    }
    /* A gang with members in two components joins them: stopping it is one
     * decision for both (uf: union-find over the components' top entities). */
    for (int e = 0; e < ne; e++)
        uf[e] = e;
    for (int i = 0; i < P->nr; i++)
        gcomp[i] = -1;
    for (int i = 0; i < P->nr; i++) {
        const tp_workload_t *w = &P->run->w[i];
        int t = -1, e = w->node;
        if (!w->gang || !w->preemptible)
            continue;
        for (int d = f->nodes[w->node].domain; top[e] < 0 && d >= 0;
             d = f->domains[d].parent)
            e = nn + d;
        if ((t = top[e]) < 0)
            continue;
        int *g = &gcomp[w->gang - 1];
        if (*g < 0) {
            *g = t;
            continue;
        }
        int a = uf_find(uf, *g), b = uf_find(uf, t);
        if (a != b) /* the smaller entity stays the root: a canonical order */
            uf[a > b ? a : b] = a < b ? a : b;
    }
    for (int t = 0; t < ne; t++) {
        if (top[t] != t || uf_find(uf, t) != t)
            continue;
        m.nents = 0;
        m.nv = 0;
        for (int e = 0; e < ne; e++)
            if (top[e] >= 0 && uf_find(uf, top[e]) == t)
                ents[m.nents++] = e;
        for (int u = t; u < ne; u++)
            if (top[u] == u && uf_find(uf, u) == t)
                m.nv = gather_at(P, u, true, m.nv);
        if (m.nv == 0)
            continue;
        qsort(P->v, (size_t)m.nv, sizeof *P->v, by_victim); /* canonical order */
        if (classify(&m, top, key, first) < 0)
            goto out;
        for (int k = 0; k < m.ncls; k++) {
            const victim_t *v = &P->v[m.cls_mem[m.cls_off[k]]];
            const tp_workload_t *w = &P->run->w[v->idx];
            m.obj0[k + 1] = -(1.0 + w->priority) * w->gpus;
            m.obj1[k + 1] = -v->watts;
            m.start[k + 1] = 0;
            for (int a = m.cls_off[k]; a < m.cls_off[k + 1]; a++)
                m.start[k + 1] += c->preempted[P->v[m.cls_mem[a]].idx];
            if (w->gang) { /* the whole gang's cost, once */
                m.obj0[k + 1] = -m.gweight[w->gang - 1];
                m.obj1[k + 1] = -m.gwatts[w->gang - 1];
                m.start[k + 1] = m.start[k + 1] > 0;
            }
        }
        m.budget = milp_node_budget(c, m.ncls);
        char msg[256];
        if ((rc = glpk_guarded(comp_run, &m, msg, sizeof msg)) < 0)
            goto out;
        for (int k = 0; k < m.ncls; k++) {
            int stopping = (int)floor(m.x[k + 1] + 0.5);
            int g = P->run->w[P->v[m.cls_mem[m.cls_off[k]]].idx].gang;
            if (g && stopping > 0) /* every member of the column */
                stopping = m.cls_off[k + 1] - m.cls_off[k];
            for (int a = m.cls_off[k]; a < m.cls_off[k + 1]; a++) {
                int ri = P->v[m.cls_mem[a]].idx;
                bool want = a - m.cls_off[k] < stopping;
                if (want != (bool)c->preempted[ri])
                    stop(P, ri, want ? -1 : +1);
            }
        }
    }
    rc = 0;
out:
    free(top);
    free(ents);
    free(key);
    free(first);
    free(m.cls_off);
    free(m.cls_mem);
    free(m.obj0);
    free(m.obj1);
    free(m.start);
    free(m.x);
    free(m.gweight);
    free(m.gwatts);
    free(uf);
    free(gcomp);
    return rc;
}

/* Why ri was stopped: the deepest over-cap node or domain above it. */
static void why(const pre_t *P, const tp_load_t *orig, int ri, char *buf, size_t len)
{
    const tp_fleet_t *f = P->c->f;
    int n = P->run->w[ri].node;
    if (entity_over(P, orig, n)) {
        snprintf(buf, len, "power_node:%s", f->nodes[n].id);
        return;
    }
    for (int d = f->nodes[n].domain; d >= 0; d = f->domains[d].parent)
        if (entity_over(P, orig, f->nnodes + d)) {
            snprintf(buf, len, "power_domain:%s", f->domains[d].id);
            return;
        }
    if (P->run->w[ri].gang) /* stopped because another member had to stop */
        snprintf(buf, len, "gang:%s", P->run->w[ri].id);
    else
        snprintf(buf, len, "power_node:%s", f->nodes[n].id);
}

static const char *running_id(const void *run, int i)
{
    return ((const tp_workloads_t *)run)->w[i].id;
}

int preempt_run(ctx_t *c, tp_result_t *r, char ***unmet, int *nunmet)
{
    const tp_fleet_t *f = c->f;
    const tp_workloads_t *run = c->running;
    int nr = run ? run->n : 0, rc = TP_ENOMEM;
    pre_t P = {.c = c, .run = run, .nr = nr, .l = c->base};
    tp_load_t *orig = NULL;
    int *rord = NULL;
    bool any = false;
    *unmet = NULL;
    *nunmet = 0;
    c->preempted = calloc((size_t)nr + 1, 1);
    if (!c->preempted)
        return TP_ENOMEM;
    for (int n = 0; n < f->nnodes && !any; n++)
        any = ctx_over(c->base->node_w[n], c->ncap[n]);
    for (int d = 0; d < f->ndomains && !any; d++)
        any = ctx_over(c->base->domain_w[d], c->dcap[d]);
    if (!any) /* the common case: every cap holds */
        return 0;
    P.r_off = calloc((size_t)f->nnodes + 1, sizeof *P.r_off);
    P.r_mem = malloc(((size_t)nr + 1) * sizeof *P.r_mem);
    P.rrank = malloc(((size_t)nr + 1) * sizeof *P.rrank);
    P.dorder = malloc(((size_t)f->ndomains + 1) * sizeof *P.dorder);
    P.v = malloc(((size_t)(nr > f->ndomains ? nr : f->ndomains) + 1) * sizeof *P.v);
    rord = ctx_order_by_id(nr, running_id, run);
    orig = tp_load_copy(c->base);
    if (!P.r_off || !P.r_mem || !P.rrank || !P.dorder || !P.v || !rord || !orig ||
        nodes_beneath(c) < 0)
        goto out;
    for (int i = 0; i < nr; i++)
        P.rrank[rord[i]] = i;
    /* Running work by node (CSR, by id). */
    for (int i = 0; i < nr; i++)
        P.r_off[run->w[i].node + 1]++;
    for (int n = 0; n < f->nnodes; n++)
        P.r_off[n + 1] += P.r_off[n];
    {
        int *fill = malloc(((size_t)f->nnodes + 1) * sizeof *fill);
        if (!fill)
            goto out;
        memcpy(fill, P.r_off, (size_t)f->nnodes * sizeof *fill);
        for (int i = 0; i < nr; i++)
            P.r_mem[fill[run->w[rord[i]].node]++] = rord[i];
        free(fill);
    }
    /* Domains deepest first, then by id. */
    for (int i = 0; i < f->ndomains; i++) {
        int d = c->dord[i];
        P.v[i] = (victim_t){f->domains[d].depth, 0, i, d};
    }
    qsort(P.v, (size_t)f->ndomains, sizeof *P.v, by_readmit);
    for (int d = 0; d < f->ndomains; d++)
        P.dorder[d] = P.v[d].idx;

    greedy(&P);                        /* a feasible start */
    if ((rc = minimise(&P, orig)) < 0) /* the fewest weighted GPUs, then watts */
        goto out;
    rc = TP_ENOMEM;
    greedy(&P); /* closes what solver tolerances may have left open */
    /* Restart in place what fits again, most important first. */
    {
        int nv = 0;
        for (int i = 0; i < nr; i++)
            if (c->preempted[i])
                P.v[nv++] = (victim_t){run->w[i].priority, 0, P.rrank[i], i};
        qsort(P.v, (size_t)nv, sizeof *P.v, by_readmit);
        for (int i = 0; i < nv; i++) {
            const tp_workload_t *w = &run->w[P.v[i].idx];
            if (ctx_fits(c, P.l, w, w->node))
                stop(&P, P.v[i].idx, +1);
        }
    }
    /* A gang that lost a member is stopped whole (stopping more only lowers
     * every draw, so the caps still hold). */
    for (int i = 0; i < nr; i++) {
        int g = run->w[i].gang - 1;
        if (g >= 0 && c->preempted[i] && !c->preempted[g])
            stop(&P, g, -1);
    }
    for (int i = 0; i < nr; i++) {
        int g = run->w[i].gang - 1;
        if (g >= 0 && c->preempted[g] && !c->preempted[i])
            stop(&P, i, -1);
    }
    for (int i = 0; i < nr; i++) {
        int ri = rord[i];
        char buf[160];
        if (!c->preempted[ri])
            continue;
        why(&P, orig, ri, buf, sizeof buf);
        if (tp_result_add_preemption(r, ri, run->w[ri].node, buf) < 0)
            goto out;
    }
    /* What still exceeds a cap: only non-preemptible work (or idle draw) is left. */
    for (int n = 0; n < f->nnodes; n++)
        if (ctx_over(c->base->node_w[n], c->ncap[n]) &&
            push_str(unmet, nunmet, "power_node", f->nodes[n].id) < 0)
            goto out;
    for (int d = 0; d < f->ndomains; d++)
        if (ctx_over(c->base->domain_w[d], c->dcap[d]) &&
            push_str(unmet, nunmet, "power_domain", f->domains[d].id) < 0)
            goto out;
    rc = 0;
out:
    tp_load_free(orig);
    free(rord);
    free(P.r_off);
    free(P.r_mem);
    free(P.rrank);
    free(P.dorder);
    free(P.v);
    return rc;
}
