#!/usr/bin/env bash
# The demo: start the embedded cluster with the example shop and show it answering.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== podtap local up -f examples/shop"
podtap local up -f examples/shop
echo
echo "== podtap local run -- curl -s http://shop/   (a pod calling the shop by its DNS name)"
podtap local run -- curl -s --max-time 10 http://shop/
echo
echo
echo "== podtap local port-forward svc/shop 0:80   (from this machine, through the pod's veth)"
log=$(mktemp)
podtap local port-forward svc/shop 0:80 >"$log" 2>&1 &
pf=$!
trap 'kill $pf 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q Forwarding "$log" && break; sleep 0.1; done
port=$(grep -o '127.0.0.1:[0-9]*' "$log" | cut -d: -f2)
curl -s --max-time 10 "http://127.0.0.1:$port/whoami"
echo
echo
echo "The cluster keeps running: try 'podtap local get all', 'podtap local logs deployment/shop'."
echo "Stop it with 'podtap local down'."
