/*
 * collectors/redfish.c — the Redfish reader: a walk over one BMC's resource
 * tree by following @odata.id links from /redfish/v1, and the facts it yields
 * (power limit, power draw, GPUs, country). No I/O: the walk hands out paths and
 * is fed responses, so the HTTP collector, the tests (mockup directories) and the
 * fuzzer drive the same code.
 *
 * The walk proceeds in phases, each starting when every response of the one
 * before is in (a BMC gets at most a handful of requests at a time anyway):
 *   1. inventory: the service root, the Chassis and Systems collections (with
 *      Members@odata.nextLink pages), and their members;
 *   2. detail: per system its Processors collection and members; per chassis
 *      that holds a system, EnvironmentMetrics, Controls (and members) and the
 *      legacy Power resource; the Links.ContainedBy chain up to 4 levels for the
 *      location of blades;
 *   3. sensors, only for a chassis whose draw is still unknown: Sensors members
 *      with ReadingType Power (at most 64); PCIe devices and their functions,
 *      only for a system whose Processors list no GPU (the system's
 *      PCIeDevices links and its chassis' PCIeDevices collection).
 * Only what is reached by links is fetched; no vendor path (Oem) is assumed.
 *
 * A finished walk is also the BMC's map: while it is read, every document that
 * carried a changing fact (a power source, a GPU's health) is noted, with the
 * collection it came inline with. tp_rf_poll_new builds a walk that fetches
 * only the documents the facts were decided by, and borrows the rest of the
 * tree (links, location) from the map; tp_rf_poll_ok says whether the poll
 * came back whole and decided by the same sources, else the caller walks the
 * tree again.
 *
 * Orders of preference (sources disagree within one BMC; the order is fixed):
 *   power limit: a Control with ControlType Power at chassis level (the lowest
 *     SetPoint in force) → EnvironmentMetrics.PowerLimitWatts.SetPoint → legacy
 *     Power.PowerControl[].PowerLimit.LimitInWatts. The first source that says
 *     anything wins; "capping off" (ControlMode/State Disabled, SetPoint 0,
 *     null LimitInWatts) is an answer too (TP_RF_CAP_NONE).
 *   power draw: EnvironmentMetrics.PowerWatts.Reading → the chassis-level power
 *     Control's Sensor.Reading → PowerControl[].PowerConsumedWatts (enabled
 *     entries) → a Sensor with ReadingType Power and PhysicalContext Chassis,
 *     else the only Power sensor without a PhysicalContext.
 */
#include "collectors/collectors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PATH_LEN 512
#define MAX_CHASSIS 64
#define MAX_SYSTEMS 32
#define MAX_LINKS 4
#define MAX_SENSORS 64
#define MAX_CONTAINED_DEPTH 4
#define MAX_PCIE 128      /* PCIe devices read per walk */
#define MAX_PCIE_FUNCS 8  /* functions read per device */
#define MAX_PCIE_LINKS 64 /* a system's PCIeDevices links */

typedef enum {
    K_ROOT,
    K_CHASSIS_COLL,
    K_SYSTEMS_COLL,
    K_CHASSIS,
    K_SYSTEM,
    K_PROCS_COLL,
    K_PROC,
    K_ENV,
    K_CONTROLS_COLL,
    K_CONTROL,
    K_POWER,
    K_SENSORS_COLL,
    K_SENSOR,
    K_PCIE_COLL,    /* a chassis' PCIeDevices collection; owner: system */
    K_PCIE_DEV,     /* owner: system */
    K_PCIE_FN_COLL, /* owner: PCIe device */
    K_PCIE_FN,      /* owner: PCIe device */
    K_PCIE_HEALTH   /* a GPU's PCIe device polled for its status; owner: device */
} kind_t;

typedef enum { PH_INVENTORY, PH_DETAIL, PH_SENSORS, PH_DONE } phase_t;

typedef struct {
    char *path;
    kind_t kind;
    int owner; /* chassis or system index, or -1 */
    int depth; /* ContainedBy depth for K_CHASSIS */
    bool done;
    int via; /* a member that came inline: the index of its collection's request */
} req_t;

/* A document of the map that carried a changing fact: what a poll fetches. */
typedef struct {
    char *path;
    kind_t kind;
    int owner;
    tp_rf_source_t src; /* the power source it is; TP_RF_SRC_NONE: GPU health */
} target_t;

typedef struct {
    char *path;
    int si;         /* the system it was found for */
    bool gpu;       /* a function of class 0x03 / 0x12 */
    bool present;   /* not Status.State Absent */
    bool healthy;   /* Status.Health OK, not disabled */
    bool seen;      /* read by this walk (a poll resets it) */
    bool fn_failed; /* a function could not be read */
} pdev_t;

typedef struct {
    char *path, *id;
    char *env, *controls, *power, *sensors, *contained_by, *pcie;
    char *limit_uri;     /* EnvironmentMetrics.PowerLimitWatts.DataSourceUri */
    char *power_control; /* the node-level power Control, when there is one */
    int npower_controls;
    bool ctl_via_env;         /* a poll: that Control's SetPoint comes from the excerpt in
                                 EnvironmentMetrics.PowerLimitWatts (DataSourceUri) */
    char *systems[MAX_LINKS]; /* Links.ComputerSystems */
    int nsystems;
    bool fetched, holds_system, detail_issued, sensors_issued;
    char country[3];
    bool has_location;
    /* power, per source */
    tp_rf_cap_state_t ctl_cap_state, env_cap_state, leg_cap_state;
    double ctl_cap, env_cap, leg_cap;
    double ctl_draw, env_draw, leg_draw;
    double sensor_chassis_draw, sensor_free_draw;
    int sensor_free_count;
} chassis_t;

typedef struct {
    char *path, *id;
    char *processors;
    char *chassis[MAX_LINKS];
    int nchassis;
    bool fetched;
    char **pcie_links; /* PCIeDevices (older schema: an array on the System) */
    int npcie_links;
    int procs_state; /* 0 unknown, 1 collection read, -1 failed */
    int gpus_listed; /* GPU processors listed, absent ones included */
    int gpus, gpus_healthy;
    bool partial;
    int pcie_state; /* 0 not read, 1 read, -1 failed */
    char gpu_model[64];
} system_t;

struct tp_rf_walk {
    char expand[32]; /* "?$expand=.($levels=1)" when the root advertises it, else "" */
    int issued;
    req_t *reqs;
    int nreqs, cap_reqs;
    int next;        /* first request not yet handed out */
    int outstanding; /* handed out, not fed */
    int failures;
    phase_t phase;
    bool root_ok;
    char *chassis_coll, *systems_coll, *sessions;
    chassis_t *chassis;
    int nchassis, cap_chassis;
    system_t *systems;
    int nsystems, cap_systems;
    pdev_t *pdevs;
    int npdevs, cap_pdevs;
    target_t *targets; /* discovery: what a poll fetches */
    int ntargets, cap_targets;
    const tp_rf_walk_t *map; /* a poll: the discovery walk whose strings it borrows */
};

