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
 * On the loop thread (tp_leader_* functions below, from serve.c and api.c):
 * a follower polls the store for changes every --poll-ms and applies them to
 * its in-memory copy (reads are served from it); a replica that won becomes
 * the writer only after one more poll read at or after its term (then it has
 * every commit of the leaders before it). Writes reaching a follower are
 * answered 307 with Location: the leader's advertised URL (not forwarded).
 */
#ifndef TP_SCHEDULER_LEADER_H
#define TP_SCHEDULER_LEADER_H

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

/* Counters for the metrics (the observe branch owns /metrics). */
typedef struct {
    uint64_t elections_won, lease_losses, campaigns;
    uint64_t store_commits, store_failed, store_fenced, store_commit_usec;
    uint64_t polls, poll_usec, changes_applied;
    int64_t term;
    bool leader;
} tp_leader_metrics_t;
void tp_leader_metrics(const struct svc *s, tp_leader_metrics_t *m);

#endif
