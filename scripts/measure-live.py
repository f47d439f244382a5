#!/usr/bin/env python3
"""Live-update figures for the README (standard library only):
- delay from a training step's end to its SSE event reaching a client (1 and 20 clients),
- training slowdown with 20 SSE clients open,
- snapshot + database overhead as a share of training time (vis_every 10 vs no snapshots).
Runs the built-in demo config for 60 iterations per measurement on a fresh data directory.
Usage: scripts/measure-live.py [path/to/flawmap]"""
import json, os, statistics, subprocess, sys, tempfile, threading, time, urllib.request

BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "debug", "flawmap")
PORT = 3978
BASE = f"http://127.0.0.1:{PORT}"

def api(path, body=None):
    req = urllib.request.Request(BASE + path, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"content-type": "application/json"}, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(req) as r:
        return json.load(r)

def listen(run, delays, stop):
    with urllib.request.urlopen(f"{BASE}/api/runs/{run}/live") as r:
        event = None
        for raw in r:
            if stop.is_set():
                return
            line = raw.decode().rstrip("\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "step":
                data = json.loads(line[5:])["data"]
                delays.append(time.time() * 1000 - data["time_ms"])
            elif line.startswith("data:") and event in ("finished", "failed", "stopped"):
                return

def measure(clients, vis_every):
    config = api("/api/presets/gct")[0]
    config["train"].update({"iterations": 60, "vis_every": vis_every, "eval_every": 1000, "checkpoint_every": 1000})
    config["device"] = "cpu"
    run = api("/api/runs", {"config": config})["ids"][0]
    delays, stop = [], threading.Event()
    threads = [threading.Thread(target=listen, args=(run, delays if i == 0 else [], stop), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    while api(f"/api/runs/{run}")["status"] != "finished":
        time.sleep(0.5)
    stop.set()
    steps = api(f"/api/runs/{run}/metrics")["steps"]
    # the mean, not the median: a snapshot lands in one step of ten
    ms = statistics.mean(s["ms_per_iter"] for s in steps[5:])
    return ms, delays

data = tempfile.mkdtemp()
server = subprocess.Popen([BIN, "serve", "--addr", f"127.0.0.1:{PORT}", "--data-dir", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(50):
        try:
            api("/api/runs"); break
        except OSError:
            time.sleep(0.2)
    base_ms, d1 = measure(1, 0)
    many_ms, d20 = measure(20, 0)
    snap_ms, _ = measure(1, 10)
    q = lambda d, p: sorted(d)[int(p * (len(d) - 1))]
    print(f"ms/iteration, 1 SSE client, no snapshots: {base_ms:.0f}")
    print(f"ms/iteration, 20 SSE clients:              {many_ms:.0f} ({(many_ms / base_ms - 1) * 100:+.1f} %)")
    print(f"ms/iteration, snapshots every 10 steps:   {snap_ms:.0f} ({(snap_ms / base_ms - 1) * 100:+.1f} %)")
    print(f"step -> SSE client delay, 1 client:   median {statistics.median(d1):.1f} ms, p90 {q(d1, 0.9):.1f} ms ({len(d1)} events)")
    print(f"step -> SSE client delay, 20 clients: median {statistics.median(d20):.1f} ms, p90 {q(d20, 0.9):.1f} ms")
finally:
    server.kill()
