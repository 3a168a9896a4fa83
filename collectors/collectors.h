/*
 * collectors/collectors.h — the collectors' contract: turn BMCs (Redfish),
 * verifiers (signed attestation results) and GPU exporters (dcgm-exporter) into
 * the observed state of docs/formats.md, without ever widening what a node is
 * eligible for.
 *
 * Four layers, each usable alone:
 *   - pure readers of outside input, no I/O: the Redfish walk (JSON documents →
 *     facts), the attestation-result verifier (token bytes + pinned keys →
 *     normalised attestation), the Prometheus-text parser, ISO country codes;
 *   - the configuration: the fleet file's "collectors" section, validated
 *     strictly (tp_collect_config_load);
 *   - the collector: one libuv loop drives libcurl's multi-socket interface;
 *     per-BMC and global concurrency limits, per-request timeouts, jittered
 *     exponential backoff, Redfish sessions, a staleness clock per fact;
 *   - tp_state_t out (see model/state_json.h to write it).
 *
 * Only collectors/ (and scheduler/etcd.c, the etcd client) include curl.h.
 * Facts that are missing, null, malformed or from a failed request are
 * "unknown" (NAN, -1, ""), never zero.
 */
#ifndef TP_COLLECTORS_H
#define TP_COLLECTORS_H

#include "model/model.h"
#include "util/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* ---- ISO 3166 ------------------------------------------------------------------- */

/* "DE", "de", "DEU" → "DE" (an assigned alpha-2 code). 0, or -1 when `in` is
 * not an ISO 3166-1 alpha-2/alpha-3 code (out is then ""). Names ("Germany")
 * are not guessed at. */
int tp_country_normalise(const char *in, char out[3]);

/* ---- Redfish: JSON documents → facts (no I/O) ------------------------------------ */

typedef enum {
    TP_RF_CAP_UNKNOWN = 0, /* no source said anything */
    TP_RF_CAP_NONE,        /* a source says capping is off (disabled, 0, null limit) */
    TP_RF_CAP_SET          /* a power limit is in force */
} tp_rf_cap_state_t;

typedef enum {
    TP_RF_SRC_NONE = 0,
    TP_RF_SRC_CONTROL, /* Controls members with ControlType Power */
    TP_RF_SRC_ENV,     /* EnvironmentMetrics PowerLimitWatts / PowerWatts */
    TP_RF_SRC_LEGACY,  /* Power.PowerControl[] */
    TP_RF_SRC_SENSOR   /* Sensors members with ReadingType Power */
} tp_rf_source_t;

const char *tp_rf_source_name(tp_rf_source_t s); /* "control", …, "none" */

/* Where a GPU count came from. */
typedef enum {
    TP_RF_GPUS_UNKNOWN = 0, /* no GPU listed anywhere: the count is unknown */
    TP_RF_GPUS_PROCESSORS,  /* Processors with ProcessorType GPU */
    TP_RF_GPUS_PCIE         /* PCIe devices with a display/accelerator function */
} tp_rf_gpus_source_t;

/* What one ComputerSystem of a BMC says about its node. */
typedef struct {
    char system_id[64];
    tp_rf_cap_state_t cap_state;
    double cap_w; /* with TP_RF_CAP_SET, else NAN */
    tp_rf_source_t cap_source;
    double draw_w; /* NAN when unknown */
    tp_rf_source_t draw_source;
    int gpus;          /* GPUs present; -1 unknown (none listed anywhere) */
    int gpus_healthy;  /* of those, Status.Health "OK"; -1 unknown */
    bool gpus_partial; /* a member failed: the counts are lower bounds */
    tp_rf_gpus_source_t gpus_source;
    char gpu_model[64];
    char country[3]; /* ISO alpha-2, "" unknown */
} tp_rf_facts_t;

