"""The console throttle: a token bucket of CONSOLE_LINES_PER_100MS lines per 100 ms."""

from servers.monitor.output import Throttle


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_burst_passes_up_to_the_limit_and_the_rest_is_dropped_with_one_notice(settings):
    settings.CONSOLE_LINES_PER_100MS = 100
    clock = Clock()
    throttle = Throttle(clock)
    admitted, notice = throttle.admit(list(range(150)))
    assert admitted == list(range(100)) and notice
    assert throttle.admit(["more"]) == ([], False)  # one notice per 5 s


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
        assert throttle.admit(["line"] * 9) == (["line"] * 9, False)
        clock.now += 0.01