const char *tp_rf_source_name(tp_rf_source_t s)
{
    switch (s) {
    case TP_RF_SRC_CONTROL:
        return "control";
    case TP_RF_SRC_ENV:
        return "environment_metrics";
    case TP_RF_SRC_LEGACY:
        return "power_control";
    case TP_RF_SRC_SENSOR:
        return "sensor";
    default:
        return "none";
    }
}

void tp_rf_facts_init(tp_rf_facts_t *f)
{
    memset(f, 0, sizeof *f);
    f->cap_w = NAN;
    f->draw_w = NAN;
    f->gpus = -1;
    f->gpus_healthy = -1;
}

tp_rf_walk_t *tp_rf_walk_new(void)
{
    tp_rf_walk_t *w = calloc(1, sizeof *w);
    return w;
}

static void free_chassis(chassis_t *c)
{
    free(c->path);
    free(c->id);
    free(c->env);
    free(c->controls);
    free(c->power);
    free(c->sensors);
    free(c->contained_by);
    free(c->pcie);
    free(c->limit_uri);
    free(c->power_control);
    for (int i = 0; i < c->nsystems; i++)
        free(c->systems[i]);
}

static void free_system(system_t *s)
{
    free(s->path);
    free(s->id);
    free(s->processors);
    for (int j = 0; j < s->nchassis; j++)
        free(s->chassis[j]);
    for (int j = 0; j < s->npcie_links; j++)
        free(s->pcie_links[j]);
    free(s->pcie_links);
}

void tp_rf_walk_free(tp_rf_walk_t *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->nreqs; i++)
        free(w->reqs[i].path);
    free(w->reqs);
    /* A poll borrows the tree's strings from its map. */
    for (int i = 0; !w->map && i < w->nchassis; i++)
        free_chassis(&w->chassis[i]);
    for (int i = 0; !w->map && i < w->nsystems; i++)
        free_system(&w->systems[i]);
    for (int i = 0; !w->map && i < w->npdevs; i++)
        free(w->pdevs[i].path);
    for (int i = 0; i < w->ntargets; i++)
        free(w->targets[i].path);
    free(w->chassis);
    free(w->systems);
    free(w->pdevs);
    free(w->targets);
    if (!w->map) {
        free(w->chassis_coll);
        free(w->systems_coll);
        free(w->sessions);
    }
    free(w);
}

/* Room for one more element in a growing array of at most max; false when full
 * or out of memory. */
static bool grow(void **arr, int *cap, int n, int max, size_t size)
{
    int ncap;
    void *p;
    if (n < *cap)
        return true;
    if (n >= max)
        return false;
    ncap = *cap ? 2 * *cap : 4;
    if (ncap > max)
        ncap = max;
    if (!(p = realloc(*arr, (size_t)ncap * size)))
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

/* ---- links ---------------------------------------------------------------------------
 */

/* Normalises an @odata.id into a fresh string: fragment stripped, trailing '/'
 * removed, only paths under /redfish/v1 on the same BMC, no dot segments, no
 * query, printable ASCII. NULL when unusable. */
static char *norm_path(const char *s)
{
    size_t n;
    char *out;
    if (!s || strncmp(s, "/redfish/v1", 11) != 0 ||
        (s[11] != '\0' && s[11] != '/' && s[11] != '#'))
        return NULL;
    n = strcspn(s, "#");
    if (n > MAX_PATH_LEN)
        return NULL;
    while (n > 11 && s[n - 1] == '/')
        n--;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '?' || ch == '\\' || ch == '%')
            return NULL;
        if (ch == '/' && s[i + 1] == '.' &&
            (s[i + 2] == '/' || i + 2 >= n ||
             (s[i + 2] == '.' && (s[i + 3] == '/' || i + 3 >= n))))
            return NULL;
    }
    out = malloc(n + 1);
    if (!out)
        return NULL;
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

/* obj[key]["@odata.id"], normalised (fresh string) or NULL. */
static char *link_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_object(v))
        return norm_path(json_string_value(json_object_get(v, "@odata.id")));
    return NULL;
}

static const char *str_of(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* A usable non-negative finite number, else NAN (null, strings, negative …). */
static double num_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    double d;
    if (!json_is_number(v))
        return NAN;
    d = json_number_value(v);
    if (!isfinite(d) || d < 0 || d > 1e9)
        return NAN;
    return d;
}

/* Links.<key> as an array of @odata.id objects, or one object (some firmware). */
static int links_of(const json_t *obj, const char *key, char **out, int max)
{
    const json_t *links = json_object_get(obj, "Links"), *v;
    int n = 0;
    size_t i;
    if (!json_is_object(links))
        return 0;
    v = json_object_get(links, key);
    if (json_is_object(v)) {
        char *p = norm_path(json_string_value(json_object_get(v, "@odata.id")));
        if (p)
            out[n++] = p;
        return n;
    }
    if (!json_is_array(v))
        return 0;
    for (i = 0; i < json_array_size(v) && n < max; i++) {
        const json_t *e = json_array_get(v, i);
        char *p = json_is_object(e) ? norm_path(str_of(e, "@odata.id")) : NULL;
        if (p)
            out[n++] = p;
    }
    return n;
}

/* ---- the request queue
 * ----------------------------------------------------------------- */

static bool requested(const tp_rf_walk_t *w, const char *path)
{
    for (int i = 0; i < w->nreqs; i++)
        if (!strcmp(w->reqs[i].path, path))
            return true;
    return false;
}

/* Queues a GET of path (steals it; duplicates and overflow are dropped). */
static void enqueue(tp_rf_walk_t *w, char *path, kind_t kind, int owner, int depth)
{
    if (!path)
        return;
    if (w->nreqs >= TP_RF_MAX_REQUESTS || requested(w, path)) {
        free(path);
        return;
    }
    if (w->nreqs == w->cap_reqs) {
        int cap = w->cap_reqs ? 2 * w->cap_reqs : 16;
        req_t *r = realloc(w->reqs, (size_t)cap * sizeof *r);
        if (!r) {
            free(path);
            return;
        }
        w->reqs = r;
        w->cap_reqs = cap;
    }
    w->reqs[w->nreqs++] = (req_t){path, kind, owner, depth, false, -1};
}

static void enqueue_dup(tp_rf_walk_t *w, const char *path, kind_t kind, int owner,
                        int depth)
{
    if (path)
        enqueue(w, strdup(path), kind, owner, depth);
}

/* A collection, with its members inline when the service supports $expand. */
static void enqueue_coll(tp_rf_walk_t *w, const char *path, kind_t kind, int owner)
{
    char *p;
    if (!path)
        return;
    if (!w->expand[0]) {
        enqueue_dup(w, path, kind, owner, 0);
        return;
    }
    p = malloc(strlen(path) + sizeof w->expand);
    if (!p)
        return;
    strcpy(p, path);
    strcat(p, w->expand);
    enqueue(w, p, kind, owner, 0);
}

/* Marks a path as read (a member that came inline), so it is not fetched;
 * false when it cannot be recorded (the request cap): then it is not read
 * either, or a hostile collection could repeat it without bound. */
