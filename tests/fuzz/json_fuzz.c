/* json_fuzz.c - libFuzzer driver for the JSON -> protobuf path (silk_json_to_message) and
 * silk_json_set_field, checking that whatever decodes also round-trips exactly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <silk/json.h>

#include "json_test.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what, const char *detail)
{
    if (!ok) {
        fprintf(stderr, "json_fuzz: %s: %s\n", what, detail);
        abort();
    }
}

/* round_trip encodes m, decodes the text again, and checks both give the same wire bytes
 * and the same text. */
static void round_trip(const ProtobufCMessage *m)
{
    char err[256], *out = NULL, *out2 = NULL;
    size_t len = 0, len2 = 0;
    silk_status st = silk_json_from_message(m, &out, &len, err, sizeof err);
    check(st == SILK_OK || st == SILK_INTERNAL, "encode failed", err);
    if (st != SILK_OK)
        return;
    check(strlen(out) == len, "length", out);
    ProtobufCMessage *again = NULL;
    st = silk_json_to_message(m->descriptor, out, len, &again, err, sizeof err);
    check(st == SILK_OK, "what was written does not read back", err);
    size_t na = protobuf_c_message_get_packed_size(m);
    size_t nb = protobuf_c_message_get_packed_size(again);
    uint8_t *pa = malloc(na + 1), *pb = malloc(nb + 1);
    check(pa != NULL && pb != NULL, "out of memory", "");
    protobuf_c_message_pack(m, pa);
    protobuf_c_message_pack(again, pb);
    check(na == nb && memcmp(pa, pb, na) == 0, "round trip changed the message", out);
    st = silk_json_from_message(again, &out2, &len2, err, sizeof err);
    check(st == SILK_OK && len == len2 && memcmp(out, out2, len) == 0, "second encode differs",
          out);
    free(pa);
    free(pb);
    free(out);
    free(out2);
    protobuf_c_message_free_unpacked(again, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    ProtobufCMessage *m = NULL;
    err[0] = '\0';
    silk_status st = silk_json_to_message(&silkjt__all__descriptor, (const char *)data, size, &m,
                                          err, sizeof err);
    if (st == SILK_OK) {
        round_trip(m);
        protobuf_c_message_free_unpacked(m, NULL);
    } else {
        check(m == NULL && err[0] != '\0' && st == SILK_INVALID_ARGUMENT, "bad failure", err);
    }

    /* "name=value": one text parameter, as the gateway's path and query give them. */
    const uint8_t *eq = memchr(data, '=', size);
    if (eq == NULL || memchr(data, '\0', size) != NULL)
        return 0;
    size_t nlen = (size_t)(eq - data);
    char *name = malloc(nlen + 1), *value = malloc(size - nlen);
    check(name != NULL && value != NULL, "out of memory", "");
    memcpy(name, data, nlen);
    name[nlen] = '\0';
    memcpy(value, eq + 1, size - nlen - 1);
    value[size - nlen - 1] = '\0';
    Silkjt__All *a = malloc(sizeof *a);
    check(a != NULL, "out of memory", "");
    silkjt__all__init(a);
    st = silk_json_set_field(&a->base, name, value, err, sizeof err);
    check(st == SILK_OK || st == SILK_INVALID_ARGUMENT, "bad set_field failure", err);
    round_trip(&a->base);
    protobuf_c_message_free_unpacked(&a->base, NULL);
    free(name);
    free(value);
    return 0;
}