/* A walk of one BMC's tree by following @odata.id links from /redfish/v1. The
 * walk hands out paths to GET and is fed their responses, in any order, so the
 * same code runs on the HTTP transport and on a mockup directory. Bounded: at
 * most TP_RF_MAX_REQUESTS requests per walk. */
typedef struct tp_rf_walk tp_rf_walk_t;
#define TP_RF_MAX_REQUESTS 512

tp_rf_walk_t *tp_rf_walk_new(void); /* NULL on ENOMEM */
void tp_rf_walk_free(tp_rf_walk_t *w);
/* The next request: returns its id (≥ 0) and sets *path (an absolute path on the
 * BMC, "/redfish/v1/…", borrowed until the walk is freed); -1 when nothing is
 * ready now (waiting for responses, or done). */
int tp_rf_walk_next(tp_rf_walk_t *w, const char **path);
/* The response to request `id`: HTTP status (0: transport failure), body. */
void tp_rf_walk_feed(tp_rf_walk_t *w, int id, int status, const char *body, size_t len);
/* Same, with the body already parsed (borrowed; NULL: not JSON). */
void tp_rf_walk_feed_doc(tp_rf_walk_t *w, int id, int status, const json_t *doc);
bool tp_rf_walk_done(const tp_rf_walk_t *w);
/* Links.Sessions of the service root (borrowed), NULL when not (yet) known. */
const char *tp_rf_walk_sessions(const tp_rf_walk_t *w);
/* Whether the root arrived (a BMC that fails it is unreachable). */
bool tp_rf_walk_root_ok(const tp_rf_walk_t *w);
int tp_rf_walk_requests(const tp_rf_walk_t *w); /* issued so far */
int tp_rf_walk_failures(const tp_rf_walk_t *w); /* responses that were not usable */
int tp_rf_walk_nsystems(const tp_rf_walk_t *w);
/* Facts of the system whose Id is system_id (NULL: the BMC's only system).
 * TP_ENOENT when there is no such system, TP_EINVAL when system_id is NULL and
 * the BMC has several; err says which. On error *out holds unknowns. */
int tp_rf_walk_facts(const tp_rf_walk_t *w, const char *system_id, tp_rf_facts_t *out,
                     tp_error_t *err);
void tp_rf_facts_init(tp_rf_facts_t *f); /* everything unknown */

/* Steady state. A finished walk is its BMC's map: tp_rf_poll_new returns a walk
 * (driven like any other: next / feed / done / facts) that fetches only the
 * documents the map's changing facts were decided by (power sources, GPU
 * health) and borrows the rest (links, location) from the map, which must
 * outlive it. NULL when the map cannot be polled (its walk had failures or
 * read no changing fact; walk the tree again) or on ENOMEM. The first call
 * frees the map's request list. tp_rf_poll_ok: every poll request came back
 * and the facts were decided by the same sources as in the map; false means
 * the tree changed (or a request failed) and the poll's facts must not be
 * used: walk again. */
tp_rf_walk_t *tp_rf_poll_new(tp_rf_walk_t *map);
bool tp_rf_poll_ok(const tp_rf_walk_t *poll);

/* ---- attestation results ------------------------------------------------------------
 */

/* Signature algorithms a verifier may be allowed (bitmask of 1u << TP_JWS_*).
 * Symmetric algorithms and "none" are not representable. */
typedef enum {
    TP_JWS_ES256 = 0,
    TP_JWS_ES384,
    TP_JWS_ES512,
    TP_JWS_PS256,
    TP_JWS_PS384,
    TP_JWS_PS512,
    TP_JWS_RS256,
    TP_JWS_RS384,
    TP_JWS_RS512,
    TP_JWS_COUNT
} tp_jws_alg_t;
#define TP_JWS_ALL ((1u << TP_JWS_COUNT) - 1)
const char *tp_jws_alg_name(tp_jws_alg_t a);
int tp_jws_alg_parse(const char *s); /* tp_jws_alg_t or -1 */

