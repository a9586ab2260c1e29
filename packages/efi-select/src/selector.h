/*
 * One boot: load (and repair) the GPT, choose a slot by gptprio.next, record the try, boot that
 * slot's UKI; when it cannot boot, take its tries away and choose again among the rest. Prints
 * exactly one line per decision. The firmware and the host build differ only in the callbacks.
 */
#ifndef IMGBUILD_SELECTOR_H
#define IMGBUILD_SELECTOR_H

#include "disk.h"

#define SELECTOR_WHY_MAX 120

struct boot_env {
	void *ctx;
	void (*say)(void *ctx, const char *line);
	/*
	 * Loads and starts the UKI at `path` (ASCII, backslashes). Returns 0 when the slot booted (only
	 * the host's simulation returns at all then); otherwise writes why not into `why`.
	 */
	int (*boot)(void *ctx, int slot, const char *path, char *why, unsigned why_size);
	/* Boots that never became healthy before a slot is demoted; 0: IMGBUILD_BOOT_ATTEMPTS (attempts.h). */
	unsigned attempt_limit;
};

/* `\EFI\Linux\imgbuild-usr-a.efi` for SLOT_A, `...-usr-b.efi` for SLOT_B (lettered slots). */
const char *selector_uki_path(int slot);

/* selector_run's result when no slot's UKI could be started: reset and try again, never power off. */
#define SELECTOR_RETRY 2

/*
 * 0 when a slot booted; SELECTOR_RETRY when every slot's UKI failed to start in this boot (the caller
 * resets, so a fault that passes heals); 1 when there is no usable GPT or no slots (the caller powers off).
 */
int selector_run(struct disk *d, const struct boot_env *env, int read_only);

#endif
