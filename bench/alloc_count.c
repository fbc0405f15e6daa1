/* alloc_count.c - libbench-alloc-count.so: counts a process's heap allocations, for account.sh.
 *
 * Preloaded (LD_PRELOAD) with $BENCH_ALLOC_DIR set, it counts every call of malloc, calloc,
 * realloc, posix_memalign, aligned_alloc, memalign and valloc (each one allocation, whatever
 * its size) and the bytes asked for, in a file $BENCH_ALLOC_DIR/<pid> of two native u64s
 * (allocations, bytes) mapped shared. Anyone can read the counts while the process runs and
 * after it exits: account.sh reads them before and after a run. The allocations themselves
 * are glibc's (its __libc_* entry points): the counter changes nothing but a locked add. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t k, size_t n);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t align, size_t n);
void *__libc_valloc(size_t n);

typedef struct counts {
    _Atomic uint64_t allocs;
    _Atomic uint64_t bytes;
} counts;

static counts before_main; /* what comes before the file is mapped, and without one */
static counts *c = &before_main;

__attribute__((constructor)) static void alloc_count_open(void)
{
    const char *dir = getenv("BENCH_ALLOC_DIR");
    char path[4096];
    if (dir == NULL || snprintf(path, sizeof path, "%s/%d", dir, (int)getpid()) >= (int)sizeof path)
        return;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    void *m = MAP_FAILED;
    if (ftruncate(fd, sizeof(counts)) == 0)
        m = mmap(NULL, sizeof(counts), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return;
    counts *file = m;
    atomic_store(&file->allocs, atomic_load(&before_main.allocs));
    atomic_store(&file->bytes, atomic_load(&before_main.bytes));
    c = file;
}

static void count(size_t n)
{
    atomic_fetch_add_explicit(&c->allocs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->bytes, n, memory_order_relaxed);
}

void *malloc(size_t n)
{
    count(n);
    return __libc_malloc(n);
}

void *calloc(size_t k, size_t n)
{
    count(k * n);
    return __libc_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
    count(n);
    return __libc_realloc(p, n);
}

void *memalign(size_t align, size_t n)
{
    count(n);
    return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    count(n);
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    count(n);
    void *p = __libc_memalign(align, n);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

void *valloc(size_t n)
{
    count(n);
    return __libc_valloc(n);
}
