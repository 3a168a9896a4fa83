/*
 * tests/unit/test_store.c — scheduler/store.h: both implementations keep and
 * give back the same rows; the etcd one is fenced by the leader key.
 */
#include "scheduler/audit.h"
#include "scheduler/etcd.h"
#include "scheduler/store.h"
#include "tests/unit/etcd_cluster.h"
#include "tests/unit/tp_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    int placements, keys, events, preemptions, profiles;
    char last_state[32];
    int64_t last_event;
} seen_t;

static int on_pl(void *a, const char *w, const char *state, const char *node, int gpus,
                 const char *spec, const char *decision)
{
    seen_t *s = a;
    (void)w, (void)node, (void)gpus, (void)spec, (void)decision;
    s->placements++;
    snprintf(s->last_state, sizeof s->last_state, "%s", state);
    return 0;
}
static int on_key(void *a, const char *k, const char *h, int st, const char *r)
{
    seen_t *s = a;
    (void)k, (void)h, (void)r;
    s->keys += st == 201;
    return 0;
}
static int on_ev(void *a, int64_t id, const char *b, int64_t st, int64_t en,
                 const char *state, const char *plan)
{
    seen_t *s = a;
    (void)b, (void)st, (void)en, (void)plan;
    s->events += !strcmp(state, "active");
    s->last_event = id;
    return 0;
}
static int on_pre(void *a, const char *w, const char *n, const char *why, int64_t e,
                  int64_t at)
{
    seen_t *s = a;
    (void)w, (void)n, (void)e, (void)at;
    s->preemptions += !strcmp(why, "eviction:test");
    return 0;
}
static int on_prof(void *a, const char *body)
{
    seen_t *s = a;
    s->profiles += !strcmp(body, "[]");
    return 0;
}

/* Writes one row of every kind in one commit, then a state change alone. */
static int write_all(tp_store_t *st, tp_error_t *err)
{
    int64_t id = 0;
    if (tp_store_begin(st, err) < 0)
        return -1;
    if (tp_store_put_placement(st, "w1", "t", "running", "n1", 2, "{\"id\":\"w1\"}", "{}",
                               1, err) < 0 ||
        tp_store_put_idempotency(st, "k1", "h", 201, "{}", err) < 0 ||
        tp_store_add_power_event(st, "{\"domain\":\"d\"}", 1, 0, &id, err) < 0 ||
        tp_store_set_power_event(st, id, "active", "{}", err) < 0 ||
        tp_store_add_preemption(st, "w0", "n0", "eviction:test", id, 1, err) < 0 ||
        tp_store_add_profiles(st, "[]", 1, err) < 0) {
        tp_store_rollback(st);
        return -1;
    }
    if (tp_store_commit(st, err) < 0)
        return -1;
    return tp_store_set_state(st, "w1", "released", 2, err);
}

static void check_loaded(tp_store_t *st)
{
    seen_t s = {0};
    tp_store_load_t cb = {&s, on_pl, on_key, on_ev, on_pre, on_prof};
    tp_error_t err = {0};
    TP_ASSERT(tp_store_load(st, &cb, &err) == 0);
    TP_CHECK_EQ_INT(s.placements, 1);
    TP_CHECK_STR(s.last_state, "released");
    TP_CHECK_EQ_INT(s.keys, 1);
    TP_CHECK_EQ_INT(s.events, 1);
    TP_CHECK_EQ_INT(s.preemptions, 1);
    TP_CHECK_EQ_INT(s.profiles, 1);
}

/* A SQLite store in a fresh directory dir (a "/tmp/tp-store-XXXXXX" buffer);
 * NULL (and a failure recorded) when it cannot be opened. */
static tp_store_t *tmp_store(char *dir)
{
    tp_error_t err = {0};
    tp_store_t *st = NULL;
    if (!mkdtemp(dir) ||
        tp_store_open(&(tp_store_opts_t){.data_dir = dir}, &st, &err) < 0)
        tp_test_fail(__FILE__, __LINE__, "store in %s: %s", dir, err.text);
    return st;
}

