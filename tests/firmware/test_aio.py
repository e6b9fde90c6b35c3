# asyncio bridge: a _thread producer's 64-event burst reaches a coroutine 64/64, in order.
from irqkit.sched import Scheduler
from irqkit.source import SoftSource
from irqkit.ports.inproc import InprocPort
from irqkit.aio import AioSource, bridge, asyncio
from fwtest import skip

BURST = 64


def test_thread_burst_reaches_coroutine_in_order():
    try:
        import _thread
    except ImportError:
        skip("no _thread")
    port = InprocPort()
    sched = Scheduler(port)
    src = sched.add(SoftSource("burst", None, capacity=BURST))
    w = AioSource(src)
    got = []

    def producer():
        for i in range(BURST):
            src.trigger(i, 0)

    async def consumer():
        _thread.start_new_thread(producer, ())
        while len(got) < BURST:
            ev = await w.wait()
            got.append(ev[2])
        sched.stop()

    async def main():
        t = asyncio.create_task(bridge(sched))
        await asyncio.wait_for(consumer(), 10)
        await t

    asyncio.run(main())
    assert got == list(range(BURST))


def test_priority_order_across_sources():
    port = InprocPort()
    sched = Scheduler(port)
    lo = AioSource(sched.add(SoftSource("lo", None, prio=0)))
    hi = AioSource(sched.add(SoftSource("hi", None, prio=5)))
    order = []
    taken = []
    for w in (lo, hi):       # record the bridge's dispatch order, then queue as usual
        w.src.task = (lambda f: lambda ev: (order.append(ev.a), f(ev)))(w._task)
    lo.src.trigger(1)
    hi.src.trigger(2)

    async def take(w):
        ev = await w.wait()
        taken.append(ev[2])

    async def main():
        t = asyncio.create_task(bridge(sched))
        await asyncio.gather(take(lo), take(hi))
        sched.stop()
        await t

    asyncio.run(main())
    assert order == [2, 1]   # hi first, though lo was pended first
    assert sorted(taken) == [1, 2]
    assert hi.src.st[4] == 1 and lo.src.st[4] == 1
