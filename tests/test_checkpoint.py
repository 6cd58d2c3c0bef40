"""Checkpoints: bitwise round trip, atomic writes, and damage reported, never loaded."""

import hashlib
import io
import pickle

import numpy as np
import pytest

from fedray import checkpoint
from fedray.cli import main
from fedray.scenario import load_scenario, to_yaml
from fedray.server.state import ServerState
from tests.factories import tiny


def state(round_: int) -> ServerState:
    rng = np.random.default_rng(round_)
    return ServerState(
        round_,
        rng.standard_normal(650).astype(np.float32),
        {"m": rng.standard_normal(650).astype(np.float32)},
        {"previous": np.ones(3)},
        (np.arange(4, dtype=np.int64), rng.standard_normal((4, 5)).astype(np.float32)),
        {"steps": np.array([round_])},
    )


def run_dir(tmp_path, rounds=(2, 4)):
    (tmp_path / "scenario.yaml").write_text(to_yaml(load_scenario(tiny(rounds=6))))
    return [checkpoint.save(tmp_path, state(r)) for r in rounds]


def test_round_trip_is_bitwise_and_leaves_no_temporary_file(tmp_path):
    path = checkpoint.save(tmp_path, state(3))

    back = checkpoint.load(path)

    assert back.round == 3 and back.params.tobytes() == state(3).params.tobytes()
    assert back.strategy_state["m"].tobytes() == state(3).strategy_state["m"].tobytes()
    assert back.client_states[1].tobytes() == state(3).client_states[1].tobytes()
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "round_0000003.npz",
        "round_0000003.sha256",
    ]
    assert path.with_suffix(".sha256").read_text().split()[0] == (
        hashlib.sha256(path.read_bytes()).hexdigest()
    )


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the params array: the zip itself still parses
    path.write_bytes(bytes(data))


def drop_checksum(path):
    path.with_suffix(".sha256").unlink()


@pytest.mark.parametrize(
    "damage, says",
    [(truncate, "SHA-256"), (flip_a_byte, "SHA-256"), (drop_checksum, "no checksum file")],
)
def test_damaged_latest_checkpoint_names_itself_and_the_last_good_one(tmp_path, damage, says):
    good, bad = run_dir(tmp_path)
    damage(bad)

    with pytest.raises(checkpoint.CorruptCheckpoint) as err:
        checkpoint.load_latest(tmp_path)

    text = str(err.value)
    assert str(bad) in text and says in text
    assert f"the last good checkpoint is {good}" in text and "delete" in text
    assert checkpoint.problem(good) is None


def test_resume_from_a_damaged_checkpoint_exits_2_with_one_clear_message(tmp_path, capsys):
    good, bad = run_dir(tmp_path)
    flip_a_byte(bad)

    code = main(["run", "--resume", str(tmp_path), "--no-progress"])

    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"checkpoint {bad} is corrupt" in err and f"last good checkpoint is {good}" in err


def test_resume_continues_from_the_last_good_one_once_the_bad_one_is_deleted(tmp_path):
    good, bad = run_dir(tmp_path)
    truncate(bad)
    bad.unlink()
    bad.with_suffix(".sha256").unlink()

    assert checkpoint.load_latest(tmp_path).round == 2


def test_no_intact_checkpoint_says_to_start_again(tmp_path):
    (only,) = run_dir(tmp_path, rounds=(2,))
    truncate(only)

    with pytest.raises(checkpoint.CorruptCheckpoint, match="no earlier checkpoint is intact"):
        checkpoint.load_latest(tmp_path)


class _Boom:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_a_checkpoint_holding_pickled_objects_is_refused_not_unpickled(tmp_path, capsys):
    path = tmp_path / "checkpoints" / "round_0000001.npz"
    path.parent.mkdir()
    buffer = io.BytesIO()
    payload = np.array([_Boom()], dtype=object)
    np.savez(buffer, round=np.int64(1), params=np.zeros(3, np.float32), **{"strategy/x": payload})
    path.write_bytes(buffer.getvalue())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".sha256").write_text(f"{digest}  {path.name}\n")
    assert b"unpickled!" in pickle.dumps(payload)  # the file does carry a live pickle

    with pytest.raises(checkpoint.CorruptCheckpoint, match="does not parse"):
        checkpoint.load(path)
    assert "unpickled!" not in capsys.readouterr().out


def test_prune_keeps_the_newest_and_removes_the_rest_with_their_client_links(tmp_path):
    paths = run_dir(tmp_path, rounds=(2, 4, 6))
    for r in (2, 4, 6):
        checkpoint.clients_dir(tmp_path, r).mkdir()
        (checkpoint.clients_dir(tmp_path, r) / "seg_0.npy").write_bytes(b"x")

    gone = checkpoint.prune(tmp_path, keep=2)

    assert gone == paths[:1]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "round_0000004.clients",
        "round_0000004.npz",
        "round_0000004.sha256",
        "round_0000006.clients",
        "round_0000006.npz",
        "round_0000006.sha256",
    ]
    assert checkpoint.load_latest(tmp_path).round == 6
    assert checkpoint.prune(tmp_path, keep=5) == []


@pytest.mark.parametrize("bad", [0, -1, "some"])
def test_keep_checkpoints_must_be_all_or_a_positive_count(bad):
    from fedray.scenario import ScenarioError

    with pytest.raises(ScenarioError, match="output.keep_checkpoints"):
        load_scenario(tiny(output={"keep_checkpoints": bad}))