static void tmp_store_close(tp_store_t *st, const char *dir)
{
    char cmd[128];
    tp_store_close(st);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    TP_CHECK(system(cmd) == 0);
}

TP_TEST(store_sqlite_roundtrip)
{
    char dir[] = "/tmp/tp-store-XXXXXX";
    tp_store_t *st = tmp_store(dir);
    tp_error_t err = {0};
    TP_ASSERT(st);
    TP_CHECK_STR(tp_store_kind(st), "sqlite");
    TP_CHECK(!tp_store_shared(st));
    TP_CHECK(write_all(st, &err) == 0);
    check_loaded(st);
    tmp_store_close(st, dir);
}

TP_TEST(store_open_refuses_bad_specs)
{
    tp_store_t *st = NULL;
    tp_error_t err = {0};
    tp_store_opts_t o = {.spec = "redis://x"};
    TP_CHECK(tp_store_open(&o, &st, &err) == TP_EUSAGE);
    TP_CHECK_CONTAINS(err.text, "expected sqlite:DIR or etcd:URL");
    o.spec = "etcd:http://127.0.0.1:1"; /* no replica name */
    TP_CHECK(tp_store_open(&o, &st, &err) == TP_EUSAGE);
    TP_CHECK_CONTAINS(err.text, "--replica-name");
    o.replica = "r1";
    o.spec = "etcd:127.0.0.1:2379";
    TP_CHECK(tp_store_open(&o, &st, &err) == TP_EUSAGE);
    o.spec = "sqlite:";
    TP_CHECK(tp_store_open(&o, &st, &err) == TP_EUSAGE);
    TP_CHECK(st == NULL);
}

