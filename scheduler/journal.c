/*
 * scheduler/journal.c — SQLite (WAL, synchronous=FULL) behind the journal API.
 */
#include "scheduler/journal.h"
#include "util/strmap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define NCACHE 16

struct tp_journal {
    sqlite3 *db;
    char *path;
    tp_journal_facts_fn facts;
    void *facts_arg;
    /* prepared statements, keyed by the address of their (static) SQL text */
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } cache[NCACHE];
    /* tp_audit_facts of each node asked for in the open transaction: the
     * facts cannot change inside one (a job's, or the start's), and a power
     * event's plan asks for the same nodes again and again */
    tp_strmap_t *memo;
    char **memo_node, **memo_facts;
    int nmemo, capmemo;
};

static void memo_clear(tp_journal_t *j)
{
    for (int i = 0; i < j->nmemo; i++) {
        free(j->memo_node[i]);
        free(j->memo_facts[i]);
    }
    j->nmemo = 0;
    tp_strmap_free(j->memo);
    j->memo = NULL;
}

/* Keeps facts (NULL: none) of node for the transaction; false when out of
 * memory (then the caller keeps its own copy and nothing is kept). */
static bool memo_put(tp_journal_t *j, const char *node, const char *facts)
{
    if (!j->memo && !(j->memo = tp_strmap_new(64)))
        return false;
    if (j->nmemo == j->capmemo) {
        int cap = j->capmemo ? 2 * j->capmemo : 64;
        char **a = realloc(j->memo_node, (size_t)cap * sizeof *a);
        if (a)
            j->memo_node = a;
        char **b = a ? realloc(j->memo_facts, (size_t)cap * sizeof *b) : NULL;
        if (!b)
            return false;
        j->memo_facts = b;
        j->capmemo = cap;
    }
    char *n = strdup(node), *t = facts ? strdup(facts) : NULL;
    if (!n || (facts && !t) || tp_strmap_put(j->memo, n, j->nmemo) < 0) {
        free(n);
        free(t);
        return false;
    }
    j->memo_node[j->nmemo] = n;
    j->memo_facts[j->nmemo++] = t;
    return true;
}

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS placements(workload TEXT PRIMARY KEY, tenant TEXT,"
    " state TEXT NOT NULL, node TEXT, gpus INTEGER NOT NULL, spec TEXT NOT NULL,"
    " decision TEXT NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS idempotency(key TEXT PRIMARY KEY, hash TEXT NOT NULL,"
    " status INTEGER NOT NULL, response TEXT NOT NULL, at INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS power_events(id INTEGER PRIMARY KEY, body TEXT NOT NULL,"
    " start_at INTEGER NOT NULL, end_at INTEGER NOT NULL, state TEXT NOT NULL,"
    " plan TEXT);"
    "CREATE TABLE IF NOT EXISTS preemptions(id INTEGER PRIMARY KEY, workload TEXT NOT "
    "NULL,"
    " node TEXT NOT NULL, why TEXT NOT NULL, event INTEGER NOT NULL, at INTEGER NOT "
    "NULL);"
    "CREATE TABLE IF NOT EXISTS profiles(id INTEGER PRIMARY KEY, body TEXT NOT NULL,"
    " at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS audit(seq INTEGER PRIMARY KEY, at INTEGER NOT NULL,"
    " body TEXT NOT NULL);";

static int fail(tp_journal_t *j, tp_error_t *err, const char *what)
{
    return tp_error_set(err, TP_EIO, "%s: %s: %s", j->path, what, sqlite3_errmsg(j->db));
}

static int exec(tp_journal_t *j, const char *sql, tp_error_t *err)
{
    char *msg = NULL;
    if (sqlite3_exec(j->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        tp_error_set(err, TP_EIO, "%s: %s", j->path, msg ? msg : "error");
        sqlite3_free(msg);
        return TP_EIO;
    }
    return 0;
}

/* Journals from before idempotency.at: the column is added, and their keys'
 * retention starts now (they are kept at least that long, never less). */
static int migrate(tp_journal_t *j, tp_error_t *err)
{
    sqlite3_stmt *st = NULL;
    char sql[96];
    if (sqlite3_prepare_v2(j->db, "SELECT at FROM idempotency LIMIT 0", -1, &st, NULL) !=
        SQLITE_OK) {
        int rc = exec(
            j, "ALTER TABLE idempotency ADD COLUMN at INTEGER NOT NULL DEFAULT 0", err);
        if (rc)
            return rc;
    }
    sqlite3_finalize(st);
    snprintf(sql, sizeof sql, "UPDATE idempotency SET at = %lld WHERE at = 0",
             (long long)time(NULL));
    return exec(j, sql, err);
}

int tp_journal_open(const char *dir, tp_journal_t **out, tp_error_t *err)
{
    *out = NULL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return tp_error_set(err, TP_EIO, "--data %s: %s", dir, strerror(errno));
    tp_journal_t *j = calloc(1, sizeof *j);
    if (!j)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    size_t n = strlen(dir) + 16;
    j->path = malloc(n);
    if (!j->path) {
        free(j);
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    snprintf(j->path, n, "%s/journal.db", dir);
    if (sqlite3_open_v2(j->path, &j->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        int rc = fail(j, err, "cannot open");
        tp_journal_close(j);
        return rc;
    }
    sqlite3_busy_timeout(j->db, 5000);
    int rc = exec(j, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", err);
    if (!rc)
        rc = exec(j, SCHEMA, err);
    if (!rc)
        rc = migrate(j, err);
    if (rc) {
        tp_journal_close(j);
        return rc;
    }
    *out = j;
    return 0;
}

void tp_journal_close(tp_journal_t *j)
{
    if (!j)
        return;
    for (int i = 0; i < NCACHE; i++)
        sqlite3_finalize(j->cache[i].st);
    memo_clear(j);
    free(j->memo_node);
    free(j->memo_facts);
    sqlite3_close(j->db);
    free(j->path);
    free(j);
}

int tp_journal_begin(tp_journal_t *j, tp_error_t *err)
{
    memo_clear(j);
    return exec(j, "BEGIN IMMEDIATE", err);
}

int tp_journal_commit(tp_journal_t *j, tp_error_t *err)
{
    memo_clear(j);
    return exec(j, "COMMIT", err);
}

void tp_journal_rollback(tp_journal_t *j)
{
    memo_clear(j);
    sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
}

/* The prepared statement of sql (a string literal: cached by its address). */
static sqlite3_stmt *prepared(tp_journal_t *j, const char *sql)
{
    int i;
    for (i = 0; i < NCACHE && j->cache[i].sql; i++)
        if (j->cache[i].sql == sql)
            return j->cache[i].st;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    if (i < NCACHE) {
        j->cache[i].sql = sql;
        j->cache[i].st = st;
    }
    return st;
}

/* Binds "s" text (NULL → SQL NULL), "i" int64 per fmt, then steps once. */
static int run(tp_journal_t *j, tp_error_t *err, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = prepared(j, sql);
    bool cached = false;
    va_list ap;
    if (!st)
        return fail(j, err, "prepare");
    for (int i = 0; i < NCACHE; i++)
        cached |= j->cache[i].st == st;
    va_start(ap, fmt);
    for (int i = 0; fmt[i]; i++) {
        if (fmt[i] == 's') {
            const char *s = va_arg(ap, const char *);
            if (s)
                sqlite3_bind_text(st, i + 1, s, -1, SQLITE_STATIC);
            else
                sqlite3_bind_null(st, i + 1);
        } else {
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        }
    }
    va_end(ap);
    int rc = sqlite3_step(st);
    int out = rc == SQLITE_DONE ? 0 : fail(j, err, "write");
    if (cached) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    } else {
        sqlite3_finalize(st);
    }
    return out;
}

int tp_journal_put_placement(tp_journal_t *j, const char *workload, const char *tenant,
                             const char *state, const char *node, int gpus,
                             const char *spec, const char *decision, int64_t at,
                             tp_error_t *err)
{
    return run(
        j, err,
        "INSERT OR REPLACE INTO placements(workload, tenant, state, node, gpus, spec,"
        " decision, updated_at) VALUES(?,?,?,?,?,?,?,?)",
        "ssssissi", workload, tenant, state, node, (int64_t)gpus, spec, decision, at);
}

int tp_journal_set_state(tp_journal_t *j, const char *workload, const char *state,
                         int64_t at, tp_error_t *err)
{
    return run(j, err,
               "UPDATE placements SET state = ?, updated_at = ? WHERE workload = ?",
               "sis", state, at, workload);
}

int tp_journal_put_idempotency(tp_journal_t *j, const char *key, const char *hash,
                               int status, const char *response, tp_error_t *err)
{
    return run(j, err,
               "INSERT INTO idempotency(key, hash, status, response, at) "
               "VALUES(?,?,?,?,?)",
               "ssisi", key, hash, (int64_t)status, response, (int64_t)time(NULL));
}

/* Runs a DELETE … RETURNING key with one int64 parameter; each key → cb. */
static int delete_returning(tp_journal_t *j, const char *sql, int64_t before, int table,
                            tp_journal_pruned_fn cb, void *arg, tp_error_t *err)
{
    sqlite3_stmt *st;
    int s, rc = 0;
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(j, err, "prepare");
    sqlite3_bind_int64(st, 1, before);
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        if (rc == 0 && cb)
            rc = cb(arg, table, (const char *)sqlite3_column_text(st, 0));
    if (s != SQLITE_DONE)
        rc = fail(j, err, "prune");
    else if (rc < 0)
        tp_error_set(err, rc, "%s: prune: out of memory", j->path);
    sqlite3_finalize(st);
    return rc;
}

int tp_journal_prune(tp_journal_t *j, int64_t idem_before, int64_t done_before,
                     tp_journal_pruned_fn cb, void *arg, tp_error_t *err)
{
    int rc = tp_journal_begin(j, err);
    if (!rc)
        rc = delete_returning(j, "DELETE FROM idempotency WHERE at < ? RETURNING key",
                              idem_before, 0, cb, arg, err);
    if (!rc)
        rc = delete_returning(j,
                              "DELETE FROM placements WHERE state IN ('released', "
                              "'preempted') AND updated_at < ? RETURNING workload",
                              done_before, 1, cb, arg, err);
    if (!rc)
        rc = tp_journal_commit(j, err);
    if (rc)
        tp_journal_rollback(j);
    return rc;
}

int tp_journal_add_power_event(tp_journal_t *j, const char *body, int64_t start,
                               int64_t end, int64_t *id, tp_error_t *err)
{
    int rc = run(j, err,
                 "INSERT INTO power_events(body, start_at, end_at, state) "
                 "VALUES(?,?,?,'scheduled')",
                 "sii", body, start, end);
    if (!rc)
        *id = sqlite3_last_insert_rowid(j->db);
    return rc;
}

int tp_journal_set_power_event(tp_journal_t *j, int64_t id, const char *state,
                               const char *plan, tp_error_t *err)
{
    return run(j, err,
               "UPDATE power_events SET state = ?, plan = coalesce(?, plan) WHERE id = ?",
               "ssi", state, plan, id);
}

int tp_journal_add_preemption(tp_journal_t *j, const char *workload, const char *node,
                              const char *why, int64_t event, int64_t at, tp_error_t *err)
{
    return run(
        j, err,
        "INSERT INTO preemptions(workload, node, why, event, at) VALUES(?,?,?,?,?)",
        "sssii", workload, node, why, event, at);
}

int tp_journal_add_profiles(tp_journal_t *j, const char *body, int64_t at,
                            tp_error_t *err)
{
    return run(j, err, "INSERT INTO profiles(body, at) VALUES(?,?)", "si", body, at);
}

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static int walk(tp_journal_t *j, const char *sql, int which, const tp_journal_load_t *cb,
                tp_error_t *err)
{
    sqlite3_stmt *st;
    int rc = 0, s;
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(j, err, "prepare");
    while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW) {
        switch (which) {
        case 0:
            rc = cb->placement(cb->arg, col(st, 0), col(st, 1), col(st, 2),
                               sqlite3_column_int(st, 3), col(st, 4), col(st, 5));
            break;
        case 1:
            rc = cb->idempotency(cb->arg, col(st, 0), col(st, 1),
                                 sqlite3_column_int(st, 2), col(st, 3));
            break;
        case 2:
            rc = cb->power_event(cb->arg, sqlite3_column_int64(st, 0), col(st, 1),
                                 sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
                                 col(st, 4), col(st, 5));
            break;
        case 3:
            rc = cb->preemption(cb->arg, col(st, 0), col(st, 1), col(st, 2),
                                sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4));
            break;
        default:
            rc = cb->profiles(cb->arg, col(st, 0));
        }
    }
    if (rc == 0 && s != SQLITE_DONE)
        rc = fail(j, err, "read");
    else if (rc < 0 && err && !err->code)
        tp_error_set(err, rc, "%s: a journal row was refused", j->path);
    sqlite3_finalize(st);
    return rc;
}

int tp_journal_load(tp_journal_t *j, const tp_journal_load_t *cb, tp_error_t *err)
{
    int rc = 0;
    tp_error_clear(err);
    if (!rc && cb->profiles)
        rc = walk(j, "SELECT body FROM profiles ORDER BY id", 4, cb, err);
    if (!rc && cb->placement)
        rc = walk(j,
                  "SELECT workload, state, node, gpus, spec, decision FROM placements "
                  "ORDER BY rowid",
                  0, cb, err);
    if (!rc && cb->idempotency)
        rc = walk(j, "SELECT key, hash, status, response FROM idempotency", 1, cb, err);
    if (!rc && cb->power_event)
        rc = walk(j,
                  "SELECT id, body, start_at, end_at, state, plan FROM power_events "
                  "ORDER BY id",
                  2, cb, err);
    if (!rc && cb->preemption)
        rc = walk(j, "SELECT workload, node, why, event, at FROM preemptions ORDER BY id",
                  3, cb, err);
    return rc;
}

/* ---- the audit outbox (docs/observability.md) ----
 * TEMP triggers (this connection only) turn every journal write that is a
 * decision, release, preemption, power event or profile change into an audit
 * row in the same transaction; tp_audit_facts(node) asks the service for the
 * observed facts the decision relied on. */

static void facts_sql(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    tp_journal_t *j = sqlite3_user_data(cx);
    const char *node = argc == 1 ? (const char *)sqlite3_value_text(argv[0]) : NULL;
    /* inside a transaction: each node's facts once (memo_clear ends it) */
    bool tx = node && !sqlite3_get_autocommit(j->db);
    int m = tx ? tp_strmap_get(j->memo, node) : -1;
    if (m >= 0) {
        if (j->memo_facts[m])
            sqlite3_result_text(cx, j->memo_facts[m], -1, SQLITE_TRANSIENT);
        else
            sqlite3_result_null(cx);
        return;
    }
    char *t = node && j->facts ? j->facts(j->facts_arg, node) : NULL;
    if (tx)
        memo_put(j, node, t); /* best effort: out of memory only asks again */
    if (t)
        sqlite3_result_text(cx, t, -1, free);
    else
        sqlite3_result_null(cx);
}

#define NOW_S "CAST(strftime('%s','now') AS INTEGER)"
static const char AUDIT_TRIGGERS[] =
    "CREATE TEMP TRIGGER IF NOT EXISTS audit_decision AFTER INSERT ON main.placements"
    " BEGIN INSERT INTO audit(at, body) VALUES(NEW.updated_at, json_object("
    " 'kind', 'decision', 'workload', NEW.workload, 'tenant', NEW.tenant,"
    " 'state', NEW.state, 'node', NEW.node, 'gpus', NEW.gpus,"
    " 'decision', json(NEW.decision), 'spec', json(NEW.spec),"
    " 'facts', json(tp_audit_facts(NEW.node)))); END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS audit_release AFTER UPDATE OF state ON "
    "main.placements WHEN NEW.state = 'released' AND OLD.state <> 'released'"
    " BEGIN INSERT INTO audit(at, body) VALUES(NEW.updated_at, json_object("
    " 'kind', 'release', 'workload', NEW.workload, 'tenant', NEW.tenant,"
    " 'node', OLD.node, 'gpus', OLD.gpus)); END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS audit_preemption AFTER INSERT ON "
    "main.preemptions BEGIN INSERT INTO audit(at, body) VALUES(NEW.at, json_object("
    " 'kind', 'preemption', 'workload', NEW.workload, 'node', NEW.node,"
    " 'why', NEW.why, 'event', NEW.event,"
    " 'facts', json(tp_audit_facts(NEW.node)))); END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS audit_power AFTER INSERT ON main.power_events"
    " BEGIN INSERT INTO audit(at, body) VALUES(" NOW_S ", json_object("
    " 'kind', 'power_event', 'event', NEW.id, 'state', NEW.state,"
    " 'start', NEW.start_at, 'end', NEW.end_at, 'request', json(NEW.body))); END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS audit_power_state AFTER UPDATE OF state ON "
    "main.power_events WHEN NEW.state <> OLD.state"
    " BEGIN INSERT INTO audit(at, body) VALUES(" NOW_S ", json_object("
    " 'kind', 'power_event', 'event', NEW.id, 'state', NEW.state,"
    " 'plan', json(NEW.plan))); END;"
    "CREATE TEMP TRIGGER IF NOT EXISTS audit_profiles AFTER INSERT ON main.profiles"
    " BEGIN INSERT INTO audit(at, body) VALUES(NEW.at, json_object("
    " 'kind', 'policy_change', 'change', 'profiles', 'profiles', json(NEW.body)));"
    " END;";

int tp_journal_audit_on(tp_journal_t *j, tp_journal_facts_fn facts, void *arg,
                        tp_error_t *err)
{
    j->facts = facts;
    j->facts_arg = arg;
    if (sqlite3_create_function(j->db, "tp_audit_facts", 1, SQLITE_UTF8, j, facts_sql,
                                NULL, NULL) != SQLITE_OK)
        return fail(j, err, "tp_audit_facts");
    return exec(j, AUDIT_TRIGGERS, err);
}

int tp_journal_add_audit(tp_journal_t *j, int64_t at, const char *body, tp_error_t *err)
{
    return run(j, err, "INSERT INTO audit(at, body) VALUES(?, json(?))", "is", at, body);
}

int tp_journal_audit_since(tp_journal_t *j, int64_t after_seq,
                           int (*row)(void *arg, int64_t seq, int64_t at,
                                      const char *body),
                           void *arg, tp_error_t *err)
{
    sqlite3_stmt *st;
    int rc = 0, s;
    if (sqlite3_prepare_v2(j->db,
                           "SELECT seq, at, body FROM audit WHERE seq > ? ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(j, err, "prepare");
    sqlite3_bind_int64(st, 1, after_seq);
    while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW)
        rc = row(arg, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                 col(st, 2));
    if (rc == 0 && s != SQLITE_DONE)
        rc = fail(j, err, "read");
    else if (rc < 0 && err && !err->code)
        tp_error_set(err, rc, "%s: an audit row was refused", j->path);
    sqlite3_finalize(st);
    return rc;
}
