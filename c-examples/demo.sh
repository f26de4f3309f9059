#!/usr/bin/env bash
# The `make demo` walk-through: a confined, deterministic run with sandlock-run.
# Usage: c-examples/demo.sh BUILD_DIR   (BUILD_DIR holds sandlock-run and hello)
# Exits non-zero if what it shows does not hold.
set -euo pipefail

rel=${1:-build}
build=$(cd "$rel" && pwd)
run="$rel/sandlock-run"     # shown relative: run this from the directory above BUILD_DIR
probe='head -c 16 /dev/urandom | od -An -tx1'
pyprobe='import random, uuid; print(random.randrange(10**12), uuid.uuid4())'
failed=0

if [[ -t 1 ]]; then bold=$'\e[1m'; dim=$'\e[2m'; off=$'\e[0m'; else bold=; dim=; off=; fi
step() { printf '\n%s%s%s\n' "$bold" "$*" "$off"; }
show() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; }
verdict() { # verdict OK|FAIL text
    if [[ $1 == OK ]]; then printf '  -> %s\n' "$2"; else printf '  -> UNEXPECTED: %s\n' "$2"; failed=1; fi
}
sandboxed() { "$run" --system "$@"; }

printf '%ssandlock demo%s: %s\n' "$bold" "$off" "$("$run" --version)"

step "1. Natively, /dev/urandom gives different bytes at every run:"
show "sh -c '$probe'   (twice)"
a=$(sh -c "$probe"); b=$(sh -c "$probe")
printf '%s\n%s\n' "$a" "$b"
[[ $a != "$b" ]] && verdict OK "different, as expected" || verdict FAIL "identical"

step "2. Under sandlock-run --seed 42 the sandbox serves a seeded stream: the same bytes every run:"
show "$run --system --seed 42 -- sh -c '$probe'   (twice)"
a=$(sandboxed --seed 42 -- sh -c "$probe"); b=$(sandboxed --seed 42 -- sh -c "$probe")
printf '%s\n%s\n' "$a" "$b"
[[ $a == "$b" ]] && verdict OK "identical" || verdict FAIL "they differ"

step "3. Another seed gives another (equally repeatable) stream:"
show "$run --system --seed 7 -- sh -c '$probe'"
c=$(sandboxed --seed 7 -- sh -c "$probe")
printf '%s\n' "$c"
[[ $c != "$a" ]] && verdict OK "different from seed 42" || verdict FAIL "same as seed 42"

if command -v python3 >/dev/null 2>&1; then
    step "4. Python seeds random and uuid from getrandom(): repeatable too:"
    show "$run --system --seed 42 -- python3 -c '$pyprobe'   (twice)"
    a=$(sandboxed --seed 42 -- python3 -c "$pyprobe"); b=$(sandboxed --seed 42 -- python3 -c "$pyprobe")
    printf '%s\n%s\n' "$a" "$b"
    [[ $a == "$b" ]] && verdict OK "identical" || verdict FAIL "they differ"
fi

step "5. Landlock: the sandbox reads only what the policy allows."
secret="$build/demo-secret.txt"
echo "a file outside the allowed paths" > "$secret"
show "cat $secret"
cat "$secret"
show "$run --system -- cat $secret"
set +e
out=$(sandboxed -- cat "$secret" 2>&1); rc=$?
set -e
printf '%s\n' "$out"
[[ $rc -ne 0 && $out == *"Permission denied"* ]] && verdict OK "refused (exit status $rc)" ||
    verdict FAIL "the sandbox could read it"
show "$run --system --read $build -- cat $secret"
out=$(sandboxed --read "$build" -- cat "$secret")
printf '%s\n' "$out"
verdict OK "allowed once the directory is given with --read"
rm -f "$secret"

step "6. A copy-on-write workdir: the program changes a directory; --dry-run lists the changes and applies none."
work="$build/demo-work"
rm -rf "$work"; mkdir -p "$work"
echo "old" > "$work/notes.txt"; echo "tmp" > "$work/scratch.txt"
script='echo new >> notes.txt; rm scratch.txt; mkdir out; echo built > out/app; cat notes.txt'
show "$run --system --workdir $work --cwd $work --dry-run -- sh -c '$script'"
sandboxed --workdir "$work" --cwd "$work" --dry-run -- sh -c "$script"
show "ls $work; cat $work/notes.txt"
ls "$work"; cat "$work/notes.txt"
[[ -e $work/scratch.txt && ! -e $work/out && $(cat "$work/notes.txt") == old ]] &&
    verdict OK "the directory is as before" || verdict FAIL "the dry run changed the directory"
show "$run --system --workdir $work --cwd $work -- sh -c '$script'   (exit 0: committed)"
sandboxed --workdir "$work" --cwd "$work" -- sh -c "$script" >/dev/null
show "ls $work"
ls "$work"
[[ ! -e $work/scratch.txt && $(cat "$work/out/app") == built ]] &&
    verdict OK "committed" || verdict FAIL "the changes were not applied"
rm -rf "$work"

step "7. hello.c, the minimal C host (python3 under seed 42, twice):"
show "$rel/hello"
"$rel/hello"
"$rel/hello"

echo
if [[ $failed -ne 0 ]]; then
    echo "demo: something above did not behave as described" >&2
    exit 1
fi
echo "demo: done. Try: $run --help"
