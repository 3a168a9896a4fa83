/*
 * tests/testbed/farm.c — the emulated BMC farm and verifier (see testbed.h): a
 * small HTTP/1.1 server on libuv (keep-alive, one request at a time per
 * connection, responses delayed by the latency knob), Redfish trees from
 * mockups or generated from each node's facts, Redfish sessions, and signed EAR
 * tokens. Listens on 127.0.0.1 only. Test code: simple, bounded, deterministic
 * for a seed.
 */
#include "tests/testbed/testbed.h"
#include "util/file.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <uv.h>

#include <ctype.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#define MAX_REQUEST (64 * 1024)
#define MAX_MOCKUP_FILES 4096
#define TLS_READ_CHUNK 16384

typedef struct {
    char *path; /* "" for /redfish/v1, "Chassis/1U", … */
    char *body;
    size_t len;
} mdoc_t;

typedef struct {
    char name[128];
    mdoc_t *docs;
    int ndocs, cap;
} mockup_t;

typedef struct listener {
    uv_tcp_t tcp;
    struct tb *tb;
    int bmc; /* -1: the verifier */
} listener_t;

typedef struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    struct tb *tb;
    int bmc;
    char *buf;
    size_t len, cap;
    char *out;
    size_t outlen;
    bool busy, hung, close_after, closing;
    int handles;
    struct conn *prev, *next;
    /* HTTPS: the TLS state over memory BIOs; ciphertext is read into cbuf and
     * plaintext requests land in buf, as on a plain connection. */
    SSL *ssl;
    char *cbuf;
} conn_t;

typedef struct {
    char token[40];
    unsigned session;
    uint64_t login_ms;               /* loop time of the login, for session_ttl_ms */
    uint64_t last_request;           /* stats.requests at its latest request */
    uint64_t requests, att_requests; /* to this BMC / to the verifier for its node */
    uint64_t logins;                 /* sessions created */
} bmc_rt_t;

typedef struct {
    const char *id;
    int bmc;
} idx_t;

struct tb {
    uv_loop_t loop;
    uv_async_t stop;
    uv_thread_t thread;
    tb_opts_t o;
    listener_t *listeners;
    listener_t vlistener;
    uint16_t vport;
    mockup_t *mockups;
    int nmockups;
    int *bmc_mockup;
    bmc_rt_t *rt;
    idx_t *by_id; /* bmcs sorted by id */
    uint64_t rng;
    /* key_mu guards key_good, kid and jwks_text (tb_rotate_key swaps them), and
     * the BMCs' cap, draw, failed GPUs and fault (tb_set changes them) from
     * another thread. */
    uv_mutex_t key_mu;
    json_t *key_good, *key_wrong, *key_unknown, *jwks;
    char *jwks_text;
    char kid[64];
    SSL_CTX *ssl_ctx; /* BMC listeners speak HTTPS when set */
    char basic[256];
    conn_t *conns;
    int nconns;
    tb_stats_t stats;
    int64_t t0;
    unsigned next_session;
};

/* ---- small helpers
 * ------------------------------------------------------------------------- */

static double urand(struct tb *tb)
{
    /* xorshift64*: the farm's own, deterministic for a seed. */
    tb->rng ^= tb->rng >> 12;
    tb->rng ^= tb->rng << 25;
    tb->rng ^= tb->rng >> 27;
    return (double)((tb->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static char *xprintf(size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *xprintf(size_t *len, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !(s = malloc((size_t)n + 1)))
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (len)
        *len = (size_t)n;
    return s;
}

/* ---- mockups
 * ----------------------------------------------------------------------------------- */

static int mdoc_cmp(const void *a, const void *b)
{
    return strcmp(((const mdoc_t *)a)->path, ((const mdoc_t *)b)->path);
}

static void load_tree(mockup_t *m, const char *root, const char *rel, int depth)
{
    char dir[2048], file[2100];
    DIR *d;
    struct dirent *e;
    size_t len;
    char *body;
    tp_error_t rerr;
    if (depth > 16 || m->ndocs >= MAX_MOCKUP_FILES)
        return;
    snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel);
    snprintf(file, sizeof file, "%s/index.json", dir);
    /* A folder without index.json is only a step on the way to its children. */
    if (tp_file_read(file, (size_t)16 << 20, &body, &len, &rerr) == 0) {
        if (m->ndocs == m->cap) {
            int cap = m->cap ? 2 * m->cap : 64;
            mdoc_t *p = realloc(m->docs, (size_t)cap * sizeof *p);
            if (!p) {
                free(body);
                return;
            }
            m->docs = p;
            m->cap = cap;
        }
        m->docs[m->ndocs++] = (mdoc_t){strdup(rel), body, len};
    }
    if (!(d = opendir(dir)))
        return;
    while ((e = readdir(d))) {
        char sub[1024];
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "index.json") ||
            strstr(e->d_name, ".txt") || strstr(e->d_name, ".md"))
            continue;
        snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        load_tree(m, root, sub, depth + 1);
    }
    closedir(d);
}

static int mockup_index(struct tb *tb, const char *name)
{
    char root[1024];
    mockup_t *m, *p;
    for (int i = 0; i < tb->nmockups; i++)
        if (!strcmp(tb->mockups[i].name, name))
            return i;
    if (!tb->o.mockup_root)
        return -1;
    p = realloc(tb->mockups, (size_t)(tb->nmockups + 1) * sizeof *p);
    if (!p)
        return -1;
    tb->mockups = p;
    m = &tb->mockups[tb->nmockups];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(root, sizeof root, "%s/%s", tb->o.mockup_root, name);
    load_tree(m, root, "", 0);
    if (m->ndocs == 0) {
        free(m->docs);
        return -1;
    }
    qsort(m->docs, (size_t)m->ndocs, sizeof *m->docs, mdoc_cmp);
    return tb->nmockups++;
}

static const mdoc_t *mockup_get(const mockup_t *m, const char *rel)
{
    mdoc_t key = {(char *)rel, NULL, 0};
    return bsearch(&key, m->docs, (size_t)m->ndocs, sizeof *m->docs, mdoc_cmp);
}

/* ---- generated trees
 * ------------------------------------------------------------------------------ */

static double cap_now(struct tb *tb, const tb_bmc_t *b)
{
    int64_t t = (int64_t)time(NULL) - tb->t0;
    if (tb->o.cap_change_s <= 0)
        return b->cap_w;
    return b->cap_w * (1.0 - 0.1 * (double)((t / tb->o.cap_change_s) % 3));
}

