/*
 * scheduler/audit.c — the audit log's chain, signatures, verification, query
 * and SIEM export (scheduler/audit.h). SHA-256, signatures and base64 are
 * OpenSSL's; JSON is jansson's.
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include "scheduler/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CANON (JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(17))
#define TAIL_MAX (1 << 20) /* the longest record the open reads back */

struct tp_audit {
    char *path;
    int fd;
    int64_t last_seq;
    unsigned char last[32];
    EVP_PKEY *key;
    const char *alg;
};

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
    if (!s || strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < 2 * n; i++) {
        int c = s[i], v = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                 : -1;
        if (v < 0)
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(v << 4);
        else
            out[i / 2] |= (unsigned char)v;
    }
    return 0;
}

/* hash = SHA-256(prev ‖ canonical JSON of rec without hash and sig). */
static int chain_hash(const unsigned char prev[32], json_t *rec, unsigned char out[32])
{
    json_t *c = json_copy(rec);
    if (!c)
        return TP_ENOMEM;
    json_object_del(c, "hash");
    json_object_del(c, "sig");
    char *t = json_dumps(c, CANON);
    json_decref(c);
    if (!t)
        return TP_ENOMEM;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned len = 0;
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(md, prev, 32) && EVP_DigestUpdate(md, t, strlen(t)) &&
             EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
    free(t);
    return ok ? 0 : TP_ENOMEM;
}

static const char *key_alg(EVP_PKEY *k)
{
    switch (EVP_PKEY_base_id(k)) {
    case EVP_PKEY_ED25519:
        return "Ed25519";
    case EVP_PKEY_EC:
        return EVP_PKEY_bits(k) > 256 ? "ES384" : "ES256";
    default:
        return NULL;
    }
}

static const EVP_MD *alg_md(const char *alg)
{
    return !strcmp(alg, "Ed25519") ? NULL
           : !strcmp(alg, "ES384") ? EVP_sha384()
                                   : EVP_sha256();
}

