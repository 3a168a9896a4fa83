/*
 * tests/unit/test_etcd.c — the etcd v3 gateway client against a real 3-member
 * cluster on loopback (tests/unit/etcd_cluster.h); the base64 codec alone.
 */
#include "scheduler/etcd.h"
#include "tests/unit/etcd_cluster.h"
#include "tests/unit/tp_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TP_TEST(etcd_b64_roundtrip_and_refusals)
{
    const char bin[] = {'a', '\0', (char)0xff, 'z', '\n'};
    for (size_t n = 0; n <= sizeof bin; n++) {
        char *t = tp_etcd_b64_encode(bin, n);
        size_t len = 99;
        char *back = tp_etcd_b64_decode(t, &len);
        TP_ASSERT(back != NULL);
        TP_CHECK_EQ_INT(len, n);
        TP_CHECK(memcmp(back, bin, n) == 0);
        free(t);
        free(back);
    }
    char *t = tp_etcd_b64_encode("foo", 3);
    TP_CHECK_STR(t, "Zm9v");
    free(t);
    size_t len;
    const char *bad[] = {"Zm9", "Zm9v!", "Zm 9", "Z===", "Zm=v", "Zm9v\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *b = tp_etcd_b64_decode(bad[i], &len);
        if (b)
            tp_test_fail(__FILE__, __LINE__, "\"%s\" decoded", bad[i]);
        free(b);
    }
    char *b = tp_etcd_b64_decode("YQ==", &len);
    TP_CHECK(b && len == 1 && b[0] == 'a');
    free(b);
    char *end = tp_etcd_prefix_end("tp/a");
    TP_CHECK_STR(end, "tp/b");
    free(end);
}

TP_TEST(etcd_endpoint_list_is_checked)
{
    tp_error_t err = {0};
    TP_CHECK(tp_etcd_new("", 0, &err) == NULL);
    TP_CHECK(tp_etcd_new("127.0.0.1:2379", 0, &err) == NULL);
    TP_CHECK_CONTAINS(err.text, "expected http(s)://");
    TP_CHECK(tp_etcd_new("http://a:1,,http://b:2", 0, &err) == NULL);
    tp_etcd_t *e = tp_etcd_new("http://127.0.0.1:1/,http://127.0.0.1:2", 0, &err);
    TP_ASSERT(e != NULL);
    TP_CHECK_STR(tp_etcd_endpoint(e), "http://127.0.0.1:1");
    tp_etcd_range_t r;
    TP_CHECK_EQ_INT(tp_etcd_range(e, "k", NULL, NULL, &r, &err),
                    TP_EIO); /* nobody there */
    tp_etcd_free(e);
}

static tp_etcd_t *client(void)
{
    const char *why = NULL;
    tp_etcd_cluster_t *c = tp_etcd_cluster(&why);
    if (!c) {
        tp_test_skip(why);
        return NULL;
    }
    tp_error_t err = {0};
    return tp_etcd_new(c->urls, 3000, &err);
}