static bool mark_read(tp_rf_walk_t *w, const char *path, kind_t kind, int owner)
{
    int before = w->nreqs;
    enqueue_dup(w, path, kind, owner, 0);
    if (w->nreqs == before)
        return false;
    w->reqs[w->nreqs - 1].done = true;
    return true;
}

/* Notes a document that carried a changing fact (discovery only): the member
 * itself, or the collection it came inline with. */
static void note_target(tp_rf_walk_t *w, const req_t *r, tp_rf_source_t src)
{
    const req_t *t = r->via >= 0 ? &w->reqs[r->via] : r;
    if (w->map)
        return;
    for (int i = 0; i < w->ntargets; i++)
        if (!strcmp(w->targets[i].path, t->path))
            return;
    if (!grow((void **)&w->targets, &w->cap_targets, w->ntargets, TP_RF_MAX_REQUESTS,
              sizeof *w->targets))
        return;
    w->targets[w->ntargets].path = strdup(t->path);
    if (!w->targets[w->ntargets].path)
        return;
    w->targets[w->ntargets].kind = t->kind;
    w->targets[w->ntargets].owner = t->owner;
    w->targets[w->ntargets].src = src;
    w->ntargets++;
}

/* ---- documents
 * -------------------------------------------------------------------------- */

static int find_chassis(const tp_rf_walk_t *w, const char *path)
{
    for (int i = 0; i < w->nchassis; i++)
        if (!strcmp(w->chassis[i].path, path))
            return i;
    return -1;
}

static int add_chassis(tp_rf_walk_t *w, char *path)
{
    int i = find_chassis(w, path);
    chassis_t *c;
    if (i >= 0 || !grow((void **)&w->chassis, &w->cap_chassis, w->nchassis, MAX_CHASSIS,
                        sizeof *w->chassis)) {
        free(path);
        return i;
    }
    c = &w->chassis[w->nchassis];
    memset(c, 0, sizeof *c);
    c->path = path;
    c->sensor_chassis_draw = c->sensor_free_draw = NAN;
    c->ctl_cap = c->env_cap = c->leg_cap = NAN;
    c->ctl_draw = c->env_draw = c->leg_draw = NAN;
    return w->nchassis++;
}

static int add_system(tp_rf_walk_t *w, char *path)
{
    for (int i = 0; i < w->nsystems; i++)
        if (!strcmp(w->systems[i].path, path)) {
            free(path);
            return i;
        }
    if (!grow((void **)&w->systems, &w->cap_systems, w->nsystems, MAX_SYSTEMS,
              sizeof *w->systems)) {
        free(path);
        return -1;
    }
    memset(&w->systems[w->nsystems], 0, sizeof w->systems[0]);
    w->systems[w->nsystems].path = path;
    return w->nsystems++;
}

static void dispatch(tp_rf_walk_t *w, const req_t *r, int id, const json_t *doc);

/* The members of a collection (request coll_id). Members that came inline are
 * read here; the others are queued, except in a poll, which reads only what
 * came inline (its map names every document it needs). */
static void read_members(tp_rf_walk_t *w, int coll_id, const json_t *doc,
                         kind_t coll_kind, kind_t member_kind, int owner, int max)
{
    const json_t *m = json_object_get(doc, "Members"), *e;
    size_t i;
    int n = 0;
    json_array_foreach (m, i, e) {
        char *p = json_is_object(e) ? norm_path(str_of(e, "@odata.id")) : NULL;
        int own = owner;
        if (!p)
            continue;
        if (n++ >= max) {
            free(p);
            break;
        }
        if (member_kind == K_CHASSIS)
            own = add_chassis(w, strdup(p));
        else if (member_kind == K_SYSTEM)
            own = add_system(w, strdup(p));
        if (json_object_size(e) > 1 && !requested(w, p)) {
            /* Expanded: the member is here already. */
            req_t r = {p, member_kind, own, 0, true, coll_id};
            if (mark_read(w, p, member_kind, own) && !json_object_get(e, "error"))
                dispatch(w, &r, -1, e);
            free(p);
        } else if (!w->map) {
            enqueue(w, p, member_kind, own, 0);
        } else {
            free(p);
        }
    }
    if (!w->map)
        enqueue(w, norm_path(str_of(doc, "Members@odata.nextLink")), coll_kind, owner, 0);
}

/* Location: PostalAddress.Country (older), PhysicalAddress.ISOCountryCode or
 * .Country (newer); alpha-2 or alpha-3. */
static void read_location(chassis_t *c, const json_t *doc)
{
    const json_t *loc = json_object_get(doc, "Location");
    static const char *const paths[][2] = {{"PhysicalAddress", "ISOCountryCode"},
                                           {"PhysicalAddress", "Country"},
                                           {"PostalAddress", "Country"}};
    if (!json_is_object(loc))
        return;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const json_t *a = json_object_get(loc, paths[i][0]);
        char cc[3];
        if (json_is_object(a) && tp_country_normalise(str_of(a, paths[i][1]), cc) == 0) {
            memcpy(c->country, cc, 3);
            c->has_location = true;
            return;
        }
    }
}

/* Replaces *dst by a link (each document is read once per walk; this keeps a
 * repeated one from leaking the links of the one before). */
static void set_link(char **dst, char *v)
{
    free(*dst);
    *dst = v;
}

static void read_chassis(tp_rf_walk_t *w, int ci, const json_t *doc, int depth)
{
    chassis_t *c;
    char *cb[1] = {NULL}, *up;
    if (ci < 0)
        return;
    c = &w->chassis[ci];
    c->fetched = true;
    if (!c->id && str_of(doc, "Id"))
        c->id = strdup(str_of(doc, "Id"));
    set_link(&c->env, link_of(doc, "EnvironmentMetrics"));
    set_link(&c->controls, link_of(doc, "Controls"));
    set_link(&c->power, link_of(doc, "Power"));
    set_link(&c->sensors, link_of(doc, "Sensors"));
    set_link(&c->pcie, link_of(doc, "PCIeDevices"));
    for (int i = 0; i < c->nsystems; i++)
        free(c->systems[i]);
    c->nsystems = links_of(doc, "ComputerSystems", c->systems, MAX_LINKS);
    set_link(&c->contained_by, links_of(doc, "ContainedBy", cb, 1) == 1 ? cb[0] : NULL);
    read_location(c, doc);
    /* During detail, keep climbing for a location. */
    if (w->phase == PH_DETAIL && !c->has_location && c->contained_by &&
        depth < MAX_CONTAINED_DEPTH && (up = strdup(c->contained_by))) {
        int p = add_chassis(w, strdup(up)); /* may move w->chassis */
        if (p >= 0 && !w->chassis[p].fetched)
            enqueue(w, up, K_CHASSIS, p, depth + 1);
        else
            free(up);
    }
}

