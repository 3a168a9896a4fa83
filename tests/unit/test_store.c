/*
 * tests/unit/test_store.c — scheduler/store.h: both implementations keep and
 * give back the same rows; the etcd one is fenced by the leader key.
 */
#include "scheduler/etcd.h"
#include "scheduler/store.h"
#include "tests/unit/etcd_cluster.h"
#include "tests/unit/tp_test.h"

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

TP_TEST(store_sqlite_roundtrip)
{
    char dir[] = "/tmp/tp-store-XXXXXX";
    TP_ASSERT(mkdtemp(dir) != NULL);
    tp_store_opts_t o = {.data_dir = dir};
    tp_store_t *st = NULL;
    tp_error_t err = {0};
    TP_ASSERT(tp_store_open(&o, &st, &err) == 0);
    TP_CHECK_STR(tp_store_kind(st), "sqlite");
    TP_CHECK(!tp_store_shared(st));
    TP_CHECK(write_all(st, &err) == 0);
    check_loaded(st);
    tp_store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    TP_CHECK(system(cmd) == 0);
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
    uint64_t commits, failed, fenced, usec;
    tp_store_stats(st, &commits, &failed, &fenced, &usec);
    TP_CHECK(commits >= 3 && failed == 2);
    TP_CHECK_EQ_INT(fenced, 1); /* the other failure: no fence held at all */

    char *end = tp_etcd_prefix_end("/t-store/");
    tp_etcd_delete(e, "/t-store/", end, NULL, &err);
    free(end);
    tp_etcd_free(e);
    tp_store_close(st);
    tp_store_close(other);
}
