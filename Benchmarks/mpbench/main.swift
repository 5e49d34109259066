// Micro-benchmarks of ModelPress kernels; see scripts/bench-mpz.sh.
print("mpbench: no benchmarks yet")
