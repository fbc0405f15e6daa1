/* secret.c - comparing secrets in constant time (secret.h). */
#include <stddef.h>
#include <string.h>

#include "core/secret.h"

bool silk__secret_equal(const char *secret, const char *given)
{
    if (given == NULL)
        return false;
    size_t n = strlen(secret), m = strlen(given);
    /* Every byte of given is compared: with the byte of secret at the same place while
     * there is one, else with secret[0] masked to 0. The mask is arithmetic, not a branch. */
    unsigned diff = n != m;
    for (size_t i = 0; i < m; i++) {
        size_t in = (size_t)0 - (size_t)(i < n); /* all ones while i < n */
        unsigned char s = (unsigned char)secret[i & in] & (unsigned char)in;
        diff |= (unsigned)(s ^ (unsigned char)given[i]);
    }
    return diff == 0;
}
