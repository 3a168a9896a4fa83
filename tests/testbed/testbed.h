/*
 * tests/testbed/testbed.h — the test bed: an emulated BMC farm and an emulated
 * attestation verifier, in one process, on loopback (127.0.0.1) only.
 *
 * The farm serves thousands of virtual BMCs, one listening port each, from a
 * Redfish tree: a DMTF/vendor mockup directory (../shared/fixtures/redfish) or a
 * tree generated from the node's declared facts. Knobs: latency (mean ± jitter,
 * uniform), random 500s, malformed (truncated) bodies, hangs, authentication
 * required (Basic or Redfish sessions), power caps that change over time, and
 * per-BMC faults (hang, 500, truncated bodies, a 404 member, login refused,
 * port closed). The verifier signs EAR tokens with an ES256 key generated at
 * start-up, per node: good, expired, wrong key, unknown kid, contraindicated,
 * warning, with a GPU submodule, or missing (404).
 *
 * It runs on its own thread and loop (tb_start / tb_stop), so a test can drive a
 * collector on its own loop in the same process; tests/testbed/main.c wraps it
 * as the `tp-testbed` program. Everything is bounded: listeners close on stop,
 * and a farm given a duration stops by itself.
 */
#ifndef TP_TESTBED_H
#define TP_TESTBED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TB_FAULT_NONE = 0,
    TB_FAULT_HANG,       /* accepts, never answers */
    TB_FAULT_500,        /* 500 for everything but the service root */
    TB_FAULT_TRUNCATED,  /* every body but the root's cut in half */
    TB_FAULT_404_MEMBER, /* the first GPU processor answers 404 */
    TB_FAULT_LOGIN,      /* session login refused (401) */
    TB_FAULT_DOWN,       /* nothing listens on its port */
    TB_FAULT_STALE,      /* logins succeed, but every token is answered 401 */
    TB_FAULT_XORIGIN,    /* the session Location names the next BMC's origin,
                            spelled to pass a prefix check:
                            http://127.0.0.1:OWN@127.0.0.1:NEXT/… */
    TB_FAULT_SLOW,       /* every response 1 s late */
    TB_FAULT_MOVED       /* EnvironmentMetrics moved to a new URI (the old one 404s) */
} tb_fault_t;

typedef enum {
    TB_ATT_GOOD = 0,
    TB_ATT_EXPIRED,
    TB_ATT_WRONG_KEY, /* signed by a key the JWKS does not hold, same kid */
    TB_ATT_UNKNOWN_KID,
    TB_ATT_CONTRAINDICATED,
    TB_ATT_WARNING,
    TB_ATT_MISSING,    /* 404 */
    TB_ATT_OTHER_NODE, /* a good token whose "sub" names another node */
    TB_ATT_UNNAMED,    /* a good token that names no node */
    TB_ATT_BAD_NONCE   /* asked for a nonce (?nonce=), returns another */
} tb_att_t;

typedef struct {
    char id[64];        /* node id (the verifier's {node}) */
    const char *mockup; /* mockup directory name under mockup_root, or NULL: generated */
    char country[4];    /* generated tree: Location country ("" none; may be alpha-3) */
    int gpus;           /* generated tree */
    int gpus_failed;    /* generated tree: the first N GPUs report Health Critical */
    double cap_w, draw_w;
    const char *cpu_tee; /* verifier: "tdx", "sev-snp" (NULL: "tdx") */
    bool gpu_cc;         /* verifier: add an NVIDIA gpu0 submodule */
    tb_fault_t fault;
    tb_att_t att;
    uint16_t port; /* out: where it listens */
} tb_bmc_t;

