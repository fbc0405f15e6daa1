/* frame_fuzz.c - libFuzzer driver for the frame decoder: a byte stream as a connection reads it.
 *
 * The input is split the way conn.c splits a stream: frames are decoded one after another,
 * a frame longer than the limit is skipped without being buffered, and each request or
 * response header is unpacked as the server and the channel unpack it. Built with
 * -fsanitize=fuzzer,address when clang is there (target silk_frame_fuzz), and always as
 * frame_fuzz_replay, which runs the checked-in corpus under ctest. */
#include <stddef.h>
#include <stdint.h>

#include "wire/frame.h"

/* The fuzzer's limit is small so that TOO_BIG and skipping are reached. */
#define FUZZ_MAX_FRAME 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* unpack_header unpacks a frame's header as the receiver of its kind would. */
static void unpack_header(const silk__frame *f)
{
    if (f->kind == SILK__FRAME_REQUEST) {
        Silk__Rpc__RequestHeader *h =
            silk__rpc__request_header__unpack(NULL, f->header_len, f->header);
        if (h != NULL)
            silk__rpc__request_header__free_unpacked(h, NULL);
    } else if (f->kind == SILK__FRAME_RESPONSE) {
        Silk__Rpc__ResponseHeader *h =
            silk__rpc__response_header__unpack(NULL, f->header_len, f->header);
        if (h != NULL)
            silk__rpc__response_header__free_unpacked(h, NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        silk__frame f;
        long rc = silk__frame_decode(data + off, size - off, FUZZ_MAX_FRAME, &f);
        if (rc > 0) {
            if ((size_t)rc > size - off || f.header + f.header_len > data + size ||
                f.payload + f.payload_len > data + size)
                __builtin_trap(); /* the decoder promised bytes it does not have */
            unpack_header(&f);
            off += (size_t)rc;
        } else if (rc == SILK__FRAME_TOO_BIG) {
            if (f.size <= FUZZ_MAX_FRAME)
                __builtin_trap();
            if (f.size > size - off)
                break;
            off += f.size;
        } else {
            break; /* more needed, or a protocol error that closes the connection */
        }
    }
    return 0;
}
