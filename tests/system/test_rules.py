"""The system section's validation: every problem at once, with what to do."""

import pytest

from fedray.scenario import ScenarioError, load_scenario
from tests.factories import tiny


def problems(**overrides) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(tiny(**overrides))
    return str(info.value)


def test_async_refuses_what_it_cannot_compose_with_and_says_why():
    text = problems(
        system={"mode": "async", "deadline": 5, "over_commit": 0.5},
        secure_aggregation={"protocol": "secagg_plus"},
        compression={"type": "randomk", "fraction": 0.1, "shared": True},
        strategy={"name": "scaffold"},
    )

    for path in ("system.deadline", "system.over_commit", "compression.type"):
        assert f"{path}: cannot compose with system.mode: async" in text
    assert "strategy.name: cannot compose" in text


def test_secure_fedbuff_sizes_its_sessions_by_the_buffer_not_the_round():
    # A session per buffer: 3 buckets of a 4-update buffer would hold 1 client each.
    text = problems(
        system={"mode": "async", "fedbuff": {"concurrency": 8, "buffer": 4}},
        secure_aggregation={"protocol": "secagg_plus", "buckets": 3},
        defense={"type": "median"},
    )

    assert "buckets of 1 client(s) would reveal individual updates (4 clients in a FedBuff" in text
    load_scenario(
        tiny(
            system={"mode": "async", "fedbuff": {"concurrency": 8, "buffer": 4}},
            secure_aggregation={"protocol": "secagg_plus"},
        )
    )


def test_fedbuff_cannot_keep_more_clients_in_flight_than_exist():
    text = problems(system={"mode": "async", "fedbuff": {"concurrency": 21}})

    assert "system.fedbuff.concurrency: more clients in flight than the population" in text


def test_system_settings_without_a_mode_are_reported_not_ignored():
    text = problems(system={"deadline": 5, "dropout": {"before": 0.1}})

    assert "system.deadline: set, but system.mode is none" in text
    assert "system.dropout: set, but system.mode is none" in text


def test_trace_sources_need_a_readable_file_with_fedscale_columns(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text("client_id,speed\n0,1\n")

    text = problems(
        system={
            "mode": "sync",
            "devices": {"source": "trace", "trace": str(bad)},
            "availability": {"type": "trace", "trace": str(tmp_path / "missing.csv")},
        }
    )

    assert "system.devices.trace: the trace lacks columns ['computation', 'communication']" in text
    assert "system.availability.trace: file not found" in text


def test_out_of_range_values_and_accountant_without_dp_are_reported():
    text = problems(
        system={
            "mode": "sync",
            "deadline": -1,
            "dropout": {"before": 2},
            "accountant": "max_participation",
        }
    )

    assert "system.deadline: out of range" in text
    assert "system.dropout.before: out of range" in text
    assert "system.accountant: bounds user-level DP" in text


def test_bad_trace_rows_and_garbage_files_are_reported_at_validation(tmp_path):
    rows = tmp_path / "a.csv"
    rows.write_text("client_id,active,inactive,finish_time\n0,50,10,100\n")
    garbage = tmp_path / "d.parquet"
    garbage.write_bytes(b"\x00not parquet at all")

    text = problems(
        system={
            "mode": "sync",
            "devices": {"source": "trace", "trace": str(garbage)},
            "availability": {"type": "trace", "trace": str(rows)},
        }
    )

    assert "system.devices.trace: not a readable CSV or Parquet file" in text
    assert "system.availability.trace: every interval needs active < inactive" in text


def test_the_cli_exits_2_without_a_traceback_on_a_bad_system_section(tmp_path, capsys):
    from fedray.cli import main

    path = tmp_path / "s.yaml"
    path.write_text("system: {mode: sync, deadline: 0, devices: {source: tiers}}\n")

    code = main(["validate", str(path)])

    err = capsys.readouterr()
    assert code == 2
    assert "system.devices.tiers: the tiers source needs tiers" in err.out + err.err
    assert "Traceback" not in err.out + err.err
