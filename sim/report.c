/*
 * sim/report.c — report.html: one self-contained page (inline CSS and SVG, no
 * scripts, no fetches) with the summary table and line charts comparing the
 * policies over time, built from summary.json and timeseries.csv so that a
 * merged sweep renders exactly like an unsharded run.
 */
#include "sim/sim_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLS 32
#define CHART_W 560
#define CHART_H 250
#define PAD_L 64
#define PAD_R 16
#define PAD_T 34
#define PAD_B 36

typedef struct {
    int ncols;
    char *names[MAX_COLS];
    /* rows */
    int n, cap;
    int *variant;
    char **policy;
    double *val; /* n × ncols, NAN for empty */
} table_t;

static void table_fini(table_t *t)
{
    for (int c = 0; c < t->ncols; c++)
        free(t->names[c]);
    for (int i = 0; i < t->n; i++)
        free(t->policy[i]);
    free(t->variant);
    free(t->policy);
    free(t->val);
}

static int table_col(const table_t *t, const char *name)
{
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->names[c], name))
            return c;
    return -1;
}

static int table_parse(table_t *t, const char *csv)
{
    memset(t, 0, sizeof *t);
    const char *p = csv, *nl = strchr(p, '\n');
    if (!nl)
        return -1;
    char line[4096];
    size_t len = (size_t)(nl - p) < sizeof line - 1 ? (size_t)(nl - p) : sizeof line - 1;
    memcpy(line, p, len);
    line[len] = '\0';
    char *save = NULL;
    for (char *tok = strtok_r(line, ",", &save); tok && t->ncols < MAX_COLS;
         tok = strtok_r(NULL, ",", &save))
        t->names[t->ncols++] = strdup(tok);
    p = nl + 1;
    while (*p) {
        nl = strchr(p, '\n');
        len = nl ? (size_t)(nl - p) : strlen(p);
        if (len >= sizeof line)
            len = sizeof line - 1;
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl ? nl + 1 : p + len;
        if (t->n == t->cap) {
            int c = t->cap ? 2 * t->cap : 1024;
            int *v = realloc(t->variant, (size_t)c * sizeof *v);
            if (v)
                t->variant = v;
            char **pp = realloc(t->policy, (size_t)c * sizeof *pp);
            if (pp)
                t->policy = pp;
            double *vv = realloc(t->val, (size_t)c * (size_t)t->ncols * sizeof *vv);
            if (vv)
                t->val = vv;
            if (!v || !pp || !vv)
                return -1;
            t->cap = c;
        }
        /* Fields, empty ones kept (strtok would merge them). */
        char *f = line;
        double *row = &t->val[(size_t)t->n * (size_t)t->ncols];
        for (int c = 0; c < t->ncols; c++) {
            char *comma = f ? strchr(f, ',') : NULL;
            if (comma)
                *comma = '\0';
            if (c == 0)
                t->variant[t->n] = f ? atoi(f) : 0;
            else if (c == 1)
                t->policy[t->n] = strdup(f ? f : "");
            row[c] = f && *f ? strtod(f, NULL) : NAN;
            f = comma ? comma + 1 : NULL;
        }
        t->n++;
    }
    return 0;
}

static const char *color(const char *policy)
{
    if (!strcmp(policy, "trustplace"))
        return "#1a7f37";
    if (!strcmp(policy, "capacity-first"))
        return "#cf222e";
    if (!strcmp(policy, "first-fit"))
        return "#0969da";
    if (!strcmp(policy, "efficiency-greedy"))
        return "#bf8700";
    return "#6e7781";
}

static void esc(sim_buf_t *b, const char *s)
{
    char one[2] = {0, 0};
    for (; *s; s++) {
        switch (*s) {
        case '<':
            sim_buf_put(b, "&lt;");
            break;
        case '>':
            sim_buf_put(b, "&gt;");
            break;
        case '&':
            sim_buf_put(b, "&amp;");
            break;
        case '"':
            sim_buf_put(b, "&quot;");
            break;
        default:
            one[0] = *s;
            sim_buf_put(b, one);
        }
    }
}

