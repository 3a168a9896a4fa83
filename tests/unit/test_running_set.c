/*
 * tests/unit/test_running_set.c — the service's running set under release
 * (scheduler/world.c's wl_remove_marked) and the string map's delete and
 * update (util/strmap.c), each against a naive model over random sequences:
 * every entry kept exactly once with its node and follower value, gangs whole,
 * consecutive and pointing at their first member, the id index naming each
 * workload's first entry and nothing removed, nodes whose work changed order
 * marked, and single-node releases moving no more entries than they remove.
 */
#include "scheduler/serve_internal.h"
#include "tests/unit/tp_test.h"
#include "util/strmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffffff;
}

/* ---- util/strmap.c: put, set, del, get against an array of (key, value) ---- */

TP_TEST(strmap_delete_and_set_match_a_naive_map)
{
    enum { KEYS = 300, STEPS = 20000 };
    char keys[KEYS][16];
    int model[KEYS]; /* -1: absent */
    for (int rounds = 0; rounds < tp_test_soak(); rounds++) {
        unsigned seed = 7u + (unsigned)rounds * 977u;
        tp_strmap_t *m = tp_strmap_new(0); /* small: it grows, probes wrap around */
        TP_ASSERT(m);
        for (int k = 0; k < KEYS; k++) {
            snprintf(keys[k], sizeof keys[k], "w-%d", k);
            model[k] = -1;
        }
        int bad = 0;
        for (int step = 0; step < STEPS && !bad; step++) {
            int k = (int)(rnd(&seed) % KEYS), op = (int)(rnd(&seed) % 4);
            size_t count = 0;
            if (op == 0) {
                int rc = tp_strmap_put(m, keys[k], step);
                bad |= model[k] < 0 ? rc != 0 : rc != TP_EDUP;
                if (model[k] < 0)
                    model[k] = step;
            } else if (op == 1) {
                bad |= tp_strmap_set(m, keys[k], step) != (model[k] < 0 ? -1 : 0);
                if (model[k] >= 0)
                    model[k] = step;
            } else if (op == 2) {
                bad |= tp_strmap_del(m, keys[k]) != (model[k] < 0 ? -1 : 0);
                model[k] = -1;
            }
            for (int q = 0; q < KEYS; q++) { /* every key findable, nothing stale */
                bad |= tp_strmap_get(m, keys[q]) != model[q];
                count += model[q] >= 0;
            }
            bad |= tp_strmap_count(m) != count;
            if (bad)
                tp_test_fail(__FILE__, __LINE__,
                             "step %d (op %d on %s) departs from the model", step, op,
                             keys[k]);
        }
        tp_strmap_free(m);
    }
}

/* ---- scheduler/world.c: wl_remove_marked against a list of live workloads ---- */

typedef struct {
    int id;      /* workload number (id "r<id>") */
    int members; /* 1, or a gang's size */
    int node[4]; /* per member */
    int tag[4];  /* per member: the follower value it carries */
    bool live;
} mwl_t;

static void add_workload(tp_workloads_t *ws, int **follow, int *cap, mwl_t *m,
                         unsigned *s, int id, int *tags, bool gangs)
{
    char name[16];
    snprintf(name, sizeof name, "r%d", id);
    tp_workload_t w = {.id = name, .gpus = 1, .node = -1, .any_gpu_model = true};
    m->id = id;
    m->members = gangs && rnd(s) % 5 == 0 ? 2 + (int)(rnd(s) % 3) : 1;
    m->live = true;
    w.nodes = m->members;
    for (int k = 0; k < m->members; k++)
        m->node[k] = (int)(rnd(s) % 50);
    int base = ws->n;
    int rc =
        m->members > 1 ? wl_append_gang(ws, &w, m->node) : wl_append(ws, &w, m->node[0]);
    if (rc < 0)
        tp_test_fail(__FILE__, __LINE__, "append: %d", rc);
    if (ws->n > *cap) {
        *cap = 2 * ws->n;
        *follow = realloc(*follow, (size_t)*cap * sizeof **follow);
    }
    for (int k = 0; k < m->members; k++) {
        m->tag[k] = (*tags)++;
        (*follow)[base + k] = m->tag[k];
    }
}

