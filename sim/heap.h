/*
 * sim/heap.h — a binary min-heap of timed events, deterministic for equal times.
 *
 * Knows nothing of the simulator: an event is a time, a class, a payload (an
 * int kind, an int argument and a pointer) and a sequence number the heap
 * assigns on push. Events pop in ascending (t, cls, seq) order, so two events
 * at the same time pop by class, and within a class in the order they were
 * pushed. No two events ever compare equal, which makes the order a total,
 * platform-independent function of the pushes.
 */
#ifndef TP_SIM_HEAP_H
#define TP_SIM_HEAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t t;    /* simulated time, microseconds */
    int cls;      /* tie-break class: lower pops first at equal t */
    uint64_t seq; /* assigned by tp_heap_push */
    int kind, arg;
    uint32_t gen; /* payload: a generation counter for cancellable events */
    void *ptr;    /* payload, borrowed */
} tp_event_t;

typedef struct {
    tp_event_t *ev;
    size_t n, cap;
    uint64_t next_seq;
} tp_heap_t;

void tp_heap_init(tp_heap_t *h);
void tp_heap_fini(tp_heap_t *h);
/* Copies *e (its seq is overwritten). 0 or TP_ENOMEM. */
int tp_heap_push(tp_heap_t *h, const tp_event_t *e);
/* Removes the least event into *out; 0 when empty, 1 otherwise. */
int tp_heap_pop(tp_heap_t *h, tp_event_t *out);
/* The least event, or NULL when empty. Borrowed until the next push/pop. */
const tp_event_t *tp_heap_peek(const tp_heap_t *h);

#endif