/* A "nice" step for about n ticks over span. */
static double nice_step(double span, int n)
{
    if (span <= 0)
        return 1;
    double raw = span / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void fmt_tick(char *buf, size_t n, double v, double step)
{
    if (fabs(v) >= 1e6)
        snprintf(buf, n, "%.3gM", v / 1e6);
    else if (fabs(v) >= 1e4)
        snprintf(buf, n, "%.0fk", v / 1e3);
    else if (step >= 1)
        snprintf(buf, n, "%.0f", v);
    else if (step >= 0.1)
        snprintf(buf, n, "%.1f", v);
    else
        snprintf(buf, n, "%.2f", v);
}

/* Is row i of the run (variant v, seed)? */
static bool row_of(const table_t *t, int i, int v, double seed)
{
    int cs = table_col(t, "seed");
    return t->variant[i] == v && (cs < 0 || t->val[(size_t)i * t->ncols + cs] == seed);
}

/* One line of a chart: column col of the rows of policy. */
typedef struct {
    const char *col, *policy, *label, *color;
} series_t;

/* A line chart of the series (× scale) for the run (variant v, seed). */
static void chart_gen(sim_buf_t *b, const table_t *t, int v, double seed,
                      const series_t *sr, int ns, double scale, const char *title,
                      const char *unit, const json_t *events)
{
    int ct = table_col(t, "t_s");
    if (ct < 0 || ns < 1)
        return;
    double xmax = 0, ymin = 0, ymax = 0;
    bool any = false;
    for (int s = 0; s < ns; s++) {
        int c = table_col(t, sr[s].col);
        for (int i = 0; c >= 0 && i < t->n; i++) {
            if (!row_of(t, i, v, seed) || strcmp(t->policy[i], sr[s].policy))
                continue;
            double x = t->val[(size_t)i * t->ncols + ct] / 3600,
                   y = t->val[(size_t)i * t->ncols + c] * scale;
            if (x > xmax)
                xmax = x;
            if (isnan(y))
                continue;
            if (!any || y > ymax)
                ymax = y;
            if (!any || y < ymin)
                ymin = y;
            any = true;
        }
    }
    if (ymin > 0)
        ymin = 0;
    if (ymax <= ymin)
        ymax = ymin + 1;
    double ystep = nice_step(ymax - ymin, 4);
    ymax = ceil(ymax / ystep - 1e-9) * ystep;
    ymin = floor(ymin / ystep + 1e-9) * ystep;
    if (xmax <= 0)
        xmax = 1;
    double pw = CHART_W - PAD_L - PAD_R, ph = CHART_H - PAD_T - PAD_B;
#define X(x) (PAD_L + (x) / xmax * pw)
#define Y(y) (PAD_T + ph - ((y)-ymin) / (ymax - ymin) * ph)
    sim_buf_printf(b,
                   "<figure class=\"chart\"><svg viewBox=\"0 0 %d %d\" width=\"%d\" "
                   "height=\"%d\" role=\"img\" aria-label=\"",
                   CHART_W, CHART_H, CHART_W, CHART_H);
    esc(b, title);
    sim_buf_printf(b, "\"><text class=\"title\" x=\"%d\" y=\"20\">", PAD_L);
    esc(b, title);
    sim_buf_put(b, "</text><text class=\"unit\" x=\"");
    sim_buf_printf(b, "%d\" y=\"20\" text-anchor=\"end\">", CHART_W - PAD_R);
    esc(b, unit);
    sim_buf_put(b, "</text>");
    for (double y = ymin; y <= ymax + ystep / 2; y += ystep) {
        char lab[32];
        fmt_tick(lab, sizeof lab, y, ystep);
        sim_buf_printf(
            b,
            "<line class=\"grid\" x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
            "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
            PAD_L, PAD_L + pw, Y(y), Y(y), PAD_L - 6, Y(y) + 4, lab);
    }
    double xstep = nice_step(xmax, 6);
    for (double x = 0; x <= xmax + 1e-9; x += xstep) {
        char lab[32];
        fmt_tick(lab, sizeof lab, x, xstep);
        sim_buf_printf(b,
                       "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" "
                       "text-anchor=\"middle\">%sh</text>",
                       X(x), PAD_T + ph + 16, lab);
    }
    sim_buf_printf(b,
                   "<line class=\"axis\" x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>",
                   PAD_L, PAD_L + pw, Y(ymin), Y(ymin));
    /* Scenario events: dashed markers. */
    size_t k;
    const json_t *e;
    json_array_foreach (events, k, e) {
        double x = json_number_value(json_object_get(e, "at_s")) / 3600;
        if (x < 0 || x > xmax)
            continue;
        sim_buf_printf(b,
                       "<line class=\"event\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" "
                       "y2=\"%.1f\"><title>",
                       X(x), X(x), PAD_T, PAD_T + ph);
        esc(b, json_string_value(json_object_get(e, "label")));
        sim_buf_put(b, "</title></line>");
    }
    /* One polyline per series; gaps where the value is undefined. */
    for (int s = 0; s < ns; s++) {
        int c = table_col(t, sr[s].col);
        bool open = false;
        for (int i = 0; c >= 0 && i < t->n; i++) {
            if (!row_of(t, i, v, seed) || strcmp(t->policy[i], sr[s].policy))
                continue;
            double x = t->val[(size_t)i * t->ncols + ct] / 3600,
                   y = t->val[(size_t)i * t->ncols + c] * scale;
            if (isnan(y)) {
                if (open)
                    sim_buf_put(b, "\"/>");
                open = false;
                continue;
            }
            if (!open)
                sim_buf_printf(b, "<polyline class=\"series\" stroke=\"%s\" points=\"",
                               sr[s].color);
            sim_buf_printf(b, "%.1f,%.1f ", X(x), Y(y));
            open = true;
        }
        if (open)
            sim_buf_put(b, "\"/>");
    }
#undef X
#undef Y
    sim_buf_put(b, "</svg>");
    if (sr[0].label) { /* series named by label, not by policy: a caption */
        sim_buf_put(b, "<figcaption class=\"legend\">");
        for (int s = 0; s < ns; s++) {
            sim_buf_printf(b,
                           "<span><span class=\"dot\" style=\"background:%s\">"
                           "</span>",
                           sr[s].color);
            esc(b, sr[s].label);
            sim_buf_put(b, "</span>");
        }
        sim_buf_put(b, "</figcaption>");
    }
    sim_buf_put(b, "</figure>\n");
}

/* One line chart of column col (× scale), one line per policy. */
static void chart(sim_buf_t *b, const table_t *t, int v, double seed, const char *col,
                  double scale, const char *title, const char *unit, const json_t *events,
                  const json_t *policies)
{
    series_t sr[8];
    int ns = 0;
    const char *pname;
    const json_t *pv;
    json_object_foreach ((json_t *)policies, pname, pv)
        if (ns < 8)
            sr[ns++] = (series_t){col, pname, NULL, color(pname)};
    chart_gen(b, t, v, seed, sr, ns, scale, title, unit, events);
}

/* Pending work of one policy by the reason it waits (docs/sim.md). */
static void reasons_chart(sim_buf_t *b, const table_t *t, int v, double seed,
                          const char *policy, const json_t *events)
{
    const series_t sr[] = {
        {"pending_security", policy, "security", "#cf222e"},
        {"pending_residency", policy, "residency", "#8250df"},
        {"pending_hardware", policy, "hardware", "#6e7781"},
        {"pending_capacity", policy, "capacity", "#0969da"},
        {"pending_power", policy, "power", "#bf8700"},
        {"pending_new", policy, "new (next tick)", "#1a7f37"},
    };
    char title[96];
    snprintf(title, sizeof title, "Pending work by reason — %s", policy);
    chart_gen(b, t, v, seed, sr, (int)(sizeof sr / sizeof sr[0]), 1, title, "GPUs",
              events);
}

static double jget(const json_t *o, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *t = strtok_r(buf, ".", &save); t && o; t = strtok_r(NULL, ".", &save))
        o = json_object_get(o, t);
    return o ? json_number_value(o) : 0;
}