/* The set and the model agree (entries, gangs, index); *where: tag → entry. */
static bool same(const tp_workloads_t *ws, const int *follow, const mwl_t *m, int nm,
                 int *where, int ntags)
{
    int entries = 0, live = 0;
    for (int t = 0; t < ntags; t++)
        where[t] = -1;
    for (int i = 0; i < ws->n; i++)
        where[follow[i]] = i;
    for (int q = 0; q < nm; q++) {
        char name[16];
        snprintf(name, sizeof name, "r%d", m[q].id);
        int at = tp_strmap_get(ws->ix, name);
        if (!m[q].live) {
            if (at != -1)
                return false;
            continue;
        }
        live++;
        entries += m[q].members;
        int first = where[m[q].tag[0]];
        if (at != first || first < 0)
            return false;
        for (int k = 0; k < m[q].members; k++) {
            int e = where[m[q].tag[k]];
            if (e != first + k || strcmp(ws->w[e].id, name) ||
                ws->w[e].node != m[q].node[k] ||
                ws->w[e].gang != (m[q].members > 1 ? first + 1 : 0))
                return false;
        }
    }
    return ws->n == entries && tp_strmap_count(ws->ix) == (size_t)live;
}

static void run_sequence(unsigned seed, bool gangs)
{
    enum { MAXW = 3000, ROUNDS = 300 };
    tp_workloads_t *ws = tp_workloads_new_empty();
    mwl_t *m = calloc(MAXW, sizeof *m);
    int cap = 64, *follow = malloc((size_t)cap * sizeof *follow), nm = 0, tags = 0;
    int *where = malloc(MAXW * 4 * sizeof *where),
        *before = malloc(MAXW * 4 * sizeof *before);
    TP_ASSERT(ws && m && follow && where && before);
    for (int round = 0; round < ROUNDS; round++) {
        int adds = (int)(rnd(&seed) % 12);
        for (int a = 0; a < adds && nm < MAXW; a++, nm++)
            add_workload(ws, &follow, &cap, &m[nm], &seed, nm, &tags, gangs);
        TP_ASSERT(same(ws, follow, m, nm, where, tags));
        memcpy(before, where, (size_t)tags * sizeof *before);
        /* release a random few, whole (some rounds a burst) */
        bool *gone = calloc((size_t)ws->n + 1, sizeof *gone);
        int *list = malloc(((size_t)ws->n + 1) * sizeof *list), k = 0, n0 = ws->n;
        bool any_gang = false, *changed = calloc(50, sizeof *changed);
        TP_ASSERT(gone && list && changed);
        int want = round % 25 == 0 ? n0 / 3 : (int)(rnd(&seed) % 6);
        for (int r = 0; r < want && nm; r++) {
            mwl_t *v = &m[rnd(&seed) % (unsigned)nm];
            if (!v->live)
                continue;
            v->live = false;
            any_gang |= v->members > 1;
            for (int q = 0; q < v->members; q++) {
                int e = where[v->tag[q]];
                gone[e] = true;
                list[k++] = e;
                changed[v->node[q]] = true; /* as apply() marks a release's node */
            }
        }
        int moved = 0, unmarked = 0, last[50];
        TP_ASSERT(wl_remove_marked(ws, gone, list, k, n0, follow, changed) == 0);
        TP_ASSERT(same(ws, follow, m, nm, where, tags));
        /* a node whose work changed order must be marked (summed again) */
        for (int nd = 0; nd < 50; nd++)
            last[nd] = -1;
        for (int i = 0; i < ws->n; i++) {
            int nd = ws->w[i].node, was = before[follow[i]];
            moved += was != i;
            unmarked += was < last[nd] && !changed[nd];
            last[nd] = was;
        }
        TP_CHECK_EQ_INT(unmarked, 0);
        int gangs_left = 0; /* with no gang in the set, releases are O(k) */
        for (int i = 0; i < ws->n; i++)
            gangs_left += ws->w[i].gang != 0;
        if (!any_gang && !gangs_left)
            TP_CHECK(moved <= k);
        free(gone);
        free(list);
        free(changed);
    }
    /* and the order-keeping pass when the list is not at hand (out of memory) */
    bool *gone = calloc((size_t)ws->n + 1, sizeof *gone);
    int n0 = ws->n;
    TP_ASSERT(gone);
    for (int q = 0; q < nm; q++)
        if (m[q].live && q % 2 == 0) {
            m[q].live = false;
            for (int k = 0; k < m[q].members; k++)
                gone[where[m[q].tag[k]]] = true;
        }
    TP_ASSERT(wl_remove_marked(ws, gone, NULL, n0, n0, follow, NULL) == 0);
    TP_CHECK(same(ws, follow, m, nm, where, tags));
    free(gone);
    tp_workloads_free(ws);
    free(m);
    free(follow);
    free(where);
    free(before);
}

TP_TEST(running_set_release_single_node_work_matches_a_naive_model)
{
    for (int r = 0; r < tp_test_soak(); r++)
        run_sequence(11u + (unsigned)r * 131u, false);
}

TP_TEST(running_set_release_with_gangs_matches_a_naive_model)
{
    for (int r = 0; r < tp_test_soak(); r++)
        run_sequence(5u + (unsigned)r * 131u, true);
}
