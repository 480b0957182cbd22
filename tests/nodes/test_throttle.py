"""The console throttle: a token bucket of CONSOLE_LINES_PER_100MS lines per 100 ms."""

from servers.monitor.output import Throttle


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_burst_keeps_the_newest_lines_and_says_how_many_were_skipped(settings):
    settings.CONSOLE_LINES_PER_100MS = 100
    clock = Clock()
    throttle = Throttle(clock)
    admitted, notice = throttle.admit(list(range(150)))
    assert admitted == list(range(50, 150))  # the newest: after a flood the last lines matter
    assert "50 lines skipped" in notice
    assert throttle.admit(list(range(30))) == ([], "")  # still flooding: one notice per 5 s
    clock.now += 1  # the bucket refills; the flood is over
    admitted, notice = throttle.admit(["the error"])
    assert admitted == ["the error"] and "30 lines skipped" in notice  # the rest of the count, once
    clock.now += 1
    assert throttle.admit(["quiet"]) == (["quiet"], "")


def test_the_bucket_refills_at_the_rate_so_a_flood_gets_exactly_the_limit(settings):
    settings.CONSOLE_LINES_PER_100MS = 100
    clock = Clock()
    throttle = Throttle(clock)
    delivered = 0
    for _ in range(100):  # one second of 10 ms batches of 500 lines: 1000 lines/s allowed, plus the burst
        delivered += len(throttle.admit(["line"] * 500)[0])
        clock.now += 0.01
    assert abs(delivered - (100 + 99 * 10)) <= 1  # fractions of a token carry over


def test_output_under_the_limit_is_never_dropped(settings):
    settings.CONSOLE_LINES_PER_100MS = 100
    clock = Clock()
    throttle = Throttle(clock)
    for _ in range(50):
        assert throttle.admit(["line"] * 9) == (["line"] * 9, "")
        clock.now += 0.01
