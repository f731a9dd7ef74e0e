#!/usr/bin/env bash
# examples/python: the FloatChannel pattern (shoal vs multiprocessing.Queue),
# a C++ producer feeding a Python consumer, a Python producer feeding a C++
# pool -- every block and result checked, small inputs.
source "${TEST_SRCDIR:-$0.runfiles}/shoal/tests/examples/testlib.sh"

so=$runfiles/python/shoal/_shoal.so
if readelf -d "$so" | grep -q libtsan; then
  echo "SKIP: the Python module does not run under ThreadSanitizer"; pass
fi

run python/float_channel --blocks=200 --elements=10000
expect_rc 0
expect '^shoal.FloatChannel \(loan\): 200 blocks of 10000 float64 in [0-9.]+ s: [0-9]+ blocks/s; 200 checked, 0 bad$'
expect '^multiprocessing.Queue: 200 blocks of 10000 float64 in [0-9.]+ s: [0-9]+ blocks/s; 200 checked, 0 bad$'
expect '^shoal is [0-9.]+x multiprocessing.Queue$'
run python/float_channel --blocks=20 --elements=1001 --start-method=spawn
expect_rc 0
expect '^shoal.FloatChannel \(loan\): 20 blocks .* 20 checked, 0 bad$'

run python/cpp_to_python --blocks=200 --elements=10000
expect_rc 0
expect '^C\+\+ -> Python: 200 blocks of 10000 float64 in [0-9.]+ s: [0-9]+ blocks/s; 200 checked, 0 bad; producer exit 0$'

run python/python_to_cpp_pool --limit=300000 --step=10000 --processes=2
expect_rc 0
expect '^Python -> C\+\+ pool: 30 jobs, 30 results in [0-9.]+ s; primes below 300000: 25997 \(numpy sieve: 25997\); pool exit 0$'
pass
