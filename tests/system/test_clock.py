"""The virtual clock of a synchronous round: hand-computed times, who trains, dropout rates."""

import numpy as np
import pytest

from fedray import seeding
from fedray.system import clock
from fedray.system.config import (
    Availability,
    Devices,
    Download,
    Dropout,
    Speed,
    System,
    Tier,
    Upload,
)
from fedray.system.devices import profiles


def fixed(**kw) -> System:
    """Every client: 10 samples/s, 1000 B/s up, 2000 B/s down."""
    devices = Devices(speed=Speed(10.0), upload=Upload(1000.0), download=Download(2000.0))
    return System(mode="sync", devices=devices, **kw)


def plan(system, ids, sizes, *, wanted=None, start=0.0, round_=1, epochs=1, batch=4):
    ids = np.asarray(ids, np.int64)
    return clock.plan_round(
        system,
        seed=0,
        round_=round_,
        client_ids=ids,
        sizes=np.asarray(sizes),
        epochs=epochs,
        batch_size=batch,
        wanted=len(ids) if wanted is None else wanted,
        start=start,
        bytes_down=4000,
        bytes_up=2000,
    )


def test_clock_adds_download_compute_and_upload_by_hand():
    # 10 examples, batch 4: ceil(10/4) = 3 steps x 4 / 10 samples/s = 1.2 s of compute;
    # 4000 B down at 2000 B/s = 2 s; 2000 B up at 1000 B/s = 2 s; two epochs double compute.
    p = plan(fixed(), [3, 8], [10, 10], epochs=2, start=100.0)

    assert p.steps.tolist() == [6, 6]
    np.testing.assert_allclose(p.finish, [100 + 2 + 2.4 + 2] * 2)
    assert p.end == pytest.approx(106.4)
    assert list(p.reason) == ["", ""]


def test_deadline_cuts_stragglers_or_takes_their_partial_work():
    # 40 examples: 10 steps, 4 s of compute, finish at 8 s; 4 examples: 1 step, at 4.4 s.
    strict = plan(fixed(deadline=6.0), [1, 2], [40, 4])
    lenient = plan(fixed(deadline=6.0, accept_partial=True), [1, 2], [40, 4])

    assert list(strict.reason) == [clock.DEADLINE, ""]
    assert strict.trains().tolist() == [2]
    # 6 s - 2 s down - 2 s up leaves 2 s: 5 steps of 0.4 s.
    assert lenient.trains().tolist() == [1, 2]
    assert lenient.partial() == {1: 5}
    assert lenient.finish[0] == pytest.approx(6.0)
    assert strict.end == 6.0  # short of K reports: the round waits for its deadline


def test_over_commitment_keeps_exactly_the_first_k_finishers_ties_by_id():
    sizes = [40, 4, 20, 4, 8]  # finish 8.0, 4.4, 6.0, 4.4, 4.8 s
    p = plan(fixed(over_commit=0.7), [10, 11, 12, 13, 14], sizes, wanted=3)

    assert p.trains().tolist() == [11, 13, 14]
    assert list(p.reason) == [clock.SURPLUS, "", clock.SURPLUS, "", ""]
    assert p.end == pytest.approx(4.8)  # the K-th report ends the round


def test_an_empty_client_never_takes_one_of_the_k_report_slots():
    # Client 11 holds no examples: it would "finish" first (download and upload only).
    p = plan(fixed(over_commit=0.7), [10, 11, 12, 13], [8, 0, 4, 20], wanted=2)

    assert list(p.reason) == ["", clock.EMPTY, "", clock.SURPLUS]
    assert p.trains().tolist() == [10, 12]
    assert p.steps[1] == 0 and p.finish[1] == pytest.approx(2.0)  # it downloaded, then left
    assert p.end == pytest.approx(4.8)  # the second real report


def test_cohort_size_over_commits_within_the_population():
    assert clock.cohort_size(System(mode="sync", over_commit=0.3), 10, 100) == 13
    assert clock.cohort_size(System(mode="sync", over_commit=0.3), 10, 11) == 11
    assert clock.cohort_size(System(), 10, 100) == 10


