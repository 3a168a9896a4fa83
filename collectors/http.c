/*
 * collectors/http.c — libcurl multi-socket on libuv (see http.h): per-host and
 * global concurrency limits, retries with jittered exponential backoff from a
 * single timer over a min-heap, response size caps, easy handles reused.
 */
#include "collectors/http.h"

#include "util/rng.h"

#include <curl/curl.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADER_VALUE 1024
/* Response buffers start at this size; buffers of it are kept for the next
 * response (at most MAX_SPARE_BUFS), so that a steady stream of small Redfish
 * documents does not allocate and free one per response. */
#define BUF_SIZE 4096
#define MAX_SPARE_BUFS 1024

typedef struct req req_t;

/* libcurl 7.88's curl_multi_remove_handle() walks the multi's whole connection
 * cache once per finished transfer; with thousands of BMC connections that walk
 * dominated the CPU, and so does the walk that picks the oldest idle connection
 * to close when the cache is full (once per new connection). Hosts are
 * therefore spread over several multi handles (shards), each with its own
 * cache, all driven by the one loop. */
#define NSHARDS 128

typedef struct shard {
    tp_http_t *h;
    CURLM *multi;
    uv_timer_t timer;
} shard_t;

struct tp_http_host {
    tp_http_t *h;
    shard_t *shard;
    char *origin;
    tp_http_host_opts_t o;
    char *user, *password, *ca_file, *token;
    int inflight;
    req_t *head, *tail; /* queued, not started */
    bool ready;         /* in h's ready ring */
    tp_http_host_t *next_ready;
};

struct req {
    tp_http_host_t *host;
    req_t *next; /* host queue */
    tp_http_method_t method;
    char *url, *body;
    bool own_origin; /* a path on the host's origin (credentials may go with it) */
    tp_http_cb cb;
    void *arg;
    int attempt;
    uint64_t due; /* retry time (uv_now ms) */
    CURL *easy;
    struct curl_slist *headers;
    char *buf;
    size_t len, cap;
    bool too_big;
    char *token_hdr, *location_hdr;
    uint64_t started;
    int running_ix; /* in h->running while started */
};

typedef struct sock {
    uv_poll_t poll;
    curl_socket_t fd;
    tp_http_t *h;
    shard_t *shard;
    struct sock *prev, *next;
} sock_t;

struct tp_http {
    uv_loop_t *loop;
    shard_t shards[NSHARDS];
    uv_timer_t retry_timer;
    int global_limit, backoff_ms, backoff_max_ms;
    long max_body;
    char *proxy; /* NULL: no proxy at all, whatever the environment says */
    tp_rng_t rng;
    tp_http_host_t **hosts;
    int nhosts, cap_hosts;
    tp_http_host_t *ready_head, *ready_tail;
    req_t **heap; /* retries by due time */
    int nheap, cap_heap;
    CURL **pool; /* idle easy handles */
    int npool, cap_pool;
    char *spare[MAX_SPARE_BUFS]; /* response buffers of BUF_SIZE bytes, unused */
    int nspare;
    req_t **running; /* started, for cancellation */
    int nrunning, cap_running;
    sock_t *socks;
    tp_http_stats_t stats;
    bool closing, timers_closing;
    int pending_closes;
    void (*close_done)(void *);
    void *close_arg;
};

static void dispatch(tp_http_t *h);
static void check_multi_info(shard_t *sh);

/* ---- small containers -----------------------------------------------------------------
 */

static int grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int nc = *cap ? *cap * 2 : 64;
    while (nc < need)
        nc *= 2;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

static void heap_push(tp_http_t *h, req_t *r)
{
    int i = h->nheap++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (h->heap[p]->due <= r->due)
            break;
        h->heap[i] = h->heap[p];
        i = p;
    }
    h->heap[i] = r;
}

