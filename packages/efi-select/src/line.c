/* One ASCII console line; see line.h. Overlong lines are cut, never overrun. */
#include "line.h"

void line_start(struct line *l)
{
	l->len = 0;
	l->text[0] = 0;
}

void line_char(struct line *l, char c)
{
	if (l->len < LINE_MAX_CHARS)
		l->text[l->len++] = c;
	l->text[l->len] = 0;
}

void line_str(struct line *l, const char *s)
{
	while (*s)
		line_char(l, *s++);
}

void line_uint(struct line *l, unsigned long long v)
{
	char digits[24];
	int n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		line_char(l, digits[--n]);
}
