/*
 * solver/keytab.c — interns small integer vectors into dense ids. The solver
 * keys its aggregation (node and workload classes, groups) with it.
 */
#include "solver/solver_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const int *key, int len)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)len;
    for (int i = 0; i < len; i++) {
        h ^= (uint32_t)key[i];
        h *= 1099511628211ULL;
        h ^= h >> 29;
    }
    return h;
}

int keytab_init(keytab_t *t, size_t expected)
{
    memset(t, 0, sizeof *t);
    t->nslots = 64;
    while (t->nslots < 2 * expected)
        t->nslots *= 2;
    t->slots = calloc(t->nslots, sizeof *t->slots);
    return t->slots ? 0 : TP_ENOMEM;
}

void keytab_fini(keytab_t *t)
{
    free(t->pool);
    free(t->off);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static bool same(const keytab_t *t, int id, const int *key, int len)
{
    const int *k = t->pool + t->off[id];
    return k[0] == len && memcmp(k + 1, key, (size_t)len * sizeof *key) == 0;
}

static int rehash(keytab_t *t)
{
    size_t ns = t->nslots * 2;
    int *slots = calloc(ns, sizeof *slots);
    if (!slots)
        return TP_ENOMEM;
    for (int id = 0; id < t->n; id++) {
        const int *k = t->pool + t->off[id];
        size_t i = (size_t)hash(k + 1, k[0]) & (ns - 1);
        while (slots[i])
            i = (i + 1) & (ns - 1);
        slots[i] = id + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = ns;
    return 0;
}

int keytab_intern(keytab_t *t, const int *key, int len)
{
    size_t i = (size_t)hash(key, len) & (t->nslots - 1);
    while (t->slots[i]) {
        if (same(t, t->slots[i] - 1, key, len))
            return t->slots[i] - 1;
        i = (i + 1) & (t->nslots - 1);
    }
    if (t->npool + (size_t)len + 1 > t->cappool) {
        size_t cap = t->cappool ? 2 * t->cappool : 1024;
        while (cap < t->npool + (size_t)len + 1)
            cap *= 2;
        int *p = realloc(t->pool, cap * sizeof *p);
        if (!p)
            return TP_ENOMEM;
        t->pool = p;
        t->cappool = cap;
    }
    if (t->n == t->capn) {
        int cap = t->capn ? 2 * t->capn : 64;
        int *o = realloc(t->off, (size_t)cap * sizeof *o);
        if (!o)
            return TP_ENOMEM;
        t->off = o;
        t->capn = cap;
    }
    int id = t->n++;
    t->off[id] = (int)t->npool;
    t->pool[t->npool] = len;
    memcpy(t->pool + t->npool + 1, key, (size_t)len * sizeof *key);
    t->npool += (size_t)len + 1;
    t->slots[i] = id + 1;
    if ((size_t)t->n * 2 > t->nslots && rehash(t) < 0)
        return TP_ENOMEM;
    return id;
}

int u64map_init(u64map_t *m, size_t expected)
{
    m->n = 0;
    m->nslots = 64;
    while (m->nslots < 2 * expected)
        m->nslots *= 2;
    m->keys = malloc(m->nslots * sizeof *m->keys);
    m->ids = malloc(m->nslots * sizeof *m->ids);
    if (!m->keys || !m->ids) {
        u64map_fini(m);
        return TP_ENOMEM;
    }
    memset(m->ids, 0xff, m->nslots * sizeof *m->ids);
    return 0;
}

void u64map_fini(u64map_t *m)
{
    free(m->keys);
    free(m->ids);
    memset(m, 0, sizeof *m);
}

static size_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

int u64map_intern(u64map_t *m, uint64_t key)
{
    size_t i = mix(key) & (m->nslots - 1);
    while (m->ids[i] >= 0) {
        if (m->keys[i] == key)
            return m->ids[i];
        i = (i + 1) & (m->nslots - 1);
    }
    if ((size_t)(m->n + 1) * 2 > m->nslots) {
        u64map_t big;
        if (u64map_init(&big, m->nslots) < 0)
            return TP_ENOMEM;
        for (size_t j = 0; j < m->nslots; j++)
            if (m->ids[j] >= 0) {
                size_t k = mix(m->keys[j]) & (big.nslots - 1);
                while (big.ids[k] >= 0)
                    k = (k + 1) & (big.nslots - 1);
                big.keys[k] = m->keys[j];
                big.ids[k] = m->ids[j];
            }
        big.n = m->n;
        u64map_fini(m);
        *m = big;
        i = mix(key) & (m->nslots - 1);
        while (m->ids[i] >= 0)
            i = (i + 1) & (m->nslots - 1);
    }
    m->keys[i] = key;
    m->ids[i] = m->n;
    return m->n++;
}
