"""A stand-in for a Network Load Balancer's data path: a TCP relay (no TLS termination).

moto records the load balancer but carries no traffic, so a test runs this in a testbed
namespace at the address the load balancer's DNS name resolves to (privately, for the process
under test). Like an NLB with cross-zone load balancing and TCP health checks, each new
connection goes to the next target round-robin, and a target that does not take the
connection (a stopped server: its health check fails) is passed over for the next one; bytes
are relayed both ways unchanged, so the agents' mutual TLS passes through. It writes how many
connections each target got to `--stats` (JSON) so a test can see the traffic went through it.

    python -m tests.aws.nlb_relay --listen 198.18.44.250:4646 \\
        --target 198.18.44.4:4646 --target 198.18.44.68:4646 --stats /tmp/relay.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
from pathlib import Path


class Relay:
    def __init__(self, targets: list[tuple[str, int]], stats: Path) -> None:
        self.targets = targets
        self.stats = stats
        self.next = 0
        self.counts = {f"{h}:{p}": 0 for h, p in targets}

    def _save(self) -> None:
        tmp = self.stats.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.counts))
        os.replace(tmp, self.stats)

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for i in range(len(self.targets)):
            host, port = self.targets[(self.next + i) % len(self.targets)]
            try:
                conn = await asyncio.wait_for(asyncio.open_connection(host, port), 2.0)
            except (TimeoutError, OSError):
                continue  # unhealthy: the next target
            self.next = (self.next + i + 1) % len(self.targets)
            self.counts[f"{host}:{port}"] += 1
            self._save()
            return conn
        return None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self._open()
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


async def main(args: argparse.Namespace) -> None:
    host, port = args.listen.rsplit(":", 1)
    targets = [(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1])) for t in args.target]
    relay = Relay(targets, Path(args.stats))
    relay._save()
    server = await asyncio.start_server(relay.handle, host, int(port))
    print("ready", flush=True)  # the test reads this line: listening from now on
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--target", action="append", required=True)
    parser.add_argument("--stats", required=True)
    asyncio.run(main(parser.parse_args()))
