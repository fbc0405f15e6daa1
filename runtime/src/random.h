/* random.h - random identifiers from the kernel's generator. */
#ifndef SILK_SRC_RANDOM_H
#define SILK_SRC_RANDOM_H

#include <stddef.h>

/* silk__random_hex writes 2 * nbytes hex digits and a NUL to out (nbytes at most 64). */
void silk__random_hex(char *out, size_t nbytes);

#endif /* SILK_SRC_RANDOM_H */
