/*
 * scheduler/dashboard.h — the dashboard page served at GET / (one
 * self-contained HTML file, scheduler/dashboard.html, embedded at build time by
 * scheduler/module.mk; no external resources). It reads /v1/kpis and refreshes.
 */
#ifndef TP_SCHEDULER_DASHBOARD_H
#define TP_SCHEDULER_DASHBOARD_H

#include <stddef.h>

extern const char tp_dashboard_html[];
extern const size_t tp_dashboard_html_len;

#endif
