/*
 * gen/gen.c — synthetic fleets, workloads and observed states.
 *
 * The fleet: each region is a site; a site has rows of 8 racks; a rack holds 8
 * nodes of one server type (racks are bought and cabled as a unit). Caps bind:
 * a rack may draw 80% of its nodes' full-load draw, a row 90% of its racks' caps,
 * a site 90% of its rows'. Server types carry realistic GPU counts, per-GPU
 * power and TEE / GPU confidential-computing capabilities.
 */
#include "gen/gen.h"

#include "util/rng.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NODES_PER_RACK 8
#define RACKS_PER_ROW 8

typedef struct {
    const char *gpu_model;
    int gpus;
    double gpu_w, idle_w, cap_w;
    double weight;            /* share of racks */
    double tee[TP_TEE_COUNT]; /* distribution of declared cpu_tee */
    double cc;                /* P(gpu_cc) given a TEE */
} server_t;

static const server_t servers[] = {
    {"H100-SXM", 8, 700, 1400, 10200, 0.35, {0.25, 0.50, 0.25, 0}, 0.8},
    {"H200", 8, 700, 1500, 10500, 0.20, {0.10, 0.60, 0.30, 0}, 0.85},
    {"A100-80G", 8, 400, 1100, 6500, 0.20, {0.70, 0.00, 0.30, 0}, 0.0},
    {"L40S", 4, 350, 600, 2400, 0.15, {0.70, 0.30, 0.00, 0}, 0.0},
    {"MI300X", 8, 750, 1500, 11000, 0.10, {0.40, 0.00, 0.60, 0}, 0.0},
};
#define NSERVERS (int)(sizeof servers / sizeof servers[0])

/* Measured-looking efficiency: tokens/s and watts per GPU. */
static const struct {
    const char *model, *gpu_model;
    double tokens_per_s, watts;
} profiles[] = {
    {"llama-8b", "H100-SXM", 9800, 690}, {"llama-8b", "H200", 11200, 680},
    {"llama-8b", "A100-80G", 4300, 390}, {"llama-8b", "L40S", 2600, 330},
    {"llama-8b", "MI300X", 8900, 720},   {"llama-70b", "H100-SXM", 1900, 700},
    {"llama-70b", "H200", 2500, 695},    {"llama-70b", "A100-80G", 760, 400},
    {"llama-70b", "MI300X", 2100, 740},  {"mistral-7b", "H100-SXM", 10400, 680},
    {"mistral-7b", "H200", 11900, 670},  {"mistral-7b", "L40S", 2900, 320},
};

static const struct {
    const char *region, *country;
} known_regions[] = {
    {"eu-de", "DE"},    {"eu-fr", "FR"},      {"eu-nl", "NL"},   {"eu-se", "SE"},
    {"uk-south", "GB"}, {"us-east", "US"},    {"us-west", "US"}, {"ap-jp", "JP"},
    {"ap-sg", "SG"},    {"ca-central", "CA"},
};

#define MAX_REGIONS 32

typedef struct {
    char name[64];
    char country[3];
} region_t;

