# ISR -> coroutine latency: irqkit.aio bridge vs asyncio.ThreadSafeFlag, on the MicroPython
# VM (micropython tools/bench_aio.py). The "ISR" is a producer coroutine (same thread:
# the only way ThreadSafeFlag wakes a loop on the unix port, micropython#7965); rounds
# interleaved, medians printed. TSF coalesces: it is measured one event per set().
import sys
sys.path.insert(0, "firmware")
import asyncio  # noqa: E402
from irqkit.clock import ticks_us, ticks_diff
from irqkit.sched import Scheduler
from irqkit.source import SoftSource
from irqkit.ports.inproc import InprocPort
from irqkit.aio import AioSource, bridge

N = 200
ROUNDS = 5


def med(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


async def run_aio(sched, w, out):
    for _ in range(N):
        w.src.trigger()
        ev = await w.wait()
        out.append(ticks_diff(ticks_us(), ev[0]))


async def run_tsf(out):
    f = asyncio.ThreadSafeFlag()
    t0 = [0]

    async def cons():
        for _ in range(N):
            await f.wait()
            out.append(ticks_diff(ticks_us(), t0[0]))
    c = asyncio.create_task(cons())
    for _ in range(N):
        t0[0] = ticks_us()
        f.set()
        await asyncio.sleep_ms(0)
        await asyncio.sleep_ms(0)
    await c


async def main():
    port = InprocPort()
    sched = Scheduler(port)
    w = AioSource(sched.add(SoftSource("s", None, capacity=4)))
    b = asyncio.create_task(bridge(sched, idle_ms=0))
    ra, rt = [], []
    for _ in range(ROUNDS):
        a, t = [], []
        await run_aio(sched, w, a)
        await run_tsf(t)
        ra.append(med(a))
        rt.append(med(t))
    sched.stop()
    await b
    print("aio bridge  median latency us: %d (rounds %s)" % (med(ra), ra))
    print("ThreadSafeFlag median latency us: %d (rounds %s)" % (med(rt), rt))
    print("ratio aio/TSF: %.2f" % (med(ra) / max(1, med(rt))))

asyncio.run(main())
