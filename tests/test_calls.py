"""Waiting on actors with a deadline: a hung actor is reported or left out, never awaited."""

import time

import pytest
import ray

from fedray import calls
from fedray.client.pool import answered

pytestmark = pytest.mark.slow


class Sleeper:
    def reply(self, seconds: float, value):
        time.sleep(seconds)
        return value


@pytest.fixture(scope="module")
def sleepers(ray_cluster):
    actors = [ray.remote(Sleeper).options(num_cpus=0).remote() for _ in range(2)]
    ray.get([a.reply.remote(0, None) for a in actors])  # started: deadlines time calls only
    yield actors
    for a in actors:
        ray.kill(a)


def test_get_names_the_silent_actor_and_how_to_resume(sleepers):
    started = time.monotonic()

    with pytest.raises(calls.NoAnswer) as err:
        calls.get(sleepers[0].reply.remote(60, 1), 0.5, "the aggregator (its step call)")

    assert time.monotonic() - started < 10
    assert "the aggregator (its step call) did not answer within 0.5 s" in str(err.value)
    assert "--resume" in str(err.value)


def test_answered_leaves_out_a_reply_that_does_not_come_in_time(sleepers):
    replies = [[sleepers[1].reply.remote(0, "quick")], [sleepers[0].reply.remote(60, "late")]]

    assert answered(replies, timeout=1.0) == ["quick"]
