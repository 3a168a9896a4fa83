/*
 * scheduler/access.h — bearer tokens for `trustplace serve`: the tokens file,
 * checking an Authorization header, and which role may do what.
 *
 * The tokens file (docs/k8s.md § "Access tokens"; written by `trustplace token
 * add`) holds, per token, a unique name, a role and the SHA-256 of its secret —
 * never the secret:
 *
 *   {"version": 1, "tokens": [
 *     {"name": "argo", "role": "orchestrator", "sha256": "<64 lower-case hex>"}]}
 *
 * Loading is strict and all-or-nothing (unknown keys, a bad role, a digest that
 * is not 64 hex digits, duplicate names → FILE:LINE:COL or FILE: $.json.path and
 * what was expected). A secret is "tp_" followed by the base64url (no padding) of
 * 32 bytes from OpenSSL's CSPRNG. Checking hashes the presented secret and
 * compares it with every stored digest in constant time (CRYPTO_memcmp, no early
 * exit), so neither timing nor the log reveals which token nearly matched.
 * Nothing here logs; callers must never log a header value or a secret.
 *
 * Pure: no I/O except tp_tokens_load() reading and tp_tokens_save() writing the
 * file. A loaded tp_tokens_t is immutable and safe to share between threads.
 */
#ifndef TP_SCHEDULER_ACCESS_H
#define TP_SCHEDULER_ACCESS_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    TP_ROLE_NONE = 0,    /* no valid token: 401 */
    TP_ROLE_VIEWER,      /* read */
    TP_ROLE_PLANNER,     /* read, explain, profiles */
    TP_ROLE_ORCHESTRATOR /* read, place/release (and the k8s extender), power events */
} tp_role_t;

typedef enum {
    TP_ACT_READ,     /* GET /v1/..., /readyz */
    TP_ACT_PLACE,    /* POST/DELETE /v1/placements*, /k8s/filter|prioritize|bind */
    TP_ACT_EXPLAIN,  /* POST /v1/explain */
    TP_ACT_PROFILES, /* POST /v1/profiles */
    TP_ACT_POWER     /* POST /v1/power/events */
} tp_action_t;

#define TP_TOKEN_NAME_MAX 64   /* names: 1..64 bytes of [A-Za-z0-9._-] */
#define TP_TOKEN_SECRET_LEN 46 /* "tp_" + 43 base64url characters */

typedef struct tp_tokens tp_tokens_t;

/* "viewer", "planner", "orchestrator"; "none" for TP_ROLE_NONE. Static string. */
const char *tp_role_name(tp_role_t r);
/* The role named s, or TP_ROLE_NONE when s names none ("none" is not a role). */
tp_role_t tp_role_parse(const char *s);
/* Whether role r may perform action a. TP_ROLE_NONE may do nothing. */
bool tp_role_allows(tp_role_t r, tp_action_t a);
/* "read", "place", … Static string. */
const char *tp_action_name(tp_action_t a);

/* An empty set (for `token add` on a new file). NULL on ENOMEM. */
tp_tokens_t *tp_tokens_new(void);
/* Loads and validates a tokens file (refused when its group or every user may
 * write it). On success *out is a new set the caller frees with
 * tp_tokens_free(); on failure *out is NULL and err says why. */
int tp_tokens_load(const char *path, tp_tokens_t **out, tp_error_t *err);
/* Same, from a JSON text in memory; name is used in messages. */
int tp_tokens_load_buffer(const char *name, const char *text, size_t len,
                          tp_tokens_t **out, tp_error_t *err);
void tp_tokens_free(tp_tokens_t *t); /* accepts NULL */

/* Number of tokens, and the name/role of token i (0 <= i < count). The name is
 * borrowed: valid until the set is freed or changed. */
int tp_tokens_count(const tp_tokens_t *t);
const char *tp_tokens_name(const tp_tokens_t *t, int i);
tp_role_t tp_tokens_role(const tp_tokens_t *t, int i);

/* Checks an Authorization header value (e.g. "Bearer tp_…"; not necessarily
 * NUL-terminated, len bytes; hv may be NULL when the header is absent). The
 * scheme is matched case-insensitively (RFC 7235). Returns the token's role, or
 * TP_ROLE_NONE when the header is absent, malformed or names no token. On
 * success *name_out (when name_out is not NULL) borrows the token's name, valid
 * while t lives; on failure it is set to NULL. Constant time in the secret. */
tp_role_t tp_tokens_check(const tp_tokens_t *t, const char *hv, size_t len,
                          const char **name_out);

/* Client certificates for mTLS (docs/serve.md, "TLS"): a file of the same
 * shape and rules with "clients" in place of "tokens", each sha256 the SHA-256
 * fingerprint of a client certificate's DER encoding (`openssl x509 -in C
 * -outform DER | sha256sum`): {"version": 1, "clients": [{"name": "argo",
 * "role": "orchestrator", "sha256": "<64 lower-case hex>"}]}. Refused when its
 * group or every user may write it. */
int tp_clients_load(const char *path, tp_tokens_t **out, tp_error_t *err);
/* The role pinned to the certificate whose fingerprint is sha256 (32 bytes), or
 * TP_ROLE_NONE; *name_out as tp_tokens_check's. Fingerprints are public: no
 * constant-time comparison is needed. */
tp_role_t tp_clients_check(const tp_tokens_t *t, const unsigned char sha256[32],
                           const char **name_out);

/* Creates a fresh secret for token `name` with role r (replacing the secret and
 * role when the name exists, adding it otherwise) and writes the secret,
 * NUL-terminated, into secret_out (at least TP_TOKEN_SECRET_LEN + 1 bytes). The
 * caller shows it once and then wipes it (OPENSSL_cleanse). TP_EINVAL for a bad
 * name or role, TP_EIO when the CSPRNG fails. */
int tp_tokens_issue(tp_tokens_t *t, const char *name, tp_role_t r, char *secret_out,
                    size_t secret_size, tp_error_t *err);
/* Removes token `name`: 0, or TP_ENOENT when there is none. */
int tp_tokens_remove(tp_tokens_t *t, const char *name, tp_error_t *err);
/* Writes the set to path atomically: a temporary file in the same directory
 * (mkstemp, mode 0600), fsync, rename over path, fsync of the directory. On
 * failure path is unchanged. */
int tp_tokens_save(const tp_tokens_t *t, const char *path, tp_error_t *err);

#endif