static EVP_PKEY *read_key(const char *path, bool private_key, tp_error_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        tp_error_set(err, TP_EIO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *k = private_key ? PEM_read_PrivateKey(f, NULL, NULL, NULL)
                              : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (!k) {
        tp_error_set(err, TP_EPARSE, "%s: not a PEM %s key", path,
                     private_key ? "private" : "public");
        return NULL;
    }
    if (!key_alg(k)) {
        EVP_PKEY_free(k);
        tp_error_set(err, TP_EUNSUPPORTED, "%s: expected an Ed25519 or EC key", path);
        return NULL;
    }
    return k;
}

/* ---- writer ---- */

/* The last complete line of fd (cutting off a partial one) → seq and hash. */
static int read_tail(tp_audit_t *a, tp_error_t *err)
{
    struct stat st;
    if (fstat(a->fd, &st) != 0)
        return tp_error_set(err, TP_EIO, "%s: %s", a->path, strerror(errno));
    if (st.st_size == 0)
        return 0;
    off_t n = st.st_size < TAIL_MAX ? st.st_size : TAIL_MAX, from = st.st_size - n;
    char *buf = malloc((size_t)n + 1);
    if (!buf)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    if (pread(a->fd, buf, (size_t)n, from) != (ssize_t)n) {
        free(buf);
        return tp_error_set(err, TP_EIO, "%s: short read", a->path);
    }
    off_t end = n; /* one past the last complete line's newline */
    while (end > 0 && buf[end - 1] != '\n')
        end--;
    if (end < n) { /* a write cut short by a crash: the journal still holds it */
        if (ftruncate(a->fd, from + end) != 0) {
            free(buf);
            return tp_error_set(err, TP_EIO, "%s: %s", a->path, strerror(errno));
        }
    }
    if (end == 0) {
        free(buf);
        if (from + end == 0)
            return 0;
        return tp_error_set(err, TP_EPARSE, "%s: the last record is over %d bytes",
                            a->path, TAIL_MAX);
    }
    buf[end - 1] = '\0';
    off_t start = end - 1;
    while (start > 0 && buf[start - 1] != '\n')
        start--;
    json_error_t je;
    json_t *rec = json_loads(buf + start, 0, &je);
    json_int_t seq = 0;
    const char *h = NULL;
    int rc = 0;
    if (!rec || json_unpack(rec, "{s:I,s:s}", "seq", &seq, "hash", &h) != 0 ||
        unhex(h, a->last, 32) < 0 || seq < 1)
        rc = tp_error_set(
            err, TP_EPARSE,
            "%s: the last record is damaged (run `trustplace audit verify`); "
            "refusing to extend it",
            a->path);
    else
        a->last_seq = seq;
    json_decref(rec);
    free(buf);
    return rc;
}

int tp_audit_open(const char *path, const char *key_path, tp_audit_t **out,
                  tp_error_t *err)
{
    *out = NULL;
    tp_audit_t *a = calloc(1, sizeof *a);
    if (!a || !(a->path = strdup(path))) {
        free(a);
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    a->fd = -1;
    if (key_path) {
        if (!(a->key = read_key(key_path, true, err))) {
            tp_audit_close(a);
            return err->code;
        }
        a->alg = key_alg(a->key);
    }
    a->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (a->fd < 0) {
        int rc = tp_error_set(err, TP_EIO, "%s: %s", path, strerror(errno));
        tp_audit_close(a);
        return rc;
    }
    int rc = read_tail(a, err);
    if (rc < 0) {
        tp_audit_close(a);
        return rc;
    }
    *out = a;
    return 0;
}

void tp_audit_close(tp_audit_t *a)
{
    if (!a)
        return;
    if (a->fd >= 0)
        close(a->fd);
    EVP_PKEY_free(a->key);
    free(a->path);
    free(a);
}

int64_t tp_audit_last_seq(const tp_audit_t *a)
{
    return a->last_seq;
}

static char *b64(const unsigned char *b, size_t n)
{
    char *o = malloc(4 * ((n + 2) / 3) + 1);
    if (o)
        EVP_EncodeBlock((unsigned char *)o, b, (int)n);
    return o;
}

static int sign(tp_audit_t *a, const unsigned char hash[32], json_t *rec)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char sig[256];
    size_t len = sizeof sig;
    int ok = md && EVP_DigestSignInit(md, NULL, alg_md(a->alg), NULL, a->key) == 1 &&
             EVP_DigestSign(md, sig, &len, hash, 32) == 1;
    EVP_MD_CTX_free(md);
    char *v = ok ? b64(sig, len) : NULL;
    if (!v)
        return TP_ENOMEM;
    json_object_set_new(rec, "sig", json_pack("{s:s,s:s}", "alg", a->alg, "value", v));
    free(v);
    return 0;
}

int tp_audit_append(tp_audit_t *a, int64_t seq, int64_t at, const char *body,
                    tp_error_t *err)
{
    json_error_t je;
    json_t *rec = json_loads(body, 0, &je);
    int rc = tp_audit_append_json(a, seq, at, rec, err);
    json_decref(rec);
    return rc;
}

int tp_audit_append_json(tp_audit_t *a, int64_t seq, int64_t at, json_t *rec,
                         tp_error_t *err)
{
    if (seq <= a->last_seq)
        return tp_error_set(err, TP_EINVAL, "%s: seq %lld is not after %lld", a->path,
                            (long long)seq, (long long)a->last_seq);
    if (!json_is_object(rec))
        return tp_error_set(err, TP_EPARSE, "audit row %lld: not a JSON object",
                            (long long)seq);
    char ph[65], hh[65];
    unsigned char h[32];
    hex(a->last, 32, ph);
    json_object_set_new(rec, "seq", json_integer(seq));
    json_object_set_new(rec, "at", json_integer(at));
    json_object_set_new(rec, "prev", json_string(ph));
    int rc = chain_hash(a->last, rec, h);
    if (!rc) {
        hex(h, 32, hh);
        json_object_set_new(rec, "hash", json_string(hh));
        if (a->key)
            rc = sign(a, h, rec);
    }
    char *line = rc ? NULL : json_dumps(rec, CANON);
    if (!line)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    size_t n = strlen(line);
    line[n++] = '\n'; /* replaces the NUL */
    off_t end = lseek(a->fd, 0, SEEK_END);
    ssize_t w = 0;
    for (size_t off = 0; off < n; off += (size_t)w)
        if ((w = write(a->fd, line + off, n - off)) <= 0) {
            int e = errno;
            free(line);
            /* no torn record in the middle of the chain: the journal keeps the
             * row and the next flush writes it again */
            if (end >= 0 && ftruncate(a->fd, end) != 0)
                e = errno;
            return tp_error_set(err, TP_EIO, "%s: %s", a->path,
                                w < 0 ? strerror(e) : "short write");
        }
    free(line);
    memcpy(a->last, h, 32);
    a->last_seq = seq;
    return 0;
}

int tp_audit_sync(tp_audit_t *a, tp_error_t *err)
{
    if (fdatasync(a->fd) != 0)
        return tp_error_set(err, TP_EIO, "%s: %s", a->path, strerror(errno));
    return 0;
}

/* ---- reading ---- */

typedef int (*line_fn)(void *arg, int lineno, const char *line, json_t *rec,
                       tp_error_t *err);

/* Calls fn for every line (rec NULL when the line is not a JSON object).
 * complete_only: a last line without its newline (a record being written) is
 * left for later. */
static int lines_of(const char *path, bool complete_only, line_fn fn, void *arg,
                    tp_error_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return tp_error_set(err, TP_EIO, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0, lineno = 0;
    while (!rc && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        else if (complete_only)
            break;
        json_error_t je;
        json_t *rec = json_loads(line, JSON_REJECT_DUPLICATES, &je);
        if (rec && !json_is_object(rec)) {
            json_decref(rec);
            rec = NULL;
        }
        rc = fn(arg, lineno, line, rec, err);
        json_decref(rec);
    }
    free(line);
    fclose(f);
    return rc;
}

static int each_line(const char *path, line_fn fn, void *arg, tp_error_t *err)
{
    return lines_of(path, false, fn, arg, err);
}

typedef struct {
    const char *path;
    EVP_PKEY *pub;
    unsigned char prev[32];
    int64_t seq;
    tp_audit_report_t *rep;
} verify_t;

static int broken(verify_t *v, int lineno, int64_t seq, tp_error_t *err, const char *what)
{
    if (seq > 0)
        return tp_error_set(err, TP_EVIOLATION, "%s:%d: record seq %lld: %s", v->path,
                            lineno, (long long)seq, what);
    return tp_error_set(err, TP_EVIOLATION, "%s:%d: %s", v->path, lineno, what);
}

static int verify_sig(verify_t *v, const unsigned char h[32], json_t *sig)
{
    const char *alg = NULL, *val = NULL;
    if (json_unpack(sig, "{s:s,s:s}", "alg", &alg, "value", &val) != 0)
        return -1;
    if (strcmp(alg, key_alg(v->pub)))
        return -1;
    size_t n = strlen(val);
    unsigned char *raw = malloc(n + 1);
    int len = raw ? EVP_DecodeBlock(raw, (const unsigned char *)val, (int)n) : -1;
    if (len < 0 || n % 4) {
        free(raw);
        return -1;
    }
    len -= (n >= 1 && val[n - 1] == '=') + (n >= 2 && val[n - 2] == '='); /* padding */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestVerifyInit(md, NULL, alg_md(alg), NULL, v->pub) == 1 &&
             EVP_DigestVerify(md, raw, (size_t)len, h, 32) == 1;
    EVP_MD_CTX_free(md);
    free(raw);
    return ok ? 0 : -1;
}

static int verify_line(void *arg, int lineno, const char *line, json_t *rec,
                       tp_error_t *err)
{
    verify_t *v = arg;
    (void)line;
    if (!rec)
        return broken(v, lineno, 0, err, "not a JSON object (altered or truncated)");
    json_t *js = json_object_get(rec, "seq");
    int64_t seq = json_is_integer(js) ? json_integer_value(js) : 0;
    const char *prev = json_string_value(json_object_get(rec, "prev"));
    const char *hash = json_string_value(json_object_get(rec, "hash"));
    unsigned char p[32], h[32], want[32];
    if (seq < 1 || !json_is_integer(json_object_get(rec, "at")) ||
        !json_is_string(json_object_get(rec, "kind")) || unhex(prev, p, 32) < 0 ||
        unhex(hash, h, 32) < 0)
        return broken(v, lineno, seq, err,
                      "missing or malformed seq, at, kind, prev or hash");
    if (chain_hash(p, rec, want) < 0)
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    if (memcmp(want, h, 32))
        return broken(v, lineno, seq, err,
                      "its hash does not match its content (the record was altered)");
    if (memcmp(p, v->prev, 32))
        return broken(v, lineno, seq, err,
                      "prev is not the hash of the record before it (a record before "
                      "it was removed, reordered or altered)");
    if (seq != v->seq + 1) {
        char msg[128];
        snprintf(msg, sizeof msg, "expected seq %lld (records missing or reordered)",
                 (long long)(v->seq + 1));
        return broken(v, lineno, seq, err, msg);
    }
    json_t *sig = json_object_get(rec, "sig");
    if (sig)
        v->rep->signed_any = true;
    else
        v->rep->signed_all = false;
    if (v->pub) {
        if (!sig)
            return broken(v, lineno, seq, err, "not signed");
        if (verify_sig(v, h, sig) < 0)
            return broken(v, lineno, seq, err,
                          "the signature does not verify with the given public key");
    }
    memcpy(v->prev, h, 32);
    v->seq = seq;
    v->rep->records++;
    return 0;
}

int tp_audit_verify(const char *path, const char *pubkey_path, tp_audit_report_t *rep,
                    tp_error_t *err)
{
    verify_t v = {.path = path, .rep = rep};
    *rep = (tp_audit_report_t){.signed_all = true};
    if (pubkey_path && !(v.pub = read_key(pubkey_path, false, err)))
        return err->code;
    int rc = each_line(path, verify_line, &v, err);
    rep->sigs_checked = v.pub && rc == 0;
    if (!rep->records)
        rep->signed_all = false;
    EVP_PKEY_free(v.pub);
    return rc;
}

/* ---- query ---- */

typedef struct {
    const tp_audit_filter_t *f;
    FILE *out;
    int matched;
    const char *path;
} query_t;

static bool field_is(json_t *rec, const char *key, const char *want)
{
    const char *s = json_string_value(json_object_get(rec, key));
    return s && !strcmp(s, want);
}

static int query_line(void *arg, int lineno, const char *line, json_t *rec,
                      tp_error_t *err)
{
    query_t *q = arg;
    if (!rec)
        return tp_error_set(err, TP_EPARSE, "%s:%d: not a JSON object", q->path, lineno);
    if (q->f->workload && !field_is(rec, "workload", q->f->workload))
        return 0;
    if (q->f->node && !field_is(rec, "node", q->f->node))
        return 0;
    if (q->f->since && json_integer_value(json_object_get(rec, "at")) < q->f->since)
        return 0;
    fprintf(q->out, "%s\n", line);
    q->matched++;
    return 0;
}

int tp_audit_query(const char *path, const tp_audit_filter_t *f, FILE *out, int *matched,
                   tp_error_t *err)
{
    query_t q = {f, out, 0, path};
    int rc = each_line(path, query_line, &q, err);
    *matched = q.matched;
    return rc;
}

int tp_audit_parse_time(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s && !*end && !errno && v >= 0) {
        *out = v;
        return 0;
    }
    struct tm tm = {0};
    const char *e = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!e || *e)
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* ---- SIEM export ---- */

char *tp_audit_syslog_line(const char *record, const char *hostname, int pid)
{
    json_error_t je;
    json_t *rec = json_loads(record, 0, &je);
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    json_t *jat = json_object_get(rec, "at");
    if (!kind || !json_is_integer(jat)) {
        json_decref(rec);
        return NULL;
    }
    time_t at = (time_t)json_integer_value(jat);
    struct tm tm;
    char ts[32], msgid[33], host[256];
    gmtime_r(&at, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    /* MSGID and HOSTNAME: printable US-ASCII without spaces (RFC 5424 §6) */
    size_t i = 0;
    for (; kind[i] && i < 32; i++)
        msgid[i] = kind[i] > 32 && kind[i] < 127 ? kind[i] : '_';
    msgid[i] = '\0';
    for (i = 0; hostname && hostname[i] && i < 255; i++)
        host[i] = hostname[i] > 32 && hostname[i] < 127 ? hostname[i] : '_';
    host[i] = '\0';
    /* facility 10 (security/authorization), severity 5 (notice): PRI 85 */
    size_t n = strlen(record) + strlen(host) + 128;
    char *out = malloc(n);
    if (out)
        snprintf(out, n,
                 "<85>1 %s %s trustplace %d %s [origin software=\"trustplace\"] %s", ts,
                 host[0] ? host : "-", pid, msgid[0] ? msgid : "-", record);
    json_decref(rec);
    return out;
}

typedef struct {
    int fd;
    FILE *file;
    bool framed; /* stream socket: octet counting */
    int64_t since, after_seq, last_seq;
    int sent;
    char host[256];
    const char *path;
} export_t;

static int export_line(void *arg, int lineno, const char *line, json_t *rec,
                       tp_error_t *err)
{
    export_t *x = arg;
    if (!rec)
        return tp_error_set(err, TP_EPARSE, "%s:%d: not a JSON object", x->path, lineno);
    int64_t seq = json_integer_value(json_object_get(rec, "seq"));
    if (json_integer_value(json_object_get(rec, "at")) < x->since || seq <= x->after_seq)
        return 0;
    x->last_seq = seq;
    if (x->file) {
        if (fprintf(x->file, "%s\n", line) < 0)
            return tp_error_set(err, TP_EIO, "export: %s", strerror(errno));
        x->sent++;
        return 0;
    }
    char *msg = tp_audit_syslog_line(line, x->host, (int)getpid());
    if (!msg)
        return tp_error_set(err, TP_EPARSE, "%s:%d: not an audit record", x->path,
                            lineno);
    size_t n = strlen(msg);
    char pre[24];
    int pn = x->framed ? snprintf(pre, sizeof pre, "%zu ", n) : 0;
    int rc = 0;
    if ((pn && send(x->fd, pre, (size_t)pn, MSG_NOSIGNAL) != pn) ||
        send(x->fd, msg, n, MSG_NOSIGNAL) != (ssize_t)n)
        rc = tp_error_set(err, TP_EIO, "export: send: %s", strerror(errno));
    else
        x->sent++;
    free(msg);
    return rc;
}

/* A SIEM that stops reading fails the send after this long, not never. */
static void send_timeout(int fd)
{
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int connect_unix(const char *path, export_t *x, tp_error_t *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return tp_error_set(err, TP_EUSAGE, "export: socket path too long: %s", path);
    strcpy(sa.sun_path, path);
    int types[2] = {SOCK_DGRAM, SOCK_STREAM};
    for (int i = 0; i < 2; i++) {
        int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
        if (fd >= 0)
            send_timeout(fd);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            x->fd = fd;
            x->framed = types[i] == SOCK_STREAM;
            return 0;
        }
        if (fd >= 0)
            close(fd);
    }
    return tp_error_set(err, TP_EIO, "export: %s: %s", path, strerror(errno));
}

static int connect_tcp(const char *hostport, export_t *x, tp_error_t *err)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof host)
        return tp_error_set(err, TP_EUSAGE, "export: expected syslog+tcp:HOST:PORT");
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(host, colon + 1, &hints, &res);
    if (g)
        return tp_error_set(err, TP_EIO, "export: %s: %s", hostport, gai_strerror(g));
    int rc = TP_EIO;
    for (struct addrinfo *ai = res; ai && rc; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0)
            send_timeout(fd); /* also bounds a blocking connect on Linux */
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            x->fd = fd;
            x->framed = true;
            rc = 0;
        } else if (fd >= 0) {
            close(fd);
        }
    }
    freeaddrinfo(res);
    return rc ? tp_error_set(err, TP_EIO, "export: %s: %s", hostport, strerror(errno))
              : 0;
}

