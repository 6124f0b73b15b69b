#!/usr/bin/env bash
# vendor/ holds the published crates plus the patches in vendor/patches/,
# and nothing else. This script makes each vendored crate that way:
#
#   vendor/sync.sh           rebuild vendor/CRATE from the published crate and its patches
#   vendor/sync.sh --check   fail unless vendor/CRATE is exactly that (run by `make test`)
#
# The published crates come through cargo (a throwaway project that depends
# on them), so only the registry cargo already uses is asked. From each, what
# a path dependency does not build is dropped (examples, benches, the
# packaging files), then every `vendor/patches/CRATE/*.patch` is applied in
# order with `git apply`.
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)

# Crate and version, one a line; vendor/patches/CRATE holds its patches.
CRATES="pingora-core 0.9.1
pingora-http 0.9.1
pingora-proxy 0.9.1"
# What is dropped from a published crate before its patches apply.
DROPPED=".cargo_vcs_info.json Cargo.toml.orig Cargo.lock examples benches"

check=false
[ "${1:-}" = "--check" ] && check=true

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Fetch every published crate with cargo.
mkdir -p "$work/fetch"
{
    printf '[package]\nname = "vendor-sync"\nversion = "0.0.0"\nedition = "2021"\n[lib]\npath = "lib.rs"\n[dependencies]\n'
    while read -r name version; do
        printf '%s = { version = "=%s", default-features = false }\n' "$name" "$version"
    done <<<"$CRATES"
} >"$work/fetch/Cargo.toml"
touch "$work/fetch/lib.rs"
cargo fetch -q --manifest-path "$work/fetch/Cargo.toml"
cache="${CARGO_HOME:-$HOME/.cargo}/registry/cache"

status=0
while read -r name version; do
    archive=$(find "$cache" -name "$name-$version.crate" | head -n 1)
    if [ -z "$archive" ]; then
        echo "vendor: cargo fetched no $name $version" >&2
        exit 1
    fi
    tar -xzf "$archive" -C "$work"
    built="$work/$name-$version"
    for dropped in $DROPPED; do
        rm -rf "${built:?}/$dropped"
    done
    for patch in patches/"$name"/*.patch; do
        [ -e "$patch" ] || continue
        (cd "$built" && git apply -p1 "$here/$patch") || {
            echo "vendor: $patch does not apply to $name $version" >&2
            exit 1
        }
    done
    if $check; then
        if ! diff -r "$built" "$name" >"$work/diff"; then
            echo "vendor: vendor/$name is not $name $version plus vendor/patches/$name:" >&2
            head -n 40 "$work/diff" >&2
            echo "(run vendor/sync.sh to rebuild it, or add the change as a patch)" >&2
            status=1
        else
            echo "vendor/$name is $name $version plus $(ls patches/"$name" | wc -l) patches"
        fi
    else
        rm -rf "$name"
        cp -r "$built" "$name"
        echo "vendor/$name rebuilt: $name $version plus $(ls patches/"$name" | wc -l) patches"
    fi
done <<<"$CRATES"
exit $status