TP_TEST(store_etcd_roundtrip_fence_and_feed)
{
    const char *why = NULL;
    tp_etcd_cluster_t *c = tp_etcd_cluster(&why);
    if (!c)
        TP_SKIP(why);
    char spec[600];
    snprintf(spec, sizeof spec, "etcd:%s", c->urls);
    tp_store_opts_t o = {.spec = spec, .prefix = "/t-store/", .replica = "r1"};
    tp_store_t *st = NULL, *other = NULL;
    tp_error_t err = {0};
    TP_ASSERT(tp_store_open(&o, &st, &err) == 0);
    TP_ASSERT(tp_store_open(&o, &other, &err) == 0);
    TP_CHECK(tp_store_shared(st));
    tp_etcd_t *e = tp_etcd_new(c->urls, 3000, &err);
    TP_ASSERT(e != NULL);

    /* no fence held: nothing is written */
    TP_CHECK(tp_store_put_placement(st, "w0", NULL, "running", "n", 1, "{}", "{}", 1,
                                    &err) < 0);
    TP_CHECK_CONTAINS(err.text, "not the leader");

    int64_t term = 0;
    TP_ASSERT(tp_etcd_put(e, "/t-store/leader", "r1", 2, 0, &term, &err) == 0);
    tp_store_set_fence(st, "/t-store/leader", term);
    if (write_all(st, &err) < 0)
        TP_CHECK_STR(err.text, "");
    check_loaded(other); /* another replica reads it all back */
    int64_t rev = tp_store_revision(other);
    TP_CHECK(rev > term);

    /* the feed: a new row reaches the other replica once */
    TP_ASSERT(tp_store_put_placement(st, "w2", NULL, "pending", NULL, 0, "{}", "{}", 3,
                                     &err) == 0);
    tp_store_changes_t *ch = NULL;
    seen_t s = {0};
    tp_store_load_t cb = {&s, on_pl, on_key, on_ev, on_pre, on_prof};
    TP_ASSERT(tp_store_poll(other, rev, &ch, &err) == 0);
    TP_CHECK_EQ_INT(tp_store_changes_count(ch), 1);
    TP_CHECK(tp_store_poll_apply(other, ch, &cb, &err) == 0);
    TP_CHECK_EQ_INT(s.placements, 1);
    TP_CHECK_STR(s.last_state, "pending");
    tp_store_changes_free(ch);
    /* everything again: preemptions and profiles already known are not repeated */
    memset(&s, 0, sizeof s);
    TP_ASSERT(tp_store_poll(other, 0, &ch, &err) == 0);
    TP_CHECK(tp_store_poll_apply(other, ch, &cb, &err) == 0);
    TP_CHECK_EQ_INT(s.placements, 2);
    TP_CHECK_EQ_INT(s.preemptions, 0);
    TP_CHECK_EQ_INT(s.profiles, 0);
    tp_store_changes_free(ch);

    /* the watch's changes: copies at or below the revision the replica's copy
     * reflects are dropped, so an older row never replaces a newer one */
    static const char stale[] =
        "{\"workload\":\"w2\",\"state\":\"stale\",\"spec\":\"{}\",\"decision\":\"{}\"}";
    static const char fresh[] =
        "{\"workload\":\"w2\",\"state\":\"running\",\"spec\":\"{}\",\"decision\":\"{}\"}";
    ch = tp_store_changes_new();
    TP_ASSERT(ch != NULL);
    TP_ASSERT(tp_store_changes_add(ch, "/t-store/j/p/w2", fresh, sizeof fresh - 1, 12) ==
              0);
    TP_ASSERT(tp_store_changes_add(ch, "/t-store/j/p/w2", stale, sizeof stale - 1, 10) ==
              0);
    tp_store_changes_reach(ch, 15);
    tp_store_changes_reach(ch, 14); /* never goes back */
    tp_store_changes_skip(ch, 10);
    TP_CHECK_EQ_INT(tp_store_changes_count(ch), 1);
    TP_CHECK_EQ_INT((int)tp_store_changes_revision(ch), 15);
    memset(&s, 0, sizeof s);
    TP_CHECK(tp_store_poll_apply(other, ch, &cb, &err) == 0);
    TP_CHECK_EQ_INT(s.placements, 1);
    TP_CHECK_STR(s.last_state, "running");
    tp_store_changes_free(ch);

    /* a new leader key (another term): the old term's commit is fenced in etcd */
    TP_ASSERT(tp_etcd_delete(e, "/t-store/leader", NULL, NULL, &err) == 0);
    TP_ASSERT(tp_etcd_put(e, "/t-store/leader", "r2", 2, 0, NULL, &err) == 0);
    TP_ASSERT(tp_store_begin(st, &err) == 0);
    TP_ASSERT(tp_store_put_placement(st, "w3", NULL, "running", "n", 1, "{}", "{}", 4,
                                     &err) == 0);
    TP_CHECK(tp_store_commit(st, &err) < 0);
    TP_CHECK_CONTAINS(err.text, "fenced");
    tp_etcd_range_t r;
    TP_ASSERT(tp_etcd_range(e, "/t-store/j/p/w3", NULL, NULL, &r, &err) == 0);
    TP_CHECK_EQ_INT(r.n, 0);
    tp_etcd_range_free(&r);
    tp_store_stats_t ss;
    tp_store_stats(st, &ss);
    TP_CHECK(ss.commits >= 3 && ss.failed == 2);
    TP_CHECK_EQ_INT(ss.fenced, 1); /* the other failure: no fence held at all */
    uint64_t attempts = 0;
    for (int b = 0; b <= TP_STORE_LAT_N; b++)
        attempts += ss.lat[b];
    TP_CHECK_EQ_INT(attempts, ss.commits + ss.failed); /* every attempt timed once */

    char *end = tp_etcd_prefix_end("/t-store/");
    tp_etcd_delete(e, "/t-store/", end, NULL, &err);
    free(end);
    tp_etcd_free(e);
    tp_store_close(st);
    tp_store_close(other);
}

/* ---- the audit outbox on etcd ---- */

