/* The GPT on-disk format; see gpt.h. Field offsets follow UEFI 2.10 tables 5-6 and 5-7. */
#include "gpt.h"
#include "bytes.h"

uint32_t gpt_crc32(const void *data, size_t len)
{
	/* Bitwise CRC-32 (IEEE, reflected): a few KiB per boot, so no table to build or carry. */
	const uint8_t *p = data;
	uint32_t crc = 0xffffffffu;

	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

uint64_t gpt_load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void gpt_store_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

uint64_t gpt_array_blocks(const struct gpt_header *h, uint32_t block_size)
{
	return ((uint64_t)h->entry_count * h->entry_size + block_size - 1) / block_size;
}

size_t gpt_array_bytes(const struct gpt_header *h)
{
	return (size_t)h->entry_count * h->entry_size;
}

static int header_crc_ok(const uint8_t *block, uint32_t size)
{
	uint8_t copy[4096];

	bytes_copy(copy, block, size);
	store_le32(copy + 16, 0);
	return gpt_crc32(copy, size) == load_le32(block + 16);
}

const char *gpt_check_header(const uint8_t *block, uint32_t block_size, enum gpt_copy_kind kind,
			     uint64_t last_lba, struct gpt_header *out)
{
	static const uint8_t signature[8] = { 'E', 'F', 'I', ' ', 'P', 'A', 'R', 'T' };
	uint64_t lba = kind == GPT_PRIMARY ? 1 : last_lba;
	uint32_t size = load_le32(block + 12);
	struct gpt_header h;

	if (!bytes_equal(block, signature, sizeof(signature)))
		return "signature";
	if (load_le32(block + 8) != GPT_REVISION)
		return "revision";
	if (size < GPT_HEADER_SIZE || size > block_size || size > 4096)
		return "header size";
	if (!header_crc_ok(block, size))
		return "header CRC";

	h.my_lba = gpt_load_le64(block + 24);
	h.alternate_lba = gpt_load_le64(block + 32);
	h.first_usable_lba = gpt_load_le64(block + 40);
	h.last_usable_lba = gpt_load_le64(block + 48);
	bytes_copy(h.disk_guid, block + 56, 16);
	h.entries_lba = gpt_load_le64(block + 72);
	h.entry_count = load_le32(block + 80);
	h.entry_size = load_le32(block + 84);
	h.entries_crc32 = load_le32(block + 88);

	if (h.entry_size < 128 || h.entry_size % 8 != 0 || h.entry_size > 4096)
		return "entry size";
	if (h.entry_count == 0 || h.entry_count > 65536)
		return "entry count";
	if (h.first_usable_lba > h.last_usable_lba)
		return "usable area";
	if (h.my_lba != lba)
		return "my_lba";
	if (kind == GPT_BACKUP && h.alternate_lba != 1)
		return "alternate_lba";
	if (kind == GPT_PRIMARY && (h.alternate_lba <= h.last_usable_lba || h.alternate_lba > last_lba))
		return "alternate_lba";
	if (h.last_usable_lba > last_lba)
		return "last usable LBA";

	uint64_t n = gpt_array_blocks(&h, block_size);
	int fits = kind == GPT_PRIMARY
		? h.entries_lba >= 2 && h.entries_lba + n <= h.first_usable_lba
		: h.entries_lba > h.last_usable_lba && h.entries_lba + n <= lba;
	if (!fits)
		return "entry array placement";

	*out = h;
	return NULL;
}

const char *gpt_check_entries(const struct gpt_header *h, const uint8_t *entries)
{
	return gpt_crc32(entries, gpt_array_bytes(h)) == h->entries_crc32 ? NULL : "entry array CRC";
}

const char *gpt_place(const struct gpt_header *common, enum gpt_copy_kind kind, uint64_t last_lba,
		      uint32_t block_size, struct gpt_header *out)
{
	uint64_t n = gpt_array_blocks(common, block_size);

	*out = *common;
	if (kind == GPT_PRIMARY) {
		out->my_lba = 1;
		out->alternate_lba = last_lba;
		out->entries_lba = 2;
		if (2 + n > common->first_usable_lba)
			return "primary entry array would overlap the usable area";
	} else {
		out->my_lba = last_lba;
		out->alternate_lba = 1;
		out->entries_lba = last_lba - n;
		if (last_lba < n + 1 || out->entries_lba <= common->last_usable_lba)
			return "backup entry array would overlap the usable area";
	}
	return NULL;
}

void gpt_encode_header(const struct gpt_header *h, uint8_t *block, uint32_t block_size)
{
	bytes_zero(block, block_size);
	bytes_copy(block, "EFI PART", 8);
	store_le32(block + 8, GPT_REVISION);
	store_le32(block + 12, GPT_HEADER_SIZE);
	gpt_store_le64(block + 24, h->my_lba);
	gpt_store_le64(block + 32, h->alternate_lba);
	gpt_store_le64(block + 40, h->first_usable_lba);
	gpt_store_le64(block + 48, h->last_usable_lba);
	bytes_copy(block + 56, h->disk_guid, 16);
	gpt_store_le64(block + 72, h->entries_lba);
	store_le32(block + 80, h->entry_count);
	store_le32(block + 84, h->entry_size);
	store_le32(block + 88, h->entries_crc32);
	store_le32(block + 16, gpt_crc32(block, GPT_HEADER_SIZE));
}

int gpt_same_table(const struct gpt_header *a, const uint8_t *entries_a, const struct gpt_header *b,
		   const uint8_t *entries_b)
{
	return a->first_usable_lba == b->first_usable_lba && a->last_usable_lba == b->last_usable_lba &&
	       bytes_equal(a->disk_guid, b->disk_guid, 16) && a->entry_count == b->entry_count &&
	       a->entry_size == b->entry_size && bytes_equal(entries_a, entries_b, gpt_array_bytes(a));
}

uint64_t gpt_entry_attributes(const uint8_t *entry)
{
	return gpt_load_le64(entry + 48);
}

void gpt_set_entry_attributes(uint8_t *entry, uint64_t attributes)
{
	gpt_store_le64(entry + 48, attributes);
}

const uint8_t *gpt_entry_type(const uint8_t *entry)
{
	return entry;
}

uint16_t gpt_entry_name_unit(const uint8_t *entry, unsigned i)
{
	if (i >= GPT_ENTRY_NAME_UNITS)
		return 0;
	return (uint16_t)(entry[56 + 2 * i] | entry[57 + 2 * i] << 8);
}
