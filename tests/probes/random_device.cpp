// std::random_device: libstdc++ reads RDSEED/RDRAND directly when cpuid
// advertises them, else getrandom or /dev/urandom.
#include <iostream>
#include <random>

int main() {
    std::random_device rd;
    std::cout << rd() << ' ' << rd() << ' ' << rd.entropy() << '\n';
    return 0;
}
