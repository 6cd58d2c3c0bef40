"""A resumed run's event file must be read after the run's earlier ones (its purge drops the
crashed rounds): TensorBoard reads a directory's files in name order."""

import time

from fedray.metrics.tensorboard import TensorBoardSink


def test_a_resumed_writer_sorts_after_a_file_begun_this_second(tmp_path):
    now = int(time.time())
    # A per-process counter that sorts as text: "10" before "9".
    (tmp_path / f"events.out.tfevents.{now}.host.1.9").write_bytes(b"")

    sink = TensorBoardSink(str(tmp_path), purge_step=3)
    sink.scalar("x", 1.0, 3)
    sink._writer.close()

    names = sorted(p.name for p in tmp_path.glob("events.out.tfevents.*"))
    assert names[-1] != f"events.out.tfevents.{now}.host.1.9"
    assert int(names[-1].split(".")[3]) > now