TP_TEST(etcd_put_range_delete_and_defaults)
{
    tp_etcd_t *e = client();
    if (!e)
        return;
    tp_error_t err = {0};
    tp_etcd_range_t r;
    /* a missing key: no kvs, no count (defaults omitted) */
    TP_ASSERT(tp_etcd_range(e, "t1/missing", NULL, NULL, &r, &err) == 0);
    TP_CHECK_EQ_INT(r.n, 0);
    TP_CHECK_EQ_INT(r.count, 0);
    TP_CHECK(r.revision > 0);
    tp_etcd_range_free(&r);
    int64_t rev1, rev2, rev3;
    const char bin[] = {'x', '\0', 'y'};
    TP_ASSERT(tp_etcd_put(e, "t1/a", bin, 3, 0, &rev1, &err) == 0);
    TP_ASSERT(tp_etcd_put(e, "t1/b", "", 0, 0, &rev2, &err) ==
              0); /* empty value: omitted */
    TP_ASSERT(tp_etcd_put(e, "t1/a", "2", 1, 0, &rev3, &err) == 0);
    TP_CHECK(rev1 < rev2 && rev2 < rev3);
    char *end = tp_etcd_prefix_end("t1/");
    TP_ASSERT(tp_etcd_range(e, "t1/", end, NULL, &r, &err) == 0);
    TP_ASSERT(r.n == 2);
    TP_CHECK_STR(r.kvs[0].key, "t1/a");
    TP_CHECK_STR(r.kvs[0].value, "2");
    TP_CHECK_EQ_INT(r.kvs[0].create_revision, rev1);
    TP_CHECK_EQ_INT(r.kvs[0].mod_revision, rev3);
    TP_CHECK_EQ_INT(r.kvs[0].version, 2);
    TP_CHECK_EQ_INT(r.kvs[0].lease, 0);
    TP_CHECK_STR(r.kvs[1].key, "t1/b");
    TP_CHECK_EQ_INT(r.kvs[1].value_len, 0);
    TP_CHECK_EQ_INT(r.count, 2);
    tp_etcd_range_free(&r);
    /* polling with revisions: only what changed after rev2 */
    tp_etcd_range_opts_t o = {.min_mod_revision = rev2 + 1};
    TP_ASSERT(tp_etcd_range(e, "t1/", end, &o, &r, &err) == 0);
    TP_CHECK(r.n == 1 && strcmp(r.kvs[0].key, "t1/a") == 0);
    tp_etcd_range_free(&r);
    /* sorted by creation, with a limit */
    tp_etcd_range_opts_t lim = {.limit = 1, .sort_by_create = true};
    TP_ASSERT(tp_etcd_range(e, "t1/", end, &lim, &r, &err) == 0);
    TP_CHECK(r.n == 1 && r.more && r.count == 2);
    tp_etcd_range_free(&r);
    /* a binary value keeps its NUL */
    TP_ASSERT(tp_etcd_put(e, "t1/bin", bin, 3, 0, NULL, &err) == 0);
    TP_ASSERT(tp_etcd_range(e, "t1/bin", NULL, NULL, &r, &err) == 0);
    TP_CHECK(r.n == 1 && r.kvs[0].value_len == 3 && memcmp(r.kvs[0].value, bin, 3) == 0);
    tp_etcd_range_free(&r);
    int64_t deleted = 0;
    TP_CHECK(tp_etcd_delete(e, "t1/", end, &deleted, &err) == 0);
    TP_CHECK_EQ_INT(deleted, 3);
    TP_CHECK(tp_etcd_delete(e, "t1/", end, &deleted, &err) == 0);
    TP_CHECK_EQ_INT(deleted, 0); /* omitted in the answer */
    free(end);
    tp_etcd_free(e);
}

