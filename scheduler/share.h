/*
 * scheduler/share.h — shared collection among the `serve` replicas of an etcd
 * store (docs/ha.md): each BMC and verifier is polled by one replica, the facts
 * reach every replica through etcd.
 *
 *   P r/<name>   membership: {"name"}, bound to a lease of this module's own
 *                (TTL --lease-ttl, kept alive every --keepalive-ms); the live
 *                replicas are the keys present
 *   P o/<node>   the node's facts as its owner last read them:
 *                {"by", "at", "t": {"cap", "draw", "gpus", "country"}, "obs"}
 *                with "obs" the node's entry of a state document
 *                (docs/formats.md) and "t" when each BMC fact was read
 *
 * Ownership: rendezvous hashing of node ids over the live names
 * (scheduler/ring.h); the collector walks only the owned BMCs and fetches only
 * the owned nodes' attestation results (tp_collector_set_owned). A replica
 * that is not in the member set (no lease yet, or lost) owns nothing. When a
 * replica's lease expires its nodes move at the others' next read (every
 * period) and are collected at once.
 *
 * After each collector cycle the owned nodes whose facts changed, or were last
 * written more than stale_after_s / 3 ago, are written in txns of at most 100
 * puts (unfenced: facts are not decisions; a row's "at" and "t" say how old
 * it is). Every replica (leader and followers alike) reads the o/ rows changed
 * since its last read and rebuilds its observed state from them, each fact
 * aged by its own read time (tp_obs_age): a node that no live replica
 * refreshes keeps aging and turns ineligible as with one instance. A row that
 * does not validate drops the node's facts (fail closed).
 *
 * All etcd I/O runs on libuv's thread pool, one job at a time, with a client of
 * its own; everything else runs on the loop thread.
 */
#ifndef TP_SCHEDULER_SHARE_H
#define TP_SCHEDULER_SHARE_H

#include "util/error.h"

#include <jansson.h>

struct svc;
typedef struct tp_share tp_share_t;

typedef struct {
    const char *urls;   /* etcd endpoints */
    const char *prefix; /* key prefix ("/trustplace/") */
    const char *name;   /* this replica */
    int ttl_s;          /* membership lease TTL (10) */
    int keepalive_ms;   /* (TTL/3) */
    int period_ms;      /* how often rows and members are read (1000) */
} tp_share_opts_t;

/* Starts sharing for svc s (a shared store with collectors): s->share is set.
 * NULL with err set on failure. */
tp_share_t *tp_share_start(struct svc *s, const tp_share_opts_t *o, tp_error_t *err);
/* Stops reading and writing, revokes the membership lease (the others take the
 * nodes over at their next read); frees once its handles are closed. */
void tp_share_stop(tp_share_t *sh);
/* s->collector was (re)created: give it the ownership mask. */
void tp_share_collector(tp_share_t *sh);
/* A cycle of s->collector finished: queue the owned nodes' rows. */
void tp_share_cycle_done(tp_share_t *sh);
/* {"members", "owned", "rows", "written", "write_failures", "bad_rows",
 * "ownership_changes", "revision"} for /readyz; new reference. */
json_t *tp_share_status(const tp_share_t *sh);

#endif
