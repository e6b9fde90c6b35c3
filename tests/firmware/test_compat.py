# The compat layer gives every runtime board-like ticks: 30-bit, wrapping, µs.
from irqkit.compat import (ticks_us, ticks_ms, ticks_diff, ticks_add, TICKS_MASK, COUNTER_MASK,
                           wrap, zeros, sleep_ms)


def test_ticks_wrap_at_2_pow_30_like_a_board():
    # the unix VM's own ticks wrap at 2**62; the core stores timestamps in 32-bit arrays
    assert ticks_add(0, -1) == TICKS_MASK
    assert ticks_add(TICKS_MASK, 1) == 0
    assert ticks_diff(1, TICKS_MASK) == 2 and ticks_diff(TICKS_MASK, 1) == -2
    t = ticks_us()
    assert 0 <= t <= TICKS_MASK and 0 <= ticks_ms() <= TICKS_MASK


def test_ticks_advance_in_microseconds():
    t0 = ticks_us()
    sleep_ms(20)
    dt = ticks_diff(ticks_us(), t0)
    assert 15000 <= dt < 5000000   # loose upper bound: a shared machine may stall


def test_counters_wrap_below_the_small_int_limit():
    assert wrap(COUNTER_MASK + 1) == 0 and wrap(-1) == COUNTER_MASK
    assert COUNTER_MASK + 1 < 2 ** 30   # x + 1 stays a small int on a 32-bit board
    a = zeros("i", 5)
    assert len(a) == 5 and sum(a) == 0
