#!/usr/bin/env python3
"""Figures of `audioproc serve` (embedded mode), loopback only, standard library only.

1. Time from `POST …/complete` to `done` for one generated 5-minute 44.1 kHz stereo WAV.
2. Latency of `GET /api/v1/tracks` (p50, p99, max) under N concurrent clients (default 50) for
   S seconds (default 30), each on its own keep-alive connection, in a bounded loop.
3. Peak RSS of the server (VmHWM from /proc) after both.

Usage: benches/serve_load.py AUDIOPROC_BINARY [CLIENTS] [SECONDS]
"""
import http.client, json, math, os, random, shutil, socket, struct, subprocess, sys, tempfile, threading, time

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def wav(seconds, rate=44100):
    """Programme-like stereo audio: a few tones with a slow level ride and some noise."""
    n = int(seconds * rate)
    rnd = random.Random(7)
    frames = bytearray()
    for i in range(n):
        t = i / rate
        ride = 0.5 + 0.4 * math.sin(2 * math.pi * t / 17.0)
        x = ride * (0.3 * math.sin(2 * math.pi * 220 * t) + 0.2 * math.sin(2 * math.pi * 331 * t)) + 0.05 * (rnd.random() - 0.5)
        v = int(max(-1.0, min(1.0, x)) * 20000)
        frames += struct.pack("<hh", v, v)
    data = bytes(frames)
    return b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 2, rate, rate * 4, 4, 16) + b"data" + struct.pack("<I", len(data)) + data

class Api:
    def __init__(self, addr):
        self.addr, self.cookie = addr, ""
    def call(self, method, path, body=None, headers=None, raw=None):
        c = http.client.HTTPConnection(*self.addr, timeout=600)
        h = {"content-type": "application/json", "cookie": self.cookie}
        h.update({k.lower(): v for k, v in (headers or {}).items()})
        c.request(method, path, body=raw if raw is not None else (json.dumps(body) if body is not None else None), headers=h)
        r = c.getresponse()
        data = r.read()
        if r.getheader("set-cookie"):
            self.cookie = r.getheader("set-cookie").split(";")[0]
        c.close()
        return r.status, (json.loads(data) if data and data[:1] in b"{[" else data)

def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

def main():
    binary = sys.argv[1]
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 30
    data = tempfile.mkdtemp(prefix="audioproc-serve-bench-")
    port = free_port()
    server = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data", data],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        addr = ("127.0.0.1", port)
        for _ in range(300):
            try:
                socket.create_connection(addr, timeout=1).close(); break
            except OSError:
                time.sleep(0.1)
        api = Api(addr)
        cred = {"email": "bench@example.org", "password": "a long enough password"}
        assert api.call("POST", "/api/v1/users", cred)[0] == 201
        assert api.call("POST", "/api/v1/sessions", cred)[0] == 200

        audio = wav(300.0)
        st, t = api.call("POST", "/api/v1/tracks", {"filename": "five-minutes.wav", "size": len(audio), "content_type": "audio/wav"})
        assert st == 201, t
        up = t["upload"]
        started = time.monotonic()
        st, _ = api.call("PUT", up["url"], raw=audio, headers=up["headers"])
        assert st == 200, st
        uploaded = time.monotonic()
        st, _ = api.call("POST", f"/api/v1/tracks/{t['id']}/complete")
        assert st == 202
        while True:
            st, tr = api.call("GET", f"/api/v1/tracks/{t['id']}")
            if tr["status"] in ("done", "failed"):
                break
            time.sleep(0.02)
        done = time.monotonic()
        assert tr["status"] == "done", tr
        out = tr["report"]["output"]
        print(f"5-minute WAV ({len(audio) / 1e6:.1f} MB): upload {uploaded - started:.2f} s, complete → done {done - uploaded:.2f} s "
              f"(output {out['integrated_lufs']} LUFS, {out['true_peak_dbtp']} dBTP)")

        # A realistic list: 49 more tracks (created, not uploaded).
        for i in range(49):
            api.call("POST", "/api/v1/tracks", {"filename": f"t{i}.wav", "size": 1000, "content_type": "audio/wav"})
        latencies, errors, lock = [], [0], threading.Lock()
        deadline = time.monotonic() + seconds
        def client():
            c = http.client.HTTPConnection(*addr, timeout=30)
            mine = []
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                c.request("GET", "/api/v1/tracks", headers={"cookie": api.cookie})
                r = c.getresponse(); r.read()
                mine.append(time.perf_counter() - t0)
                if r.status != 200:
                    with lock: errors[0] += 1
            c.close()
            with lock: latencies.extend(mine)
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for th in threads: th.start()
        for th in threads: th.join()
        ms = [x * 1000 for x in latencies]
        print(f"GET /api/v1/tracks (50 tracks per page), {clients} clients, {seconds:.0f} s: {len(ms)} requests "
              f"({len(ms) / seconds:.0f}/s), p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms, "
              f"max {max(ms):.1f} ms, {errors[0]} errors")
        with open(f"/proc/{server.pid}/status") as f:
            hwm = next(l for l in f if l.startswith("VmHWM")).split()[1]
        print(f"server peak RSS: {int(hwm) / 1024:.0f} MiB")
    finally:
        server.terminate(); server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)

if __name__ == "__main__":
    main()