/* The generated Redfish tree of bmc b: path relative to /redfish/v1. */
static char *generated(struct tb *tb, const tb_bmc_t *b, const char *rel, size_t *len,
                       int *status)
{
    double cap = cap_now(tb, b);
    int gpu;
    *status = 200;
    if (!strcmp(rel, ""))
        return xprintf(
            len,
            "{\"@odata.id\":\"/redfish/v1\",\"Id\":\"RootService\","
            "\"RedfishVersion\":\"1.15.0\",%s"
            "\"Chassis\":{\"@odata.id\":\"/redfish/v1/Chassis\"},"
            "\"Systems\":{\"@odata.id\":\"/redfish/v1/Systems\"},"
            "\"SessionService\":{\"@odata.id\":\"/redfish/v1/SessionService\"},"
            "\"Links\":{\"Sessions\":{\"@odata.id\":"
            "\"/redfish/v1/SessionService/Sessions\"}}}",
            tb->o.no_expand ? ""
                            : "\"ProtocolFeaturesSupported\":{\"ExpandQuery\":{"
                              "\"ExpandAll\":true,\"Levels\":true,\"MaxLevels\":1,"
                              "\"Links\":false,\"NoLinks\":true}},");
    if (!strcmp(rel, "Chassis"))
        return xprintf(len,
                       "{\"@odata.id\":\"/redfish/v1/Chassis\",\"Members@odata.count\":1,"
                       "\"Members\":[{\"@odata.id\":\"/redfish/v1/Chassis/C1\"}]}");
    if (!strcmp(rel, "Systems"))
        return xprintf(len,
                       "{\"@odata.id\":\"/redfish/v1/Systems\",\"Members@odata.count\":1,"
                       "\"Members\":[{\"@odata.id\":\"/redfish/v1/Systems/S1\"}]}");
    if (!strcmp(rel, "Chassis/C1")) {
        char loc[96] = "";
        if (b->country[0])
            snprintf(loc, sizeof loc,
                     "\"Location\":{\"PostalAddress\":{\"Country\":\"%s\"}},",
                     b->country);
        return xprintf(len,
                       "{\"@odata.id\":\"/redfish/v1/Chassis/C1\",\"Id\":\"C1\","
                       "\"ChassisType\":\"RackMount\",%s"
                       "\"EnvironmentMetrics\":{\"@odata.id\":"
                       "\"/redfish/v1/Chassis/C1/EnvironmentMetrics%s\"},"
                       "\"Controls\":{\"@odata.id\":\"/redfish/v1/Chassis/C1/Controls\"},"
                       "\"Power\":{\"@odata.id\":\"/redfish/v1/Chassis/C1/Power\"},"
                       "\"Links\":{\"ComputerSystems\":[{\"@odata.id\":\"/redfish/v1/"
                       "Systems/S1\"}]}}",
                       loc, b->fault == TB_FAULT_MOVED ? "2" : "");
    }
    /* TB_FAULT_MOVED: a firmware update moved the resource; the old URI is gone. */
    if (!strcmp(rel, b->fault == TB_FAULT_MOVED ? "Chassis/C1/EnvironmentMetrics2"
                                                : "Chassis/C1/EnvironmentMetrics"))
        return xprintf(
            len,
            "{\"@odata.id\":\"/redfish/v1/Chassis/C1/EnvironmentMetrics%s\","
            "\"PowerWatts\":{\"Reading\":%.0f},"
            "\"PowerLimitWatts\":{\"SetPoint\":%.0f,\"ControlMode\":\"Automatic\","
            "\"DataSourceUri\":\"/redfish/v1/Chassis/C1/Controls/NodePowerLimit\"}}",
            b->fault == TB_FAULT_MOVED ? "2" : "", b->draw_w, cap);
    if (!strcmp(rel, "Chassis/C1/Controls"))
        return xprintf(len, "{\"@odata.id\":\"/redfish/v1/Chassis/C1/Controls\","
                            "\"Members\":[{\"@odata.id\":"
                            "\"/redfish/v1/Chassis/C1/Controls/NodePowerLimit\"}]}");
    if (!strcmp(rel, "Chassis/C1/Controls/NodePowerLimit"))
        return xprintf(
            len,
            "{\"@odata.id\":\"/redfish/v1/Chassis/C1/Controls/NodePowerLimit\","
            "\"Id\":\"NodePowerLimit\",\"ControlType\":\"Power\","
            "\"PhysicalContext\":\"Chassis\",\"ControlMode\":\"Automatic\","
            "\"SetPoint\":%.0f,\"Sensor\":{\"Reading\":%.0f},"
            "\"Status\":{\"State\":\"Enabled\",\"Health\":\"OK\"}}",
            cap, b->draw_w);
    if (!strcmp(rel, "Chassis/C1/Power"))
        return xprintf(
            len,
            "{\"@odata.id\":\"/redfish/v1/Chassis/C1/Power\",\"PowerControl\":[{"
            "\"PowerConsumedWatts\":%.0f,\"PowerLimit\":{\"LimitInWatts\":%.0f},"
            "\"Status\":{\"State\":\"Enabled\",\"Health\":\"OK\"}}]}",
            b->draw_w, cap);
    if (!strcmp(rel, "Systems/S1"))
        return xprintf(
            len, "{\"@odata.id\":\"/redfish/v1/Systems/S1\",\"Id\":\"S1\","
                 "\"Processors\":{\"@odata.id\":\"/redfish/v1/Systems/S1/Processors\"},"
                 "\"Links\":{\"Chassis\":[{\"@odata.id\":\"/redfish/v1/Chassis/C1\"}]}}");
    if (!strcmp(rel, "Systems/S1/Processors")) {
        size_t cap_b = 256 + (size_t)b->gpus * 64, o;
        char *s = malloc(cap_b);
        if (!s)
            return NULL;
        o = (size_t)snprintf(
            s, cap_b,
            "{\"@odata.id\":\"/redfish/v1/Systems/S1/Processors\","
            "\"Members\":[{\"@odata.id\":\"/redfish/v1/Systems/S1/Processors/CPU0\"},"
            "{\"@odata.id\":\"/redfish/v1/Systems/S1/Processors/CPU1\"}");
        for (int g = 0; g < b->gpus; g++)
            o += (size_t)snprintf(
                s + o, cap_b - o,
                ",{\"@odata.id\":\"/redfish/v1/Systems/S1/Processors/GPU%d\"}", g);
        o += (size_t)snprintf(s + o, cap_b - o, "]}");
        *len = o;
        return s;
    }
    if (!strncmp(rel, "Systems/S1/Processors/CPU", 25) &&
        (rel[25] == '0' || rel[25] == '1') && !rel[26])
        return xprintf(len,
                       "{\"@odata.id\":\"/redfish/v1/Systems/S1/Processors/CPU%c\","
                       "\"ProcessorType\":\"CPU\",\"Model\":\"Xeon\","
                       "\"Status\":{\"State\":\"Enabled\",\"Health\":\"OK\"}}",
                       rel[25]);
    if (sscanf(rel, "Systems/S1/Processors/GPU%d", &gpu) == 1 && gpu >= 0 &&
        gpu < b->gpus) {
        if (gpu == 0 && b->fault == TB_FAULT_404_MEMBER) {
            *status = 404;
            return xprintf(len,
                           "{\"error\":{\"code\":\"Base.1.0.ResourceMissingAtURI\"}}");
        }
        return xprintf(len,
                       "{\"@odata.id\":\"/redfish/v1/Systems/S1/Processors/GPU%d\","
                       "\"ProcessorType\":\"GPU\",\"Model\":\"NVIDIA H100 80GB HBM3\","
                       "\"Manufacturer\":\"NVIDIA\","
                       "\"Status\":{\"State\":\"Enabled\",\"Health\":\"%s\"}}",
                       gpu, gpu < b->gpus_failed ? "Critical" : "OK");
    }
    *status = 404;
    return xprintf(len, "{\"error\":{\"code\":\"Base.1.0.ResourceMissingAtURI\"}}");
}

