/* Both GPT copies of one disk; see disk.h. */
#include "disk.h"
#include "bytes.h"

struct copy {
	struct gpt_header h;
	uint8_t *entries;
	size_t entries_alloc;
	const char *damage;
};

static size_t array_alloc_size(const struct disk *d, const struct gpt_header *h)
{
	return (size_t)gpt_array_blocks(h, d->block_size) * d->block_size;
}

static void read_copy(struct disk *d, enum gpt_copy_kind kind, uint8_t *block, struct copy *c)
{
	uint64_t lba = kind == GPT_PRIMARY ? 1 : d->last_lba;

	bytes_zero(c, sizeof(*c));
	if (d->read(d->ctx, lba, block, d->block_size)) {
		c->damage = "read error";
		return;
	}
	c->damage = gpt_check_header(block, d->block_size, kind, d->last_lba, &c->h);
	if (c->damage)
		return;
	c->entries_alloc = array_alloc_size(d, &c->h);
	c->entries = d->alloc(d->ctx, c->entries_alloc);
	if (!c->entries) {
		c->damage = "out of memory";
		return;
	}
	if (d->read(d->ctx, c->h.entries_lba, c->entries, c->entries_alloc)) {
		c->damage = "entry array read error";
		return;
	}
	c->damage = gpt_check_entries(&c->h, c->entries);
}

static void drop_copy(struct disk *d, struct copy *c)
{
	if (c->entries)
		d->release(d->ctx, c->entries, c->entries_alloc);
	c->entries = NULL;
}

/* The table of a good copy; its entry-array tail (past the CRC'd bytes) is zeroed, as the core writes it. */
static void adopt(struct gpt_table *t, struct copy *c)
{
	size_t used = gpt_array_bytes(&c->h);

	t->header = c->h;
	t->entries = c->entries;
	t->entries_alloc = c->entries_alloc;
	bytes_zero(c->entries + used, c->entries_alloc - used);
	c->entries = NULL;
}

int gpt_load(struct disk *d, struct gpt_table *t, int read_only, struct gpt_load_report *r)
{
	struct copy primary, backup;
	uint8_t *block = d->alloc(d->ctx, d->block_size);

	bytes_zero(r, sizeof(*r));
	bytes_zero(t, sizeof(*t));
	if (!block) {
		r->error = "out of memory";
		return -1;
	}
	read_copy(d, GPT_PRIMARY, block, &primary);
	read_copy(d, GPT_BACKUP, block, &backup);
	d->release(d->ctx, block, d->block_size);

	r->primary_damage = primary.damage;
	r->backup_damage = backup.damage;
	if (!primary.damage && !backup.damage)
		r->copies_differed = !gpt_same_table(&primary.h, primary.entries, &backup.h, backup.entries);

	if (!primary.damage)
		adopt(t, &primary);
	else if (!backup.damage)
		adopt(t, &backup);
	drop_copy(d, &primary);
	drop_copy(d, &backup);
	if (!t->entries) {
		r->error = "no valid GPT copy";
		return -1;
	}

	if (!read_only && (r->primary_damage || r->backup_damage || r->copies_differed)) {
		r->error = gpt_write(d, t);
		if (r->error)
			return -1;
		r->repaired = 1;
	}
	return 0;
}

/* Writes and flushes, so that the next write in the order cannot land before this one. */
static int write_flushed(struct disk *d, uint64_t lba, const void *buf, size_t bytes)
{
	return d->write(d->ctx, lba, buf, bytes) || d->flush(d->ctx);
}

static int read_back_equal(struct disk *d, uint64_t lba, const uint8_t *want, uint8_t *scratch, size_t bytes)
{
	return !d->read(d->ctx, lba, scratch, bytes) && bytes_equal(scratch, want, bytes);
}

const char *gpt_write(struct disk *d, const struct gpt_table *t)
{
	struct gpt_header common = t->header, primary, backup;
	const char *err;
	size_t bytes = t->entries_alloc;

	common.entries_crc32 = gpt_crc32(t->entries, gpt_array_bytes(&t->header));
	if ((err = gpt_place(&common, GPT_PRIMARY, d->last_lba, d->block_size, &primary)) ||
	    (err = gpt_place(&common, GPT_BACKUP, d->last_lba, d->block_size, &backup)))
		return err;

	uint8_t *hp = d->alloc(d->ctx, d->block_size);
	uint8_t *hb = d->alloc(d->ctx, d->block_size);
	uint8_t *scratch = d->alloc(d->ctx, bytes > d->block_size ? bytes : d->block_size);
	if (!hp || !hb || !scratch) {
		err = "out of memory";
		goto out;
	}
	gpt_encode_header(&primary, hp, d->block_size);
	gpt_encode_header(&backup, hb, d->block_size);

	if (write_flushed(d, backup.entries_lba, t->entries, bytes))
		err = "writing the backup entry array failed";
	else if (write_flushed(d, backup.my_lba, hb, d->block_size))
		err = "writing the backup header failed";
	else if (write_flushed(d, primary.entries_lba, t->entries, bytes))
		err = "writing the primary entry array failed";
	else if (write_flushed(d, primary.my_lba, hp, d->block_size))
		err = "writing the primary header failed";
	else if (!read_back_equal(d, backup.entries_lba, t->entries, scratch, bytes) ||
		 !read_back_equal(d, backup.my_lba, hb, scratch, d->block_size) ||
		 !read_back_equal(d, primary.entries_lba, t->entries, scratch, bytes) ||
		 !read_back_equal(d, primary.my_lba, hp, scratch, d->block_size))
		err = "the GPT read back differs from what was written";
out:
	if (hp)
		d->release(d->ctx, hp, d->block_size);
	if (hb)
		d->release(d->ctx, hb, d->block_size);
	if (scratch)
		d->release(d->ctx, scratch, bytes > d->block_size ? bytes : d->block_size);
	return err;
}

void gpt_free(struct disk *d, struct gpt_table *t)
{
	if (t->entries)
		d->release(d->ctx, t->entries, t->entries_alloc);
	t->entries = NULL;
}
