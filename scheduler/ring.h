/*
 * scheduler/ring.h — which replica owns a node (shared collection, docs/ha.md):
 * rendezvous (highest-random-weight) hashing. Each (replica, node) pair gets a
 * score, the first 8 bytes of SHA-256(replica NUL node) read big-endian; the
 * replica with the highest score owns the node (ties, which need a SHA-256
 * collision in 64 bits, go to the smaller name). Every replica computes the
 * same owner from the same member set without talking to the others, and when
 * a replica leaves only the nodes it owned move (each to the replica with its
 * next-highest score); when one joins it takes about 1/(n+1) of the nodes.
 *
 * Pure functions; nothing is allocated or kept.
 */
#ifndef TP_SCHEDULER_RING_H
#define TP_SCHEDULER_RING_H

#include <stdint.h>

/* The score of (member, node). */
uint64_t tp_ring_score(const char *member, const char *node);
/* Index into members[0..n) of node's owner; -1 when n is 0. */
int tp_ring_owner(const char *const *members, int n, const char *node);

#endif
