/*
 * scheduler/store_etcd.h — the etcd implementation behind scheduler/store.h
 * (internal: only store.c calls it). Same contracts as store.h.
 */
#ifndef TP_SCHEDULER_STORE_ETCD_H
#define TP_SCHEDULER_STORE_ETCD_H

#include "scheduler/store.h"

typedef struct estore estore_t;

int estore_open(const char *urls, const char *prefix, const char *replica, int timeout_ms,
                estore_t **out, tp_error_t *err);
void estore_close(estore_t *e);
int estore_begin(estore_t *e, tp_error_t *err);
int estore_commit(estore_t *e, tp_error_t *err);
void estore_rollback(estore_t *e);
int estore_put_placement(estore_t *e, const char *workload, const char *tenant,
                         const char *state, const char *node, int gpus, const char *spec,
                         const char *decision, int64_t at, tp_error_t *err);
int estore_set_state(estore_t *e, const char *workload, const char *state, int64_t at,
                     tp_error_t *err);
int estore_put_idempotency(estore_t *e, const char *key, const char *hash, int status,
                           const char *response, tp_error_t *err);
int estore_add_power_event(estore_t *e, const char *body, int64_t start, int64_t end,
                           int64_t *id, tp_error_t *err);
int estore_set_power_event(estore_t *e, int64_t id, const char *state, const char *plan,
                           tp_error_t *err);
int estore_add_preemption(estore_t *e, const char *workload, const char *node,
                          const char *why, int64_t event, int64_t at, tp_error_t *err);
int estore_add_profiles(estore_t *e, const char *body, int64_t at, tp_error_t *err);
int64_t estore_revision(const estore_t *e);
int estore_load(estore_t *e, const tp_store_load_t *cb, tp_error_t *err);
void estore_set_fence(estore_t *e, const char *key, int64_t term);
int estore_poll(estore_t *e, int64_t since, tp_store_changes_t **out, tp_error_t *err);
int estore_poll_apply(estore_t *e, tp_store_changes_t *c, const tp_store_load_t *cb,
                      tp_error_t *err);
void estore_stats(estore_t *e, tp_store_stats_t *out);
void estore_audit_on(estore_t *e, tp_journal_facts_fn facts, void *arg);
int estore_add_audit(estore_t *e, int64_t at, const char *body, tp_error_t *err);
int estore_audit_since(estore_t *e, int64_t after_seq,
                       int (*row)(void *arg, int64_t seq, int64_t at, const char *body),
                       void *arg, tp_error_t *err);

#endif
