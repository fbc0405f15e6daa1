/* status.c - the names of silk's status codes and the HTTP status a gateway answers with. */
#include <silk/status.h>

static const char *const names[SILK_STATUS_COUNT] = {
    [SILK_OK] = "OK",
    [SILK_CANCELLED] = "CANCELLED",
    [SILK_UNKNOWN] = "UNKNOWN",
    [SILK_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
    [SILK_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
    [SILK_NOT_FOUND] = "NOT_FOUND",
    [SILK_ALREADY_EXISTS] = "ALREADY_EXISTS",
    [SILK_PERMISSION_DENIED] = "PERMISSION_DENIED",
    [SILK_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
    [SILK_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
    [SILK_ABORTED] = "ABORTED",
    [SILK_OUT_OF_RANGE] = "OUT_OF_RANGE",
    [SILK_UNIMPLEMENTED] = "UNIMPLEMENTED",
    [SILK_INTERNAL] = "INTERNAL",
    [SILK_UNAVAILABLE] = "UNAVAILABLE",
    [SILK_DATA_LOSS] = "DATA_LOSS",
    [SILK_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

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

const char *silk_status_str(silk_status st)
{
    if ((unsigned)st >= SILK_STATUS_COUNT)
        return "UNKNOWN_STATUS";
    return names[st];
}

int silk_status_http(silk_status st)
{
    if ((unsigned)st >= SILK_STATUS_COUNT)
        return 500;
    return http[st];
}
