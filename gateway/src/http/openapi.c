/* openapi.c - GET /openapi.json (--openapi): the services' OpenAPI parts merged, and the gateway's.
 *
 * protoc-gen-silk (codegen/src/openapi.c) writes what each service's methods are on the web:
 * paths, parameters, bodies, replies and the error body, the schemas of the JSON mapping, the
 * .proto's comments. This file only merges those parts, the way silkgen_openapi_merge merges
 * them for silkc --openapi (a service's tag, each path's operations, each component; a name
 * had already keeps the first), and adds what depends on the gateway's flags: servers, the
 * bearer token of --jwt-key, Silky's wrapped bodies of --wrap-response (http/bodies.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <silk/log.h>
#include <silk/version.h>

#include "conn/client.h"
#include "http/openapi.h"
#include "loop/gateway.h"

#define LOG "gateway"

/* What only the gateway knows, as JSON. The wrapped bodies are http/bodies.c's
 * silk__gw_body_wrapped: a reply's, and an error's (result null, validErrors for
 * INVALID_ARGUMENT). */
static const char servers[] =
    "[{\"url\":\"/\",\"description\":\"This gateway: the address /openapi.json was fetched "
    "from.\"}]";
static const char security_schemes[] =
    "{\"bearer\":{\"type\":\"http\",\"scheme\":\"bearer\",\"bearerFormat\":\"JWT\","
    "\"description\":\"A JWT the gateway verifies with its --jwt-key (docs/gateway.md, "
    "\\\"Authentication\\\"); its subject and claims reach the service as metadata.\"},"
    "\"accessToken\":{\"type\":\"apiKey\",\"in\":\"query\",\"name\":\"access_token\","
    "\"description\":\"The same JWT as the query parameter access_token, for clients that "
    "cannot set a header.\"}}";
static const char security[] = "[{\"bearer\":[]},{\"accessToken\":[]}]";
static const char wrapped_schemas[] =
    "{\"silk.ValidError\":{\"type\":\"object\",\"required\":[\"memberName\",\"errorMessages\"],"
    "\"properties\":{\"memberName\":{\"type\":[\"string\",\"null\"],\"description\":\"The "
    "field the message names (page.size), or null.\"},\"errorMessages\":{\"type\":\"array\","
    "\"items\":{\"type\":\"string\"}}}},"
    "\"silk.WrappedError\":{\"type\":\"object\",\"description\":\"An error, wrapped Silky's "
    "way (--wrap-response).\",\"required\":[\"result\",\"status\",\"code\",\"errorMessage\","
    "\"validErrors\"],\"properties\":{\"result\":{\"type\":\"null\"},\"status\":{\"type\":"
    "\"integer\",\"description\":\"The HTTP status.\"},\"code\":{\"type\":\"integer\","
    "\"format\":\"int32\",\"minimum\":1,\"maximum\":16,\"description\":\"The silk status.\"},"
    "\"errorMessage\":{\"type\":\"string\"},\"validErrors\":{\"type\":[\"array\",\"null\"],"
    "\"items\":{\"$ref\":\"#/components/schemas/silk.ValidError\"},\"description\":\"null but "
    "for INVALID_ARGUMENT (3): the field it names.\"}}}}";
static const char wrapped_reply[] =
    "{\"type\":\"object\",\"description\":\"The reply, wrapped Silky's way (--wrap-response).\","
    "\"required\":[\"result\",\"status\",\"code\",\"errorMessage\",\"validErrors\"],"
    "\"properties\":{\"status\":{\"const\":200},\"code\":{\"const\":0},\"errorMessage\":"
    "{\"type\":\"null\"},\"validErrors\":{\"type\":\"null\"}}}";

/* load parses one of the texts above, or a service's part; NULL with err set. */
static json_t *load(const char *text, const char *what, char *err, size_t errlen)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (v == NULL)
        snprintf(err, errlen, "%s is not JSON: %s (line %d, column %d)", what, e.text, e.line,
                 e.column);
    return v;
}

/* frame returns the document with nothing in it yet: titled with the services' names, as
 * codegen's silkgen_openapi_document titles it, and servers. */
static json_t *frame(const silk_service_desc *const *services, size_t n, char *err, size_t errlen)
{
    size_t size = 8;
    for (size_t i = 0; i < n; i++)
        size += strlen(services[i]->name) + 2;
    char *title = malloc(size);
    if (title == NULL)
        return NULL;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len +=
            (size_t)snprintf(title + len, size - len, "%s%s", i > 0 ? ", " : "", services[i]->name);
    json_t *doc = json_object(), *list = load(servers, "servers", err, errlen);
    if (doc == NULL || list == NULL ||
        json_object_set_new(doc, "openapi", json_string("3.1.0")) != 0 ||
        json_object_set_new(doc, "info",
                            json_pack("{s:s,s:s}", "title", n > 0 ? title : "silk", "version",
                                      SILK_VERSION_STRING)) != 0 ||
        json_object_set(doc, "servers", list) != 0 ||
        json_object_set_new(doc, "tags", json_array()) != 0 ||
        json_object_set_new(doc, "paths", json_object()) != 0 ||
        json_object_set_new(doc, "components", json_object()) != 0) {
        json_decref(doc);
        doc = NULL;
    }
    json_decref(list);
    free(title);
    return doc;
}

/* merge_two adds the members of src that dst lacks, and of each member both have, the
 * members that dst's lacks; it returns 0, or -1 when memory is exhausted. */
static int merge_two(json_t *dst, json_t *src)
{
    const char *key;
    json_t *value;
    json_object_foreach(src, key, value)
    {
        json_t *have = json_object_get(dst, key);
        int rv = have == NULL           ? json_object_set(dst, key, value)
                 : json_is_object(have) ? json_object_update_missing(have, value)
                                        : 0;
        if (rv != 0)
            return -1;
    }
    return 0;
}

