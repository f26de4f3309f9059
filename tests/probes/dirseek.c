/* dirseek DIR: telldir/seekdir/rewinddir over a listing; prints what it read. */
#include <dirent.h>
#include <stdio.h>

int main(int argc, char **argv) {
    DIR *d = opendir(argc > 1 ? argv[1] : ".");
    if (!d)
        return 1;
    struct dirent *e;
    for (int i = 0; i < 5 && (e = readdir(d)); i++)
        printf("%s ", e->d_name);
    long mark = telldir(d);
    printf("| ");
    for (int i = 0; i < 3 && (e = readdir(d)); i++)
        printf("%s ", e->d_name);
    seekdir(d, mark);
    printf("| ");
    for (int i = 0; i < 3 && (e = readdir(d)); i++)
        printf("%s ", e->d_name);
    rewinddir(d);
    e = readdir(d);
    printf("| %s\n", e ? e->d_name : "?");
    closedir(d);
    return 0;
}
