# irqkit layer "extras": optional pieces built on the core (asyncio bridge, storm guard).
metadata(description="irqkit extras: asyncio bridge, storm guard")
include("core.py")
package("irqkit", files=("aio.py", "storm.py"), base_path="../..")
