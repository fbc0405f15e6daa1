/* clock.h - the two clocks silk reads: monotonic microseconds and wall-clock milliseconds. */
#ifndef SILK_SRC_CLOCK_H
#define SILK_SRC_CLOCK_H

#include <stdint.h>
#include <time.h>

/* silk__now_us returns the monotonic clock in microseconds: deadlines are kept on it. */
static inline int64_t silk__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* silk__wall_ms returns milliseconds since the epoch. */
static inline int64_t silk__wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif /* SILK_SRC_CLOCK_H */
