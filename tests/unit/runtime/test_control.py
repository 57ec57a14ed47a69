"""Control sockets: the JSON-lines server helper and the client, including paths over 107 bytes."""

import asyncio
import json

from testbed.runtime.control import SUN_PATH_MAX, control_request, serve_json_lines


def _serve(path, handler):
    async def client(reader, writer):
        await serve_json_lines(reader, writer, handler, idle_timeout=2)

    return asyncio.start_unix_server(client, path=str(path))


def test_requests_replies_and_bad_lines(tmp_path):
    seen = []

    def handler(request):
        seen.append(request)
        if not isinstance(request, dict):
            return {"ok": False, "error": "expected a JSON object"}
        return {"ok": True, "echo": request}

    async def main():
        server = await _serve(tmp_path / "c.sock", handler)
        reader, writer = await asyncio.open_unix_connection(str(tmp_path / "c.sock"))
        writer.write(b'{"op": "status"}\nnot json\n')
        await writer.drain()
        first = json.loads(await reader.readline())
        second = json.loads(await reader.readline())
        writer.close()
        server.close()
        await server.wait_closed()
        return first, second

    first, second = asyncio.run(main())
    assert first == {"ok": True, "echo": {"op": "status"}}
    assert second["ok"] is False and seen[1] is None


def test_async_handler(tmp_path):
    async def handler(request):
        await asyncio.sleep(0)
        return {"ok": True, "n": request["n"] + 1}

    async def main():
        server = await _serve(tmp_path / "a.sock", handler)
        reader, writer = await asyncio.open_unix_connection(str(tmp_path / "a.sock"))
        writer.write(b'{"n": 41}\n')
        await writer.drain()
        reply = json.loads(await reader.readline())
        writer.close()
        server.close()
        await server.wait_closed()
        return reply

    assert asyncio.run(main()) == {"ok": True, "n": 42}


def test_client_reaches_a_socket_behind_a_long_path(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = deep / "control.sock"
    assert len(str(path)) > SUN_PATH_MAX
    import os
    import threading

    ready = threading.Event()
    result = {}

    def server_thread():
        async def main():
            cwd = os.getcwd()
            os.chdir(deep)  # bind with a short relative path, as the services do (cwd = run dir)
            try:
                server = await _serve("control.sock", lambda r: {"ok": True, "got": r})
            finally:
                os.chdir(cwd)
            ready.set()
            await asyncio.sleep(1.5)
            server.close()
        asyncio.run(main())

    t = threading.Thread(target=server_thread)
    t.start()
    assert ready.wait(5)
    result = control_request(path, {"op": "ping"}, timeout=2)
    t.join()
    assert result == {"ok": True, "got": {"op": "ping"}}
