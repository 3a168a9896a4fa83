/*
 * scheduler/serve.h — `trustplace serve`: the long-running placement service
 * (docs/serve.md). One libuv loop in the calling thread runs the HTTP front
 * (scheduler/httpd.h) and the collectors (collectors/collectors.h); solves and
 * journal commits (scheduler/journal.h) run on one worker at a time, off the
 * loop. Returns when SIGTERM/SIGINT has drained the in-flight requests.
 */
#ifndef TP_SCHEDULER_SERVE_H
#define TP_SCHEDULER_SERVE_H

#include "collectors/kubeapi.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *config;     /* fleet file (required) */
    const char *state_path; /* seed of the observed state, or NULL */
    const char *data_dir;   /* journal directory ("./trustplace-data") */
    const char *listen;     /* "HOST:PORT" ("127.0.0.1:8750"); port 0: any free one */
    const char *tokens;     /* tokens file, or NULL: no access control (loopback only) */
    /* TLS (scheduler/httpd.h): certificate and key; a client CA makes client
     * certificates required; tls_clients pins certificates to roles
     * (scheduler/access.h tp_clients_load). NULL: off. */
    const char *tls_cert, *tls_key, *tls_client_ca, *tls_clients;
    const char *port_file;  /* write the bound port here once listening, or NULL */
    int max_connections;    /* 0: 1024 */
    size_t max_body;        /* 0: 4 MiB */
    int request_timeout_ms; /* 0: 10000 */
    int batch_max;          /* workloads per solve; 0: 512 */
    int reconcile_s;        /* re-check running work every this many seconds; 0: 5 */
    /* retention (docs/serve.md): idempotency keys, and placements released or
     * preempted, are forgotten this many seconds later; 0: 86400 */
    int idempotency_retention_s, released_retention_s;
    const char *openadr; /* OpenADR 3 VTN poller config (collectors/openadr.h), or NULL */
    bool ceiling;        /* answer every request with {} (benchmark ceiling) */
    const char *audit_key;    /* PEM private key signing audit records, or NULL */
    const char *audit_export; /* SIEM target streamed to (scheduler/audit.h), or NULL */
    /* the store (scheduler/store.h) and, with etcd, the election (leader.h) */
    const char *store; /* "sqlite:DIR" | "etcd:URL[,URL...]"; NULL: sqlite:data_dir */
    const char *replica_name; /* required with etcd */
    const char *advertise;    /* URL writes are redirected to; NULL: http://listen */
    const char *store_prefix; /* etcd key prefix; NULL: "/trustplace/" */
    int lease_ttl_s;          /* leader lease TTL; 0: 10 */
    int keepalive_ms;         /* lease keep-alive period; 0: TTL/3 */
    int poll_ms;              /* follower feed and campaign period; 0: 200 */
    bool quiet;
    /* the Kubernetes API server /k8s/bind creates Bindings in (docs/k8s.md) */
    tp_kubeapi_opts_t kube;
} tp_serve_opts_t;

/* 0 after a clean drain; a negative TP_E* code with err set when the service
 * cannot start (bad fleet, journal, address). */
int tp_serve_run(const tp_serve_opts_t *o, tp_error_t *err);

#endif