static int parse_regions(const char *spec, region_t *out, tp_error_t *err)
{
    int n = 0;
    const char *p = spec ? spec : "eu-de,eu-fr,us-east";
    while (*p) {
        size_t len = strcspn(p, ",");
        char item[80];
        if (len == 0 || len >= sizeof item)
            return tp_error_set(err, TP_EUSAGE,
                                "--regions: empty or overlong region name");
        if (n == MAX_REGIONS)
            return tp_error_set(err, TP_EUSAGE, "--regions: at most %d regions",
                                MAX_REGIONS);
        memcpy(item, p, len);
        item[len] = '\0';
        char *colon = strchr(item, ':');
        region_t *r = &out[n];
        memset(r, 0, sizeof *r);
        if (colon) {
            *colon = '\0';
            if (strlen(colon + 1) != 2 || colon[1] < 'A' || colon[1] > 'Z' ||
                colon[2] < 'A' || colon[2] > 'Z')
                return tp_error_set(
                    err, TP_EUSAGE,
                    "--regions: \"%s\": expected NAME:CC with an upper-case "
                    "ISO 3166 alpha-2 code",
                    item);
            memcpy(r->country, colon + 1, 3);
        } else {
            for (size_t k = 0; k < sizeof known_regions / sizeof known_regions[0]; k++)
                if (!strcmp(known_regions[k].region, item))
                    memcpy(r->country, known_regions[k].country, 3);
            if (!r->country[0])
                return tp_error_set(err, TP_EUSAGE,
                                    "--regions: unknown region \"%s\"; write it as %s:CC",
                                    item, item);
        }
        if (!*item || strlen(item) >= sizeof r->name)
            return tp_error_set(err, TP_EUSAGE, "--regions: bad region name");
        for (int k = 0; k < n; k++)
            if (!strcmp(out[k].name, item))
                return tp_error_set(err, TP_EUSAGE, "--regions: \"%s\" given twice",
                                    item);
        memcpy(r->name, item, strlen(item) + 1); /* length checked above */
        n++;
        p += len;
        if (*p == ',')
            p++;
    }
    if (n == 0)
        return tp_error_set(err, TP_EUSAGE, "--regions: no region given");
    return n;
}

static double round_w(double w)
{
    return floor(w / 100.0) * 100.0;
}