static void read_system(tp_rf_walk_t *w, int si, const json_t *doc)
{
    system_t *s;
    const json_t *pd = json_object_get(doc, "PCIeDevices"), *e;
    size_t i;
    if (si < 0)
        return;
    s = &w->systems[si];
    s->fetched = true;
    if (!s->id && str_of(doc, "Id"))
        s->id = strdup(str_of(doc, "Id"));
    set_link(&s->processors, link_of(doc, "Processors"));
    for (int j = 0; j < s->nchassis; j++)
        free(s->chassis[j]);
    s->nchassis = links_of(doc, "Chassis", s->chassis, MAX_LINKS);
    for (int j = 0; j < s->npcie_links; j++)
        free(s->pcie_links[j]);
    free(s->pcie_links);
    s->pcie_links = NULL;
    s->npcie_links = 0;
    /* Older ComputerSystem versions list PCIe devices as an array of links. */
    if (json_array_size(pd) > 0 &&
        (s->pcie_links = calloc(MAX_PCIE_LINKS, sizeof *s->pcie_links)))
        json_array_foreach (pd, i, e) {
            char *p = json_is_object(e) ? norm_path(str_of(e, "@odata.id")) : NULL;
            if (p && s->npcie_links < MAX_PCIE_LINKS)
                s->pcie_links[s->npcie_links++] = p;
            else
                free(p);
        }
}

static bool state_off(const json_t *obj)
{
    const json_t *st = json_object_get(obj, "Status");
    const char *state = json_is_object(st) ? str_of(st, "State") : NULL;
    return state && (!strcmp(state, "Disabled") || !strcmp(state, "Absent") ||
                     !strcmp(state, "UnavailableOffline") || !strcmp(state, "Deferring"));
}

/* A GPU processor (true), listed even when its socket is empty. */
static bool read_processor(tp_rf_walk_t *w, int si, const json_t *doc)
{
    system_t *s;
    const char *type = str_of(doc, "ProcessorType"), *model = str_of(doc, "Model");
    const json_t *st = json_object_get(doc, "Status");
    const char *health = json_is_object(st) ? str_of(st, "Health") : NULL;
    const char *state = json_is_object(st) ? str_of(st, "State") : NULL;
    if (si < 0 || !type || strcmp(type, "GPU") != 0)
        return false;
    s = &w->systems[si];
    s->gpus_listed++;
    if (state && !strcmp(state, "Absent"))
        return true; /* an empty socket is no GPU, but the BMC does list GPUs */
    s->gpus++;
    if (health && !strcmp(health, "OK") && !state_off(doc))
        s->gpus_healthy++;
    if (model && !s->gpu_model[0]) {
        size_t n = strlen(model);
        while (n > 0 && model[n - 1] == ' ')
            n--;
        if (n >= sizeof s->gpu_model)
            n = sizeof s->gpu_model - 1;
        memcpy(s->gpu_model, model, n);
        s->gpu_model[n] = '\0';
    }
    return true;
}

/* A PCIe device found for system si: its functions say whether it is a GPU. */
static void read_pcie_device(tp_rf_walk_t *w, int si, const char *path, const json_t *doc)
{
    const json_t *st = json_object_get(doc, "Status");
    const char *health = json_is_object(st) ? str_of(st, "Health") : NULL;
    const char *state = json_is_object(st) ? str_of(st, "State") : NULL;
    const json_t *links = json_object_get(doc, "Links"), *fl, *e;
    char *fns[MAX_PCIE_FUNCS];
    pdev_t *d;
    int di, n;
    if (si < 0 ||
        !grow((void **)&w->pdevs, &w->cap_pdevs, w->npdevs, MAX_PCIE, sizeof *w->pdevs))
        return;
    d = &w->pdevs[w->npdevs];
    memset(d, 0, sizeof *d);
    if (!(d->path = strdup(path)))
        return;
    di = w->npdevs++;
    d->si = si;
    d->seen = true;
    d->present = !(state && !strcmp(state, "Absent"));
    d->healthy = health && !strcmp(health, "OK") && !state_off(doc);
    /* Newer PCIeDevice versions: a PCIeFunctions collection; older ones list
     * the functions under Links. */
    {
        char *coll = link_of(doc, "PCIeFunctions");
        enqueue_coll(w, coll, K_PCIE_FN_COLL, di);
        free(coll);
    }
    fl = json_is_object(links) ? json_object_get(links, "PCIeFunctions") : NULL;
    n = 0;
    if (json_is_array(fl)) {
        size_t i;
        json_array_foreach (fl, i, e) {
            char *p = json_is_object(e) ? norm_path(str_of(e, "@odata.id")) : NULL;
            if (p && n < MAX_PCIE_FUNCS)
                fns[n++] = p;
            else
                free(p);
        }
    }
    for (int k = 0; k < n; k++)
        enqueue(w, fns[k], K_PCIE_FN, di, 0);
}

/* Whether a PCIe function is a GPU: base class 0x03 (display controller) or
 * 0x12 (processing accelerator), from ClassCode "0xCCSSPP" or, without one,
 * from DeviceClass. A VGA-compatible controller (0x0300, or DeviceClass alone)
 * counts only from a GPU vendor (NVIDIA 0x10de, AMD 0x1002): servers carry an
 * on-board VGA (ASPEED, Matrox) that is a display controller too, and counting
 * it would add a GPU that is not there. */
static bool pcie_is_gpu(const json_t *doc)
{
    const char *dc = str_of(doc, "DeviceClass"), *cc = str_of(doc, "ClassCode");
    const char *vid = str_of(doc, "VendorId");
    int base = -1, sub = -1;
    if (cc && cc[0] == '0' && (cc[1] == 'x' || cc[1] == 'X') && strlen(cc) == 8 &&
        strspn(cc + 2, "0123456789abcdefABCDEF") == 6) {
        char b[3] = {cc[2], cc[3], 0}, s2[3] = {cc[4], cc[5], 0};
        base = (int)strtol(b, NULL, 16);
        sub = (int)strtol(s2, NULL, 16);
    } else if (dc && !strcmp(dc, "DisplayController")) {
        base = 0x03;
    } else if (dc && !strcmp(dc, "ProcessingAccelerators")) {
        base = 0x12;
    }
    if (base == 0x12)
        return true;
    if (base != 0x03)
        return false;
    if (sub > 0)
        return true; /* 3D controller, other display controller */
    return vid && (!strcasecmp(vid, "0x10de") || !strcasecmp(vid, "0x1002"));
}

/* A PCIe function of device di: a GPU function makes the device a GPU. */
static bool read_pcie_function(tp_rf_walk_t *w, int di, const json_t *doc)
{
    if (di < 0 || di >= w->npdevs || !pcie_is_gpu(doc))
        return false;
    w->pdevs[di].gpu = true;
    return true;
}

/* A GPU's PCIe device polled again: its status. */
static void read_pcie_health(tp_rf_walk_t *w, int di, const json_t *doc)
{
    const json_t *st = json_object_get(doc, "Status");
    const char *health = json_is_object(st) ? str_of(st, "Health") : NULL;
    const char *state = json_is_object(st) ? str_of(st, "State") : NULL;
    if (di < 0 || di >= w->npdevs)
        return;
    w->pdevs[di].seen = true;
    w->pdevs[di].present = !(state && !strcmp(state, "Absent"));
    w->pdevs[di].healthy = health && !strcmp(health, "OK") && !state_off(doc);
}