/* Why a result was rejected; names are stable ("sig_invalid", …). */
#define TP_ATT_REASON_MAP(X)                                                             \
    X(OK, "accepted")                                                                    \
    X(MALFORMED, "malformed")                                                            \
    X(ALG_REJECTED, "alg_rejected")                                                      \
    X(KID_UNKNOWN, "kid_unknown")                                                        \
    X(KID_MISSING, "kid_missing")                                                        \
    X(HEADER_KEY_UNTRUSTED, "header_key_untrusted")                                      \
    X(KEY_MISMATCH, "key_alg_mismatch")                                                  \
    X(TEST_KEY, "test_key")                                                              \
    X(SIG_INVALID, "sig_invalid")                                                        \
    X(CLAIMS_INVALID, "claims_invalid")                                                  \
    X(EXPIRED, "expired")                                                                \
    X(FUTURE, "issued_in_future")                                                        \
    X(ISSUER, "issuer_mismatch")                                                         \
    X(DIGEST, "digest_mismatch")                                                         \
    X(NONCE, "nonce_mismatch")                                                           \
    X(TEST_TEE, "test_tee")                                                              \
    X(NODE, "node_mismatch")                                                             \
    X(PROFILE, "profile_rejected")

typedef enum {
#define TP_ATT_R_ENUM(n, s) TP_ATT_R_##n,
    TP_ATT_REASON_MAP(TP_ATT_R_ENUM)
#undef TP_ATT_R_ENUM
        TP_ATT_R_COUNT
} tp_att_reason_t;
const char *tp_att_reason_name(tp_att_reason_t r);

/* Components a node's result must carry (bitmask); a missing one counts "none". */
#define TP_ATT_REQ_CPU 1u
#define TP_ATT_REQ_GPU 2u

/* Result formats (what the verifier returns). AUTO: an NRAS array or an EAR. */
typedef enum {
    TP_ATT_FMT_AUTO = 0,
    TP_ATT_FMT_EAR,     /* IETF RATS EAR (Veraison, Trustee) */
    TP_ATT_FMT_NRAS,    /* NVIDIA NRAS [["JWT", overall], {"GPU-0": …}] */
    TP_ATT_FMT_ITA,     /* Intel Trust Authority token (TDX) */
    TP_ATT_FMT_MAA,     /* Microsoft Azure Attestation token (confidential VM) */
    TP_ATT_FMT_KEYLIME, /* Keylime verifier GET /agents/{id} (unsigned JSON) */
    TP_ATT_FMT_COUNT
} tp_att_format_t;
const char *tp_att_format_name(tp_att_format_t f);
int tp_att_format_parse(const char *s); /* tp_att_format_t or -1 */

/* How a result names the node it was issued for. */
typedef enum {
    TP_ATT_BIND_CLAIM = 0, /* a claim (node_claim) equals the node id or one of ids */
    TP_ATT_BIND_UEID,      /* every ueid in the result is one of ids (at least one) */
    TP_ATT_BIND_URL,       /* unsigned results: bound by the request URL (Keylime) */
    TP_ATT_BIND_NONE       /* not bound (configured explicitly, logged loudly) */
} tp_att_bind_t;

typedef struct {
    unsigned algs;        /* allowed algorithms; 0 = none allowed */
    const json_t *jwks;   /* borrowed: {"keys": [JWK, …]} (public keys) */
    void *roots;          /* borrowed X509_STORE * for header x5c chains, or NULL */
    const char *issuer;   /* pinned "iss", or NULL */
    const char *verifier; /* name written into the result, or NULL */
    int64_t now;          /* Unix seconds */
    int64_t skew_s;       /* tolerated clock skew (60) */
    int64_t max_age_s;    /* lifetime cap and expiry of results without exp (3600) */
    unsigned require;     /* TP_ATT_REQ_* */
    bool deny_test_keys;  /* reject the published test keys (production) */
    tp_att_format_t format;
    /* Binding (see tp_att_bind_t). node_id NULL: nothing to bind to, so the
     * result is status none unless bind is TP_ATT_BIND_NONE. */
    tp_att_bind_t bind;
    const char *node_claim;      /* claim name, or a JSON pointer "/a/b"; NULL: "sub" */
    const char *node_id;         /* the node the result was fetched for */
    const char *const *node_ids; /* identities of that node (UEIDs, names), or NULL */
    size_t n_node_ids;
    const char *nonce; /* sent to the verifier; must come back, or NULL */
    const char *verifier_developer, *verifier_build; /* pinned EAR verifier id */
} tp_att_opts_t;