json_t *tp_gen_fleet(const tp_gen_fleet_opts_t *o, tp_error_t *err)
{
    region_t regions[MAX_REGIONS];
    int nreg = parse_regions(o->regions, regions, err);
    tp_rng_t rng;
    json_t *doc, *jregions, *domains, *nodes, *classes, *jprof;
    double weights[NSERVERS];
    if (nreg < 0)
        return NULL;
    if (o->nodes < 1 || o->nodes > 1000000) {
        tp_error_set(err, TP_EUSAGE, "--nodes: expected 1..1000000, got %d", o->nodes);
        return NULL;
    }
    tp_rng_init(&rng, o->seed);
    for (int i = 0; i < NSERVERS; i++)
        weights[i] = servers[i].weight;

    doc = json_object();
    jregions = json_object();
    domains = json_array();
    nodes = json_array();
    json_object_set_new(doc, "version", json_integer(1));
    json_object_set_new(doc, "regions", jregions);
    json_object_set_new(doc, "power_domains", domains);
    json_object_set_new(doc, "nodes", nodes);
    for (int r = 0; r < nreg; r++)
        json_object_set_new(jregions, regions[r].name,
                            json_pack("{s:[s]}", "countries", regions[r].country));

    /* Nodes are dealt to regions round-robin by rack, so every region gets a share. */
    int per_rack = o->rack_nodes > 0 ? o->rack_nodes : NODES_PER_RACK;
    int racks = (o->nodes + per_rack - 1) / per_rack;
    int made = 0;
    long total_gpus = 0;
    if (!doc) {
        tp_error_set(err, TP_ENOMEM, "out of memory");
        return NULL;
    }
    for (int r = 0; r < nreg; r++) {
        char id[96];
        snprintf(id, sizeof id, "site-%.63s", regions[r].name);
        json_array_append_new(domains, json_pack("{s:s, s:f, s:s}", "id", id, "cap_w",
                                                 0.0, "kind", "site"));
    }
    for (int k = 0; k < racks; k++) {
        int r = k % nreg, kr = k / nreg; /* k-th rack overall, kr-th in its region */
        int row = kr / RACKS_PER_ROW, slot = kr % RACKS_PER_ROW;
        const server_t *sv = &servers[tp_rng_pick(&rng, weights, NSERVERS)];
        char row_id[96], rack_id[96];
        snprintf(row_id, sizeof row_id, "%.63s-row%02d", regions[r].name, row + 1);
        snprintf(rack_id, sizeof rack_id, "%.63s-r%02d-k%d", regions[r].name, row + 1,
                 slot + 1);
        if (slot == 0) {
            char site[96];
            snprintf(site, sizeof site, "site-%.63s", regions[r].name);
            json_array_append_new(domains,
                                  json_pack("{s:s, s:s, s:f, s:s}", "id", row_id,
                                            "parent", site, "cap_w", 0.0, "kind", "row"));
        }
        int in_rack = o->nodes - made < per_rack ? o->nodes - made : per_rack;
        double full = in_rack * (sv->idle_w + sv->gpus * sv->gpu_w);
        double rack_cap = round_w(0.8 * full);
        json_array_append_new(domains,
                              json_pack("{s:s, s:s, s:f, s:s}", "id", rack_id, "parent",
                                        row_id, "cap_w", rack_cap, "kind", "rack"));
        total_gpus += (long)in_rack * sv->gpus;
        for (int i = 0; i < in_rack; i++) {
            char id[128], url[192], cred[96], ver[96];
            int tee = tp_rng_pick(&rng, sv->tee, TP_TEE_COUNT);
            int cc = tee != TP_TEE_NONE && tp_rng_chance(&rng, sv->cc);
            snprintf(id, sizeof id, "%s-n%d", rack_id, i + 1);
            snprintf(url, sizeof url, "https://bmc.%s.example", id);
            snprintf(cred, sizeof cred, "bmc-%.63s", regions[r].name);
            snprintf(ver, sizeof ver, "verifier-%.63s", regions[r].name);
            json_array_append_new(
                nodes,
                json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:f, s:f, s:f, "
                          "s:{s:s, s:s}, s:s}",
                          "id", id, "power_domain", rack_id, "region", regions[r].name,
                          "gpu_model", sv->gpu_model, "gpus", sv->gpus, "cpu_tee",
                          tp_tee_name((tp_tee_t)tee), "gpu_cc", cc, "cap_w", sv->cap_w,
                          "idle_w", sv->idle_w, "gpu_w", sv->gpu_w, "bmc", "url", url,
                          "credentials", cred, "verifier", ver));
            made++;
        }
    }
    /* Caps of rows and sites: 90% of the sum beneath them. Domains are listed
     * sites first, then each row before its racks, so one backward pass works. */
    size_t nd = json_array_size(domains);
    double *sum = calloc(nd, sizeof *sum);
    if (!sum) {
        json_decref(doc);
        tp_error_set(err, TP_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t d = nd; d-- > 0;) {
        json_t *dom = json_array_get(domains, d);
        double cap = json_number_value(json_object_get(dom, "cap_w"));
        if (cap == 0) { /* a row or site: from its children */
            cap = round_w(0.9 * sum[d]);
            if (cap < 100)
                cap = 100;
            json_object_set_new(dom, "cap_w", json_real(cap));
        }
        json_t *parent = json_object_get(dom, "parent");
        if (parent)
            for (size_t p = 0; p < d; p++)
                if (!strcmp(json_string_value(
                                json_object_get(json_array_get(domains, p), "id")),
                            json_string_value(parent))) {
                    sum[p] += cap;
                    break;
                }
    }
    free(sum);

    classes = json_pack("{s:{}, s:{s:{s:s, s:i}}, s:{s:[s,s], s:b, s:{s:s, s:i}}, "
                        "s:{s:[s,s], s:b, s:{s:s, s:i}, s:b}}",
                        "public", "internal", "attestation", "min_status", "warning",
                        "max_age_s", 86400, "confidential", "cpu_tee", "tdx", "sev-snp",
                        "gpu_cc", 1, "attestation", "min_status", "affirming",
                        "max_age_s", 3600, "regulated", "cpu_tee", "tdx", "sev-snp",
                        "gpu_cc", 1, "attestation", "min_status", "affirming",
                        "max_age_s", 600, "residency", 1);
    json_t *policy = json_pack("{s:o}", "classes", classes);
    if (o->tenants > 0) {
        json_t *ten = json_object();
        int quota = (int)(total_gpus / 2 / o->tenants);
        for (int g = 0; g < (o->tenants + 4) / 5; g++) {
            char name[32];
            int members = o->tenants - 5 * g < 5 ? o->tenants - 5 * g : 5;
            snprintf(name, sizeof name, "org-%d", g + 1);
            json_object_set_new(ten, name,
                                json_pack("{s:i, s:i}", "quota_gpus", members * quota,
                                          "limit_gpus", members * quota * 5 / 4));
        }
        for (int t = 0; t < o->tenants; t++) {
            char name[32], org[32];
            snprintf(name, sizeof name, "tenant-%02d", t + 1);
            snprintf(org, sizeof org, "org-%d", t / 5 + 1);
            json_object_set_new(ten, name,
                                json_pack("{s:i, s:i, s:s}", "quota_gpus", quota,
                                          "limit_gpus", quota * 3 / 2, "parent", org));
        }
        json_object_set_new(policy, "tenants", ten);
    }
    json_object_set_new(doc, "policy", policy);
    jprof = json_array();
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        json_array_append_new(
            jprof, json_pack("{s:s, s:s, s:f, s:f}", "model", profiles[i].model,
                             "gpu_model", profiles[i].gpu_model, "tokens_per_s",
                             profiles[i].tokens_per_s, "watts", profiles[i].watts));
    json_object_set_new(doc, "profiles", jprof);
    return doc;
}

