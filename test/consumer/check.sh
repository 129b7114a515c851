#!/usr/bin/env bash
# Builds test/consumer, a project using goro as a meson subproject, from scratch and runs
# it: the test that goro's meson.build works as a subproject (STYLE.md, habit 16).
#
#   check.sh <consumer source dir> <build dir>
#
# The compiler is whatever the environment says (CXX is inherited, as meson setup reads
# it); the build dir is wiped if it holds an old configuration. Any failure exits
# non-zero: configure, compile, or a wrong result from the program.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 <consumer source dir> <build dir>" >&2
  exit 2
fi
src=$1
build=$2

# meson follows subprojects/goro, a relative symlink to the repository root.
if [[ ! -f "$src/subprojects/goro/meson.build" ]]; then
  echo "check.sh: $src/subprojects/goro does not lead to goro's meson.build" >&2
  exit 1
fi

if [[ -f "$build/meson-private/coredata.dat" ]]; then
  meson setup --wipe "$build" "$src"
else
  rm -rf "$build"
  meson setup "$build" "$src"
fi
meson compile -C "$build"
"$build/goro_consumer"
