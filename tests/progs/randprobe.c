/* Probes of the seeded random sources, named by argv[1]. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void hex(const unsigned char *b, size_t n) {
    for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    unsigned char buf[64];
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "getrandom")) {
        long r = syscall(SYS_getrandom, buf, 32, 0);
        printf("r=%ld ", r);
        hex(buf, 32);
        return 0;
    }
    if (!strcmp(argv[1], "errors")) {
        long r1 = syscall(SYS_getrandom, buf, 16, 0x80);
        int e1 = errno;
        long r2 = syscall(SYS_getrandom, (void *)8, 16, 0);
        int e2 = errno;
        long r3 = syscall(SYS_getrandom, buf, 16, 2 | 4);
        int e3 = errno;
        long r4 = syscall(SYS_getrandom, buf, 0, 0);
        printf("badflags=%ld/%d badptr=%ld/%d random+insecure=%ld/%d zero=%ld\n", r1, e1, r2, e2, r3, e3, r4);
        return 0;
    }
    if (!strcmp(argv[1], "device")) {
        /* The device as libsodium sees it: a character device, full reads. */
        int fd = open(argc > 2 ? argv[2] : "/dev/urandom", O_RDONLY);
        if (fd < 0) { printf("open errno=%d\n", errno); return 1; }
        struct stat st;
        fstat(fd, &st);
        ssize_t n = read(fd, buf, sizeof buf);
        printf("chr=%d rdev=%u:%u n=%zd ", S_ISCHR(st.st_mode), major(st.st_rdev), minor(st.st_rdev), n);
        hex(buf, 16);
        int d = dup(fd);
        ssize_t n2 = read(d, buf, 16);
        printf("dup n=%zd ", n2);
        hex(buf, 16);
        return 0;
    }
    if (!strcmp(argv[1], "exhaust")) {
        /* More opens than reserved slots: the extra ones must fail, never fall back
         * to the real device. */
        int ok = 0, fail = 0, err = 0;
        for (int i = 0; i < 40; i++) {
            int fd = open("/dev/urandom", O_RDONLY);
            if (fd >= 0) ok++;
            else { fail++; err = errno; }
        }
        printf("ok=%d fail=%d errno=%d\n", ok, fail, err);
        return 0;
    }
    return 2;
}
