# irqkit layer "app": the latency responder `irqkit measure` talks to.
metadata(description="irqkit app: the latency responder for irqkit measure")
include("link.py")
package("irqkit", files=("app.py",), base_path="../..")
