"""Studies: scripts that measure a question about the method (does Q rank? how does SGLD search? what does
a step cost at the paper's scale?), apart from the benchmark harness in ``benchmarks/``."""
