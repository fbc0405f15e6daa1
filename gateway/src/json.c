/* json.c - the gateway's own JSON bodies: errors, and Silky's wrapped replies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json.h"

/* quoted returns message as a JSON string (quotes included) in a new string, or NULL when
 * memory is exhausted. Bytes that are not UTF-8 become '?'. */
static char *quoted(const char *message)
{
    json_t *s = json_string(message);
    if (s == NULL) {
        char *ascii = strdup(message);
        if (ascii == NULL)
            return NULL;
        for (char *p = ascii; *p != '\0'; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        s = json_string(ascii);
        free(ascii);
        if (s == NULL)
            return NULL;
    }
    char *text = json_dumps(s, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(s);
    return text;
}

char *silk__gw_json_error(silk_status code, const char *message)
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

char *silk__gw_json_wrapped(int http_status, silk_status code, const char *result,
                            const char *message)
{
    char *msg = message ? quoted(message) : NULL;
    if (message != NULL && msg == NULL)
        return NULL;
    size_t size = (result ? strlen(result) : 4) + (msg ? strlen(msg) : 4) + 128;
    char *out = malloc(size);
    if (out != NULL)
        snprintf(out, size,
                 "{\"result\":%s,\"status\":%d,\"code\":%d,\"errorMessage\":%s,"
                 "\"validErrors\":null}",
                 result ? result : "null", http_status, (int)code, msg ? msg : "null");
    free(msg);
    return out;
}
