/*
 * scheduler/etcd.h — a blocking client of etcd's v3 JSON gateway (/v3/...,
 * etcd 3.4 as Debian ships it) over libcurl, for the replicated store
 * (scheduler/store_etcd.c) and the leader election (scheduler/leader.c).
 *
 * The gateway's JSON is protobuf's mapping: keys and values travel as standard
 * base64 (OpenSSL's codec, never a hand-written one), int64 fields are strings
 * ("12"), and fields holding their default value (0, false, empty) are omitted;
 * the reader here accepts all three and treats an absent field as its default.
 *
 * A client owns one curl easy handle: use it from one thread at a time (the
 * worker and the election thread each open their own). Endpoints are tried in
 * turn; a request that could not reach one (connect failure) moves to the next.
 * A request that reached a member but got no answer is NOT retried elsewhere
 * (its outcome is unknown) and fails with TP_EIO.
 *
 * Ownership: results (tp_etcd_range_t, txn responses) are owned by the caller
 * and freed with tp_etcd_range_free / tp_etcd_txn_free.
 */
#ifndef TP_SCHEDULER_ETCD_H
#define TP_SCHEDULER_ETCD_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tp_etcd tp_etcd_t;

/* TLS to etcd, process-wide (one service talks to one etcd cluster): a CA file
 * that verifies the members' certificates instead of the system's CAs, and a
 * client certificate and key (both or neither) for etcd's --client-cert-auth.
 * Call before the first tp_etcd_new; the paths are borrowed and must outlive
 * every client (the command line's do). Refuses unreadable
 * files. With a client certificate, tp_etcd_new refuses http:// endpoints. */
int tp_etcd_tls(const char *ca_file, const char *cert_file, const char *key_file,
                tp_error_t *err);

/* urls: "http://127.0.0.1:2379[,http://...]" (at most 16). timeout_ms bounds
 * each request (0: 5000). NULL with err set on a bad list. */
tp_etcd_t *tp_etcd_new(const char *urls, int timeout_ms, tp_error_t *err);
void tp_etcd_free(tp_etcd_t *e);
/* The endpoint the last request went to (borrowed). */
const char *tp_etcd_endpoint(const tp_etcd_t *e);
/* Microseconds spent in requests, and their count, since tp_etcd_new. */
void tp_etcd_stats(const tp_etcd_t *e, uint64_t *requests, uint64_t *usec);

typedef struct {
    char *key;
    char *value; /* NUL-terminated copy; value_len excludes the NUL */
    size_t value_len;
    int64_t create_revision, mod_revision, version, lease;
} tp_etcd_kv_t;

typedef struct {
    tp_etcd_kv_t *kvs;
    int n;
    int64_t revision; /* the store's revision the answer reflects */
    int64_t count;    /* keys in the range (may exceed n with a limit) */
    bool more;
} tp_etcd_range_t;
void tp_etcd_range_free(tp_etcd_range_t *r);

typedef struct {
    int64_t limit;            /* 0: all */
    int64_t min_mod_revision; /* 0: any */
    int64_t revision;         /* read as of this revision; 0: the latest */
    bool sort_by_create;      /* ascending create_revision (else key order) */
    bool serializable;        /* local read of the member (no quorum) */
} tp_etcd_range_opts_t;

/* range_end NULL: the key alone; "\0"-style prefix ranges: use
 * tp_etcd_prefix_end. An empty result is not an error. */
int tp_etcd_range(tp_etcd_t *e, const char *key, const char *range_end,
                  const tp_etcd_range_opts_t *o, tp_etcd_range_t *out, tp_error_t *err);
/* The range_end that covers every key starting with prefix (malloc'd). */
char *tp_etcd_prefix_end(const char *prefix);
/* Every key starting with prefix whose mod_revision is at least min_mod (0:
 * all), read `page` keys at a time, all pages at the first page's revision
 * (*revision): one snapshot. *kvs: the keys in key order (free each key and
 * value, then the array), *n of them. On error *kvs holds what was read. */
int tp_etcd_scan(tp_etcd_t *e, const char *prefix, int64_t min_mod, int page,
                 tp_etcd_kv_t **kvs, int *n, int64_t *revision, tp_error_t *err);
/* Same, from key `from` (≥ prefix) to the end of prefix's range. */
int tp_etcd_scan_from(tp_etcd_t *e, const char *from, const char *prefix, int64_t min_mod,
                      int page, tp_etcd_kv_t **kvs, int *n, int64_t *revision,
                      tp_error_t *err);
int tp_etcd_put(tp_etcd_t *e, const char *key, const char *value, size_t len,
                int64_t lease, int64_t *revision, tp_error_t *err);
