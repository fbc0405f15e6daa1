/* utf8.h - checking and repairing UTF-8: one behaviour (U+FFFD for each bad byte) for silk. */
#ifndef SILK_CORE_UTF8_H
#define SILK_CORE_UTF8_H

#include <stddef.h>

/* silk__utf8_len returns the length (1 to 4) of the well-formed UTF-8 sequence at s, which has
 * n > 0 bytes left, or 0 when the byte at s starts none: an overlong form, a surrogate, a
 * code point past U+10FFFF, a stray continuation byte or a sequence cut short. */
size_t silk__utf8_len(const unsigned char *s, size_t n);

/* silk__utf8_valid tells whether s[0..n) is well-formed UTF-8. */
int silk__utf8_valid(const char *s, size_t n);

/* silk__utf8_repair returns a NUL-terminated copy of s[0..n) in which every byte that starts
 * no well-formed sequence is replaced by U+FFFD (EF BF BD), as the JSON mapping writes it; the
 * caller frees it with free(). *out_len (may be NULL) gets its length. NULL when memory is
 * exhausted. */
char *silk__utf8_repair(const char *s, size_t n, size_t *out_len);

#endif /* SILK_CORE_UTF8_H */
