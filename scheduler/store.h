/*
 * scheduler/store.h — the service's durable record behind one small interface,
 * with two implementations chosen at start (docs/ha.md):
 *
 *   sqlite:DIR            scheduler/store_sqlite.c, the embedded journal
 *                         (scheduler/journal.h; the default, one instance)
 *   etcd:URL[,URL...]     scheduler/store_etcd.c, rows as JSON values under a
 *                         key prefix in etcd; every commit is one etcd txn,
 *                         fenced by the leader key (see tp_store_set_fence)
 *
 * The operations are journal.h's: begin/commit/rollback group writes into one
 * atomic commit; a write outside begin..commit commits on its own. Every
 * acknowledged decision is committed (on disk, or in etcd's raft log) before
 * the caller answers. A store is used by one thread at a time (the worker; the
 * main thread at start); tp_store_set_fence and tp_store_poll are the
 * exceptions noted below.
 *
 * Strings passed in are copied; strings handed to load callbacks are borrowed
 * for the call.
 */
#ifndef TP_SCHEDULER_STORE_H
#define TP_SCHEDULER_STORE_H

#include "scheduler/journal.h"
#include "util/error.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct tp_store tp_store_t;
typedef tp_journal_load_t tp_store_load_t;

typedef struct {
    const char *spec;     /* "sqlite:DIR" or "etcd:URL[,URL...]"; NULL: sqlite:data_dir */
    const char *data_dir; /* for a NULL spec */
    const char *prefix;   /* etcd key prefix ("/trustplace/") */
    const char *replica;  /* this replica's name (written into etcd rows as "_by") */
    int timeout_ms;       /* etcd request timeout (0: 5000) */
} tp_store_opts_t;

int tp_store_open(const tp_store_opts_t *o, tp_store_t **out, tp_error_t *err);
void tp_store_close(tp_store_t *st);
/* "sqlite" or "etcd". */
const char *tp_store_kind(const tp_store_t *st);
/* The SQLite journal under a sqlite: store (its audit rows live there); NULL with
 * etcd. Owned by the store. */
tp_journal_t *tp_store_journal(tp_store_t *st);
/* Whether several replicas share it (etcd): then only the leader writes. */
bool tp_store_shared(const tp_store_t *st);

int tp_store_begin(tp_store_t *st, tp_error_t *err);
int tp_store_commit(tp_store_t *st, tp_error_t *err);
void tp_store_rollback(tp_store_t *st);

int tp_store_put_placement(tp_store_t *st, const char *workload, const char *tenant,
                           const char *state, const char *node, int gpus,
                           const char *spec, const char *decision, int64_t at,
                           tp_error_t *err);
int tp_store_set_state(tp_store_t *st, const char *workload, const char *state,
                       int64_t at, tp_error_t *err);
int tp_store_put_idempotency(tp_store_t *st, const char *key, const char *hash,
                             int status, const char *response, tp_error_t *err);
/* Retention (journal.h tp_journal_prune). etcd: nothing is pruned yet (0). */
int tp_store_prune(tp_store_t *st, int64_t idem_before, int64_t done_before,
                   tp_journal_pruned_fn cb, void *arg, tp_error_t *err);
int tp_store_add_power_event(tp_store_t *st, const char *body, int64_t start, int64_t end,
                             int64_t *id, tp_error_t *err);
int tp_store_set_power_event(tp_store_t *st, int64_t id, const char *state,
                             const char *plan, tp_error_t *err);
int tp_store_add_preemption(tp_store_t *st, const char *workload, const char *node,
                            const char *why, int64_t event, int64_t at, tp_error_t *err);
int tp_store_add_profiles(tp_store_t *st, const char *body, int64_t at, tp_error_t *err);

/* Everything, in insertion order (the start of a replica). */
int tp_store_load(tp_store_t *st, const tp_store_load_t *cb, tp_error_t *err);
/* etcd: the revision the last tp_store_load read (0 for SQLite). */
int64_t tp_store_revision(const tp_store_t *st);

