"""shoal_fuzz_target: a fuzz target's library, replay test and libFuzzer binary."""

def shoal_fuzz_target(name, deps):
    native.cc_library(
        name = name + "_fuzz_lib",
        testonly = True,
        srcs = [name + "_fuzz.cc"],
        deps = deps,
        alwayslink = True,
    )
    native.cc_test(
        name = name + "_fuzz_test",
        size = "small",
        data = native.glob(["corpus/" + name + "/**"]),
        env = {"SHOAL_FUZZ_CORPUS": "tests/fuzz/corpus/" + name},
        deps = [
            ":" + name + "_fuzz_lib",
            ":replay_main",
        ],
    )
    native.cc_binary(
        name = name + "_fuzzer",
        testonly = True,
        tags = ["manual"],
        linkopts = ["-fsanitize=fuzzer"],
        deps = [":" + name + "_fuzz_lib"],
    )
