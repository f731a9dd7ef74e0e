#!/usr/bin/env bash
# Installs shoal for other projects: the library, its headers, the CMake and
# pkg-config files and the `shoal` tool.
#
#   tools/install.sh [--prefix=DIR] [--libdir=DIR] [--destdir=DIR] [--no-build]
#                    [--no-python] [--no-mpi]
#
#   --prefix=DIR   where it goes (default /usr/local)
#   --libdir=DIR   library directory, relative to the prefix (default lib;
#                  tools/package.sh uses lib/x86_64-linux-gnu)
#   --destdir=DIR  stage everything under DIR instead of / (for packaging;
#                  the files still name --prefix)
#   --no-build     install what the last `bazel build -c opt //:install` made
#   --no-python    leave out the Python package (`import shoal`)
#   --no-mpi       leave out the MPI part even when Open MPI is installed
#
# What it installs, under the prefix:
#   include/shoal/...                the headers: #include <shoal/shoal.h>,
#                                    <shoal/ipc/queue.h>, ... (only shoal/ is
#                                    added to the include path, never bare
#                                    base/, sync/, ipc/ or pool/)
#   <libdir>/libshoal.so.X.Y.Z       the shared library, soname libshoal.so.X,
#            libshoal.so.X, .so      and its two links
#   <libdir>/libshoal.a              the static archive (position-independent)
#   <libdir>/cmake/shoal/            shoalConfig.cmake, shoalConfigVersion.cmake:
#                                    find_package(shoal 0.2 CONFIG) gives
#                                    shoal::shoal (and shoal::shoal_static)
#   <libdir>/pkgconfig/shoal.pc      pkg-config --cflags --libs shoal
#   bin/shoal                        shoal ls | gc | --version
#   share/man/man1/shoal.1           its manual page
#   lib/python3/dist-packages/shoal  the Python package (`import shoal`) for
#                                    Debian's /usr/bin/python3 when the prefix
#                                    is /usr; lib/python3.X/dist-packages/shoal
#                                    otherwise (on sys.path for /usr/local;
#                                    other prefixes: add it to PYTHONPATH)
#   and, when Open MPI is installed (mpicc on PATH: libopenmpi-dev), the
#   optional MPI part (executors and pools over MPI ranks):
#   include/shoal/mpi/...            <shoal/mpi/init.h>, executor.h, pool.h
#   <libdir>/libshoal_mpi.so.X.Y.Z   linked against libshoal.so and libmpi
#            libshoal_mpi.so.X, .so  (shared only: no static archive)
#   <libdir>/pkgconfig/shoal-mpi.pc  pkg-config --cflags --libs shoal-mpi
#   shoalConfig.cmake's component    find_package(shoal 0.2 CONFIG
#                                    COMPONENTS mpi) gives shoal::mpi
#
# Builds with Bazel in -c opt (one build; SHOAL_BAZEL_STARTUP adds startup
# flags such as an --output_base). Needs the packages of `tools/setup.sh test`
# to build, and libabsl-dev and libcereal-dev to compile against the headers.
#
# Adding a part (the Python module from python/, libshoal_mpi from mpi/): add
# its Bazel target to `targets` below and its install lines to install_parts()
# -- install_shared_lib does the versioned file and its links, write_pc and
# the CMake functions take a component's name and libraries. See the examples
# in install_parts().
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
libdir=lib
destdir=
build=1
python=1
mpi=1
for arg in "$@"; do
  case $arg in
    --prefix=*) prefix=${arg#*=} ;;
    --libdir=*) libdir=${arg#*=} ;;
    --destdir=*) destdir=${arg#*=} ;;
    --no-build) build=0 ;;
    --no-python) python=0 ;;
    --no-mpi) mpi=0 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done
