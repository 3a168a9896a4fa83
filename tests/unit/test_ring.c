/*
 * tests/unit/test_ring.c — rendezvous hashing of node ids over replicas
 * (scheduler/ring.c): balance over 20,000 ids, minimal movement when a replica
 * leaves or joins, independence of the members' order.
 */
#include "scheduler/ring.h"
#include "tests/unit/tp_test.h"

#include <stdio.h>
#include <stdlib.h>

#define NIDS 20000

static char (*ids(void))[32]
{
    char(*v)[32] = malloc(sizeof(*v) * NIDS);
    for (int i = 0; v && i < NIDS; i++)
        snprintf(v[i], sizeof v[i], "gpu-node-%05d", i);
    return v;
}

TP_TEST(ring_balance_and_movement)
{
    const char *three[] = {"tp-a", "tp-b", "tp-c"};
    const char *two[] = {"tp-a", "tp-c"}; /* tp-b died */
    const char *four[] = {"tp-a", "tp-b", "tp-c", "tp-d"};
    char(*id)[32] = ids();
    int *own = malloc(sizeof(int) * NIDS);
    int count[4] = {0}, moved = 0, moved_wrong = 0, joined = 0, joined_wrong = 0;
    TP_ASSERT(id && own);
    for (int i = 0; i < NIDS; i++) {
        own[i] = tp_ring_owner(three, 3, id[i]);
        TP_ASSERT(own[i] >= 0 && own[i] < 3);
        count[own[i]]++;
    }
    for (int r = 0; r < 3; r++) /* each within ±10% of a third */
        TP_CHECK(count[r] >= NIDS / 3 * 9 / 10 && count[r] <= NIDS / 3 * 11 / 10);
    for (int i = 0; i < NIDS; i++) {
        int o2 = tp_ring_owner(two, 2, id[i]);
        const char *now = two[o2], *before = three[own[i]];
        if (strcmp(now, before) != 0) {
            moved++;
            moved_wrong += strcmp(before, "tp-b") != 0; /* only tp-b's nodes move */
        } else {
            moved_wrong += strcmp(before, "tp-b") == 0;
        }
        int o4 = tp_ring_owner(four, 4, id[i]);
        if (strcmp(four[o4], before) != 0) {
            joined++;
            joined_wrong += strcmp(four[o4], "tp-d") != 0; /* only to the newcomer */
        }
    }
    TP_CHECK_EQ_INT(moved_wrong, 0);
    TP_CHECK_EQ_INT(moved, count[1]);
    TP_CHECK_EQ_INT(joined_wrong, 0);
    TP_CHECK(joined >= NIDS / 4 * 9 / 10 && joined <= NIDS / 4 * 11 / 10);
    fprintf(stderr,
            "ring: 20000 ids over 3 replicas: %d / %d / %d (ideal 6667); one leaves: "
            "%d moved (%.1f%%); a fourth joins: %d moved (%.1f%%)\n",
            count[0], count[1], count[2], moved, 100.0 * moved / NIDS, joined,
            100.0 * joined / NIDS);
    free(own);
    free(id);
}

TP_TEST(ring_order_independent_and_edge_cases)
{
    const char *abc[] = {"tp-a", "tp-b", "tp-c"}, *cab[] = {"tp-c", "tp-a", "tp-b"};
    const char *one[] = {"solo"};
    for (int i = 0; i < 500; i++) {
        char node[32];
        snprintf(node, sizeof node, "n%d", i);
        TP_CHECK(
            !strcmp(abc[tp_ring_owner(abc, 3, node)], cab[tp_ring_owner(cab, 3, node)]));
        TP_CHECK_EQ_INT(tp_ring_owner(one, 1, node), 0);
    }
    TP_CHECK_EQ_INT(tp_ring_owner(abc, 0, "n1"), -1);
    /* the separator: ("ab","c") and ("a","bc") are different pairs */
    TP_CHECK(tp_ring_score("ab", "c") != tp_ring_score("a", "bc"));
    TP_CHECK(tp_ring_score("tp-a", "n1") == tp_ring_score("tp-a", "n1"));
}
