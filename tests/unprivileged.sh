#!/usr/bin/env bash
# Run the sandbox test binaries again as an unprivileged user.
#
# `make test` calls this when it runs as root: a sandbox that only works for root
# proves little. It creates the user `sandlock-test` if missing, copies the test
# executables built by `cargo test` (and libsandlock.so, which they run as the
# supervisor) into a fresh directory that user can read, and runs them there as
# that user with setpriv (uid, gid, no supplementary groups, no capabilities).
#
# The tests find:
#   - the supervisor through SANDLOCK_SUPERVISOR (the copied libsandlock.so,
#     which is also next to the copied executables);
#   - sources (tests/, include/, c-examples/, src/, docs/) through SANDLOCK_SOURCE_DIR, a copy;
#     tests that use env!("CARGO_MANIFEST_DIR") need this checkout to be readable
#     by the user, which is checked below;
#   - HOME and TMPDIR in directories the user owns.
#
# Usage: tests/unprivileged.sh [TEST_BINARY_NAME...]   (default: all but `header`)
# Environment: SANDLOCK_TEST_USER (default sandlock-test), CARGO (default cargo),
# SANDLOCK_TEST_ARGS (passed to every test binary, e.g. "--skip slow_test"),
# SANDLOCK_TEST_TIMEOUT (seconds one test binary may run, default 600).
set -euo pipefail

user=${SANDLOCK_TEST_USER:-sandlock-test}
cargo=${CARGO:-cargo}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [[ $(id -u) -ne 0 ]]; then
    echo "unprivileged.sh: must run as root (it switches to the user $user)" >&2
    exit 2
fi
for tool in setpriv python3; do
    command -v "$tool" >/dev/null || { echo "unprivileged.sh: $tool is required" >&2; exit 2; }
done

if ! id -u "$user" >/dev/null 2>&1; then
    echo "unprivileged.sh: creating the user $user"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$user"
fi
uid=$(id -u "$user")
gid=$(id -g "$user")
as_user() { setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"; }

# The test executables and the cdylib, as cargo reports them (builds if needed).
manifest=$("$cargo" test --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") != "compiler-artifact":
        continue
    if m.get("executable") and m["profile"]["test"]:
        print("test", m["target"]["name"], m["executable"])
    elif "cdylib" in m["target"]["kind"]:
        for f in m["filenames"]:
            if f.endswith(".so"):
                print("lib", m["target"]["name"], f)
')
lib=$(awk '$1 == "lib" && $2 == "sandlock" { print $3 }' <<<"$manifest")
[[ -n $lib && -f $lib ]] || { echo "unprivileged.sh: no libsandlock.so from cargo test --no-run" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sandlock-unprivileged.XXXXXX")
chmod 755 "$work"
mkdir -p "$work/bin" "$work/src" "$work/home" "$work/tmp"
cp "$lib" "$work/bin/libsandlock.so"
cp -r tests include c-examples src docs "$work/src/"
chmod -R a+rX "$work/bin" "$work/src"
chown "$uid:$gid" "$work/home" "$work/tmp"

if ! as_user test -r "$root/tests/c_api.rs"; then
    echo "unprivileged.sh: warning: $root is not readable by $user; tests that read" \
        "sources through CARGO_MANIFEST_DIR will fail (clone under a readable directory)" >&2
fi

selected=("$@")
failed=()
passed=0
while read -r kind name exe; do
    [[ $kind == test ]] || continue
    if [[ ${#selected[@]} -gt 0 ]]; then
        [[ " ${selected[*]} " == *" $name "* ]] || continue
    elif [[ $name == header ]]; then
        continue # a text comparison of the header: nothing to do with privileges
    fi
    cp "$exe" "$work/bin/$name"
    chmod 755 "$work/bin/$name"
    echo "=== $name, as $user (uid $uid)"
    if (cd "$work/src" && timeout --kill-after=10 "${SANDLOCK_TEST_TIMEOUT:-600}" \
        setpriv --reuid="$uid" --regid="$gid" --clear-groups env -i \
        HOME="$work/home" TMPDIR="$work/tmp" PATH=/usr/local/bin:/usr/bin:/bin \
        LANG=C.UTF-8 RUST_BACKTRACE=1 \
        SANDLOCK_SUPERVISOR="$work/bin/libsandlock.so" SANDLOCK_SOURCE_DIR="$work/src" \
        "$work/bin/$name" ${SANDLOCK_TEST_ARGS:-}); then
        passed=$((passed + 1))
    else
        failed+=("$name")
    fi
done <<<"$manifest"

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "unprivileged.sh: FAILED as $user: ${failed[*]} (files kept in $work)" >&2
    exit 1
fi
if [[ $passed -eq 0 ]]; then
    echo "unprivileged.sh: no test binary ran" >&2
    exit 1
fi
rm -rf "$work"
echo "unprivileged.sh: $passed test binaries passed as $user"
