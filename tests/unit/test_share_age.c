/*
 * tests/unit/test_share_age.c — facts that travel between replicas (shared
 * collection, docs/ha.md): a node's entry checked as a state file's
 * (tp_state_node_from_json) and aged by the times it was read (tp_obs_age):
 * what widens eligibility expires, what narrows it stays, fail closed.
 */
#include "tests/unit/tp_test.h"

#include "collectors/collectors.h"
#include "gen/gen.h"
#include "model/model.h"

#include <math.h>
#include <stdlib.h>

static tp_fleet_t *fleet3(void)
{
    tp_error_t err;
    tp_gen_fleet_opts_t o = {3, 11, NULL};
    json_t *j = tp_gen_fleet(&o, &err);
    char *s = j ? json_dumps(j, 0) : NULL;
    tp_fleet_t *f = NULL;
    json_decref(j);
    if (s && tp_fleet_load_buffer("gen", s, strlen(s), &f, &err) < 0)
        f = NULL;
    free(s);
    return f;
}

static void obs_fini(tp_node_obs_t *o)
{
    free(o->att.verifier);
    free(o->att.evidence);
}

TP_TEST(share_node_row_is_checked_like_a_state_file)
{
    tp_fleet_t *f = fleet3();
    tp_node_obs_t o;
    tp_error_t err;
    TP_ASSERT(f);
    json_t *good = json_pack("{s:f,s:f,s:i,s:s,s:{s:s,s:s,s:b,s:i,s:i}}", "cap_w", 900.0,
                             "draw_w", 450.0, "gpus_healthy", 1, "country", "DE",
                             "attestation", "status", "affirming", "cpu_tee", "tdx",
                             "gpu_cc", 1, "issued_at", 1000, "expires_at", 2000);
    TP_ASSERT(tp_state_node_from_json(f, 0, good, "/p/o/n0", "$.obs", &o, &err) == 0);
    TP_CHECK(o.known && o.cap_w == 900.0 && o.draw_w == 450.0 && o.gpus_healthy == 1);
    TP_CHECK(o.att.present && o.att.status == TP_ATT_AFFIRMING &&
             o.att.expires_at == 2000);
    obs_fini(&o);
    json_decref(good);
    const char *bad[][2] = {{"{\"draw_w\": -5}", "$.obs.draw_w"},
                            {"{\"bogus\": 1}", "bogus"},
                            {"{\"country\": \"de\"}", "$.obs.country"},
                            {"{\"gpus_healthy\": 99999}", "$.obs.gpus_healthy"},
                            {"{\"attestation\": {\"status\": \"fine\", \"issued_at\": 1, "
                             "\"expires_at\": 2}}",
                             "$.obs.attestation.status"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *v = json_loads(bad[i][0], 0, NULL);
        TP_ASSERT(v);
        TP_CHECK(tp_state_node_from_json(f, 0, v, "/p/o/n0", "$.obs", &o, &err) < 0);
        TP_CHECK_CONTAINS(err.text, bad[i][1]);
        TP_CHECK(!o.known && isnan(o.draw_w) && !o.att.present); /* nothing half-read */
        json_decref(v);
    }
    tp_fleet_free(f);
}

TP_TEST(share_facts_age_by_their_read_times)
{
    tp_fleet_t *f = fleet3();
    TP_ASSERT(f);
    const tp_region_t *rg = &f->regions[f->nodes[0].region];
    TP_ASSERT(rg->ncountries > 0);
    int64_t t = 100000;
    tp_fact_times_t at = {t, t, t, t};
    tp_node_obs_t o = {0};
    o.known = true;
    o.cap_w = 900;
    o.draw_w = 450;
    o.gpus_healthy = f->nodes[0].gpus + 5; /* more than declared: counted as declared */
    memcpy(o.country, rg->countries[0], 3);
    o.att.present = true;
    o.att.expires_at = t + 1000000;
    tp_obs_age(f, 0, &o, &at, t + 30, 30); /* fresh */
    TP_CHECK(o.known && o.draw_w == 450 && o.cap_w == 900 && o.country[0]);
    TP_CHECK_EQ_INT(o.gpus_healthy, f->nodes[0].gpus);
    tp_obs_age(f, 0, &o, &at, t + 31, 30); /* stale: the widening facts go */
    TP_CHECK(isnan(o.draw_w) && o.country[0] == '\0');
    TP_CHECK(o.cap_w == 900 && o.gpus_healthy == f->nodes[0].gpus && o.att.present);
    TP_CHECK(o.known);

    tp_node_obs_t w = {0}; /* a contradicting country outlives staleness */
    w.known = true;
    w.draw_w = 100;
    w.cap_w = NAN;
    w.gpus_healthy = -1;
    memcpy(w.country, "ZZ", 3);
    TP_ASSERT(!tp_region_has_country(rg, "ZZ"));
    tp_obs_age(f, 0, &w, &at, t + 3600, 30);
    TP_CHECK(!strcmp(w.country, "ZZ") && isnan(w.draw_w) && w.known);

    tp_node_obs_t d = {0}; /* only a draw, read long ago: nothing left */
    d.known = true;
    d.draw_w = 100;
    d.cap_w = NAN;
    d.gpus_healthy = -1;
    tp_obs_age(f, 0, &d, &at, t + 3600, 30);
    TP_CHECK(!d.known && isnan(d.draw_w));
    tp_fact_times_t never = {0, 0, 0, 0}; /* a time of 0 was never read: stale */
    d.known = true;
    d.draw_w = 100;
    tp_obs_age(f, 0, &d, &never, t, 30);
    TP_CHECK(!d.known && isnan(d.draw_w));
    tp_fleet_free(f);
}