static req_t *heap_pop(tp_http_t *h)
{
    req_t *top = h->heap[0], *last = h->heap[--h->nheap];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, s = l;
        if (l >= h->nheap)
            break;
        if (l + 1 < h->nheap && h->heap[l + 1]->due < h->heap[l]->due)
            s = l + 1;
        if (h->heap[s]->due >= last->due)
            break;
        h->heap[i] = h->heap[s];
        i = s;
    }
    if (h->nheap)
        h->heap[i] = last;
    return top;
}

static void ready_push(tp_http_t *h, tp_http_host_t *host)
{
    if (host->ready || !host->head || host->inflight >= host->o.limit)
        return;
    host->ready = true;
    host->next_ready = NULL;
    if (h->ready_tail)
        h->ready_tail->next_ready = host;
    else
        h->ready_head = host;
    h->ready_tail = host;
}

static tp_http_host_t *ready_pop(tp_http_t *h)
{
    tp_http_host_t *host = h->ready_head;
    if (host) {
        h->ready_head = host->next_ready;
        if (!h->ready_head)
            h->ready_tail = NULL;
        host->ready = false;
    }
    return host;
}

static void queue_push(tp_http_host_t *host, req_t *r)
{
    r->next = NULL;
    if (host->tail)
        host->tail->next = r;
    else
        host->head = r;
    host->tail = r;
}

static req_t *queue_pop(tp_http_host_t *host)
{
    req_t *r = host->head;
    if (r) {
        host->head = r->next;
        if (!host->head)
            host->tail = NULL;
    }
    return r;
}

/* h: the client, for the spare buffers; never r->host->h, which a callback
 * may have freed (tp_http_close from inside a callback). */
static void req_free(tp_http_t *h, req_t *r)
{
    free(r->url);
    free(r->body);
    if (!h->closing && r->buf && r->cap == BUF_SIZE && h->nspare < MAX_SPARE_BUFS)
        h->spare[h->nspare++] = r->buf;
    else
        free(r->buf);
    free(r->token_hdr);
    free(r->location_hdr);
    free(r);
}

/* ---- libuv ↔ libcurl ------------------------------------------------------------------
 */

/* After tp_http_close, the last close callback frees the client. */
static void maybe_finish(tp_http_t *h)
{
    void (*done)(void *);
    void *arg;
    if (!h->closing || h->pending_closes != 0 || !h->timers_closing)
        return;
    done = h->close_done;
    arg = h->close_arg;
    free(h);
    if (done)
        done(arg);
}

static void sock_closed(uv_handle_t *handle)
{
    sock_t *s = handle->data;
    tp_http_t *h = s->h;
    free(s);
    h->pending_closes--;
    maybe_finish(h);
}

static void sock_release(tp_http_t *h, sock_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        h->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    h->pending_closes++;
    uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    sock_t *s = p->data;
    shard_t *sh = s->shard;
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(sh->multi, s->fd, flags, &running);
    check_multi_info(sh);
}

