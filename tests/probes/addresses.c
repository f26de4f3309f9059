/* Prints where the stack, the heap (small and large blocks), an anonymous
 * mapping and a shared library ended up: ASLR makes them differ per run. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(void) {
    int local = 0;
    void *small = malloc(16), *large = malloc(1 << 20);
    void *anon = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("stack %p\nheap %p\nlarge %p\nmmap %p\nlibc %p\n", (void *)&local, small, large, anon,
           (void *)&printf);
    free(small);
    free(large);
    return 0;
}
