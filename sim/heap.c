/*
 * sim/heap.c — the event heap of sim/heap.h: an array-backed binary heap
 * ordered by (t, cls, seq).
 */
#include "sim/heap.h"

#include "util/error.h"

#include <stdlib.h>

static int less(const tp_event_t *a, const tp_event_t *b)
{
    if (a->t != b->t)
        return a->t < b->t;
    if (a->cls != b->cls)
        return a->cls < b->cls;
    return a->seq < b->seq;
}

void tp_heap_init(tp_heap_t *h)
{
    h->ev = NULL;
    h->n = h->cap = 0;
    h->next_seq = 0;
}

void tp_heap_fini(tp_heap_t *h)
{
    free(h->ev);
    tp_heap_init(h);
}

int tp_heap_push(tp_heap_t *h, const tp_event_t *e)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 256;
        tp_event_t *grown = realloc(h->ev, cap * sizeof *grown);
        if (!grown)
            return TP_ENOMEM;
        h->ev = grown;
        h->cap = cap;
    }
    size_t i = h->n++;
    tp_event_t x = *e;
    x.seq = h->next_seq++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!less(&x, &h->ev[p]))
            break;
        h->ev[i] = h->ev[p];
        i = p;
    }
    h->ev[i] = x;
    return 0;
}

int tp_heap_pop(tp_heap_t *h, tp_event_t *out)
{
    if (h->n == 0)
        return 0;
    *out = h->ev[0];
    tp_event_t x = h->ev[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && less(&h->ev[c + 1], &h->ev[c]))
            c++;
        if (!less(&h->ev[c], &x))
            break;
        h->ev[i] = h->ev[c];
        i = c;
    }
    if (n)
        h->ev[i] = x;
    return 1;
}

const tp_event_t *tp_heap_peek(const tp_heap_t *h)
{
    return h->n ? &h->ev[0] : NULL;
}
