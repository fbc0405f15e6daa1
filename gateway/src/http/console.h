/* console.h - GET /_silk/ (--console): the console page, its assets and the data it reads. */
#ifndef SILK_GATEWAY_CONSOLE_H
#define SILK_GATEWAY_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

struct silk__gw_client;

/* The console is served under "/_silk/"; "/_silk" alone is redirected there. */
#define SILK__GW_CONSOLE_NAME "_silk"

/* One file compiled into the binary (cmake/SilkEmbed.cmake writes the table from
 * gateway/console/ and clients/js/silk.js): its name under "/_silk/" ("" for the
 * page itself), Content-Type, bytes and ETag (quoted, from its SHA-256). */
typedef struct silk__gw_console_asset {
    const char *name;
    const char *type;
    const unsigned char *data;
    size_t len;
    const char *etag;
} silk__gw_console_asset;

/* The table, in the generated console_assets.c. */
extern const silk__gw_console_asset silk__gw_console_assets[];
extern const size_t silk__gw_console_assets_count;

/* silk__gw_console_asset_find returns the asset named name (the path after
 * "/_silk/"), or NULL. */
const silk__gw_console_asset *silk__gw_console_asset_find(const char *name);

/* silk__gw_console_respond answers a GET or HEAD under /_silk (routes.c sends no other verb
 * here) on c. Without --console: 404, as for any path. With it: "/_silk" is redirected to
 * "/_silk/"; the page and its assets go to anyone, with their ETag (304 for a matching
 * If-None-Match) and Cache-Control: no-cache; config.json says whether a token is needed; the
 * data - openapi.json (the OpenAPI document) and instances (http/instances.h) - need the token
 * when --jwt-key is given, as /metrics does; any other name is 404. It returns as
 * silk__gw_respond. */
int silk__gw_console_respond(struct silk__gw_client *c, bool close);

#endif /* SILK_GATEWAY_CONSOLE_H */
