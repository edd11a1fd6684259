"""asv's benchmark package (asv.conf.json ``benchmark_dir``). It holds only asv modules: asv imports every
module of this package at every benchmarked commit, so the standalone scripts in benchmarks/, which follow
the newest sadbench, stay outside it."""
