/*
 * Both GPT copies of one disk: read and check them, repair a damaged or stale copy from the good
 * one, and write the table back in the crash-safe order. The block device is a set of callbacks
 * (BlockIo in firmware, a file on the host), so this file runs unchanged in both builds.
 */
#ifndef IMGBUILD_DISK_H
#define IMGBUILD_DISK_H

#include <stddef.h>
#include <stdint.h>

#include "gpt.h"

struct disk {
	void *ctx;
	uint32_t block_size;
	uint64_t last_lba;
	/* Whole blocks only; 0 on success. */
	int (*read)(void *ctx, uint64_t lba, void *buf, size_t bytes);
	int (*write)(void *ctx, uint64_t lba, const void *buf, size_t bytes);
	int (*flush)(void *ctx);
	/* Zeroed, page-aligned memory (BlockIo's IoAlign never exceeds a page); NULL when out of it. */
	void *(*alloc)(void *ctx, size_t bytes);
	void (*release)(void *ctx, void *p, size_t bytes);
};

/* The table as the selector uses it: one entry array, shared by both copies once they agree. */
struct gpt_table {
	struct gpt_header header;	/* fields both copies share */
	uint8_t *entries;		/* gpt_array_blocks() whole blocks */
	size_t entries_alloc;
};

/* What gpt_load found and did, for the console. */
struct gpt_load_report {
	const char *primary_damage;	/* NULL when the primary copy was good */
	const char *backup_damage;
	int copies_differed;		/* both good, not the same table: an interrupted write */
	int repaired;			/* a copy was rewritten */
	const char *error;		/* set when no table could be loaded or a repair failed */
};

/*
 * Reads both copies. A damaged copy, or a backup that differs from a good primary, is rewritten
 * from the good one (primary wins when both are good, as in @imgbuild/core's readGpt) unless
 * `read_only`. 0 and a table on success.
 */
int gpt_load(struct disk *d, struct gpt_table *t, int read_only, struct gpt_load_report *r);

/*
 * Writes both copies of `t`: backup entries, backup header, primary entries, primary header, each
 * flushed before the next, so an interruption leaves one copy that reads as the old or the new
 * table; then reads all four back and compares. NULL on success, else what failed.
 */
const char *gpt_write(struct disk *d, const struct gpt_table *t);

void gpt_free(struct disk *d, struct gpt_table *t);

#endif
