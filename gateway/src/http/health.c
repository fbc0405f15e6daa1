/* health.c - GET /healthz: the gateway itself, and with ?deep=1 every service's Health/Check. */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/ctx.h>

#include "conn/client.h"
#include "silk/health.silk.h"

/* The deadline of each service's Health/Check, in milliseconds. */
#define CHECK_TIMEOUT_MS 2000

typedef silk__gw_client client;
typedef silk__gw_health health;

/* One service's Health/Check, for a deep check. */
typedef struct check {
    silk__gw_call call; /* first: check_done casts it back */
    health *health;
    size_t service; /* the service checked, by index */
} check;
static_assert(offsetof(check, call) == 0, "check_done casts its call to the check");
static_assert(offsetof(Silk__Health__HealthCheckResponse, base) == 0,
              "check_done casts the response");

static void health_free(health *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->why[i]);
    free(h->why);
    free(h->st);
    free(h);
}

/* health_new makes a deep check of n services for c; NULL when memory is exhausted. */
static health *health_new(client *c, size_t n)
{
    health *h = calloc(1, sizeof *h);
    if (h == NULL || (h->st = calloc(n, sizeof *h->st)) == NULL ||
        (h->why = calloc(n, sizeof *h->why)) == NULL) {
        if (h != NULL)
            free(h->st);
        free(h);
        return NULL;
    }
    h->client = c;
    h->n = n;
    h->pending = n + 1; /* one for silk__gw_health_start, so nothing answers early */
    return h;
}

/* health_answer answers a finished deep check: 200 when every service is SERVING, else 503,
 * with {"status":..,"services":{"<name>":"SERVING" or "<STATUS>: <why>",...}}. */
static int health_answer(client *c, health *h)
{
    const silk__gw *gw = c->loop->gw;
    bool all = true;
    size_t size = 64;
    for (size_t i = 0; i < h->n; i++) {
        all = all && h->st[i] == SILK_OK;
        size += strlen(gw->services[i]->name) + (h->why[i] ? strlen(h->why[i]) : 0) + 64;
    }
    char *json = malloc(size);
    if (json == NULL)
        return -1;
    size_t n = (size_t)snprintf(json, size, "{\"status\":\"%s\",\"services\":{",
                                all ? "SERVING" : "NOT_SERVING");
    for (size_t i = 0; i < h->n; i++) {
        char *why = h->why[i];
        for (char *p = why; p != NULL && *p != '\0'; p++)
            if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x80)
                *p = '?';
        n += (size_t)snprintf(json + n, size - n, "%s\"%s\":\"%s%s%s\"", i ? "," : "",
                              gw->services[i]->name,
                              h->st[i] == SILK_OK ? "SERVING" : silk_status_str(h->st[i]),
                              why ? ": " : "", why ? why : "");
    }
    snprintf(json + n, size - n, "}}");
    int rv = silk__gw_respond(c, all ? 200 : 503, NULL, json, !c->http->req.keep_alive);
    free(json);
    return rv;
}

/* check_one is done with one service's check: once every check is, it answers, if the
 * connection is still there, and frees h. */
static void check_one(health *h)
{
    if (--h->pending > 0)
        return;
    client *c = h->client;
    if (c != NULL) {
        c->health = NULL;
        if (health_answer(c, h) != 0)
            silk__gw_client_close(c, "out of memory");
        else
            silk__gw_client_drive(c);
    }
    health_free(h);
}

/* check_done is a Health/Check's completion: it records the service's answer in its deep
 * check, and frees the call. */
static void check_done(silk__gw_call *base)
{
    check *k = (check *)base;
    health *h = k->health;
    const Silk__Health__HealthCheckResponse *r = (const void *)base->resp;
    if (base->st == SILK_OK &&
        r->status != SILK__HEALTH__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
        base->st = SILK_UNAVAILABLE;
        free(base->message);
        base->message = strdup("not serving");
    }
    h->st[k->service] = base->st;
    if (base->st != SILK_OK) {
        h->why[k->service] = base->message;
        base->message = NULL;
    }
    silk__gw_call_fini(base);
    free(k);
    check_one(h);
}

/* start_check asks service i Health/Check for h; when it cannot, it records why and counts
 * the check done. */
static void start_check(silk__gw_loop *l, health *h, size_t i)
{
    silk__gw *gw = l->gw;
    const silk_method_desc *method = &silk__health__health__silk_desc.methods[0];
    check *k = calloc(1, sizeof *k);
    Silk__Health__HealthCheckRequest *hr = malloc(sizeof *hr);
    silk_ctx *ctx = silk_ctx_new();
    if (hr != NULL)
        silk__health__health_check_request__init(hr);
    if (k == NULL || hr == NULL || ctx == NULL ||
        (hr->service = strdup(gw->services[i]->name)) == NULL) {
        h->st[i] = SILK_RESOURCE_EXHAUSTED;
        free(k);
        if (hr != NULL)
            protobuf_c_message_free_unpacked(&hr->base, NULL);
        silk_ctx_free(ctx);
        h->pending--;
        return;
    }
    silk_ctx_set_timeout(ctx, CHECK_TIMEOUT_MS);
    k->call.done = check_done;
    k->call.req = &hr->base;
    k->health = h;
    k->service = i;
    silk_status st = silk__gw_upstream_call(l, &k->call, i, ctx, method);
    if (st != SILK_OK) {
        const char *why = silk_ctx_message(ctx);
        h->st[i] = st;
        h->why[i] = strdup(why[0] != '\0' ? why : silk_status_str(st));
        protobuf_c_message_free_unpacked(&hr->base, NULL);
        free(k);
        h->pending--;
    }
    silk_ctx_free(ctx);
}

int silk__gw_health_start(client *c)
{
    SILK__GW_ASSERT_ON_LOOP(c->loop);
    silk__gw *gw = c->loop->gw;
    const silk__gw_http_request *req = &c->http->req;
    char deep[8];
    if (silk__gw_http_query_get(req->query, "deep", deep, sizeof deep) < 0 ||
        strcmp(deep, "0") == 0 || strcmp(deep, "false") == 0 || gw->n_services == 0)
        return silk__gw_respond(c, 200, NULL, "{\"status\":\"SERVING\"}", !req->keep_alive);

    health *h = health_new(c, gw->n_services);
    if (h == NULL)
        return -1;
    c->health = h;
    c->state = SILK__GW_CLIENT_CALLING;
    for (size_t i = 0; i < gw->n_services; i++)
        start_check(c->loop, h, i);
    if (--h->pending > 0)
        return 0;
    c->health = NULL;
    int rv = health_answer(c, h);
    health_free(h);
    return rv;
}
