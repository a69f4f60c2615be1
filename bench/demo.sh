#!/usr/bin/env bash
# `make demo`: what hutch is for, in one command. Backs up a sample tree into
# an encrypted local repository, lists it, restores it, compares, and shows
# that a second backup of the same data adds almost nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
HUTCH="$PWD/.venv/bin/hutch"
DEMO="$PWD/demo"
rm -rf "$DEMO"
mkdir -p "$DEMO/sample"
export HUTCH_PASSPHRASE="demo passphrase"
export HUTCH_CACHE_DIR="$DEMO/cache" HUTCH_CONFIG_DIR="$DEMO/config"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "A sample tree: hutch's own source, the Python docs, a symlink, a hardlink"
cp -a src tests "$DEMO/sample/"
cp -a /usr/share/doc "$DEMO/sample/doc" 2>/dev/null || true
ln -s src/hutch "$DEMO/sample/link-to-hutch"
ln "$DEMO/sample/src/hutch/__init__.py" "$DEMO/sample/hardlink.py"
du -sh "$DEMO/sample"

step "hutch init -e repokey $DEMO/repo"
"$HUTCH" init -e repokey "$DEMO/repo"

step "hutch create --stats $DEMO/repo::first sample"
(cd "$DEMO" && "$HUTCH" create --stats "$DEMO/repo::first" sample)

step "hutch create --stats $DEMO/repo::second sample   (nothing changed: files cache + dedup)"
(cd "$DEMO" && "$HUTCH" create --stats "$DEMO/repo::second" sample)

step "hutch list $DEMO/repo"
"$HUTCH" list "$DEMO/repo"

step "hutch list $DEMO/repo::first (first lines)"
"$HUTCH" list "$DEMO/repo::first" > "$DEMO/listing.txt"
head -n 8 "$DEMO/listing.txt"

step "hutch extract into $DEMO/restore, then compare with the original"
mkdir -p "$DEMO/restore"
(cd "$DEMO/restore" && "$HUTCH" extract "$DEMO/repo::first")
diff -r --no-dereference "$DEMO/sample" "$DEMO/restore/sample"
echo "restored tree is identical to the original"

step "hutch repo-info $DEMO/repo"
"$HUTCH" repo-info "$DEMO/repo"
printf '\nDemo files are in %s (remove with make clean).\n' "$DEMO"