static int on_socket(CURL *e, curl_socket_t fd, int action, void *userp, void *socketp)
{
    shard_t *sh = userp;
    tp_http_t *h = sh->h;
    sock_t *s = socketp;
    int events = 0;
    (void)e;
    if (action == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(sh->multi, fd, NULL);
            sock_release(h, s);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->h = h;
        s->shard = sh;
        s->poll.data = s;
        s->next = h->socks;
        if (h->socks)
            h->socks->prev = s;
        h->socks = s;
        curl_multi_assign(sh->multi, fd, s);
    }
    if (action & CURL_POLL_IN)
        events |= UV_READABLE;
    if (action & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void on_curl_timer(uv_timer_t *t)
{
    shard_t *sh = t->data;
    int running;
    curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(sh);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    shard_t *sh = userp;
    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&sh->timer);
    else /* 0 means "as soon as possible": from the loop, not from inside curl */
        uv_timer_start(&sh->timer, on_curl_timer, timeout_ms ? (uint64_t)timeout_ms : 1,
                       0);
    return 0;
}

/* ---- transfers
 * -------------------------------------------------------------------------- */

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
    req_t *r = arg;
    size_t add = size * n;
    long max = r->host->h->max_body;
    if ((long)(r->len + add) > max) {
        r->too_big = true;
        return 0;
    }
    if (!r->buf && r->host->h->nspare && add + 1 <= BUF_SIZE) {
        r->buf = r->host->h->spare[--r->host->h->nspare];
        r->cap = BUF_SIZE;
    }
    if (r->len + add + 1 > r->cap) {
        size_t nc = r->cap ? r->cap : BUF_SIZE;
        char *nb;
        while (nc < r->len + add + 1)
            nc *= 2;
        nb = realloc(r->buf, nc);
        if (!nb)
            return 0;
        r->buf = nb;
        r->cap = nc;
    }
    memcpy(r->buf + r->len, data, add);
    r->len += add;
    r->buf[r->len] = '\0';
    return add;
}

static char *header_value(const char *line, size_t len, const char *name)
{
    size_t nl = strlen(name), vl;
    const char *v;
    char *out;
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return NULL;
    v = line + nl + 1;
    vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    if (vl == 0 || vl > MAX_HEADER_VALUE)
        return NULL;
    out = malloc(vl + 1);
    if (out) {
        memcpy(out, v, vl);
        out[vl] = '\0';
    }
    return out;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    req_t *r = arg;
    size_t len = size * n;
    char *v;
    if ((v = header_value(data, len, "X-Auth-Token"))) {
        free(r->token_hdr);
        r->token_hdr = v;
    } else if ((v = header_value(data, len, "Location"))) {
        free(r->location_hdr);
        r->location_hdr = v;
    }
    return len;
}

static CURL *easy_get(tp_http_t *h)
{
    if (h->npool)
        return h->pool[--h->npool];
    return curl_easy_init();
}

static void easy_put(tp_http_t *h, CURL *e)
{
    curl_easy_reset(e);
    if (grow((void **)&h->pool, &h->cap_pool, h->npool + 1, sizeof *h->pool) == 0)
        h->pool[h->npool++] = e;
    else
        curl_easy_cleanup(e);
}

static void running_remove(tp_http_t *h, req_t *r)
{
    int i = r->running_ix;
    if (i >= 0 && i < h->nrunning && h->running[i] == r) {
        h->running[i] = h->running[--h->nrunning];
        h->running[i]->running_ix = i;
    }
    r->running_ix = -1;
}

