#!/bin/bash
# install.sh - `make install` and `make uninstall` into a temporary prefix,
# and what a user does with the result: a program outside the tree built with
# `pkg-config --cflags --libs interp` against the installed libinterp.a, the
# man pages read with `man -l` (skipped when man-db is missing:
# scripts/deps.sh man), and the bash completion script loaded in a
# non-interactive bash completing `interp ts<TAB>`.
#
# usage: tests/install.sh   (from make test; MAKE is the make to run)
# Prints one line per failure and, last, "N passed, N failed, N skipped".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MAKE=${MAKE:-make}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
P=$WORK/prefix
passed=0 failed=0 skipped=0
ok() { passed=$((passed + 1)); }
fail() { echo "FAIL install: $*"; failed=$((failed + 1)); }
skip() { echo "skip install: $*"; skipped=$((skipped + 1)); }
# check NAME COMMAND...: passes when the command succeeds
check() {
    local what=$1
    shift
    if "$@" >"$WORK/out" 2>&1; then ok; else fail "$what: $(head -c 400 "$WORK/out")"; fi
}

commands=$(./interp --help | awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }')

# ---- make install
if ! $MAKE --no-print-directory install PREFIX="$P" >"$WORK/install.log" 2>&1; then
    fail "make install PREFIX=$P: $(tail -5 "$WORK/install.log")"
    echo "$passed passed, $failed failed, $skipped skipped"
    exit 1
fi
ok
want="bin/interp lib/libinterp.a lib/pkgconfig/interp.pc share/bash-completion/completions/interp
share/man/man1/interp.1 include/interp/core/array.h include/interp/analysis/pca.h
include/interp/report/report.h include/interp/core/namelist.h"
for c in $commands; do want="$want share/man/man1/interp-$c.1"; done
missing=""
for f in $want; do [ -f "$P/$f" ] || missing="$missing $f"; done
[ -z "$missing" ] && ok || fail "not installed:$missing"
check "the installed binary runs" "$P/bin/interp" --version

# ---- pkg-config and a program linking libinterp.a
export PKG_CONFIG_PATH=$P/lib/pkgconfig
if ! command -v pkg-config >/dev/null; then
    skip "pkg-config not installed"
else
    check "pkg-config --modversion interp" test "$(pkg-config --modversion interp)" = \
        "$(./interp --version | sed 's/^interp //')"
    check "pkg-config names libinterp and the prefix" \
        bash -c 'pkg-config --libs interp | grep -q -- "-L'"$P"'/lib -linterp" && pkg-config --cflags interp | grep -q -- "-I'"$P"'/include"'
    # built from a copy outside the tree: only the installed headers are found
    mkdir -p "$WORK/prog"
    cp tests/install_prog.c "$WORK/prog/"
    if (cd "$WORK/prog" && ${CC:-cc} -o prog install_prog.c $(pkg-config --cflags --libs interp)) \
        >"$WORK/cc.log" 2>&1; then
        ok
        check "the program computes sklearn's PCA through the installed library" \
            "$WORK/prog/prog" fixtures/analysis/emb2000x50.npy fixtures/analysis/pca10_ratio.npy
    else
        fail "cc \$(pkg-config --cflags --libs interp): $(head -c 600 "$WORK/cc.log")"
    fi
fi

# ---- man pages
check "every page formats without a groff warning" \
    bash -c 'for f in "'"$P"'"/share/man/man1/interp*.1; do out=$(groff -man -ww -z "$f" 2>&1); [ -z "$out" ] || { echo "$f: $out"; exit 1; }; done'
if ! command -v man >/dev/null; then
    skip "man -l: man-db is not installed (scripts/deps.sh man)"
else
    check "man -l interp-tsne.1: NAME from the command table, the usage as SYNOPSIS" \
        bash -c 'MANWIDTH=80 man -l "'"$P"'/share/man/man1/interp-tsne.1" 2>&1 | grep -q "interp-tsne - t-SNE of an embedding" && MANWIDTH=80 man -l "'"$P"'/share/man/man1/interp-tsne.1" | grep -q "interp tsne EMB"'
    check "man -l interp.1 lists the commands' pages" \
        bash -c 'MANWIDTH=80 man -l "'"$P"'/share/man/man1/interp.1" | grep -q "interp-tsne(1)"'
    check "man -M PREFIX/share/man interp-embed finds the page (as git's pages are found)" \
        bash -c 'MANWIDTH=80 man -M "'"$P"'/share/man" interp-embed | grep -q -- "--on-error stop|skip"'
fi

# ---- bash completion
C=$P/share/bash-completion/completions/interp
complete_words() { # WORDS... -> the completions of the last word, space-separated
    bash -c 'source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _interp; echo "${COMPREPLY[*]}"' "$C" "$@"
}
check "the script registers _interp for interp" \
    bash -c 'source "'"$C"'" && test "$(complete -p interp)" = "complete -F _interp interp"'
check "interp ts<TAB> -> tsne" test "$(complete_words interp ts)" = tsne
check "interp help emb<TAB> -> embed" test "$(complete_words interp help emb)" = embed
check "interp tsne --perp<TAB> -> --perplexity (from the option table)" \
    test "$(complete_words interp tsne --perp)" = --perplexity
check "interp embed --on-e<TAB> -> --on-error" test "$(complete_words interp embed m --on-e)" = --on-error
check "interp embed m --on-error <TAB> -> stop skip" \
    test "$(complete_words interp embed m --on-error '')" = "stop skip"
check "interp gradcam --colormap vi<TAB> -> viridis" \
    test "$(complete_words interp gradcam --colormap vi)" = viridis
check "interp tsne --method=f<TAB> -> fft" test "$(complete_words interp tsne --method=f)" = fft
check "interp pca fixtures/analysis/emb2000<TAB> -> the file" \
    test "$(complete_words interp pca fixtures/analysis/emb2000)" = fixtures/analysis/emb2000x50.npy

# ---- make uninstall: nothing of interp's is left
if $MAKE --no-print-directory uninstall PREFIX="$P" >"$WORK/uninstall.log" 2>&1; then
    ok
    left=$(find "$P" -not -type d)
    [ -z "$left" ] && ok || fail "left after make uninstall: $left"
    [ ! -e "$P/include/interp" ] && ok || fail "include/interp left after make uninstall"
    # what stays: the standard folders, empty, as GNU packages leave them
    left=$(cd "$P" && find . -mindepth 1 -type d | sort | tr '\n' ' ')
    [ "$left" = "./bin ./include ./lib ./lib/pkgconfig ./share ./share/bash-completion ./share/bash-completion/completions ./share/man ./share/man/man1 " ] &&
        ok || fail "folders left after make uninstall: $left"
else
    fail "make uninstall: $(tail -5 "$WORK/uninstall.log")"
fi

# ---- DESTDIR, as a package build uses it
D=$WORK/dest
if $MAKE --no-print-directory install DESTDIR="$D" PREFIX=/usr >"$WORK/d.log" 2>&1 &&
    grep -qx 'prefix=/usr' "$D/usr/lib/pkgconfig/interp.pc" &&
    $MAKE --no-print-directory uninstall DESTDIR="$D" PREFIX=/usr >>"$WORK/d.log" 2>&1 &&
    [ -z "$(find "$D" -not -type d)" ]; then
    ok
else
    fail "install/uninstall with DESTDIR: $(tail -5 "$WORK/d.log")"
fi

echo "install: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
