"""The benchmark's settings, named, in one place: the env of the comparison's model and data, its model scales
(``python -m benchmarks.compare --scale NAME``: the default, ``small`` and ``warm``), its LR schedule and the suite's
output folder. The CLIs and studies that run the benchmark's model import them from here."""

# The benchmark's model and data: small enough for 100+ runs in 15 minutes on two cores.
BENCH_ENV = dict(num_candidates=16, train_batch=4, context_length=32, n_layer=2, n_head=2, n_embd=64,
                 test_size=128, heldout_size=256, reward_batch=16, micro_batch_size=16)
# Model scales: the default (the table in the README, 100+ runs in 15 minutes on two cores) and a second
# one to check that conclusions hold for a bigger model on longer windows (--scale small; about an hour for
# four agents on two tasks). Each maps options to their defaults under that scale; explicit options win.
SCALES = {
    "default": {},
    "small": dict(n_layer=4, n_head=4, n_embd=128, context_length=64, steps=600, eval_every=40, choice_every=120,
                  agents="random,oracle,rho_loss,soft_q", tasks="noisy,mixed", out="results/compare-small"),
    # continued pre-training: the default model and budget started from the built-in base model, at a tenth of the
    # peak LR (2e-4: the oracle's best on noisy, mixed and the tuning half among 5e-5 ... 2e-3; docs/warm_start.md),
    # on the tasks with a target the base model has not read all of
    "warm": dict(init="base", lr=2e-4, agents="random,oracle,classifier,dsir,odm,rho_loss,soft_q",
                 out="results/compare-warm", tasks="prose,noisy,mixed,gen/asyncio-in-code-tests,gen/comments-in-prose,"
                 "gen/multiprocessing-in-reference-junk,gen/comments-in-tests,gen/c-headers-in-python,"
                 "gen/lint-logs-in-code-docstrings,gen/jsonl-api-index-in-reference-comments,gen/xml-in-html-xmlrpc"),
}
# Task suites (--suite): the tasks of curriculum_env.data.suite.SUITES and their own output folder; like a scale's,
# these are defaults that --out and the other options override, but --tasks with --suite is an error (both choose
# the tasks). Under another --scale the folder is results/compare-<scale>-suite, so scales never share run files.
SUITE_OUT = "results/compare-suite"
# The benchmark's LR schedule: linear warm-up over the first 10% of the steps, then cosine decay to 10% of the
# peak at the run's last step (the horizon is --steps), peak 2e-3. Chosen by measuring random and the oracle
# (docs/results.md, "The protocol": the peak matters, warm-up and floor within the seeds' spread).
BENCH_SCHEDULE = dict(lr=2e-3, lr_schedule="cosine", warmup_fraction=0.1, lr_final=0.1)
