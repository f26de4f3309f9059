/* The static no-op of the spawn benchmark: no loader, no libc start-up cost. */
int main(void) { return 0; }
