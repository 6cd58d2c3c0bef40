"""summary.json's `nodes`: where the workers started, one entry per node."""

from fedray.actors import node_table


def info(node, gpus=()):
    return {"node_id": node, "ip": "10.0.0.1", "hostname": "h", "pid": 1, "gpu_ids": list(gpus)}


def test_workers_are_counted_per_node_and_gpu_ids_stay_per_node():
    placement = [info("b", ["0"]), info("a", ["0"]), info("b", ["1"]), info("b", ["1"])]

    nodes = node_table(placement)

    assert [(n["node_id"], n["workers"]) for n in nodes] == [("a", 1), ("b", 3)]
    assert [n["workers_per_gpu"] for n in nodes] == [{"0": 1}, {"0": 1, "1": 2}]
    assert nodes[0]["ip"] == "10.0.0.1" and nodes[0]["hostname"] == "h"


def test_cpu_workers_have_no_gpu_counts():
    assert node_table([info("a"), info("a")])[0]["workers_per_gpu"] == {}