static char *metrics(const tb_bmc_t *b, size_t *len)
{
    size_t cap = 512 + (size_t)b->gpus * 1024, o = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    o += (size_t)snprintf(s, cap,
                          "# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).\n"
                          "# TYPE DCGM_FI_DEV_POWER_USAGE gauge\n");
    for (int g = 0; g < b->gpus; g++)
        o += (size_t)snprintf(
            s + o, cap - o,
            "DCGM_FI_DEV_POWER_USAGE{gpu=\"%d\",UUID=\"GPU-%04d\",device=\"nvidia%d\","
            "modelName=\"NVIDIA H100 80GB HBM3\",Hostname=\"%s\"} %.3f\n"
            "DCGM_FI_DEV_GPU_UTIL{gpu=\"%d\",UUID=\"GPU-%04d\",Hostname=\"%s\"} %d\n"
            "DCGM_FI_DEV_FB_FREE{gpu=\"%d\",UUID=\"GPU-%04d\",Hostname=\"%s\"} %d\n",
            g, g, g, b->id, 300.0 + g, g, g, b->id, 50 + g, g, g, b->id, 70000);
    *len = o;
    return s;
}

/* ---- the verifier
 * -------------------------------------------------------------------------------- */

static int by_id_cmp(const void *a, const void *b)
{
    return strcmp(((const idx_t *)a)->id, ((const idx_t *)b)->id);
}

static int find_node(struct tb *tb, const char *id)
{
    idx_t key = {id, -1};
    const idx_t *hit =
        bsearch(&key, tb->by_id, (size_t)tb->o.nbmcs, sizeof key, by_id_cmp);
    return hit ? hit->bmc : -1;
}