/* A chassis-level control: no PhysicalContext, or one naming the whole box. */
static bool node_level(const json_t *obj)
{
    const char *ctx = str_of(obj, "PhysicalContext");
    return !ctx || !strcmp(ctx, "Chassis") || !strcmp(ctx, "SystemBoard") ||
           !strcmp(ctx, "Rack") || !strcmp(ctx, "PowerSupply");
}

static void merge_cap(tp_rf_cap_state_t *state, double *cap, tp_rf_cap_state_t s,
                      double v)
{
    if (s == TP_RF_CAP_SET) {
        if (*state != TP_RF_CAP_SET || v < *cap)
            *cap = v;
        *state = TP_RF_CAP_SET;
    } else if (s == TP_RF_CAP_NONE && *state == TP_RF_CAP_UNKNOWN) {
        *state = TP_RF_CAP_NONE;
    }
}

static bool read_control(tp_rf_walk_t *w, int ci, const char *path, const json_t *doc)
{
    chassis_t *c;
    const char *type = str_of(doc, "ControlType"), *mode = str_of(doc, "ControlMode");
    const json_t *sensor = json_object_get(doc, "Sensor");
    double sp = num_of(doc, "SetPoint");
    if (ci < 0 || !type || strcmp(type, "Power") != 0 || !node_level(doc))
        return false;
    c = &w->chassis[ci];
    if ((mode && !strcmp(mode, "Disabled")) || state_off(doc) || sp == 0)
        merge_cap(&c->ctl_cap_state, &c->ctl_cap, TP_RF_CAP_NONE, NAN);
    else if (!isnan(sp))
        merge_cap(&c->ctl_cap_state, &c->ctl_cap, TP_RF_CAP_SET, sp);
    if (json_is_object(sensor) && isnan(c->ctl_draw))
        c->ctl_draw = num_of(sensor, "Reading");
    if (!w->map) {
        c->npower_controls++;
        set_link(&c->power_control, strdup(path));
    }
    return true;
}

static void read_env(tp_rf_walk_t *w, int ci, const json_t *doc)
{
    chassis_t *c;
    const json_t *lim = json_object_get(doc, "PowerLimitWatts");
    const json_t *pw = json_object_get(doc, "PowerWatts");
    if (ci < 0)
        return;
    c = &w->chassis[ci];
    if (json_is_object(lim)) {
        const char *mode = str_of(lim, "ControlMode");
        double sp = num_of(lim, "SetPoint");
        tp_rf_cap_state_t st = (mode && !strcmp(mode, "Disabled")) || sp == 0
                                   ? TP_RF_CAP_NONE
                               : !isnan(sp) ? TP_RF_CAP_SET
                                            : TP_RF_CAP_UNKNOWN;
        merge_cap(&c->env_cap_state, &c->env_cap, st, sp);
        /* PowerLimitWatts is an excerpt of a Control (DataSourceUri): a poll
         * reads the Control's SetPoint from here (see tp_rf_poll_new). */
        if (!w->map)
            set_link(&c->limit_uri, norm_path(str_of(lim, "DataSourceUri")));
        else if (c->ctl_via_env)
            merge_cap(&c->ctl_cap_state, &c->ctl_cap, st, sp);
    }
    if (json_is_object(pw))
        c->env_draw = num_of(pw, "Reading");
}

static void read_power(tp_rf_walk_t *w, int ci, const json_t *doc)
{
    chassis_t *c;
    const json_t *pcs = json_object_get(doc, "PowerControl"), *pc;
    size_t i;
    if (ci < 0)
        return;
    c = &w->chassis[ci];
    json_array_foreach (pcs, i, pc) {
        const json_t *lim, *limw;
        double v;
        if (!json_is_object(pc))
            continue;
        if (state_off(pc)) {
            merge_cap(&c->leg_cap_state, &c->leg_cap, TP_RF_CAP_NONE, NAN);
            continue;
        }
        lim = json_object_get(pc, "PowerLimit");
        limw = json_is_object(lim) ? json_object_get(lim, "LimitInWatts") : NULL;
        v = json_is_object(lim) ? num_of(lim, "LimitInWatts") : NAN;
        if (!limw || json_is_null(limw) || v == 0)
            merge_cap(&c->leg_cap_state, &c->leg_cap, TP_RF_CAP_NONE, NAN);
        else if (!isnan(v))
            merge_cap(&c->leg_cap_state, &c->leg_cap, TP_RF_CAP_SET, v);
        if (isnan(c->leg_draw))
            c->leg_draw = num_of(pc, "PowerConsumedWatts");
    }
}

static bool read_sensor(tp_rf_walk_t *w, int ci, const json_t *doc)
{
    chassis_t *c;
    const char *type = str_of(doc, "ReadingType"), *ctx = str_of(doc, "PhysicalContext");
    double v = num_of(doc, "Reading");
    if (ci < 0 || !type || strcmp(type, "Power") != 0 || isnan(v) || state_off(doc))
        return false;
    c = &w->chassis[ci];
    if (ctx && !strcmp(ctx, "Chassis")) {
        if (isnan(c->sensor_chassis_draw))
            c->sensor_chassis_draw = v;
    } else if (!ctx) {
        c->sensor_free_count++;
        c->sensor_free_draw = v;
    } else {
        return false;
    }
    return true;
}

static void read_root(tp_rf_walk_t *w, const json_t *doc)
{
    const json_t *links = json_object_get(doc, "Links");
    const json_t *pf = json_object_get(doc, "ProtocolFeaturesSupported");
    const json_t *ex = json_is_object(pf) ? json_object_get(pf, "ExpandQuery") : NULL;
    w->root_ok = true;
    w->chassis_coll = link_of(doc, "Chassis");
    w->systems_coll = link_of(doc, "Systems");
    if (json_is_object(links))
        w->sessions = link_of(links, "Sessions");
    /* $expand only where the service says it supports it (DSP0266 7.3). */
    if (json_is_object(ex)) {
        const char *what = json_is_true(json_object_get(ex, "NoLinks"))     ? "."
                           : json_is_true(json_object_get(ex, "ExpandAll")) ? "*"
                                                                            : NULL;
        if (what)
            snprintf(w->expand, sizeof w->expand, "?$expand=%s%s", what,
                     json_is_true(json_object_get(ex, "Levels")) ? "($levels=1)" : "");
    }
    enqueue_coll(w, w->chassis_coll, K_CHASSIS_COLL, -1);
    enqueue_coll(w, w->systems_coll, K_SYSTEMS_COLL, -1);
}

/* ---- phases
 * ------------------------------------------------------------------------------ */

/* The chassis of system si, into out (indices); by the system's Links.Chassis,
 * else the chassis' Links.ComputerSystems, else equal Id, else the only one. */
