"""What a Bazel workspace needs to build shoal offline: one macro.

In the WORKSPACE of a project that uses shoal (README, "Use shoal in your
project"):

    local_repository(              # or http_archive / git_repository
        name = "shoal",            # the name must be "shoal"
        path = "/path/to/shoal",
    )

    load("@shoal//:deps.bzl", "shoal_dependencies")

    shoal_dependencies()

and in its .bazelrc: `build --cxxopt=-std=c++20 --host_cxxopt=-std=c++20`.
Then depend on "@shoal//:shoal" (or a layer: "@shoal//:shoal_ipc", ...),
and on "@shoal//:shoal_mpi" for executors and pools over MPI ranks.

Why: Bazel 4.2.3 wants to download rules_cc, rules_java and
remote_coverage_tools even for a pure C++ build. shoal_dependencies()
declares each of them as a small offline stub kept in shoal's tree
(third_party/bazel_stubs/: rules_cc's and rules_java's defs.bzl re-export the
native rules; remote_coverage_tools has the two empty targets Bazel looks
for), unless the workspace already declares a repository of that name. The
system libraries (Abseil, cereal, Boost, pthread) come from Debian's -dev
packages under /usr, as for shoal itself (third_party/BUILD.bazel).
It also declares @openmpi, the system's Open MPI (mpicc --showme), which only
"@shoal//:shoal_mpi" uses: Bazel looks for mpicc only when that target is
built, so a workspace without MPI is not affected.
"""

load("//third_party/mpi:mpi_configure.bzl", "mpi_configure")

# The files of each stub, relative to third_party/bazel_stubs/<name>/.
_STUB_FILES = {
    "remote_coverage_tools": ["WORKSPACE", "BUILD"],
    "rules_cc": ["WORKSPACE", "BUILD", "cc/BUILD", "cc/defs.bzl"],
    "rules_java": ["WORKSPACE", "BUILD", "java/BUILD", "java/defs.bzl"],
}

def _stub_repository_impl(rctx):
    # A file of shoal's own tree locates the stubs wherever shoal is.
    third_party = rctx.path(Label("//third_party:BUILD.bazel")).dirname
    root = "%s/bazel_stubs/%s" % (third_party, rctx.attr.stub)
    for f in _STUB_FILES[rctx.attr.stub]:
        rctx.symlink(rctx.path("%s/%s" % (root, f)), f)

_stub_repository = repository_rule(
    implementation = _stub_repository_impl,
    attrs = {"stub": attr.string(mandatory = True, values = _STUB_FILES.keys())},
    local = True,
    doc = "One of shoal's offline stubs of a repository Bazel 4.2.3 would download.",
)

def shoal_dependencies():
    """Declares the repositories shoal needs that the workspace lacks."""
    for name in sorted(_STUB_FILES.keys()):
        if not native.existing_rule(name):
            _stub_repository(name = name, stub = name)
    if not native.existing_rule("openmpi"):
        mpi_configure(name = "openmpi")
