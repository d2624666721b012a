"""How much of everything a run does: `small` keeps CI's `make bench BENCH_SIZE=small` near a minute on
two cores, `full` is the run whose numbers we quote (about ten minutes)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Size:
    name: str
    cold_start_runs: int  # fresh processes per (route, implementation)
    warm_server_iterations: int  # reads per (route, implementation) against the emulated AWS server
    warm_create_server_iterations: int  # creates likewise (moto copies its tables in every transaction)
    warm_stub_iterations: int  # requests per (route, implementation) with HTTP answers stubbed in botocore
    warm_rounds: int  # implementations take turns in this many rounds, so drift hits them alike
    history_sizes: tuple[int, ...]  # earlier tasks of the model (and as many of other models)
    history_reads: int  # status reads per history size
    rollout_poll_rounds: tuple[int, int]  # two counts of timed-out green waits, to fit the per-round cost

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


SIZES = {
    "small": Size(
        name="small",
        cold_start_runs=2,
        warm_server_iterations=60,
        warm_create_server_iterations=30,
        warm_stub_iterations=200,
        warm_rounds=2,
        history_sizes=(10, 100, 1_000),
        history_reads=5,
        rollout_poll_rounds=(0, 1),
    ),
    "full": Size(
        name="full",
        cold_start_runs=10,
        warm_server_iterations=1_000,
        warm_create_server_iterations=300,
        warm_stub_iterations=3_000,
        warm_rounds=5,
        history_sizes=(10, 1_000, 100_000),
        history_reads=10,
        rollout_poll_rounds=(0, 2),
    ),
}