typedef struct {
    tb_bmc_t *bmcs; /* borrowed; ports are written back */
    int nbmcs;
    const char *mockup_root;      /* directory of mockups, or NULL */
    double latency_ms, jitter_ms; /* per response: uniform in mean ± jitter */
    double error_rate;            /* random 500s */
    double malformed_rate;        /* random truncated bodies */
    double hang_rate;             /* random requests never answered */
    bool auth;                    /* require credentials beyond the service root */
    bool no_expand;               /* neither advertise nor honour $expand */
    const char *user, *password;  /* expected credentials ("admin"/"secret") */
    int cap_change_s; /* generated caps drop by 10% steps every N s (0: fixed) */
    bool verifier;    /* run the emulated verifier */
    double verifier_latency_ms;
    uint16_t port_base; /* 0: kernel-assigned ports */
    uint64_t seed;
    int session_ttl_ms; /* a session's token is answered 401 this long after its
                           login (0: sessions never expire) */
    /* PEM certificate chain and key: the BMCs speak HTTPS (TLS 1.2+) instead of
     * plain HTTP; the verifier stays plain HTTP. NULL: plain HTTP. */
    const char *tls_cert, *tls_key;
} tb_opts_t;

typedef struct {
    uint64_t requests, responses, errors, hangs, malformed, logins, logouts, tokens;
    uint64_t expired_tokens;  /* requests answered 401 for a stale session token */
    uint64_t foreign_tokens;  /* requests carrying a session token another BMC issued */
    uint64_t jwks_fetches;    /* GET /.well-known/jwks.json */
    uint64_t tls_failures;    /* TLS handshakes that failed */
    uint64_t accepted;        /* connections accepted by the BMCs and the verifier */
    uint64_t accept_failures; /* connections refused (out of file descriptors …) */
    int max_connections;
} tb_stats_t;

typedef struct tb tb_t;

/* Binds every listener, then serves on a thread of its own. 0, or -1 with err. */
int tb_start(const tb_opts_t *o, tb_t **out, char *err, size_t errlen);
/* Stops serving, closes everything, joins the thread, frees. */
void tb_stop(tb_t *tb);
uint16_t tb_verifier_port(const tb_t *tb);
/* The verifier's public JWKS (borrowed). */
const json_t *tb_jwks(const tb_t *tb);
/* A copy of the counters (thread-safe enough for tests: read after the fact). */
tb_stats_t tb_stats(const tb_t *tb);
/* The farm's request count (tb_stats().requests) when BMC bmc got its latest
 * request: which BMC was served after which. 0: none yet, or bmc out of range. */
uint64_t tb_last_request(const tb_t *tb, int bmc);
/* Changes BMC bmc's cap_w, draw_w, gpus_failed and fault to v's while the farm
 * serves (thread-safe). 0, or -1 for a BMC out of range. */
int tb_set(tb_t *tb, int bmc, const tb_bmc_t *v);
/* Key rotation at the verifier: a new ES256 signing key with kid `kid` signs
 * every later token; the published JWKS holds the new key and the previous
 * one. Thread-safe (called from a test's thread while the farm serves). 0, or
 * -1 when no key could be generated. */
int tb_rotate_key(tb_t *tb, const char *kid);

/* ---- tokens (also used by tests that need their own)
 * ----------------------------------- */

/* A new EC private JWK on curve "P-256" / "P-384" with kid (may be NULL). */
json_t *tb_key_new(const char *crv, const char *kid);
/* The public half (new reference). */
json_t *tb_key_public(const json_t *jwk);
/* Compact JWS over the exact header and payload bytes given; caller frees. */
char *tb_sign(const json_t *jwk, const char *header, const char *payload);
/* An EAR claims-set (Trustee style) for a node: new reference. */
json_t *tb_ear_claims(const char *tee, bool gpu, const char *status, int64_t iat,
                      int64_t exp, const char *jti);
/* A new RSA private JWK of exactly `bits` bits (OpenSSL), kid may be NULL. */
json_t *tb_rsa_key_new(int bits, const char *kid);
/* A certificate for subject's public key signed by issuer (issuer == subject:
 * self-signed), valid [nb, na], as base64 DER (an x5c entry; caller frees).
 * ca: basicConstraints CA; ku / eku: OpenSSL extension values ("digitalSignature",
 * "serverAuth") or NULL for none. */
char *tb_cert_new(const json_t *subject, const json_t *issuer, const char *cn,
                  const char *issuer_cn, bool ca, const char *ku, const char *eku,
                  int64_t nb, int64_t na);

#endif
