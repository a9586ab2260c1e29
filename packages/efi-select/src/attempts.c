/* Boot-attempt counting; see attempts.h. */
#include "attempts.h"
#include "gpt.h"

/* The count's three bits, lowest first. */
static const unsigned BITS[3] = { 58, 61, 62 };

unsigned attempts_get(uint64_t attributes)
{
	unsigned v = 0;

	for (int i = 0; i < 3; i++)
		v |= (unsigned)(attributes >> BITS[i] & 1) << i;
	return v;
}

uint64_t attempts_with(uint64_t attributes, unsigned attempts)
{
	for (int i = 0; i < 3; i++) {
		attributes &= ~((uint64_t)1 << BITS[i]);
		attributes |= (uint64_t)(attempts >> i & 1) << BITS[i];
	}
	return attributes;
}

static uint64_t attrs_of(const struct slot *s)
{
	return gpt_entry_attributes(s->entry);
}

unsigned attempts_demote(struct slots *s, unsigned limit)
{
	unsigned demoted = 0;

	for (int i = 0; i < SLOT_COUNT; i++) {
		uint64_t a = attrs_of(&s->slot[i]);
		unsigned n = attempts_get(a);

		if (n >= limit && n != ATTEMPTS_DEMOTED) {
			gpt_set_entry_attributes(s->slot[i].entry, attempts_with(a, ATTEMPTS_DEMOTED));
			demoted |= 1u << i;
		}
	}
	return demoted;
}

static unsigned demoted_mask(const struct slots *s)
{
	unsigned mask = 0;

	for (int i = 0; i < SLOT_COUNT; i++)
		if (attempts_get(attrs_of(&s->slot[i])) == ATTEMPTS_DEMOTED)
			mask |= 1u << i;
	return mask;
}

/* Nonzero when slot x is less bad than slot y (the order in attempts.h). */
static int less_bad(const struct slot *x, const struct slot *y)
{
	struct boot_bits bx = gptprio_bits(attrs_of(x)), by = gptprio_bits(attrs_of(y));
	unsigned nx = attempts_get(attrs_of(x)), ny = attempts_get(attrs_of(y));

	if ((bx.priority > 0) != (by.priority > 0))
		return bx.priority > 0;
	if (bx.successful != by.successful)
		return bx.successful;
	if (nx != ny)
		return nx < ny;
	if (bx.priority != by.priority)
		return bx.priority > by.priority;
	return x->number < y->number;
}

struct pick attempts_choose(const struct slots *s, unsigned excluded)
{
	struct pick p = { gptprio_choose(s, excluded | demoted_mask(s)), PICK_HEALTHY };

	if (p.slot >= 0)
		return p;
	p.kind = PICK_LEAST_BAD;
	for (int i = 0; i < SLOT_COUNT; i++) {
		if (excluded & (1u << i))
			continue;
		if (p.slot < 0 || less_bad(&s->slot[i], &s->slot[p.slot]))
			p.slot = i;
	}
	return p;
}

uint64_t attempts_next(uint64_t attributes)
{
	unsigned n = attempts_get(attributes);

	attributes = gptprio_with_bits(attributes, gptprio_next_bits(gptprio_bits(attributes)));
	if (n < ATTEMPTS_MAX)
		attributes = attempts_with(attributes, n + 1);
	return attributes;
}
