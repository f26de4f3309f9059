/* Reads the time-stamp counter with rdtsc and rdtscp, and asks cpuid
 * whether RDRAND/RDSEED exist and which APIC id this CPU has. */
#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>
#include <x86intrin.h>

int main(void) {
    unsigned aux = 7;
    uint64_t a = __rdtsc();
    uint64_t b = __rdtsc();
    uint64_t c = __rdtscp(&aux);
    unsigned eax, ebx, ecx, edx, ebx7 = 0, e2, c2, d2;
    __cpuid(1, eax, ebx, ecx, edx);
    __cpuid_count(7, 0, e2, ebx7, c2, d2);
    printf("rdtsc %llu %llu rdtscp %llu aux %u\n", (unsigned long long)a, (unsigned long long)b,
           (unsigned long long)c, aux);
    printf("monotonic %d\n", a < b && b < c);
    printf("rdrand %u rdseed %u apic %u\n", (ecx >> 30) & 1, (ebx7 >> 18) & 1, ebx >> 24);
    return 0;
}
