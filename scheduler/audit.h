/*
 * scheduler/audit.h — the tamper-evident audit log (docs/observability.md).
 *
 * DATA/audit.jsonl holds one JSON object per line, keys sorted, compact. Each
 * record carries seq (1, 2, …: the journal's audit row), at (Unix seconds),
 * kind, the kind's fields, prev (hex SHA-256 of the record before; 64 zeros for
 * the first), hash = SHA-256(prev bytes ‖ canonical JSON of the record without
 * "hash" and "sig") and, with a signing key, sig = {"alg": "Ed25519"|"ES256"|
 * "ES384", "value": base64 signature over the 32 hash bytes}. Canonical JSON:
 * jansson JSON_SORT_KEYS|JSON_COMPACT.
 *
 * The writer (tp_audit_t) is used by one thread at a time. Everything else
 * reads a file and keeps nothing.
 */
#ifndef TP_SCHEDULER_AUDIT_H
#define TP_SCHEDULER_AUDIT_H

#include "util/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct tp_audit tp_audit_t;

/* Opens (creates, 0600) path for appending. A partial last line (a crash in the
 * middle of a write) is cut off; a last line that is not a record refuses the
 * open. key_path: a PEM private key (Ed25519 or EC P-256/P-384), or NULL. */
int tp_audit_open(const char *path, const char *key_path, tp_audit_t **out,
                  tp_error_t *err);
void tp_audit_close(tp_audit_t *a);
int64_t tp_audit_last_seq(const tp_audit_t *a); /* 0 when empty */
/* Chains, signs and writes one record: body (a JSON object's text) with seq and
 * at added. seq must be above the last. Not synced: call tp_audit_sync. */
int tp_audit_append(tp_audit_t *a, int64_t seq, int64_t at, const char *body,
                    tp_error_t *err);
/* The same for a body already parsed (rec, borrowed, gains the record's
 * fields): one parse serves the audit log and the KPI history. */
int tp_audit_append_json(tp_audit_t *a, int64_t seq, int64_t at, json_t *rec,
                         tp_error_t *err);
int tp_audit_sync(tp_audit_t *a, tp_error_t *err);

/* Checks the chain of path and, with pubkey_path (PEM), every signature. 0 when
 * intact; TP_EVIOLATION with err "PATH:LINE: record seq N: what broke" at the
 * first broken record; other codes when path or the key cannot be read. */
typedef struct {
    int64_t records;
    bool signed_all, signed_any, sigs_checked;
} tp_audit_report_t;
int tp_audit_verify(const char *path, const char *pubkey_path, tp_audit_report_t *rep,
                    tp_error_t *err);

/* Writes the records of path that match (NULL / 0: any) to out, one per line;
 * *matched gets their number. A record matches a workload or node when its
 * "workload" or "node" field is that id. */
typedef struct {
    const char *workload, *node;
    int64_t since; /* at >= since */
} tp_audit_filter_t;
int tp_audit_query(const char *path, const tp_audit_filter_t *f, FILE *out, int *matched,
                   tp_error_t *err);

/* SIEM export of the records of path with at >= since. target:
 *   jsonl:PATH          append JSON lines to PATH
 *   syslog+unix:PATH    RFC 5424 over a Unix socket (datagram, else stream)
 *   syslog+tcp:HOST:PORT RFC 5424 over TCP, octet-counting framing (RFC 6587)
 * *sent gets the number of records sent. */
int tp_audit_export(const char *path, const char *target, int64_t since, int *sent,
                    tp_error_t *err);
/* Whether target has one of the forms above (nothing is connected). */
bool tp_audit_target_valid(const char *target);
/* Same, only records with seq > after_seq; *last_seq gets the seq of the last
 * record sent (after_seq when none), also when a send failed part-way. */
int tp_audit_export_after(const char *path, const char *target, int64_t since,
                          int64_t after_seq, int *sent, int64_t *last_seq,
                          tp_error_t *err);
/* The RFC 5424 message of one record line (malloc'd; NULL on bad input). */
char *tp_audit_syslog_line(const char *record, const char *hostname, int pid);

/* "1767225600" or "2026-01-01T00:00:00Z" → Unix seconds; -1 when neither. */
int tp_audit_parse_time(const char *s, int64_t *out);

#endif
