/* json_fuzz.c - libFuzzer driver for the JSON -> protobuf path (silk_json_to_message) and
 * silk_json_set_field, checking that whatever decodes also round-trips exactly, and that the
 * decoder's own tokenizer takes and refuses what jansson's parser does, in its words. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

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

/* same_syntax checks the decoder's verdict on the text against jansson's, which it was built
 * on until it read the text itself: malformed for both or neither, and then the same error
 * (the decoder's message is "malformed JSON at line L column C: <jansson's text>"). */
static void same_syntax(const uint8_t *data, size_t size, silk_status st, const char *err)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, size,
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    bool malformed = strncmp(err, "malformed JSON", 14) == 0;
    if (root != NULL) {
        json_decref(root);
        check(!malformed, "malformed here, not for jansson", err);
        return;
    }
    char want[512];
    bool big = strstr(jerr.text, "too big") != NULL && strstr(jerr.text, "integer") != NULL;
    snprintf(want, sizeof want, "malformed JSON at line %d column %d: %s%s", jerr.line, jerr.column,
             jerr.text, big ? " (integers beyond 64 bits signed must be sent as strings)" : "");
    check(st == SILK_INVALID_ARGUMENT && strcmp(err, want) == 0, "not jansson's error", want);
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
    same_syntax(data, size, st, err);

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