/* The audit outbox on either store (journal.h's tp_journal_audit_on,
 * _add_audit and _audit_since). With etcd the records are P a/<seq> rows
 * written in the txn of the write they record (a fenced txn writes none), seq
 * counted by P aseq, so every replica reads the same gapless sequence and the
 * hash chain each one's audit.jsonl builds from it is the same. */
int tp_store_audit_on(tp_store_t *st, tp_journal_facts_fn facts, void *arg,
                      tp_error_t *err);
int tp_store_add_audit(tp_store_t *st, int64_t at, const char *body, tp_error_t *err);
int tp_store_audit_since(tp_store_t *st, int64_t after_seq,
                         int (*row)(void *arg, int64_t seq, int64_t at, const char *body),
                         void *arg, tp_error_t *err);

/* ---- shared stores only (etcd) ---- */

/* The fence every commit is checked against: the commit succeeds only while
 * fence_key exists with create_revision == term (the leader key of this
 * replica's term). term 0: no fence is held and every write fails at once
 * (a follower). Safe to call from any thread; a commit sees the value current
 * when it starts. fence_key is copied. */
void tp_store_set_fence(tp_store_t *st, const char *fence_key, int64_t term);

/* The changes since revision *since (exclusive), read as one snapshot,
 * then delivered to cb in revision order; *since becomes the snapshot's
 * revision. Rows this store wrote or delivered before (preemptions, profiles)
 * are not delivered twice. The read may run on any thread while nothing else
 * uses the store (it has its own etcd connection); the delivery (cb) runs
 * where tp_store_poll_apply is called. */
typedef struct tp_store_changes tp_store_changes_t;
int tp_store_poll(tp_store_t *st, int64_t since, tp_store_changes_t **out,
                  tp_error_t *err);
int64_t tp_store_changes_revision(const tp_store_changes_t *c);
int tp_store_changes_count(const tp_store_changes_t *c);
int tp_store_poll_apply(tp_store_t *st, tp_store_changes_t *c, const tp_store_load_t *cb,
                        tp_error_t *err);
void tp_store_changes_free(tp_store_changes_t *c);
/* The follower feed's watch of P j/ (scheduler/leader.c) gathers changes one
 * at a time: key (under the store's prefix; others are ignored when applied),
 * value (copied), its etcd mod_revision; then how far they reach. Add returns
 * 0 or TP_ENOMEM. */
tp_store_changes_t *tp_store_changes_new(void);
int tp_store_changes_add(tp_store_changes_t *c, const char *key, const char *value,
                         size_t len, int64_t mod_revision);
void tp_store_changes_reach(tp_store_changes_t *c, int64_t revision);
/* Drops the changes at or below revision rev (the copy already reflects them
 * or a later version of the same row): a watch and a read may deliver a row
 * twice and in either order, and an older copy must not replace a newer. */
void tp_store_changes_skip(tp_store_changes_t *c, int64_t rev);

/* The metrics' view of commits (scheduler/metrics.c): successful commits,
 * failed ones, those of the failed that the fence refused (etcd), and every
 * attempt's duration — total microseconds and a histogram whose bucket upper
 * bounds (seconds) are tp_store_commit_le (lat[i]: attempts in bucket i, not
 * cumulative; lat[TP_STORE_LAT_N]: above the last bound). */
#define TP_STORE_LAT_N 12
extern const double tp_store_commit_le[TP_STORE_LAT_N];
typedef struct {
    uint64_t commits, failed, fenced, usec;
    uint64_t lat[TP_STORE_LAT_N + 1];
} tp_store_stats_t;
/* Adds one attempt (rc < 0: failed) that took usec to *acc (the caller holds
 * whatever lock guards acc). */
void tp_store_stats_note(tp_store_stats_t *acc, uint64_t usec, int rc, bool fenced);
/* A consistent snapshot of st's counters (any thread). */
void tp_store_stats(tp_store_t *st, tp_store_stats_t *out);

#endif
