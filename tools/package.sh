#!/usr/bin/env bash
# Builds the Debian package of shoal: shoal_<version>_<arch>.deb, with what
# tools/install.sh installs, under /usr (libraries in /usr/lib/<multiarch>).
#
#   tools/package.sh [--out=DIR] [--no-build]
#
#   --out=DIR    where the .deb goes (default: the current directory)
#   --no-build   package what the last `bazel build -c opt //:install //python:site`
#                made
#
# Offline: dpkg-deb, dpkg-shlibdeps and strip only (packages dpkg-dev and
# binutils). The runtime dependencies come from dpkg-shlibdeps on the
# library, the tool and the Python extension; the -dev packages are those
# whose headers shoal's headers include (Abseil, cereal); the Python module
# needs the python3 it was built for (3.X only) and python3-numpy. Install
# the result with
#   sudo apt-get install ./shoal_<version>_<arch>.deb
# and check it with `lintian shoal_<version>_<arch>.deb`.
#
# DEBFULLNAME and DEBEMAIL set the Maintainer field, as for other Debian
# tools.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

out=$PWD
install_args=()
for arg in "$@"; do
  case $arg in
    --out=*) out=$(realpath -m "${arg#*=}") ;;
    --no-build) install_args+=(--no-build) ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "package.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

version=$(sed -n 's/^SHOAL_VERSION = "\([0-9]*\.[0-9]*\.[0-9]*\)"$/\1/p' version.bzl)
major=${version%%.*}
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
maintainer="${DEBFULLNAME:-shoal maintainers} <${DEBEMAIL:-shoal@example.org}>"
deb=$out/shoal_${version}_${arch}.deb

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
# The MPI part is not in the .deb: it would make every user depend on Open
# MPI (a separate package's job).
tools/install.sh --prefix=/usr --libdir="lib/$multiarch" --destdir="$root" --no-mpi "${install_args[@]}"

lib=$root/usr/lib/$multiarch
doc=$root/usr/share/doc/shoal

# Debian ships stripped objects (debug info belongs in a -dbgsym package).
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
  "$lib/libshoal.so.$version" "$root/usr/bin/shoal"
strip --strip-debug --remove-section=.comment "$lib/libshoal.a"

# The Python package (`import shoal`) for Debian's python3, in its
# dist-packages. The extension gets the interpreter's ABI-tagged name
# (_shoal.cpython-311-<multiarch>.so), as Debian's Python packages do: an
# interpreter of another ABI then does not even try to load it.
pyroot=$root/usr/lib/python3/dist-packages
pyext=$(/usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
pyver=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
pynext=${pyver%.*}.$((${pyver#*.} + 1))
mv "$pyroot/shoal/_shoal.so" "$pyroot/shoal/_shoal$pyext"
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
  "$pyroot/shoal/_shoal$pyext"
gzip -9n "$root/usr/share/man/man1/shoal.1"

install -d "$doc"
install -m 0644 README.md "$doc/README.md"
gzip -9n -c CHANGELOG.md > "$doc/CHANGELOG.md.gz"
# A native package's changelog.gz is in Debian's format; it points to the
# project's own.
date=$(git log -1 --format=%aD 2>/dev/null || date -R)
gzip -9n > "$doc/changelog.gz" <<EOF
shoal ($version) unstable; urgency=medium

  * shoal $version, packaged by tools/package.sh. What changed is in
    /usr/share/doc/shoal/CHANGELOG.md.gz.

 -- $maintainer  $date
EOF
chmod 0644 "$doc"/*.gz
cat > "$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: shoal
Comment: Built from the shoal source tree by tools/package.sh.

Files: *
Copyright: 2026 The shoal Authors
License: shoal-unlicensed
 The shoal Authors have not published shoal under a license yet. Until they
 do, no right to copy, modify or distribute it is granted beyond what the
 law allows without one.
EOF
chmod 0644 "$doc/copyright"

# --- control files ------------------------------------------------------------
install -d "$root/DEBIAN"
# Runtime dependencies of the ELF files, as Debian computes them.
install -d "$work/src/debian"
printf 'Source: shoal\n\nPackage: shoal\nArchitecture: any\n' > "$work/src/debian/control"
shlibs=$(cd "$work/src" &&
         dpkg-shlibdeps -O -e"$lib/libshoal.so.$version" -e"$root/usr/bin/shoal" \
           -e"$pyroot/shoal/_shoal$pyext" 2>/dev/null |
         sed -n 's/^shlibs:Depends=//p')
[[ -n $shlibs ]] || { echo "package.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
# Compiling against the headers: Abseil's and cereal's headers (Abseil's
# libraries too, for the calls inlined from shoal's headers); linking
# libshoal.a: the -dev packages of the system libraries it needs (libcrypto).
depends="$shlibs, libabsl-dev, libcereal-dev, libssl-dev"
# The Python extension is built against this Python's headers and uses
# numpy's C API at run time (zero-copy arrays): what dh_numpy3 would add,
# from the versions file python3-numpy ships.
numpy_abi=$(sed -n 's/^abi //p' /usr/share/numpy3/versions 2>/dev/null || true)
numpy_min=$(sed -n 's/^api-min-version //p' /usr/share/numpy3/versions 2>/dev/null || true)
[[ -n $numpy_abi && -n $numpy_min ]] ||
  { echo "package.sh: /usr/share/numpy3/versions not found (install python3-numpy)" >&2; exit 1; }
depends="$depends, python3 (>= $pyver), python3 (<< $pynext)"
depends="$depends, python3-numpy (>= $numpy_min), python3-numpy-abi$numpy_abi"

# Other packages linking libshoal.so.$major depend on this version or later.
echo "libshoal $major shoal (>= $version)" > "$root/DEBIAN/shlibs"
echo "activate-noawait ldconfig" > "$root/DEBIAN/triggers"
# Python writes shoal/__pycache__/ on the first import by root; removing the
# package removes it too (only a prerm: a postinst calling py3compile would
# have to run inside the target root, which `dpkg --root` into an empty
# root, as the consumer test does, cannot).
cat > "$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
rm -rf /usr/lib/python3/dist-packages/shoal/__pycache__
EOF
installed_size=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<EOF
Package: shoal
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $depends
Suggests: cmake, pkgconf
Section: libdevel
Priority: optional
Description: process-shared queues, channels and process pools for C++20
 shoal brings Python's multiprocessing and concurrent.futures to C++ over
 shared memory: process-shared locks, semaphores, conditions and barriers
 that survive a holder's death, pipes, queues, shared values and arrays,
 zero-copy channels of blocks, and process pools with futures.
 .
 This package holds the shared and static libraries, the headers
 (<shoal/shoal.h>), the CMake package (find_package(shoal), target
 shoal::shoal), the pkg-config file (shoal), the shoal tool, which lists
 and cleans up named shared-memory regions, and the Python 3 module
 (import shoal: the same queues, channels and locks from Python, numpy
 blocks zero-copy, shared with C++ processes).
EOF
(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN"/*
chmod 0755 "$root/DEBIAN/prerm"

install -d "$out"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
