# irqkit layer "extras": optional pieces built on the core (asyncio bridge, storm guard,
# quadrature encoder, debounced pin, the opt-in native fast path).
metadata(description="irqkit extras: asyncio bridge, storm guard, quadrature encoder, debounced pin")
include("core.py")
package("irqkit", files=("aio.py", "storm.py", "encoder.py", "debounce.py", "fastpath.py"),
        base_path="../..")