/* The summary table of a run or of an aggregate over seeds (mean ± 95% CI). */
static void summary_table(sim_buf_t *b, const json_t *res)
{
    const json_t *pols = json_object_get(res, "policies"), *k;
    const char *pname;
    sim_buf_put(b, "<table><thead><tr><th>policy</th>");
    for (int c = 0; c < SIM_TABLE_NCOLS; c++) {
        sim_buf_put(b, "<th>");
        esc(b, sim_table_cols[c].head);
        sim_buf_put(b, "</th>");
    }
    sim_buf_put(b, "<th>p95 wait by class</th><th>decisions validated</th></tr></thead>"
                   "<tbody>\n");
    json_object_foreach ((json_t *)pols, pname, k) {
        sim_buf_printf(
            b,
            "<tr><td class=\"pol\"><span class=\"dot\" style=\"background:%s\">"
            "</span>%s</td>",
            color(pname), pname);
        for (int c = 0; c < SIM_TABLE_NCOLS; c++) {
            const sim_col_t *col = &sim_table_cols[c];
            double ci, m = sim_kv(k, col->path, &ci);
            bool bad = c == 0 && m > 0;
            if (isnan(ci))
                sim_buf_printf(b, "<td class=\"num%s\">%.*f</td>", bad ? " bad" : "",
                               col->prec, m * col->scale);
            else
                sim_buf_printf(b, "<td class=\"num%s\">%.*f ± %.*f</td>",
                               bad ? " bad" : "", col->prec, m * col->scale, col->prec,
                               ci * col->scale);
        }
        sim_buf_put(b, "<td class=\"small\">");
        const json_t *bc = json_object_get(json_object_get(k, "wait"), "by_class"), *x;
        const char *cn;
        json_object_foreach ((json_t *)bc, cn, x) {
            double ci, p95 = sim_kv(x, "p95_s", &ci), n = sim_kv(x, "n", &ci);
            if (n > 0)
                sim_buf_printf(b, "%s %.0fs<br>", cn, p95);
        }
        double ci;
        sim_buf_printf(b, "</td><td class=\"num\">%.0f / %.0f</td></tr>\n",
                       sim_kv(k, "validated", &ci), sim_kv(k, "decisions", &ci));
    }
    sim_buf_put(b, "</tbody></table>\n");
}

