"""Rules that turn shoal's per-concept cc_library targets into installable files.

shoal is built from many small cc_library targets (one per concept). A
`cc_binary(linkshared = True)` that merely depends on them exports nothing: the
linker takes an archive member only when something already linked needs one of
its symbols, and a shared library has no such user. So instead of marking every
library `alwayslink`, these rules collect the object files of the libraries
themselves:

  shoal_objects(name, deps, exclude = [])
                               the PIC objects of every cc_library of this
                               repository in deps' transitive closure (minus
                               those under exclude); give it to a
                               cc_binary(linkshared = True) as srcs.
  shoal_archive(name, deps)    the same objects in one static archive (lib*.a).
  shoal_headers(name, deps)    a directory holding every header of this
                               repository that deps make visible, at the path
                               users include it by (shoal/ipc/queue.h, ...).
  shoal_link_flags(name, deps, out)
                               a text file with the link flags deps carry (the
                               system libraries: -labsl_..., -lcrypto, ...),
                               one per line, for the static archive's users
                               (pkg-config Libs.private, CMake).

Only targets of this repository are collected: system libraries
(//third_party) carry link flags, not objects, and stay dependencies.
"""

load("@bazel_tools//tools/cpp:toolchain_utils.bzl", "find_cpp_toolchain")

def _own_libraries(ctx, deps):
    """LibraryToLink of every cc_library of this repository under deps."""
    repo = ctx.label.workspace_name
    libs = []
    for dep in deps:
        for li in dep[CcInfo].linking_context.linker_inputs.to_list():
            if li.owner.workspace_name != repo:
                continue
            libs.extend(li.libraries)
    return libs

def _objects(libs, pic):
    objs = []
    seen = {}
    for lib in libs:
        files = (lib.pic_objects or lib.objects) if pic else (lib.objects or lib.pic_objects)
        for f in files:
            if f.path not in seen:
                seen[f.path] = True
                objs.append(f)
    return objs

def _shoal_objects_impl(ctx):
    objs = _objects(_own_libraries(ctx, ctx.attr.deps), pic = True)
    if ctx.attr.exclude:
        # A part built on another (libshoal_mpi on libshoal): only its own
        # objects; the rest comes from the other library at run time.
        skip = {f.path: True for f in _objects(_own_libraries(ctx, ctx.attr.exclude), pic = True)}
        objs = [f for f in objs if f.path not in skip]
    if not objs:
        fail("no object files found under %s" % ctx.attr.deps)
    return [DefaultInfo(files = depset(objs))]

shoal_objects = rule(
    implementation = _shoal_objects_impl,
    attrs = {
        "deps": attr.label_list(providers = [CcInfo]),
        "exclude": attr.label_list(providers = [CcInfo]),
    },
    doc = "The PIC object files of this repository's libraries under deps.",
)

def _shoal_archive_impl(ctx):
    objs = _objects(_own_libraries(ctx, ctx.attr.deps), pic = True)
    cc_toolchain = find_cpp_toolchain(ctx)
    out = ctx.actions.declare_file(ctx.attr.out)

    # `ar q` appends: two objects with one base name (ipc/x.o, pool/x.o) both
    # stay members, where `ar r` would keep only the last.
    args = ctx.actions.args()
    args.add(out)
    args.add(cc_toolchain.ar_executable)
    args.add_all(objs)
    ctx.actions.run_shell(
        inputs = objs,
        tools = cc_toolchain.all_files,
        outputs = [out],
        arguments = [args],
        command = 'out=$1; ar=$2; shift 2; rm -f "$out"; "$ar" qcD "$out" "$@" && "$ar" sD "$out"',
        mnemonic = "ShoalArchive",
        progress_message = "Archiving %s" % out.short_path,
    )
    return [DefaultInfo(files = depset([out]))]

shoal_archive = rule(
    implementation = _shoal_archive_impl,
    attrs = {
        "deps": attr.label_list(providers = [CcInfo]),
        "out": attr.string(mandatory = True),
        "_cc_toolchain": attr.label(
            default = Label("@bazel_tools//tools/cpp:current_cc_toolchain"),
        ),
    },
    toolchains = ["@bazel_tools//tools/cpp:toolchain_type"],
    incompatible_use_toolchain_transition = True,
    doc = "One static archive of this repository's libraries under deps.",
)

_VIRTUAL = "/_virtual_includes/"

def _shoal_headers_impl(ctx):
    repo = ctx.label.workspace_name
    out = ctx.actions.declare_directory(ctx.attr.out)
    pairs = {}
    for dep in ctx.attr.deps:
        for h in dep[CcInfo].compilation_context.headers.to_list():
            if h.owner.workspace_name != repo or _VIRTUAL not in h.path:
                continue

            # .../_virtual_includes/<target>/shoal/ipc/queue.h -> shoal/ipc/queue.h
            rel = h.path.split(_VIRTUAL, 1)[1].split("/", 1)[1]
            if not rel.startswith(ctx.attr.prefix + "/"):
                fail("%s is not under %s/" % (h.path, ctx.attr.prefix))
            if rel in pairs and pairs[rel].path != h.path:
                # Two targets exporting one path would be ambiguous for users.
                if pairs[rel].owner != h.owner:
                    fail("%s is exported by both %s and %s" % (rel, pairs[rel].owner, h.owner))
            pairs[rel] = h
    args = ctx.actions.args()
    args.add(out.path)
    for rel in sorted(pairs):
        args.add(pairs[rel])
        args.add(rel)
    ctx.actions.run_shell(
        inputs = pairs.values(),
        outputs = [out],
        arguments = [args],
        command = """
out=$1; shift
while [ $# -gt 0 ]; do
  mkdir -p "$out/$(dirname "$2")" && cp -L "$1" "$out/$2" && chmod 0644 "$out/$2"
  shift 2
done
""",
        mnemonic = "ShoalHeaders",
        progress_message = "Collecting the installed headers",
    )
    return [DefaultInfo(files = depset([out]))]

shoal_headers = rule(
    implementation = _shoal_headers_impl,
    attrs = {
        "deps": attr.label_list(providers = [CcInfo]),
        "out": attr.string(mandatory = True),
        "prefix": attr.string(default = "shoal"),
    },
    doc = "A directory of the headers users include, at their include paths.",
)

def _shoal_link_flags_impl(ctx):
    out = ctx.actions.declare_file(ctx.attr.out)
    flags = []
    for dep in ctx.attr.deps:
        for li in dep[CcInfo].linking_context.linker_inputs.to_list():
            for f in li.user_link_flags:
                if f not in flags:
                    flags.append(f)
    ctx.actions.write(out, "".join([f + "\n" for f in flags]))
    return [DefaultInfo(files = depset([out]))]

shoal_link_flags = rule(
    implementation = _shoal_link_flags_impl,
    attrs = {
        "deps": attr.label_list(providers = [CcInfo]),
        "out": attr.string(mandatory = True),
    },
    doc = "The link flags (system libraries) deps need, one per line.",
)
