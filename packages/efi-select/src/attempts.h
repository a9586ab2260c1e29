/*
 * Boot-attempt counting: which slot boots when a slot keeps failing after it was good. Pure, beside
 * gptprio.c, and mirrored by @imgbuild/core's slot/attempts.ts; test/crosscheck.test.ts compares the
 * two over every state that fits (docs/boot.md, "Boot attempts").
 *
 * Every slot carries, in its GPT attribute bits, the number of boots started since its last healthy
 * boot ("attempts"). The selector adds one before it starts a slot; the booted system clears it when it
 * blesses itself, on every healthy boot. A slot whose count reached the limit (N, fixed when the
 * selector is built, default 3) is demoted: the count becomes ATTEMPTS_DEMOTED, which the host
 * (`imgbuild slot status`) and the node can read without knowing N. A demoted slot is not chosen while
 * another slot can boot; when none can, the least bad slot boots anyway (never power off).
 *
 * The count lives in bits 58, 61 and 62 (values 0-7): the attribute bits 48-63 that no scheme we know
 * uses (48-56 gptprio, 57 ChromeOS's error counter, 59/60/63 the Discoverable Partitions' growfs,
 * read-only and no-auto).
 */
#ifndef IMGBUILD_ATTEMPTS_H
#define IMGBUILD_ATTEMPTS_H

#include <stdint.h>

#include "gptprio.h"

#define ATTEMPTS_MAX 6	    /* the highest count; also the highest limit */
#define ATTEMPTS_DEMOTED 7  /* given up on by the selector until a healthy boot clears it */

#ifndef IMGBUILD_BOOT_ATTEMPTS
#define IMGBUILD_BOOT_ATTEMPTS 3
#endif
#if IMGBUILD_BOOT_ATTEMPTS < 1 || IMGBUILD_BOOT_ATTEMPTS > ATTEMPTS_MAX
#error "IMGBUILD_BOOT_ATTEMPTS must be 1-6"
#endif

unsigned attempts_get(uint64_t attributes);
uint64_t attempts_with(uint64_t attributes, unsigned attempts);

/* Demotes every slot whose count reached `limit` (and is not demoted yet). Returns the mask (1 << SLOT_x) of those. */
unsigned attempts_demote(struct slots *s, unsigned limit);

enum { PICK_HEALTHY, PICK_LEAST_BAD };

struct pick {
	int slot;	/* SLOT_A, SLOT_B, or -1 when every slot is in `excluded` */
	int kind;	/* PICK_HEALTHY: gptprio's choice among slots not demoted; PICK_LEAST_BAD: none could */
};

/*
 * The slot to start, among those not in `excluded`: gptprio_choose over the slots that are not demoted;
 * when that finds none, the least bad one: a slot with priority > 0 before one without, a slot that
 * was good once (successful) before one never good, a lower count before a higher (demoted last), a
 * higher priority, a lower partition number.
 */
struct pick attempts_choose(const struct slots *s, unsigned excluded);

/* The chosen slot's attributes after it is started: gptprio_next_bits, and one more attempt (up to ATTEMPTS_MAX; demoted stays). */
uint64_t attempts_next(uint64_t attributes);

#endif