static void url_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (s[0] == '%' && isxdigit((unsigned char)s[1]) &&
            isxdigit((unsigned char)s[2])) {
            char hex[3] = {s[1], s[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

static char *token_for(struct tb *tb, const tb_bmc_t *b, const char *nonce, size_t *len)
{
    int64_t now = (int64_t)time(NULL), iat = now, exp = now + 300;
    const char *status = "affirming", *kid;
    json_t *key;
    char jti[96], header[160], *payload, *tok;
    json_t *claims;
    uv_mutex_lock(&tb->key_mu);
    key = json_incref(tb->key_good);
    kid = tb->kid;
    switch (b->att) {
    case TB_ATT_EXPIRED:
        iat = now - 7200;
        exp = now - 3600;
        break;
    case TB_ATT_WRONG_KEY: /* the kid in use, another key */
        json_decref(key);
        key = json_incref(tb->key_wrong);
        break;
    case TB_ATT_UNKNOWN_KID: /* a kid the JWKS never holds */
        json_decref(key);
        key = json_incref(tb->key_unknown);
        kid = "tb-never";
        break;
    case TB_ATT_CONTRAINDICATED:
        status = "contraindicated";
        break;
    case TB_ATT_WARNING:
        status = "warning";
        break;
    default:
        break;
    }
    snprintf(jti, sizeof jti, "tb-%s-%" PRIu64, b->id, ++tb->stats.tokens);
    claims =
        tb_ear_claims(b->cpu_tee ? b->cpu_tee : "tdx", b->gpu_cc, status, iat, exp, jti);
    /* The node the result is for (verifiers bind by "sub"). */
    /* A relying-party nonce (?nonce=) comes back as eat_nonce. */
    if (claims && nonce)
        json_object_set_new(
            claims, "eat_nonce",
            json_string(b->att == TB_ATT_BAD_NONCE ? "not-the-nonce-sent" : nonce));
    if (claims && b->att != TB_ATT_UNNAMED)
        json_object_set_new(
            claims, "sub",
            json_string(b->att == TB_ATT_OTHER_NODE ? "another-node" : b->id));
    payload = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
    json_decref(claims);
    snprintf(header, sizeof header, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             kid);
    uv_mutex_unlock(&tb->key_mu);
    tok = payload ? tb_sign(key, header, payload) : NULL;
    json_decref(key);
    free(payload);
    if (tok)
        *len = strlen(tok);
    return tok;
}

/* ---- HTTP
 * -------------------------------------------------------------------------------------------
 */

typedef struct {
    char method[8];
    char target[1024];
    const char *auth, *token; /* borrowed from the buffer */
    size_t auth_len, token_len;
    bool close;
    const char *body;
    size_t body_len;
} http_req_t;

static void conn_close(conn_t *c);

static void on_conn_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    if (--c->handles == 0) {
        SSL_free(c->ssl);
        free(c->cbuf);
        free(c->buf);
        free(c->out);
        free(c);
    }
}

static void conn_close(conn_t *c)
{
    struct tb *tb = c->tb;
    if (c->closing)
        return;
    c->closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        tb->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    tb->nconns--;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

/* ---- HTTPS over memory BIOs ---- */

typedef struct {
    uv_write_t w;
    char data[];
} tls_write_t;

static void on_tls_flushed(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

/* The ciphertext OpenSSL has queued (handshake records, alerts), written out. */
static int tls_flush(conn_t *c)
{
    size_t n = BIO_ctrl_pending(SSL_get_wbio(c->ssl));
    tls_write_t *fw;
    uv_buf_t b;
    if (!n)
        return 0;
    if (!(fw = malloc(sizeof *fw + n)))
        return -1;
    if (BIO_read(SSL_get_wbio(c->ssl), fw->data, (int)n) != (int)n) {
        free(fw);
        return -1;
    }
    b = uv_buf_init(fw->data, (unsigned)n);
    if (uv_write(&fw->w, (uv_stream_t *)&c->tcp, &b, 1, on_tls_flushed) < 0) {
        free(fw);
        return -1;
    }
    return 0;
}

/* Replaces the plaintext response in c->out by its TLS records. */
static int tls_seal(conn_t *c)
{
    BIO *wb = SSL_get_wbio(c->ssl);
    size_t n;
    char *ct;
    if (c->outlen && SSL_write(c->ssl, c->out, (int)c->outlen) != (int)c->outlen)
        return -1;
    n = BIO_ctrl_pending(wb);
    if (!(ct = malloc(n ? n : 1)) || BIO_read(wb, ct, (int)n) != (int)n) {
        free(ct);
        return -1;
    }
    free(c->out);
    c->out = ct;
    c->outlen = n;
    return 0;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    default:
        return "Internal Server Error";
    }
}

static void process(conn_t *c);

static void on_written(uv_write_t *w, int status)
{
    conn_t *c = w->data;
    free(c->out);
    c->out = NULL;
    c->busy = false;
    if (status < 0 || c->close_after) {
        conn_close(c);
        return;
    }
    c->tb->stats.responses++;
    process(c);
}

static void on_delay(uv_timer_t *t)
{
    conn_t *c = t->data;
    uv_buf_t b;
    if (c->ssl && tls_seal(c) < 0) {
        conn_close(c);
        return;
    }
    b = uv_buf_init(c->out, (unsigned)c->outlen);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0)
        conn_close(c);
}

/* Queues a response after the latency knob. body is taken (may be NULL). */
static void respond(conn_t *c, int status, const char *ctype, char *body, size_t blen,
                    const char *extra)
{
    struct tb *tb = c->tb;
    double lat = c->bmc < 0 ? tb->o.verifier_latency_ms : tb->o.latency_ms;
    double jit = c->bmc < 0 ? 0 : tb->o.jitter_ms;
    size_t hl;
    char head[512];
    double delay = lat + jit * (2 * urand(tb) - 1);
    if (c->bmc >= 0 && tb->o.bmcs[c->bmc].fault == TB_FAULT_SLOW)
        delay += 1000;
    hl = (size_t)snprintf(
        head, sizeof head,
        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n", status,
        reason(status), ctype, blen, extra ? extra : "",
        c->close_after ? "Connection: close\r\n" : "");
    c->out = malloc(hl + blen);
    if (!c->out) {
        free(body);
        conn_close(c);
        return;
    }
    memcpy(c->out, head, hl);
    if (blen)
        memcpy(c->out + hl, body, blen);
    c->outlen = hl + blen;
    free(body);
    if (status >= 500)
        tb->stats.errors++;
    uv_timer_start(&c->timer, on_delay, delay > 0 ? (uint64_t)delay : 0, 0);
}

static bool authorised(struct tb *tb, int bi, const http_req_t *r)
{
    const bmc_rt_t *rt = &tb->rt[bi];
    if (r->token && rt->token[0] && r->token_len == strlen(rt->token) &&
        !memcmp(r->token, rt->token, r->token_len)) {
        /* A stale session: the BMC forgot it, the client still sends it. */
        if (tb->o.bmcs[bi].fault == TB_FAULT_STALE ||
            (tb->o.session_ttl_ms > 0 &&
             uv_now(&tb->loop) - rt->login_ms >= (uint64_t)tb->o.session_ttl_ms)) {
            tb->stats.expired_tokens++;
            return false;
        }
        return true;
    }
    return r->auth && r->auth_len == strlen(tb->basic) &&
           !memcmp(r->auth, tb->basic, r->auth_len);
}

/* A token that another BMC of the farm issued, sent here: a leak. */
static void count_foreign(struct tb *tb, int bi, const http_req_t *r)
{
    /* Tokens carry the farm-wide session number: the BMC's own is no other's. */
    if (tb->rt[bi].token[0] && r->token_len == strlen(tb->rt[bi].token) &&
        !memcmp(r->token, tb->rt[bi].token, r->token_len))
        return;
    for (int j = 0; j < tb->o.nbmcs; j++)
        if (j != bi && tb->rt[j].token[0] && r->token_len == strlen(tb->rt[j].token) &&
            !memcmp(r->token, tb->rt[j].token, r->token_len)) {
            tb->stats.foreign_tokens++;
            return;
        }
}

/* The document at rel (relative to /redfish/v1) of BMC bi; *status 200 or 404. */
static char *lookup(struct tb *tb, int bi, const tb_bmc_t *b, const char *rel,
                    size_t *len, int *status)
{
    char *body = NULL;
    *status = 200;
    if (tb->bmc_mockup[bi] >= 0) {
        const mdoc_t *d = mockup_get(&tb->mockups[tb->bmc_mockup[bi]], rel);
        if (d) {
            body = malloc(d->len + 1);
            if (body)
                memcpy(body, d->body, d->len);
            *len = d->len;
            return body;
        }
        *status = 404;
        return xprintf(len, "{\"error\":{\"code\":\"Base.1.0.ResourceMissingAtURI\"}}");
    }
    return generated(tb, b, rel, len, status);
}

/* $expand=.($levels=1) on a collection: each member's document inline. */
static char *expand(struct tb *tb, int bi, const tb_bmc_t *b, char *body, size_t *len)
{
    json_t *doc = json_loadb(body, *len, 0, NULL), *m, *e;
    size_t i;
    char *out;
    m = json_object_get(doc, "Members");
    if (!json_is_array(m)) {
        json_decref(doc);
        return body;
    }
    if (tb->bmc_mockup[bi] < 0) {
        /* A generated tree's documents are well-formed objects: spliced in as
         * text, which keeps the farm's CPU (on the collector's cores) low. */
        size_t cap = 256, o = 0;
        char *s = malloc(cap), *p;
        const char *self = json_string_value(json_object_get(doc, "@odata.id"));
        int k = snprintf(s ? s : "", s ? cap : 0, "{\"@odata.id\":\"%s\",\"Members\":[",
                         self ? self : "");
        o = s ? (size_t)k : 0;
        json_array_foreach (m, i, e) {
            const char *id = json_string_value(json_object_get(e, "@odata.id"));
            size_t ml = 0;
            int st = 0;
            char *mb = id && !strncmp(id, "/redfish/v1/", 12)
                           ? lookup(tb, bi, b, id + 12, &ml, &st)
                           : NULL;
            char *link = mb && st == 200 ? NULL : json_dumps(e, JSON_COMPACT);
            const char *piece = link ? link : mb;
            size_t pl = piece ? (link ? strlen(link) : ml) : 0;
            if (s && o + pl + 4 > cap) {
                cap = 2 * (o + pl + 4);
                if (!(p = realloc(s, cap))) {
                    free(s);
                    s = NULL;
                } else {
                    s = p;
                }
            }
            if (s && piece) {
                if (i)
                    s[o++] = ',';
                memcpy(s + o, piece, pl);
                o += pl;
            }
            free(mb);
            free(link);
        }
        json_decref(doc);
        if (!s)
            return body;
        memcpy(s + o, "]}", 3);
        free(body);
        *len = o + 2;
        return s;
    }
    json_array_foreach (m, i, e) {
        const char *id = json_string_value(json_object_get(e, "@odata.id"));
        size_t ml = 0;
        int st = 0;
        char *mb;
        json_t *md;
        if (!id || strncmp(id, "/redfish/v1/", 12) != 0)
            continue;
        mb = lookup(tb, bi, b, id + 12, &ml, &st);
        md = mb && st == 200 ? json_loadb(mb, ml, 0, NULL) : NULL;
        free(mb);
        if (json_is_object(md))
            json_array_set_new(m, i, md);
        else
            json_decref(md);
    }
    out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!out)
        return body;
    free(body);
    *len = strlen(out);
    return out;
}

static void serve_bmc(conn_t *c, http_req_t *r)
{
    struct tb *tb = c->tb;
    tb_bmc_t snap;
    const tb_bmc_t *b = &snap;
    bmc_rt_t *rt = &tb->rt[c->bmc];
    char *path = r->target, *body = NULL, extra[256] = "";
    size_t len = 0, pl;
    int status = 200;
    bool root, want_expand = strstr(path, "?$expand=") != NULL && !tb->o.no_expand;
    pl = strcspn(path, "?#");
    path[pl] = '\0';
    while (pl > 11 && path[pl - 1] == '/')
        path[--pl] = '\0';
    root = !strcmp(path, "/redfish/v1");
    uv_mutex_lock(&tb->key_mu);
    snap = tb->o.bmcs[c->bmc];
    uv_mutex_unlock(&tb->key_mu);
    if (b->fault == TB_FAULT_HANG || urand(tb) < tb->o.hang_rate) {
        c->hung = true;
        tb->stats.hangs++;
        return;
    }
    if (!strcmp(path, "/metrics") && !strcmp(r->method, "GET")) {
        body = metrics(b, &len);
        respond(c, 200, "text/plain; version=0.0.4", body, len, NULL);
        return;
    }
    if (!strcmp(path, "/redfish/v1/SessionService/Sessions") &&
        !strcmp(r->method, "POST")) {
        json_t *j = json_loadb(r->body ? r->body : "", r->body_len, 0, NULL);
        const char *u = json_string_value(json_object_get(j, "UserName"));
        const char *p = json_string_value(json_object_get(j, "Password"));
        const char *wu = tb->o.user ? tb->o.user : "admin",
                   *wp = tb->o.password ? tb->o.password : "secret";
        bool ok =
            u && p && !strcmp(u, wu) && !strcmp(p, wp) && b->fault != TB_FAULT_LOGIN;
        json_decref(j);
        if (!ok) {
            body = xprintf(&len, "{\"error\":{\"code\":\"Base.1.0.NoValidSession\"}}");
            respond(c, 401, "application/json", body, len, NULL);
            return;
        }
        rt->session = ++tb->next_session;
        rt->login_ms = uv_now(&tb->loop);
        snprintf(rt->token, sizeof rt->token, "tb%08x%08x", rt->session,
                 (unsigned)(urand(tb) * 4294967295.0));
        if (b->fault == TB_FAULT_XORIGIN)
            snprintf(extra, sizeof extra,
                     "X-Auth-Token: %s\r\nLocation: http://127.0.0.1:%u@127.0.0.1:%u"
                     "/redfish/v1/SessionService/Sessions/%u\r\n",
                     rt->token, b->port, tb->o.bmcs[(c->bmc + 1) % tb->o.nbmcs].port,
                     rt->session);
        else
            snprintf(extra, sizeof extra,
                     "X-Auth-Token: %s\r\nLocation: "
                     "/redfish/v1/SessionService/Sessions/%u\r\n",
                     rt->token, rt->session);
        body = xprintf(
            &len,
            "{\"@odata.id\":\"/redfish/v1/SessionService/Sessions/%u\",\"Id\":\"%u\"}",
            rt->session, rt->session);
        tb->stats.logins++;
        rt->logins++;
        respond(c, 201, "application/json", body, len, extra);
        return;
    }
    if (!strcmp(r->method, "DELETE")) {
        unsigned sid = 0;
        if (sscanf(path, "/redfish/v1/SessionService/Sessions/%u", &sid) == 1 &&
            sid == rt->session && authorised(tb, c->bmc, r)) {
            rt->token[0] = '\0';
            rt->session = 0;
            tb->stats.logouts++;
            respond(c, 204, "application/json", NULL, 0, NULL);
        } else {
            respond(c, 404, "application/json", xprintf(&len, "{}"), len, NULL);
        }
        return;
    }
    if (strcmp(r->method, "GET") != 0) {
        respond(c, 405, "application/json", xprintf(&len, "{}"), len, NULL);
        return;
    }
    if (!root && tb->o.auth && !authorised(tb, c->bmc, r)) {
        body = xprintf(&len, "{\"error\":{\"code\":\"Base.1.0.InsufficientPrivilege\"}}");
        respond(c, 401, "application/json", body, len, NULL);
        return;
    }
    if ((!root && b->fault == TB_FAULT_500) || urand(tb) < tb->o.error_rate) {
        body = xprintf(&len, "{\"error\":{\"code\":\"Base.1.0.InternalError\"}}");
        respond(c, 500, "application/json", body, len, NULL);
        return;
    }
    if (strncmp(path, "/redfish/v1", 11) != 0) {
        respond(c, 404, "application/json", xprintf(&len, "{}"), len, NULL);
        return;
    }
    body = lookup(tb, c->bmc, b, path[11] == '/' ? path + 12 : path + 11, &len, &status);
    if (body && status == 200 && want_expand)
        body = expand(tb, c->bmc, b, body, &len);
    if (status == 200 && !root &&
        (b->fault == TB_FAULT_TRUNCATED || urand(tb) < tb->o.malformed_rate)) {
        len /= 2;
        tb->stats.malformed++;
    }
    respond(c, status, "application/json", body, len, NULL);
}

static void serve_verifier(conn_t *c, http_req_t *r)
{
    struct tb *tb = c->tb;
    size_t len = 0;
    char *body, *q;
    const char *nonce = NULL;
    int bi;
    if (!strcmp(r->target, "/.well-known/jwks.json")) {
        uv_mutex_lock(&tb->key_mu);
        body = strdup(tb->jwks_text);
        uv_mutex_unlock(&tb->key_mu);
        tb->stats.jwks_fetches++;
        respond(c, 200, "application/json", body, body ? strlen(body) : 0, NULL);
        return;
    }
    if (!strcmp(r->target, "/_testbed/counts")) { /* who polled what (HA tests) */
        json_t *doc = json_pack("{s:{},s:{},s:{}}", "bmc", "att", "logins");
        for (int i = 0; doc && i < tb->o.nbmcs; i++) {
            json_object_set_new(json_object_get(doc, "bmc"), tb->o.bmcs[i].id,
                                json_integer((json_int_t)tb->rt[i].requests));
            json_object_set_new(json_object_get(doc, "att"), tb->o.bmcs[i].id,
                                json_integer((json_int_t)tb->rt[i].att_requests));
            json_object_set_new(json_object_get(doc, "logins"), tb->o.bmcs[i].id,
                                json_integer((json_int_t)tb->rt[i].logins));
        }
        body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        respond(c, body ? 200 : 500, "application/json", body, body ? strlen(body) : 0,
                NULL);
        return;
    }
    if (strncmp(r->target, "/attestation/", 13) != 0) {
        respond(c, 404, "application/json", xprintf(&len, "{}"), len, NULL);
        return;
    }
    if ((q = strchr(r->target, '?')) != NULL) {
        *q = '\0';
        if (!strncmp(q + 1, "nonce=", 6))
            nonce = q + 7;
    }
    url_decode(r->target + 13);
    bi = find_node(tb, r->target + 13);
    if (bi >= 0)
        tb->rt[bi].att_requests++;
    if (bi < 0 || tb->o.bmcs[bi].att == TB_ATT_MISSING) {
        respond(c, 404, "application/json", xprintf(&len, "{\"error\":\"no result\"}"),
                len, NULL);
        return;
    }
    body = token_for(tb, &tb->o.bmcs[bi], nonce, &len);
    if (!body)
        respond(c, 500, "application/json", xprintf(&len, "{}"), len, NULL);
    else
        respond(c, 200, "application/jwt", body, len, NULL);
}

static const char *find_header(const char *h, const char *end, const char *name,
                               size_t *vlen)
{
    size_t nl = strlen(name);
    while (h < end) {
        const char *eol = memchr(h, '\n', (size_t)(end - h));
        if (!eol)
            eol = end;
        if ((size_t)(eol - h) > nl && !strncasecmp(h, name, nl) && h[nl] == ':') {
            const char *v = h + nl + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        h = eol + 1;
    }
    return NULL;
}

/* Handles the next complete request in the buffer, if any. */
static void process(conn_t *c)
{
    char *hend, *sp1, *sp2;
    size_t hlen, clen = 0, vlen, total;
    const char *v;
    http_req_t r;
    if (c->busy || c->hung || c->closing || !c->len)
        return;
    hend = NULL;
    for (size_t i = 0; i + 4 <= c->len; i++)
        if (!memcmp(c->buf + i, "\r\n\r\n", 4)) {
            hend = c->buf + i;
            break;
        }
    if (!hend) {
        if (c->len > MAX_REQUEST)
            conn_close(c);
        return;
    }
    hlen = (size_t)(hend - c->buf) + 4;
    memset(&r, 0, sizeof r);
    if ((v = find_header(c->buf, hend, "Content-Length", &vlen)))
        clen = (size_t)strtoul(v, NULL, 10);
    if (clen > MAX_REQUEST) {
        conn_close(c);
        return;
    }
    total = hlen + clen;
    if (c->len < total)
        return;
    sp1 = memchr(c->buf, ' ', hlen);
    sp2 = sp1 ? memchr(sp1 + 1, ' ', hlen - (size_t)(sp1 + 1 - c->buf)) : NULL;
    if (!sp1 || !sp2 || (size_t)(sp1 - c->buf) >= sizeof r.method ||
        (size_t)(sp2 - sp1 - 1) >= sizeof r.target) {
        conn_close(c);
        return;
    }
    memcpy(r.method, c->buf, (size_t)(sp1 - c->buf));
    memcpy(r.target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    r.auth = find_header(c->buf, hend, "Authorization", &r.auth_len);
    r.token = find_header(c->buf, hend, "X-Auth-Token", &r.token_len);
    if ((v = find_header(c->buf, hend, "Connection", &vlen)) && vlen == 5 &&
        !strncasecmp(v, "close", 5))
        c->close_after = true;
    r.body = clen ? c->buf + hlen : NULL;
    r.body_len = clen;
    c->busy = true;
    c->tb->stats.requests++;
    if (c->bmc >= 0) {
        c->tb->rt[c->bmc].last_request = c->tb->stats.requests;
        c->tb->rt[c->bmc].requests++;
    }
    if (r.token && c->bmc >= 0)
        count_foreign(c->tb, c->bmc, &r);
    if (c->bmc < 0)
        serve_verifier(c, &r);
    else
        serve_bmc(c, &r);
    /* The request's bytes are consumed (the response holds its own copy). */
    memmove(c->buf, c->buf + total, c->len - total);
    c->len -= total;
}

/* Room for at least 4 KiB more of request in c->buf; -1 past the cap. */
static int reserve(conn_t *c)
{
    if (c->cap - c->len < 4096) {
        size_t nc = c->cap ? c->cap * 2 : 4096;
        char *p = nc <= 2 * MAX_REQUEST ? realloc(c->buf, nc) : NULL;
        if (!p)
            return -1;
        c->buf = p;
        c->cap = nc;
    }
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    conn_t *c = h->data;
    (void)hint;
    if (c->ssl)
        *b = uv_buf_init(c->cbuf, TLS_READ_CHUNK);
    else if (reserve(c) < 0)
        *b = uv_buf_init(NULL, 0);
    else
        *b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

/* Ciphertext in, plaintext into c->buf; handshake records out. */
static int tls_read(conn_t *c, size_t n)
{
    if (BIO_write(SSL_get_rbio(c->ssl), c->cbuf, (int)n) != (int)n)
        return -1;
    for (;;) {
        int r, e;
        if (reserve(c) < 0)
            return -1;
        r = SSL_read(c->ssl, c->buf + c->len, (int)(c->cap - c->len));
        if (r > 0) {
            c->len += (size_t)r;
            continue;
        }
        e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ)
            return tls_flush(c);
        if (!SSL_is_init_finished(c->ssl))
            c->tb->stats.tls_failures++;
        tls_flush(c); /* the alert, if any */
        ERR_clear_error();
        return -1;
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    conn_t *c = s->data;
    (void)b;
    if (n < 0 || (c->ssl && n > 0 && tls_read(c, (size_t)n) < 0)) {
        conn_close(c);
        return;
    }
    if (!c->ssl)
        c->len += (size_t)n;
    process(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    listener_t *l = server->data;
    struct tb *tb = l->tb;
    conn_t *c;
    if (status < 0) {
        tb->stats.accept_failures++;
        return;
    }
    c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->tb = tb;
    c->bmc = l->bmc;
    if (tb->ssl_ctx && l->bmc >= 0) {
        BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
        c->ssl = SSL_new(tb->ssl_ctx);
        c->cbuf = malloc(TLS_READ_CHUNK);
        if (!c->ssl || !rb || !wb || !c->cbuf) {
            BIO_free(rb);
            BIO_free(wb);
            SSL_free(c->ssl);
            free(c->cbuf);
            free(c);
            return;
        }
        SSL_set_bio(c->ssl, rb, wb);
        SSL_set_accept_state(c->ssl);
    }
    uv_tcp_init(&tb->loop, &c->tcp);
    uv_timer_init(&tb->loop, &c->timer);
    c->handles = 2;
    c->tcp.data = c->timer.data = c;
    c->next = tb->conns;
    if (tb->conns)
        tb->conns->prev = c;
    tb->conns = c;
    tb->stats.accepted++;
    if (++tb->nconns > tb->stats.max_connections)
        tb->stats.max_connections = tb->nconns;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 || uv_tcp_nodelay(&c->tcp, 1) < 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        conn_close(c);
}

/* ---- life cycle
 * ------------------------------------------------------------------------------------ */

static int listen_on(struct tb *tb, listener_t *l, int bmc, uint16_t port,
                     uint16_t *bound, char *err, size_t errlen)
{
    struct sockaddr_in addr;
    struct sockaddr_storage name;
    int nl = sizeof name, rc;
    l->tb = tb;
    l->bmc = bmc;
    uv_tcp_init(&tb->loop, &l->tcp);
    l->tcp.data = l;
    uv_ip4_addr("127.0.0.1", port, &addr);
    if ((rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&addr, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&l->tcp, 256, on_connection)) < 0 ||
        (rc = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&name, &nl)) < 0) {
        snprintf(err, errlen, "listen on 127.0.0.1:%u: %s", port, uv_strerror(rc));
        return -1;
    }
    *bound = ntohs(((struct sockaddr_in *)&name)->sin_port);
    return 0;
}

static void close_cb_noop(uv_handle_t *h)
{
    (void)h;
}

static void on_stop(uv_async_t *a)
{
    struct tb *tb = a->data;
    for (int i = 0; i < tb->o.nbmcs; i++)
        if (!uv_is_closing((uv_handle_t *)&tb->listeners[i].tcp))
            uv_close((uv_handle_t *)&tb->listeners[i].tcp, close_cb_noop);
    if (tb->o.verifier && !uv_is_closing((uv_handle_t *)&tb->vlistener.tcp))
        uv_close((uv_handle_t *)&tb->vlistener.tcp, close_cb_noop);
    while (tb->conns)
        conn_close(tb->conns);
    uv_close((uv_handle_t *)&tb->stop, close_cb_noop);
}

static void run(void *arg)
{
    struct tb *tb = arg;
    uv_run(&tb->loop, UV_RUN_DEFAULT);
}

static void tb_free(struct tb *tb)
{
    for (int i = 0; i < tb->nmockups; i++) {
        for (int k = 0; k < tb->mockups[i].ndocs; k++) {
            free(tb->mockups[i].docs[k].path);
            free(tb->mockups[i].docs[k].body);
        }
        free(tb->mockups[i].docs);
    }
    free(tb->mockups);
    free(tb->bmc_mockup);
    free(tb->rt);
    free(tb->by_id);
    free(tb->listeners);
    json_decref(tb->key_good);
    json_decref(tb->key_wrong);
    json_decref(tb->key_unknown);
    json_decref(tb->jwks);
    free(tb->jwks_text);
    SSL_CTX_free(tb->ssl_ctx);
    uv_mutex_destroy(&tb->key_mu);
    free(tb);
}

/* The BMCs' TLS context from a PEM chain and key. */
static SSL_CTX *tls_context(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        char e[160];
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        snprintf(err, errlen, "TLS certificate %s / key %s: %s", cert, key, e);
        SSL_CTX_free(ctx);
        ERR_clear_error();
        return NULL;
    }
    return ctx;
}

int tb_set(tb_t *tb, int bmc, const tb_bmc_t *v)
{
    tb_bmc_t *b;
    if (!tb || bmc < 0 || bmc >= tb->o.nbmcs)
        return -1;
    b = &tb->o.bmcs[bmc];
    uv_mutex_lock(&tb->key_mu);
    b->cap_w = v->cap_w;
    b->draw_w = v->draw_w;
    b->gpus_failed = v->gpus_failed;
    b->fault = v->fault;
    uv_mutex_unlock(&tb->key_mu);
    return 0;
}

int tb_rotate_key(tb_t *tb, const char *kid)
{
    json_t *key = tb_key_new("P-256", kid), *pub = key ? tb_key_public(key) : NULL;
    json_t *prev = NULL, *jwks = NULL;
    char *text = NULL;
    int rc = -1;
    uv_mutex_lock(&tb->key_mu);
    if (pub) {
        json_object_set_new(pub, "alg", json_string("ES256"));
        prev = json_array_get(json_object_get(tb->jwks, "keys"), 0);
        jwks = json_pack("{s:[O,O]}", "keys", pub, prev);
        text = jwks ? json_dumps(jwks, JSON_COMPACT) : NULL;
    }
    if (text) {
        json_decref(tb->key_good);
        tb->key_good = json_incref(key);
        json_decref(tb->jwks);
        tb->jwks = json_incref(jwks);
        free(tb->jwks_text);
        tb->jwks_text = text;
        snprintf(tb->kid, sizeof tb->kid, "%s", kid);
        rc = 0;
    }
    uv_mutex_unlock(&tb->key_mu);
    json_decref(jwks);
    json_decref(pub);
    json_decref(key);
    return rc;
}

/* A listener per BMC, and a connection per BMC that a client keeps alive, and
 * as many again in flight: a real BMC has a descriptor table of its own. The
 * hard limit is raised where the process may (root); else the soft one is. */
static void raise_nofile(int nbmcs)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)nbmcs * 3 + 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
        struct rlimit more = {want, want};
        if (setrlimit(RLIMIT_NOFILE, &more) == 0)
            return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int tb_start(const tb_opts_t *o, tb_t **out, char *err, size_t errlen)
{
    struct tb *tb = calloc(1, sizeof *tb);
    unsigned char basic_raw[200];
    char cred[200];
    int n;
    *out = NULL;
    if (!tb) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (uv_mutex_init(&tb->key_mu) != 0) {
        snprintf(err, errlen, "uv_mutex_init failed");
        free(tb);
        return -1;
    }
    tb->o = *o;
    snprintf(tb->kid, sizeof tb->kid, "tb-1");
    tb->rng = o->seed ? o->seed : 0x9e3779b97f4a7c15ULL;
    tb->t0 = (int64_t)time(NULL);
    raise_nofile(o->nbmcs);
    if (uv_loop_init(&tb->loop) < 0) {
        snprintf(err, errlen, "uv_loop_init failed");
        uv_mutex_destroy(&tb->key_mu);
        free(tb);
        return -1;
    }
    tb->listeners = calloc((size_t)o->nbmcs + 1, sizeof *tb->listeners);
    tb->bmc_mockup = calloc((size_t)o->nbmcs + 1, sizeof *tb->bmc_mockup);
    tb->rt = calloc((size_t)o->nbmcs + 1, sizeof *tb->rt);
    tb->by_id = calloc((size_t)o->nbmcs + 1, sizeof *tb->by_id);
    if (!tb->listeners || !tb->bmc_mockup || !tb->rt || !tb->by_id) {
        snprintf(err, errlen, "out of memory");
        goto fail_early;
    }
    snprintf(cred, sizeof cred, "%s:%s", o->user ? o->user : "admin",
             o->password ? o->password : "secret");
    n = EVP_EncodeBlock(basic_raw, (const unsigned char *)cred, (int)strlen(cred));
    snprintf(tb->basic, sizeof tb->basic, "Basic %.*s", n, basic_raw);
    for (int i = 0; i < o->nbmcs; i++) {
        tb->by_id[i] = (idx_t){o->bmcs[i].id, i};
        tb->bmc_mockup[i] = o->bmcs[i].mockup ? mockup_index(tb, o->bmcs[i].mockup) : -1;
        if (o->bmcs[i].mockup && tb->bmc_mockup[i] < 0) {
            snprintf(err, errlen, "mockup \"%s\" not found under %s", o->bmcs[i].mockup,
                     o->mockup_root ? o->mockup_root : "(no --mockups)");
            goto fail_early;
        }
    }
    qsort(tb->by_id, (size_t)o->nbmcs, sizeof *tb->by_id, by_id_cmp);
    if (o->tls_cert &&
        !(tb->ssl_ctx = tls_context(o->tls_cert, o->tls_key ? o->tls_key : o->tls_cert,
                                    err, errlen)))
        goto fail_early;
    if (o->verifier) {
        json_t *pub = NULL;
        tb->key_good = tb_key_new("P-256", "tb-1");
        tb->key_wrong = tb_key_new("P-256", "tb-1");
        tb->key_unknown = tb_key_new("P-256", "tb-2");
        pub = tb->key_good ? tb_key_public(tb->key_good) : NULL;
        tb->jwks = pub ? json_pack("{s:[o]}", "keys", pub) : NULL;
        if (pub)
            json_object_set_new(pub, "alg", json_string("ES256"));
        tb->jwks_text = tb->jwks ? json_dumps(tb->jwks, JSON_COMPACT) : NULL;
        if (!tb->key_wrong || !tb->key_unknown || !tb->jwks_text) {
            snprintf(err, errlen, "cannot generate verifier keys");
            goto fail_early;
        }
    }
    for (int i = 0; i < o->nbmcs; i++) {
        uint16_t port = o->port_base ? (uint16_t)(o->port_base + i) : 0;
        if (listen_on(tb, &tb->listeners[i], i, port, &o->bmcs[i].port, err, errlen) < 0)
            goto fail_listen;
        if (o->bmcs[i].fault == TB_FAULT_DOWN)
            uv_close((uv_handle_t *)&tb->listeners[i].tcp, close_cb_noop);
    }
    if (o->verifier && listen_on(tb, &tb->vlistener, -1,
                                 o->port_base ? (uint16_t)(o->port_base + o->nbmcs) : 0,
                                 &tb->vport, err, errlen) < 0)
        goto fail_listen;
    uv_async_init(&tb->loop, &tb->stop, on_stop);
    tb->stop.data = tb;
    if (uv_thread_create(&tb->thread, run, tb) != 0) {
        snprintf(err, errlen, "cannot start the test bed thread");
        uv_close((uv_handle_t *)&tb->stop, close_cb_noop);
        goto fail_listen;
    }
    *out = tb;
    return 0;
fail_listen:
    /* Close what was opened, let the loop release it. */
    for (int i = 0; i < o->nbmcs; i++)
        if (tb->listeners[i].tb && !uv_is_closing((uv_handle_t *)&tb->listeners[i].tcp))
            uv_close((uv_handle_t *)&tb->listeners[i].tcp, close_cb_noop);
    if (tb->vlistener.tb && !uv_is_closing((uv_handle_t *)&tb->vlistener.tcp))
        uv_close((uv_handle_t *)&tb->vlistener.tcp, close_cb_noop);
    uv_run(&tb->loop, UV_RUN_DEFAULT);
fail_early:
    uv_loop_close(&tb->loop);
    tb_free(tb);
    return -1;
}

void tb_stop(tb_t *tb)
{
    if (!tb)
        return;
    uv_async_send(&tb->stop);
    uv_thread_join(&tb->thread);
    uv_loop_close(&tb->loop);
    tb_free(tb);
}

uint16_t tb_verifier_port(const tb_t *tb)
{
    return tb->vport;
}

const json_t *tb_jwks(const tb_t *tb)
{
    return tb->jwks;
}

tb_stats_t tb_stats(const tb_t *tb)
{
    return tb->stats;
}

uint64_t tb_last_request(const tb_t *tb, int bmc)
{
    return tb && bmc >= 0 && bmc < tb->o.nbmcs ? tb->rt[bmc].last_request : 0;
}
