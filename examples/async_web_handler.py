"""An async web endpoint that sends SMS: the FastAPI pattern, on aiohttp's own web server.

    SMSGATE_SANDBOX=1 .venv/bin/python examples/async_web_handler.py

One ``AsyncGateway`` lives as long as the app (FastAPI: a ``lifespan``; aiohttp: a cleanup
context) and every request awaits ``gateway.send``. The handler maps smsgate's answers to
HTTP: accepted -> 200, a refused input -> 422, an outcome that may have been sent -> 202 with
the idempotency key to repeat it safely (never "failed": a client that retried would send it
twice), anything else -> 503. The script serves the app on 127.0.0.1, posts to it, and stops.
Needs the ``aio`` extra (``pip install smsgate[aio]``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import smsgate
from smsgate.aio import AsyncGateway
from smsgate.sandbox import Sandbox

GATEWAY = "sms gateway"


async def send_sms(request: object) -> object:
    """``POST /sms`` with ``{"to": ..., "text": ...}`` (in FastAPI: ``@app.post("/sms")``)."""
    from aiohttp import web

    assert isinstance(request, web.Request)
    gateway: AsyncGateway = request.app[GATEWAY]
    payload = await request.json()
    try:
        result = await gateway.send(payload["to"], payload["text"],
                                    idempotency_key=payload.get("key"))
    except smsgate.ValidationError as exc:
        return web.json_response({"error": str(exc)}, status=422)
    except smsgate.SmsGateError as exc:
        if exc.may_have_sent:
            key = getattr(exc, "idempotency_key", None)
            return web.json_response({"status": "unknown", "repeat_with_key": key}, status=202)
        return web.json_response({"error": type(exc).__name__}, status=503)
    return web.json_response({"status": "sent", "provider": result.provider,
                              "message_id": result.message_id})


def make_app(sandbox: Sandbox) -> object:
    from aiohttp import web

    async def gateway_lifetime(app: web.Application) -> AsyncIterator[None]:
        # FastAPI: the same body in an @asynccontextmanager lifespan(app).
        async with AsyncGateway(
            [sandbox.provider("gosms.ge", sender="MyBrand"),
             sandbox.provider("smsoffice.ge", sender="MyBrand")],
            retry=smsgate.RetryPolicy(attempts=2, backoff=0.05),
            deadline=10,
        ) as gateway:
            app[GATEWAY] = gateway
            yield

    app = web.Application()
    app.cleanup_ctx.append(gateway_lifetime)
    app.router.add_post("/sms", send_sms)
    return app


async def demo(sandbox: Sandbox) -> None:
    import aiohttp
    from aiohttp import web

    app = make_app(sandbox)
    assert isinstance(app, web.Application)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/sms"
    try:
        async with aiohttp.ClientSession() as client:
            async def post(to: str, text: str) -> str:
                async with client.post(url, json={"to": to, "text": text}) as reply:
                    body = await reply.json()
                    if "provider" in body:
                        return f"{reply.status} sent via {body['provider']}"
                    return f"{reply.status} {body}"

            print("POST /sms ->", await post("+995555123456", "Hello from a handler"))
            sandbox.fault("gosms.ge", "refuse")  # GOSMS.GE goes down: the gateway fails over
            shown = await post("+995555123456", "Hello again")
            print("POST /sms with GOSMS.GE down ->", shown)
            print("POST /sms with a bad number ->", await post("+99555", "x"))
            # Ten at once: one event loop, no threads.
            replies = await asyncio.gather(*(post("+995577123456", f"n{i}") for i in range(10)))
            print("ten at once:", sum(r.startswith("200") for r in replies), "sent")
    finally:
        await runner.cleanup()


def main() -> None:
    if os.environ.get("SMSGATE_SANDBOX") != "1":
        raise SystemExit("this example runs against the sandbox: set SMSGATE_SANDBOX=1")
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise SystemExit("this example needs the aio extra: pip install smsgate[aio]") from None
    with Sandbox() as sandbox:
        asyncio.run(demo(sandbox))


if __name__ == "__main__":
    main()