/* has_tag tells whether tags holds one named as tag is. */
static bool has_tag(json_t *tags, json_t *tag)
{
    const char *name = json_string_value(json_object_get(tag, "name"));
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        const char *other = json_string_value(json_object_get(t, "name"));
        if (name != NULL && other != NULL && strcmp(name, other) == 0)
            return true;
    }
    return false;
}

/* merge adds a service's part to doc: its tag, the operations of each path, each component. */
static int merge(json_t *doc, json_t *part)
{
    json_t *tags = json_object_get(doc, "tags");
    size_t i;
    json_t *tag;
    json_array_foreach(json_object_get(part, "tags"), i,
                       tag) if (!has_tag(tags, tag) && json_array_append(tags, tag) != 0) return -1;
    json_t *paths = json_object_get(part, "paths"),
           *components = json_object_get(part, "components");
    if ((paths != NULL && merge_two(json_object_get(doc, "paths"), paths) != 0) ||
        (components != NULL && merge_two(json_object_get(doc, "components"), components) != 0))
        return -1;
    return 0;
}

/* section returns doc's components' member name, made when missing; NULL without memory. */
static json_t *section(json_t *doc, const char *name)
{
    json_t *components = json_object_get(doc, "components");
    json_t *s = json_object_get(components, name);
    if (s == NULL && json_object_set_new(components, name, json_object()) == 0)
        s = json_object_get(components, name);
    return s;
}

/* add_security says that every operation needs the bearer token (in the header, or the query
 * parameter access_token), but those codegen marked "security": [] (public methods). */
static int add_security(json_t *doc, char *err, size_t errlen)
{
    json_t *schemes = load(security_schemes, "security schemes", err, errlen);
    json_t *list = load(security, "security", err, errlen);
    json_t *s = section(doc, "securitySchemes");
    int rv = schemes != NULL && list != NULL && s != NULL && json_object_update(s, schemes) == 0 &&
                     json_object_set(doc, "security", list) == 0
                 ? 0
                 : -1;
    json_decref(schemes);
    json_decref(list);
    return rv;
}

/* json_schema returns where a response's JSON schema is: its content's application/json. */
static json_t *json_media(json_t *response)
{
    return json_object_get(json_object_get(response, "content"), "application/json");
}

/* wrap_reply puts the 200 schema of op into Silky's wrapped reply, as its result. */
static int wrap_reply(json_t *op, char *err, size_t errlen)
{
    json_t *media = json_media(json_object_get(json_object_get(op, "responses"), "200"));
    json_t *schema = json_object_get(media, "schema");
    if (schema == NULL)
        return 0;
    json_t *wrapped = load(wrapped_reply, "the wrapped reply", err, errlen);
    if (wrapped == NULL)
        return -1;
    if (json_object_set(json_object_get(wrapped, "properties"), "result", schema) != 0) {
        json_decref(wrapped);
        return -1;
    }
    return json_object_set_new(media, "schema", wrapped) == 0 ? 0 : -1;
}

/* wrap_bodies makes every operation's reply and the error response Silky's wrapped ones. */
static int wrap_bodies(json_t *doc, char *err, size_t errlen)
{
    const char *path, *verb;
    json_t *item, *op;
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        json_object_foreach(item, verb, op)
        {
            if (json_is_object(op) && wrap_reply(op, err, errlen) != 0)
                return -1;
        }
    }
    json_t *schemas = load(wrapped_schemas, "the wrapped schemas", err, errlen);
    json_t *media = json_media(json_object_get(section(doc, "responses"), "silk.Error"));
    int rv = schemas != NULL && json_object_update(section(doc, "schemas"), schemas) == 0 &&
                     (media == NULL ||
                      json_object_set_new(media, "schema",
                                          json_pack("{s:s}", "$ref",
                                                    "#/components/schemas/silk.WrappedError")) == 0)
                 ? 0
                 : -1;
    json_decref(schemas);
    return rv;
}

/* add_parts merges every service's part into doc; 0, or -1 with err set. */
static int add_parts(json_t *doc, const silk_service_desc *const *services, size_t n, char *err,
                     size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (services[i]->openapi == NULL) {
            silk_log(SILK_LOG_WARN, LOG,
                     "service=%s has no OpenAPI part (a descriptor not made by protoc-gen-silk): "
                     "/openapi.json leaves it out",
                     services[i]->name);
            continue;
        }
        char what[300];
        snprintf(what, sizeof what, "the OpenAPI part of %s", services[i]->name);
        json_t *part = load(services[i]->openapi, what, err, errlen);
        int rv = part != NULL ? merge(doc, part) : -1;
        json_decref(part);
        if (rv != 0)
            return -1;
    }
    return 0;
}

char *silk__gw_openapi_document(const silk__gw_opts *opts, const silk_service_desc *const *services,
                                size_t n, char *err, size_t errlen)
{
    snprintf(err, errlen, "out of memory");
    json_t *doc = frame(services, n, err, errlen);
    char *text = NULL;
    if (doc != NULL && add_parts(doc, services, n, err, errlen) == 0 &&
        (opts->jwt == NULL || add_security(doc, err, errlen) == 0) &&
        (!opts->wrap_response || wrap_bodies(doc, err, errlen) == 0))
        text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

int silk__gw_openapi_respond(silk__gw_client *c, bool close)
{
    const char *doc = c->loop->gw->openapi;
    if (doc == NULL || !c->loop->gw->opts.openapi) /* --console makes it too */
        return silk__gw_respond_error(c, 404, SILK_NOT_FOUND, "no route for GET /openapi.json",
                                      NULL, close);
    return silk__gw_respond(c, 200, NULL, doc, close);
}
