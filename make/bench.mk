# Benchmarks: what a request, a rollout and a cold start cost, side by side with the least any
# implementation of the same contract could do (bench/README.md says how to read them).
# Included from the Makefile, which defines PY, VENV and the `dev`, `tools` and `build` targets.
#   make bench                       the full run (about 5 min): tables on stdout, bench/results.json
#   make bench BENCH_SIZE=small      the CI size (about a minute on 2 cores), into bench/.work/
#   make bench BENCH_BUILD=1         `make build` first, so the package weight is of the current sources
# Nothing asserts a time: the run fails only when a measurement cannot be made.

BENCH_SIZE ?= full
BENCH_BUILD ?=
BENCH_OUTPUT ?= $(if $(filter full,$(BENCH_SIZE)),bench/results.json,bench/.work/results-$(BENCH_SIZE).json)

.PHONY: bench

bench: dev $(if $(filter 1 yes true,$(BENCH_BUILD)),build) ## Cold starts, requests, rollout cost, package weight vs the minimum (BENCH_SIZE=small|full)
	$(PY) -m bench --size $(BENCH_SIZE) --output $(BENCH_OUTPUT)
