#!/usr/bin/env python3
"""Peak memory of a running server under concurrent unindexed list queries (README, "Known gaps").

Loads N users through /Bulk (all with title "Engineer"), then runs C clients looping
GET /Users?filter=title eq "Engineer"&count=1 (every user matches; no index answers it) for S
seconds, and prints the answers by status and the server's resident memory now and at its peak
(VmRSS / VmHWM from /proc/PID/status). Loopback only.

  python3 bench/scripts/scan-memory.py --pid PID --token TOKEN [--url http://127.0.0.1:8080/scim/v2]
      [--users 100000] [--clients 4] [--seconds 20] [--skip-load]
"""
import argparse, collections, json, threading, time, urllib.error, urllib.parse, urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("--pid", type=int, required=True)
parser.add_argument("--token", required=True)
parser.add_argument("--url", default="http://127.0.0.1:8080/scim/v2")
parser.add_argument("--users", type=int, default=100000)
parser.add_argument("--clients", type=int, default=4)
parser.add_argument("--seconds", type=float, default=20)
parser.add_argument("--skip-load", action="store_true")
args = parser.parse_args()
if urllib.parse.urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
    raise SystemExit("loopback targets only")
headers = {"Authorization": "Bearer " + args.token, "Content-Type": "application/scim+json"}

def memory():
    fields = dict(line.split(":", 1) for line in open(f"/proc/{args.pid}/status"))
    return fields["VmRSS"].strip(), fields["VmHWM"].strip()

if not args.skip_load:
    for part in range(0, args.users, 1000):
        ops = [{"method": "POST", "path": "/Users", "bulkId": f"b{i}", "data": {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"scan-{part + i}@example.com",
            "name": {"givenName": "G", "familyName": f"F{i}"}, "emails": [{"value": f"scan-{part + i}@example.com", "type": "work"}],
            "title": "Engineer"}} for i in range(min(1000, args.users - part))]
        body = json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops}).encode()
        urllib.request.urlopen(urllib.request.Request(args.url + "/Bulk", data=body, method="POST", headers=headers)).read()

print("before: VmRSS %s, VmHWM %s" % memory())
stats = collections.Counter()
query = args.url + "/Users?filter=" + urllib.parse.quote('title eq "Engineer"') + "&count=1"

def client():
    end = time.time() + args.seconds
    while time.time() < end:
        try:
            response = urllib.request.urlopen(urllib.request.Request(query, headers=headers))
            stats["totalResults=%d" % json.loads(response.read())["totalResults"]] += 1
            stats[response.status] += 1
        except urllib.error.HTTPError as error:
            error.read()
            stats[error.code] += 1
            if error.code == 429:
                time.sleep(0.2)

threads = [threading.Thread(target=client) for _ in range(args.clients)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("answers:", dict(stats))
print("after: VmRSS %s, VmHWM %s" % memory())
