#!/bin/sh
# The Dockerfile's build steps, kept here so that they can be read and run outside a build.
# Runs on the builder's own arch ($BUILDPLATFORM) and cross-compiles for $TARGETARCH.
#
#   build.sh recipe DIR     manifests, Cargo.lock, .cargo and a stub for every target -> DIR
#   build.sh toolchain      the cross linker and Rust std when TARGETARCH is not the builder's
#   build.sh dependencies   cargo build on the recipe: compiles every dependency
#   build.sh release DIR    cargo build on the sources -> DIR/gpt-api, and DIR/data (the volume)
#
# TARGET_CPU: empty (a CPU every host of the arch has: x86-64-v2, or generic armv8-a), one CPU
# (x86-64-v3, tsv110, neoverse-n1, ...), or per arch: amd64=x86-64-v3,arm64=tsv110.
set -eu

builder_arch=$(dpkg --print-architecture)
arch=${TARGETARCH:-$builder_arch}
case "$arch" in
    amd64) triple=x86_64-unknown-linux-gnu gnu=x86-64-linux-gnu portable=x86-64-v2 ;;
    arm64) triple=aarch64-unknown-linux-gnu gnu=aarch64-linux-gnu portable=generic ;;
    *) echo "build.sh: unsupported TARGETARCH '$arch' (amd64 or arm64)" >&2; exit 1 ;;
esac

target_cpu() {
    case "${TARGET_CPU:-}" in
        *=*)
            for pair in $(echo "$TARGET_CPU" | tr ',' ' '); do
                if [ "${pair%%=*}" = "$arch" ]; then echo "${pair#*=}"; return; fi
            done
            echo "$portable"
            ;;
        "") echo "$portable" ;;
        *) echo "$TARGET_CPU" ;;
    esac
}

cargo_build() {
    # RUSTFLAGS replaces .cargo/config.toml's target-cpu (x86-64-v3 / tsv110): the image must
    # run on any host of its arch unless TARGET_CPU says otherwise. With --target, build
    # scripts and proc macros are still built for the builder itself.
    cpu=$(target_cpu)
    echo "build.sh: $triple, target-cpu=$cpu" >&2
    if [ "$arch" != "$builder_arch" ]; then
        upper=$(echo "$triple" | tr 'a-z-' 'A-Z_')
        export "CARGO_TARGET_${upper}_LINKER=$gnu-gcc"
        export "CC_$(echo "$triple" | tr - _)=$gnu-gcc" "AR_$(echo "$triple" | tr - _)=$gnu-ar"
    fi
    RUSTFLAGS="-C target-cpu=$cpu" cargo build --release --locked --target "$triple" -p gpt-api
}

case "${1:-}" in
    recipe)
        out=${2:?recipe DIR}
        mkdir -p "$out"
        cp Cargo.toml Cargo.lock "$out/"
        cp -r .cargo "$out/"
        root=$(pwd)
        metadata=$(cargo metadata --no-deps --offline --format-version 1)
        for manifest in $(echo "$metadata" | grep -o '"manifest_path":"[^"]*"' | cut -d'"' -f4); do
            mkdir -p "$out/$(dirname "${manifest#"$root"/}")"
            cp "$manifest" "$out/${manifest#"$root"/}"
        done
        # One stub fits every kind of target (lib, bin, build script, test).
        for source in $(echo "$metadata" | grep -o '"src_path":"[^"]*"' | cut -d'"' -f4); do
            mkdir -p "$out/$(dirname "${source#"$root"/}")"
            printf '#![allow(warnings)]\nfn main() {}\n' >"$out/${source#"$root"/}"
        done
        ;;
    toolchain)
        if [ "$arch" != "$builder_arch" ]; then
            apt-get update
            apt-get install -y --no-install-recommends "gcc-$gnu" "libc6-dev-$arch-cross"
            rm -rf /var/lib/apt/lists/*
        fi
        rustup target add "$triple"
        ;;
    dependencies)
        cargo_build
        ;;
    release)
        out=${2:?release DIR}
        # The copied sources may be older than the stubs built from the recipe: make cargo
        # see them as changed.
        find . -path ./target -prune -o -type f -exec touch {} +
        cargo_build
        mkdir -p "$out/data"
        cp "target/$triple/release/gpt-api" "$out/gpt-api"
        ;;
    *)
        sed -n '2,11p' "$0" >&2
        exit 2
        ;;
esac