/* Where the tokens come from: never a mostly synthetic figure without saying so. */
static void provenance(sim_buf_t *b, const json_t *res)
{
    const json_t *pols = json_object_get(res, "policies");
    const json_t *k = json_object_iter_value(json_object_iter((json_t *)pols));
    double ci;
    if (!k)
        return;
    double rt = sim_kv(k, "tokens_by_origin.requests_trace", &ci),
           rg = sim_kv(k, "tokens_by_origin.requests_generated", &ci),
           bt = sim_kv(k, "tokens_by_origin.batch_trace", &ci),
           bg = sim_kv(k, "tokens_by_origin.batch_generated", &ci),
           all = rt + rg + bt + bg;
    sim_buf_printf(
        b,
        "<p class=\"events\"><b>Where the numbers come from</b> (%s): "
        "%.2f%% of the tokens come from traces — served requests %.3g from "
        "traces and %.3g from generators; batch work %.3g from traces and "
        "%.3g from generators — and %.2f%% of the busy GPU-hours (inference "
        "replicas sized for trace requests, batch jobs from traces). Tokens per joule "
        "are reported apart for served "
        "requests and for batch work; the fleet-wide figure (chart below) is "
        "dominated by whichever is larger. Violations, waits, pending work and "
        "energy are simulated over all of it.</p>\n",
        json_object_iter_key(json_object_iter((json_t *)pols)),
        all > 0 ? 100 * (rt + bt) / all : 0, rt, rg, bt, bg,
        100 * sim_kv(k, "gpu_hours_by_origin.trace_share", &ci));
}

