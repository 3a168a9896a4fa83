/*
 * scheduler/access.c — bearer tokens (see access.h): the strict tokens-file
 * loader, the constant-time check of an Authorization header, secrets from
 * OpenSSL's CSPRNG encoded with libjose's base64url, and the atomic writer.
 */
#include "scheduler/access.h"

#include "util/json_in.h"

#include <errno.h>
#include <fcntl.h>
#include <jose/b64.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIGEST_LEN 32
#define SECRET_RAW 32
#define SECRET_PREFIX "tp_"
#define SECRET_MAX 512 /* longer presented credentials are refused unhashed */
#define TOKENS_MAX 10000

struct tok {
    char *name;
    tp_role_t role;
    unsigned char digest[DIGEST_LEN];
};

struct tp_tokens {
    struct tok *v;
    int n, cap;
};

const char *tp_role_name(tp_role_t r)
{
    switch (r) {
    case TP_ROLE_VIEWER:
        return "viewer";
    case TP_ROLE_PLANNER:
        return "planner";
    case TP_ROLE_ORCHESTRATOR:
        return "orchestrator";
    default:
        return "none";
    }
}

tp_role_t tp_role_parse(const char *s)
{
    for (int r = TP_ROLE_VIEWER; r <= TP_ROLE_ORCHESTRATOR; r++)
        if (s && !strcmp(s, tp_role_name((tp_role_t)r)))
            return (tp_role_t)r;
    return TP_ROLE_NONE;
}

const char *tp_action_name(tp_action_t a)
{
    switch (a) {
    case TP_ACT_READ:
        return "read";
    case TP_ACT_PLACE:
        return "place";
    case TP_ACT_EXPLAIN:
        return "explain";
    case TP_ACT_PROFILES:
        return "profiles";
    case TP_ACT_POWER:
        return "power";
    }
    return "unknown";
}

bool tp_role_allows(tp_role_t r, tp_action_t a)
{
    switch (r) {
    case TP_ROLE_ORCHESTRATOR:
        return a == TP_ACT_READ || a == TP_ACT_PLACE || a == TP_ACT_POWER;
    case TP_ROLE_PLANNER:
        return a == TP_ACT_READ || a == TP_ACT_EXPLAIN || a == TP_ACT_PROFILES;
    case TP_ROLE_VIEWER:
        return a == TP_ACT_READ;
    default:
        return false;
    }
}

tp_tokens_t *tp_tokens_new(void)
{
    return calloc(1, sizeof(tp_tokens_t));
}

void tp_tokens_free(tp_tokens_t *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n; i++)
        free(t->v[i].name);
    OPENSSL_cleanse(t->v, sizeof *t->v * (size_t)t->cap);
    free(t->v);
    free(t);
}

int tp_tokens_count(const tp_tokens_t *t)
{
    return t ? t->n : 0;
}

const char *tp_tokens_name(const tp_tokens_t *t, int i)
{
    return t && i >= 0 && i < t->n ? t->v[i].name : NULL;
}

tp_role_t tp_tokens_role(const tp_tokens_t *t, int i)
{
    return t && i >= 0 && i < t->n ? t->v[i].role : TP_ROLE_NONE;
}

static int find(const tp_tokens_t *t, const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].name, name))
            return i;
    return -1;
}

/* Names: 1..TP_TOKEN_NAME_MAX bytes of [A-Za-z0-9._-] (they appear in logs). */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TP_TOKEN_NAME_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
            return false;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int append(tp_tokens_t *t, const char *name, tp_role_t role,
                  const unsigned char digest[DIGEST_LEN])
{
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 8;
        struct tok *v = calloc((size_t)cap, sizeof *v);
        if (!v)
            return TP_ENOMEM;
        if (t->n)
            memcpy(v, t->v, sizeof *v * (size_t)t->n);
        OPENSSL_cleanse(t->v, sizeof *t->v * (size_t)t->cap);
        free(t->v);
        t->v = v;
        t->cap = cap;
    }
    if (!(t->v[t->n].name = strdup(name)))
        return TP_ENOMEM;
    t->v[t->n].role = role;
    memcpy(t->v[t->n].digest, digest, DIGEST_LEN);
    t->n++;
    return 0;
}