int tp_etcd_delete(tp_etcd_t *e, const char *key, const char *range_end, int64_t *deleted,
                   tp_error_t *err);

/* ---- transactions ---- */
typedef enum {
    TP_ETCD_VERSION,
    TP_ETCD_CREATE,
    TP_ETCD_MOD,
    TP_ETCD_VALUE,
    TP_ETCD_LEASE
} tp_etcd_target_t;
typedef enum {
    TP_ETCD_EQUAL,
    TP_ETCD_GREATER,
    TP_ETCD_LESS,
    TP_ETCD_NOT_EQUAL
} tp_etcd_cmp_t;

typedef struct tp_etcd_txn tp_etcd_txn_t;
tp_etcd_txn_t *tp_etcd_txn_new(void);
void tp_etcd_txn_free(tp_etcd_txn_t *t);
/* Each returns 0 or TP_ENOMEM. value is used for TP_ETCD_VALUE, num otherwise. */
int tp_etcd_txn_compare(tp_etcd_txn_t *t, const char *key, tp_etcd_target_t target,
                        tp_etcd_cmp_t cmp, int64_t num, const char *value);
/* on_success false: the operation runs when a compare fails. */
int tp_etcd_txn_put(tp_etcd_txn_t *t, bool on_success, const char *key, const char *value,
                    size_t len, int64_t lease);
int tp_etcd_txn_delete(tp_etcd_txn_t *t, bool on_success, const char *key);
int tp_etcd_txn_get(tp_etcd_txn_t *t, bool on_success, const char *key);
/* How many operations the txn holds (etcd refuses more than --max-txn-ops). */
int tp_etcd_txn_ops(const tp_etcd_txn_t *t);
/* Runs it. *succeeded: whether the compares held. The answers of the get
 * operations of the branch taken, in order, go to gets (may be NULL; free each
 * with tp_etcd_range_free, then the array). */
int tp_etcd_txn_commit(tp_etcd_t *e, const tp_etcd_txn_t *t, bool *succeeded,
                       int64_t *revision, tp_etcd_range_t **gets, int *ngets,
                       tp_error_t *err);

/* Drops the history before revision (what `--auto-compaction-retention` does). */
int tp_etcd_compact(tp_etcd_t *e, int64_t revision, tp_error_t *err);

/* ---- watch ---- */
/* A watch stream (POST /v3/watch: the gateway's newline-delimited JSON) on
 * [key, range_end) (range_end NULL: the key alone) from start_revision, on
 * the calling thread until cb->stop returns true (polled by libcurl about once
 * a second, and at every chunk). event gets each change (kv borrowed for the
 * call; deleted: a DELETE, value empty) and may return < 0 to end the watch
 * with that code; progress gets each message's header revision after its
 * events. Returns 0 when stopped; TP_EIO when the stream broke or ended (the
 * next call tries the next member: resume from the last revision + 1) or etcd
 * canceled it: *compacted > 0 when start_revision was compacted away (read
 * everything again, then watch from that read's revision + 1). The client
 * must not be used by another thread meanwhile. */
typedef struct {
    int (*event)(void *arg, const tp_etcd_kv_t *kv, bool deleted);
    void (*progress)(void *arg, int64_t revision);
    bool (*stop)(void *arg);
    void *arg;
} tp_etcd_watch_cb_t;
int tp_etcd_watch(tp_etcd_t *e, const char *key, const char *range_end,
                  int64_t start_revision, const tp_etcd_watch_cb_t *cb,
                  int64_t *compacted, tp_error_t *err);

/* ---- leases ---- */
int tp_etcd_lease_grant(tp_etcd_t *e, int64_t ttl_s, int64_t *id, int64_t *granted_ttl,
                        tp_error_t *err);
/* *ttl: the remaining TTL; 0 when the lease has expired (it is gone). */
int tp_etcd_lease_keepalive(tp_etcd_t *e, int64_t id, int64_t *ttl, tp_error_t *err);
int tp_etcd_lease_revoke(tp_etcd_t *e, int64_t id, tp_error_t *err);

/* Member health: GET /health of the current endpoint ("true" only with a
 * raft leader). 0 when healthy. */
int tp_etcd_health(tp_etcd_t *e, tp_error_t *err);

/* Monotonic microseconds (latency figures, keep-alive timing). */
uint64_t tp_etcd_now_us(void);

/* ---- base64 (exposed for the tests) ---- */
/* Standard base64 with padding (malloc'd, NUL-terminated). */
char *tp_etcd_b64_encode(const void *data, size_t len);
/* Decodes standard base64 (padding required); NULL on bad input. */
char *tp_etcd_b64_decode(const char *text, size_t *len);

#endif
