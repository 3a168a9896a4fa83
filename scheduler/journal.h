/*
 * scheduler/journal.h — the service's durable record: SQLite in WAL mode with
 * synchronous=FULL, so a decision, release, power event or profile is on disk
 * when its transaction commits, and the service answers only after that.
 *
 * Tables (docs/serve.md): placements (one row per workload id: its spec, state
 * running|pending|released|preempted, node, GPUs, the decision JSON),
 * idempotency (key → request hash and the answer given), power_events,
 * preemptions, profiles. Recovery reads them back in insertion order.
 *
 * A journal is used by one thread at a time (the service's worker; at start,
 * before the worker runs, the main thread). Strings passed in are copied by
 * SQLite; strings handed to the load callbacks are borrowed for the call.
 */
#ifndef TP_SCHEDULER_JOURNAL_H
#define TP_SCHEDULER_JOURNAL_H

#include "util/error.h"

#include <stdint.h>

typedef struct tp_journal tp_journal_t;

/* Creates dir when missing and opens dir/journal.db. */
int tp_journal_open(const char *dir, tp_journal_t **out, tp_error_t *err);
void tp_journal_close(tp_journal_t *j);

int tp_journal_begin(tp_journal_t *j, tp_error_t *err);
int tp_journal_commit(tp_journal_t *j, tp_error_t *err);
void tp_journal_rollback(tp_journal_t *j);

/* Inserts or replaces the row of workload (node NULL and gpus 0 unless running). */
int tp_journal_put_placement(tp_journal_t *j, const char *workload, const char *tenant,
                             const char *state, const char *node, int gpus,
                             const char *spec, const char *decision, int64_t at,
                             tp_error_t *err);
/* Changes the state of an existing row (release, preemption). */
int tp_journal_set_state(tp_journal_t *j, const char *workload, const char *state,
                         int64_t at, tp_error_t *err);
/* The row remembers when it was written (idempotency.at, for the retention). */
int tp_journal_put_idempotency(tp_journal_t *j, const char *key, const char *hash,
                               int status, const char *response, tp_error_t *err);
/* Retention, in one transaction: deletes the idempotency keys written before
 * idem_before and the placements released or preempted before done_before
 * (unix seconds), calling cb(arg, 0, key) and cb(arg, 1, workload) for each
 * row deleted (borrowed; cb < 0 rolls everything back). */
typedef int (*tp_journal_pruned_fn)(void *arg, int table, const char *key);
int tp_journal_prune(tp_journal_t *j, int64_t idem_before, int64_t done_before,
                     tp_journal_pruned_fn cb, void *arg, tp_error_t *err);
/* New power event; *id gets its row id. end 0: none. */
int tp_journal_add_power_event(tp_journal_t *j, const char *body, int64_t start,
                               int64_t end, int64_t *id, tp_error_t *err);
int tp_journal_set_power_event(tp_journal_t *j, int64_t id, const char *state,
                               const char *plan, tp_error_t *err);
int tp_journal_add_preemption(tp_journal_t *j, const char *workload, const char *node,
                              const char *why, int64_t event, int64_t at,
                              tp_error_t *err);
int tp_journal_add_profiles(tp_journal_t *j, const char *body, int64_t at,
                            tp_error_t *err);

/* Recovery: calls each callback once per row (NULL callbacks are skipped). A
 * callback returning < 0 stops the walk with that code. */
typedef struct {
    void *arg;
    int (*placement)(void *arg, const char *workload, const char *state, const char *node,
                     int gpus, const char *spec, const char *decision);
    int (*idempotency)(void *arg, const char *key, const char *hash, int status,
                       const char *response);
    int (*power_event)(void *arg, int64_t id, const char *body, int64_t start,
                       int64_t end, const char *state, const char *plan);
    int (*preemption)(void *arg, const char *workload, const char *node, const char *why,
                      int64_t event, int64_t at);
    int (*profiles)(void *arg, const char *body);
} tp_journal_load_t;
int tp_journal_load(tp_journal_t *j, const tp_journal_load_t *cb, tp_error_t *err);

/* The audit outbox (table audit: seq, at, body JSON). After tp_journal_audit_on
 * every decision, release, preemption, power event and profile change written
 * to this journal also writes its audit row in the same transaction; facts(arg,
 * node) returns the observed facts of node as malloc'd JSON text (or NULL) and
 * runs on the thread that writes, once per node and transaction (the facts a
 * transaction's rows rely on are those of its first ask; outside a transaction
 * every row asks). tp_journal_add_audit adds a row by hand
 * (config reloads, service start). tp_journal_audit_since walks rows with
 * seq > after_seq in order (body borrowed for the call). */
typedef char *(*tp_journal_facts_fn)(void *arg, const char *node);
int tp_journal_audit_on(tp_journal_t *j, tp_journal_facts_fn facts, void *arg,
                        tp_error_t *err);
int tp_journal_add_audit(tp_journal_t *j, int64_t at, const char *body, tp_error_t *err);
int tp_journal_audit_since(tp_journal_t *j, int64_t after_seq,
                           int (*row)(void *arg, int64_t seq, int64_t at,
                                      const char *body),
                           void *arg, tp_error_t *err);

#endif