/* What the sha256 member of each entry is: of a secret, or of a certificate. */
static const char *what_digest(const char *member)
{
    return !strcmp(member, "clients") ? "the SHA-256 of the certificate (DER)"
                                      : "the SHA-256 of the secret";
}

static int load_one(jr_t *r, tp_tokens_t *t, const json_t *e, const char *path,
                    const char *member)
{
    static const char *const keys[] = {"name", "role", "sha256", NULL};
    const char *name = NULL, *role = NULL, *hex = NULL;
    char kpath[JR_PATH];
    unsigned char digest[DIGEST_LEN];
    tp_role_t ro;
    if (jr_object(r, e, path, keys) < 0 ||
        jr_string(r, e, path, "name", true, &name) < 0 ||
        jr_string(r, e, path, "role", true, &role) < 0 ||
        jr_string(r, e, path, "sha256", true, &hex) < 0)
        return r->err->code;
    jr_key_path(kpath, path, "name");
    if (!name_ok(name))
        return jr_fail(r, TP_EINVAL, kpath,
                       "expected 1..%d characters of [A-Za-z0-9._-], got \"%.80s\"",
                       TP_TOKEN_NAME_MAX, name);
    int first = find(t, name);
    if (first >= 0)
        return jr_fail(r, TP_EDUP, kpath, "duplicate %s name \"%s\" (first at $.%s[%d])",
                       strcmp(member, "clients") ? "token" : "client", name, member,
                       first);
    jr_key_path(kpath, path, "role");
    if ((ro = tp_role_parse(role)) == TP_ROLE_NONE)
        return jr_fail(
            r, TP_EINVAL, kpath,
            "expected \"orchestrator\", \"planner\" or \"viewer\", got \"%.80s\"", role);
    jr_key_path(kpath, path, "sha256");
    bool ok = strlen(hex) == 2 * DIGEST_LEN;
    for (int i = 0; ok && i < DIGEST_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        if (ok)
            digest[i] = (unsigned char)(hi << 4 | lo);
    }
    if (!ok)
        return jr_fail(r, TP_EINVAL, kpath,
                       "expected %s as 64 lower-case hex digits, got %zu characters",
                       what_digest(member), strlen(hex));
    for (int k = 0; !strcmp(member, "clients") && k < t->n; k++)
        if (!memcmp(t->v[k].digest, digest, DIGEST_LEN))
            return jr_fail(r, TP_EDUP, kpath, "the same digest as $.%s[%d]", member, k);
    if (append(t, name, ro, digest) < 0)
        return tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
    return 0;
}

/* {"version": 1, member: [entries]}; member is "tokens" or "clients". */
static int load_root(jr_t *r, json_t *root, const char *member, tp_tokens_t **out)
{
    const char *const keys[] = {"version", member, NULL};
    char apath[32];
    long long version = 0;
    const json_t *arr, *e;
    size_t i;
    tp_tokens_t *t = NULL;
    int rc;
    if (!root)
        return r->err->code;
    if ((rc = jr_object(r, root, "$", keys)) < 0 ||
        (rc = jr_int(r, root, "$", "version", true, 1, 1, &version)) < 0)
        goto out;
    snprintf(apath, sizeof apath, "$.%s", member);
    arr = json_object_get(root, member);
    if ((rc = jr_array(r, arr, apath)) < 0)
        goto out;
    if (json_array_size(arr) > TOKENS_MAX) {
        rc = jr_fail(r, TP_ERANGE, apath, "expected at most %d entries, got %zu",
                     TOKENS_MAX, json_array_size(arr));
        goto out;
    }
    if (!(t = tp_tokens_new())) {
        rc = tp_error_set(r->err, TP_ENOMEM, "%s: out of memory", r->file);
        goto out;
    }
    json_array_foreach (arr, i, e) {
        char path[JR_PATH];
        jr_index_path(path, apath, i);
        if ((rc = load_one(r, t, e, path, member)) < 0)
            goto out;
    }
    *out = t;
    t = NULL;
    rc = 0;
out:
    tp_tokens_free(t);
    json_decref(root);
    return rc;
}