static int start(tp_http_t *h, req_t *r)
{
    tp_http_host_t *host = r->host;
    CURL *e = easy_get(h);
    struct curl_slist *hd = NULL;
    if (!e)
        return -1;
    r->easy = e;
    r->len = 0;
    r->too_big = false;
    free(r->token_hdr);
    free(r->location_hdr);
    r->token_hdr = r->location_hdr = NULL;
    hd = curl_slist_append(hd, "Accept: application/json");
    hd = curl_slist_append(hd, "OData-Version: 4.0");
    if (r->method == TP_HTTP_POST)
        hd = curl_slist_append(hd, "Content-Type: application/json");
    /* Credentials go only to the host's own origin: never to an absolute URL
     * elsewhere (a session Location, a link) that a BMC handed us. */
    if (!r->own_origin && (host->token || host->user))
        r->own_origin = tp_http_same_origin(r->url, host->origin);
    if (r->own_origin && host->token) {
        size_t tl = strlen(host->token) + 16;
        char *line = malloc(tl);
        if (line) {
            snprintf(line, tl, "X-Auth-Token: %s", host->token);
            hd = curl_slist_append(hd, line);
            free(line);
        }
    } else if (r->own_origin && host->user) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, host->user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, host->password ? host->password : "");
    }
    r->headers = hd;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    /* No proxy from the environment (http_proxy, ALL_PROXY …): BMC credentials
     * and attestation results go through a proxy only when one is configured. */
    curl_easy_setopt(e, CURLOPT_PROXY, h->proxy ? h->proxy : "");
    if (!h->proxy)
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    /* libcurl prunes its DNS cache, one entry per host:port, on every resolve: with
     * thousands of BMCs that scan dominated the CPU profile. Connections are kept
     * alive, so a cache buys little; resolve afresh (asynchronously) instead. */
    curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    /* Redfish documents are a few KB: a smaller receive buffer per transfer keeps
     * thousands of concurrent transfers small. */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 8192L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)host->o.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)host->o.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, host->o.insecure ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, host->o.insecure ? 0L : 2L);
    if (host->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, host->ca_file);
    switch (r->method) {
    case TP_HTTP_POST:
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(r->body ? strlen(r->body) : 0));
        break;
    case TP_HTTP_DELETE:
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
        break;
    default:
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        break;
    }
    if (grow((void **)&h->running, &h->cap_running, h->nrunning + 1, sizeof *h->running) <
            0 ||
        curl_multi_add_handle(host->shard->multi, e) != CURLM_OK) {
        curl_slist_free_all(hd);
        r->headers = NULL;
        easy_put(h, e);
        r->easy = NULL;
        return -1;
    }
    r->running_ix = h->nrunning;
    h->running[h->nrunning++] = r;
    r->started = uv_now(h->loop);
    host->inflight++;
    h->stats.inflight++;
    h->stats.requests++;
    if (r->attempt)
        h->stats.retries++;
    if (h->stats.inflight > h->stats.max_inflight)
        h->stats.max_inflight = h->stats.inflight;
    return 0;
}

static void deliver(tp_http_t *h, req_t *r, const tp_http_resp_t *resp);

static void dispatch(tp_http_t *h)
{
    while (!h->closing && h->stats.inflight < h->global_limit) {
        tp_http_host_t *host = ready_pop(h);
        req_t *r;
        if (!host)
            break;
        r = queue_pop(host);
        if (!r)
            continue;
        if (start(h, r) < 0) {
            tp_http_resp_t resp = {0,          "cannot start the request (out of memory)",
                                   "",         0,
                                   NULL,       NULL,
                                   r->attempt, true,
                                   false};
            deliver(h, r, &resp);
        }
        ready_push(h, host);
    }
}

static void on_retry_timer(uv_timer_t *t);

static void arm_retry_timer(tp_http_t *h)
{
    uint64_t now = uv_now(h->loop);
    if (h->nheap == 0 || h->closing) {
        uv_timer_stop(&h->retry_timer);
        return;
    }
    uv_timer_start(&h->retry_timer, on_retry_timer,
                   h->heap[0]->due > now ? h->heap[0]->due - now : 0, 0);
}

static void on_retry_timer(uv_timer_t *t)
{
    tp_http_t *h = t->data;
    uint64_t now = uv_now(h->loop);
    while (h->nheap && h->heap[0]->due <= now) {
        req_t *r = heap_pop(h);
        queue_push(r->host, r);
        ready_push(h, r->host);
    }
    arm_retry_timer(h);
    dispatch(h);
}

static void schedule_retry(tp_http_t *h, req_t *r)
{
    uint64_t delay = (uint64_t)h->backoff_ms << (r->attempt < 16 ? r->attempt : 16);
    if (delay > (uint64_t)h->backoff_max_ms)
        delay = (uint64_t)h->backoff_max_ms;
    /* ±50% jitter, so that a fleet of BMCs failing together does not retry together. */
    delay = (uint64_t)((double)delay * (0.5 + tp_rng_unit(&h->rng)));
    r->attempt++;
    r->due = uv_now(h->loop) + delay;
    if (grow((void **)&h->heap, &h->cap_heap, h->nheap + 1, sizeof *h->heap) < 0) {
        queue_push(r->host, r); /* no memory for the heap: retry at once */
        ready_push(h, r->host);
        return;
    }
    heap_push(h, r);
    arm_retry_timer(h);
}