static char *node_facts(void *arg, const char *node)
{
    (void)arg;
    char *t = malloc(64);
    if (t)
        snprintf(t, 64, "{\"n\":\"%s\"}", node);
    return t;
}

typedef struct {
    tp_audit_t *file;
    int n;
    int64_t seqs[8];
    char kinds[8][32], nodes[8][32];
} arows_t;

static int on_arow(void *arg, int64_t seq, int64_t at, const char *body)
{
    arows_t *a = arg;
    tp_error_t err = {0};
    json_t *b = json_loads(body, 0, NULL);
    if (a->n < 8) {
        a->seqs[a->n] = seq;
        snprintf(a->kinds[a->n], 32, "%s", json_string_value(json_object_get(b, "kind")));
        const char *fn =
            json_string_value(json_object_get(json_object_get(b, "facts"), "n"));
        snprintf(a->nodes[a->n], 32, "%s", fn ? fn : "");
    }
    a->n++;
    json_decref(b);
    return a->file ? tp_audit_append(a->file, seq, at, body, &err) : 0;
}

TP_TEST(store_etcd_audit_chain_across_leaders)
{
    const char *why = NULL;
    tp_etcd_cluster_t *c = tp_etcd_cluster(&why);
    if (!c)
        TP_SKIP(why);
    char spec[600], dir[] = "/tmp/tp-audit-etcd-XXXXXX", pa[128], pb[128];
    TP_ASSERT(mkdtemp(dir) != NULL);
    snprintf(pa, sizeof pa, "%s/a.jsonl", dir);
    snprintf(pb, sizeof pb, "%s/b.jsonl", dir);
    snprintf(spec, sizeof spec, "etcd:%s", c->urls);
    tp_store_opts_t oa = {.spec = spec, .prefix = "/t-audit/", .replica = "r1"};
    tp_store_opts_t ob = {.spec = spec, .prefix = "/t-audit/", .replica = "r2"};
    tp_store_t *a = NULL, *b = NULL;
    tp_error_t err = {0};
    TP_ASSERT(tp_store_open(&oa, &a, &err) == 0);
    TP_ASSERT(tp_store_open(&ob, &b, &err) == 0);
    TP_ASSERT(tp_store_audit_on(a, node_facts, NULL, &err) == 0);
    TP_ASSERT(tp_store_audit_on(b, node_facts, NULL, &err) == 0);
    tp_etcd_t *e = tp_etcd_new(c->urls, 3000, &err);
    TP_ASSERT(e != NULL);
    int64_t term = 0;
    TP_ASSERT(tp_etcd_put(e, "/t-audit/leader", "r1", 2, 0, &term, &err) == 0);
    tp_store_set_fence(a, "/t-audit/leader", term);

    /* leader r1: a decision (with its idempotency key) in one txn, a release
     * alone, a hand-written record */
    TP_ASSERT(tp_store_begin(a, &err) == 0);
    TP_CHECK(tp_store_put_placement(a, "w1", "t", "running", "n1", 2, "{\"id\":\"w1\"}",
                                    "{\"ok\":true}", 10, &err) == 0);
    TP_CHECK(tp_store_put_idempotency(a, "k1", "h", 201, "{}", &err) == 0);
    TP_CHECK(tp_store_commit(a, &err) == 0);
    TP_CHECK(tp_store_set_state(a, "w1", "released", 11, &err) == 0);
    TP_CHECK(tp_store_set_state(a, "w1", "released", 12, &err) == 0); /* no 2nd record */
    TP_CHECK(tp_store_add_audit(a, 13, "{\"kind\":\"policy_change\"}", &err) == 0);
    TP_CHECK(tp_store_add_audit(a, 13, "[1]", &err) < 0); /* not an object */
    tp_audit_t *fa = NULL, *fb = NULL;
    TP_ASSERT(tp_audit_open(pa, NULL, &fa, &err) == 0);
    arows_t ra = {.file = fa};
    TP_CHECK(tp_store_audit_since(a, 0, on_arow, &ra, &err) == 0);
    TP_CHECK_EQ_INT(ra.n, 3);
    TP_CHECK(ra.seqs[0] == 1 && ra.seqs[1] == 2 && ra.seqs[2] == 3);
    TP_CHECK_STR(ra.kinds[0], "decision");
    TP_CHECK_STR(ra.nodes[0], "n1"); /* the facts the decision relied on */
    TP_CHECK_STR(ra.kinds[1], "release");
    TP_CHECK_STR(ra.kinds[2], "policy_change");
    TP_CHECK(tp_audit_sync(fa, &err) == 0);

    /* r2 wins the next term: its first record continues the sequence */
    TP_ASSERT(tp_etcd_delete(e, "/t-audit/leader", NULL, NULL, &err) == 0);
    TP_ASSERT(tp_etcd_put(e, "/t-audit/leader", "r2", 2, 0, &term, &err) == 0);
    tp_store_set_fence(b, "/t-audit/leader", term);
    TP_CHECK(tp_store_put_placement(b, "w2", NULL, "running", "n2", 1, "{}", "{}", 20,
                                    &err) == 0);
    /* the deposed r1 commits nothing, and no audit record either */
    TP_CHECK(tp_store_put_placement(a, "w3", NULL, "running", "n3", 1, "{}", "{}", 21,
                                    &err) < 0);
    TP_CHECK_CONTAINS(err.text, "fenced");
    TP_CHECK(tp_store_add_profiles(b, "[]", 22, &err) == 0);

    /* r2's own file, from the start; r1's file, continued: the same chain */
    TP_ASSERT(tp_audit_open(pb, NULL, &fb, &err) == 0);
    arows_t rb = {.file = fb};
    TP_CHECK(tp_store_audit_since(b, 0, on_arow, &rb, &err) == 0);
    TP_CHECK_EQ_INT(rb.n, 5);
    TP_CHECK(rb.seqs[3] == 4 && rb.seqs[4] == 5);
    TP_CHECK_STR(rb.nodes[3], "n2");
    TP_CHECK_STR(rb.kinds[4], "policy_change");
    arows_t ra2 = {.file = fa};
    TP_CHECK(tp_store_audit_since(a, tp_audit_last_seq(fa), on_arow, &ra2, &err) == 0);
    TP_CHECK_EQ_INT(ra2.n, 2);
    TP_CHECK(tp_audit_sync(fa, &err) == 0 && tp_audit_sync(fb, &err) == 0);
    tp_audit_close(fa);
    tp_audit_close(fb);
    tp_audit_report_t rep;
    TP_CHECK(tp_audit_verify(pb, NULL, &rep, &err) == 0);
    TP_CHECK_EQ_INT(rep.records, 5);
    char *ta = tp_test_slurp(pa, NULL), *tb = tp_test_slurp(pb, NULL);
    TP_CHECK(ta && tb && !strcmp(ta, tb)); /* hashes and all */
    free(ta);
    free(tb);

    /* a row that is not a record is refused with its key */
    TP_ASSERT(tp_etcd_put(e, "/t-audit/a/00000000000000000006", "{\"seq\":7}", 9, 0, NULL,
                          &err) == 0);
    arows_t rx = {0};
    TP_CHECK(tp_store_audit_since(b, 5, on_arow, &rx, &err) < 0);
    TP_CHECK_CONTAINS(err.text, "/t-audit/a/00000000000000000006");

    char *end = tp_etcd_prefix_end("/t-audit/");
    tp_etcd_delete(e, "/t-audit/", end, NULL, &err);
    free(end);
    tp_etcd_free(e);
    tp_store_close(a);
    tp_store_close(b);
    unlink(pa);
    unlink(pb);
    rmdir(dir);
}