json_t *tp_gen_workloads(const tp_fleet_t *f, int count, uint64_t seed, tp_error_t *err)
{
    return tp_gen_workloads_gangs(f, count, seed, 0, err);
}

/* Tenants work can name: those no other tenant has as parent. */
static int leaf_tenants(const tp_fleet_t *f, int *out)
{
    int n = 0;
    for (int t = 0; t < f->ntenants; t++) {
        bool parent = false;
        for (int u = 0; u < f->ntenants && !parent; u++)
            parent = f->tenants[u].parent == t;
        if (!parent)
            out[n++] = t;
    }
    return n;
}

/* The largest number of nodes under one domain of kind k; 0: no such kind. */
static int largest_of_kind(const tp_fleet_t *f, const char *kind)
{
    int k = tp_fleet_kind(f, kind), best = 0;
    int *cnt = k >= 0 ? calloc((size_t)f->ndomains + 1, sizeof *cnt) : NULL;
    for (int n = 0; cnt && n < f->nnodes; n++) {
        int d = tp_fleet_node_domain_of_kind(f, n, k);
        if (d >= 0 && ++cnt[d] > best)
            best = cnt[d];
    }
    free(cnt);
    return best;
}

json_t *tp_gen_workloads_gangs(const tp_fleet_t *f, int count, uint64_t seed,
                               double gang_share, tp_error_t *err)
{
    static const int sizes[] = {1, 2, 4, 8};
    static const double size_w[] = {0.40, 0.25, 0.20, 0.15};
    tp_rng_t rng;
    json_t *list;
    double *class_w;
    if (count < 0 || count > 10000000) {
        tp_error_set(err, TP_EUSAGE, "--count: expected 0..10000000, got %d", count);
        return NULL;
    }
    if (!(gang_share >= 0 && gang_share <= 1)) {
        tp_error_set(err, TP_EUSAGE, "gang share: expected 0..1, got %g", gang_share);
        return NULL;
    }
    tp_rng_init(&rng, seed ^ 0x776f726b6c6f6164ULL);
    class_w = calloc((size_t)f->nclasses, sizeof *class_w);
    list = json_array();
    int *leaves = malloc(((size_t)f->ntenants + 1) * sizeof *leaves);
    int nleaves = leaves ? leaf_tenants(f, leaves) : 0;
    int rack = largest_of_kind(f, "rack"), row = largest_of_kind(f, "row");
    if (!class_w || !list || !leaves) {
        free(leaves);
        free(class_w);
        json_decref(list);
        tp_error_set(err, TP_ENOMEM, "out of memory");
        return NULL;
    }
    for (int c = 0; c < f->nclasses; c++) {
        const char *n = f->classes[c].name;
        class_w[c] = !strcmp(n, "public")         ? 0.35
                     : !strcmp(n, "internal")     ? 0.30
                     : !strcmp(n, "confidential") ? 0.20
                     : !strcmp(n, "regulated")    ? 0.15
                                                  : 0.10;
    }
    for (int i = 0; i < count; i++) {
        char id[32], tenant[32];
        int c = tp_rng_pick(&rng, class_w, f->nclasses);
        const tp_req_t *req = &f->classes[c].req;
        int gpus = sizes[tp_rng_pick(&rng, size_w, 4)];
        json_t *w;
        snprintf(id, sizeof id, "w-%06d", i + 1);
        if (nleaves > 0)
            snprintf(tenant, sizeof tenant, "%.31s",
                     f->tenants[leaves[tp_rng_below(&rng, (uint64_t)nleaves)]].name);
        else
            snprintf(tenant, sizeof tenant, "tenant-%02d",
                     (int)tp_rng_below(&rng, 24) + 1);
        w = json_pack("{s:s, s:s, s:i, s:s, s:i, s:b}", "id", id, "tenant", tenant,
                      "gpus", gpus, "sensitivity", f->classes[c].name, "priority",
                      (int)(tp_rng_unit(&rng) * tp_rng_unit(&rng) * 10), "preemptible",
                      tp_rng_chance(&rng, 0.8));
        if (f->nmodels)
            json_object_set_new(
                w, "model",
                json_string(f->models[tp_rng_below(&rng, (uint64_t)f->nmodels)]));
        if (req->residency != TP_RESIDENCY_NONE || tp_rng_chance(&rng, 0.1)) {
            json_t *res = json_array();
            int first = (int)tp_rng_below(&rng, (uint64_t)f->nregions);
            json_array_append_new(res, json_string(f->regions[first].id));
            if (f->nregions > 1 && tp_rng_chance(&rng, 0.3))
                json_array_append_new(
                    res, json_string(f->regions[(first + 1) % f->nregions].id));
            json_object_set_new(w, "residency", res);
        }
        if (f->ngpu_models > 1 && tp_rng_chance(&rng, 0.25)) {
            json_t *gm = json_array();
            int first = (int)tp_rng_below(&rng, (uint64_t)f->ngpu_models);
            json_array_append_new(gm, json_string(f->gpu_models[first]));
            if (tp_rng_chance(&rng, 0.5))
                json_array_append_new(
                    gm, json_string(f->gpu_models[(first + 1) % f->ngpu_models]));
            json_object_set_new(w, "gpu_models", gm);
        }
        if (gang_share > 0 && tp_rng_chance(&rng, gang_share)) {
            int nodes = 2 + (int)tp_rng_below(&rng, 15);
            json_object_set_new(w, "nodes", json_integer(nodes));
            json_object_set_new(w, "gpus",
                                json_integer(tp_rng_chance(&rng, 0.25) ? 4 : 8));
            if (rack > 0 && nodes <= rack)
                json_object_set_new(w, "together", json_string("rack"));
            else if (row > 0 && nodes <= row)
                json_object_set_new(w, "together", json_string("row"));
        }
        json_array_append_new(list, w);
    }
    free(class_w);
    free(leaves);
    return list;
}

