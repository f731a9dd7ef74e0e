#!/usr/bin/env bash
# The consumer stage of tools/test.sh: shoal used from outside its workspace,
# the way users take it.
#
#   tests/consumers/run.sh
#
#   1. tools/install.sh --prefix=<temporary dir>: one -c opt Bazel build that
#      every later step reuses; checks the installed tree (only include/shoal/,
#      every public header installed and in <shoal/shoal.h>, the version);
#   2. every installed public header compiles alone, and the first mistakes
#      users make (a Queue<T> of a T that cannot be encoded or that holds a
#      pointer, ...) fail with one static_assert that says what to add;
#   3. pkg-config: `pkg-config --validate shoal`, then
#      g++ -std=c++20 app.cc $(pkg-config --cflags --libs shoal); the MPI
#      part: bazel/mpi_app.cc with `pkg-config shoal-mpi`, run by
#      `mpirun -np 2`;
#   4. CMake: find_package(shoal 0.2 CONFIG REQUIRED) + shoal::shoal (and
#      shoal::shoal_static) in tests/consumers/cmake/, and
#      find_package(... COMPONENTS mpi) + shoal::mpi, run by `mpirun -np 2`;
#   5. the Debian package (tools/package.sh): its contents, lintian, dpkg
#      installing it into a throwaway root, its CMake files and its Python
#      module (import shoal, a block moved) from there;
#   6. Bazel: tests/consumers/bazel/, a second workspace using the README's
#      snippet (it builds shoal from source in its own output base), and
#      the optional MPI part, @shoal//:shoal_mpi, run under mpirun.
# Each program is app.cc (a Pool, a Queue and a FloatChannel), run with the
# fork and the spawn start methods and compared with expected.txt; the MPI
# programs are bazel/mpi_app.cc, compared with bazel/mpi_expected.txt.
#
# Needs cmake, pkg-config, lintian, dpkg-dev and Open MPI (tools/setup.sh
# test).
# SHOAL_CONSUMER_OUTPUT_BASE keeps the Bazel consumer's output base between
# runs (default: a temporary one, removed at the end).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
here=$repo/tests/consumers

work=$(mktemp -d "${TMPDIR:-/tmp}/shoal-consumers.XXXXXX")
consumer_base=${SHOAL_CONSUMER_OUTPUT_BASE:-$work/bazel-consumer}
# --batch: no Bazel server is left behind for the second workspace.
consumer_bazel=(bazel --batch --output_base="$consumer_base")
cleanup() {
  chmod -R u+w "$work" 2>/dev/null || true  # Bazel's output base is read-only
  rm -rf "$work"
}
trap cleanup EXIT

stage_start=$SECONDS
step_start=$SECONDS
step() {
  echo "==> consumers: $* (at $((SECONDS - stage_start)) s)" >&2
}
fail() {
  echo "consumers: FAIL: $*" >&2
  exit 1
}

version=$(sed -n 's/^SHOAL_VERSION = "\([0-9.]*\)"$/\1/p' version.bzl)
IFS=. read -r major minor patch <<<"$version"

# check_app NAME BINARY: runs it with each start method against expected.txt.
check_app() {
  local name=$1 bin=$2 method out
  for method in fork spawn; do
    out=$(timeout 120 "$bin" "$method" 2>&1) || fail "$name $method exited with $?: $out"
    diff -u <(sed "1s/.*/shoal $version ($version) ok/" "$here/expected.txt") \
      <(echo "$out") >&2 || fail "$name $method: unexpected output (above)"
  done
  echo "    $name: fork and spawn ok" >&2
}

# check_mpi_app NAME NP BINARY: runs it under mpirun (bounded) against
# bazel/mpi_expected.txt (written for 3 ranks).
check_mpi_app() {
  local name=$1 np=$2 bin=$3
  "$repo/tests/mpi/mpirun_test.sh" --np="$np" --timeout=120 --stdout="$work/$name.out" \
    -- "$bin" >"$work/$name.log" 2>&1 ||
    { cat "$work/$name.log" "$work/$name.out" >&2; fail "$name under mpirun -np $np"; }
  diff -u <(sed "s/^mpi: 3 ranks$/mpi: $np ranks/" "$here/bazel/mpi_expected.txt") \
    "$work/$name.out" >&2 || fail "$name: unexpected output (above)"
  echo "    $name: mpirun -np $np ok" >&2
}

