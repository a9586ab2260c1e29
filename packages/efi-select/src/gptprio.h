/*
 * Flatcar's gptprio.next over a GPT entry array: which USR slot boots, and the attribute bits it
 * leaves behind. The same rules as @imgbuild/core's slot state machine (findSlots, choose, next with
 * variant 'flatcar'); test/crosscheck.test.ts compares the two over every state of two slots.
 * Pure: entry bytes in, decision and new bits out.
 */
#ifndef IMGBUILD_GPTPRIO_H
#define IMGBUILD_GPTPRIO_H

#include <stdint.h>

/* Boot bits in the attribute field, shared by cgpt, Flatcar's GRUB and Bottlerocket. */
#define GPTPRIO_PRIORITY_SHIFT 48
#define GPTPRIO_TRIES_SHIFT 52
#define GPTPRIO_SUCCESSFUL_SHIFT 56

enum { SLOT_A, SLOT_B, SLOT_COUNT };

struct boot_bits {
	unsigned priority;
	unsigned tries;
	unsigned successful;
};

struct slot {
	char letter;		/* 'A' or 'B' */
	uint32_t number;	/* partition number, 1-based */
	uint8_t *entry;		/* its entry inside the array */
};

/* Both slots, indexed by SLOT_A / SLOT_B. */
struct slots {
	struct slot slot[SLOT_COUNT];
};

struct boot_bits gptprio_bits(uint64_t attributes);
uint64_t gptprio_with_bits(uint64_t attributes, struct boot_bits bits);
int gptprio_can_boot(struct boot_bits bits);

/*
 * Finds slot A and slot B: /usr-typed partitions (flatcar-usr or usr-x86-64) labelled ...-A/_A and
 * ...-B/_B, any case. NULL when there is exactly one of each, else why not.
 */
const char *gptprio_find_slots(uint8_t *entries, uint32_t entry_count, uint32_t entry_size,
			       struct slots *out);

/*
 * The slot that boots: highest priority among the bootable slots not in `excluded` (a bit mask of
 * 1 << SLOT_x), the lower partition number on a tie. -1 when none.
 */
int gptprio_choose(const struct slots *s, unsigned excluded);

/* gptprio.next's one change to the chosen slot's bits: a try used up when any are left. */
struct boot_bits gptprio_next_bits(struct boot_bits chosen);

#endif
