/*
 * scheduler/leader.h — one leader among the `serve` replicas that share an etcd
 * store (docs/ha.md).
 *
 * Election: each replica holds an etcd lease (TTL --lease-ttl, kept alive every
 * --keepalive-ms on a thread of its own, with its own etcd connection) and
 * campaigns with a txn "create P leader iff its create_revision is 0", the key
 * bound to the lease. The winner's term is that key's create_revision. When
 * the leader dies its lease expires, etcd deletes the key, and a follower's
 * next campaign wins. A leader whose keep-alive fails for a whole TTL, or is
 * told its lease is gone, steps down at once.
 *
 * Fencing: every store commit compares the leader key's create_revision with
 * the writer's term (tp_store_set_fence), so a deposed leader's commit fails
 * in etcd itself even if it has not noticed yet.
 *
 * The follower feed: a watch of P j/ (its own thread and etcd connection)
 * from the revision the copy reflects + 1; the loop applies its events to the
 * in-memory copy (reads are served from it) within milliseconds of a commit.
 * P j/ is also read every 30 s (a stalled stream), at once after a broken or
 * compacted-away stream (the next stream starts after that read), and every
 * --poll-ms while no stream runs. A replica that won becomes the writer only
 * after one range read of P j/ whose header revision is at or after its term
 * (then it has every commit of the leaders before it, whether or not anything
 * changed since). Writes reaching a follower are
 * answered 307 with Location: the leader's advertised URL (not forwarded).
 */
#ifndef TP_SCHEDULER_LEADER_H
#define TP_SCHEDULER_LEADER_H

#include "scheduler/store.h"
#include "util/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct svc;
typedef struct tp_leader tp_leader_t;

typedef struct {
    const char *urls;      /* etcd endpoints */
    const char *prefix;    /* key prefix ("/trustplace/") */
    const char *name;      /* this replica */
    const char *advertise; /* URL clients reach this replica at */
    int ttl_s;             /* lease TTL (default 10) */
    int keepalive_ms;      /* keep-alive period (default TTL/3) */
    int poll_ms;           /* follower feed and campaign period (default 200) */
} tp_leader_opts_t;

/* Starts the election thread and the loop's timer for svc s (whose store is
 * shared). NULL with err set on failure. */
tp_leader_t *tp_leader_start(struct svc *s, const tp_leader_opts_t *o, tp_error_t *err);
/* Stops campaigning, revokes the lease (a clean hand-over), joins the thread,
 * closes the handles. Call on the loop thread; frees once they are closed. */
void tp_leader_stop(tp_leader_t *l);

/* After a worker job (svc_after_job): the feed's changes that waited for the
 * job apply now rather than at the next poll period. NULL: nothing. */
void tp_leader_kick(tp_leader_t *l);
/* Whether this replica may write now (no leader object: always). */
bool tp_leader_may_write(const struct svc *s);
/* For a write request on a replica that may not write: answers it 307 (with
 * Location: the leader's URL + path) or 503 while no leader is known, and
 * returns true. False when the replica may write. */
struct tp_httpd_req;
bool tp_leader_redirect(struct svc *s, struct tp_httpd_req *req, const char *path,
                        const char *query);
/* {"role", "leader", "term", "store": {"kind", "healthy", "error"}} for
 * /readyz; *healthy false when the store is unreachable. New reference. */
json_t *tp_leader_status(const struct svc *s, bool *healthy);

/* Counters for /metrics (scheduler/metrics.c). Without etcd the election and
 * feed fields are zero; leader: this replica writes now (a single instance
 * always does). */
typedef struct {
    bool leader;
    uint64_t elections_won, lease_losses, campaigns;
    tp_store_stats_t store;
    uint64_t polls, poll_usec, poll_failures, changes_applied;
    bool feed_watching; /* a watch stream of P j/ is open (else: polling) */
    uint64_t feed_watch_events, feed_watch_breaks;
    int64_t term;
} tp_leader_metrics_t;
void tp_leader_metrics(const struct svc *s, tp_leader_metrics_t *m);

#endif
