/* gptprio.next; see gptprio.h. */
#include "gptprio.h"
#include "bytes.h"
#include "gpt.h"

/* Type GUIDs in their on-disk byte order (first three fields little-endian). */
static const uint8_t FLATCAR_USR[16] = {
	0xf4, 0xf5, 0xfb, 0x5d, 0x48, 0x28, 0xac, 0x4b, 0xaa, 0x5e, 0x0d, 0x9a, 0x20, 0xb7, 0x45, 0xa6,
}; /* 5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6 */
static const uint8_t USR_X86_64[16] = {
	0x0c, 0x68, 0x84, 0x84, 0x21, 0x95, 0xc6, 0x48, 0x9c, 0x11, 0xb0, 0x72, 0x06, 0x56, 0xf6, 0x9e,
}; /* 8484680c-9521-48c6-9c11-b0720656f69e */
static const uint8_t USR_ARM64[16] = {
	0x50, 0x10, 0xe0, 0xb0, 0x5f, 0xee, 0x90, 0x43, 0x94, 0x9a, 0x91, 0x01, 0xb1, 0x71, 0x04, 0xe9,
}; /* b0e01050-ee5f-4390-949a-9101b17104e9 */

struct boot_bits gptprio_bits(uint64_t attributes)
{
	struct boot_bits b = {
		.priority = (unsigned)(attributes >> GPTPRIO_PRIORITY_SHIFT) & 0xf,
		.tries = (unsigned)(attributes >> GPTPRIO_TRIES_SHIFT) & 0xf,
		.successful = (unsigned)(attributes >> GPTPRIO_SUCCESSFUL_SHIFT) & 1,
	};
	return b;
}

uint64_t gptprio_with_bits(uint64_t attributes, struct boot_bits bits)
{
	attributes &= ~((uint64_t)0xf << GPTPRIO_PRIORITY_SHIFT | (uint64_t)0xf << GPTPRIO_TRIES_SHIFT |
			(uint64_t)1 << GPTPRIO_SUCCESSFUL_SHIFT);
	return attributes | (uint64_t)(bits.priority & 0xf) << GPTPRIO_PRIORITY_SHIFT |
	       (uint64_t)(bits.tries & 0xf) << GPTPRIO_TRIES_SHIFT |
	       (uint64_t)(bits.successful & 1) << GPTPRIO_SUCCESSFUL_SHIFT;
}

int gptprio_can_boot(struct boot_bits bits)
{
	return bits.priority > 0 && (bits.tries > 0 || bits.successful);
}

/* The slot a label names by its last two characters ("-A", "_b", ...), or 0. */
static char slot_of_label(const uint8_t *entry)
{
	unsigned len = 0;

	while (len < GPT_ENTRY_NAME_UNITS && gpt_entry_name_unit(entry, len))
		len++;
	if (len < 2)
		return 0;
	uint16_t sep = gpt_entry_name_unit(entry, len - 2);
	uint16_t letter = gpt_entry_name_unit(entry, len - 1);
	if (sep != '-' && sep != '_')
		return 0;
	if (letter == 'A' || letter == 'a')
		return 'A';
	if (letter == 'B' || letter == 'b')
		return 'B';
	return 0;
}

static int is_usr_type(const uint8_t *entry)
{
	const uint8_t *type = gpt_entry_type(entry);

	return bytes_equal(type, FLATCAR_USR, 16) || bytes_equal(type, USR_X86_64, 16) ||
	       bytes_equal(type, USR_ARM64, 16);
}

static unsigned label_length(const uint8_t *entry)
{
	unsigned len = 0;

	while (len < GPT_ENTRY_NAME_UNITS && gpt_entry_name_unit(entry, len))
		len++;
	return len;
}

static int label_is(const uint8_t *entry, const char *text)
{
	unsigned i = 0;

	for (; text[i]; i++)
		if (i >= GPT_ENTRY_NAME_UNITS || gpt_entry_name_unit(entry, i) != (uint8_t)text[i])
			return 0;
	return i == GPT_ENTRY_NAME_UNITS || !gpt_entry_name_unit(entry, i);
}

