"""Which runs of a matrix count as done when it is resumed (no Ray)."""

from fedray import stress
from fedray.scenario import load_scenario, to_yaml

SCENARIO = "scenarios/stress_digits.yaml"


def write_run(out, cell, seed, text):
    run = stress._run_dir(out, cell, seed)
    run.mkdir(parents=True)
    (run / "summary.json").write_text("{}")
    (run / "scenario.yaml").write_text(text)


def test_a_run_from_before_a_defaulted_field_existed_still_counts(tmp_path):
    cell = stress.expand(stress.parse_grid(["defense.type=median"]))[0]
    full = to_yaml(load_scenario(SCENARIO, [*stress._sets(cell, 0)]))
    older = "\n".join(line for line in full.splitlines() if "knowledge: auto" not in line)
    assert older != full
    write_run(tmp_path, cell, 0, older)

    assert stress._done(SCENARIO, [], tmp_path, cell, 0)
    assert not stress._done(SCENARIO, ["rounds=31"], tmp_path, cell, 0)  # another experiment
    assert not stress._done(SCENARIO, [], tmp_path, cell, 1)  # never ran


def test_a_run_whose_scenario_no_longer_loads_is_redone(tmp_path):
    cell = stress.expand(stress.parse_grid(["defense.type=median"]))[0]
    write_run(tmp_path, cell, 0, "seed: 0\nrounds: 30\nno_such_section: {a: 1}\n")

    assert not stress._done(SCENARIO, [], tmp_path, cell, 0)
