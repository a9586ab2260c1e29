/* One boot; see selector.h. */
#include "selector.h"
#include "attempts.h"
#include "gptprio.h"
#include "line.h"

#define PREFIX "imgbuild-select: "

const char *selector_uki_path(int slot)
{
	return slot == SLOT_A ? "\\EFI\\Linux\\imgbuild-usr-a.efi" : "\\EFI\\Linux\\imgbuild-usr-b.efi";
}

static void copy_text(char *out, unsigned size, const char *text)
{
	unsigned i = 0;

	for (; text[i] && i + 1 < size; i++)
		out[i] = text[i];
	out[i] = 0;
}

static void say(const struct boot_env *env, struct line *l)
{
	env->say(env->ctx, l->text);
}

static const char *copy_name(int primary)
{
	return primary ? "primary" : "backup";
}

static void report_load(const struct boot_env *env, const struct gpt_load_report *r, int read_only)
{
	struct line l;
	const char *damage[2] = { r->primary_damage, r->backup_damage };

	if (r->error) {
		line_start(&l);
		line_str(&l, PREFIX);
		if (r->primary_damage && r->backup_damage) {
			line_str(&l, "no valid GPT (primary: ");
			line_str(&l, r->primary_damage);
			line_str(&l, "; backup: ");
			line_str(&l, r->backup_damage);
			line_str(&l, ")");
		} else {
			line_str(&l, "repairing the GPT failed: ");
			line_str(&l, r->error);
		}
		line_str(&l, "; powering off");
		say(env, &l);
		return;
	}
	for (int i = 0; i < 2; i++) {
		if (!damage[i])
			continue;
		line_start(&l);
		line_str(&l, PREFIX);
		line_str(&l, copy_name(i == 0));
		line_str(&l, " GPT damaged (");
		line_str(&l, damage[i]);
		line_str(&l, read_only ? "), would repair from " : "), repaired from ");
		line_str(&l, copy_name(i != 0));
		say(env, &l);
	}
	if (r->copies_differed) {
		line_start(&l);
		line_str(&l, PREFIX);
		line_str(&l, read_only ? "backup GPT differs from primary (interrupted write), would repair from primary"
				       : "backup GPT differs from primary (interrupted write), repaired from primary");
		say(env, &l);
	}
}

static void bits_text(struct line *l, struct boot_bits b)
{
	line_str(l, "priority=");
	line_uint(l, b.priority);
	line_str(l, " tries=");
	line_uint(l, b.tries);
	line_str(l, " successful=");
	line_uint(l, b.successful);
}

static void attempts_text(struct line *l, unsigned n)
{
	if (n == ATTEMPTS_DEMOTED)
		line_str(l, "demoted");
	else
		line_uint(l, n);
}

/* A slot's bits and its attempt count, as the summary lines show them. */
static void slot_text(struct line *l, const struct slot *s)
{
	line_char(l, s->letter);
	line_str(l, ": ");
	bits_text(l, gptprio_bits(gpt_entry_attributes(s->entry)));
	line_str(l, " attempts=");
	attempts_text(l, attempts_get(gpt_entry_attributes(s->entry)));
}

static struct boot_bits bits_of(const struct slot *s)
{
	return gptprio_bits(gpt_entry_attributes(s->entry));
}

static void set_bits(struct slot *s, struct boot_bits b)
{
	gpt_set_entry_attributes(s->entry, gptprio_with_bits(gpt_entry_attributes(s->entry), b));
}

/* Every slot's UKI failed to start in this boot: the firmware resets and the selector tries again. */
static void say_no_slot(const struct boot_env *env, const struct slots *s, unsigned failed)
{
	struct line l;

	line_start(&l);
	line_str(&l, PREFIX "no bootable slot (");
	for (int i = 0; i < SLOT_COUNT; i++) {
		if (i)
			line_str(&l, "; ");
		slot_text(&l, &s->slot[i]);
		if (s->slot[i].empty)
			line_str(&l, ", labelled _empty");
		else if (failed & (1u << i))
			line_str(&l, ", failed to boot");
	}
	line_str(&l, "); resetting to try again");
	say(env, &l);
}

static void say_demoted(const struct boot_env *env, const struct slot *s, unsigned limit)
{
	struct line l;

	line_start(&l);
	line_str(&l, PREFIX "slot=");
	line_char(&l, s->letter);
	line_str(&l, " demoted: its last ");
	line_uint(&l, limit);
	line_str(&l, limit == 1 ? " boot never became healthy" : " boots never became healthy");
	say(env, &l);
}

/* No slot can boot by the rules: say so once, and which one boots anyway. */
static void say_least_bad(const struct boot_env *env, const struct slots *s, int chosen)
{
	struct line l;

	line_start(&l);
	line_str(&l, PREFIX "no healthy slot (");
	for (int i = 0; i < SLOT_COUNT; i++) {
		if (i)
			line_str(&l, "; ");
		slot_text(&l, &s->slot[i]);
	}
	line_str(&l, "); trying the least bad: ");
	line_char(&l, s->slot[chosen].letter);
	say(env, &l);
}

