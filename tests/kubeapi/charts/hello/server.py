import http.server
import socket


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        with open("/etc/hello/greeting") as f:
            body = f"{f.read()} from {socket.gethostname()}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer(("", 8000), Hello).serve_forever()