[[ $prefix == /* ]] || prefix=$(realpath -m "$prefix")
[[ -z $destdir || $destdir == /* ]] || destdir=$(realpath -m "$destdir")
prefix=${prefix%/}
libdir=${libdir%/}

version=$(sed -n 's/^SHOAL_VERSION = "\([0-9]*\.[0-9]*\.[0-9]*\)"$/\1/p' version.bzl)
[[ -n $version ]] || { echo "install.sh: no SHOAL_VERSION in version.bzl" >&2; exit 1; }
major=${version%%.*}
minor=$(cut -d. -f2 <<<"$version")

bazel=(bazel ${SHOAL_BAZEL_STARTUP:-})
targets=(//:install)
[[ $python == 0 ]] || targets+=(//python:site)
# The MPI part needs Open MPI's compiler wrapper (@openmpi asks it for the
# flags); without it the rest installs as usual.
if [[ $mpi == 1 ]] && ! command -v mpicc >/dev/null; then
  echo "==> Open MPI not found (no mpicc): leaving out shoal-mpi" >&2
  mpi=0
fi
[[ $mpi == 0 ]] || targets+=(//:install_mpi)
if [[ $build == 1 ]]; then
  echo "==> bazel build -c opt ${targets[*]}" >&2
  "${bazel[@]}" build -c opt "${targets[@]}" >&2
fi
# The -c opt output tree (bazel-bin follows whichever build ran last).
bin=$("${bazel[@]}" info -c opt bazel-bin 2>/dev/null)
[[ -f $bin/libshoal.so.$version ]] || {
  echo "install.sh: $bin/libshoal.so.$version is missing; run without --no-build" >&2
  exit 1
}

root=$destdir$prefix
lib=$root/$libdir
echo "==> installing shoal $version into ${destdir:+$destdir (for }$prefix${destdir:+)}" >&2

# A library with its soname link (used at run time) and its .so link (used
# by the linker): install_shared_lib NAME FILE installs FILE as
# lib/NAME.so.$version.
install_shared_lib() {
  local name=$1 file=$2
  install -D -m 0644 "$file" "$lib/$name.so.$version"
  ln -sfn "$name.so.$version" "$lib/$name.so.$major"
  ln -sfn "$name.so.$major" "$lib/$name.so"
}

# Headers: replace the whole tree so a header removed upstream goes too.
rm -rf "$root/include/shoal"
install -d "$root/include"
cp -R "$bin/include/shoal" "$root/include/shoal"
find "$root/include/shoal" -type d -exec chmod 0755 {} +
find "$root/include/shoal" -type f -exec chmod 0644 {} +

install_shared_lib libshoal "$bin/libshoal.so.$version"
install -D -m 0644 "$bin/libshoal.a" "$lib/libshoal.a"
install -D -m 0755 "$bin/tools/shoal" "$root/bin/shoal"
install -d "$root/share/man/man1"
sed "s/@VERSION@/$version/" docs/shoal.1 > "$root/share/man/man1/shoal.1"
chmod 0644 "$root/share/man/man1/shoal.1"

# --- pkg-config ---------------------------------------------------------------
# write_pc NAME DESCRIPTION REQUIRES LIBS LIBS_PRIVATE
write_pc() {
  local libdir_var='${exec_prefix}/'$libdir
  install -d "$lib/pkgconfig"
  cat > "$lib/pkgconfig/$1.pc" <<EOF
prefix=$prefix
exec_prefix=\${prefix}
libdir=$libdir_var
includedir=\${prefix}/include

Name: $1
Description: $2
Version: $version
Requires: $3
Libs: -L\${libdir} $4
Libs.private: $5
Cflags: -I\${includedir}
EOF
  chmod 0644 "$lib/pkgconfig/$1.pc"
}

# The system libraries the library's targets link (//:shoal_link_flags):
# what a static link of libshoal.a needs besides it.
link_flags=$(tr '\n' ' ' < "$bin/libshoal.link_flags")
link_flags=${link_flags% }

# The headers use Abseil (Status, StatusOr, Duration, FunctionRef): Requires.
# cereal is header-only, in /usr/include: nothing to add. libshoal.so records
# its own shared dependencies (libcrypto); Libs.private serves --static.
write_pc shoal \
  "Process-shared locks, queues, channels and process pools for C++20 on Linux" \
  "absl_status absl_statusor absl_time absl_base" \
  "-lshoal" \
  "$link_flags"

# --- CMake --------------------------------------------------------------------
cmakedir=$lib/cmake/shoal
install -d "$cmakedir"
# The prefix relative to the config directory, so an installed tree can move.
up=$(realpath -m --relative-to="$prefix/$libdir/cmake/shoal" "$prefix")

cat > "$cmakedir/shoalConfig.cmake" <<EOF
# shoal $version: find_package(shoal $version CONFIG) defines
#   shoal::shoal         the shared library (libshoal.so.$major), with its include
#                        directory, the C++20 requirement and its dependencies
#   shoal::shoal_static  the static archive (libshoal.a), likewise
#   shoal::mpi           with COMPONENTS mpi: libshoal_mpi.so.$major (below)
#
#   find_package(shoal 0.2 CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE shoal::shoal)
#
# Generated by tools/install.sh.
include(CMakeFindDependencyMacro)
find_dependency(Threads)
# Abseil and cereal: their headers are included by shoal's (Debian:
# libabsl-dev, libcereal-dev).
find_dependency(absl CONFIG)
find_dependency(cereal CONFIG)

get_filename_component(_shoal_prefix "\${CMAKE_CURRENT_LIST_DIR}/$up" ABSOLUTE)
set(_shoal_deps absl::status absl::statusor absl::time absl::base
    absl::function_ref cereal::cereal Threads::Threads)

if(NOT TARGET shoal::shoal)
  add_library(shoal::shoal SHARED IMPORTED)
  set_target_properties(shoal::shoal PROPERTIES
    IMPORTED_LOCATION "\${_shoal_prefix}/$libdir/libshoal.so.$version"
    IMPORTED_SONAME "libshoal.so.$major"
    INTERFACE_INCLUDE_DIRECTORIES "\${_shoal_prefix}/include"
    INTERFACE_COMPILE_FEATURES "cxx_std_20"
    INTERFACE_LINK_LIBRARIES "\${_shoal_deps}")
endif()

if(NOT TARGET shoal::shoal_static AND EXISTS "\${_shoal_prefix}/$libdir/libshoal.a")
  add_library(shoal::shoal_static STATIC IMPORTED)
  set_target_properties(shoal::shoal_static PROPERTIES
    IMPORTED_LOCATION "\${_shoal_prefix}/$libdir/libshoal.a"
    IMPORTED_LINK_INTERFACE_LANGUAGES "CXX"
    INTERFACE_INCLUDE_DIRECTORIES "\${_shoal_prefix}/include"
    INTERFACE_COMPILE_FEATURES "cxx_std_20"
    INTERFACE_LINK_LIBRARIES "\${_shoal_deps};$(sed 's/;/\\;/g' <<<"$link_flags" | tr ' ' ';')")
endif()

# The optional MPI part (installed when Open MPI was there):
#   find_package(shoal 0.2 CONFIG REQUIRED COMPONENTS mpi)
#   target_link_libraries(app PRIVATE shoal::mpi)
# shoal::mpi is libshoal_mpi.so.$major on top of shoal::shoal; its headers
# never include <mpi.h>, and the library records libmpi itself, so a user
# needs no MPI flags (run the program with mpirun).
set(shoal_mpi_FOUND FALSE)
if(EXISTS "\${_shoal_prefix}/$libdir/libshoal_mpi.so.$version")
  set(shoal_mpi_FOUND TRUE)
  if(NOT TARGET shoal::mpi)
    add_library(shoal::mpi SHARED IMPORTED)
    set_target_properties(shoal::mpi PROPERTIES
      IMPORTED_LOCATION "\${_shoal_prefix}/$libdir/libshoal_mpi.so.$version"
      IMPORTED_SONAME "libshoal_mpi.so.$major"
      INTERFACE_LINK_LIBRARIES "shoal::shoal")
  endif()
endif()
foreach(_shoal_c IN LISTS shoal_FIND_COMPONENTS)
  if(NOT shoal_\${_shoal_c}_FOUND AND shoal_FIND_REQUIRED_\${_shoal_c})
    set(shoal_FOUND FALSE)
    if(_shoal_c STREQUAL "mpi")
      set(shoal_NOT_FOUND_MESSAGE "shoal was installed without its MPI part (Open MPI was not found when tools/install.sh ran)")
    else()
      set(shoal_NOT_FOUND_MESSAGE "shoal has no component \${_shoal_c} (components: mpi)")
    endif()
  endif()
endforeach()
unset(_shoal_c)

set(shoal_VERSION_STRING "$version")
unset(_shoal_deps)
unset(_shoal_prefix)
EOF

# Compatible: the same major version and at least the requested one; while
# the major version is 0, the same minor version (0.x may change the
# interface).
cat > "$cmakedir/shoalConfigVersion.cmake" <<EOF
# Generated by tools/install.sh: shoal $version.
set(PACKAGE_VERSION "$version")
if(NOT CMAKE_SIZEOF_VOID_P STREQUAL "8")
  set(PACKAGE_VERSION "\${PACKAGE_VERSION} (64-bit)")
  set(PACKAGE_VERSION_UNSUITABLE TRUE)
  return()
endif()
if(PACKAGE_VERSION VERSION_LESS PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif("$major" STREQUAL "0")
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
  if(PACKAGE_FIND_VERSION_MAJOR STREQUAL "0"
     AND PACKAGE_FIND_VERSION_MINOR STREQUAL "$minor")
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
  endif()
else()
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
  if(PACKAGE_FIND_VERSION_MAJOR STREQUAL "$major")
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
  endif()
endif()
if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
  set(PACKAGE_VERSION_EXACT TRUE)
endif()
EOF
chmod 0644 "$cmakedir"/*.cmake

install_parts() {
  # Parts beyond the core library go here, each with its target added to
  # `targets` above. For example (the names are the parts' to choose):
  #   mpi/ (below): install_shared_lib, write_pc, and the mpi component in
  #   shoalConfig.cmake.
  rm -rf "$root/include/shoal/mpi" "$lib/pkgconfig/shoal-mpi.pc"
  rm -f "$lib"/libshoal_mpi.so*
  if [[ $mpi == 1 ]]; then
    [[ -f $bin/libshoal_mpi.so.$version ]] || {
      echo "install.sh: $bin/libshoal_mpi.so.$version is missing; run without --no-build" >&2
      exit 1
    }
    install_shared_lib libshoal_mpi "$bin/libshoal_mpi.so.$version"
    # Only shoal/mpi from that tree (the rest is libshoal's, installed
    # above); internal/mpi_comm.h is for mpi/'s .cc files (it needs <mpi.h>).
    cp -R "$bin/include_mpi/shoal/mpi" "$root/include/shoal/mpi"
    rm -f "$root/include/shoal/mpi/internal/mpi_comm.h"
    find "$root/include/shoal/mpi" -type d -exec chmod 0755 {} +
    find "$root/include/shoal/mpi" -type f -exec chmod 0644 {} +
    # The headers never include <mpi.h>: no MPI flags for users' compiles;
    # Libs.private names libmpi for a link that wants every library named.
    write_pc shoal-mpi \
      "shoal's executors and pools over MPI ranks (Open MPI)" \
      "shoal" \
      "-lshoal_mpi" \
      "$(mpicc --showme:link)"
  fi
  if [[ $python == 1 ]]; then
    # The package for Debian's interpreter (the one python3-numpy is for).
    local pyver pydir
    pyver=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [[ $prefix == /usr ]]; then
      pydir=$root/lib/python3/dist-packages/shoal
    else
      pydir=$root/lib/python$pyver/dist-packages/shoal
    fi
    [[ -f $bin/python/site/shoal/_shoal.so ]] || {
      echo "install.sh: $bin/python/site/shoal is missing; run without --no-build" >&2
      exit 1
    }
    install -d "$pydir"
    install -m 0644 "$bin"/python/site/shoal/{__init__.py,__init__.pyi,py.typed} "$pydir/"
    install -m 0644 "$bin/python/site/shoal/_shoal.so" "$pydir/"
    echo "==> Python package: $pydir (/usr/bin/python3 -c 'import shoal';" \
      "if that interpreter does not search there: PYTHONPATH=${pydir%/shoal})" >&2
  fi
}
install_parts

echo "==> installed: $root/{include/shoal,$libdir/libshoal.*,$libdir/cmake/shoal,$libdir/pkgconfig/shoal.pc,bin/shoal,share/man/man1/shoal.1}" >&2
[[ $mpi == 0 ]] || echo "==> and the MPI part: $root/{include/shoal/mpi,$libdir/libshoal_mpi.*,$libdir/pkgconfig/shoal-mpi.pc}" >&2