static void say_fatal(const struct boot_env *env, const char *what, const char *why)
{
	struct line l;

	line_start(&l);
	line_str(&l, PREFIX);
	line_str(&l, what);
	line_str(&l, why);
	line_str(&l, "; powering off");
	say(env, &l);
}

/*
 * Uses up one try and counts one attempt on the chosen slot, on disk, before it boots; `dirty` says an
 * earlier change (a demotion) still has to be written. NULL on success.
 */
static const char *record_try(struct disk *d, struct gpt_table *t, struct slot *s, int dirty, int read_only)
{
	uint64_t before = gpt_entry_attributes(s->entry);
	uint64_t after = attempts_next(before);

	if (after == before && !dirty)
		return NULL;
	gpt_set_entry_attributes(s->entry, after);
	return read_only ? NULL : gpt_write(d, t);
}

static void say_decision(const struct boot_env *env, const struct slot *s, uint64_t before_attrs)
{
	struct boot_bits before = gptprio_bits(before_attrs), after = bits_of(s);
	unsigned n_before = attempts_get(before_attrs), n_after = attempts_get(gpt_entry_attributes(s->entry));
	struct line l;

	line_start(&l);
	line_str(&l, PREFIX "slot=");
	line_char(&l, s->letter);
	line_str(&l, " partition=");
	line_uint(&l, s->number);
	line_str(&l, " priority=");
	line_uint(&l, before.priority);
	line_str(&l, " tries=");
	line_uint(&l, before.tries);
	if (after.tries != before.tries) {
		line_str(&l, "->");
		line_uint(&l, after.tries);
	}
	line_str(&l, " successful=");
	line_uint(&l, before.successful);
	line_str(&l, " attempts=");
	attempts_text(&l, n_before);
	if (n_after != n_before) {
		line_str(&l, "->");
		attempts_text(&l, n_after);
	}
	say(env, &l);
}

/* A slot whose UKI would not start keeps no tries: the next boot must not pick it for them. */
static void disable_slot(struct disk *d, struct gpt_table *t, const struct boot_env *env, struct slot *s,
			 const char *path, const char *why, int read_only)
{
	struct boot_bits b = bits_of(s);
	const char *err = NULL;
	struct line l;

	if (b.tries) {
		b.tries = 0;
		set_bits(s, b);
		if (!read_only)
			err = gpt_write(d, t);
	}
	line_start(&l);
	line_str(&l, PREFIX "slot=");
	line_char(&l, s->letter);
	line_str(&l, " cannot boot: ");
	line_str(&l, path);
	line_str(&l, ": ");
	line_str(&l, why);
	line_str(&l, "; tries -> 0");
	if (err) {
		line_str(&l, " not written: ");
		line_str(&l, err);
	}
	say(env, &l);
}

int selector_run(struct disk *d, const struct boot_env *env, int read_only)
{
	struct gpt_table t;
	struct gpt_load_report r;
	struct slots s;
	const char *err;
	unsigned failed, limit = env->attempt_limit ? env->attempt_limit : IMGBUILD_BOOT_ATTEMPTS;
	int rc = 1, said_least_bad = 0;

	int loaded = gpt_load(d, &t, read_only, &r);
	report_load(env, &r, read_only);
	if (loaded)
		return 1;

	err = gptprio_find_slots(t.entries, t.header.entry_count, t.header.entry_size, &s);
	if (err) {
		say_fatal(env, "", err);
		goto out;
	}
	unsigned demoted = attempts_demote(&s, limit);
	for (int i = 0; i < SLOT_COUNT; i++)
		if (demoted & (1u << i))
			say_demoted(env, &s.slot[i], limit);
	int dirty = demoted != 0;
	/* a slot labelled _empty holds no version (or a half-written one): never started */
	failed = gptprio_empty_mask(&s);
	for (;;) {
		struct pick p = attempts_choose(&s, failed);
		int i = p.slot;
		if (i < 0) {
			say_no_slot(env, &s, failed);
			rc = SELECTOR_RETRY;
			break;
		}
		if (p.kind == PICK_LEAST_BAD && !said_least_bad) {
			say_least_bad(env, &s, i);
			said_least_bad = 1;
		}
		uint64_t before = gpt_entry_attributes(s.slot[i].entry);
		err = record_try(d, &t, &s.slot[i], dirty, read_only);
		if (err) {
			say_fatal(env, "cannot record the try on the GPT, not booting: ", err);
			break;
		}
		dirty = 0;
		say_decision(env, &s.slot[i], before);

		char why[SELECTOR_WHY_MAX] = "";
		char path[GPTPRIO_UKI_PATH_MAX];
		const char *bad = gptprio_uki_path(&s.slot[i], path, sizeof(path));
		if (bad) {
			copy_text(why, sizeof(why), bad);
			copy_text(path, sizeof(path), "(no path)");
		} else if (env->boot(env->ctx, i, path, why, sizeof(why)) == 0) {
			rc = 0;
			break;
		}
		disable_slot(d, &t, env, &s.slot[i], path, why, read_only);
		failed |= 1u << i;
	}
out:
	gpt_free(d, &t);
	return rc;
}