/* The headline: what trustplace avoided, and the work each policy got done. */
static void headline(sim_buf_t *b, const json_t *res)
{
    const json_t *pols = json_object_get(res, "policies");
    const json_t *tp = json_object_get(pols, "trustplace"),
                 *cf = json_object_get(pols, "capacity-first");
    double ci;
    sim_buf_put(b, "<div class=\"cards\">");
    const char *pname;
    const json_t *k;
    json_object_foreach ((json_t *)pols, pname, k) {
        double viol = sim_kv(k, "security_violations.placements", &ci);
        sim_buf_printf(
            b,
            "<div class=\"card\" style=\"border-top-color:%s\"><div "
            "class=\"cname\">%s</div><div class=\"big %s\">%.0f</div><div "
            "class=\"lab\">security violations</div><div class=\"kv\">completed work "
            "<b>%.0f GPU-h</b> · jobs done <b>%.0f</b> · pending <b>%.0f GPU-h</b> · "
            "served tokens/J <b>%.2f</b></div></div>",
            color(pname), pname, viol > 0 ? "bad" : "good", viol,
            sim_kv(k, "jobs.completed_work_gpu_h", &ci), sim_kv(k, "jobs.completed", &ci),
            sim_kv(k, "pending_gpu_hours.total", &ci),
            sim_kv(k, "tokens_per_j_requests", &ci));
    }
    sim_buf_put(b, "</div>");
    if (tp && cf) {
        sim_buf_printf(
            b,
            "<p class=\"lead\">Capacity-first placed <b>%.0f</b> workloads in "
            "breach of their security or residency requirements (%.1f GPU-hours "
            "of exposed sensitive work); trustplace placed <b>%.0f</b> and held "
            "the work pending with its reasons instead.</p>",
            sim_kv(cf, "security_violations.placements", &ci),
            sim_kv(cf, "security_violations.gpu_hours", &ci),
            sim_kv(tp, "security_violations.placements", &ci));
    }
}

/* Grid variants side by side: one row per variant, for each policy its
 * completed work, pending GPU-hours and violations ("how many nodes do we
 * need?" in one table). */
static void side_by_side(sim_buf_t *b, const json_t *rows)
{
    static const sim_col_t cols[] = {
        {"work GPU-h", "jobs.completed_work_gpu_h", 1, 0},
        {"pending GPU-h", "pending_gpu_hours.total", 1, 1},
        {"violations", "security_violations.placements", 1, 0},
    };
    const json_t *first = json_array_get(rows, 0), *row, *pv;
    const char *pname, *param;
    size_t i;
    sim_buf_put(b, "<h2>Variants side by side</h2>\n<table><thead><tr><th>variant</th>");
    json_object_foreach (json_object_get((json_t *)first, "params"), param, pv) {
        sim_buf_put(b, "<th>");
        esc(b, param);
        sim_buf_put(b, "</th>");
    }
    json_object_foreach (json_object_get((json_t *)first, "policies"), pname, pv)
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++)
            sim_buf_printf(b,
                           "<th><span class=\"dot\" style=\"background:%s\"></span>%s "
                           "%s</th>",
                           color(pname), pname, cols[c].head);
    sim_buf_put(b, "</tr></thead><tbody>\n");
    json_array_foreach (rows, i, row) {
        sim_buf_printf(b, "<tr><td class=\"num\">%lld</td>",
                       (long long)json_integer_value(json_object_get(row, "variant")));
        json_object_foreach (json_object_get((json_t *)row, "params"), param, pv) {
            char *txt = json_dumps(pv, JSON_ENCODE_ANY | JSON_COMPACT);
            sim_buf_put(b, "<td class=\"num\">");
            esc(b, txt ? txt : "?");
            sim_buf_put(b, "</td>");
            free(txt);
        }
        const json_t *k;
        json_object_foreach (json_object_get((json_t *)first, "policies"), pname, pv) {
            k = json_object_get(json_object_get(row, "policies"), pname);
            for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
                double ci, m = sim_kv(k, cols[c].path, &ci);
                if (isnan(ci))
                    sim_buf_printf(b, "<td class=\"num\">%.*f</td>", cols[c].prec, m);
                else
                    sim_buf_printf(b, "<td class=\"num\">%.*f ± %.*f</td>", cols[c].prec,
                                   m, cols[c].prec, ci);
            }
        }
        sim_buf_put(b, "</tr>\n");
    }
    sim_buf_put(b, "</tbody></table>\n");
}

