/* env.h - silk's settings from the environment, read one way by every component. */
#ifndef SILK_CORE_ENV_H
#define SILK_CORE_ENV_H

#include <stdbool.h>

/* The rule every setting follows: an environment variable means what the option of the same
 * name means. Unset or empty is "not given"; 0 is the default wherever an option's 0 is
 * (silk_server_opts is zero-initialised), and a timeout is turned off by a negative value. */

/* silk__env_str returns $name, or NULL when it is unset or empty. The string is the
 * environment's: copy it to keep it. */
const char *silk__env_str(const char *name);

/* silk__env_long reads $name as a decimal integer in [min, max] into *out and returns true.
 * Unset or empty returns false and leaves *out alone; so does anything else that is not such
 * a number, after a warning naming the variable (its value is not logged: it may be a
 * secret). */
bool silk__env_long(const char *name, long min, long max, long *out);

#endif /* SILK_CORE_ENV_H */
