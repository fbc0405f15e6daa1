/* redis_fixture.h - a real redis-server for the Redis tests of runtime/tests: started on a
 * free loopback port with no persistence (dying with the test process), and what the tests do
 * with it. Included by one test file each; every definition is static to it.
 *
 * setup/teardown start and kill it (cmocka group fixtures); url is the registry URL of DB 3;
 * raw runs one command on DB 3 and returns its integer reply; open_reg opens the registry. */
#ifndef SILK_TESTS_REDIS_FIXTURE_H
#define SILK_TESTS_REDIS_FIXTURE_H

static int port;
static pid_t redis_pid = -1;
static char url[64];

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* redis_ping tells whether redis-server answers on the port. */
static bool redis_ping(void)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    bool ok = false;
    if (c != NULL && c->err == 0) {
        redisReply *rep = redisCommand(c, "PING");
        ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
        if (rep != NULL)
            freeReplyObject(rep);
    }
    if (c != NULL)
        redisFree(c);
    return ok;
}

/* start_redis starts redis-server on port, dying with this process, and waits (at most 10 s)
 * for it to answer. */
static int start_redis(void)
{
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execlp("redis-server", "redis-server", "--port", port_s, "--bind", "127.0.0.1", "--save",
               "", "--appendonly", "no", "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    redis_pid = pid;
    for (int i = 0; i < 200; i++) {
        if (redis_ping())
            return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            redis_pid = -1;
            return -1;
        }
        sleep_ms(50);
    }
    return -1;
}

static void kill_redis(void)
{
    if (redis_pid <= 0)
        return;
    kill(redis_pid, SIGKILL);
    waitpid(redis_pid, NULL, 0);
    redis_pid = -1;
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_DFL); /* a write to a dead Redis must not kill us: the backend sees to it */
    if ((port = free_port()) < 0)
        return -1;
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/3", port);
    return start_redis();
}

static int teardown(void **state)
{
    (void)state;
    kill_redis();
    return 0;
}

/* raw runs one command on DB 3 and returns its integer reply (-1 for others). */
static long long raw(const char *fmt, const char *a, const char *b)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    assert_true(c != NULL && c->err == 0);
    redisReply *rep = redisCommand(c, "SELECT 3");
    assert_non_null(rep);
    freeReplyObject(rep);
    rep = redisCommand(c, fmt, a, b);
    assert_non_null(rep);
    long long v = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    redisFree(c);
    return v;
}

static silk_registry *open_reg(void)
{
    silk_registry *reg = NULL;
    assert_int_equal(silk_registry_open(&reg, url), SILK_OK);
    return reg;
}

#endif /* SILK_TESTS_REDIS_FIXTURE_H */
