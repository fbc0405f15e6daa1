/* registry_load_client.c - registry-load-client SERVICE: calls probe.Probe/Echo by service
 * name in a loop until SIGTERM, on one channel (so one registry handle and its last known
 * view), printing "ok=N failed=M" every 200 ms and a last line "final ok=N failed=M
 * last_error=..." when stopped. tests/integration/registry_redis_test.py runs it while it
 * restarts Redis. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <silk/silk.h>

#include "probe.silk.h"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* call_once makes one Echo call and checks its answer; false with why filled on failure. */
static bool call_once(silk_channel *ch, uint64_t seq, char *why, size_t cap)
{
    silk_ctx *ctx = silk_ctx_new();
    if (ctx == NULL) {
        snprintf(why, cap, "out of memory");
        return false;
    }
    silk_ctx_set_timeout(ctx, 3000);
    Probe__EchoRequest req = PROBE__ECHO_REQUEST__INIT;
    Probe__EchoReply *resp = NULL;
    req.seq = seq;
    req.text = "load";
    silk_status st = probe__probe__call_echo(ch, ctx, &req, &resp);
    bool ok = st == SILK_OK && resp->seq == seq && strcmp(resp->text, "load") == 0;
    if (!ok)
        snprintf(why, cap, "%s: %s", silk_status_str(st), silk_ctx_message(ctx));
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    silk_ctx_free(ctx);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: registry-load-client SERVICE\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    silk_channel *ch = NULL;
    silk_status st = silk_channel_open(&ch, argv[1]);
    if (st != SILK_OK) {
        fprintf(stderr, "registry-load-client: cannot open %s: %s\n", argv[1], silk_status_str(st));
        return 1;
    }
    unsigned long ok = 0, failed = 0;
    char last_error[512] = "none";
    int64_t report_at = now_ms();
    for (uint64_t seq = 1; !stop; seq++) {
        if (call_once(ch, seq, last_error, sizeof last_error))
            ok++;
        else
            failed++;
        if (now_ms() >= report_at) {
            printf("ok=%lu failed=%lu\n", ok, failed);
            fflush(stdout);
            report_at = now_ms() + 200;
        }
        struct timespec pause = {0, 5000000};
        nanosleep(&pause, NULL);
    }
    printf("final ok=%lu failed=%lu last_error=\"%s\"\n", ok, failed, last_error);
    silk_channel_close(ch);
    return 0;
}
