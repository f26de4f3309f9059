/* Calls clock_gettime and getrandom through the vDSO before anything else,
 * the way a static binary, Go or a new libc does, then prints what it got and
 * the AT_RANDOM bytes. Built with -static by tests/determinism.rs. */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void *vdso_sym(const char *name) {
    uintptr_t base = getauxval(AT_SYSINFO_EHDR);
    if (!base)
        return NULL;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(base + eh->e_shoff);
    uintptr_t load = UINTPTR_MAX;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < load)
            load = ph[i].p_vaddr;
    for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM)
            continue;
        const Elf64_Sym *sym = (const Elf64_Sym *)(base + sh[i].sh_offset);
        const char *str = (const char *)(base + sh[sh[i].sh_link].sh_offset);
        for (size_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Sym); k++)
            if (sym[k].st_shndx && strcmp(str + sym[k].st_name, name) == 0)
                return (void *)(base + sym[k].st_value - load);
    }
    return NULL;
}

struct vgetrandom_opaque_params {
    uint32_t size_of_opaque_state, mmap_prot, mmap_flags, reserved[13];
};

int main(void) {
    int (*vclock)(clockid_t, struct timespec *) =
        (int (*)(clockid_t, struct timespec *))vdso_sym("__vdso_clock_gettime");
    ssize_t (*vrandom)(void *, size_t, unsigned, void *, size_t) =
        (ssize_t(*)(void *, size_t, unsigned, void *, size_t))vdso_sym("__vdso_getrandom");
    struct timespec ts = {0, 0}, mono = {0, 0};
    long rc = vclock ? vclock(CLOCK_REALTIME, &ts) : -1;
    if (vclock)
        vclock(CLOCK_MONOTONIC, &mono);
    unsigned char buf[16] = {0};
    const char *how = "syscall";
    if (vrandom) {
        struct vgetrandom_opaque_params p;
        memset(&p, 0xee, sizeof p);
        if (vrandom(NULL, 0, 0, &p, ~0UL) == 0) {
            void *state = mmap(NULL, 4096, p.mmap_prot, p.mmap_flags, -1, 0);
            if (state != MAP_FAILED && vrandom(buf, sizeof buf, 0, state, p.size_of_opaque_state) == sizeof buf)
                how = "vdso";
        }
    }
    if (strcmp(how, "vdso") != 0)
        syscall(SYS_getrandom, buf, sizeof buf, 0);
    printf("vdso clock_gettime rc=%ld realtime=%lld.%09ld monotonic=%lld.%09ld\n", rc,
           (long long)ts.tv_sec, ts.tv_nsec, (long long)mono.tv_sec, mono.tv_nsec);
    printf("getrandom via %s:", how);
    for (int i = 0; i < 16; i++)
        printf(" %02x", buf[i]);
    const unsigned char *at = (const unsigned char *)getauxval(AT_RANDOM);
    printf("\nAT_RANDOM:");
    for (int i = 0; i < 16; i++)
        printf(" %02x", at[i]);
    printf("\n");
    return 0;
}
