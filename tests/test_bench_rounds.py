"""The single-message scenario's rounds: which one the report takes, and how it lists them."""
from bench import report
from bench.scenarios.single import median_round


def a_round(project: float, peer: float | None) -> dict:
    stacks = {"project": {"completed_per_s": project, "submit_ms": {"p50": 5.0, "p99": 20.0}}}
    if peer is not None:
        stacks["peer"] = {"completed_per_s": peer, "submit_ms": {"p50": 6.0, "p99": 25.0}}
        stacks["completed_ratio"] = round(project / peer, 3)
    return stacks


def test_the_median_round_is_taken_whole():
    rounds = [a_round(1800, 700), a_round(1500, 750), a_round(1900, 800)]
    assert median_round(rounds) is rounds[2]  # ratios 2.571, 2.0, 2.375


def test_an_even_count_takes_the_lower_middle_round():
    rounds = [a_round(2000, 800), a_round(1600, 800)]
    assert median_round(rounds) is rounds[1]


def test_without_a_peer_the_project_rate_decides():
    rounds = [a_round(1800, None), a_round(1500, None), a_round(1900, None)]
    assert median_round(rounds) is rounds[0]


def test_the_target_row_and_the_table_name_every_round():
    chosen = a_round(1900, 800)
    single = {**chosen, "rounds": [
        {"completed_ratio": r.get("completed_ratio"), "project_completed_per_s": 1000.0 * i,
         "peer_completed_per_s": 800.0, "project_submit_p99_ms": 20.0,
         "peer_submit_p99_ms": 25.0}
        for i, r in enumerate([a_round(1800, 700), a_round(1500, 750), chosen], 1)]}
    for name in ("project", "peer"):  # what single_body reads besides completed/s
        single[name].update(accepted_per_s=single[name]["completed_per_s"], completed=10000,
                            failed=0, drain_seconds_after_load=0.2, sample_errors=[],
                            e2e_sampled_ms={"p50_ms": 5, "p99_ms": 9, "count": 500},
                            wrk={"connections": 16, "threads": 2, "seconds": 10,
                                 "non_2xx": 0, "socket_errors": 0})
    rows = report.targets({"scenarios": {"single": single}})
    assert rows[0]["figure"] == ("2.38× (1,900 vs 800/s; "
                                 "the median of 3 rounds: 2.57×, 2.00×, 2.38×)")
    assert rows[0]["met"] is False
    table = "\n".join(report.single_body(single))
    assert "| 2 | 2,000 | 800 | 2.00× | 20.0 ms | 25.0 ms |" in table
    assert table.count("| | project | peer | project / peer |") == 1
    assert "| completed/s | 1,900 | 800 | 2.38× |" in table
