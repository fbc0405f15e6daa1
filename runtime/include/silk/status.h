/* status.h - silk's status codes and their names; docs/runtime.md, "Status codes", says more. */
#ifndef SILK_STATUS_H
#define SILK_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

/* silk_status is what every fallible silk call returns; SILK_OK is 0. The numbers travel in
 * response headers (docs/PROTOCOL.md) and never change. */
typedef enum silk_status {
    SILK_OK = 0,
    SILK_CANCELLED = 1,
    SILK_UNKNOWN = 2,
    SILK_INVALID_ARGUMENT = 3,
    SILK_DEADLINE_EXCEEDED = 4,
    SILK_NOT_FOUND = 5,
    SILK_ALREADY_EXISTS = 6,
    SILK_PERMISSION_DENIED = 7,
    SILK_RESOURCE_EXHAUSTED = 8,
    SILK_FAILED_PRECONDITION = 9,
    SILK_ABORTED = 10,
    SILK_OUT_OF_RANGE = 11,
    SILK_UNIMPLEMENTED = 12,
    SILK_INTERNAL = 13,
    SILK_UNAVAILABLE = 14,
    SILK_DATA_LOSS = 15,
    SILK_UNAUTHENTICATED = 16,
} silk_status;

/* SILK_STATUS_COUNT is one past the highest status code. */
#define SILK_STATUS_COUNT 17

/* silk_status_str returns the upper-case name of st ("NOT_FOUND"), or "UNKNOWN_STATUS" for
 * a number outside the table. The string is static. Any thread. */
const char *silk_status_str(silk_status st);

#ifdef __cplusplus
}
#endif

#endif /* SILK_STATUS_H */
