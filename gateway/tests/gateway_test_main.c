/* gateway_test_main.c - silk-gateway-test: the gateway with hand-made descriptors, for tests:
 * WsTest, a plain service, gwtest.Items (served by silk-gateway-items) and a public Lobby. */
#include <silk/gateway.h>

#include "google/protobuf/empty.pb-c.h"
#include "gwtest.pb-c.h"
#include "items_desc.h"

/* WsTest as protoc-gen-silk would describe it: route api/wstest, WebSocket on, Echo. */
static const silk_path_segment echo_segments[] = {
    {SILK_PATH_LITERAL, "api"},
    {SILK_PATH_LITERAL, "wstest"},
    {SILK_PATH_LITERAL, "echo"},
};

static const silk_method_desc wstest_methods[] = {{
    .name = "Echo",
    .path = "/wstest.WsTest/Echo",
    .input = &gwtest__echo_request__descriptor,
    .output = &google__protobuf__empty__descriptor,
    .http_verb = SILK_HTTP_POST,
    .http_path = "api/wstest/echo",
    .http_segments = echo_segments,
    .n_http_segments = sizeof echo_segments / sizeof echo_segments[0],
    .hash_key = "business_id",
    .business_id_field = 1,
}};

static const silk_service_desc wstest = {
    .name = "wstest.WsTest",
    .route = "api/wstest",
    .websocket = true,
    .n_methods = 1,
    .methods = wstest_methods,
};

/* A service without WebSocket: its route refuses sessions with 404. */
static const silk_method_desc plain_methods[] = {{
    .name = "Ping",
    .path = "/gwtest.Plain/Ping",
    .input = &google__protobuf__empty__descriptor,
    .output = &google__protobuf__empty__descriptor,
}};

static const silk_service_desc plain = {
    .name = "gwtest.Plain",
    .route = "api/plain",
    .n_methods = 1,
    .methods = plain_methods,
};

/* A public WebSocket service that no process serves: a gateway that verifies tokens opens its
 * sessions without one (its OnOpen, with no instance to ask, counts as no hooks). */
static const silk_service_desc lobby = {
    .name = "gwtest.Lobby",
    .route = "api/lobby",
    .websocket = true,
    .public_access = true,
};

/* WebSocket services that keep history (option (silk.history)), which no process serves: a
 * long one, and a short one whose pushes are soon trimmed or expire (streams_test.py). */
static const silk_service_desc streams = {
    .name = "gwtest.Streams",
    .route = "api/streams",
    .websocket = true,
    .history_size = 5000,
    .history_ttl_s = 300,
};

static const silk_service_desc streams_short = {
    .name = "gwtest.StreamsShort",
    .route = "api/streams-short",
    .websocket = true,
    .history_size = 10,
    .history_ttl_s = 2,
};

int main(int argc, char **argv)
{
    static const silk_service_desc *const services[] = {&wstest, &plain,   &gwtest_items_desc,
                                                        &lobby,  &streams, &streams_short};
    return silk_gateway_main(argc, argv, services, sizeof services / sizeof services[0]);
}
