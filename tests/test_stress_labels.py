"""Short axis labels for `fedray stress`'s heatmap."""

from fedray.stress_tables import short_labels


def test_shared_parameters_go_and_pre_stages_lead():
    labels = [
        "none",
        "trimmed_mean(fraction=0.2)",
        "trimmed_mean(fraction=0.2,pre=[{'type': 'nnm'}, {'type': 'arc', 'f': 2}])",
        "krum(fraction=0.2)",
    ]

    assert short_labels(labels) == ["none", "trimmed_mean", "nnm + arc + trimmed_mean", "krum"]


def test_a_parameter_that_tells_two_cells_apart_stays():
    labels = [
        "fang(fraction=0.2,target=trimmed_mean)",
        "fang(fraction=0.2,target=trimmed_mean,knowledge=colluding)",
        "ipm(fraction=0.2,epsilon=10)",
    ]

    assert short_labels(labels) == ["fang", "fang knowledge=colluding", "ipm"]
    labels.append("fang(fraction=0.2,target=krum)")
    assert short_labels(labels)[0] == "fang target=trimmed_mean"


def test_labels_that_would_coincide_are_kept_whole():
    labels = ["trimmed_mean(fraction=0.2)", "trimmed_mean(fraction=0.3)", "0.5"]
    assert short_labels(labels) == ["trimmed_mean fraction=0.2", "trimmed_mean fraction=0.3", "0.5"]
    assert short_labels(["median(pre=[{'type': 'nnm'}])", "median"]) == ["nnm + median", "median"]
