/* io.h - the bytes of a client connection: a plain socket, or TLS over it, behind one table of
 * functions, so that HTTP and WebSocket read and write them the same way. */
#ifndef SILK_GATEWAY_IO_H
#define SILK_GATEWAY_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What a read or a write returns besides a count of bytes (a read returns 0 at EOF). */
#define SILK__GW_IO_AGAIN (-1) /* nothing can move now: wait for what the want flags say */
#define SILK__GW_IO_ERROR (-2) /* the stream failed: close it */

typedef struct silk__gw_io silk__gw_io;

typedef struct silk__gw_io_ops {
    /* read reads at most len bytes into buf: how many (> 0), 0 at EOF, SILK__GW_IO_AGAIN when
     * none can be read now, or SILK__GW_IO_ERROR. */
    ssize_t (*read)(silk__gw_io *io, void *buf, size_t len);
    /* write writes at most len (> 0) bytes of buf: how many (> 0), SILK__GW_IO_AGAIN when the
     * stream takes none now, or SILK__GW_IO_ERROR. After SILK__GW_IO_AGAIN the next write
     * must offer the same bytes again, from anywhere in memory (TLS has framed them). */
    ssize_t (*write)(silk__gw_io *io, const void *buf, size_t len);
    /* pending returns how many bytes the stream holds already read from the socket: they are
     * read without the socket ever becoming readable again. NULL: never any. */
    size_t (*pending)(const silk__gw_io *io);
    /* end ends the stream's own protocol without waiting (TLS: a close_notify when the
     * handshake is done) and frees what it holds; the socket stays open. NULL: nothing. */
    void (*end)(silk__gw_io *io);
} silk__gw_io_ops;

/* silk__gw_io is one connection's stream, embedded in its owner. Only its loop touches it. */
struct silk__gw_io {
    const silk__gw_io_ops *ops;
    struct ssl_st *ssl;          /* TLS: the connection's (tls/tls.c); NULL when plain */
    const char *handshake_error; /* TLS: why the handshake failed (static text), or NULL */
    int fd;
    bool read_wants_write; /* the last read waits for the socket to be writable */
    bool write_wants_read; /* the last write waits for the socket to be readable */
    bool handshaking;      /* TLS: the handshake has not finished */
    bool failed;           /* TLS: a fatal error; no close_notify may follow */
};

/* silk__gw_io_init_plain makes io a plain stream on fd, a connected non-blocking socket. */
void silk__gw_io_init_plain(silk__gw_io *io, int fd);

static inline ssize_t silk__gw_io_read(silk__gw_io *io, void *buf, size_t len)
{
    return io->ops->read(io, buf, len);
}

static inline ssize_t silk__gw_io_write(silk__gw_io *io, const void *buf, size_t len)
{
    return io->ops->write(io, buf, len);
}

static inline size_t silk__gw_io_pending(const silk__gw_io *io)
{
    return io->ops->pending != NULL ? io->ops->pending(io) : 0;
}

/* silk__gw_io_end ends the stream (not the socket); the io is plain on its socket after. */
void silk__gw_io_end(silk__gw_io *io);

#endif /* SILK_GATEWAY_IO_H */
