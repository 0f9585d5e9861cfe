"""The shop's frontend as a developer runs it on their laptop with `podtap exec`.

It listens on the pod's port (8080), calls the catalog by its cluster DNS name and reads
the API key from the pod's environment, exactly as the deployed frontend does."""

import json
import os
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        with urllib.request.urlopen("http://catalog/items", timeout=5) as resp:
            catalog = json.load(resp)
        body = json.dumps({
            "served_by": "your laptop (podtap exec)",
            "api_key_tail": os.environ.get("SHOP_API_KEY", "")[-2:],
            "catalog_items": len(catalog["items"]),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        print(f"local frontend: {fmt % args}", flush=True)


ThreadingHTTPServer(("127.0.0.1", 8080), Handler).serve_forever()
