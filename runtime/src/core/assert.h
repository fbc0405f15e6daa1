/* assert.h - silk's checked invariants: SILK__ASSERT at run time in debug builds, and
 * SILK__FIRST_MEMBER at compile time.
 *
 * SILK__ASSERT is on when SILK_DEBUG_ASSERTS is defined, which CMake's option of that name
 * does - on unless CMAKE_BUILD_TYPE is Release - for libsilk and every target that links it
 * or silk_core. Unlike assert() it does not hang on NDEBUG, which RelWithDebInfo defines.
 * When it is off the expression is not evaluated, so a Release build pays nothing. */
#ifndef SILK_SRC_CORE_ASSERT_H
#define SILK_SRC_CORE_ASSERT_H

#include <assert.h>
#include <stddef.h>

/* silk__assert_failed reports the failed check expr, where it is, on stderr and aborts. */
_Noreturn void silk__assert_failed(const char *expr, const char *file, int line, const char *func);

/* SILK__ASSERT(x) aborts, naming x and where it is, when x is false; only in debug builds. */
#ifdef SILK_DEBUG_ASSERTS
#define SILK__ASSERT(x) ((x) ? (void)0 : silk__assert_failed(#x, __FILE__, __LINE__, __func__))
#else
#define SILK__ASSERT(x) ((void)sizeof(!(x)))
#endif

/* SILK__FIRST_MEMBER(type, member) checks at compile time that member starts type, so that a
 * pointer to member may be cast to a pointer to type. */
#define SILK__FIRST_MEMBER(type, member)                                                           \
    static_assert(offsetof(type, member) == 0, #member " must be the first member of " #type)

#endif /* SILK_SRC_CORE_ASSERT_H */