static int system_chassis(const tp_rf_walk_t *w, int si, int *out, int max)
{
    const system_t *s = &w->systems[si];
    int n = 0;
    for (int j = 0; j < s->nchassis && n < max; j++) {
        int ci = find_chassis(w, s->chassis[j]);
        if (ci >= 0 && w->chassis[ci].fetched)
            out[n++] = ci;
    }
    if (n)
        return n;
    for (int ci = 0; ci < w->nchassis && n < max; ci++)
        for (int j = 0; j < w->chassis[ci].nsystems; j++)
            if (!strcmp(w->chassis[ci].systems[j], s->path)) {
                out[n++] = ci;
                break;
            }
    if (n)
        return n;
    for (int ci = 0; ci < w->nchassis && n < max; ci++)
        if (s->id && w->chassis[ci].id && !strcmp(s->id, w->chassis[ci].id))
            out[n++] = ci;
    if (n)
        return n;
    if (w->nchassis == 1 && w->chassis[0].fetched)
        out[n++] = 0;
    return n;
}

static void start_detail(tp_rf_walk_t *w)
{
    int nch = w->nchassis;
    for (int si = 0; si < w->nsystems; si++) {
        system_t *s = &w->systems[si];
        int cs[MAX_LINKS], n;
        if (!s->fetched)
            continue;
        enqueue_coll(w, s->processors, K_PROCS_COLL, si);
        n = system_chassis(w, si, cs, MAX_LINKS);
        for (int k = 0; k < n; k++)
            w->chassis[cs[k]].holds_system = true;
    }
    for (int ci = 0; ci < nch; ci++) {
        chassis_t *c = &w->chassis[ci];
        char *up;
        if (!c->holds_system || c->detail_issued)
            continue;
        c->detail_issued = true;
        enqueue_dup(w, c->env, K_ENV, ci, 0);
        enqueue_coll(w, c->controls, K_CONTROLS_COLL, ci);
        enqueue_dup(w, c->power, K_POWER, ci, 0);
        if (!c->has_location && c->contained_by && (up = strdup(c->contained_by))) {
            int p = add_chassis(w, strdup(up)); /* may move w->chassis */
            if (p >= 0 && !w->chassis[p].fetched)
                enqueue(w, up, K_CHASSIS, p, 1);
            else
                free(up);
        }
    }
}

static double chassis_draw(const chassis_t *c, tp_rf_source_t *src)
{
    if (!isnan(c->env_draw)) {
        *src = TP_RF_SRC_ENV;
        return c->env_draw;
    }
    if (!isnan(c->ctl_draw)) {
        *src = TP_RF_SRC_CONTROL;
        return c->ctl_draw;
    }
    if (!isnan(c->leg_draw)) {
        *src = TP_RF_SRC_LEGACY;
        return c->leg_draw;
    }
    if (!isnan(c->sensor_chassis_draw)) {
        *src = TP_RF_SRC_SENSOR;
        return c->sensor_chassis_draw;
    }
    if (c->sensor_free_count == 1) {
        *src = TP_RF_SRC_SENSOR;
        return c->sensor_free_draw;
    }
    *src = TP_RF_SRC_NONE;
    return NAN;
}

static void start_sensors(tp_rf_walk_t *w)
{
    for (int ci = 0; ci < w->nchassis; ci++) {
        chassis_t *c = &w->chassis[ci];
        tp_rf_source_t src;
        if (c->holds_system && !c->sensors_issued && c->sensors &&
            isnan(chassis_draw(c, &src))) {
            c->sensors_issued = true;
            enqueue_coll(w, c->sensors, K_SENSORS_COLL, ci);
        }
    }
}

/* Systems whose Processors list no GPU: their PCIe devices (the System's own
 * links, and the PCIeDevices collections of its chassis). */
static void start_pcie(tp_rf_walk_t *w)
{
    for (int si = 0; si < w->nsystems; si++) {
        system_t *s = &w->systems[si];
        int cs[MAX_LINKS], n;
        if (!s->fetched || s->gpus_listed > 0)
            continue;
        for (int k = 0; k < s->npcie_links; k++)
            enqueue_dup(w, s->pcie_links[k], K_PCIE_DEV, si, 0);
        if (s->npcie_links)
            s->pcie_state = 1;
        n = system_chassis(w, si, cs, MAX_LINKS);
        for (int k = 0; k < n; k++)
            enqueue_coll(w, w->chassis[cs[k]].pcie, K_PCIE_COLL, si);
    }
}

static void advance(tp_rf_walk_t *w)
{
    while (w->next < w->nreqs && w->reqs[w->next].done)
        w->next++;
    while (w->outstanding == 0 && w->next == w->nreqs && w->phase != PH_DONE) {
        if (!w->root_ok || w->map) { /* a poll has one phase */
            w->phase = PH_DONE;
            break;
        }
        w->phase++;
        if (w->phase == PH_DETAIL) {
            start_detail(w);
        } else if (w->phase == PH_SENSORS) {
            start_sensors(w);
            start_pcie(w);
        }
    }
}

int tp_rf_walk_next(tp_rf_walk_t *w, const char **path)
{
    if (w->nreqs == 0 && w->phase == PH_INVENTORY)
        enqueue_dup(w, "/redfish/v1", K_ROOT, -1, 0);
    for (;;) {
        while (w->next < w->nreqs && w->reqs[w->next].done)
            w->next++; /* read inline already */
        if (w->next < w->nreqs)
            break;
        advance(w);
        if (w->next >= w->nreqs)
            return -1;
    }
    *path = w->reqs[w->next].path;
    w->outstanding++;
    w->issued++;
    return w->next++;
}

/* Reads the document of request r (id: its index, -1 for a member that came
 * inline). A poll reads only the documents a poll fetches. */
static void dispatch(tp_rf_walk_t *w, const req_t *r, int id, const json_t *doc)
{
    if (w->map && r->kind <= K_SYSTEM)
        return;
    switch (r->kind) {
    case K_ROOT:
        read_root(w, doc);
        break;
    case K_CHASSIS_COLL:
        read_members(w, id, doc, K_CHASSIS_COLL, K_CHASSIS, -1, MAX_CHASSIS);
        break;
    case K_SYSTEMS_COLL:
        read_members(w, id, doc, K_SYSTEMS_COLL, K_SYSTEM, -1, MAX_SYSTEMS);
        break;
    case K_CHASSIS:
        read_chassis(w, r->owner, doc, r->depth);
        break;
    case K_SYSTEM:
        read_system(w, r->owner, doc);
        break;
    case K_PROCS_COLL:
        if (r->owner >= 0 && w->systems[r->owner].procs_state == 0)
            w->systems[r->owner].procs_state = 1;
        read_members(w, id, doc, K_PROCS_COLL, K_PROC, r->owner, 256);
        break;
    case K_PROC:
        if (read_processor(w, r->owner, doc))
            note_target(w, r, TP_RF_SRC_NONE);
        break;
    case K_ENV:
        read_env(w, r->owner, doc);
        note_target(w, r, TP_RF_SRC_ENV);
        break;
    case K_CONTROLS_COLL:
        read_members(w, id, doc, K_CONTROLS_COLL, K_CONTROL, r->owner, 64);
        break;
    case K_CONTROL:
        if (read_control(w, r->owner, r->path, doc))
            note_target(w, r, TP_RF_SRC_CONTROL);
        break;
    case K_POWER:
        read_power(w, r->owner, doc);
        note_target(w, r, TP_RF_SRC_LEGACY);
        break;
    case K_SENSORS_COLL:
        read_members(w, id, doc, K_SENSORS_COLL, K_SENSOR, r->owner, MAX_SENSORS);
        break;
    case K_SENSOR:
        if (read_sensor(w, r->owner, doc))
            note_target(w, r, TP_RF_SRC_SENSOR);
        break;
    case K_PCIE_COLL:
        if (r->owner >= 0 && w->systems[r->owner].pcie_state == 0)
            w->systems[r->owner].pcie_state = 1;
        read_members(w, id, doc, K_PCIE_COLL, K_PCIE_DEV, r->owner, MAX_PCIE);
        break;
    case K_PCIE_DEV:
        read_pcie_device(w, r->owner, r->path, doc);
        break;
    case K_PCIE_FN_COLL:
        read_members(w, id, doc, K_PCIE_FN_COLL, K_PCIE_FN, r->owner, MAX_PCIE_FUNCS);
        break;
    case K_PCIE_FN:
        if (read_pcie_function(w, r->owner, doc)) {
            /* The device's status is what a poll reads again. */
            req_t dev = {w->pdevs[r->owner].path, K_PCIE_HEALTH, r->owner, 0, true, -1};
            note_target(w, &dev, TP_RF_SRC_NONE);
        }
        break;
    case K_PCIE_HEALTH:
        read_pcie_health(w, r->owner, doc);
        break;
    }
}