void tp_att_opts_init(tp_att_opts_t *o); /* algs all, skew 60, max age 3600, now time() */

typedef struct {
    tp_att_reason_t reason; /* TP_ATT_R_OK when accepted */
    char detail[256];       /* human-readable, no secrets */
    tp_attestation_t
        att;        /* when accepted; verifier/evidence owned (tp_att_result_fini) */
    char kid[128];  /* the key used, when known */
    bool test_key;  /* signed by a published test key */
    int components; /* submodules (EAR) or GPU tokens (NRAS) appraised */
    bool unbound;   /* no node identity in the result: status forced to none */
} tp_att_result_t;

/* A fresh relying-party nonce: 32 hex characters from the OpenSSL RNG. */
int tp_att_nonce_new(char out[33]);

/* Verifies a body from a verifier: a compact JWS, a JSON object carrying one
 * ("token", "jwt", "ear", "eat", "attestation_result"), or NVIDIA NRAS's
 * [["JWT", overall], {"GPU-0": token, …}]. Returns 0 when accepted, 1 when
 * rejected (res->reason, res->detail), TP_EINVAL when the body is none of the
 * three forms (detail in res->detail), TP_ENOMEM. res must be fini'ed. */
int tp_att_verify(const char *body, size_t len, const tp_att_opts_t *o,
                  tp_att_result_t *res);
void tp_att_result_fini(tp_att_result_t *res);

/* Parses a JWKS file's text ({"keys": […]}, or a single JWK, which is wrapped).
 * Private members are refused. New reference or NULL with err set. */
json_t *tp_jwks_parse(const char *text, size_t len, const char *name, tp_error_t *err);
/* Loads PEM certificates into a new X509_STORE (returned as void *). */
void *tp_att_roots_load(const char *path, tp_error_t *err);
void tp_att_roots_free(void *roots);
/* JSON of the FORMATS.md attestation object (new reference). */
json_t *tp_attestation_to_json(const tp_attestation_t *a);
/* "sha256:<hex>" of data into out (≥ 72 bytes). */
void tp_sha256_tag(const void *data, size_t len, char out[72]);

/* ---- dcgm-exporter (Prometheus text) ------------------------------------------------
 */

typedef struct {
    int gpu; /* the "gpu" label */
    char uuid[64], model[96];
    double power_w, util_pct, fb_free_mib, fb_used_mib; /* NAN when absent */
} tp_dcgm_gpu_t;

typedef struct {
    char hostname[128];  /* Hostname= or hostname= label; "" when none */
    tp_dcgm_gpu_t *gpus; /* ordered by gpu index */
    int ngpus;
    int samples, bad_lines;
} tp_dcgm_t;

#define TP_DCGM_MAX_GPUS 64
/* Parses an exposition. Lines that are not well formed are counted and skipped;
 * TP_EINVAL only when nothing usable is found in a non-empty text. */
int tp_dcgm_parse(const char *text, size_t len, tp_dcgm_t *out, tp_error_t *err);
void tp_dcgm_fini(tp_dcgm_t *d);

/* ---- configuration -------------------------------------------------------------------
 */

