/*
 * tests/unit/test_collect_faults.c — the collector against the test bed, in
 * process: the farm and verifier run on a thread of their own, the collector on
 * this thread's loop. Healthy BMCs give exact facts; BMC timeouts, 500s,
 * truncated JSON, a 404 member, refused logins, closed ports and bad tokens
 * give unknown facts; the cycle always completes; the affected nodes lose
 * eligibility for work that needs those facts (policy), and every handle is
 * released (uv_loop_close == 0; ASan checks the rest). Then, over several
 * cycles of one collector: a JWKS fetched from the verifier's URL follows a key
 * rotation with one refetch and no more than one per interval; an expired
 * Redfish session costs one re-login, a BMC that rejects every token costs one
 * re-login per cycle and leaves its facts unknown; the power sampler of the
 * Redfish energy meter reads a node's draw.
 */
#include "collectors/collectors.h"
#include "model/state_json.h"
#include "policy/policy.h"
#include "tests/testbed/testbed.h"
#include "tp_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *id, *region;
    tb_fault_t fault;
    tb_att_t att;
    const char *country; /* NULL: the region's */
    const char *mockup;
    int gpus; /* GPUs the BMC reports (0: 8, the declared count) */
} node_spec_t;

typedef struct {
    char dir[64];
    tb_t *tb;
    tb_bmc_t *bmcs;
    tp_fleet_t *f;
    tp_collect_cfg_t *cfg;
} bed_t;

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Farm and verifier settings beyond the defaults (bed_start's knobs may be NULL). */
typedef struct {
    int session_ttl_ms; /* the farm's session lifetime (0: forever) */
    bool jwks_url;      /* the verifier's JWKS from its URL, refreshed at most once a
                           second, instead of a file */
    int stale_after_s;  /* the collector's staleness clock (0: 300 s) */
    int timeout_ms;     /* per request (0: 400 ms) */
    const char *bmc;    /* more keys of collectors.bmc (", \"k\": v"), or NULL */
    bool nonce;         /* the verifier is sent a nonce and must return it */
} knobs_t;

/* A fleet of the given nodes, each with a virtual BMC; verifier_port 0 uses the
 * test bed's verifier, another value points the verifier at that port. Callers
 * TP_ASSERT it succeeds: a bed that does not start fails the test. */
static int bed_start(bed_t *b, const node_spec_t *nodes, int n, bool auth,
                     const char *extra, uint16_t verifier_port, const knobs_t *knobs)
{
    char jwks_src[160];
    tb_opts_t o = {0};
    char err[256], path[256];
    json_t *fleet, *jnodes, *jwks;
    char *text;
    tp_error_t e = {0};
    memset(b, 0, sizeof *b);
    snprintf(b->dir, sizeof b->dir, "/tmp/tp-collect-XXXXXX");
    if (!mkdtemp(b->dir))
        return -1;
    b->bmcs = calloc((size_t)n, sizeof *b->bmcs);
    for (int i = 0; i < n; i++) {
        tb_bmc_t *x = &b->bmcs[i];
        snprintf(x->id, sizeof x->id, "%s", nodes[i].id);
        snprintf(x->country, sizeof x->country, "%s",
                 nodes[i].country                    ? nodes[i].country
                 : !strcmp(nodes[i].region, "eu-de") ? "DE"
                                                     : "FR");
        x->gpus = nodes[i].gpus ? nodes[i].gpus : 8;
        x->cap_w = 9800;
        x->draw_w = 6100;
        x->cpu_tee = "tdx";
        x->gpu_cc = true;
        x->fault = nodes[i].fault;
        x->att = nodes[i].att;
        x->mockup = nodes[i].mockup;
    }
    o.bmcs = b->bmcs;
    o.nbmcs = n;
    o.mockup_root = NULL;
    if (tp_test_shared()) {
        static char root[512];
        snprintf(root, sizeof root, "%s/fixtures/redfish", tp_test_shared());
        o.mockup_root = root;
    }
    o.latency_ms = 2;
    o.jitter_ms = 1;
    o.auth = auth;
    o.verifier = true;
    o.seed = 7;
    o.session_ttl_ms = knobs ? knobs->session_ttl_ms : 0;
    if (tb_start(&o, &b->tb, err, sizeof err) < 0) {
        tp_test_fail(__FILE__, __LINE__, "test bed: %s", err);
        return -1;
    }
    snprintf(path, sizeof path, "%s/cred.json", b->dir);
    write_text(path, "{\"username\": \"admin\", \"password\": \"secret\"}");
    snprintf(path, sizeof path, "%s/jwks.json", b->dir);
    jwks = (json_t *)tb_jwks(b->tb);
    json_dump_file(jwks, path, 0);
    fleet = json_pack("{s:i,s:{s:{s:[s]},s:{s:[s]}},s:[{s:s,s:f}],s:{s:{s:{},s:{s:[s],s:"
                      "b,s:{s:s,s:i},s:s}}}}",
                      "version", 1, "regions", "eu-de", "countries", "DE", "eu-fr",
                      "countries", "FR", "power_domains", "id", "site", "cap_w", 1e6,
                      "policy", "classes", "public", "strict", "cpu_tee", "tdx", "gpu_cc",
                      1, "attestation", "min_status", "affirming", "max_age_s", 600,
                      "residency", "verified");
    jnodes = json_array();
    for (int i = 0; i < n; i++) {
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%u", b->bmcs[i].port);
        json_array_append_new(
            jnodes,
            json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:b,s:i,s:i,s:i,s:{s:s,s:s},s:s}", "id",
                      nodes[i].id, "power_domain", "site", "region", nodes[i].region,
                      "gpu_model", "H100", "gpus", 8, "cpu_tee", "tdx", "gpu_cc", 1,
                      "cap_w", 10200, "idle_w", 1400, "gpu_w", 700, "bmc", "url", url,
                      "credentials", "bmc", "verifier", "v1"));
    }
    json_object_set_new(fleet, "nodes", jnodes);
    {
        char vurl[96], coll[2048];
        json_t *c;
        snprintf(vurl, sizeof vurl, "http://127.0.0.1:%u/attestation/{node}%s",
                 verifier_port ? verifier_port : tb_verifier_port(b->tb),
                 knobs && knobs->nonce ? "?nonce={nonce}" : "");
        if (knobs && knobs->jwks_url)
            snprintf(jwks_src, sizeof jwks_src,
                     "\"jwks_url\": \"http://127.0.0.1:%u/.well-known/jwks.json\","
                     " \"jwks_refresh_s\": 1",
                     tb_verifier_port(b->tb));
        else
            snprintf(jwks_src, sizeof jwks_src, "\"jwks_file\": \"%s/jwks.json\"",
                     b->dir);
        snprintf(
            coll, sizeof coll,
            "{\"credentials\": {\"bmc\": {\"file\": \"%s/cred.json\"}},"
            " \"verifiers\": {\"v1\": {\"url\": \"%s\", %s%s,"
            " \"algs\": [\"ES256\"], \"require\": [\"cpu\", \"gpu\"],"
            " \"allow_http\": true}},"
            " \"bmc\": {\"auth\": \"%s\", \"timeout_ms\": %d, \"connect_timeout_ms\": "
            "400,"
            " \"retries\": 1, \"backoff_ms\": 5, \"stale_after_s\": %d%s}%s}",
            b->dir, vurl, jwks_src, knobs && knobs->nonce ? ", \"nonce\": true" : "",
            auth ? "session" : "none",
            knobs && knobs->timeout_ms ? knobs->timeout_ms : 400,
            knobs && knobs->stale_after_s ? knobs->stale_after_s : 300,
            knobs && knobs->bmc ? knobs->bmc : "", extra ? extra : "");
        c = json_loads(coll, 0, NULL);
        if (!c)
            return -1;
        json_object_set_new(fleet, "collectors", c);
    }
    text = json_dumps(fleet, 0);
    json_decref(fleet);
    snprintf(path, sizeof path, "%s/fleet.json", b->dir);
    write_text(path, text);
    free(text);
    if (tp_fleet_load(path, &b->f, &e) < 0 ||
        tp_collect_config_load(b->f, &b->cfg, &e) < 0) {
        tp_test_fail(__FILE__, __LINE__, "fleet: %s", e.text);
        return -1;
    }
    return 0;
}