static void failed(tp_rf_walk_t *w, const req_t *r)
{
    const char *q = strchr(r->path, '?');
    w->failures++;
    if (w->map) /* a poll that fails is not patched up: the caller walks again */
        return;
    /* A collection asked for with $expand that failed: once more without. */
    if (q) {
        enqueue(w, strndup(r->path, (size_t)(q - r->path)), r->kind, r->owner, r->depth);
        return;
    }
    if (r->owner < 0)
        return;
    if (r->kind == K_PROCS_COLL)
        w->systems[r->owner].procs_state = -1;
    else if (r->kind == K_PROC)
        w->systems[r->owner].partial = true;
    else if (r->kind == K_PCIE_COLL)
        w->systems[r->owner].pcie_state = -1;
    else if (r->kind == K_PCIE_DEV)
        w->systems[r->owner].partial = true;
    else if (r->kind == K_PCIE_FN || r->kind == K_PCIE_FN_COLL)
        w->pdevs[r->owner].fn_failed = true;
}

void tp_rf_walk_feed_doc(tp_rf_walk_t *w, int id, int status, const json_t *doc)
{
    req_t r;
    if (id < 0 || id >= w->next || w->reqs[id].done)
        return;
    w->reqs[id].done = true;
    r = w->reqs[id]; /* a copy: reading may grow w->reqs */
    w->outstanding--;
    /* An error body ({"error": …}) is a failure whatever the status says. */
    if (status < 200 || status >= 300 || !json_is_object(doc) ||
        (json_object_get(doc, "error") && !json_object_get(doc, "@odata.id")))
        failed(w, &r);
    else
        dispatch(w, &r, id, doc);
    advance(w);
}

void tp_rf_walk_feed(tp_rf_walk_t *w, int id, int status, const char *body, size_t len)
{
    json_t *doc = NULL;
    if (status >= 200 && status < 300 && body)
        doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    tp_rf_walk_feed_doc(w, id, status, doc);
    json_decref(doc);
}

bool tp_rf_walk_done(const tp_rf_walk_t *w)
{
    return w->phase == PH_DONE;
}

const char *tp_rf_walk_sessions(const tp_rf_walk_t *w)
{
    return w->sessions;
}

bool tp_rf_walk_root_ok(const tp_rf_walk_t *w)
{
    return w->root_ok;
}

int tp_rf_walk_requests(const tp_rf_walk_t *w)
{
    return w->issued;
}

int tp_rf_walk_failures(const tp_rf_walk_t *w)
{
    return w->failures;
}

int tp_rf_walk_nsystems(const tp_rf_walk_t *w)
{
    int n = 0;
    for (int i = 0; i < w->nsystems; i++)
        n += w->systems[i].fetched;
    return n;
}

/* ---- facts
 * -------------------------------------------------------------------------------- */

static void country_of(const tp_rf_walk_t *w, int ci, char out[3])
{
    for (int depth = 0; ci >= 0 && depth <= MAX_CONTAINED_DEPTH; depth++) {
        const chassis_t *c = &w->chassis[ci];
        if (c->has_location) {
            memcpy(out, c->country, 3);
            return;
        }
        if (!c->contained_by)
            return;
        ci = find_chassis(w, c->contained_by);
        if (ci >= 0 && !w->chassis[ci].fetched)
            return;
    }
}

static void cap_of(const chassis_t *c, tp_rf_facts_t *f)
{
    const struct {
        tp_rf_cap_state_t st;
        double v;
        tp_rf_source_t src;
    } order[] = {{c->ctl_cap_state, c->ctl_cap, TP_RF_SRC_CONTROL},
                 {c->env_cap_state, c->env_cap, TP_RF_SRC_ENV},
                 {c->leg_cap_state, c->leg_cap, TP_RF_SRC_LEGACY}};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (order[i].st != TP_RF_CAP_UNKNOWN) {
            f->cap_state = order[i].st;
            f->cap_w = order[i].st == TP_RF_CAP_SET ? order[i].v : NAN;
            f->cap_source = order[i].src;
            return;
        }
}

/* The facts of system si (fetched). */
static void facts_of(const tp_rf_walk_t *w, int si, tp_rf_facts_t *out)
{
    const system_t *s = &w->systems[si];
    int cs[MAX_LINKS], n, pg = 0, ph = 0;
    bool pfail = false;
    snprintf(out->system_id, sizeof out->system_id, "%s", s->id ? s->id : "");
    /* GPUs: the GPU processors listed (present, absent or failed); where none
     * is listed, PCIe devices with a display or accelerator function; else
     * unknown — no GPU processor listed is no evidence of no GPU. */
    for (int d = 0; d < w->npdevs; d++) {
        const pdev_t *p = &w->pdevs[d];
        if (p->si != si || !p->gpu)
            continue;
        if (!p->seen) {
            pfail = true;
            continue;
        }
        if (!p->present)
            continue;
        pg++;
        ph += p->healthy;
    }
    for (int d = 0; d < w->npdevs; d++)
        if (w->pdevs[d].si == si && w->pdevs[d].fn_failed)
            pfail = true;
    if (s->procs_state == 1 && s->gpus_listed > 0) {
        out->gpus = s->gpus;
        out->gpus_healthy = s->gpus_healthy;
        out->gpus_partial = s->partial;
        out->gpus_source = TP_RF_GPUS_PROCESSORS;
        memcpy(out->gpu_model, s->gpu_model, sizeof out->gpu_model);
    } else if (s->pcie_state == 1 && pg > 0) {
        out->gpus = pg;
        out->gpus_healthy = ph;
        out->gpus_partial = s->partial || pfail;
        out->gpus_source = TP_RF_GPUS_PCIE;
    }
    n = system_chassis(w, si, cs, MAX_LINKS);
    for (int k = 0; k < n; k++) {
        const chassis_t *c = &w->chassis[cs[k]];
        if (out->cap_state == TP_RF_CAP_UNKNOWN)
            cap_of(c, out);
        if (isnan(out->draw_w))
            out->draw_w = chassis_draw(c, &out->draw_source);
        if (!out->country[0])
            country_of(w, cs[k], out->country);
    }
}

