#!/usr/bin/env bash
# Installs the Debian packages shoal needs that are missing, and nothing else.
#
#   tools/setup.sh test    what the build and the test suite need
#   tools/setup.sh bench   the above plus the shoot-out's peers and plotting
#   tools/setup.sh fuzz    the build's packages plus clang and libFuzzer
#
# Idempotent and silent when everything is installed; runs `apt-get update`
# only when it has something to install. Needs root (or sudo) only then.
set -euo pipefail

profile=${1:-test}

pkgs=(
  bazel-bootstrap g++ python3
  libboost-dev libabsl-dev libcereal-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # The shoot-out (//bench:shootout) links its library peers, and
  # `bazel test //...` builds it (its smoke test runs it in --tiny mode):
  # Bazel has no optional dependencies, so their headers and libraries are
  # needed to build at all.
  libzmq3-dev cppzmq-dev libiceoryx-posh-dev libiceoryx-hoofs-dev
  # ... and writes and reads its results as JSON.
  nlohmann-json3-dev
  # examples/: digest_tree hashes with OpenSSL, sqlite_workers uses SQLite.
  libssl-dev libsqlite3-dev
  # tests/consumers/run.sh: shoal installed and used from CMake, pkg-config
  # and a Debian package (dpkg-dev: dpkg-shlibdeps; lintian checks the .deb).
  cmake pkgconf dpkg-dev lintian
  # python/ (`import shoal`): Debian's Python 3.11 headers, pybind11, numpy;
  # its tests run /usr/bin/python3 -m pytest.
  python3-dev pybind11-dev python3-pybind11 python3-numpy python3-pytest
  # mpi/ and its tests (run under mpirun): Open MPI.
  libopenmpi-dev openmpi-bin
)
if [[ $profile == bench || $profile == test ]]; then
  # bench/mpi_bench's peer (mpi4py.futures), run with /usr/bin/python3.
  pkgs+=(python3-mpi4py)
fi
if [[ $profile == bench ]]; then
  # To run every peer and draw the plots: the iceoryx RouDi daemon, gnuplot.
  pkgs+=(iceoryx gnuplot-nox)
fi
if [[ $profile == fuzz || $profile == test ]]; then
  # tools/fuzz.sh: clang with libFuzzer and the sanitizer runtimes.
  pkgs+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "shoal setup: installing ${missing[*]}" >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "shoal setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
