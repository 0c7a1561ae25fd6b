#!/usr/bin/env python3
"""Opens the Conveyor dashboard in headless Chromium through chromedriver's W3C WebDriver
HTTP API (Python standard library only) and prints what the page shows as JSON:

  python3 scripts/dashboard-browser-check.py http://127.0.0.1:PORT/ screenshot.png

It reads the charts' data-point counts, the rows of the lists (scaled groups, scaler
decisions, alerts, caches, batches), the decision markers on the workers chart, the throughput figure five times over about five
seconds (no reload), whether the text "<script>" appears as text in the groups table while the page
holds one script element, and checks the PNG screenshot is not blank (distinct colours).
Only loopback: chromedriver listens on 127.0.0.1 and is stopped at the end.
"""
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read().decode())["value"]


def png_colours(data):
    """Distinct RGB(A) colours of an 8-bit non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, width, height, channels = 8, b"", 0, 0, 0
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        chunk = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6), "unexpected PNG format"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        position += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    colours = set()
    offset = 0
    for _ in range(height):
        kind = raw[offset]
        row = bytearray(raw[offset + 1:offset + 1 + stride])
        offset += 1 + stride
        for i in range(stride):
            left = row[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                row[i] = (row[i] + left) & 255
            elif kind == 2:
                row[i] = (row[i] + up) & 255
            elif kind == 3:
                row[i] = (row[i] + ((left + up) >> 1)) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                row[i] = (row[i] + (left if pa <= pb and pa <= pc else (up if pb <= pc else corner))) & 255
        for i in range(0, stride, channels * 7):   # every 7th pixel is plenty
            colours.add(bytes(row[i:i + 3]))
        previous = row
    return len(colours), width, height


def main():
    url, screenshot = sys.argv[1], sys.argv[2]
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    port = free_port()
    profile = tempfile.mkdtemp(prefix="conveyor-chromium-")
    process = subprocess.Popen([driver, "--port=%d" % port, "--allowed-ips=127.0.0.1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = "http://127.0.0.1:%d" % port
    result = {}
    session = None
    try:
        for _ in range(100):
            try:
                call(base, "GET", "/status")
                break
            except Exception:
                time.sleep(0.1)
        capabilities = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": browser,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,2500", "--user-data-dir=" + profile, "--no-first-run",
                     "--disable-background-networking", "--disable-extensions"]}}}}
        created = call(base, "POST", "/session", capabilities)
        session = created["sessionId"]
        s = "/session/" + session
        call(base, "POST", s + "/url", {"url": url})

        def evaluate(script):
            return call(base, "POST", s + "/execute/sync", {"script": script, "args": []})

        # Wait until the page rendered a few readings (history, then events).
        deadline = time.time() + 30
        while time.time() < deadline:
            if evaluate("return Number(document.getElementById('sequence').textContent) || 0") >= 3 and \
               evaluate("return Number(document.getElementById('chart-throughput').dataset.points || 0)") > 0:
                break
            time.sleep(0.25)
        charts = evaluate("""
            const out = {};
            for (const svg of document.querySelectorAll('svg.chart')) out[svg.id] = Number(svg.dataset.points || 0);
            return out;""")
        read = "return [document.getElementById('throughput-total').textContent, document.getElementById('sequence').textContent, performance.getEntriesByType('navigation').length]"
        reads = [evaluate(read)]
        for _ in range(4):
            time.sleep(1.2)
            reads.append(evaluate(read))
        escaped = evaluate("""
            const cells = Array.from(document.querySelectorAll('#groups td:first-child')).map(td => td.textContent);
            return {cells: cells, scripts: document.querySelectorAll('script').length,
                    legend: Array.from(document.querySelectorAll('#legend-throughput span')).map(s => s.textContent),
                    status: document.getElementById('status').textContent};""")
        rows = evaluate("""
            const out = {};
            for (const id of ['scaled-groups', 'decisions', 'alerts-active', 'alerts-recent', 'caches', 'batches'])
                out[id] = document.querySelectorAll('#' + id + ' tr.data-row').length;
            return out;""")
        markers = evaluate("return document.querySelectorAll('#chart-workers circle.marker').length")
        shot = base64.b64decode(call(base, "GET", s + "/screenshot"))
        with open(screenshot, "wb") as out:
            out.write(shot)
        colours, width, height = png_colours(shot)
        result = {"charts": charts, "reads": reads, "escaped": escaped, "rows": rows, "markers": markers,
                  "screenshot": {"path": screenshot, "bytes": len(shot), "colours": colours,
                                 "width": width, "height": height}}
    finally:
        if session:
            try:
                call(base, "DELETE", "/session/" + session)
            except Exception:
                pass
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(profile, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
