/*
 * util/strmap.h — string → int map (open addressing), for id → dense index.
 *
 * Keys are borrowed: the caller keeps each key string alive and unchanged for as
 * long as the map is used (they normally live in the structs being indexed).
 */
#ifndef TP_UTIL_STRMAP_H
#define TP_UTIL_STRMAP_H

#include <stddef.h>

typedef struct tp_strmap tp_strmap_t;

/* NULL on allocation failure. */
tp_strmap_t *tp_strmap_new(size_t expected);
void tp_strmap_free(tp_strmap_t *m); /* accepts NULL; frees no key */
/* 0, TP_EDUP when key is present (value unchanged), or TP_ENOMEM. */
int tp_strmap_put(tp_strmap_t *m, const char *key, int value);
/* The value, or -1 when absent (m may be NULL). */
int tp_strmap_get(const tp_strmap_t *m, const char *key);
size_t tp_strmap_count(const tp_strmap_t *m);
/* Points present key at value: 0, or -1 when key is absent. */
int tp_strmap_set(tp_strmap_t *m, const char *key, int value);
/* Removes key (its string may be freed afterwards): 0, or -1 when absent. */
int tp_strmap_del(tp_strmap_t *m, const char *key);

#endif
