"""Accuracy against virtual time: a sibling TensorBoard run whose steps are virtual seconds."""

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fedray.metrics.dashboard import layout
from fedray.metrics.virtual_clock import VirtualClockSink
from fedray.scenario import load_scenario


def scalars(run_dir, tag):
    events = EventAccumulator(str(run_dir)).Reload().Scalars(tag)
    return [(e.step, round(e.value, 6)) for e in events]


def test_accuracy_is_written_at_whole_virtual_seconds(tmp_path):
    sink = VirtualClockSink(tmp_path)
    sink.write({"round": 1, "virtual_seconds": 12.7, "test_accuracy": 0.25})
    sink.write({"round": 2, "virtual_seconds": 30.2, "test_accuracy": None})  # not evaluated
    sink.write({"round": 3, "virtual_seconds": 61.0, "test_accuracy": 0.5})
    sink.close()

    run = tmp_path / "tensorboard" / "virtual_clock"
    assert scalars(run, "virtual_clock/test_accuracy") == [(12, 0.25), (61, 0.5)]
    assert scalars(run, "virtual_clock/round") == [(12, 1), (30, 2), (61, 3)]


def test_the_dashboard_charts_the_virtual_clock_only_with_a_system_mode():
    on = layout(load_scenario({"system": {"mode": "sync"}}))
    off = layout(load_scenario({}))

    assert "virtual clock" in on and "virtual clock" not in off
