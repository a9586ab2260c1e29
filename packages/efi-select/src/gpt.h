/*
 * The GPT on-disk format (UEFI 2.10 §5.3): header and entry-array checks, header encoding, the boot
 * attribute bits. Pure: byte buffers in, values out; no firmware and no libc beyond what a
 * freestanding compiler provides, so the firmware build and the host build run the same code.
 */
#ifndef IMGBUILD_GPT_H
#define IMGBUILD_GPT_H

#include <stddef.h>
#include <stdint.h>

#define GPT_HEADER_SIZE 92
#define GPT_REVISION 0x00010000u
#define GPT_ENTRY_NAME_UNITS 36

/* The fields of a header that matter once its CRC and placement are checked. */
struct gpt_header {
	uint64_t my_lba;
	uint64_t alternate_lba;
	uint64_t first_usable_lba;
	uint64_t last_usable_lba;
	uint8_t disk_guid[16];
	uint64_t entries_lba;
	uint32_t entry_count;
	uint32_t entry_size;
	uint32_t entries_crc32;
};

enum gpt_copy_kind { GPT_PRIMARY, GPT_BACKUP };

uint32_t gpt_crc32(const void *data, size_t len);

/*
 * Checks one header block read from `lba` of a disk whose last block is `last_lba`, with the same
 * rules as @imgbuild/core's readGpt. Returns NULL and fills `out` when it is good, else a short
 * reason ("header CRC", "signature", ...) for the console line.
 */
const char *gpt_check_header(const uint8_t *block, uint32_t block_size, enum gpt_copy_kind kind,
			     uint64_t last_lba, struct gpt_header *out);

/* Blocks the entry array of `h` occupies. */
uint64_t gpt_array_blocks(const struct gpt_header *h, uint32_t block_size);

/* Bytes of the entry array covered by its CRC. */
size_t gpt_array_bytes(const struct gpt_header *h);

/* Checks the entry array read for a header already checked; NULL when good. */
const char *gpt_check_entries(const struct gpt_header *h, const uint8_t *entries);

/*
 * Places `common` (the fields both copies share) as the primary or backup copy at the standard
 * positions (primary array at LBA 2, backup array right before the last block), the way
 * @imgbuild/core's writeGpt does. NULL when the array fits there, else why not.
 */
const char *gpt_place(const struct gpt_header *common, enum gpt_copy_kind kind, uint64_t last_lba,
		      uint32_t block_size, struct gpt_header *out);

/* Encodes `h` into one zeroed block of `block_size` bytes, header CRC filled in. */
void gpt_encode_header(const struct gpt_header *h, uint8_t *block, uint32_t block_size);

/* True when two good copies describe the same disk and hold the same entries. */
int gpt_same_table(const struct gpt_header *a, const uint8_t *entries_a, const struct gpt_header *b,
		   const uint8_t *entries_b);

uint64_t gpt_load_le64(const uint8_t *p);
void gpt_store_le64(uint8_t *p, uint64_t v);

/* Entry field access; `entry` points at one entry of the array. */
uint64_t gpt_entry_attributes(const uint8_t *entry);
void gpt_set_entry_attributes(uint8_t *entry, uint64_t attributes);
const uint8_t *gpt_entry_type(const uint8_t *entry);
/* The label's UTF-16LE code unit `i` (0 past its NUL terminator). */
uint16_t gpt_entry_name_unit(const uint8_t *entry, unsigned i);

#endif