bool tp_audit_target_valid(const char *t)
{
    return (!strncmp(t, "jsonl:", 6) && t[6]) ||
           (!strncmp(t, "syslog+unix:", 12) && t[12]) ||
           (!strncmp(t, "syslog+tcp:", 11) && strrchr(t + 11, ':'));
}

int tp_audit_export(const char *path, const char *target, int64_t since, int *sent,
                    tp_error_t *err)
{
    int64_t last;
    return tp_audit_export_after(path, target, since, 0, sent, &last, err);
}

int tp_audit_export_after(const char *path, const char *target, int64_t since,
                          int64_t after_seq, int *sent, int64_t *last_seq,
                          tp_error_t *err)
{
    export_t x = {.fd = -1, .since = since, .after_seq = after_seq, .path = path};
    *last_seq = after_seq;
    int rc;
    *sent = 0;
    if (gethostname(x.host, sizeof x.host - 1) != 0)
        strcpy(x.host, "-");
    if (!strncmp(target, "jsonl:", 6)) {
        if (!(x.file = fopen(target + 6, "a")))
            return tp_error_set(err, TP_EIO, "export: %s: %s", target + 6,
                                strerror(errno));
        rc = 0;
    } else if (!strncmp(target, "syslog+unix:", 12)) {
        rc = connect_unix(target + 12, &x, err);
    } else if (!strncmp(target, "syslog+tcp:", 11)) {
        rc = connect_tcp(target + 11, &x, err);
    } else {
        return tp_error_set(err, TP_EUSAGE,
                            "export: expected jsonl:PATH, syslog+unix:PATH or "
                            "syslog+tcp:HOST:PORT, got \"%s\"",
                            target);
    }
    if (!rc)
        rc = lines_of(path, true, export_line, &x, err);
    if (x.file && fclose(x.file) != 0 && !rc)
        rc = tp_error_set(err, TP_EIO, "export: %s", strerror(errno));
    if (x.fd >= 0)
        close(x.fd);
    *sent = x.sent;
    if (x.sent)
        *last_seq = x.last_seq; /* the records before a failure did go out */
    return rc;
}
