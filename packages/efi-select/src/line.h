/*
 * One ASCII console line, built without printf: the firmware build has no libc and gnu-efi's Print
 * wants UCS-2 formats, so both builds compose their lines here and print them as they are.
 */
#ifndef IMGBUILD_LINE_H
#define IMGBUILD_LINE_H

#define LINE_MAX_CHARS 400

struct line {
	char text[LINE_MAX_CHARS + 1];
	unsigned len;
};

void line_start(struct line *l);
void line_str(struct line *l, const char *s);
void line_char(struct line *l, char c);
void line_uint(struct line *l, unsigned long long v);

#endif