char *tp_sim_report_html(const json_t *summary, const char *csv)
{
    sim_buf_t b = {0};
    table_t t;
    if (table_parse(&t, csv) < 0) {
        table_fini(&t);
        return NULL;
    }
    const char *name = json_string_value(json_object_get(summary, "scenario"));
    sim_buf_put(
        &b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width\"><title>trustplace "
            "sim — ");
    esc(&b, name ? name : "");
    sim_buf_put(
        &b,
        "</title><style>\n"
        "body{font:14px/1.45 -apple-system,'Segoe "
        "UI',Helvetica,Arial,sans-serif;color:#1f2328;"
        "margin:0;background:#f6f8fa}\n"
        "main{max-width:1180px;margin:0 auto;padding:24px 28px 48px;background:#fff}\n"
        "h1{font-size:26px;margin:0 0 2px}h2{font-size:19px;margin:28px 0 "
        "8px;border-bottom:1px "
        "solid #d0d7de;padding-bottom:4px}\n"
        ".sub{color:#656d76;margin:0 0 16px}.lead{font-size:15px;margin:12px 0}\n"
        ".cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}\n"
        ".card{flex:1 1 200px;border:1px solid #d0d7de;border-top:4px "
        "solid;border-radius:6px;"
        "padding:10px 14px}\n"
        ".cname{font-weight:600}.big{font-size:34px;font-weight:700;line-height:1.1}"
        ".lab{color:#656d76;font-size:12px}.kv{font-size:12px;margin-top:6px;color:#"
        "424a53}\n"
        ".good{color:#1a7f37}.bad{color:#cf222e}\n"
        "table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}\n"
        "th{background:#f6f8fa;text-align:left;font-weight:600;padding:6px "
        "8px;border-bottom:2px "
        "solid #d0d7de;vertical-align:bottom}\n"
        "td{padding:6px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}\n"
        "td.num{text-align:right;font-variant-numeric:tabular-nums}td.small{font-size:"
        "11px;"
        "color:#424a53}td.bad{font-weight:700}\n"
        ".dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:"
        "6px}\n"
        ".charts{display:grid;grid-template-columns:repeat(2,560px);gap:8px 24px}\n"
        "figure{margin:0}svg{font:11px -apple-system,'Segoe "
        "UI',Helvetica,Arial,sans-serif}\n"
        "svg .title{font-size:13px;font-weight:600;fill:#1f2328}svg .unit{fill:#656d76}\n"
        "svg .tick{fill:#656d76}svg .grid{stroke:#eaeef2}svg .axis{stroke:#8c959f}\n"
        "svg .event{stroke:#8250df;stroke-dasharray:4 3;stroke-width:1.2}\n"
        "svg .series{fill:none;stroke-width:2;stroke-linejoin:round}\n"
        ".legend span{margin-right:18px}.events{font-size:12px;color:#424a53}\n"
        "footer{color:#656d76;font-size:12px;margin-top:32px}\n"
        "</style></head><body><main>\n<h1>What-if: ");
    esc(&b, name ? name : "");
    sim_buf_put(&b, "</h1>\n");
    const json_t *results = json_object_get(summary, "results"), *res;
    const json_t *aggs = json_object_get(summary, "aggregates");
    size_t i;
    if (json_integer_value(json_object_get(summary, "variants")) > 1)
        side_by_side(&b, aggs ? aggs : results);
    json_array_foreach (aggs ? aggs : results, i, res) {
        int v = (int)json_integer_value(json_object_get(res, "variant"));
        const json_t *params = json_object_get(res, "params"), *pv;
        const json_t *run = res; /* with seeds: the variant's first run */
        const char *pn;
        if (aggs) {
            size_t r;
            json_array_foreach (results, r, run)
                if (json_integer_value(json_object_get(run, "variant")) == v)
                    break;
        }
        double seed = (double)json_integer_value(json_object_get(run, "seed"));
        if (json_integer_value(json_object_get(summary, "variants")) > 1) {
            sim_buf_printf(&b, "<h2>Variant %d", v);
            json_object_foreach ((json_t *)params, pn, pv) {
                char *txt = json_dumps(pv, JSON_ENCODE_ANY | JSON_COMPACT);
                sim_buf_put(&b, " · ");
                esc(&b, pn);
                sim_buf_put(&b, " = ");
                esc(&b, txt ? txt : "?");
                free(txt);
            }
            sim_buf_put(&b, "</h2>\n");
        }
        sim_buf_printf(&b, "<p class=\"sub\">%.0f simulated hours · %lld nodes",
                       jget(run, "duration_s") / 3600,
                       (long long)json_integer_value(json_object_get(run, "nodes")));
        if (jget(run, "nodes_added") > 0)
            sim_buf_printf(&b, " (+ up to %.0f added)", jget(run, "nodes_added"));
        if (aggs)
            sim_buf_printf(&b,
                           " · scheduling tick %g s · <b>%zu seeds: every figure is the "
                           "mean ± the half-width of its 95%% confidence interval</b>; "
                           "charts show seed %.0f",
                           jget(run, "tick_s"),
                           json_array_size(json_object_get(res, "seeds")), seed);
        else
            sim_buf_printf(&b,
                           " · scheduling tick %g s · seed %.0f (one seed: no error "
                           "bars; run with --seeds for them)",
                           jget(run, "tick_s"), seed);
        sim_buf_printf(&b, " · trustplace policy: %s, %s method</p>\n",
                       json_string_value(json_object_get(summary, "trustplace")),
                       json_string_value(json_object_get(run, "solver_method")));
        headline(&b, res);
        summary_table(&b, res);
        provenance(&b, res);
        const json_t *events = json_object_get(run, "events");
        const json_t *pols = json_object_get(run, "policies");
        sim_buf_put(&b, "<p class=\"legend\">");
        json_object_foreach ((json_t *)pols, pn, pv)
            sim_buf_printf(&b,
                           "<span><span class=\"dot\" style=\"background:%s\"></span>%s"
                           "</span>",
                           color(pn), pn);
        sim_buf_put(&b, "<span style=\"color:#8250df\">┆ scenario event</span></p>\n"
                        "<div class=\"charts\">\n");
        chart(&b, &t, v, seed, "violations", 1, "Security violations (cumulative)",
              "placements", events, pols);
        chart(&b, &t, v, seed, "pending_sensitive_gpus", 1, "Sensitive work waiting",
              "GPUs", events, pols);
        chart(&b, &t, v, seed, "tee_share", 100, "Share of busy GPUs in attested TEEs",
              "%", events, pols);
        chart(&b, &t, v, seed, "sensitive_in_tee", 100, "Sensitive work running in TEEs",
              "%", events, pols);
        chart(&b, &t, v, seed, "tokens_per_j", 1,
              "Tokens per joule, all work (see where they come from)", "tokens/J", events,
              pols);
        chart(&b, &t, v, seed, "gpu_util", 100, "GPU utilisation", "% of healthy GPUs",
              events, pols);
        chart(&b, &t, v, seed, "power_kw", 1, "Estimated power draw", "kW", events, pols);
        chart(&b, &t, v, seed, "site_headroom_kw", 1,
              "Site power headroom (tightest site)", "kW", events, pols);
        json_object_foreach ((json_t *)pols, pn, pv)
            reasons_chart(&b, &t, v, seed, pn, events);
        chart(&b, &t, v, seed, "pending_gpus", 1, "All pending work", "GPUs", events,
              pols);
        chart(&b, &t, v, seed, "queued_requests", 1, "Queued inference requests",
              "requests", events, pols);
        chart(&b, &t, v, seed, "energy_kwh", 1, "Energy (cumulative)", "kWh", events,
              pols);
        chart(&b, &t, v, seed, "preemptions", 1, "Preemptions (cumulative)", "workloads",
              events, pols);
        sim_buf_put(&b, "</div>\n");
        if (json_array_size(events)) {
            sim_buf_put(&b, "<p class=\"events\"><b>Scenario events:</b> ");
            size_t k;
            const json_t *e;
            json_array_foreach (events, k, e) {
                sim_buf_printf(&b, "%s%.1f h ", k ? " · " : "", jget(e, "at_s") / 3600);
                esc(&b, json_string_value(json_object_get(e, "label")));
            }
            sim_buf_put(&b, "</p>\n");
        }
    }
    sim_buf_put(&b,
                "<footer>Generated by <code>trustplace sim</code>. Security violations "
                "count placements that fail a workload's TEE, GPU-CC, attestation or "
                "residency requirements at the moment they are made (policy "
                "predicates). Every trustplace decision was re-checked by the "
                "independent validator. See docs/sim.md for the model behind each "
                "figure.</footer>\n</main></body></html>\n");
    table_fini(&t);
    return b.buf;
}
