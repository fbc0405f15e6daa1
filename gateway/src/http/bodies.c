/* bodies.c - the gateway's own JSON bodies (errors, Silky's wrapped replies) and HTTP statuses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/utf8.h"
#include "http/bodies.h"

/* quoted returns message as a JSON string (quotes included) in a new string, or NULL when
 * memory is exhausted. Bytes that are not UTF-8 become U+FFFD, as in the JSON mapping. */
static char *quoted(const char *message)
{
    json_t *s = json_string(message);
    if (s == NULL) {
        char *repaired = silk__utf8_repair(message, strlen(message), NULL);
        if (repaired == NULL)
            return NULL;
        s = json_string(repaired);
        free(repaired);
        if (s == NULL)
            return NULL;
    }
    char *text = json_dumps(s, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(s);
    return text;
}

char *silk__gw_body_error(silk_status code, const char *message)
{
    char *msg = quoted(message ? message : "");
    if (msg == NULL)
        return NULL;
    size_t size = strlen(msg) + 64;
    char *out = malloc(size);
    if (out != NULL)
        snprintf(out, size, "{\"code\":%d,\"message\":%s}", (int)code, msg);
    free(msg);
    return out;
}

/* quoted_after: when message starts with prefix and a quoted name, the name's length, with
 * *name set to it; else 0. */
static size_t quoted_after(const char *message, const char *prefix, const char **name)
{
    size_t n = strlen(prefix);
    if (strncmp(message, prefix, n) != 0 || message[n] != '"')
        return 0;
    *name = message + n + 1;
    const char *end = strchr(*name, '"');
    return end != NULL ? (size_t)(end - *name) : 0;
}

/* member_name writes the field an INVALID_ARGUMENT message names into out ("" when none):
 * field "a.b": unknown field "c" ... is a.b.c. */
static void member_name(const char *message, char *out, size_t size)
{
    static const char *const params[] = {"query parameter ", "path parameter "};
    const char *name;
    size_t n;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        size_t pl = strlen(params[i]);
        if (strncmp(message, params[i], pl) == 0) {
            n = strcspn(message + pl, ":");
            snprintf(out, size, "%.*s", (int)n, message + pl);
            return;
        }
    }
    if ((n = quoted_after(message, "field ", &name)) != 0) {
        snprintf(out, size, "%.*s", (int)n, name);
        message = name + n + 1;
        message += strspn(message, ": ");
    }
    if ((n = quoted_after(message, "unknown field ", &name)) != 0) {
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s%.*s", used > 0 ? "." : "", (int)n, name);
    }
}

/* valid_errors returns the validErrors of a wrapped reply whose message, quoted as JSON, is
 * msg: a new string, or NULL when memory is exhausted. */
static char *valid_errors(silk_status code, const char *message, const char *msg)
{
    if (code != SILK_INVALID_ARGUMENT || msg == NULL)
        return strdup("null");
    char member[256];
    member_name(message, member, sizeof member);
    char *name = quoted(member);
    size_t size = strlen(msg) + (name ? strlen(name) : 0) + 64;
    char *out = name != NULL ? malloc(size) : NULL;
    if (out != NULL)
        snprintf(out, size, "[{\"memberName\":%s,\"errorMessages\":[%s]}]",
                 member[0] ? name : "null", msg);
    free(name);
    return out;
}

char *silk__gw_body_wrapped(int http_status, silk_status code, const char *result,
                            const char *message)
{
    char *msg = message ? quoted(message) : NULL;
    char *valid = message == NULL || msg != NULL ? valid_errors(code, message, msg) : NULL;
    char *out = NULL;
    if (valid != NULL) {
        size_t size = (result ? strlen(result) : 4) + (msg ? strlen(msg) : 4) + strlen(valid) + 128;
        out = malloc(size);
        if (out != NULL)
            snprintf(out, size,
                     "{\"result\":%s,\"status\":%d,\"code\":%d,\"errorMessage\":%s,"
                     "\"validErrors\":%s}",
                     result ? result : "null", http_status, (int)code, msg ? msg : "null", valid);
    }
    free(msg);
    free(valid);
    return out;
}

/* grpc-gateway's HTTPStatusFromCode; 499 is nginx's "client closed request". */
static const int http[SILK_STATUS_COUNT] = {
    [SILK_OK] = 200,
    [SILK_CANCELLED] = 499,
    [SILK_UNKNOWN] = 500,
    [SILK_INVALID_ARGUMENT] = 400,
    [SILK_DEADLINE_EXCEEDED] = 504,
    [SILK_NOT_FOUND] = 404,
    [SILK_ALREADY_EXISTS] = 409,
    [SILK_PERMISSION_DENIED] = 403,
    [SILK_RESOURCE_EXHAUSTED] = 429,
    [SILK_FAILED_PRECONDITION] = 400,
    [SILK_ABORTED] = 409,
    [SILK_OUT_OF_RANGE] = 400,
    [SILK_UNIMPLEMENTED] = 501,
    [SILK_INTERNAL] = 500,
    [SILK_UNAVAILABLE] = 503,
    [SILK_DATA_LOSS] = 500,
    [SILK_UNAUTHENTICATED] = 401,
};

int silk__gw_http_status(silk_status st)
{
    if ((unsigned)st >= SILK_STATUS_COUNT)
        return 500;
    return http[st];
}
