#!/usr/bin/env python3
"""A TLS-terminating proxy in front of the loopback S3 server, for kache's tests.

It stands in for a private endpoint's TLS (a company S3 gateway whose certificate comes from
a private CA): clients speak https to it, it forwards the decrypted bytes unchanged to the
plain-http server, so SigV4 signatures (made for the proxy's Host) stay valid.

    tls-proxy.py --upstream 127.0.0.1:PORT --cert server.pem --key server.key [--port-file FILE]

It binds 127.0.0.1 only and prints `TLS_PROXY_ENDPOINT=https://localhost:N` once listening.
Python 3 standard library only.
"""
import argparse, asyncio, os, ssl, sys


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError, ssl.SSLError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def handle(client_r, client_w, upstream):
    host, port = upstream.rsplit(":", 1)
    try:
        up_r, up_w = await asyncio.open_connection(host, int(port))
    except OSError:
        client_w.close()
        return
    await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the S3 server (loopback)")
    ap.add_argument("--cert", required=True, help="server certificate (PEM)")
    ap.add_argument("--key", required=True, help="its private key (PEM)")
    ap.add_argument("--listen-port", type=int, default=0)
    ap.add_argument("--port-file", help="write the chosen port here")
    args = ap.parse_args()
    if not args.upstream.startswith(("127.", "localhost")):
        sys.exit("tls-proxy: the upstream must be on loopback")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    server = await asyncio.start_server(lambda r, w: handle(r, w, args.upstream), "127.0.0.1",
                                        args.listen_port, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"TLS_PROXY_ENDPOINT=https://localhost:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
