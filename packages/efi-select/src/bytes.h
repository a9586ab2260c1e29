/* Byte helpers for the pure code: no libc in the firmware build, and these are all it needs. */
#ifndef IMGBUILD_BYTES_H
#define IMGBUILD_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline void bytes_copy(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	while (n--)
		*d++ = *s++;
}

static inline void bytes_zero(void *dst, size_t n)
{
	uint8_t *d = dst;

	while (n--)
		*d++ = 0;
}

static inline int bytes_equal(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (; n; n--)
		if (*x++ != *y++)
			return 0;
	return 1;
}

#endif
