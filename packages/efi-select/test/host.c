/*
 * select-host: the selector's pure code (gpt.c, gptprio.c, disk.c, selector.c) on a disk image file,
 * for tests and for looking at an image the way the firmware will.
 *
 *   select-host IMAGE [--write] [--fail A|B|AB] [--limit N]
 *       One boot's decision, printed with the firmware's console lines. Without --write nothing is
 *       written; with it, repairs and the used try go to the file in the firmware's write order.
 *       --fail makes those slots' UKIs "Not Found", to exercise the fall-back. --limit: the attempt
 *       limit (attempts.h; default the build's).
 *   select-host --states IMAGE
 *       For every state of the two slots (priority 0-15, tries 0-15, successful 0/1 each: 512 x 512,
 *       attempts as the image has them), in that nesting order, A outermost: the chosen slot (or -),
 *       its partition number (or 0), and both slots' attribute fields after the boot, in hex.
 *   select-host --attempt-states IMAGE --limit N
 *       The same over the states that decide attempt counting: priority 0-3, tries 0-2, successful
 *       0/1, attempts 0-7 each (192 x 192), with h (a healthy choice) or l (the least bad) appended.
 *   Nothing is written by either.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/attempts.h"
#include "../src/disk.h"
#include "../src/gptprio.h"
#include "../src/selector.h"

struct file_disk {
	int fd;
	unsigned fail_mask;
};

static int file_read(void *ctx, uint64_t lba, void *buf, size_t bytes);
static int file_write(void *ctx, uint64_t lba, const void *buf, size_t bytes);

static struct disk the_disk;

static int file_read(void *ctx, uint64_t lba, void *buf, size_t bytes)
{
	struct file_disk *f = ctx;
	ssize_t n = pread(f->fd, buf, bytes, (off_t)(lba * the_disk.block_size));

	return n == (ssize_t)bytes ? 0 : -1;
}

static int file_write(void *ctx, uint64_t lba, const void *buf, size_t bytes)
{
	struct file_disk *f = ctx;
	ssize_t n = pwrite(f->fd, buf, bytes, (off_t)(lba * the_disk.block_size));

	return n == (ssize_t)bytes ? 0 : -1;
}

static int file_flush(void *ctx)
{
	struct file_disk *f = ctx;

	return fsync(f->fd);
}

static void *page_alloc(void *ctx, size_t bytes)
{
	(void)ctx;
	size_t rounded = (bytes + 4095) & ~(size_t)4095;
	void *p = aligned_alloc(4096, rounded ? rounded : 4096);

	if (p)
		memset(p, 0, rounded);
	return p;
}

static void page_release(void *ctx, void *p, size_t bytes)
{
	(void)ctx;
	(void)bytes;
	free(p);
}

static void say(void *ctx, const char *line)
{
	(void)ctx;
	printf("%s\n", line);
}

static int boot(void *ctx, int slot, const char *path, char *why, unsigned why_size)
{
	struct file_disk *f = ctx;

	(void)path;
	if (f->fail_mask & (1u << slot)) {
		snprintf(why, why_size, "Not Found");
		return 1;
	}
	return 0;
}

/* The block size whose LBA 1 (or last block) holds a GPT signature, as @imgbuild/core detects it. */
static uint32_t detect_block_size(int fd, off_t size)
{
	static const uint32_t sizes[] = { 512, 4096 };
	char sig[8];

	for (int i = 0; i < 2; i++)
		if (size >= 2 * (off_t)sizes[i] && pread(fd, sig, 8, sizes[i]) == 8 && !memcmp(sig, "EFI PART", 8))
			return sizes[i];
	for (int i = 0; i < 2; i++)
		if (size >= 2 * (off_t)sizes[i] && size % sizes[i] == 0 &&
		    pread(fd, sig, 8, size - sizes[i]) == 8 && !memcmp(sig, "EFI PART", 8))
			return sizes[i];
	return 512;
}

static int open_disk(const char *path, int writable, struct file_disk *f)
{
	struct stat st;

	f->fd = open(path, writable ? O_RDWR : O_RDONLY);
	if (f->fd < 0 || fstat(f->fd, &st)) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	the_disk = (struct disk){
		.ctx = f,
		.block_size = detect_block_size(f->fd, st.st_size),
		.read = file_read,
		.write = file_write,
		.flush = file_flush,
		.alloc = page_alloc,
		.release = page_release,
	};
	if (st.st_size / the_disk.block_size < 3) {
		fprintf(stderr, "%s: too small for a GPT\n", path);
		return -1;
	}
	the_disk.last_lba = (uint64_t)st.st_size / the_disk.block_size - 1;
	return 0;
}

