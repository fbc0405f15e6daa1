/* io.c - the plain stream of a client connection: recv() and send() on its socket. */
#include <errno.h>
#include <sys/socket.h>

#include "conn/io.h"

static ssize_t plain_read(silk__gw_io *io, void *buf, size_t len)
{
    ssize_t n;
    do {
        n = recv(io->fd, buf, len, 0);
    } while (n < 0 && errno == EINTR);
    if (n >= 0)
        return n;
    return errno == EAGAIN || errno == EWOULDBLOCK ? SILK__GW_IO_AGAIN : SILK__GW_IO_ERROR;
}

static ssize_t plain_write(silk__gw_io *io, const void *buf, size_t len)
{
    ssize_t n;
    do {
        n = send(io->fd, buf, len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n >= 0)
        return n;
    return errno == EAGAIN || errno == EWOULDBLOCK ? SILK__GW_IO_AGAIN : SILK__GW_IO_ERROR;
}

static const silk__gw_io_ops plain_ops = {
    .read = plain_read,
    .write = plain_write,
};

void silk__gw_io_init_plain(silk__gw_io *io, int fd)
{
    *io = (silk__gw_io){.ops = &plain_ops, .fd = fd};
}

void silk__gw_io_end(silk__gw_io *io)
{
    if (io->ops->end != NULL)
        io->ops->end(io);
    io->ops = &plain_ops;
}