/* Hands a final response to the callback, retrying when it asks to. */
static void deliver(tp_http_t *h, req_t *r, const tp_http_resp_t *resp)
{
    int rc = r->cb(r->arg, resp);
    if (rc == TP_HTTP_RETRY && !resp->last && !h->closing) {
        schedule_retry(h, r);
        return;
    }
    req_free(h, r);
}

static void finish(tp_http_t *h, CURLM *multi, CURLMsg *m)
{
    req_t *r = NULL;
    CURL *e = m->easy_handle;
    CURLcode code = m->data.result;
    long status = 0, connects = 0;
    tp_http_host_t *host;
    bool retriable, last;
    tp_http_resp_t resp;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK &&
        connects > 0)
        h->stats.connects += (uint64_t)connects;
    curl_multi_remove_handle(multi, e);
    running_remove(h, r);
    curl_slist_free_all(r->headers);
    r->headers = NULL;
    easy_put(h, e);
    r->easy = NULL;
    host = r->host;
    host->inflight--;
    h->stats.inflight--;
    h->stats.latency_sum_s += (double)(uv_now(h->loop) - r->started) / 1000.0;
    h->stats.bytes += r->len;
    if (code != CURLE_OK)
        status = 0;
    retriable = !r->too_big && (code != CURLE_OK || status >= 500 || status == 429);
    if (code != CURLE_OK || status >= 400)
        h->stats.failures++;
    last = r->attempt >= host->o.retries;
    ready_push(h, host);
    if (retriable && !last) {
        schedule_retry(h, r);
        return;
    }
    resp = (tp_http_resp_t){(int)status,
                            r->too_big         ? "response larger than the size cap"
                            : code != CURLE_OK ? curl_easy_strerror(code)
                                               : NULL,
                            r->buf ? r->buf : "",
                            r->len,
                            r->token_hdr,
                            r->location_hdr,
                            r->attempt,
                            last,
                            false};
    deliver(h, r, &resp);
}

static void check_multi_info(shard_t *sh)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(sh->multi, &left)))
        if (m->msg == CURLMSG_DONE)
            finish(sh->h, sh->multi, m);
    dispatch(sh->h);
}

/* ---- API
 * ----------------------------------------------------------------------------------- */

tp_http_t *tp_http_new(uv_loop_t *loop, int global_limit, int backoff_ms,
                       int backoff_max_ms, long max_body, uint64_t seed, tp_error_t *err)
{
    static int global_init;
    tp_http_t *h;
    /* Walks are admitted so that about global_limit connections are busy at a
     * time (see collect.c); the caches hold those for reuse between requests. */
    long maxconn = (long)global_limit * 5 / 4 / NSHARDS + 4;
    if (!global_init) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            tp_error_set(err, TP_EIO, "curl_global_init failed");
            return NULL;
        }
        global_init = 1;
    }
    h = calloc(1, sizeof *h);
    if (!h) {
        tp_error_set(err, TP_ENOMEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i < NSHARDS; i++)
        if (!(h->shards[i].multi = curl_multi_init())) {
            while (i-- > 0)
                curl_multi_cleanup(h->shards[i].multi);
            free(h);
            tp_error_set(err, TP_ENOMEM, "out of memory (curl multi)");
            return NULL;
        }
    h->loop = loop;
    h->global_limit = global_limit;
    h->backoff_ms = backoff_ms;
    h->backoff_max_ms = backoff_max_ms;
    h->max_body = max_body;
    tp_rng_init(&h->rng, seed);
    uv_timer_init(loop, &h->retry_timer);
    h->retry_timer.data = h;
    for (int i = 0; i < NSHARDS; i++) {
        shard_t *sh = &h->shards[i];
        sh->h = h;
        uv_timer_init(loop, &sh->timer);
        sh->timer.data = sh;
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
        /* Idle connections kept for reuse, bounded so that a farm of thousands of
         * BMCs does not keep a socket each once walked. */
        curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS, maxconn);
    }
    return h;
}