/* One boot's decision on the in-memory table, as selector_run makes it when every UKI starts. */
static int decide(struct slots *s, unsigned limit, int *kind)
{
	attempts_demote(s, limit);
	struct pick p = attempts_choose(s, gptprio_empty_mask(s));
	if (p.slot >= 0) {
		struct slot *chosen = &s->slot[p.slot];
		gpt_set_entry_attributes(chosen->entry, attempts_next(gpt_entry_attributes(chosen->entry)));
	}
	*kind = p.kind;
	return p.slot;
}

/* A state index split into boot bits and an attempt count. */
typedef void (*state_fn)(unsigned state, struct boot_bits *bits, unsigned *attempts);

static void gptprio_state(unsigned st, struct boot_bits *b, unsigned *attempts)
{
	*b = (struct boot_bits){ st >> 5, (st >> 1) & 0xf, st & 1 };
	*attempts = ~0u; /* keep the image's */
}

static void attempt_state(unsigned st, struct boot_bits *b, unsigned *attempts)
{
	*attempts = st % 8;
	st /= 8;
	b->successful = st % 2;
	st /= 2;
	b->tries = st % 3;
	b->priority = st / 3;
}

static int all_states(const char *path, unsigned count, state_fn split, unsigned limit, int with_kind)
{
	struct file_disk f = { 0 };
	struct gpt_table t;
	struct gpt_load_report r;
	struct slots s;
	const char *err;

	if (open_disk(path, 0, &f))
		return 1;
	if (gpt_load(&the_disk, &t, 1, &r)) {
		fprintf(stderr, "%s: %s\n", path, r.error);
		return 1;
	}
	if ((err = gptprio_find_slots(t.entries, t.header.entry_count, t.header.entry_size, &s))) {
		fprintf(stderr, "%s: %s\n", path, err);
		return 1;
	}
	uint64_t base[SLOT_COUNT];
	for (int i = 0; i < SLOT_COUNT; i++)
		base[i] = gpt_entry_attributes(s.slot[i].entry);

	static char out[512 * 512 * 42];
	size_t len = 0;
	for (unsigned a = 0; a < count; a++) {
		for (unsigned b = 0; b < count; b++) {
			unsigned state[SLOT_COUNT] = { a, b };
			for (int i = 0; i < SLOT_COUNT; i++) {
				struct boot_bits bits;
				unsigned n;
				split(state[i], &bits, &n);
				uint64_t attrs = gptprio_with_bits(base[i], bits);
				gpt_set_entry_attributes(s.slot[i].entry, n == ~0u ? attrs : attempts_with(attrs, n));
			}
			int kind;
			int c = decide(&s, limit, &kind);
			len += (size_t)sprintf(out + len, "%c %u %016llx %016llx", c >= 0 ? s.slot[c].letter : '-',
					       c >= 0 ? s.slot[c].number : 0,
					       (unsigned long long)gpt_entry_attributes(s.slot[SLOT_A].entry),
					       (unsigned long long)gpt_entry_attributes(s.slot[SLOT_B].entry));
			if (with_kind)
				len += (size_t)sprintf(out + len, " %c", c < 0 ? '-' : kind == PICK_HEALTHY ? 'h' : 'l');
			out[len++] = '\n';
		}
	}
	fwrite(out, 1, len, stdout);
	gpt_free(&the_disk, &t);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: select-host IMAGE [--write] [--fail A|B|AB] [--limit N]\n"
			"       select-host --states IMAGE [--limit N]\n"
			"       select-host --attempt-states IMAGE [--limit N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *image = NULL;
	int write = 0, states = 0, attempt_states = 0;
	unsigned limit = IMGBUILD_BOOT_ATTEMPTS;
	struct file_disk f = { 0 };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--write")) {
			write = 1;
		} else if (!strcmp(argv[i], "--states")) {
			states = 1;
		} else if (!strcmp(argv[i], "--attempt-states")) {
			attempt_states = 1;
		} else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
			limit = (unsigned)atoi(argv[++i]);
			if (limit < 1 || limit > ATTEMPTS_MAX)
				usage();
		} else if (!strcmp(argv[i], "--fail") && i + 1 < argc) {
			for (const char *p = argv[++i]; *p; p++) {
				if (*p == 'A' || *p == 'a')
					f.fail_mask |= 1u << SLOT_A;
				else if (*p == 'B' || *p == 'b')
					f.fail_mask |= 1u << SLOT_B;
				else
					usage();
			}
		} else if (argv[i][0] != '-' && !image) {
			image = argv[i];
		} else {
			usage();
		}
	}
	if (!image)
		usage();
	if (states)
		return all_states(image, 512, gptprio_state, limit, 0);
	if (attempt_states)
		return all_states(image, 4 * 3 * 2 * 8, attempt_state, limit, 1);
	if (open_disk(image, write, &f))
		return 1;

	struct boot_env env = { .ctx = &f, .say = say, .boot = boot, .attempt_limit = limit };
	int rc = selector_run(&the_disk, &env, !write);
	close(f.fd);
	return rc == SELECTOR_RETRY ? 4 : rc ? 3 : 0;
}