json_t *tp_gen_state(const tp_fleet_t *f, uint64_t seed, int64_t now, tp_error_t *err)
{
    tp_rng_t rng;
    json_t *nodes = json_object(), *doc;
    (void)err;
    tp_rng_init(&rng, seed ^ 0x7374617465ULL);
    for (int i = 0; i < f->nnodes; i++) {
        const tp_node_t *n = &f->nodes[i];
        const tp_region_t *rg = &f->regions[n->region];
        json_t *o;
        char ev[80];
        if (tp_rng_chance(&rng, 0.03))
            continue; /* BMC and verifier unreachable: nothing known */
        o = json_object();
        double u = tp_rng_unit(&rng);
        int has_tee = n->cpu_tee != TP_TEE_NONE;
        /* Attestation outcome: fresh affirming, warning, contraindicated, stale, missing.
         */
        const char *status = "affirming";
        int64_t iat = now - tp_rng_range(&rng, 0, 500), exp = iat + 3600;
        int missing = 0;
        if (has_tee) {
            if (u < 0.05)
                status = "warning";
            else if (u < 0.08)
                status = "contraindicated";
            else if (u < 0.14) {
                iat = now - tp_rng_range(&rng, 7200, 108000);
                exp = iat + 3600;
            } else if (u < 0.18)
                missing = 1;
        } else {
            missing = u < 0.4;
        }
        if (!missing) {
            tp_tee_t tee = n->cpu_tee;
            if (has_tee && tp_rng_chance(&rng, 0.01))
                tee = TP_TEE_NONE; /* the declaration was wrong; attestation tells */
            snprintf(ev, sizeof ev, "sha256:%016llx%016llx",
                     (unsigned long long)tp_rng_next(&rng),
                     (unsigned long long)tp_rng_next(&rng));
            json_object_set_new(
                o, "attestation",
                json_pack("{s:s, s:s, s:b, s:I, s:I, s:s, s:s}", "status", status,
                          "cpu_tee", tp_tee_name(tee), "gpu_cc", n->gpu_cc, "issued_at",
                          (json_int_t)iat, "expires_at", (json_int_t)exp, "verifier",
                          n->verifier ? n->verifier : "verifier", "evidence", ev));
        }
        if (tp_rng_chance(&rng, 0.05))
            json_object_set_new(o, "cap_w", json_real(round_w(0.9 * n->cap_w)));
        json_object_set_new(
            o, "draw_w", json_real(round(n->idle_w * (0.95 + 0.1 * tp_rng_unit(&rng)))));
        json_object_set_new(
            o, "gpus_healthy",
            json_integer(tp_rng_chance(&rng, 0.03) ? n->gpus - 1 : n->gpus));
        u = tp_rng_unit(&rng);
        if (u < 0.70) {
            json_object_set_new(o, "country", json_string(rg->countries[0]));
        } else if (u < 0.72) {
            /* A contradiction: the BMC's location is not in the declared region. */
            const char *other = strcmp(rg->countries[0], "US") ? "US" : "DE";
            json_object_set_new(o, "country", json_string(other));
        }
        json_object_set_new(nodes, n->id, o);
    }
    doc = json_pack("{s:I, s:o}", "observed_at", (json_int_t)now, "nodes", nodes);
    return doc;
}