static int load_file(const char *path, const char *member, tp_tokens_t **out,
                     tp_error_t *err)
{
    jr_t r = {path, err};
    struct stat st;
    tp_error_clear(err);
    *out = NULL;
    /* Whoever can write the file can grant themselves any role: like ssh with
     * authorized_keys, a file other users may write is refused. */
    if (stat(path, &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)))
        return tp_error_set(err, TP_EINVAL,
                            "%s: mode %04o is writable by %s, so they could add a "
                            "token; refusing it (chmod go-w)",
                            path, (unsigned)(st.st_mode & 07777),
                            st.st_mode & S_IWOTH ? "every user" : "its group");
    return load_root(&r, jr_parse_file(&r, path), member, out);
}

int tp_tokens_load(const char *path, tp_tokens_t **out, tp_error_t *err)
{
    return load_file(path, "tokens", out, err);
}

int tp_clients_load(const char *path, tp_tokens_t **out, tp_error_t *err)
{
    return load_file(path, "clients", out, err);
}

tp_role_t tp_clients_check(const tp_tokens_t *t, const unsigned char sha256[32],
                           const char **name_out)
{
    if (name_out)
        *name_out = NULL;
    for (int k = 0; t && sha256 && k < t->n; k++)
        if (!memcmp(sha256, t->v[k].digest, DIGEST_LEN)) {
            if (name_out)
                *name_out = t->v[k].name;
            return t->v[k].role;
        }
    return TP_ROLE_NONE;
}

int tp_tokens_load_buffer(const char *name, const char *text, size_t len,
                          tp_tokens_t **out, tp_error_t *err)
{
    jr_t r = {name, err};
    tp_error_clear(err);
    *out = NULL;
    return load_root(&r, jr_parse_buffer(&r, text, len), "tokens", out);
}

static int sha256(const void *data, size_t len, unsigned char out[DIGEST_LEN])
{
    unsigned int n = 0;
    return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == DIGEST_LEN
               ? 0
               : TP_EIO;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

tp_role_t tp_tokens_check(const tp_tokens_t *t, const char *hv, size_t len,
                          const char **name_out)
{
    static const char scheme[] = "bearer";
    unsigned char digest[DIGEST_LEN];
    size_t i = 0, end = len, s;
    int match = -1;
    if (name_out)
        *name_out = NULL;
    if (!t || !hv)
        return TP_ROLE_NONE;
    while (i < end && is_ows(hv[i]))
        i++;
    while (end > i && is_ows(hv[end - 1]))
        end--;
    /* "Bearer" (any case), at least one space, then the credential. */
    if (end - i < sizeof scheme)
        return TP_ROLE_NONE;
    for (s = 0; s < sizeof scheme - 1; s++) {
        char c = hv[i + s];
        if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != scheme[s])
            return TP_ROLE_NONE;
    }
    i += s;
    if (!is_ows(hv[i]))
        return TP_ROLE_NONE;
    while (i < end && is_ows(hv[i]))
        i++;
    if (i == end || end - i > SECRET_MAX)
        return TP_ROLE_NONE;
    for (size_t j = i; j < end; j++)
        if ((unsigned char)hv[j] <= ' ' || (unsigned char)hv[j] >= 0x7f)
            return TP_ROLE_NONE;
    if (sha256(hv + i, end - i, digest) < 0)
        return TP_ROLE_NONE;
    /* Every digest is compared, whichever matches: no early exit. */
    for (int k = 0; k < t->n; k++) {
        int eq = CRYPTO_memcmp(digest, t->v[k].digest, DIGEST_LEN) == 0;
        match = eq ? k : match;
    }
    OPENSSL_cleanse(digest, sizeof digest);
    if (match < 0)
        return TP_ROLE_NONE;
    if (name_out)
        *name_out = t->v[match].name;
    return t->v[match].role;
}