tp_http_host_t *tp_http_host_new(tp_http_t *h, const char *origin,
                                 const tp_http_host_opts_t *o)
{
    tp_http_host_t *host = calloc(1, sizeof *host);
    if (!host ||
        grow((void **)&h->hosts, &h->cap_hosts, h->nhosts + 1, sizeof *h->hosts) < 0)
        goto fail;
    host->h = h;
    host->shard = &h->shards[h->nhosts % NSHARDS];
    host->o = *o;
    if (host->o.limit < 1)
        host->o.limit = 1;
    if (!(host->origin = strdup(origin ? origin : "")) ||
        (o->user && !(host->user = strdup(o->user))) ||
        (o->password && !(host->password = strdup(o->password))) ||
        (o->ca_file && !(host->ca_file = strdup(o->ca_file))))
        goto fail;
    host->o.user = host->o.password = host->o.ca_file = NULL;
    h->hosts[h->nhosts++] = host;
    return host;
fail:
    if (host) {
        free(host->origin);
        free(host->user);
        free(host->password);
        free(host->ca_file);
        free(host);
    }
    return NULL;
}

void tp_http_host_set_token(tp_http_host_t *host, const char *token)
{
    free(host->token);
    host->token = token ? strdup(token) : NULL;
}

const char *tp_http_host_origin(const tp_http_host_t *host)
{
    return host->origin;
}

int tp_http_set_proxy(tp_http_t *h, const char *proxy)
{
    char *p = proxy ? strdup(proxy) : NULL;
    if (proxy && !p)
        return TP_ENOMEM;
    free(h->proxy);
    h->proxy = p;
    return 0;
}

/* An IDN host compares in its one ASCII spelling (bücher.example and
 * xn--bcher-kva.example are one origin). */
#ifdef CURLU_PUNYCODE
#define PUNYCODE CURLU_PUNYCODE
#else
#define PUNYCODE 0
#endif

