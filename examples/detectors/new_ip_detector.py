#!/usr/bin/env python3
"""A small external detector for leakdrill (protocol v1, stdlib only).

Rule `new-source-ip`: a user whose successful logins and API calls have so
far come from one set of network prefixes (/24) suddenly succeeds from a
prefix never seen for that user. Integration users run from fixed egress
addresses and people from their office or VPN, so a new prefix is a replayed
refresh token, a leaked password or a stolen session used from attacker
infrastructure.

Rule `bulk-volume`: one user pulls more than --max-rows rows through the
API or Bulk API within --window-min minutes.

With --respond (the default) it also asks leakdrill to contain what it saw:
`revoke_refresh_tokens` for the user and connected app when the event names
an app, else `end_sessions` for the user.

Run it:
    cargo run --release -- run scenarios/fintech/leaked-refresh-token-ci-log.yaml \\
        --detector 'python3 examples/detectors/new_ip_detector.py'

Protocol: docs/detector-protocol.md. Diagnostics go to stderr (the run's
detector.stderr), never stdout.
"""

import argparse
import collections
import json
import sys

API_TYPES = {"ApiEvent", "BulkApiResultEvent", "RestApi", "ReportEvent"}


def prefix(ip):
    parts = ip.split(".")
    return ".".join(parts[:3]) if len(parts) == 4 else ip


def succeeded(ev):
    kind = ev.get("EventType")
    if kind == "LoginEvent":
        return ev.get("Status") == "Success"
    if kind in API_TYPES:
        return 200 <= int(ev.get("StatusCode") or 0) < 300
    return False


class Detector:
    def __init__(self, args):
        self.args = args
        self.start_ms = 0
        self.prefixes = collections.defaultdict(set)  # user -> {prefix}
        self.alerted = set()  # (rule, user, key)
        self.rows = collections.defaultdict(collections.deque)  # user -> [(t, rows)]
        self.contained = set()  # (action, user, app)

    def hello(self, msg):
        self.start_ms = msg["start_ms"]
        return []

    def event(self, msg):
        ev = msg["event"]
        out = []
        user, ip = ev.get("Username"), ev.get("SourceIp")
        if not user or not ip or not succeeded(ev):
            return out
        learning = msg["t_ms"] - self.start_ms < self.args.learn_min * 60_000
        seen = self.prefixes[user]
        p = prefix(ip)
        if p not in seen:
            if seen and not learning and ("ip", user, p) not in self.alerted:
                self.alerted.add(("ip", user, p))
                out += self.alert(
                    "new-source-ip",
                    "Salesforce user active from a network never seen for it",
                    "high",
                    ev,
                )
            seen.add(p)
        rows = int(ev.get("RowsReturned") or 0)
        if rows:
            window = self.rows[user]
            window.append((msg["t_ms"], rows))
            while window and window[0][0] < msg["t_ms"] - self.args.window_min * 60_000:
                window.popleft()
            total = sum(r for _, r in window)
            if total > self.args.max_rows and ("rows", user, "") not in self.alerted:
                self.alerted.add(("rows", user, ""))
                out += self.alert(
                    "bulk-volume",
                    f"More than {self.args.max_rows} rows read by one user in {self.args.window_min} minutes",
                    "medium",
                    ev,
                )
        return out

    def alert(self, rule, title, level, ev):
        lines = [
            {
                "type": "alert",
                "rule_id": rule,
                "title": title,
                "level": level,
                "user": ev.get("Username"),
                "session_key": ev.get("SessionKey"),
                "source_ip": ev.get("SourceIp"),
                "app": ev.get("Application"),
            }
        ]
        if self.args.respond:
            user, app = ev.get("Username"), ev.get("Application")
            if app:
                action, target = "revoke_refresh_tokens", {"user": user, "connected_app": app}
            else:
                action, target = "end_sessions", {"user": user}
            key = (action, user, app)
            if key not in self.contained:
                self.contained.add(key)
                lines.append({"type": "action", "action": action, "target": target, "after_ms": 0})
        return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learn-min", type=int, default=60, help="minutes of learning before alerting (default 60)")
    ap.add_argument("--max-rows", type=int, default=50_000, help="rows per user per window (default 50000)")
    ap.add_argument("--window-min", type=int, default=60, help="volume window in minutes (default 60)")
    ap.add_argument("--no-respond", dest="respond", action="store_false", help="alert only, ask for no action")
    args = ap.parse_args()
    det = Detector(args)
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        kind = msg["type"]
        if kind == "end":
            break
        if kind == "hello":
            if msg.get("protocol") != 1:
                print(f"unsupported protocol {msg.get('protocol')}", file=sys.stderr)
                return 2
            lines = det.hello(msg)
        elif kind == "event":
            lines = det.event(msg)
        else:  # tick: nothing time-driven in these rules
            lines = []
        for obj in lines:
            out.write(json.dumps({k: v for k, v in obj.items() if v is not None}) + "\n")
        out.write(json.dumps({"type": "ack", "seq": msg["seq"]}) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
