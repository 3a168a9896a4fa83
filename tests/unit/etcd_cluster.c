/*
 * tests/unit/etcd_cluster.c — see etcd_cluster.h.
 */
#include "tests/unit/etcd_cluster.h"
#include "scheduler/etcd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static tp_etcd_cluster_t g_cluster;
static int g_state; /* 0 untried, 1 up, -1 failed */
static const char *g_why;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &n) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static int have_etcd(void)
{
    return system(
               "command -v etcd >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1") ==
           0;
}

static int spawn(tp_etcd_cluster_t *c, int i, int fresh)
{
    char name[16], data[320], lc[64], pc[64], ic[512], log[320];
    snprintf(name, sizeof name, "m%d", i);
    snprintf(data, sizeof data, "%s/%s", c->dir, name);
    snprintf(log, sizeof log, "%s/%s.log", c->dir, name);
    snprintf(lc, sizeof lc, "http://127.0.0.1:%d", c->client_port[i]);
    snprintf(pc, sizeof pc, "http://127.0.0.1:%d", c->peer_port[i]);
    int off = 0;
    for (int k = 0; k < TP_ETCD_MEMBERS; k++)
        off += snprintf(ic + off, sizeof ic - (size_t)off, "%sm%d=http://127.0.0.1:%d",
                        k ? "," : "", k, c->peer_port[k]);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        setpgid(0, 0);
        execlp("timeout", "timeout", "-s", "KILL", "300", "etcd", "--name", name,
               "--data-dir", data, "--listen-client-urls", lc, "--advertise-client-urls",
               lc, "--listen-peer-urls", pc, "--initial-advertise-peer-urls", pc,
               "--initial-cluster", ic, "--initial-cluster-state",
               fresh ? "new" : "existing", "--initial-cluster-token", "tp-test",
               "--heartbeat-interval", "50", "--election-timeout", "500", "--logger",
               "zap", "--log-level", "error", (char *)NULL);
        _exit(127);
    }
    c->pid[i] = pid;
    return 0;
}

static void stop_all(void)
{
    tp_etcd_cluster_t *c = &g_cluster;
    for (int i = 0; i < TP_ETCD_MEMBERS; i++)
        if (c->pid[i] > 0) {
            kill(-c->pid[i], SIGKILL);
            kill(c->pid[i], SIGKILL);
            waitpid(c->pid[i], NULL, 0);
            c->pid[i] = 0;
        }
    if (c->dir[0]) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "etcd_cluster: could not remove %s\n", c->dir);
    }
}

/* Waits (≤ 20 s) until a quorum answers a linearizable read. */
static int wait_ready(tp_etcd_cluster_t *c)
{
    tp_error_t err = {0};
    tp_etcd_t *e = tp_etcd_new(c->urls, 1000, &err);
    if (!e)
        return -1;
    int ok = -1;
    for (int tries = 0; tries < 200 && ok < 0; tries++) {
        tp_etcd_range_t r;
        if (tp_etcd_range(e, "tp-ready", NULL, NULL, &r, &err) == 0) {
            tp_etcd_range_free(&r);
            ok = 0;
        } else {
            usleep(100000);
        }
    }
    tp_etcd_free(e);
    return ok;
}

tp_etcd_cluster_t *tp_etcd_cluster(const char **why)
{
    tp_etcd_cluster_t *c = &g_cluster;
    if (g_state == 0) {
        g_state = -1;
        const char *tmp = getenv("TMPDIR");
        snprintf(c->dir, sizeof c->dir, "%s/tp-etcd-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!have_etcd()) {
            g_why = "no etcd binary (tools/deps.sh installs etcd-server)";
            c->dir[0] = '\0';
        } else if (!mkdtemp(c->dir)) {
            g_why = "cannot create a temporary directory";
            c->dir[0] = '\0';
        } else {
            atexit(stop_all);
            int off = 0;
            for (int i = 0; i < TP_ETCD_MEMBERS; i++) {
                c->client_port[i] = free_port();
                c->peer_port[i] = free_port();
                off += snprintf(c->urls + off, sizeof c->urls - (size_t)off,
                                "%shttp://127.0.0.1:%d", i ? "," : "", c->client_port[i]);
            }
            int rc = 0;
            for (int i = 0; i < TP_ETCD_MEMBERS && !rc; i++)
                rc = spawn(c, i, 1);
            if (rc || wait_ready(c) < 0)
                g_why = "the etcd cluster did not become ready (see its logs)";
            else
                g_state = 1;
        }
    }
    if (g_state < 0) {
        *why = g_why;
        return NULL;
    }
    return c;
}

int tp_etcd_cluster_kill(tp_etcd_cluster_t *c, int i)
{
    if (c->pid[i] <= 0)
        return -1;
    kill(-c->pid[i], SIGKILL);
    kill(c->pid[i], SIGKILL);
    waitpid(c->pid[i], NULL, 0);
    c->pid[i] = 0;
    return 0;
}

int tp_etcd_cluster_restart(tp_etcd_cluster_t *c, int i)
{
    if (c->pid[i] > 0 || spawn(c, i, 0) < 0)
        return -1;
    return wait_ready(c);
}