int tp_http_url_parts(const char *url, tp_http_url_t *out)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *pass = NULL,
         *zone = NULL;
    int rc = -1;
    memset(out, 0, sizeof *out);
    /* Non-ASCII or spaces are refused by curl's parser: the URL is not usable. */
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, PUNYCODE) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        strcmp(port, "0") != 0 && /* no server listens there: a typo */
        (!strcmp(scheme, "http") || !strcmp(scheme, "https"))) {
        for (char *c = host; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        /* An IPv6 zone (fe80::1%25eth0) is part of the host: the same address
         * on another interface is another machine. */
        size_t hl = strlen(host);
        bool zoned = curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK && zone &&
                     hl > 2 && host[hl - 1] == ']';
        if ((size_t)snprintf(out->origin, sizeof out->origin, "%s://%.*s%s%s%s:%s",
                             scheme, (int)(zoned ? hl - 1 : hl), host, zoned ? "%25" : "",
                             zoned ? zone : "", zoned ? "]" : "",
                             port) < sizeof out->origin) {
            out->https = !strcmp(scheme, "https");
            out->userinfo = curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
                            curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK;
            rc = 0;
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(user);
    curl_free(pass);
    curl_free(zone);
    curl_url_cleanup(u);
    return rc;
}

bool tp_http_same_origin(const char *url, const char *origin)
{
    tp_http_url_t a, b;
    return tp_http_url_parts(url, &a) == 0 && tp_http_url_parts(origin, &b) == 0 &&
           !strcmp(a.origin, b.origin);
}

const char *tp_http_why(const tp_http_resp_t *r, char *buf, size_t len)
{
    if (r->error)
        return r->error;
    snprintf(buf, len, "HTTP %d", r->status);
    return buf;
}

int tp_http_request(tp_http_host_t *host, tp_http_method_t m, const char *target,
                    const char *body, tp_http_cb cb, void *arg)
{
    tp_http_t *h = host->h;
    req_t *r;
    size_t ol, tl;
    if (h->closing)
        return TP_EINVAL;
    r = calloc(1, sizeof *r);
    if (!r)
        return TP_ENOMEM;
    ol = target[0] == '/' ? strlen(host->origin) : 0;
    tl = strlen(target);
    r->url = malloc(ol + tl + 1);
    if (!r->url || (body && !(r->body = strdup(body)))) {
        req_free(h, r);
        return TP_ENOMEM;
    }
    memcpy(r->url, host->origin, ol);
    memcpy(r->url + ol, target, tl + 1);
    r->own_origin = ol > 0; /* an absolute URL is judged in start(), if it matters */
    r->host = host;
    r->method = m;
    r->cb = cb;
    r->arg = arg;
    queue_push(host, r);
    ready_push(h, host);
    dispatch(h);
    return 0;
}

const tp_http_stats_t *tp_http_stats(const tp_http_t *h)
{
    return &h->stats;
}

void tp_http_stats_reset(tp_http_t *h)
{
    int inflight = h->stats.inflight;
    memset(&h->stats, 0, sizeof h->stats);
    h->stats.inflight = inflight;
}

static void timer_closed(uv_handle_t *handle)
{
    tp_http_t *h = handle->data;
    h->pending_closes--;
    maybe_finish(h);
}

static void cancel(tp_http_t *h, req_t *r)
{
    tp_http_resp_t resp = {0, "cancelled", "", 0, NULL, NULL, r->attempt, true, true};
    r->cb(r->arg, &resp);
    req_free(h, r);
}

void tp_http_close(tp_http_t *h, void (*done)(void *arg), void *arg)
{
    h->closing = true;
    h->close_done = done;
    h->close_arg = arg;
    /* Started transfers, then queued and delayed ones. */
    while (h->nrunning) {
        req_t *r = h->running[--h->nrunning];
        curl_multi_remove_handle(r->host->shard->multi, r->easy);
        curl_easy_cleanup(r->easy);
        curl_slist_free_all(r->headers);
        cancel(h, r);
    }
    for (int i = 0; i < h->nhosts; i++) {
        req_t *r;
        while ((r = queue_pop(h->hosts[i])))
            cancel(h, r);
    }
    while (h->nheap)
        cancel(h, heap_pop(h));
    for (int i = 0; i < h->npool; i++)
        curl_easy_cleanup(h->pool[i]);
    h->npool = 0;
    while (h->nspare)
        free(h->spare[--h->nspare]);
    for (int i = 0; i < NSHARDS; i++) {
        curl_multi_cleanup(h->shards[i].multi);
        h->shards[i].multi = NULL;
    }
    while (h->socks)
        sock_release(h, h->socks);
    for (int i = 0; i < h->nhosts; i++) {
        tp_http_host_t *host = h->hosts[i];
        free(host->origin);
        free(host->user);
        if (host->password) {
            memset(host->password, 0, strlen(host->password));
            free(host->password);
        }
        free(host->ca_file);
        free(host->token);
        free(host);
    }
    free(h->hosts);
    free(h->proxy);
    h->proxy = NULL;
    free(h->heap);
    free(h->pool);
    free(h->running);
    h->hosts = NULL;
    h->pending_closes += 1 + NSHARDS;
    h->timers_closing = true;
    for (int i = 0; i < NSHARDS; i++) {
        h->shards[i].timer.data = h;
        uv_close((uv_handle_t *)&h->shards[i].timer, timer_closed);
    }
    uv_close((uv_handle_t *)&h->retry_timer, timer_closed);
}
