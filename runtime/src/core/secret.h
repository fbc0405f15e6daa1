/* secret.h - comparing secrets (the cluster token) without telling their contents by timing. */
#ifndef SILK_CORE_SECRET_H
#define SILK_CORE_SECRET_H

#include <stdbool.h>

/* silk__secret_equal tells whether given is the string secret. Its time depends on the
 * length of given only, never on where the two differ nor on the length of secret, so a
 * caller guessing the token learns nothing from how long a refusal took. NULL given is
 * false; secret is not NULL. */
bool silk__secret_equal(const char *secret, const char *given);

#endif /* SILK_CORE_SECRET_H */