typedef enum {
    TP_BMC_AUTH_SESSION = 0,
    TP_BMC_AUTH_BASIC,
    TP_BMC_AUTH_NONE
} tp_bmc_auth_t;

typedef struct {
    char *name;
    char *username, *password; /* from the credentials file; never logged */
} tp_credential_t;

typedef struct {
    char *name;
    char *url;       /* template: {node} is replaced by the URL-escaped node id */
    char *jwks_file; /* one of jwks_file / jwks_url */
    char *jwks_url;
    json_t *jwks; /* loaded from jwks_file at load time; NULL for jwks_url */
    unsigned algs;
    char *issuer;     /* NULL: not pinned */
    char *roots_file; /* PEM trust anchors for header x5c, or NULL */
    void *roots;      /* X509_STORE *, or NULL */
    char *ca_file;    /* TLS CA for this verifier; NULL: the global one */
    bool insecure;    /* TLS verification off (logged loudly) */
    unsigned require; /* TP_ATT_REQ_* */
    int64_t max_age_s;
    int64_t jwks_refresh_s; /* at most one refetch per this many seconds (60) */
    int concurrency;
    bool allow_test_keys;
    bool allow_http; /* http:// url / jwks_url allowed (logged loudly) */
    tp_att_format_t format;
    tp_att_bind_t bind;
    char *node_claim; /* TP_ATT_BIND_CLAIM: claim name or JSON pointer ("sub") */
    char *verifier_developer, *verifier_build; /* pinned EAR verifier id, or NULL */
    bool nonce;         /* url carries {nonce}: a fresh nonce per request */
    json_t *identities; /* {node: [id, …]} (owned), or NULL */
} tp_verifier_cfg_t;

typedef struct {
    tp_credential_t *creds;
    int ncreds;
    tp_verifier_cfg_t *verifiers;
    int nverifiers;
    tp_bmc_auth_t auth;
    int bmc_concurrency;    /* per BMC (2) */
    int global_concurrency; /* all requests in flight (1024) */
    int timeout_ms;         /* per request (10000) */
    int connect_timeout_ms; /* (3000) */
    int retries;            /* after the first attempt (2) */
    int backoff_ms;         /* first backoff; doubles, ±50% jitter (200) */
    int backoff_max_ms;     /* (5000) */
    int interval_s;         /* continuous mode: one cycle per interval (60) */
    int walk_timeout_ms;    /* a BMC's walk (or poll) in one cycle, in all (60000) */
    int rediscover_s;       /* walk a BMC's whole tree again after this (240; 0:
                               every cycle); between, poll its map. Capped at
                               stale_after_s - walk_timeout_ms: the map's location
                               must not go stale */
    int stale_after_s;      /* a BMC fact older than this becomes unknown (300) */
    long max_body;          /* bytes per response (4 MiB) */
    char *ca_file;          /* TLS CA file; NULL: the system's */
    char *telemetry;        /* dcgm-exporter URL template, or NULL */
    char *proxy; /* every request's HTTP proxy; NULL: none (the environment's ignored) */
    char **node_system; /* [node] Redfish System Id, or NULL */
    int nnodes;
    uint64_t seed; /* jitter */
    /* index into creds / verifiers per node, -1 when the node has none */
    int *node_cred, *node_verifier;
} tp_collect_cfg_t;

/* Validates f->collectors against the schema of docs/collectors.md (unknown keys
 * are errors), loads credentials files and JWKS files (relative paths are
 * relative to the fleet file), and checks that every node's bmc.credentials and
 * verifier name resolve. A fleet without a collectors section gets the defaults
 * and fails if any node names credentials or a verifier. */
int tp_collect_config_load(const tp_fleet_t *f, tp_collect_cfg_t **out, tp_error_t *err);
void tp_collect_config_free(tp_collect_cfg_t *c);

/* ---- the collector ------------------------------------------------------------------
 */

