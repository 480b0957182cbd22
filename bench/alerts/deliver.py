"""Part 2: alert webhooks sent by the real worker (the Procfile's line) to the webhook receiver stand-in
(tests/standins/webhook_receiver.py, its own process on one loopback address, allowed by
HEARTH_OUTBOUND_ALLOW for that /32 only): alert created → request received, and deliveries per second;
against the same number of signed POSTs made with urllib3 from this process, one after the other."""

import json
import time
import urllib.request

from bench import adapter
from bench.harness import VENV_BIN, Aborted, free_port, wait_until

RECEIVER = "tests/standins/webhook_receiver.py"
ADDRESS = "127.0.0.61"  # the receiver's own loopback address: the only one the worker may reach


class Delivery:
    """Mixin of run.Bench: `self.processes`, `self.admin`, `self.args`, `self.delivery` (results)."""

    def receiver_start(self) -> str:
        port = free_port()
        self.processes.start(
            "receiver", [str(VENV_BIN / "python"), RECEIVER, "--host", ADDRESS, "--port", str(port)]
        )
        self.receiver_base = f"http://{ADDRESS}:{port}"

        def up():
            self.processes.check()
            try:
                return self.receiver_requests() is not None
            except OSError:
                return False

        wait_until("the webhook receiver", up, 30)
        return f"{self.receiver_base}/hook"

    def _control(self, path: str, data=None):
        request = urllib.request.Request(  # noqa: S310 - our own http:// URL
            f"{self.receiver_base}/_control/{path}",
            data=None if data is None else json.dumps(data).encode(),
            method="GET" if data is None else "POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own http:// URL
            content = response.read()
        return json.loads(content) if content else None

    def receiver_requests(self) -> list[dict]:
        return self._control("requests")

    def receiver_clear(self) -> None:
        self._control("script", [])

    def worker_start(self, argv: list[str]) -> None:
        self.processes.start("worker", argv, {"HEARTH_OUTBOUND_ALLOW": f"{ADDRESS}/32"})
        from config.celery import app

        def worker_up():
            self.processes.check()
            return bool(app.control.ping(timeout=0.5))

        wait_until("the Celery worker to answer a ping", worker_up, 60)

    def delivery_rule(self, url: str):
        return adapter.alert_rule_create(
            self.admin,
            name="bench delivery",
            type="resource_threshold",
            target="server",
            target_id="*",
            conditions={"metric": "cpu", "operator": ">", "value": 1000, "duration": 0},
            actions=[{"type": "webhook", "url": url, "format": "json"}],
            enabled=False,  # raised by the benchmark, never by evaluation
            dedupe_seconds=300,
        )

    def send_alerts(self, rule, label: str, count: int, rate: float | None) -> dict:
        """`count` alerts raised through the panel (as fast as possible, or `rate` a second); waits for
        the receiver to have them all. Returns every alert's timings."""
        self.receiver_clear()
        alerts, started = [], time.time()
        for i in range(count):
            if rate:
                time.sleep(max(0.0, started + i / rate - time.time()))
            alert = adapter.raise_alert(rule, fingerprint=f"bench:{label}:{i}", title=f"Bench alert {i}")
            alerts.append(alert)
        raised = time.time() - started
        limit = 60 + count * 0.5

        def all_received():
            self.processes.check()
            got = self.receiver_requests()
            return got if len(got) >= count else None

        try:
            got = wait_until(f"{count} webhooks at the receiver", all_received, limit, 0.25)
        except Aborted:
            got = self.receiver_requests()
        rows = {str(d["id"]): d for d in adapter.deliveries_of(a.pk for a in alerts)}
        records = []
        for request in got:
            headers = {k.lower(): v for k, v in request["headers"].items()}
            row = rows.get(headers.get("x-hearth-delivery", ""))
            if row is None:
                continue
            records.append(
                {
                    "created": row["alert__created_at"].timestamp(),
                    "received": request["received_at"],
                    "delivered": row["delivered_at"].timestamp() if row["delivered_at"] else None,
                    "duration_ms": row["duration_ms"],
                    "attempts": row["attempts"],
                    "signed": "x-hearth-signature" in headers,
                    "body": request["body_b64"],
                }
            )
        return {
            "label": label,
            "count": count,
            "rate": rate,
            "raise_seconds": raised,
            "received": len(got),
            "records": records,
            "statuses": sorted({r["status"] for r in rows.values()}),
            "unmatched": len(got) - len(records),
        }

    def direct_posts(self, rule, bodies: list[bytes]) -> dict:
        """The baseline: the same bodies, signed with the rule's secret, POSTed one after the other."""
        import urllib3

        self.receiver_clear()
        http = urllib3.PoolManager()
        url = f"{self.receiver_base}/hook"
        times = []
        started = time.perf_counter()
        for body in bodies:
            t0 = time.perf_counter()
            headers = {"Content-Type": "application/json", **adapter.webhook_sign(rule, body)}
            response = http.request("POST", url, body=body, headers=headers, timeout=10, retries=False)
            if response.status >= 300:
                raise Aborted(f"The receiver answered {response.status} to a direct POST.")
            times.append(time.perf_counter() - t0)
        total = time.perf_counter() - started
        http.clear()
        received = len(self.receiver_requests())
        return {"count": len(bodies), "seconds": total, "times": times, "received": received}
