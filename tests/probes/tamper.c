/* Tries to undo the sandbox's determinism settings; prints each result. */
#include <asm/prctl.h>
#include <errno.h>
#include <stdio.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    errno = 0;
    int tsc = prctl(PR_SET_TSC, PR_TSC_ENABLE, 0, 0, 0);
    printf("PR_SET_TSC(ENABLE) %d errno %d\n", tsc, tsc ? errno : 0);
    errno = 0;
    long cpuid = syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
    printf("ARCH_SET_CPUID(1) %ld errno %d\n", cpuid, cpuid ? errno : 0);
    errno = 0;
    int aslr = personality(0);
    printf("personality(0) %d errno %d\n", aslr < 0 ? -1 : 0, aslr < 0 ? errno : 0);
    printf("persona %#x\n", personality(0xffffffff));
    return 0;
}
