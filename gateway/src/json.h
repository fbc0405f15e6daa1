/* json.h - the gateway's own JSON bodies: errors, and Silky's wrapped replies. Messages are
 * mapped to and from JSON by the runtime's transcoder, silk/json.h. */
#ifndef SILK_GATEWAY_JSON_H
#define SILK_GATEWAY_JSON_H

#include <silk/status.h>

/* silk__gw_json_error returns {"code":<code>,"message":"<message>"} as a new string the
 * caller frees with free(), or NULL when memory is exhausted. Bytes of message that are not
 * UTF-8 are replaced. */
char *silk__gw_json_error(silk_status code, const char *message);

/* silk__gw_json_wrapped returns Silky's wrapped reply as a new string the caller frees with
 * free(), or NULL when memory is exhausted:
 * {"result":<result or null>,"status":<http_status>,"code":<code>,
 *  "errorMessage":<message or null>,"validErrors":null}. result is JSON text (NULL: null). */
char *silk__gw_json_wrapped(int http_status, silk_status code, const char *result,
                            const char *message);

#endif /* SILK_GATEWAY_JSON_H */
