/*
 * tests/unit/etcd_cluster.h — a real 3-member etcd cluster on loopback for the
 * tests: free ports, data in a fresh temporary directory, every member under
 * `timeout` (bounded lifetime even if the test process dies) and killed at
 * exit. Absent etcd binary: tp_etcd_cluster_start returns NULL and says so.
 */
#ifndef TP_TESTS_ETCD_CLUSTER_H
#define TP_TESTS_ETCD_CLUSTER_H

#include <sys/types.h>

#define TP_ETCD_MEMBERS 3

typedef struct {
    char dir[200];
    int client_port[TP_ETCD_MEMBERS], peer_port[TP_ETCD_MEMBERS];
    pid_t pid[TP_ETCD_MEMBERS];
    char urls[512]; /* "http://127.0.0.1:P0,http://...:P1,..." */
} tp_etcd_cluster_t;

/* The shared cluster of this test process (started on first use, stopped at
 * exit); NULL with *why set when etcd is absent or would not start. */
tp_etcd_cluster_t *tp_etcd_cluster(const char **why);
/* kill -9 member i / start it again on its data; 0 on success. */
int tp_etcd_cluster_kill(tp_etcd_cluster_t *c, int i);
int tp_etcd_cluster_restart(tp_etcd_cluster_t *c, int i);

#endif