int tp_tokens_issue(tp_tokens_t *t, const char *name, tp_role_t r, char *secret_out,
                    size_t secret_size, tp_error_t *err)
{
    unsigned char raw[SECRET_RAW], digest[DIGEST_LEN];
    const size_t plen = sizeof SECRET_PREFIX - 1;
    size_t n;
    int i, rc;
    if (!name || !name_ok(name))
        return tp_error_set(err, TP_EINVAL,
                            "token name: expected 1..%d characters of [A-Za-z0-9._-]",
                            TP_TOKEN_NAME_MAX);
    if (r != TP_ROLE_VIEWER && r != TP_ROLE_PLANNER && r != TP_ROLE_ORCHESTRATOR)
        return tp_error_set(err, TP_EINVAL,
                            "role: expected orchestrator, planner or viewer");
    if (secret_size < TP_TOKEN_SECRET_LEN + 1)
        return tp_error_set(err, TP_EINVAL, "secret buffer: need %d bytes",
                            TP_TOKEN_SECRET_LEN + 1);
    if (RAND_bytes(raw, sizeof raw) != 1)
        return tp_error_set(err, TP_EIO, "the CSPRNG (RAND_bytes) failed");
    memcpy(secret_out, SECRET_PREFIX, plen);
    n = jose_b64_enc_buf(raw, sizeof raw, secret_out + plen, secret_size - plen - 1);
    OPENSSL_cleanse(raw, sizeof raw);
    if (n != TP_TOKEN_SECRET_LEN - plen) {
        OPENSSL_cleanse(secret_out, secret_size);
        return tp_error_set(err, TP_EIO, "base64url encoding of the secret failed");
    }
    secret_out[plen + n] = '\0';
    if (sha256(secret_out, plen + n, digest) < 0) {
        OPENSSL_cleanse(secret_out, secret_size);
        return tp_error_set(err, TP_EIO, "SHA-256 failed");
    }
    if ((i = find(t, name)) >= 0) {
        t->v[i].role = r;
        memcpy(t->v[i].digest, digest, DIGEST_LEN);
        return 0;
    }
    if ((rc = append(t, name, r, digest)) < 0) {
        OPENSSL_cleanse(secret_out, secret_size);
        return tp_error_set(err, rc, "out of memory");
    }
    return 0;
}

int tp_tokens_remove(tp_tokens_t *t, const char *name, tp_error_t *err)
{
    int i = find(t, name);
    if (i < 0)
        return tp_error_set(err, TP_ENOENT, "no token named \"%s\"", name);
    free(t->v[i].name);
    memmove(&t->v[i], &t->v[i + 1], sizeof *t->v * (size_t)(t->n - i - 1));
    t->n--;
    OPENSSL_cleanse(&t->v[t->n], sizeof *t->v);
    return 0;
}

static json_t *to_json(const tp_tokens_t *t)
{
    json_t *arr = json_array(),
           *root = json_pack("{s:i,s:o}", "version", 1, "tokens", arr);
    if (!root)
        return NULL;
    for (int i = 0; i < t->n; i++) {
        char hex[2 * DIGEST_LEN + 1];
        for (int j = 0; j < DIGEST_LEN; j++)
            snprintf(hex + 2 * j, 3, "%02x", t->v[i].digest[j]);
        if (json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "name", t->v[i].name,
                                                 "role", tp_role_name(t->v[i].role),
                                                 "sha256", hex)) < 0) {
            json_decref(root);
            return NULL;
        }
    }
    return root;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int tp_tokens_save(const tp_tokens_t *t, const char *path, tp_error_t *err)
{
    json_t *root = to_json(t);
    char *text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16), *dircopy = strdup(path);
    int fd = -1, rc = 0, dfd;
    bool created = false;
    json_decref(root);
    if (!text || !tmp || !dircopy) {
        rc = tp_error_set(err, TP_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    if ((fd = mkstemp(tmp)) < 0) {
        rc = tp_error_set(err, TP_EIO, "%s: cannot create a temporary file: %s", tmp,
                          strerror(errno));
        goto out;
    }
    created = true;
    if (fchmod(fd, 0600) < 0 || write_all(fd, text, strlen(text)) < 0 ||
        write_all(fd, "\n", 1) < 0 || fsync(fd) < 0) {
        rc = tp_error_set(err, TP_EIO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = tp_error_set(err, TP_EIO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = tp_error_set(err, TP_EIO, "%s: cannot replace: %s", path, strerror(errno));
        goto out;
    }
    /* The rename itself must survive a crash: sync the directory. */
    if ((dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY)) >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0 && created)
        (void)unlink(tmp);
    free(text);
    free(tmp);
    free(dircopy);
    return rc;
}