# --- 1. install ---------------------------------------------------------------
step "tools/install.sh --prefix=$work/prefix"
prefix=$work/prefix
tools/install.sh --prefix="$prefix" >&2
inc=$prefix/include
[[ $(ls "$inc") == shoal ]] || fail "include/ holds more than shoal/: $(ls "$inc")"
for layer in base sync ipc pool; do
  [[ -d $inc/shoal/$layer ]] || fail "include/shoal/$layer is missing"
done
# Every public header of the source tree is installed and in the umbrella
# (but forwarding headers kept for one release, which say "moved to").
for h in $(cd "$repo" && ls base/*.h sync/*.h ipc/*.h pool/*.h); do
  [[ -f $inc/shoal/$h ]] || fail "shoal/$h is not installed (add its target to //:shoal_<layer>)"
  grep -q "^// $(basename "$h") moved to <shoal/" "$repo/$h" && continue
  grep -q "^#include \"shoal/$h\"" "$inc/shoal/shoal.h" ||
    fail "shoal/$h is not included by shoal.h"
done
grep -q "^#define SHOAL_VERSION_STRING \"$version\"$" "$inc/shoal/version.h" ||
  fail "version.h does not say $version"
grep -q "^#define SHOAL_VERSION_MINOR $minor$" "$inc/shoal/version.h" ||
  fail "version.h: SHOAL_VERSION_MINOR is not $minor"
[[ $("$prefix/bin/shoal" --version) == "shoal $version" ]] || fail "shoal --version"
readelf -d "$prefix/lib/libshoal.so.$version" | grep "SONAME.*\[libshoal.so.$major\]" >/dev/null ||
  fail "libshoal.so.$version has no soname libshoal.so.$major"
[[ $(readlink "$prefix/lib/libshoal.so.$major") == "libshoal.so.$version" ]] || fail "libshoal.so.$major link"
# The library exports the library: a symbol of each layer.
syms=$(nm -DC --defined-only "$prefix/lib/libshoal.so.$version")
for s in 'shoal::Lock::make_consistent' 'shoal::internal::QueueCore::Put' 'shoal::Region::Create' 'shoal::Process::start'; do
  grep -q "$s" <<<"$syms" || fail "libshoal.so does not export $s"
done
# The MPI part (tools/setup.sh test installs Open MPI): its headers, and a
# library holding mpi/ only (libshoal's code stays in libshoal.so: one copy
# of its state per process).
[[ -f $inc/shoal/mpi/executor.h && -f $inc/shoal/mpi/init.h && -f $inc/shoal/mpi/pool.h ]] ||
  fail "include/shoal/mpi is missing (is Open MPI installed? tools/setup.sh test)"
readelf -d "$prefix/lib/libshoal_mpi.so.$version" > "$work/mpi.dyn"
grep -q "SONAME.*\[libshoal_mpi.so.$major\]" "$work/mpi.dyn" || fail "libshoal_mpi.so soname"
grep -q "NEEDED.*\[libshoal.so.$major\]" "$work/mpi.dyn" || fail "libshoal_mpi.so does not need libshoal.so"
msyms=$(nm -DC --defined-only "$prefix/lib/libshoal_mpi.so.$version" | grep ' T ')
grep -q 'shoal::mpi::Executor::' <<<"$msyms" || fail "libshoal_mpi.so does not export shoal::mpi::Executor"
! grep -v 'shoal::mpi::' <<<"$msyms" | grep -q ' T shoal::' ||
  fail "libshoal_mpi.so copies libshoal's code: $(grep -v 'shoal::mpi::' <<<"$msyms" | grep ' T shoal::' | head -3)"
nm -C "$prefix/lib/libshoal.a" > "$work/archive.nm" 2>/dev/null
grep -q ' T shoal::Process::start' "$work/archive.nm" || fail "libshoal.a lacks shoal::Process::start"
# The Python package, for Debian's interpreter: it imports and moves a block.
pydir=$prefix/lib/python$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')/dist-packages
[[ $(cd / && PYTHONPATH=$pydir /usr/bin/python3 -c '
import numpy, shoal
ch = shoal.FloatChannel(4); ch.send(numpy.arange(4.0))
print(shoal.__file__.startswith("'"$pydir"'/shoal/"), shoal.__version__, ch.recv(timeout=5).sum())') \
   == "True $version 6.0" ]] || fail "the installed Python package ($pydir/shoal) does not work"

# --- 2. headers compile alone -------------------------------------------------
step "every public header compiles alone"
(cd "$inc" && find shoal -name '*.h' -not -path '*/internal/*' | sort) > "$work/headers"
xargs -P "$(nproc)" -I{} sh -c '
  printf "#include <%s>\n" "$1" |
    g++ -std=c++20 -Wall -Wextra -Wno-unused-parameter -Werror -fsyntax-only \
        -I"$2" -x c++ - -o /dev/null 2>"$3/$(echo "$1" | tr / _).err" ||
    { echo "$1 does not compile alone:"; head -20 "$3/$(echo "$1" | tr / _).err"; exit 255; }
' _ {} "$inc" "$work" < "$work/headers" >&2 || fail "a header does not compile alone"
echo "    $(wc -l < "$work/headers") headers" >&2

step "compile-time errors say what to add (tests/consumers/compile_errors/)"
"$here/compile_errors.sh" "$inc" >&2 || fail "compile-time errors"

# --- 3. pkg-config ------------------------------------------------------------
step "pkg-config"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
pkg-config --validate shoal || fail "pkg-config --validate shoal"
[[ $(pkg-config --modversion shoal) == "$version" ]] || fail "pkg-config --modversion"
pkg-config --atleast-version="$major.$minor" shoal || fail "pkg-config --atleast-version"
mkdir -p "$work/pkgconfig"
# The README's one-liner, in two steps so the object serves the static
# link below too.
# shellcheck disable=SC2046  # word splitting of pkg-config's flags is wanted
g++ -std=c++20 -O1 -c -o "$work/pkgconfig/app.o" "$here/app.cc" $(pkg-config --cflags shoal) ||
  fail "pkg-config consumer does not compile"
# shellcheck disable=SC2046
g++ -o "$work/pkgconfig/app" "$work/pkgconfig/app.o" $(pkg-config --libs shoal) \
  -Wl,-rpath,"$(pkg-config --variable=libdir shoal)" || fail "pkg-config consumer does not link"
check_app pkg-config "$work/pkgconfig/app"
# Every object of libshoal.a linked in: Libs.private must name every system
# library any part of shoal needs (a plain static link only pulls the parts
# app.cc uses).
# shellcheck disable=SC2046
g++ -o "$work/pkgconfig/app_whole" "$work/pkgconfig/app.o" \
  -Wl,--whole-archive "$prefix/lib/libshoal.a" -Wl,--no-whole-archive \
  $(pkg-config --static --libs shoal | sed 's/-lshoal\( \|$\)/ /') ||
  fail "libshoal.a with every object does not link with pkg-config --static's flags"
check_app pkg-config-static "$work/pkgconfig/app_whole"
pkg-config --validate shoal-mpi || fail "pkg-config --validate shoal-mpi"
# shellcheck disable=SC2046
g++ -std=c++20 -O1 -o "$work/pkgconfig/app_mpi" "$here/bazel/mpi_app.cc" \
  $(pkg-config --cflags --libs shoal-mpi) -Wl,-rpath,"$(pkg-config --variable=libdir shoal-mpi)" ||
  fail "pkg-config shoal-mpi consumer does not build"
check_mpi_app pkg-config-mpi 2 "$work/pkgconfig/app_mpi"
unset PKG_CONFIG_PATH

# --- 4. CMake -----------------------------------------------------------------
step "CMake (find_package(shoal 0.2 CONFIG REQUIRED))"
cmake -S "$here/cmake" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$work/cmake.log" 2>&1 ||
  { cat "$work/cmake.log" >&2; fail "CMake consumer does not configure"; }
cmake --build "$work/cmake" -j "$(nproc)" >>"$work/cmake.log" 2>&1 ||
  { cat "$work/cmake.log" >&2; fail "CMake consumer does not build"; }
check_app cmake "$work/cmake/app"
check_app cmake-static "$work/cmake/app_static"
check_mpi_app cmake-mpi 2 "$work/cmake/app_mpi"
! readelf -d "$work/cmake/app_static" | grep 'NEEDED.*libshoal' >/dev/null ||
  fail "app_static links libshoal.so"
# find_package's version rules: 0.x accepts the same minor version only.
cmake_check() {  # cmake_check PREFIX WANTED [COMPONENTS] -> prints found/not found
  cmake -S "$here/cmake_check" -B "$work/cmake-check" -DCMAKE_PREFIX_PATH="$1" -Ushoal_DIR \
    -DSHOAL_WANTED="$2" -DSHOAL_COMPONENTS="${3:-}" > "$work/cmake-check.log" 2>&1 ||
    { cat "$work/cmake-check.log" >&2; fail "cmake_check $2"; }
  sed -n "s/^-- shoal $2: //p" "$work/cmake-check.log"
}
accepts() {  # accepts WANTED: whether find_package(shoal WANTED) should take $version
  local wmajor wminor
  IFS=. read -r wmajor wminor _ <<<"$1"
  [[ $wmajor == "$major" ]] || return 1
  if ((major == 0)); then ((wminor == minor)); else ((wminor <= minor)); fi
}
wanted_list=("$major.$minor" "$version" "$major.$((minor + 1))" "$((major + 1)).0")
((minor == 0)) || wanted_list+=("$major.$((minor - 1))")
for wanted in "${wanted_list[@]}"; do
  got=$(cmake_check "$prefix" "$wanted")
  if accepts "$wanted"; then
    [[ $got == "found $version in $prefix/lib/cmake/shoal" ]] || fail "find_package(shoal $wanted): $got"
  else
    [[ $got == "not found" ]] || fail "find_package(shoal $wanted) accepted $version: $got"
  fi
done
got=$(cmake_check "$prefix" "$major.$minor" mpi)
[[ $got == "found $version in $prefix/lib/cmake/shoal" ]] || fail "find_package(shoal COMPONENTS mpi): $got"
rm -rf "$work/cmake-check"

# --- 5. the Debian package ----------------------------------------------------
step "tools/package.sh, dpkg-deb --contents, lintian, dpkg --root"
deb=$(tools/package.sh --no-build --out="$work/deb")
[[ $(basename "$deb") == "shoal_${version}_$(dpkg --print-architecture).deb" ]] || fail "package name $deb"
dpkg-deb --contents "$deb" > "$work/deb.contents"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
for f in usr/bin/shoal usr/include/shoal/shoal.h usr/include/shoal/ipc/queue.h \
         "usr/lib/$multiarch/libshoal.so.$version" "usr/lib/$multiarch/libshoal.a" \
         "usr/lib/$multiarch/cmake/shoal/shoalConfig.cmake" \
         "usr/lib/$multiarch/pkgconfig/shoal.pc" usr/share/doc/shoal/copyright \
         usr/share/man/man1/shoal.1.gz; do
  grep -q " \./$f\( \|$\)" "$work/deb.contents" || fail "the package lacks /$f"
done
! grep -Eq ' \./usr/include/(base|sync|ipc|pool)/' "$work/deb.contents" ||
  fail "the package installs bare include directories"
depends=$(dpkg-deb --field "$deb" Depends)
for p in libabsl20220623 libc6 libstdc++6 libssl3 libabsl-dev libcereal-dev libssl-dev; do
  grep -q "\(^\|, \)$p\( \|,\|$\)" <<<"$depends" || fail "Depends lacks $p: $depends"
done
# The Python module: for Debian's python3 only (its ABI), in its dist-packages.
pyver=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
pyext=$(/usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
grep -q "python3 (>= $pyver), python3 (<< ${pyver%.*}.$((${pyver#*.} + 1)))" <<<"$depends" ||
  fail "Depends does not pin python3 to $pyver: $depends"
grep -q "python3-numpy (>= [^)]*), python3-numpy-abi[0-9]" <<<"$depends" ||
  fail "Depends lacks python3-numpy and its ABI: $depends"
for f in __init__.py __init__.pyi py.typed "_shoal$pyext"; do
  grep -q " \./usr/lib/python3/dist-packages/shoal/$f\( \|$\)" "$work/deb.contents" ||
    fail "the package lacks /usr/lib/python3/dist-packages/shoal/$f"
done
# One package for everything is what users asked for; these two tags say
# Debian would split it (libshoal0 + libshoal-dev).
lintian --fail-on error,warning \
  --suppress-tags package-name-doesnt-match-sonames,link-to-shared-library-in-wrong-package \
  "$deb" >&2 || fail "lintian"
droot=$work/root
mkdir -p "$droot/var/lib/dpkg/info" "$droot/var/lib/dpkg/updates"
touch "$droot/var/lib/dpkg/status"
# Its dependencies are not in the empty root: they are checked above.
dpkg --root="$droot" --force-depends --force-not-root --log=/dev/null -i "$deb" >&2 ||
  fail "dpkg -i into a throwaway root"
dpkg --root="$droot" -s shoal | grep -q '^Status: install ok installed' || fail "dpkg -s shoal"
[[ $("$droot/usr/bin/shoal" --version) == "shoal $version" ]] || fail "installed shoal --version"
# What `/usr/bin/python3 -c "import shoal"` finds after a real install (the
# throwaway root's dist-packages stands for /usr/lib/python3/dist-packages).
[[ $(readelf -S "$droot/usr/lib/python3/dist-packages/shoal/_shoal$pyext") != *.symtab* ]] ||
  fail "the package's Python extension is not stripped"
[[ $(cd / && PYTHONPATH=$droot/usr/lib/python3/dist-packages /usr/bin/python3 -c '
import numpy, shoal
ch = shoal.FloatChannel(4); ch.send(numpy.arange(4.0))
print(shoal._shoal.__file__.startswith("'"$droot"'/"), shoal.__version__, ch.recv(timeout=5).sum())') \
   == "True $version 6.0" ]] || fail "the package's Python module does not work"
PKG_CONFIG_PATH=$droot/usr/lib/$multiarch/pkgconfig pkg-config --validate shoal ||
  fail "the package's shoal.pc"
grep -q "^libdir=\${exec_prefix}/lib/$multiarch$" "$droot/usr/lib/$multiarch/pkgconfig/shoal.pc" ||
  fail "the package's shoal.pc: libdir"
got=$(cmake_check "$droot/usr" "$major.$minor")
[[ $got == "found $version in $droot/usr/lib/$multiarch/cmake/shoal" ]] ||
  fail "the package's CMake files: $got"
# The package has no MPI part: asking for it is refused, not half-found.
got=$(cmake_check "$droot/usr" "$major.$minor" mpi)
[[ $got == "not found" ]] || fail "the package's CMake files accept COMPONENTS mpi: $got"
! dpkg-deb --contents "$deb" | grep -q 'shoal_mpi\|shoal-mpi\|include/shoal/mpi' ||
  fail "the package carries the MPI part"

# --- 6. Bazel -----------------------------------------------------------------
step "Bazel (a second workspace: tests/consumers/bazel)"
(cd "$here/bazel" &&
  # processwrapper-sandbox: Debian's linux-sandbox prints debug lines for
  # every action (shoal's own .bazelrc does the same).
  "${consumer_bazel[@]}" build --symlink_prefix=/ \
    --spawn_strategy=processwrapper-sandbox,local //:app //:app_mpi >&2 &&
  bazel_bin=$("${consumer_bazel[@]}" info bazel-bin 2>/dev/null) &&
  cp "$bazel_bin/app" "$work/bazel-app" &&
  cp "$bazel_bin/app_mpi" "$work/bazel-app-mpi") ||
  fail "Bazel consumer does not build"
check_app bazel "$work/bazel-app"
# The optional MPI part (@shoal//:shoal_mpi): rank 0 and 2 worker ranks.
"$repo/tests/mpi/mpirun_test.sh" --np=3 --timeout=120 --stdout="$work/mpi.out" \
  -- "$work/bazel-app-mpi" >"$work/mpirun.log" 2>&1 ||
  { cat "$work/mpirun.log" "$work/mpi.out" >&2; fail "the Bazel MPI consumer under mpirun"; }
diff -u "$here/bazel/mpi_expected.txt" "$work/mpi.out" >&2 ||
  fail "bazel-mpi: unexpected output (above)"
echo "    bazel-mpi: mpirun -np 3 ok" >&2

echo "consumers: all passed in $((SECONDS - stage_start)) s" >&2
