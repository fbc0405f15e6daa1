/* random.h - random identifiers from the kernel's generator. */
#ifndef SILK_SRC_RANDOM_H
#define SILK_SRC_RANDOM_H

#include <stddef.h>

/* silk__random_hex writes 2 * nbytes hex digits and a NUL to out (nbytes at most 64), from
 * the kernel's generator: for ids that must be unguessable or unique across hosts. */
void silk__random_hex(char *out, size_t nbytes);

/* silk__random_bytes fills out with n bytes from the kernel's generator: keys, seeds. */
void silk__random_bytes(void *out, size_t n);

/* SILK__TRACE_ID_LEN is the length of a trace id: 32 hex digits. */
#define SILK__TRACE_ID_LEN 32

/* silk__trace_id writes a new trace id (SILK__TRACE_ID_LEN hex digits and a NUL) to out. It
 * draws from a per-thread generator seeded once from the kernel's, so that starting a trace
 * costs no system call: a trace id must be unique, not secret. */
void silk__trace_id(char out[SILK__TRACE_ID_LEN + 1]);

#endif /* SILK_SRC_RANDOM_H */
