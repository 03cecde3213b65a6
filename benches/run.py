#!/usr/bin/env python3
"""End-to-end benchmark suite: ours vs socketioxide vs Node socket.io vs the bare floor.

One command:

    python3 benches/run.py            # full run (< 15 min): writes docs/benchmarks-suite.{md,json}
    python3 benches/run.py --quick    # smoke test (seconds): correctness only, writes to target/
    python3 benches/run.py --codec    # also the criterion codec benches, in the same report

It builds the release binaries of `socketio-benches` (the servers and `loadgen`), installs the
Node server's dependencies with `npm ci`, then for every case runs the servers interleaved
(A B C D A B C D ...), each in a fresh process pinned to CPU 0 while `loadgen` runs on CPU 1.
Ratios are per round (ours / peer, same round), summarised by the median with min and max.
A run that lost or corrupted anything, or (for throughput cases) where the server was not
CPU-bound, is marked and left out of the ratios. The method is in
/work/shared/reference/performance.md sections 4-6 and in docs/benchmarks-suite.md.

Only 127.0.0.1 is ever used; every process is bounded by a timeout.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_DIR = os.path.join(ROOT, "benches", "node")
SERVERS = ["ours", "socketioxide", "node", "floor"]
PEERS = ["socketioxide", "node", "floor"]

# A run whose server used less than this share of its core is not CPU-bound: a throughput
# ratio from it would measure the generator or the kernel, not the server.
CPU_BOUND = 0.90


def cases(quick):
    """The workload matrix: (name, loadgen args, servers, kind)."""
    if quick:
        t = ["--warmup-ms", "200", "--duration-ms", "600"]
        return [
            ("ack-20c-16B", ["--mode", "ack", "--conns", "20", "--payload", "16"] + t, SERVERS, "ack"),
            ("ack-20c-1KB-pipe4", ["--mode", "ack", "--conns", "20", "--payload", "1024", "--inflight", "4"] + t, SERVERS, "ack"),
            ("room-200", ["--mode", "room", "--conns", "200", "--payload", "100", "--rounds", "5", "--settle-ms", "200", "--churn"], SERVERS, "room"),
            ("poll-10c-16B", ["--mode", "poll", "--conns", "10", "--payload", "16"] + t, ["ours", "socketioxide", "node"], "ack"),
        ]
    t = ["--warmup-ms", "700", "--duration-ms", "2500"]
    return [
        ("ack-100c-16B", ["--mode", "ack", "--conns", "100", "--payload", "16"] + t, SERVERS, "ack"),
        ("ack-100c-1KB", ["--mode", "ack", "--conns", "100", "--payload", "1024"] + t, SERVERS, "ack"),
        ("ack-1000c-16B", ["--mode", "ack", "--conns", "1000", "--payload", "16"] + t, SERVERS, "ack"),
        ("ack-1000c-1KB", ["--mode", "ack", "--conns", "1000", "--payload", "1024"] + t, SERVERS, "ack"),
        ("ack-100c-16B-pipe16", ["--mode", "ack", "--conns", "100", "--payload", "16", "--inflight", "16"] + t, SERVERS, "ack"),
        ("room-1k", ["--mode", "room", "--conns", "1000", "--payload", "100", "--rounds", "60", "--settle-ms", "500"], SERVERS, "room"),
        ("room-10k", ["--mode", "room", "--conns", "10000", "--payload", "100", "--rounds", "10", "--settle-ms", "1000", "--churn"], SERVERS, "room"),
        ("poll-100c-16B", ["--mode", "poll", "--conns", "100", "--payload", "16"] + t, ["ours", "socketioxide", "node"], "ack"),
    ]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout.strip()


def target_dir():
    if os.environ.get("CARGO_TARGET_DIR"):
        return os.environ["CARGO_TARGET_DIR"]
    meta = json.loads(sh(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT))
    return meta["target_directory"]


def build():
    print("building the release binaries of socketio-benches ...", flush=True)
    subprocess.run(
        ["cargo", "build", "--release", "--locked", "-p", "socketio-benches", "--bins"],
        cwd=ROOT, check=True,
    )
    print("npm ci in benches/node ...", flush=True)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True)


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pin(cpu, cmd):
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(cpu)] + cmd
    return cmd


def server_cmd(name, bindir):
    if name == "node":
        return ["node", os.path.join(NODE_DIR, "server.mjs")]
    return [os.path.join(bindir, f"bench-server-{name}")]


def start_server(name, bindir):
    env = dict(os.environ, PORT="0", RUST_LOG="off")
    proc = subprocess.Popen(
        pin(0, server_cmd(name, bindir)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, start_new_session=True,
    )
    deadline = time.time() + 20
    line = ""
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line.startswith("listening "):
            return proc, int(line.split()[1])
        if proc.poll() is not None:
            break
    stop_server(proc)
    raise RuntimeError(f"server {name} did not start: {line!r} {proc.stderr.read()[-500:]!r}")


def stop_server(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def one_run(name, args, bindir):
    proc, port = start_server(name, bindir)
    try:
        cmd = pin(1, [os.path.join(bindir, "loadgen"), "--port", str(port), "--server-pid", str(proc.pid),
                      "--max-seconds", "150"] + args)
        out = subprocess.run(cmd, text=True, capture_output=True, timeout=170)
        try:
            res = json.loads(out.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            res = {"error": f"loadgen exit {out.returncode}: {out.stderr[-300:]}"}
    except subprocess.TimeoutExpired:
        res = {"error": "loadgen timed out"}
    finally:
        stop_server(proc)
    res["server"] = name
    res["loadavg_1m"] = os.getloadavg()[0]
    return res


def problems(res, kind):
    """Why a run may back no claim at all (empty: usable)."""
    p = []
    if res.get("error"):
        p.append("error: " + res["error"])
    if res.get("errors"):
        p.append("session errors: " + "; ".join(res["errors"])[:200])
    if res.get("lost", 0) or res.get("bad", 0):
        p.append(f"lost {res.get('lost', 0)}, bad {res.get('bad', 0)}")
    if kind == "ack" and res.get("drained") is False:
        p.append("outstanding acks never came")
    if kind == "room" and res.get("delivered", 0) != res.get("expected", -1):
        p.append(f"delivered {res.get('delivered')} of {res.get('expected')}")
    return p


def not_cpu_bound(res, kind):
    """For throughput cases: the server used less than CPU_BOUND of its core, so its ack/s
    measures the generator or the kernel as much as the server. Such a run still gives a valid
    CPU-per-ack figure, but no throughput ratio."""
    return kind == "ack" and not res.get("error") and res.get("server_cpu_util", 0) < CPU_BOUND


def usable(res, key):
    if res["problems"]:
        return False
    return not (key == "ack_per_s" and res["not_cpu_bound"])


def metrics(kind):
    """(key, label, direction): the ratio is ours/peer; `higher` means higher is better."""
    if kind == "ack":
        return [("ack_per_s", "ack/s", "higher"), ("server_cpu_us_per_ack", "server CPU µs/ack", "lower"),
                ("p99_us", "p99 RTT µs", "lower")]
    return [("server_cpu_us_per_delivery", "server CPU µs/delivery", "lower"),
            ("completion_p50_us", "completion p50 µs", "lower"),
            ("idle_bytes_per_socket", "idle bytes/socket", "lower")]


def value(res, key):
    if key == "p99_us":
        return res.get("latency", {}).get("p99_us")
    if key == "completion_p50_us":
        return res.get("completion", {}).get("p50_us")
    return res.get(key)


def summarise(case_runs, kind, servers):
    """Per metric: absolute medians per server, ratios ours/peer per round (valid rounds only)."""
    out = {}
    for key, label, direction in metrics(kind):
        m = {"label": label, "direction": direction, "absolute": {}, "ratios": {}}
        for s in servers:
            vals = [value(r[s], key) for r in case_runs if usable(r[s], key) and value(r[s], key) is not None]
            m["absolute"][s] = {"median": statistics.median(vals) if vals else None, "n": len(vals)}
        for peer in servers:
            if peer == "ours":
                continue
            ratios = []
            for r in case_runs:
                a, b = r["ours"], r[peer]
                if not usable(a, key) or not usable(b, key):
                    continue
                va, vb = value(a, key), value(b, key)
                if va is not None and vb:
                    ratios.append(va / vb)
            m["ratios"][peer] = (
                {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios), "n": len(ratios)}
                if ratios else None
            )
        out[key] = m
    return out


# (case prefix, metric, peer, op, bound) -- the targets of issue 7.
TARGETS = [
    ("ack-", "ack_per_s", "socketioxide", ">=", 1.2),
    ("ack-", "ack_per_s", "node", ">=", 2.2),
    ("ack-", "ack_per_s", "floor", ">=", 0.9),
    # The same targets per server CPU-second (the inverse ratio of CPU per ack), which stays
    # valid when a run is not CPU-bound.
    ("ack-", "server_cpu_us_per_ack", "socketioxide", "<=", 1 / 1.2),
    ("ack-", "server_cpu_us_per_ack", "node", "<=", 1 / 2.2),
    ("ack-", "server_cpu_us_per_ack", "floor", "<=", 1 / 0.9),
    ("room-", "server_cpu_us_per_delivery", "socketioxide", "<=", 0.7),
    ("room-", "server_cpu_us_per_delivery", "floor", "<=", 1.2),
    ("room-10k", "idle_bytes_per_socket", "socketioxide", "<=", 0.35),
    ("room-10k", "idle_bytes_per_socket", "node", "<=", 0.5),
]
IDLE_CAP = 8192


def target_lines(summary):
    lines = []
    for prefix, key, peer, op, bound in TARGETS:
        for case, s in summary.items():
            if not case.startswith(prefix) or key not in s["metrics"]:
                continue
            r = s["metrics"][key]["ratios"].get(peer)
            label = s["metrics"][key]["label"]
            if not r:
                lines.append(f"| {case} | {label} ours/{peer} {op} {bound:.2f} | no valid rounds | **not measured** |")
                continue
            med = r["median"]
            met = med >= bound if op == ">=" else med <= bound
            gap = "" if met else f" (missed by {abs(med - bound) / bound:.0%})"
            lines.append(f"| {case} | {label} ours/{peer} {op} {bound:.2f} | {med:.2f} | {'met' if met else '**missed**'}{gap} |")
    churn = summary.get("room-10k", {}).get("churn", {}).get("ours")
    if churn:
        ok = all(0.9 <= x <= 1.1 for x in churn)
        lines.append(f"| room-10k | churn: second 10k plateau within 10 % of the first (ours) | "
                     f"{min(churn):.3f}–{max(churn):.3f} | {'met' if ok else '**missed**'} |")
    idle = summary.get("room-10k", {}).get("metrics", {}).get("idle_bytes_per_socket")
    if idle and idle["absolute"]["ours"]["median"] is not None:
        v = idle["absolute"]["ours"]["median"]
        lines.append(f"| room-10k | idle bytes/socket <= {IDLE_CAP} | {v:,.0f} | {'met' if v <= IDLE_CAP else '**missed**'} |")
    return lines


def fmt(v):
    if v is None:
        return "–"
    if isinstance(v, float) and v < 100:
        return f"{v:.2f}"
    return f"{v:,.0f}"


def run_codec(pin_cpu):
    """The criterion codec benches (benches/benches/*.rs), short settings, one core; returns
    {group: {function: median ns}} read from criterion's estimates."""
    tdir = target_dir()
    crit = os.path.join(tdir, "criterion")
    cmd = ["cargo", "bench", "--locked", "-p", "socketio-benches", "--bench", "engineio_codec", "--bench",
           "socketio_codec", "--", "--warm-up-time", "0.2", "--measurement-time", "0.6", "--noplot"]
    print("criterion codec benches (short settings) ...", flush=True)
    started = time.time()
    subprocess.run(pin(pin_cpu, cmd), cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    out = {}
    for group in sorted(os.listdir(crit)) if os.path.isdir(crit) else []:
        gdir = os.path.join(crit, group)
        for fn in sorted(os.listdir(gdir)):
            est = os.path.join(gdir, fn, "new", "estimates.json")
            if os.path.isfile(est) and os.path.getmtime(est) >= started:
                with open(est) as f:
                    out.setdefault(group, {})[fn] = json.load(f)["median"]["point_estimate"]
    return out


def codec_md(codec):
    L = ["", "## Codec benches (criterion, same invocation)", "",
         "`cargo bench -p socketio-benches --bench engineio_codec --bench socketio_codec -- --warm-up-time 0.2 "
         "--measurement-time 0.6`, pinned to CPU 1, median ns per operation; the longer runs and the method are in "
         "`docs/benchmarks.md`. Engine.IO: `theirs` is engineioxide-core. Socket.IO: socketioxide-parser-common and "
         "serde_json (the ceiling).", "",
         "| case | ours ns | peer | peer ns | ours/peer |", "|---|---:|---|---:|---:|"]
    for group, fns in sorted(codec.items()):
        if "ours" not in fns:
            continue
        for peer in ["theirs", "socketioxide", "serde_json"]:
            if peer in fns and fns[peer]:
                L.append(f"| {group} | {fns['ours']:,.1f} | {peer} | {fns[peer]:,.1f} | {fns['ours'] / fns[peer]:.2f} |")
    return L


def report_md(info, summary, runs, quick, json_name, codec=None):
    L = []
    L.append("# End-to-end benchmark suite: ours vs socketioxide vs Node socket.io vs the floor")
    L.append("")
    L.append("Generated by `python3 benches/run.py" + (" --quick" if quick else "") + "` (issue 7); the raw runs are in "
             "`docs/benchmarks-suite.json`. Do not edit by hand: rerun.")
    L.append("")
    if info["loaded"]:
        L.append(f"**Taken on a loaded machine** (1-minute load average {info['loadavg_start']:.2f} at the start, "
                 f"{info['loadavg_end']:.2f} at the end: load average 1.0 or more). Ratios come from the "
                 "same rounds and are more robust than the absolute numbers, but treat both as noisy.")
        L.append("")
    L.append("## Machine and versions")
    L.append("")
    for k in ["date", "cpu", "cpus", "kernel", "rustc", "node", "socketio_rs_commit", "socketioxide", "engineioxide",
              "node_socket_io", "node_engine_io", "node_ws", "node_ws_native", "tokio_tungstenite_floor", "rounds",
              "wall_s", "loadavg_start", "loadavg_end"]:
        L.append(f"- {k}: {info.get(k)}")
    L.append("")
    L.append("## Method")
    L.append("")
    L.append("- Each run starts a fresh server pinned to CPU 0 (`taskset -c 0`) and `loadgen` on CPU 1 "
             "(`benches/src/bin/loadgen.rs`: one thread, pre-built zero-mask frames, HDR histogram, loopback only).")
    L.append("- Servers: `bench-server-ours` (socketio-server, one `current_thread` tokio worker), "
             "`bench-server-socketioxide` (socketioxide from crates.io served by hyper http1 with upgrades, one worker, "
             "`max_buffer_size(256)` = our command capacity), `benches/node/server.mjs` (socket.io on ws, "
             "`request = null`), `bench-server-floor` (bare tokio-tungstenite, 4 KiB read buffer, string rewrite, "
             "no JSON). All: maxPayload 1 MB, ping 25 s / 20 s, no permessage-deflate, the same handlers "
             "(`echo` acked with the decoded argument, `join` acked `true`, `fan` → `to(\"bench\").emit(\"m\", arg)`).")
    L.append("- Rounds interleave the servers (ours, socketioxide, node, floor, ours, ...). Ratios are ours/peer within "
             "one round; the table gives the median over the valid rounds with [min, max] and the count. "
             "Absolute numbers (medians of valid runs) are for debugging.")
    L.append("- A run is invalid when anything was lost or malformed or a session failed; invalid runs are listed "
             "below and used for no ratio. An ack run where the server used less than "
             f"{CPU_BOUND:.0%} of its core in the measured window is not CPU-bound: it gives no ack/s ratio "
             "(the generator or the kernel limited it), but its server CPU per ack still counts, so every "
             "throughput target is also checked per server CPU-second (ours/peer CPU µs per ack <= 1/target).")
    L.append("- ack cases: closed loop, each connection keeps `inflight` `echo` events with an ack id in flight; "
             "0.7 s warm-up, 2.5 s measured; server CPU from `/proc/PID/stat` around the window. poll: the same over "
             "HTTP long-polling only (a POST carries the event while a GET waits).")
    L.append("- room cases: N sessions connect; after a settle time the server VmRSS delta / N is the idle memory per "
             "socket; all join `bench`; a separate session emits `fan` one at a time (2 warm-up rounds, then the "
             "measured ones); every delivery is counted. Headline: server CPU per delivery. room-10k also disconnects "
             "all, connects 10k again (second plateau must be within 10 % of the first; reported per server, it does not "
             "invalidate the other metrics) and disconnects again.")
    L.append("")
    L.append("## Targets (issue 7)")
    L.append("")
    L.append("| case | target | median ratio | verdict |")
    L.append("|---|---|---|---|")
    L.extend(target_lines(summary))
    L.append("")
    L.append("## Results")
    for case, s in summary.items():
        L.append("")
        L.append(f"### {case}")
        L.append("")
        L.append(f"`loadgen {' '.join(s['args'])}`")
        L.append("")
        peers = [p for p in s["servers"] if p != "ours"]
        L.append("| metric | " + " | ".join(f"ours/{p} median [min, max] (n)" for p in peers) + " | "
                 + " | ".join(f"{p}" for p in s["servers"]) + " |")
        L.append("|---|" + "---|" * (len(peers) + len(s["servers"])))
        for key, m in s["metrics"].items():
            if all(m["absolute"][x]["median"] is None for x in s["servers"]):
                continue
            cells = []
            for p in peers:
                r = m["ratios"].get(p)
                cells.append(f"**{r['median']:.2f}** [{r['min']:.2f}, {r['max']:.2f}] ({r['n']})" if r else "–")
            absv = [fmt(m["absolute"][x]["median"]) for x in s["servers"]]
            L.append(f"| {m['label']} ({m['direction']} is better) | " + " | ".join(cells) + " | " + " | ".join(absv) + " |")
        extra = s.get("extra")
        if extra:
            L.append("")
            for line in extra:
                L.append(f"- {line}")
    if codec:
        L.extend(codec_md(codec))
    bad = [(r["case"], r["round"], r["server"], r["problems"]) for r in runs if r["problems"]]
    slack = [r for r in runs if r.get("not_cpu_bound") and not r["problems"]]
    L.append("")
    L.append("## Invalid runs")
    L.append("")
    if not bad:
        L.append("None.")
    for case, rnd, srv, p in bad:
        L.append(f"- {case}, round {rnd}, {srv}: {'; '.join(p)}")
    L.append("")
    L.append("## Runs not CPU-bound (no ack/s ratio from them; their CPU per ack still counts)")
    L.append("")
    L.append("None." if not slack else ", ".join(
        f"{r['case']} r{r['round']} {r['server']} {r.get('server_cpu_util', 0):.0%}" for r in slack))
    L.append("")
    return "\n".join(L)


def extra_lines(case, case_runs, servers):
    lines = []
    if case.startswith("room"):
        for s in servers:
            rs = [r[s] for r in case_runs if not r[s].get("error")]
            if not rs:
                continue
            cpu = statistics.median([x.get("connect_server_cpu_s", 0) for x in rs])
            line = f"{s}: server CPU to accept the {rs[0].get('conns')} sessions {cpu:.2f} s (median)"
            if any("churn_plateau_ratio" in x for x in rs):
                ratios = [x["churn_plateau_ratio"] for x in rs if "churn_plateau_ratio" in x]
                ok = all(0.9 <= x <= 1.1 for x in ratios)
                line += (f"; churn second plateau / first {min(ratios):.3f}–{max(ratios):.3f} "
                         f"({'within' if ok else '**not within**'} 10 %); RSS after the last "
                         f"disconnect {statistics.median([x.get('rss_after_close_2_bytes', 0) for x in rs]) / 1e6:.1f} MB")
            lines.append(line)
    else:
        for s in servers:
            rs = [r[s] for r in case_runs if not r[s].get("error")]
            if rs:
                util = statistics.median([x.get("server_cpu_util", 0) for x in rs])
                p50 = statistics.median([x.get("latency", {}).get("p50_us", 0) for x in rs])
                gen = statistics.median([x.get("loadgen_cpu_util", 0) for x in rs])
                lines.append(f"{s}: server CPU use {util:.0%} of a core, loadgen {gen:.0%}, RTT p50 {p50:,.0f} µs "
                             "(medians of all runs)")
    return lines


def machine_info(args):
    def lock_version(name):
        with open(os.path.join(ROOT, "Cargo.lock")) as f:
            text = f.read()
        marker = f'name = "{name}"\nversion = "'
        i = text.find(marker)
        return text[i + len(marker):text.find('"', i + len(marker))] if i >= 0 else None

    def npm_version(name):
        try:
            with open(os.path.join(NODE_DIR, "node_modules", name, "package.json")) as f:
                return json.load(f)["version"]
        except OSError:
            return None

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    native = all(os.path.exists(os.path.join(NODE_DIR, "node_modules", m)) for m in ["bufferutil", "utf-8-validate"])
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "rustc": sh(["rustc", "-V"]),
        "node": sh(["node", "--version"]),
        "socketio_rs_commit": sh(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT),
        "socketioxide": lock_version("socketioxide"),
        "engineioxide": lock_version("engineioxide"),
        "tokio_tungstenite_floor": lock_version("tokio-tungstenite"),
        "node_socket_io": npm_version("socket.io"),
        "node_engine_io": npm_version("engine.io"),
        "node_ws": npm_version("ws"),
        "node_ws_native": native,
        "rounds": args.rounds,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small N, a few seconds: correctness smoke test")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5; quick 1)")
    ap.add_argument("--only", default=None, help="run only cases whose name contains this")
    ap.add_argument("--codec", action="store_true",
                    help="also run the criterion codec benches (short settings) and add them to the report")
    ap.add_argument("--no-build", action="store_true", help="skip cargo build and npm ci")
    ap.add_argument("--out", default=None, help="output prefix (default docs/benchmarks-suite; quick: target dir)")
    args = ap.parse_args()
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if not args.no_build:
        build()
    bindir = os.path.join(target_dir(), "release")
    fds = raise_fd_limit()
    if fds < 25000 and not args.quick:
        print(f"note: fd limit {fds}; 10k sockets need about 10,100 on each side", flush=True)
    info = machine_info(args)
    info["loadavg_start"] = os.getloadavg()[0]
    started = time.time()
    runs = []
    summary = {}
    for case, cargs, servers, kind in cases(args.quick):
        if args.only and args.only not in case:
            continue
        case_runs = []
        for rnd in range(1, args.rounds + 1):
            per = {}
            for s in servers:
                res = one_run(s, cargs, bindir)
                res["problems"] = problems(res, kind)
                res["not_cpu_bound"] = not_cpu_bound(res, kind) and not args.quick
                res["case"], res["round"] = case, rnd
                per[s] = res
                runs.append(res)
                key = metrics(kind)[0][0]
                flag = (" INVALID: " + "; ".join(res["problems"])) if res["problems"] else ""
                if res["not_cpu_bound"]:
                    flag += f" (not CPU-bound: {res.get('server_cpu_util', 0):.0%})"
                print(f"[{time.time() - started:6.1f}s] {case} round {rnd} {s:13s} {metrics(kind)[0][1]} "
                      f"{fmt(value(res, key))}{flag}", flush=True)
            case_runs.append(per)
        summary[case] = {"args": cargs, "servers": servers, "kind": kind,
                         "metrics": summarise(case_runs, kind, servers),
                         "extra": extra_lines(case, case_runs, servers),
                         "churn": {s: [r[s]["churn_plateau_ratio"] for r in case_runs if "churn_plateau_ratio" in r[s]]
                                   for s in servers}}
    codec = run_codec(1) if args.codec else None
    info["wall_s"] = round(time.time() - started, 1)
    info["loadavg_end"] = os.getloadavg()[0]
    info["loaded"] = max(info["loadavg_start"], info["loadavg_end"]) >= 1.0
    out = args.out or (os.path.join(target_dir(), "benchmarks-suite-quick") if args.quick
                       else os.path.join(ROOT, "docs", "benchmarks-suite"))
    with open(out + ".json", "w") as f:
        json.dump({"info": info, "summary": summary, "runs": runs, "codec": codec}, f, indent=1)
    with open(out + ".md", "w") as f:
        f.write(report_md(info, summary, runs, args.quick, os.path.basename(out) + ".json", codec))
    print(f"wrote {out}.md and {out}.json ({info['wall_s']} s)")
    if args.quick:
        bad = [r for r in runs if r["problems"]]
        for r in bad:
            print(f"FAILED: {r['case']} {r['server']}: {'; '.join(r['problems'])}", file=sys.stderr)
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
