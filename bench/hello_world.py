"""The yardstick of bench/speed.py: a Tornado hello-world, on 127.0.0.1 at the port given.

Usage:
    .venv/bin/python bench/hello_world.py PORT
"""

from __future__ import annotations

import asyncio
import sys

import tornado.web


class HelloHandler(tornado.web.RequestHandler):
    """The least a Tornado handler can do."""

    def get(self) -> None:
        self.write("Hello, world")


async def serve(port: int) -> None:
    """Serve until killed."""
    tornado.web.Application([(r"/", HelloHandler)]).listen(port, "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