/* ---- the facts of a node: asked once per transaction ----------------------------- */

typedef struct {
    int calls;
    int version; /* what the facts say: changes between transactions */
} facts_src_t;

static char *counted_facts(void *arg, const char *node)
{
    facts_src_t *f = arg;
    char *t = malloc(64);
    f->calls++;
    if (t)
        snprintf(t, 64, "{\"n\":\"%s\",\"v\":%d}", node, f->version);
    return t;
}

typedef struct {
    int rows, v[8];
    char node[8][8];
} frows_t;

static int on_frow(void *arg, int64_t seq, int64_t at, const char *body)
{
    frows_t *r = arg;
    (void)seq, (void)at;
    json_t *doc = json_loads(body, 0, NULL), *facts = json_object_get(doc, "facts");
    if (r->rows < 8 && json_is_object(facts)) {
        r->v[r->rows] = (int)json_integer_value(json_object_get(facts, "v"));
        snprintf(r->node[r->rows], sizeof r->node[0], "%s",
                 json_string_value(json_object_get(facts, "n")));
        r->rows++;
    }
    json_decref(doc);
    return 0;
}

TP_TEST(store_sqlite_audit_facts_once_per_transaction)
{
    char dir[] = "/tmp/tp-store-XXXXXX";
    tp_store_t *st = tmp_store(dir);
    tp_error_t err = {0};
    facts_src_t src = {0, 1};
    TP_ASSERT(st);
    TP_ASSERT(tp_store_audit_on(st, counted_facts, &src, &err) == 0);
    /* one transaction: three rows on n1, one on n2 → two asks */
    TP_CHECK(tp_store_begin(st, &err) == 0);
    TP_CHECK(tp_store_put_placement(st, "w1", NULL, "running", "n1", 1, "{}", "{}", 1,
                                    &err) == 0);
    TP_CHECK(tp_store_add_preemption(st, "w0", "n1", "power_node:n1", 1, 1, &err) == 0);
    TP_CHECK(tp_store_put_placement(st, "w2", NULL, "running", "n2", 1, "{}", "{}", 1,
                                    &err) == 0);
    TP_CHECK(tp_store_add_preemption(st, "w9", "n1", "power_node:n1", 1, 1, &err) == 0);
    TP_CHECK(tp_store_commit(st, &err) == 0);
    TP_CHECK_EQ_INT(src.calls, 2);
    /* the next transaction asks again and sees what changed since */
    src.version = 2;
    TP_CHECK(tp_store_begin(st, &err) == 0);
    TP_CHECK(tp_store_put_placement(st, "w3", NULL, "running", "n1", 1, "{}", "{}", 2,
                                    &err) == 0);
    TP_CHECK(tp_store_commit(st, &err) == 0);
    TP_CHECK_EQ_INT(src.calls, 3);
    /* a rolled back transaction's answers are not kept either */
    src.version = 3;
    TP_CHECK(tp_store_begin(st, &err) == 0);
    TP_CHECK(tp_store_put_placement(st, "w4", NULL, "running", "n2", 1, "{}", "{}", 3,
                                    &err) == 0);
    tp_store_rollback(st);
    TP_CHECK(tp_store_begin(st, &err) == 0);
    TP_CHECK(tp_store_put_placement(st, "w5", NULL, "running", "n2", 1, "{}", "{}", 3,
                                    &err) == 0);
    TP_CHECK(tp_store_commit(st, &err) == 0);
    TP_CHECK_EQ_INT(src.calls, 5);
    frows_t r = {0};
    TP_CHECK(tp_store_audit_since(st, 0, on_frow, &r, &err) == 0);
    TP_CHECK_EQ_INT(r.rows, 6);
    const char *nodes[] = {"n1", "n1", "n2", "n1", "n1", "n2"};
    int v[] = {1, 1, 1, 1, 2, 3};
    for (int i = 0; i < 6 && i < r.rows; i++) {
        TP_CHECK_STR(r.node[i], nodes[i]);
        TP_CHECK_EQ_INT(r.v[i], v[i]);
    }
    tmp_store_close(st, dir);
}