def test_unavailable_clients_are_never_trained():
    system = fixed(availability=Availability(type="bernoulli", probability=0.5))
    ids = np.arange(1000)

    p = plan(system, ids, np.full(1000, 8))

    off = p.reason == clock.UNAVAILABLE
    assert 400 < off.sum() < 600
    assert not np.isin(p.trains(), ids[off]).any()
    assert np.isnan(p.finish[off]).all() and (p.steps[off] == 0).all()


@pytest.mark.parametrize("stage, index", [("before", 0), ("during", 1), ("after", 2)])
def test_dropout_rates_hold_statistically(stage, index):
    rate, n = 0.2, 20000
    system = fixed(dropout=Dropout(**{stage: rate}))

    p = plan(system, np.arange(n), np.full(n, 8))

    dropped = (p.dropped_at == stage).mean()
    # Binomial(n, 0.2): 5 standard deviations is 0.014.
    assert abs(dropped - rate) < 5 * np.sqrt(rate * (1 - rate) / n)
    assert not np.isin(p.trains(), np.flatnonzero(p.reason == clock.DROPPED)).any()


def test_mid_training_dropout_sends_its_partial_steps_only_when_asked():
    kw = dict(during=1.0)
    nothing = plan(fixed(dropout=Dropout(**kw)), np.arange(200), np.full(200, 40))
    send = plan(fixed(dropout=Dropout(partial="send", **kw)), np.arange(200), np.full(200, 40))

    assert len(nothing.trains()) == 0
    steps = send.steps[send.reason == ""]
    assert len(steps) > 150 and (steps >= 1).all() and (steps < 10).all()


def test_tier_dropout_overrides_the_section_and_tiers_follow_their_shares():
    tiers = (Tier(share=3.0, speed=50.0), Tier(share=1.0, speed=5.0, drop_before=1.0))
    system = System(mode="sync", devices=Devices(source="tiers", tiers=tiers))

    prof = profiles(system, 0, np.arange(8000))
    p = plan(system, np.arange(8000), np.full(8000, 8))

    assert abs((prof.tier == 1).mean() - 0.25) < 0.02
    assert set(prof.speed[prof.tier == 1]) == {5.0}
    assert (p.reason[prof.tier == 1] == clock.DROPPED).all()
    assert (p.reason[prof.tier == 0] == "").all()


def test_profiles_follow_the_client_not_the_cohort_and_are_lognormal():
    system = System(mode="sync", devices=Devices(speed=Speed(100.0, 0.5)))
    alone = profiles(system, 7, np.array([42]))
    among = profiles(system, 7, np.array([1, 42, 99_999_999]))

    big = profiles(system, 7, np.arange(50_000)).speed

    assert alone.speed[0] == among.speed[1]
    assert np.median(big) == pytest.approx(100.0, rel=0.02)
    assert np.log(big).std() == pytest.approx(0.5, rel=0.02)


def test_diurnal_availability_is_on_for_its_fraction_with_a_phase_per_client():
    cfg = Availability(type="diurnal", period=100.0, on_fraction=0.25)
    from fedray.system.availability import online

    at = [online(cfg, 0, 1, np.arange(4000), t) for t in (0.0, 50.0)]

    assert abs(at[0].mean() - 0.25) < 0.03
    assert (at[0] != at[1]).any()  # the same clients are not online at every hour
    assert (online(cfg, 0, 9, np.arange(4000), 100.0) == at[0]).all()  # periodic


def test_uniforms_are_named_by_client_and_purpose():
    a = seeding.uniforms(1, 2, [5, 6], seeding.DEVICE, 2)
    b = seeding.uniforms(1, 2, [6], seeding.DEVICE, 2)
    c = seeding.uniforms(1, 2, [6], seeding.AVAILABILITY, 2)

    assert a[1].tolist() == b[0].tolist()
    assert (b != c).all()
    assert ((0 <= a) & (a < 1)).all()
