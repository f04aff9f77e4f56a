/*
 * A slow disk for one `paddock` process (tests only: crates/node/tests/support/slow_disk.rs).
 *
 * Loaded with LD_PRELOAD, it stands in for glibc's fsync and fdatasync (what Rust's
 * File::sync_all and File::sync_data call, and so Paddock's log, snapshots and epoch files).
 * Before each call it reads a number of milliseconds from the file named by
 * PADDOCK_TEST_SYNC_DELAY_FILE (missing, empty or not a number: 0), sleeps that long, then
 * makes the real system call (and creates "<that file>.slept", once it has slept). The test changes the file while the server runs, so the disk
 * turns slow and fast again under load; a kill -9 during the sleep is a crash with the data
 * written but not yet synced.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long delay_ms(void) {
    const char *path = getenv("PADDOCK_TEST_SYNC_DELAY_FILE");
    if (path == NULL) {
        return 0;
    }
    int saved = errno;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errno = saved;
        return 0;
    }
    char buf[32];
    long n = (long)syscall(SYS_read, fd, buf, sizeof buf - 1);
    syscall(SYS_close, fd);
    errno = saved;
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    long ms = strtol(buf, NULL, 10);
    return ms > 0 ? ms : 0;
}

/* Creates "<delay file>.slept": the test's proof that a sync was delayed. */
static void mark_slept(void) {
    const char *path = getenv("PADDOCK_TEST_SYNC_DELAY_FILE");
    char mark[4096];
    size_t len = strlen(path);
    if (len + sizeof ".slept" > sizeof mark) {
        return;
    }
    memcpy(mark, path, len);
    memcpy(mark + len, ".slept", sizeof ".slept");
    int fd = (int)syscall(SYS_openat, AT_FDCWD, mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        syscall(SYS_close, fd);
    }
}

static void slow_down(void) {
    long ms = delay_ms();
    if (ms == 0) {
        return;
    }
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    int saved = errno;
    mark_slept();
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
    errno = saved;
}

int fsync(int fd) {
    slow_down();
    return (int)syscall(SYS_fsync, fd);
}

int fdatasync(int fd) {
    slow_down();
    return (int)syscall(SYS_fdatasync, fd);
}