static void bed_stop(bed_t *b)
{
    char cmd[128];
    tb_stop(b->tb);
    tp_collect_config_free(b->cfg);
    tp_fleet_free(b->f);
    free(b->bmcs);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", b->dir);
}

static void on_done(tp_collector_t *c, void *arg)
{
    (void)c;
    ++*(int *)arg;
}

static void on_closed(void *arg)
{
    ++*(int *)arg;
}

static void quiet(void *arg, tp_log_level_t lv, const char *msg)
{
    (void)arg;
    (void)lv;
    (void)msg;
}

/* One cycle; the state is copied out through JSON (what `collect` writes). */
static tp_state_t *run_cycle(bed_t *b, tp_collect_stats_t *stats, int cycles,
                             int *tel_gpus, int tel_node)
{
    uv_loop_t loop;
    tp_collector_t *c;
    tp_error_t err = {0};
    tp_state_t *s = NULL;
    int done = 0, closed = 0;
    char *text;
    json_t *doc;
    uv_loop_init(&loop);
    c = tp_collector_new(&loop, b->f, b->cfg, &err);
    if (!c) {
        tp_test_fail(__FILE__, __LINE__, "collector: %s", err.text);
        return NULL;
    }
    tp_collector_set_log(c, quiet, NULL);
    for (int k = 0; k < cycles; k++) {
        int before = done;
        if (tp_collector_cycle(c, on_done, &done) < 0)
            tp_test_fail(__FILE__, __LINE__, "cycle refused");
        TP_CHECK_EQ_INT(tp_collector_cycle(c, on_done, &done),
                        TP_EINVAL); /* one at a time */
        while (done == before)
            uv_run(&loop, UV_RUN_ONCE);
    }
    if (stats)
        *stats = *tp_collector_stats(c);
    if (tel_gpus) {
        const tp_dcgm_t *d = tp_collector_telemetry(c, tel_node);
        *tel_gpus = d ? d->ngpus : -1;
    }
    doc = tp_state_to_json(b->f, tp_collector_state(c));
    text = json_dumps(doc, 0);
    json_decref(doc);
    if (tp_state_load_buffer("collected", text, strlen(text), b->f, &s, &err) < 0)
        tp_test_fail(__FILE__, __LINE__, "state does not load back: %s", err.text);
    free(text);
    tp_collector_close(c, on_closed, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    TP_CHECK_EQ_INT(closed, 1);
    TP_CHECK_EQ_INT(uv_loop_close(&loop), 0);
    return s;
}

static tp_workloads_t *strict_workload(const tp_fleet_t *f)
{
    static const char *const w =
        "[{\"id\": \"w1\", \"gpus\": 1, \"sensitivity\": \"strict\", \"residency\": "
        "[\"eu-de\"]},"
        " {\"id\": \"w2\", \"gpus\": 1, \"sensitivity\": \"public\"}]";
    tp_workloads_t *ws = NULL;
    tp_error_t err = {0};
    if (tp_workloads_load_buffer("w", w, strlen(w), f, TP_WL_PENDING, &ws, &err) < 0)
        tp_test_fail(__FILE__, __LINE__, "workloads: %s", err.text);
    return ws;
}

#define PB(p) TP_PRED_BIT(TP_PRED_##p)

TP_TEST(collect_faults_bmcs)
{
    static const node_spec_t nodes[] = {
        {"ok", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL},
        {"hang", "eu-de", TB_FAULT_HANG, TB_ATT_GOOD, NULL, NULL},
        {"e500", "eu-de", TB_FAULT_500, TB_ATT_GOOD, NULL, NULL},
        {"trunc", "eu-de", TB_FAULT_TRUNCATED, TB_ATT_GOOD, NULL, NULL},
        {"m404", "eu-de", TB_FAULT_404_MEMBER, TB_ATT_GOOD, NULL, NULL},
        {"down", "eu-de", TB_FAULT_DOWN, TB_ATT_GOOD, NULL, NULL},
        {"nologin", "eu-de", TB_FAULT_LOGIN, TB_ATT_GOOD, NULL, NULL},
        {"fr-in-de", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, "FRA", NULL},
        {"noloc", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, "", NULL},
    };
    bed_t b;
    tp_state_t *s;
    tp_workloads_t *ws;
    tp_collect_stats_t st;
    int64_t now = (int64_t)time(NULL);
    int counts[TP_PRED_COUNT], tel = 0;
    TP_ASSERT(bed_start(&b, nodes, 9, true,
                        ", \"telemetry\": {\"url\": \"http://{bmc_host}/metrics\"}", 0,
                        NULL) == 0);
    s = run_cycle(&b, &st, 1, &tel, 0);
    TP_ASSERT(s != NULL);
    TP_CHECK_EQ_INT(tel, 8);
    TP_CHECK_EQ_INT(st.bmcs, 9);
    TP_CHECK_EQ_INT(st.bmcs_ok, 7); /* hang, down: no root; trunc's root is whole */
    TP_CHECK_EQ_INT(st.nodes_attested, 9);
    /* ok: every fact, exactly. */
    TP_CHECK_EQ_DBL(s->nodes[0].cap_w, 9800, 0);
    TP_CHECK_EQ_DBL(s->nodes[0].draw_w, 6100, 0);
    TP_CHECK_EQ_INT(s->nodes[0].gpus_healthy, 8);
    TP_CHECK_STR(s->nodes[0].country, "DE");
    TP_CHECK(s->nodes[0].att.present && s->nodes[0].att.status == TP_ATT_AFFIRMING &&
             s->nodes[0].att.cpu_tee == TP_TEE_TDX && s->nodes[0].att.gpu_cc == 1);
    /* hang, 500, truncated, down, refused login: nothing known from the BMC. */
    for (int n = 1; n <= 6; n++) {
        if (n == 4)
            continue;
        if (!isnan(s->nodes[n].cap_w) || !isnan(s->nodes[n].draw_w) ||
            s->nodes[n].gpus_healthy != -1 || s->nodes[n].country[0])
            tp_test_fail(__FILE__, __LINE__, "node %s: BMC facts should be unknown",
                         b.f->nodes[n].id);
    }
    /* 404 member: a lower bound, never more GPUs than seen. */
    TP_CHECK_EQ_INT(s->nodes[4].gpus_healthy, 7);
    TP_CHECK_EQ_DBL(s->nodes[4].cap_w, 9800, 0);
    /* alpha-3 normalised; contradicts the declared region. */
    TP_CHECK_STR(s->nodes[7].country, "FR");
    TP_CHECK_STR(s->nodes[8].country, "");
    ws = strict_workload(b.f);
    TP_ASSERT(ws != NULL);
    TP_CHECK_EQ_INT(tp_policy_static(b.f, s, 0, &ws->w[0], now), 0);
    for (int n = 1; n <= 6; n++)
        if (n != 4 &&
            !(tp_policy_static(b.f, s, n, &ws->w[0], now) & PB(RESIDENCY_UNVERIFIED)))
            tp_test_fail(__FILE__, __LINE__, "node %s should fail residency_unverified",
                         b.f->nodes[n].id);
    TP_CHECK(tp_policy_static(b.f, s, 7, &ws->w[0], now) & PB(RESIDENCY_MISMATCH));
    TP_CHECK(tp_policy_static(b.f, s, 8, &ws->w[0], now) & PB(RESIDENCY_UNVERIFIED));
    /* Public work does not depend on those facts. */
    TP_CHECK_EQ_INT(tp_policy_static(b.f, s, 1, &ws->w[1], now), 0);
    TP_CHECK_EQ_INT(tp_policy_count(b.f, s, NULL, &ws->w[0], now, counts),
                    2); /* ok, m404 */
    tp_workloads_free(ws);
    tp_state_free(s);
    bed_stop(&b);
}

TP_TEST(collect_faults_attestation)
{
    static const node_spec_t nodes[] = {
        {"good", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL},
        {"expired", "eu-de", TB_FAULT_NONE, TB_ATT_EXPIRED, NULL, NULL},
        {"wrongkey", "eu-de", TB_FAULT_NONE, TB_ATT_WRONG_KEY, NULL, NULL},
        {"unknownkid", "eu-de", TB_FAULT_NONE, TB_ATT_UNKNOWN_KID, NULL, NULL},
        {"contra", "eu-de", TB_FAULT_NONE, TB_ATT_CONTRAINDICATED, NULL, NULL},
        {"warn", "eu-de", TB_FAULT_NONE, TB_ATT_WARNING, NULL, NULL},
        {"missing", "eu-de", TB_FAULT_NONE, TB_ATT_MISSING, NULL, NULL},
        {"othernode", "eu-de", TB_FAULT_NONE, TB_ATT_OTHER_NODE, NULL, NULL},
        {"unnamed", "eu-de", TB_FAULT_NONE, TB_ATT_UNNAMED, NULL, NULL},
    };
    bed_t b;
    tp_state_t *s;
    tp_workloads_t *ws;
    tp_collect_stats_t st;
    int64_t now = (int64_t)time(NULL);
    TP_ASSERT(bed_start(&b, nodes, 9, false, NULL, 0, NULL) == 0);
    s = run_cycle(&b, &st, 1, NULL, 0);
    TP_ASSERT(s != NULL);
    TP_CHECK_EQ_INT(st.nodes_attested, 4);
    TP_CHECK_EQ_INT(st.nodes_rejected, 4);
    /* Issued for another node: rejected; naming no node: none, no TEE. */
    TP_CHECK(!s->nodes[7].att.present);
    TP_CHECK(s->nodes[8].att.present && s->nodes[8].att.status == TP_ATT_NONE &&
             s->nodes[8].att.cpu_tee == TP_TEE_UNKNOWN);
    TP_CHECK(s->nodes[0].att.present && s->nodes[0].att.status == TP_ATT_AFFIRMING);
    for (int n = 1; n <= 3; n++)
        TP_CHECK(!s->nodes[n].att.present);
    TP_CHECK(s->nodes[4].att.present && s->nodes[4].att.status == TP_ATT_CONTRAINDICATED);
    TP_CHECK(s->nodes[5].att.present && s->nodes[5].att.status == TP_ATT_WARNING);
    TP_CHECK(!s->nodes[6].att.present);
    ws = strict_workload(b.f);
    TP_ASSERT(ws != NULL);
    TP_CHECK_EQ_INT(tp_policy_static(b.f, s, 0, &ws->w[0], now), 0);
    for (int n = 1; n <= 8; n++) {
        tp_predset_t p = tp_policy_static(b.f, s, n, &ws->w[0], now);
        if (!(p & TP_PREDS_ATTESTATION))
            tp_test_fail(__FILE__, __LINE__, "node %s stays eligible", b.f->nodes[n].id);
    }
    tp_workloads_free(ws);
    tp_state_free(s);
    bed_stop(&b);
}

/* A relying-party nonce per request: the one sent must come back. */
TP_TEST(collect_attestation_nonce)
{
    static const node_spec_t nodes[] = {
        {"good", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL},
        {"badnonce", "eu-de", TB_FAULT_NONE, TB_ATT_BAD_NONCE, NULL, NULL},
    };
    knobs_t k = {0};
    bed_t b;
    tp_state_t *s;
    tp_collect_stats_t st;
    k.nonce = true;
    if (bed_start(&b, nodes, 2, false, NULL, 0, &k) < 0)
        return;
    TP_CHECK(b.cfg->verifiers[0].nonce);
    s = run_cycle(&b, &st, 1, NULL, 0);
    TP_ASSERT(s != NULL);
    TP_CHECK_EQ_INT(st.nodes_attested, 1);
    TP_CHECK_EQ_INT(st.nodes_rejected, 1);
    TP_CHECK(s->nodes[0].att.present && s->nodes[0].att.status == TP_ATT_AFFIRMING);
    TP_CHECK(!s->nodes[1].att.present);
    tp_state_free(s);
    bed_stop(&b);
}

TP_TEST(collect_faults_verifier_down)
{
    static const node_spec_t nodes[] = {
        {"a", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL},
        {"b", "eu-fr", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL},
        {"closed", "eu-fr", TB_FAULT_DOWN, TB_ATT_GOOD, NULL, NULL},
    };
    bed_t b;
    tp_state_t *s;
    tp_collect_stats_t st;
    int counts[TP_PRED_COUNT];
    tp_workloads_t *ws;
    /* The verifier URL points at a closed port: the down BMC's. */
    TP_ASSERT(bed_start(&b, nodes, 3, false, NULL, 1, NULL) == 0);
    tb_stop(b.tb);
    b.tb = NULL;
    s = run_cycle(&b, &st, 2, NULL, 0);
    TP_ASSERT(s != NULL);
    TP_CHECK_EQ_INT(st.nodes_attested, 0);
    for (int n = 0; n < 3; n++) {
        TP_CHECK(!s->nodes[n].att.present);
        TP_CHECK(isnan(s->nodes[n].cap_w) && s->nodes[n].gpus_healthy == -1);
    }
    ws = strict_workload(b.f);
    TP_CHECK_EQ_INT(tp_policy_count(b.f, s, NULL, &ws->w[0], (int64_t)time(NULL), counts),
                    0);
    TP_CHECK_EQ_INT(counts[TP_PRED_ATTESTATION_MISSING], 3);
    tp_workloads_free(ws);
    tp_state_free(s);
    bed_stop(&b);
}

TP_TEST(collect_mockup_over_http)
{
    static const node_spec_t nodes[] = {
        {"tower", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, "dmtf-public-tower"},
        {"rack", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, "dmtf-public-rackmount1"},
        {"hpe", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, "hpe-cray-ex235a"},
    };
    bed_t b;
    tp_state_t *s;
    tp_collect_stats_t st;
    if (!tp_test_shared())
        TP_SKIP("../shared absent: no Redfish mockups");
    TP_ASSERT(bed_start(&b, nodes, 3, true, NULL, 0, NULL) == 0);
    s = run_cycle(&b, &st, 1, NULL, 0);
    TP_ASSERT(s != NULL);
    TP_CHECK_EQ_DBL(s->nodes[0].cap_w, 1045, 0);
    TP_CHECK_EQ_DBL(s->nodes[0].draw_w, 974, 0);
    TP_CHECK_EQ_INT(s->nodes[0].gpus_healthy, 2);
    TP_CHECK_STR(s->nodes[0].country, "US");
    TP_CHECK_EQ_DBL(s->nodes[1].cap_w, 500, 0);
    TP_CHECK_EQ_DBL(s->nodes[1].draw_w, 374, 0);
    TP_CHECK(isnan(s->nodes[2].cap_w)); /* capping off */
    TP_CHECK_EQ_DBL(s->nodes[2].draw_w, 736, 0);
    TP_CHECK_EQ_INT(s->nodes[2].gpus_healthy, 8);
    TP_CHECK_STR(s->nodes[2].country, "");
    /* $expand: the DMTF mockups advertise it, so collections came with members. */
    TP_CHECK(st.requests < 3 * 40);
    tp_state_free(s);
    bed_stop(&b);
}

/* ---- one collector over several cycles
 * ------------------------------------------------- */

typedef struct {
    uv_loop_t loop;
    tp_collector_t *c;
    int done;
} live_t;

static int live_open(live_t *l, bed_t *b)
{
    tp_error_t err = {0};
    l->done = 0;
    uv_loop_init(&l->loop);
    if (!(l->c = tp_collector_new(&l->loop, b->f, b->cfg, &err))) {
        tp_test_fail(__FILE__, __LINE__, "collector: %s", err.text);
        uv_loop_close(&l->loop);
        return -1;
    }
    tp_collector_set_log(l->c, quiet, NULL);
    return 0;
}

static tp_collect_stats_t live_cycle(live_t *l)
{
    int before = l->done;
    if (tp_collector_cycle(l->c, on_done, &l->done) < 0)
        tp_test_fail(__FILE__, __LINE__, "cycle refused");
    while (l->done == before)
        uv_run(&l->loop, UV_RUN_ONCE);
    return *tp_collector_stats(l->c);
}

static void live_close(live_t *l)
{
    int closed = 0;
    tp_collector_close(l->c, on_closed, &closed);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    TP_CHECK_EQ_INT(closed, 1);
    TP_CHECK_EQ_INT(uv_loop_close(&l->loop), 0);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The verifier rotates its signing key; the JWKS comes from its URL with
 * jwks_refresh_s 1. "ghost" is signed under a kid the JWKS never holds. */
TP_TEST(collect_jwks_url_key_rotation)
{
    static const node_spec_t nodes[] = {
        {"a", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL},
        {"b", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL},
        {"ghost", "eu-de", TB_FAULT_NONE, TB_ATT_UNKNOWN_KID, NULL, NULL},
    };
    const knobs_t knobs = {0, true};
    bed_t b;
    live_t l;
    tp_collect_stats_t st;
    TP_ASSERT(bed_start(&b, nodes, 3, false, NULL, 0, &knobs) == 0);
    TP_CHECK(b.cfg->verifiers[0].jwks == NULL && b.cfg->verifiers[0].jwks_url != NULL);
    if (live_open(&l, &b) < 0) {
        bed_stop(&b);
        return;
    }
    /* 1: the first fetch; ghost's unknown kid comes within the interval: no refetch. */
    st = live_cycle(&l);
    TP_CHECK_EQ_INT(st.jwks_fetches, 1);
    TP_CHECK_EQ_INT(st.nodes_attested, 2);
    TP_CHECK_EQ_INT(st.nodes_rejected, 1);
    TP_CHECK_EQ_INT((int)tb_stats(b.tb).jwks_fetches, 1);
    /* 2: rotated; every token names the new kid, still within the interval of
     * fetch 1: three unknown kids, no request, all rejected. */
    TP_ASSERT(tb_rotate_key(b.tb, "tb-rotated") == 0);
    st = live_cycle(&l);
    TP_CHECK_EQ_INT(st.jwks_fetches, 0);
    TP_CHECK_EQ_INT(st.nodes_attested, 0);
    TP_CHECK_EQ_INT(st.nodes_rejected, 3);
    TP_CHECK_EQ_INT((int)tb_stats(b.tb).jwks_fetches, 1);
    TP_CHECK(!tp_collector_state(l.c)->nodes[0].att.present);
    /* 3: past the interval: the first unknown kid refetches once, the others
     * wait for that fetch; the new kid is accepted, ghost's is not. */
    sleep_ms(1100);
    st = live_cycle(&l);
    TP_CHECK_EQ_INT(st.jwks_fetches, 1);
    TP_CHECK_EQ_INT(st.nodes_attested, 2);
    TP_CHECK_EQ_INT(st.nodes_rejected, 1);
    TP_CHECK_EQ_INT((int)tb_stats(b.tb).jwks_fetches, 2);
    /* 4: right away: ghost's kid is still unknown, and asks for nothing. */
    st = live_cycle(&l);
    TP_CHECK_EQ_INT(st.jwks_fetches, 0);
    TP_CHECK_EQ_INT(st.nodes_attested, 2);
    TP_CHECK_EQ_INT(st.nodes_rejected, 1);
    TP_CHECK_EQ_INT((int)tb_stats(b.tb).jwks_fetches, 2);
    {
        const tp_state_t *s = tp_collector_state(l.c);
        TP_CHECK(s->nodes[0].att.present && s->nodes[0].att.status == TP_ATT_AFFIRMING);
        TP_CHECK(s->nodes[1].att.present);
        TP_CHECK(!s->nodes[2].att.present);
    }
    live_close(&l);
    bed_stop(&b);
}

/* The BMC forgets sessions 300 ms after login: the next cycle's stale token is
 * answered 401, the collector logs in once more and reads every fact. */
TP_TEST(collect_session_expiry_relogin)
{
    static const node_spec_t nodes[] = {
        {"exp", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL},
    };
    const knobs_t knobs = {300, false};
    bed_t b;
    live_t l;
    tp_collect_stats_t st;
    tb_stats_t ts;
    TP_ASSERT(bed_start(&b, nodes, 1, true, NULL, 0, &knobs) == 0);
    if (live_open(&l, &b) < 0) {
        bed_stop(&b);
        return;
    }
    st = live_cycle(&l);
    TP_CHECK_EQ_INT(st.bmcs_ok, 1);
    TP_CHECK_EQ_DBL(tp_collector_draw_now(l.c, 0), 6100, 0);
    ts = tb_stats(b.tb);
    TP_CHECK_EQ_INT((int)ts.logins, 1);
    TP_CHECK_EQ_INT((int)ts.expired_tokens, 0);
    sleep_ms(400);
    st = live_cycle(&l);
    TP_CHECK_EQ_INT(st.bmcs_ok, 1);
    ts = tb_stats(b.tb);
    TP_CHECK_EQ_INT((int)ts.logins, 2); /* exactly one re-login */
    TP_CHECK(ts.expired_tokens >= 1);
    /* Read in this cycle, not left over from the first. */
    TP_CHECK_EQ_DBL(tp_collector_draw_now(l.c, 0), 6100, 0);
    {
        const tp_state_t *s = tp_collector_state(l.c);
        TP_CHECK_EQ_DBL(s->nodes[0].cap_w, 9800, 0);
        TP_CHECK_EQ_INT(s->nodes[0].gpus_healthy, 8);
        TP_CHECK_STR(s->nodes[0].country, "DE");
    }
    live_close(&l);
    bed_stop(&b);
}

/* A BMC whose logins succeed but which answers 401 to every token: one
 * re-login per cycle, never a loop; the cycle ends, the facts are unknown. */
TP_TEST(collect_session_always_401)
{
    static const node_spec_t nodes[] = {
        {"stale", "eu-de", TB_FAULT_STALE, TB_ATT_GOOD, NULL, NULL},
        {"ok", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL},
    };
    bed_t b;
    live_t l;
    tp_collect_stats_t st;
    TP_ASSERT(bed_start(&b, nodes, 2, true, NULL, 0, NULL) == 0);
    if (live_open(&l, &b) < 0) {
        bed_stop(&b);
        return;
    }
    for (int cycle = 1; cycle <= 2; cycle++) {
        const tp_state_t *s;
        st = live_cycle(&l);
        TP_CHECK_EQ_INT(st.bmcs, 2);
        s = tp_collector_state(l.c);
        TP_CHECK(isnan(tp_collector_draw_now(l.c, 0)));
        TP_CHECK(isnan(s->nodes[0].cap_w) && isnan(s->nodes[0].draw_w) &&
                 s->nodes[0].gpus_healthy == -1 && !s->nodes[0].country[0]);
        TP_CHECK_EQ_DBL(s->nodes[1].draw_w, 6100, 0);
        /* "ok" logs in once in all; "stale" logs in, then once more per cycle
         * when its token is refused (2, 3), never again within a cycle. */
        TP_CHECK_EQ_INT((int)tb_stats(b.tb).logins, 1 + 1 + cycle);
    }
    live_close(&l);
    bed_stop(&b);
}

/* The Redfish meter's sampler: a node's draw, read afresh on every sample; a
 * BMC that is down gives an error, not a stale or zero reading. */
TP_TEST(collect_power_sampler)
{
    static const node_spec_t nodes[] = {
        {"n1", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL},
        {"down", "eu-de", TB_FAULT_DOWN, TB_ATT_GOOD, NULL, NULL},
    };
    bed_t b;
    tp_power_sampler_t *ps = NULL;
    tp_error_t err = {0};
    double w = -1;
    TP_ASSERT(bed_start(&b, nodes, 2, true, NULL, 0, NULL) == 0);
    TP_CHECK_EQ_INT(tp_power_sampler_new(b.f, b.cfg, "nope", NULL, NULL, &ps, &err),
                    TP_ENOENT);
    TP_ASSERT(tp_power_sampler_new(b.f, b.cfg, "n1", NULL, NULL, &ps, &err) == 0);
    for (int i = 0; i < 3; i++) {
        w = -1;
        TP_CHECK_EQ_INT(tp_power_sampler_read(ps, &w, &err), 0);
        TP_CHECK_EQ_DBL(w, 6100, 0);
    }
    tp_power_sampler_free(ps);
    /* One login, reused by all three samples, and logged out at the end; no
     * attestation fetched, the other BMC never asked. */
    TP_CHECK_EQ_INT((int)tb_stats(b.tb).logins, 1);
    TP_CHECK_EQ_INT((int)tb_stats(b.tb).logouts, 1);
    TP_CHECK_EQ_INT((int)tb_stats(b.tb).tokens, 0);
    TP_ASSERT(tp_power_sampler_new(b.f, b.cfg, "down", NULL, NULL, &ps, &err) == 0);
    TP_CHECK_EQ_INT(tp_power_sampler_read(ps, &w, &err), TP_EIO);
    TP_CHECK(isnan(w));
    tp_power_sampler_free(ps);
    bed_stop(&b);
}

/* Every BMC goes dark after one good cycle, and stays dark past the staleness
 * clock: what only narrows eligibility (the lowered cap, the failed GPUs, the
 * country that contradicts the declared region) is kept; what would widen it
 * (a country that verifies the region) and the draw become unknown. */
TP_TEST(collect_bmc_outage_never_widens)
{
    static const node_spec_t nodes[] = {
        {"moved", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, "FR", NULL, 6},
        {"home", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL, 0},
    };
    const knobs_t knobs = {0, false, 1};
    bed_t b;
    live_t l;
    TP_ASSERT(bed_start(&b, nodes, 2, true, NULL, 0, &knobs) == 0);
    if (live_open(&l, &b) < 0) {
        bed_stop(&b);
        return;
    }
    live_cycle(&l);
    const tp_state_t *s = tp_collector_state(l.c);
    int moved = tp_fleet_node(b.f, "moved"), home = tp_fleet_node(b.f, "home");
    TP_ASSERT(s && moved >= 0 && home >= 0);
    TP_CHECK_EQ_DBL(s->nodes[moved].cap_w, 9800, 0);
    TP_CHECK_EQ_INT(s->nodes[moved].gpus_healthy, 6);
    TP_CHECK_STR(s->nodes[moved].country, "FR");
    TP_CHECK_STR(s->nodes[home].country, "DE");
    TP_CHECK(!isnan(s->nodes[home].draw_w));

    tb_stop(b.tb); /* every BMC and the verifier are gone */
    b.tb = NULL;
    sleep_ms(2100); /* past stale_after_s = 1 */
    live_cycle(&l);
    s = tp_collector_state(l.c);
    TP_ASSERT(s != NULL);
    TP_CHECK_EQ_DBL(s->nodes[moved].cap_w, 9800, 0);
    TP_CHECK_EQ_DBL(tp_policy_node_cap(b.f, s, moved), 9800, 0);
    TP_CHECK_EQ_INT(s->nodes[moved].gpus_healthy, 6);
    TP_CHECK_EQ_INT(tp_policy_gpus_healthy(b.f, s, moved), 6);
    TP_CHECK_STR(s->nodes[moved].country, "FR");
    TP_CHECK_STR(s->nodes[home].country, "");
    TP_CHECK(isnan(s->nodes[home].draw_w));
    /* The residency-bound class still excludes the contradicted node, and the
     * verified mode no longer accepts the node whose country went stale. */
    tp_workloads_t *ws = strict_workload(b.f);
    TP_ASSERT(ws != NULL);
    TP_CHECK(tp_policy_static(b.f, s, moved, &ws->w[0], s->observed_at) &
             TP_PRED_BIT(TP_PRED_RESIDENCY_MISMATCH));
    TP_CHECK(tp_policy_static(b.f, s, home, &ws->w[0], s->observed_at) &
             TP_PRED_BIT(TP_PRED_RESIDENCY_UNVERIFIED));
    tp_workloads_free(ws);
    live_close(&l);
    bed_stop(&b);
}

/* BMC requests of a cycle: every HTTP attempt but the verifier's (one per node). */
static int bmc_requests(const tp_collect_stats_t *st, int nodes)
{
    return (int)st->requests - nodes;
}

/* Steady state: the first cycle discovers each BMC's tree, later ones poll
 * only what decides the changing facts — far fewer requests — and still read
 * values that change between cycles exactly; a poll that 404s (the firmware
 * moved a resource) walks that BMC again in the same cycle, with correct
 * facts, and the next cycle polls again. */
TP_TEST(collect_steady_state_polls_and_rediscovers)
{
    static const node_spec_t nodes[] = {
        {"a", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL, 0},
        {"b", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL, 0},
    };
    bed_t b;
    live_t l;
    tp_collect_stats_t st;
    const tp_state_t *s;
    tb_bmc_t v;
    int disc, poll;
    if (bed_start(&b, nodes, 2, true, NULL, 0, NULL) < 0)
        return;
    if (live_open(&l, &b) < 0) {
        bed_stop(&b);
        return;
    }
    /* 1: discovery. */
    st = live_cycle(&l);
    TP_CHECK_EQ_INT(st.bmcs_ok, 2);
    TP_CHECK_EQ_INT(st.bmcs_polled, 0);
    disc = bmc_requests(&st, 2);
    /* 2: polls, same facts. */
    st = live_cycle(&l);
    poll = bmc_requests(&st, 2);
    TP_CHECK_EQ_INT(st.bmcs_polled, 2);
    TP_CHECK_EQ_INT(st.rediscoveries, 0);
    TP_CHECK(poll > 0 && 2 * poll <= disc);
    s = tp_collector_state(l.c);
    for (int n = 0; n < 2; n++) {
        TP_CHECK_EQ_DBL(s->nodes[n].cap_w, 9800, 0);
        TP_CHECK_EQ_DBL(s->nodes[n].draw_w, 6100, 0);
        TP_CHECK_EQ_INT(s->nodes[n].gpus_healthy, 8);
        TP_CHECK_STR(s->nodes[n].country, "DE");
    }
    /* 3: a's cap, draw and GPU health change at the BMC: the poll reads them. */
    v = b.bmcs[0];
    v.cap_w = 8000;
    v.draw_w = 5000;
    v.gpus_failed = 3;
    TP_ASSERT(tb_set(b.tb, 0, &v) == 0);
    st = live_cycle(&l);
    TP_CHECK_EQ_INT(st.bmcs_polled, 2);
    s = tp_collector_state(l.c);
    TP_CHECK_EQ_DBL(s->nodes[0].cap_w, 8000, 0);
    TP_CHECK_EQ_DBL(s->nodes[0].draw_w, 5000, 0);
    TP_CHECK_EQ_DBL(tp_collector_draw_now(l.c, 0), 5000, 0);
    TP_CHECK_EQ_INT(s->nodes[0].gpus_healthy, 5);
    TP_CHECK_EQ_DBL(s->nodes[1].cap_w, 9800, 0);
    /* 4: b's EnvironmentMetrics moves; its poll 404s: b is walked again. */
    v = b.bmcs[1];
    v.fault = TB_FAULT_MOVED;
    v.draw_w = 5500;
    TP_ASSERT(tb_set(b.tb, 1, &v) == 0);
    st = live_cycle(&l);
    TP_CHECK_EQ_INT(st.rediscoveries, 1);
    TP_CHECK_EQ_INT(st.bmcs_polled, 1);
    TP_CHECK(bmc_requests(&st, 2) > poll);
    s = tp_collector_state(l.c);
    TP_CHECK_EQ_DBL(s->nodes[1].draw_w, 5500, 0);
    TP_CHECK_EQ_DBL(tp_collector_draw_now(l.c, 1), 5500, 0);
    TP_CHECK_EQ_DBL(s->nodes[1].cap_w, 9800, 0);
    TP_CHECK_EQ_INT(s->nodes[1].gpus_healthy, 8);
    TP_CHECK_STR(s->nodes[1].country, "DE");
    /* 5: both poll again, the new map included. */
    st = live_cycle(&l);
    TP_CHECK_EQ_INT(st.bmcs_polled, 2);
    TP_CHECK_EQ_INT(st.rediscoveries, 0);
    TP_CHECK_EQ_INT(bmc_requests(&st, 2), poll);
    TP_CHECK_EQ_DBL(tp_collector_state(l.c)->nodes[1].draw_w, 5500, 0);
    live_close(&l);
    bed_stop(&b);
}

/* Cycles alternate the order in which BMCs are walked, so that a cycle starts
 * with the BMCs whose connections the last one left in the client's cache. One
 * walk at a time (global_concurrency 1): the farm sees the BMCs in the order
 * the collector took them. */
TP_TEST(collect_cycles_alternate_the_bmc_order)
{
    static const node_spec_t nodes[] = {
        {"a", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL, 0},
        {"b", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL, 0},
        {"c", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL, 0},
    };
    const knobs_t k = {0, false, 0, 0, ", \"concurrency\": 1", false};
    bed_t b;
    live_t l;
    tp_collect_stats_t st;
    uint64_t last[3];
    TP_ASSERT(bed_start(&b, nodes, 3, true, ", \"global_concurrency\": 1", 0, &k) == 0);
    if (live_open(&l, &b) < 0) {
        bed_stop(&b);
        return;
    }
    for (int cycle = 1; cycle <= 3; cycle++) {
        st = live_cycle(&l);
        TP_CHECK_EQ_INT(st.bmcs_ok, 3);
        TP_CHECK_EQ_INT(st.bmcs_polled, cycle == 1 ? 0 : 3);
        /* The connections the first cycle opened (as many as the farm
         * accepted) are kept alive and reused by the later ones. */
        TP_CHECK_EQ_INT((int)st.connects, cycle == 1 ? (int)tb_stats(b.tb).accepted : 0);
        TP_CHECK(tb_stats(b.tb).accepted >= 4); /* three BMCs and the verifier */
        for (int i = 0; i < 3; i++)
            last[i] = tb_last_request(b.tb, i);
        TP_CHECK(last[0] > 0 && last[1] > 0 && last[2] > 0);
        if (cycle % 2) /* a, b, c */
            TP_CHECK(last[0] < last[1] && last[1] < last[2]);
        else /* c, b, a */
            TP_CHECK(last[2] < last[1] && last[1] < last[0]);
    }
    live_close(&l);
    bed_stop(&b);
}

/* A poll that fails never keeps old facts alive longer than a failed walk
 * would: a BMC that goes down after its map was made is walked again (the
 * root fails) and its facts age exactly as before. rediscover_s 0 walks every
 * cycle (no map kept). */
TP_TEST(collect_steady_state_failed_poll_is_a_failed_walk)
{
    static const node_spec_t nodes[] = {
        {"x", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL, 0},
    };
    const knobs_t every = {0, false, 0, 0, ", \"rediscover_s\": 0"};
    bed_t b;
    live_t l;
    tp_collect_stats_t st;
    tb_bmc_t v;
    int first;
    if (bed_start(&b, nodes, 1, false, NULL, 0, NULL) < 0)
        return;
    if (live_open(&l, &b) < 0) {
        bed_stop(&b);
        return;
    }
    live_cycle(&l);
    v = b.bmcs[0];
    v.fault = TB_FAULT_500; /* the root still answers, nothing else does */
    TP_ASSERT(tb_set(b.tb, 0, &v) == 0);
    st = live_cycle(&l);
    TP_CHECK_EQ_INT(st.rediscoveries, 1);
    TP_CHECK_EQ_INT(st.bmcs_polled, 0);
    TP_CHECK(isnan(tp_collector_draw_now(l.c, 0)));
    live_close(&l);
    bed_stop(&b);

    if (bed_start(&b, nodes, 1, false, NULL, 0, &every) < 0)
        return;
    if (live_open(&l, &b) < 0) {
        bed_stop(&b);
        return;
    }
    st = live_cycle(&l);
    first = bmc_requests(&st, 1);
    st = live_cycle(&l);
    TP_CHECK_EQ_INT(st.bmcs_polled, 0);
    TP_CHECK_EQ_INT(bmc_requests(&st, 1), first);
    live_close(&l);
    bed_stop(&b);
}

/* bmc.walk_timeout_ms: a BMC that answers slowly (1 s a response) and one that
 * never answers are cut off at the walk's budget (300 ms), long before their
 * requests would time out (5 s, one retry); their facts are unknown, the
 * healthy BMC's are read, and the cycle ends. */
TP_TEST(collect_walk_timeout)
{
    static const node_spec_t nodes[] = {
        {"ok", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL, 0},
        {"slow", "eu-de", TB_FAULT_SLOW, TB_ATT_GOOD, NULL, NULL, 0},
        {"hang", "eu-de", TB_FAULT_HANG, TB_ATT_GOOD, NULL, NULL, 0},
    };
    const knobs_t knobs = {0, false, 0, 5000, ", \"walk_timeout_ms\": 300"};
    bed_t b;
    live_t l;
    tp_collect_stats_t st;
    const tp_state_t *s;
    if (bed_start(&b, nodes, 3, true, NULL, 0, &knobs) < 0)
        return;
    TP_CHECK_EQ_INT(b.cfg->walk_timeout_ms, 300);
    if (live_open(&l, &b) < 0) {
        bed_stop(&b);
        return;
    }
    for (int cycle = 0; cycle < 2; cycle++) {
        st = live_cycle(&l);
        TP_CHECK_EQ_INT(st.bmcs, 3);
        TP_CHECK_EQ_INT(st.walks_timed_out, 2);
        s = tp_collector_state(l.c);
        TP_CHECK_EQ_DBL(s->nodes[0].draw_w, 6100, 0);
        for (int n = 1; n < 3; n++)
            if (!isnan(s->nodes[n].cap_w) || !isnan(s->nodes[n].draw_w) ||
                s->nodes[n].gpus_healthy != -1 || s->nodes[n].country[0])
                tp_test_fail(__FILE__, __LINE__, "node %s: facts should be unknown",
                             b.f->nodes[n].id);
    }
    live_close(&l);
    bed_stop(&b);
}

TP_TEST(collect_config_walk_keys)
{
    static const node_spec_t nodes[] = {
        {"x", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL, 0},
    };
    static const struct {
        const char *key;
        int value;
    } bad[] = {
        {"walk_timeout_ms", 5}, {"walk_timeout_ms", 3600001}, {"rediscover_s", -1}};
    bed_t b;
    char path[300];
    if (bed_start(&b, nodes, 1, false, NULL, 0, NULL) < 0)
        return;
    TP_CHECK_EQ_INT(b.cfg->walk_timeout_ms, 60000); /* the defaults */
    TP_CHECK_EQ_INT(b.cfg->rediscover_s, 240);
    snprintf(path, sizeof path, "%s/fleet.json", b.dir);
    json_t *orig = json_load_file(path, 0, NULL);
    TP_ASSERT(orig != NULL);
    /* Out of range: refused, naming the key. */
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tp_collect_cfg_t *cfg = NULL;
        tp_fleet_t *f = NULL;
        tp_error_t err = {0};
        json_t *fleet = json_deep_copy(orig);
        TP_ASSERT(fleet != NULL);
        json_object_set_new(json_object_get(json_object_get(fleet, "collectors"), "bmc"),
                            bad[k].key, json_integer(bad[k].value));
        TP_ASSERT(json_dump_file(fleet, path, 0) == 0);
        json_decref(fleet);
        TP_ASSERT(tp_fleet_load(path, &f, &err) == 0);
        TP_CHECK(tp_collect_config_load(f, &cfg, &err) < 0);
        TP_CHECK(strstr(err.text, bad[k].key) != NULL);
        tp_collect_config_free(cfg);
        tp_fleet_free(f);
    }
    json_decref(orig);
    bed_stop(&b);
}

/* The location is not polled: it is as old as the map. Maps are walked again
 * before it could go stale (here stale_after_s 2 and a 500 ms walk budget: a
 * map polls for 1.5 s), so a polled BMC's country never lapses into unknown,
 * nor is it ever presented as fresher than the walk that read it. */
TP_TEST(collect_steady_state_location_never_stale)
{
    static const node_spec_t nodes[] = {
        {"x", "eu-de", TB_FAULT_NONE, TB_ATT_GOOD, NULL, NULL, 0},
    };
    const knobs_t knobs = {0, false, 2, 0, ", \"walk_timeout_ms\": 500"};
    bed_t b;
    live_t l;
    tp_collect_stats_t st;
    if (bed_start(&b, nodes, 1, false, NULL, 0, &knobs) < 0)
        return;
    if (live_open(&l, &b) < 0) {
        bed_stop(&b);
        return;
    }
    live_cycle(&l);
    st = live_cycle(&l);
    TP_CHECK_EQ_INT(st.bmcs_polled, 1);
    TP_CHECK_STR(tp_collector_state(l.c)->nodes[0].country, "DE");
    sleep_ms(1600);
    st = live_cycle(&l); /* the map is 1.6 s old: walked again */
    TP_CHECK_EQ_INT(st.bmcs_polled, 0);
    TP_CHECK_STR(tp_collector_state(l.c)->nodes[0].country, "DE");
    sleep_ms(1100);
    st = live_cycle(&l); /* polled; the walk that read DE is 1.1 s old: fresh */
    TP_CHECK_EQ_INT(st.bmcs_polled, 1);
    TP_CHECK_STR(tp_collector_state(l.c)->nodes[0].country, "DE");
    live_close(&l);
    bed_stop(&b);
}