int tp_rf_walk_facts(const tp_rf_walk_t *w, const char *system_id, tp_rf_facts_t *out,
                     tp_error_t *err)
{
    int si = -1;
    tp_rf_facts_init(out);
    if (!w->root_ok)
        return tp_error_set(err, TP_ENOENT,
                            "the service root /redfish/v1 did not answer");
    for (int i = 0; i < w->nsystems; i++) {
        if (!w->systems[i].fetched)
            continue;
        if (system_id ? (w->systems[i].id && !strcmp(w->systems[i].id, system_id))
                      : si < 0)
            si = i;
        else if (!system_id)
            return tp_error_set(err, TP_EINVAL,
                                "the BMC has several systems; name the node's system in "
                                "collectors.systems");
    }
    if (si < 0)
        return tp_error_set(err, TP_ENOENT, "no system %s%s%s among the BMC's %d",
                            system_id ? "\"" : "", system_id ? system_id : "",
                            system_id ? "\"" : "", tp_rf_walk_nsystems(w));
    facts_of(w, si, out);
    return 0;
}

/* ---- steady state: polling the map
 * ---------------------------------------------------------- */

tp_rf_walk_t *tp_rf_poll_new(tp_rf_walk_t *map)
{
    tp_rf_walk_t *w;
    unsigned *need; /* per chassis: the power sources some system decides by */
    unsigned *need_draw;
    if (!map || map->map || map->phase != PH_DONE || !map->root_ok || map->failures > 0 ||
        map->ntargets == 0)
        return NULL;
    /* The map's request list is spent: keep only what facts and polls need. */
    for (int i = 0; i < map->nreqs; i++)
        free(map->reqs[i].path);
    free(map->reqs);
    map->reqs = NULL;
    map->nreqs = map->cap_reqs = map->next = 0;
    if (!(w = calloc(1, sizeof *w)))
        return NULL;
    w->map = map;
    w->root_ok = true;
    w->phase = PH_DETAIL;
    w->sessions = map->sessions;
    memcpy(w->expand, map->expand, sizeof w->expand);
    w->chassis = malloc((size_t)(map->nchassis + 1) * sizeof *w->chassis);
    w->systems = malloc((size_t)(map->nsystems + 1) * sizeof *w->systems);
    w->pdevs = malloc((size_t)(map->npdevs + 1) * sizeof *w->pdevs);
    need = calloc((size_t)map->nchassis + 1, sizeof *need);
    need_draw = calloc((size_t)map->nchassis + 1, sizeof *need_draw);
    if (!w->chassis || !w->systems || !w->pdevs || !need || !need_draw) {
        free(need);
        free(need_draw);
        tp_rf_walk_free(w);
        return NULL;
    }
    /* The tree as discovered, its changing facts cleared (strings borrowed). */
    for (int i = 0; i < map->nchassis; i++) {
        chassis_t *c = &w->chassis[i];
        *c = map->chassis[i];
        c->ctl_cap_state = c->env_cap_state = c->leg_cap_state = TP_RF_CAP_UNKNOWN;
        c->ctl_cap = c->env_cap = c->leg_cap = NAN;
        c->ctl_draw = c->env_draw = c->leg_draw = NAN;
        c->sensor_chassis_draw = c->sensor_free_draw = NAN;
        c->sensor_free_count = 0;
        c->ctl_via_env = false;
    }
    w->nchassis = w->cap_chassis = map->nchassis;
    for (int i = 0; i < map->nsystems; i++) {
        system_t *s = &w->systems[i];
        *s = map->systems[i];
        s->gpus_listed = s->gpus = s->gpus_healthy = 0;
        s->partial = false;
        s->gpu_model[0] = '\0';
    }
    w->nsystems = w->cap_systems = map->nsystems;
    for (int i = 0; i < map->npdevs; i++) {
        w->pdevs[i] = map->pdevs[i];
        w->pdevs[i].seen = w->pdevs[i].healthy = false;
    }
    w->npdevs = w->cap_pdevs = map->npdevs;
    /* Poll only the sources that decided a fact: as long as each still says
     * something, the order of preference gives the same source again. */
    for (int si = 0; si < map->nsystems; si++) {
        tp_rf_facts_t f;
        int cs[MAX_LINKS], n;
        if (!map->systems[si].fetched)
            continue;
        tp_rf_facts_init(&f);
        facts_of(map, si, &f);
        n = system_chassis(map, si, cs, MAX_LINKS);
        for (int k = 0; k < n; k++) {
            need[cs[k]] |= 1u << f.cap_source | 1u << f.draw_source;
            need_draw[cs[k]] |= 1u << f.draw_source;
        }
    }
    /* A cap decided by the chassis' only power Control, of which
     * EnvironmentMetrics.PowerLimitWatts is an excerpt (its DataSourceUri): the
     * EnvironmentMetrics document alone carries the cap and the draw. */
    for (int ci = 0; ci < map->nchassis; ci++) {
        const chassis_t *c = &map->chassis[ci];
        const unsigned ctl = 1u << TP_RF_SRC_CONTROL;
        if ((need[ci] & ctl) && !(need_draw[ci] & ctl) && c->npower_controls == 1 &&
            c->env && c->limit_uri && c->power_control &&
            !strcmp(c->limit_uri, c->power_control)) {
            w->chassis[ci].ctl_via_env = true;
            need[ci] = (need[ci] & ~ctl) | 1u << TP_RF_SRC_ENV;
        }
    }
    for (int i = 0; i < map->ntargets; i++) {
        const target_t *t = &map->targets[i];
        if (t->src != TP_RF_SRC_NONE && (t->owner < 0 || t->owner >= map->nchassis ||
                                         !(need[t->owner] & 1u << t->src)))
            continue;
        enqueue_dup(w, t->path, t->kind, t->owner, 0);
    }
    free(need);
    free(need_draw);
    return w;
}

bool tp_rf_poll_ok(const tp_rf_walk_t *w)
{
    if (!w->map || w->phase != PH_DONE || w->failures > 0)
        return false;
    for (int si = 0; si < w->nsystems; si++) {
        tp_rf_facts_t a, b;
        if (!w->systems[si].fetched)
            continue;
        tp_rf_facts_init(&a);
        tp_rf_facts_init(&b);
        facts_of(w->map, si, &a);
        facts_of(w, si, &b);
        if (a.cap_source != b.cap_source || a.draw_source != b.draw_source ||
            a.gpus_source != b.gpus_source ||
            w->systems[si].gpus_listed != w->map->systems[si].gpus_listed ||
            (a.gpus_source == TP_RF_GPUS_PCIE && a.gpus != b.gpus))
            return false;
    }
    return true;
}
