/* util/strmap.c — FNV-1a hashed, linearly probed string → int map. */
#include "util/strmap.h"

#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct tp_strmap {
    size_t cap, count; /* cap is a power of two, kept ≥ 2 × count */
    const char **keys;
    int *vals;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int alloc_slots(tp_strmap_t *m, size_t cap)
{
    m->keys = calloc(cap, sizeof *m->keys);
    m->vals = calloc(cap, sizeof *m->vals);
    if (!m->keys || !m->vals) {
        free(m->keys);
        free(m->vals);
        return TP_ENOMEM;
    }
    m->cap = cap;
    return 0;
}

tp_strmap_t *tp_strmap_new(size_t expected)
{
    tp_strmap_t *m = calloc(1, sizeof *m);
    size_t cap = 16;
    if (!m)
        return NULL;
    while (cap < 2 * expected)
        cap *= 2;
    if (alloc_slots(m, cap) < 0) {
        free(m);
        return NULL;
    }
    return m;
}

void tp_strmap_free(tp_strmap_t *m)
{
    if (!m)
        return;
    free(m->keys);
    free(m->vals);
    free(m);
}

static size_t find(const tp_strmap_t *m, const char *key)
{
    size_t i = (size_t)hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int grow(tp_strmap_t *m)
{
    tp_strmap_t bigger = {0};
    if (alloc_slots(&bigger, m->cap * 2) < 0)
        return TP_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i]) {
            size_t j = find(&bigger, m->keys[i]);
            bigger.keys[j] = m->keys[i];
            bigger.vals[j] = m->vals[i];
        }
    }
    free(m->keys);
    free(m->vals);
    m->keys = bigger.keys;
    m->vals = bigger.vals;
    m->cap = bigger.cap;
    return 0;
}

int tp_strmap_put(tp_strmap_t *m, const char *key, int value)
{
    if (2 * (m->count + 1) > m->cap && grow(m) < 0)
        return TP_ENOMEM;
    size_t i = find(m, key);
    if (m->keys[i])
        return TP_EDUP;
    m->keys[i] = key;
    m->vals[i] = value;
    m->count++;
    return 0;
}

int tp_strmap_get(const tp_strmap_t *m, const char *key)
{
    if (!m)
        return -1;
    size_t i = find(m, key);
    return m->keys[i] ? m->vals[i] : -1;
}

size_t tp_strmap_count(const tp_strmap_t *m)
{
    return m ? m->count : 0;
}

int tp_strmap_set(tp_strmap_t *m, const char *key, int value)
{
    size_t i = find(m, key);
    if (!m->keys[i])
        return -1;
    m->vals[i] = value;
    return 0;
}

/* Linear probing without tombstones: the entries after the hole, up to the next
 * empty slot, move back into it when their home slot does not lie in between
 * (so every key stays reachable from its home). */
int tp_strmap_del(tp_strmap_t *m, const char *key)
{
    size_t mask = m->cap - 1, i = find(m, key);
    if (!m->keys[i])
        return -1;
    for (size_t j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
        size_t home = (size_t)hash(m->keys[j]) & mask;
        /* j's key may fill hole i unless its home lies cyclically in (i, j] */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        m->keys[i] = m->keys[j];
        m->vals[i] = m->vals[j];
        i = j;
    }
    m->keys[i] = NULL;
    m->count--;
    return 0;
}
