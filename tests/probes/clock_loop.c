/* clock_loop N: reads CLOCK_MONOTONIC N times through libc (the vDSO), for
 * timing a virtual clock read from outside the sandbox. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 0;
    struct timespec ts = {0, 0};
    long long sum = 0;
    for (long i = 0; i < n; i++) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        sum += ts.tv_nsec & 1;
    }
    printf("%lld\n", sum);
    return 0;
}