typedef enum { TP_LOG_DEBUG, TP_LOG_INFO, TP_LOG_WARN, TP_LOG_ERROR } tp_log_level_t;
typedef void (*tp_log_fn)(void *arg, tp_log_level_t level, const char *msg);

typedef struct {
    double wall_s;        /* the last cycle */
    int bmcs, bmcs_ok;    /* BMCs walked / whose root answered */
    int nodes_attested;   /* accepted results this cycle */
    int nodes_rejected;   /* results fetched but rejected */
    uint64_t requests;    /* HTTP attempts */
    uint64_t failures;    /* attempts that failed (transport, 5xx, 4xx) */
    uint64_t retries;     /* attempts that were retries */
    uint64_t bytes;       /* response bodies */
    double latency_sum_s; /* sum of attempt durations */
    int max_inflight;
    uint64_t connects; /* connections opened (the others reused a kept one) */
    int jwks_fetches;  /* JWKS URL fetches started this cycle (first load, unknown kid) */
    int bmcs_polled;   /* BMCs read by polling their map */
    int rediscoveries; /* polls that failed or found the tree changed: walked again */
    int walks_timed_out; /* BMCs cut off by bmc.walk_timeout_ms */
} tp_collect_stats_t;

typedef struct tp_collector tp_collector_t;
typedef void (*tp_collect_done_fn)(tp_collector_t *c, void *arg);

/* A collector for fleet f with config cfg (both borrowed for its lifetime) on
 * loop. NULL with err set on failure (curl or ENOMEM). */
tp_collector_t *tp_collector_new(uv_loop_t *loop, const tp_fleet_t *f,
                                 const tp_collect_cfg_t *cfg, tp_error_t *err);
void tp_collector_set_log(tp_collector_t *c, tp_log_fn fn, void *arg);
/* Starts one cycle; done is called on the loop when every BMC walk, attestation
 * fetch and scrape has finished or failed. TP_EINVAL when a cycle is running. */
int tp_collector_cycle(tp_collector_t *c, tp_collect_done_fn done, void *arg);
/* The state as of the last finished cycle: facts older than stale_after_s are
 * unknown; attestations keep their own expiry. Borrowed until the next cycle
 * ends or the collector is closed. */
const tp_state_t *tp_collector_state(const tp_collector_t *c);
/* Restricts every later cycle to the Redfish walk of node's BMC (no other BMC,
 * no attestation, no telemetry): what sampling one node's power draw needs.
 * node -1 lifts the restriction. TP_EINVAL while a cycle runs, for a node out
 * of range or without a bmc.url. */
int tp_collector_restrict(tp_collector_t *c, int node);
/* Shared collection (several `serve` replicas, docs/ha.md): later cycles walk
 * only the BMCs of nodes with owned[n] true and fetch attestation results and
 * telemetry only for those (owned: fleet->nnodes flags, copied; NULL: every
 * node again). Callable while a cycle runs: the next cycle takes it. Facts of
 * nodes no longer owned stay in the state and age as usual. TP_ENOMEM. */
int tp_collector_set_owned(tp_collector_t *c, const bool *owned);
/* When each BMC fact of node was last read (Unix seconds, 0: never), so that
 * facts handed to another process keep their age. */
typedef struct {
    int64_t cap, draw, gpus, country;
} tp_fact_times_t;
void tp_collector_fact_times(const tp_collector_t *c, int node, tp_fact_times_t *out);
/* Applies the collector's staleness rule as of now to node's facts o read at
 * times t (elsewhere, e.g. by another replica): the draw and a country that
 * verifies the node's region expire after stale_after_s; a set cap, the
 * healthy-GPU count (capped at the declared GPUs) and a country that
 * contradicts the region are kept (they only narrow eligibility); the
 * attestation keeps its own expiry. o->known becomes false when nothing is
 * left. */
void tp_obs_age(const tp_fleet_t *f, int node, tp_node_obs_t *o, const tp_fact_times_t *t,
                int64_t now, int stale_after_s);