/* One element or member per line below the top level. */
int tp_gen_write(FILE *out, const json_t *doc)
{
    const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
    if (json_is_array(doc)) {
        size_t i;
        json_t *v;
        fputs("[", out);
        json_array_foreach (doc, i, v) {
            fputs(i ? ",\n " : "\n ", out);
            json_dumpf(v, out, flags);
        }
        fputs("\n]\n", out);
    } else {
        const char *k;
        json_t *v;
        int first = 1;
        fputs("{", out);
        json_object_foreach ((json_t *)doc, k, v) {
            json_t *key = json_string(k);
            fputs(first ? "\n " : ",\n ", out);
            json_dumpf(key, out, JSON_ENCODE_ANY);
            json_decref(key);
            fputs(": ", out);
            if ((json_is_array(v) && json_array_size(v)) ||
                (json_is_object(v) && json_object_size(v) &&
                 (!strcmp(k, "nodes") || !strcmp(k, "regions")))) {
                /* second level, one per line */
                if (json_is_array(v)) {
                    size_t i;
                    json_t *e;
                    fputs("[", out);
                    json_array_foreach (v, i, e) {
                        fputs(i ? ",\n  " : "\n  ", out);
                        json_dumpf(e, out, flags);
                    }
                    fputs("\n ]", out);
                } else {
                    const char *k2;
                    json_t *e;
                    int f2 = 1;
                    fputs("{", out);
                    json_object_foreach (v, k2, e) {
                        json_t *key2 = json_string(k2);
                        fputs(f2 ? "\n  " : ",\n  ", out);
                        json_dumpf(key2, out, JSON_ENCODE_ANY);
                        json_decref(key2);
                        fputs(": ", out);
                        json_dumpf(e, out, flags);
                        f2 = 0;
                    }
                    fputs("\n }", out);
                }
            } else {
                json_dumpf(v, out, flags | JSON_ENCODE_ANY);
            }
            first = 0;
        }
        fputs("\n}\n", out);
    }
    return ferror(out) ? TP_EIO : 0;
}
