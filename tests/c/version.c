/*
 * The header's version macros agree with the library's run-time answers, and
 * sl_features() agrees with sl_landlock_abi().
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

/* The macros work in the preprocessor too. */
#if !SL_VERSION_CHECK(0, 0, 0)
#error "SL_VERSION_CHECK(0, 0, 0) must hold"
#endif
#if SL_VERSION_NUMBER != SL_VERSION_MAJOR * 1000000 + SL_VERSION_MINOR * 1000 + SL_VERSION_PATCH
#error "SL_VERSION_NUMBER does not follow MAJOR*1000000 + MINOR*1000 + PATCH"
#endif

#define KNOWN_FEATURES                                                                  \
    (SL_FEATURE_LANDLOCK | SL_FEATURE_LANDLOCK_TRUNCATE | SL_FEATURE_LANDLOCK_NET |      \
     SL_FEATURE_LANDLOCK_SCOPE | SL_FEATURE_SECCOMP_NOTIFY | SL_FEATURE_SYNC_WAKEUP)

int main(void)
{
    char expect[64];
    uint32_t f = sl_features();
    int abi = sl_landlock_abi();
    const char *v = sl_version();

    printf("header %s (%u), library %s (%u), features 0x%x, landlock ABI %d\n", SL_VERSION_STRING,
           (unsigned)SL_VERSION_NUMBER, v, (unsigned)sl_version_number(), (unsigned)f, abi);

    CHECK(SL_VERSION_NUMBER == sl_version_number());
    CHECK(v != NULL);
    snprintf(expect, sizeof expect, "%d.%d.%d", SL_VERSION_MAJOR, SL_VERSION_MINOR,
             SL_VERSION_PATCH);
    CHECK(v != NULL && strcmp(v, expect) == 0);
    CHECK(strcmp(SL_VERSION_STRING, expect) == 0);
    CHECK(sl_version() == v); /* static: the same pointer each time */
    CHECK(SL_VERSION_CHECK(SL_VERSION_MAJOR, SL_VERSION_MINOR, SL_VERSION_PATCH));
    CHECK(!SL_VERSION_CHECK(SL_VERSION_MAJOR + 1, 0, 0));
    CHECK(!SL_VERSION_CHECK(SL_VERSION_MAJOR, SL_VERSION_MINOR, SL_VERSION_PATCH + 1));

    /* Distinct single bits. */
    {
        static const uint32_t bits[] = {
            SL_FEATURE_LANDLOCK,       SL_FEATURE_LANDLOCK_TRUNCATE, SL_FEATURE_LANDLOCK_NET,
            SL_FEATURE_LANDLOCK_SCOPE, SL_FEATURE_SECCOMP_NOTIFY,    SL_FEATURE_SYNC_WAKEUP,
        };
        uint32_t sum = 0;
        size_t i;
        for (i = 0; i < sizeof bits / sizeof bits[0]; i++) {
            CHECK(bits[i] != 0 && (bits[i] & (bits[i] - 1)) == 0);
            sum += bits[i];
        }
        CHECK(sum == (uint32_t)KNOWN_FEATURES);
    }
    CHECK((f & ~(uint32_t)KNOWN_FEATURES) == 0);

    /* The Landlock bits follow the ABI. */
    CHECK(abi >= 0);
    CHECK(((f & SL_FEATURE_LANDLOCK) != 0) == (abi >= 1));
    CHECK(((f & SL_FEATURE_LANDLOCK_TRUNCATE) != 0) == (abi >= 3));
    CHECK(((f & SL_FEATURE_LANDLOCK_NET) != 0) == (abi >= 4));
    CHECK(((f & SL_FEATURE_LANDLOCK_SCOPE) != 0) == (abi >= 6));
    if (f & SL_FEATURE_SYNC_WAKEUP) {
        CHECK(f & SL_FEATURE_SECCOMP_NOTIFY);
    }
    /* Cached and stable. */
    CHECK(sl_features() == f);
    CHECK(sl_landlock_abi() == abi);
    /* Queries do not touch the error slot. */
    CHECK(strcmp(sl_last_error_message(), "") == 0);
    return check_done("version");
}