/* Node's power draw (W) as read by the last finished cycle; NAN when that cycle
 * did not read it (whatever older reading the state may still hold). */
double tp_collector_draw_now(const tp_collector_t *c, int node);
const tp_collect_stats_t *tp_collector_stats(const tp_collector_t *c);
/* GPU telemetry of node n from the last cycle, or NULL. */
const tp_dcgm_t *tp_collector_telemetry(const tp_collector_t *c, int node);
/* Logs out of every Redfish session (DELETE), then releases everything; done
 * (may be NULL) is called once all handles are closed. The collector must not
 * be used afterwards. A running cycle is abandoned. */
void tp_collector_close(tp_collector_t *c, void (*done)(void *arg), void *arg);

/* ---- power sampling (the Redfish energy meter of `trustplace bench`) ---------------
 */

/* Samples one node's power draw through its BMC with the collector's Redfish code
 * (discovery, sessions, TLS settings and the draw's order of preference of
 * docs/collectors.md): each sample is one restricted collector cycle on a
 * private libuv loop, so the session is reused from sample to sample. The
 * sampler blocks its caller while the cycle runs: call it from a thread that
 * runs no other loop (the meter's polling thread), never from a loop callback. */
typedef struct tp_power_sampler tp_power_sampler_t;

/* f and cfg are borrowed for the sampler's lifetime. TP_ENOENT: no node node_id;
 * TP_EINVAL: the node has no bmc.url; TP_ENOMEM. Log messages of WARN and above
 * go to log (may be NULL). */
int tp_power_sampler_new(const tp_fleet_t *f, const tp_collect_cfg_t *cfg,
                         const char *node_id, tp_log_fn log, void *log_arg,
                         tp_power_sampler_t **out, tp_error_t *err);
/* One sample (a tp_power_sample_fn of workload/workload.h: ctx is the sampler).
 * TP_EIO when this cycle read no draw (BMC unreachable, no source). */
int tp_power_sampler_read(void *ctx, double *watts, tp_error_t *err);
/* Logs out of the BMC's session and frees; NULL is fine. */
void tp_power_sampler_free(tp_power_sampler_t *s);

/* ---- one-shot POST (bench --report-to) ------------------------------------------------
 */

/* For https: the CA to trust (NULL: the system's) and a client certificate and
 * its key to present (PEM files; NULL: none). */
typedef struct {
    const char *ca_file, *cert_file, *key_file;
} tp_post_tls_t;
/* Sets those on a libcurl handle (NULL or NULL members: libcurl's defaults);
 * scheduler/etcd.c uses it for its own TLS settings too. */
void tp_curl_tls(void *curl, const tp_post_tls_t *tls);

/* One blocking request: GET, or POST of body (content_type, default JSON). */
typedef struct {
    const char *url, *bearer; /* bearer NULL: no Authorization */
    const char *body, *content_type;
    const tp_post_tls_t *tls; /* NULL: the defaults */
    int timeout_ms;           /* 0: 15000 */
    bool https_only;
    size_t max_body; /* larger answers fail; 0: 1 MiB */
} tp_http_once_t;
/* 0 with *status and *response (new string, caller frees) when an answer came;
 * TP_EIO with err when none did. Never writes the token into err. */
int tp_http_once(const tp_http_once_t *q, int *status, char **response, tp_error_t *err);

/* POSTs body (JSON) to url with "Authorization: Bearer <bearer>" (NULL: none),
 * with tls (NULL: the defaults), blocking for at most timeout_ms. 0 with
 * *status (HTTP) and *response (new NUL-terminated string, caller frees) when
 * an answer came; TP_EIO with err when none did. The token is never written to
 * err. */
int tp_post_json(const char *url, const char *bearer, const tp_post_tls_t *tls,
                 const char *body, int timeout_ms, int *status, char **response,
                 tp_error_t *err);

#endif
