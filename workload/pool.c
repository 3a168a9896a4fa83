/*
 * workload/pool.c — a minimal fork-join thread pool for the CPU backend: one job
 * at a time, run by every thread (the caller included), each taking its share.
 */
#include "workload/workload_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct tp_pool {
    int n;
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned long gen;
    int pending;
    bool stop;
    tp_pool_fn fn;
    void *arg;
};

typedef struct {
    tp_pool_t *p;
    int tid;
} worker_arg_t;

int tp_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void *worker(void *varg)
{
    worker_arg_t *wa = varg;
    tp_pool_t *p = wa->p;
    int tid = wa->tid;
    free(wa);
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->stop)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->stop)
            break;
        seen = p->gen;
        tp_pool_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        fn(arg, tid, p->n);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int tp_pool_new(int nthreads, tp_pool_t **out, tp_error_t *err)
{
    *out = NULL;
    if (nthreads <= 0)
        nthreads = tp_cpu_count();
    if (nthreads > 1024)
        return tp_error_set(err, TP_ERANGE, "threads: %d is more than 1024", nthreads);
    tp_pool_t *p = calloc(1, sizeof *p);
    if (!p || !(p->th = calloc((size_t)nthreads, sizeof *p->th))) {
        free(p);
        return tp_error_set(err, TP_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    p->n = 1;
    for (int i = 1; i < nthreads; i++) {
        worker_arg_t *wa = malloc(sizeof *wa);
        if (!wa) {
            tp_pool_free(p);
            return tp_error_set(err, TP_ENOMEM, "out of memory");
        }
        wa->p = p;
        wa->tid = i;
        if (pthread_create(&p->th[i], NULL, worker, wa) != 0) {
            free(wa);
            tp_pool_free(p);
            return tp_error_set(err, TP_EIO, "cannot start thread %d", i);
        }
        p->n++;
    }
    *out = p;
    return 0;
}

void tp_pool_free(tp_pool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    free(p->th);
    free(p);
}

int tp_pool_size(const tp_pool_t *p)
{
    return p->n;
}

void tp_pool_run(tp_pool_t *p, tp_pool_fn fn, void *arg)
{
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->pending = p->n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
