#!/usr/bin/env bash
# Checks the container files without a container engine (none runs on the CI machines):
# the Dockerfile's COPY sources exist and are in the build context, the runtime stage stays
# lean (no package installs, no migrations, non-root, a HEALTHCHECK and the data VOLUME), the
# dependency recipe covers every workspace member, and the container configs pass
# `gpt-api check`. Usage: scripts/docker/lint.sh [GPT_API_BINARY]   (scripts/test.sh runs it)
set -euo pipefail

cd "$(dirname "$0")/../.."
binary=${1:-target/release/gpt-api}
problems=0
problem() { echo "scripts/docker/lint.sh: $*" >&2; problems=$((problems + 1)); }

# --- COPY sources: present, and not left out of the context by .dockerignore --------------------
ignored() {
    local path=$1 pattern
    while read -r pattern; do
        [[ -z $pattern || $pattern == \#* ]] && continue
        pattern=${pattern%/}
        # shellcheck disable=SC2053 # the pattern is a glob on purpose
        [[ $path == $pattern || $path == $pattern/* || $path == */$pattern || $path == ${pattern#\*\*/} ]] && return 0
    done <.dockerignore
    return 1
}
while read -r _ args; do
    read -ra parts <<<"$args"
    sources=()
    for part in "${parts[@]:0:${#parts[@]}-1}"; do
        [[ $part == --* ]] || sources+=("$part")
    done
    [[ $args == *--from=* ]] && continue
    for source in "${sources[@]}"; do
        [[ -e $source ]] || problem "Dockerfile copies missing $source"
        [[ $source == . ]] || ! ignored "$source" || problem "Dockerfile copies $source, which .dockerignore leaves out"
    done
done < <(grep -E '^COPY ' Dockerfile)

# --- the runtime stage (from the last FROM on) ---------------------------------------------------
runtime=$(awk '/^FROM /{stage=""} {stage=stage $0 "\n"} END{printf "%s", stage}' Dockerfile)
grep -qE '^RUN ' <<<"$runtime" && problem "the runtime stage runs commands (multi-arch builds would need emulation)"
grep -qiE 'apt-get|curl|ca-certificates' <<<"$runtime" && problem "the runtime stage installs packages"
grep -q 'migrations' <<<"$runtime" && problem "the runtime stage copies migrations (the binary embeds them)"
grep -qE '^USER [1-9]' <<<"$runtime" || problem "the runtime stage must run as a non-root numeric USER"
grep -q '^HEALTHCHECK ' <<<"$runtime" || problem "the runtime stage has no HEALTHCHECK"
grep -q '^VOLUME \["/var/lib/gpt-api"\]' <<<"$runtime" || problem "the runtime stage has no /var/lib/gpt-api VOLUME"
grep -rq 'sqlx::migrate!' src || problem "no sqlx::migrate! in src: the image would need migrations/"

# --- the dependency recipe lists the same workspace as the sources -------------------------------
sh -n scripts/docker/build.sh || problem "scripts/docker/build.sh does not parse"
recipe=$(mktemp -d)
trap 'rm -rf "$recipe"' EXIT
members() { cargo metadata --no-deps --offline --format-version 1 --manifest-path "$1" | grep -o '"name":"[^"]*","version"' | sort; }
if scripts/docker/build.sh recipe "$recipe/r" >/dev/null; then
    [[ $(members Cargo.toml) == $(members "$recipe/r/Cargo.toml") ]] \
        || problem "the recipe's workspace differs from the sources' (scripts/docker/build.sh recipe)"
else
    problem "scripts/docker/build.sh recipe failed"
fi

# --- the container configs -----------------------------------------------------------------------
if [[ -x $binary ]]; then
    for config in scripts/docker/*.toml; do
        OPENAI_API_KEY=sk-lint GPT_API_CLIENT_KEY=lint "$binary" check --config "$config" >/dev/null \
            || problem "$config does not pass gpt-api check"
    done
else
    problem "$binary is missing: build it to check scripts/docker/*.toml"
fi

((problems == 0)) || exit 1
echo "scripts/docker/lint.sh: ok"
