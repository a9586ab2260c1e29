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
	int versioned;		/* found by type and table order (labels name versions, not A/B) */
	int empty;		/* labelled "_empty": systemd-sysupdate's free (or half-written) slot, never booted */
};

/* The label of a slot no version occupies (systemd-sysupdate's convention). */
#define GPTPRIO_EMPTY_LABEL "_empty"
/* Longest UKI path: \EFI\Linux\ + 36 label characters + .efi + NUL. */
#define GPTPRIO_UKI_PATH_MAX 64

/* Both slots, indexed by SLOT_A / SLOT_B. */
struct slots {
	struct slot slot[SLOT_COUNT];
};

struct boot_bits gptprio_bits(uint64_t attributes);
uint64_t gptprio_with_bits(uint64_t attributes, struct boot_bits bits);
int gptprio_can_boot(struct boot_bits bits);

/*
 * Finds slot A and slot B: /usr-typed partitions (flatcar-usr, usr-x86-64, usr-arm64) labelled
 * ...-A/_A and ...-B/_B, any case. Failing that, when the table has exactly two /usr-typed partitions
 * and neither carries such a label (systemd-sysupdate's labels: `<name>_<version>` and `_empty`), the
 * first in table order is A and the second B ("versioned" slots). NULL on success, else why not.
 */
const char *gptprio_find_slots(uint8_t *entries, uint32_t entry_count, uint32_t entry_size,
			       struct slots *out);

/*
 * The slot that boots: highest priority among the bootable slots not in `excluded` (a bit mask of
 * 1 << SLOT_x), the lower partition number on a tie. -1 when none.
 */
int gptprio_choose(const struct slots *s, unsigned excluded);

/* The mask (1 << SLOT_x) of slots labelled "_empty": they never boot, not even as the least bad. */
unsigned gptprio_empty_mask(const struct slots *s);

/*
 * The slot's UKI on the ESP, in `out`: `\EFI\Linux\imgbuild-usr-a.efi` / `-b.efi` for lettered slots,
 * `\EFI\Linux\<label>.efi` for versioned ones (sysupdate names the UKI by version, as the label).
 * NULL, or why there is none (a label with characters a file name cannot carry).
 */
const char *gptprio_uki_path(const struct slot *s, char *out, unsigned size);

/* gptprio.next's one change to the chosen slot's bits: a try used up when any are left. */
struct boot_bits gptprio_next_bits(struct boot_bits chosen);

#endif