TP_TEST(etcd_txn_compares)
{
    tp_etcd_t *e = client();
    if (!e)
        return;
    tp_error_t err = {0};
    bool ok;
    int64_t rev;
    /* create-if-absent: create_revision == 0 */
    for (int round = 0; round < 2; round++) {
        tp_etcd_txn_t *t = tp_etcd_txn_new();
        tp_etcd_txn_compare(t, "t2/lock", TP_ETCD_CREATE, TP_ETCD_EQUAL, 0, NULL);
        tp_etcd_txn_put(t, true, "t2/lock", "me", 2, 0);
        tp_etcd_txn_get(t, false, "t2/lock");
        tp_etcd_range_t *gets;
        int n;
        TP_ASSERT(tp_etcd_txn_commit(e, t, &ok, &rev, &gets, &n, &err) == 0);
        TP_CHECK(ok == (round == 0)); /* the second finds it: "succeeded" omitted */
        TP_CHECK_EQ_INT(n, round == 0 ? 0 : 1);
        if (round == 1 && n == 1)
            TP_CHECK(gets[0].n == 1 && strcmp(gets[0].kvs[0].value, "me") == 0);
        for (int k = 0; k < n; k++)
            tp_etcd_range_free(&gets[k]);
        free(gets);
        tp_etcd_txn_free(t);
    }
    tp_etcd_range_t r;
    TP_ASSERT(tp_etcd_range(e, "t2/lock", NULL, NULL, &r, &err) == 0 && r.n == 1);
    int64_t created = r.kvs[0].create_revision, mod = r.kvs[0].mod_revision;
    tp_etcd_range_free(&r);
    struct {
        tp_etcd_target_t target;
        tp_etcd_cmp_t cmp;
        int64_t num;
        const char *value;
        bool want;
    } cases[] = {
        {TP_ETCD_CREATE, TP_ETCD_EQUAL, created, NULL, true},
        {TP_ETCD_CREATE, TP_ETCD_EQUAL, created + 1, NULL, false},
        {TP_ETCD_MOD, TP_ETCD_EQUAL, mod, NULL, true},
        {TP_ETCD_MOD, TP_ETCD_LESS, mod, NULL, false},
        {TP_ETCD_VERSION, TP_ETCD_EQUAL, 1, NULL, true},
        {TP_ETCD_VERSION, TP_ETCD_GREATER, 1, NULL, false},
        {TP_ETCD_VALUE, TP_ETCD_EQUAL, 0, "me", true},
        {TP_ETCD_VALUE, TP_ETCD_NOT_EQUAL, 0, "me", false},
        {TP_ETCD_LEASE, TP_ETCD_EQUAL, 0, NULL, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tp_etcd_txn_t *t = tp_etcd_txn_new();
        tp_etcd_txn_compare(t, "t2/lock", cases[i].target, cases[i].cmp, cases[i].num,
                            cases[i].value);
        tp_etcd_txn_put(t, true, "t2/x", "1", 1, 0);
        TP_ASSERT(tp_etcd_txn_commit(e, t, &ok, &rev, NULL, NULL, &err) == 0);
        if (ok != cases[i].want)
            tp_test_fail(__FILE__, __LINE__, "case %zu: succeeded %d", i, ok);
        tp_etcd_txn_free(t);
    }
    /* a failed compare writes nothing */
    tp_etcd_txn_t *t = tp_etcd_txn_new();
    tp_etcd_txn_compare(t, "t2/lock", TP_ETCD_VALUE, TP_ETCD_EQUAL, 0, "not-me");
    tp_etcd_txn_put(t, true, "t2/never", "1", 1, 0);
    tp_etcd_txn_delete(t, false, "t2/x");
    TP_ASSERT(tp_etcd_txn_commit(e, t, &ok, &rev, NULL, NULL, &err) == 0);
    TP_CHECK(!ok);
    tp_etcd_txn_free(t);
    TP_ASSERT(tp_etcd_range(e, "t2/never", NULL, NULL, &r, &err) == 0);
    TP_CHECK_EQ_INT(r.n, 0);
    tp_etcd_range_free(&r);
    TP_ASSERT(tp_etcd_range(e, "t2/x", NULL, NULL, &r, &err) == 0);
    TP_CHECK_EQ_INT(r.n, 0); /* the failure branch deleted it */
    tp_etcd_range_free(&r);
    char *end = tp_etcd_prefix_end("t2/");
    tp_etcd_delete(e, "t2/", end, NULL, &err);
    free(end);
    tp_etcd_free(e);
}

TP_TEST(etcd_leases)
{
    tp_etcd_t *e = client();
    if (!e)
        return;
    tp_error_t err = {0};
    int64_t id = 0, ttl = 0;
    TP_ASSERT(tp_etcd_lease_grant(e, 5, &id, &ttl, &err) == 0);
    TP_CHECK(id != 0);
    TP_CHECK_EQ_INT(ttl, 5);
    TP_ASSERT(tp_etcd_put(e, "t3/leader", "r1", 2, id, NULL, &err) == 0);
    int64_t left = 0;
    TP_ASSERT(tp_etcd_lease_keepalive(e, id, &left, &err) == 0);
    TP_CHECK(left > 0 && left <= 5);
    tp_etcd_range_t r;
    TP_ASSERT(tp_etcd_range(e, "t3/leader", NULL, NULL, &r, &err) == 0 && r.n == 1);
    TP_CHECK_EQ_INT(r.kvs[0].lease, id);
    tp_etcd_range_free(&r);
    TP_ASSERT(tp_etcd_lease_revoke(e, id, &err) == 0);
    TP_ASSERT(tp_etcd_range(e, "t3/leader", NULL, NULL, &r, &err) == 0);
    TP_CHECK_EQ_INT(r.n, 0); /* the key went with its lease */
    tp_etcd_range_free(&r);
    left = 99;
    TP_ASSERT(tp_etcd_lease_keepalive(e, id, &left, &err) == 0);
    TP_CHECK_EQ_INT(left, 0); /* a gone lease: TTL omitted */
    tp_etcd_free(e);
}

TP_TEST(etcd_survives_a_member_kill)
{
    const char *why = NULL;
    tp_etcd_cluster_t *c = tp_etcd_cluster(&why);
    if (!c) {
        TP_SKIP(why);
    }
    tp_error_t err = {0};
    tp_etcd_t *e = tp_etcd_new(c->urls, 3000, &err);
    TP_ASSERT(e != NULL);
    TP_ASSERT(tp_etcd_put(e, "t4/k", "v", 1, 0, NULL, &err) == 0);
    char first[64];
    snprintf(first, sizeof first, "%s", tp_etcd_endpoint(e));
    TP_ASSERT(tp_etcd_cluster_kill(c, 0) == 0); /* the first endpoint */
    int ok = 0;
    for (int tries = 0; tries < 50 && !ok; tries++) { /* a new raft leader may be due */
        tp_etcd_range_t r;
        if (tp_etcd_range(e, "t4/k", NULL, NULL, &r, &err) == 0) {
            ok = r.n == 1 && strcmp(r.kvs[0].value, "v") == 0;
            tp_etcd_range_free(&r);
        } else {
            usleep(100000);
        }
    }
    TP_CHECK(ok);
    TP_CHECK(strcmp(tp_etcd_endpoint(e), first) != 0); /* moved to a live member */
    TP_CHECK(tp_etcd_cluster_restart(c, 0) == 0);
    tp_etcd_free(e);
}

typedef struct {
    pthread_mutex_t mu;
    bool stop;
    int n;
    char keys[8][32], values[8][32];
    bool deleted[8];
    int64_t rev;
    int rc;
    int64_t compacted;
    tp_etcd_t *e;
    int64_t from;
} wseen_t;

static int w_event(void *arg, const tp_etcd_kv_t *kv, bool deleted)
{
    wseen_t *w = arg;
    pthread_mutex_lock(&w->mu);
    if (w->n < 8) {
        snprintf(w->keys[w->n], 32, "%s", kv->key);
        snprintf(w->values[w->n], 32, "%s", kv->value ? kv->value : "");
        w->deleted[w->n] = deleted;
    }
    w->n++;
    pthread_mutex_unlock(&w->mu);
    return 0;
}
static void w_progress(void *arg, int64_t rev)
{
    wseen_t *w = arg;
    pthread_mutex_lock(&w->mu);
    w->rev = rev;
    pthread_mutex_unlock(&w->mu);
}
static bool w_stop(void *arg)
{
    wseen_t *w = arg;
    pthread_mutex_lock(&w->mu);
    bool s = w->stop;
    pthread_mutex_unlock(&w->mu);
    return s;
}
static void *w_main(void *arg)
{
    wseen_t *w = arg;
    tp_error_t err = {0};
    tp_etcd_watch_cb_t cb = {w_event, w_progress, w_stop, w};
    char *end = tp_etcd_prefix_end("t4/");
    w->rc = tp_etcd_watch(w->e, "t4/", end, w->from, &cb, &w->compacted, &err);
    free(end);
    return NULL;
}

TP_TEST(etcd_watch_streams_changes_and_reports_compaction)
{
    tp_etcd_t *e = client();
    if (!e)
        return;
    tp_error_t err = {0};
    int64_t r1 = 0;
    TP_ASSERT(tp_etcd_put(e, "t4/a", "1", 1, 0, &r1, &err) == 0);
    wseen_t w = {.mu = PTHREAD_MUTEX_INITIALIZER, .from = r1};
    TP_ASSERT((w.e = tp_etcd_new(tp_etcd_endpoint(e), 2000, &err)) != NULL);
    pthread_t th;
    TP_ASSERT(pthread_create(&th, NULL, w_main, &w) == 0);
    TP_CHECK(tp_etcd_put(e, "t4/b", "2", 1, 0, NULL, &err) == 0);
    TP_CHECK(tp_etcd_put(e, "t5/x", "outside", 7, 0, NULL, &err) == 0);
    int64_t last = 0;
    TP_CHECK(tp_etcd_delete(e, "t4/a", NULL, NULL, &err) == 0);
    TP_CHECK(tp_etcd_put(e, "t4/c", "3", 1, 0, &last, &err) == 0);
    for (int i = 0; i < 100 && !w_stop(&w); i++) { /* at most 10 s */
        pthread_mutex_lock(&w.mu);
        w.stop = w.rev >= last;
        pthread_mutex_unlock(&w.mu);
        usleep(100000);
    }
    pthread_mutex_lock(&w.mu);
    w.stop = true;
    pthread_mutex_unlock(&w.mu);
    pthread_join(th, NULL);
    TP_CHECK_EQ_INT(w.rc, 0); /* stopped, not broken */
    TP_CHECK_EQ_INT(w.n, 4);  /* the past PUT from r1 on, then three; t5/ not */
    TP_CHECK(!strcmp(w.keys[0], "t4/a") && !strcmp(w.values[0], "1") && !w.deleted[0]);
    TP_CHECK(!strcmp(w.keys[1], "t4/b") && !strcmp(w.values[1], "2") && !w.deleted[1]);
    TP_CHECK(!strcmp(w.keys[2], "t4/a") && w.deleted[2]);
    TP_CHECK(!strcmp(w.keys[3], "t4/c") && !w.deleted[3]);
    TP_CHECK(w.rev >= last);

    /* history compacted away: the watch is canceled and says from where */
    TP_ASSERT(tp_etcd_compact(e, last, &err) == 0);
    wseen_t w2 = {.mu = PTHREAD_MUTEX_INITIALIZER, .from = r1, .e = w.e};
    w_main(&w2);
    TP_CHECK(w2.rc < 0);
    TP_CHECK_EQ_INT(w2.compacted, last);
    TP_CHECK_EQ_INT(w2.n, 0);
    tp_etcd_free(w.e);
    tp_etcd_free(e);
}