/* Slots named -A/-B by their labels (Flatcar's USR-A/USR-B). */
static const char *find_lettered(uint8_t *entries, uint32_t entry_count, uint32_t entry_size, struct slots *out)
{
	bytes_zero(out, sizeof(*out));
	for (uint32_t i = 0; i < entry_count; i++) {
		uint8_t *entry = entries + (size_t)i * entry_size;
		char letter;

		if (!is_usr_type(entry) || !(letter = slot_of_label(entry)))
			continue;
		struct slot *s = &out->slot[letter == 'A' ? SLOT_A : SLOT_B];
		if (s->entry)
			return letter == 'A' ? "two partitions are slot A" : "two partitions are slot B";
		s->letter = letter;
		s->number = i + 1;
		s->entry = entry;
	}
	if (!out->slot[SLOT_A].entry)
		return "no slot A (a /usr partition labelled ...-A)";
	if (!out->slot[SLOT_B].entry)
		return "no slot B (a /usr partition labelled ...-B)";
	return NULL;
}

/* Exactly two /usr partitions, neither lettered: A and B in table order. 0 when the table is not so. */
static int find_versioned(uint8_t *entries, uint32_t entry_count, uint32_t entry_size, struct slots *out)
{
	unsigned n = 0;

	bytes_zero(out, sizeof(*out));
	for (uint32_t i = 0; i < entry_count; i++) {
		uint8_t *entry = entries + (size_t)i * entry_size;

		if (!is_usr_type(entry))
			continue;
		if (slot_of_label(entry) || n == SLOT_COUNT)
			return 0;
		struct slot *s = &out->slot[n];
		s->letter = n == SLOT_A ? 'A' : 'B';
		s->number = i + 1;
		s->entry = entry;
		s->versioned = 1;
		s->empty = label_is(entry, GPTPRIO_EMPTY_LABEL);
		n++;
	}
	return n == SLOT_COUNT;
}

const char *gptprio_find_slots(uint8_t *entries, uint32_t entry_count, uint32_t entry_size,
			       struct slots *out)
{
	const char *why = find_lettered(entries, entry_count, entry_size, out);

	if (why && find_versioned(entries, entry_count, entry_size, out))
		return NULL;
	if (why)
		bytes_zero(out, sizeof(*out));
	return why;
}

unsigned gptprio_empty_mask(const struct slots *s)
{
	unsigned mask = 0;

	for (int i = 0; i < SLOT_COUNT; i++)
		if (s->slot[i].empty)
			mask |= 1u << i;
	return mask;
}

static const char UKI_DIR[] = "\\EFI\\Linux\\";

const char *gptprio_uki_path(const struct slot *s, char *out, unsigned size)
{
	const char *fixed = s->letter == 'A' ? "\\EFI\\Linux\\imgbuild-usr-a.efi" : "\\EFI\\Linux\\imgbuild-usr-b.efi";
	unsigned k = 0, len;

	if (!s->versioned) {
		for (; fixed[k] && k + 1 < size; k++)
			out[k] = fixed[k];
		out[k] = 0;
		return NULL;
	}
	len = label_length(s->entry);
	if (len == 0 || sizeof(UKI_DIR) - 1 + len + 5 > size)
		return "label too long or empty for a UKI name";
	for (unsigned i = 0; UKI_DIR[i]; i++)
		out[k++] = UKI_DIR[i];
	for (unsigned i = 0; i < len; i++) {
		uint16_t c = gpt_entry_name_unit(s->entry, i);
		/* what sysupdate's @v and a FAT file name both take; never a path separator */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' || c == '~' || c == '+'))
			return "label has characters a UKI file name cannot carry";
		out[k++] = (char)c;
	}
	out[k++] = '.';
	out[k++] = 'e';
	out[k++] = 'f';
	out[k++] = 'i';
	out[k] = 0;
	return NULL;
}

int gptprio_choose(const struct slots *s, unsigned excluded)
{
	int best = -1;
	unsigned best_priority = 0;

	/* Walk in partition-number order so that a tie keeps the lower number (strict >). */
	int first = s->slot[SLOT_A].number < s->slot[SLOT_B].number ? SLOT_A : SLOT_B;
	for (int k = 0; k < SLOT_COUNT; k++) {
		int i = k == 0 ? first : 1 - first;
		struct boot_bits b = gptprio_bits(gpt_entry_attributes(s->slot[i].entry));

		if (excluded & (1u << i) || !gptprio_can_boot(b))
			continue;
		if (b.priority > best_priority) {
			best = i;
			best_priority = b.priority;
		}
	}
	return best;
}

struct boot_bits gptprio_next_bits(struct boot_bits chosen)
{
	if (chosen.tries > 0)
		chosen.tries--;
	return chosen;
}
