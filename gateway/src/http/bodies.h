/* bodies.h - the gateway's own JSON bodies: errors, and Silky's wrapped replies. Messages are
 * mapped to and from JSON by the runtime's transcoder, silk/json.h. */
#ifndef SILK_GATEWAY_JSON_H
#define SILK_GATEWAY_JSON_H

#include <silk/status.h>

/* silk__gw_http_status returns the HTTP status the gateway answers with for a silk status, as
 * grpc-gateway maps them (NOT_FOUND 404, INVALID_ARGUMENT 400, UNAVAILABLE 503, ...; 500 for
 * a number outside the table). */
int silk__gw_http_status(silk_status st);

/* silk__gw_body_error returns {"code":<code>,"message":"<message>"} as a new string the
 * caller frees with free(), or NULL when memory is exhausted. Bytes of message that are not
 * UTF-8 are replaced. */
char *silk__gw_body_error(silk_status code, const char *message);

/* silk__gw_body_wrapped returns Silky's wrapped reply as a new string the caller frees with
 * free(), or NULL when memory is exhausted:
 * {"result":<result or null>,"status":<http_status>,"code":<code>,
 *  "errorMessage":<message or null>,"validErrors":<see below>}. result is JSON text (NULL:
 * null). validErrors is null but for SILK_INVALID_ARGUMENT, where it is one ValidError,
 * [{"memberName":<field or null>,"errorMessages":[<message>]}]: the field is the one the
 * message names the way the transcoder and the gateway name them ("field \"a.b\": ...",
 * "unknown field \"x\" ...", "query parameter x: ...", "path parameter x: ..."), which a
 * service's own INVALID_ARGUMENT message may follow too. */
char *silk__gw_body_wrapped(int http_status, silk_status code, const char *result,
                            const char *message);

#endif /* SILK_GATEWAY_JSON_H */
