#!/usr/bin/env python3
"""Batched xAPI ingest against a running service (started by xapi-batches.sh): enrol N people in one
batch, then POST batches of 1,000 `completed` statements (each completes one module for one person)
to /xapi/statements from one or more posters at once. Prints one RESULT line: statements per second
and the CPU the app (and PostgreSQL, if its postmaster's pid is given) spent per 1,000 statements,
read from /proc, so it needs Linux and the service on the same machine. Usage:
  xapi_batches.py BASE ADMIN_KEY APP_PID [--people 2000] [--posters 1] [--mode account|registration]
                  [--pg-postmaster PID] [--rounds 1] [--batch 1000]
Each round sends people x modules statements (14 batches for 2,000 people and 7 modules); rounds
after the first use earlier timestamps, so every statement still changes its enrolment. `account`
names each person by school and external id, `registration` by enrolment id.
"""
import argparse, http.client, json, os, threading, time, urllib.parse, uuid, datetime

p = argparse.ArgumentParser()
p.add_argument("base"); p.add_argument("key"); p.add_argument("app_pid", type=int)
p.add_argument("--people", type=int, default=2000)
p.add_argument("--posters", type=int, default=1)
p.add_argument("--mode", default="account")
p.add_argument("--pg-postmaster", type=int, default=0)
p.add_argument("--rounds", type=int, default=1)
p.add_argument("--public", default="https://send.example.org")
p.add_argument("--batch", type=int, default=1000)
a = p.parse_args()
u = urllib.parse.urlparse(a.base)
SCHOOL = "100004"
PROGRAMME = "send-inclusion-core"
TICK = os.sysconf("SC_CLK_TCK")


def request(method, path, body=None, key=a.key, headers=None, conn=None):
    c = conn or http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    h.update(headers or {})
    c.request(method, path, body=body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode(), headers=h)
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data[:500]!r}")
    return json.loads(data) if data else None


def cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except FileNotFoundError:
        return 0.0


def pg_cpu():
    if not a.pg_postmaster:
        return 0.0
    total = cpu(a.pg_postmaster)
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == a.pg_postmaster:
                    total += (int(fields[11]) + int(fields[12])) / TICK
            except (FileNotFoundError, ProcessLookupError):
                pass
    return total


people = [{"programmeId": PROGRAMME, "schoolUrn": SCHOOL,
           "staff": {"externalId": f"B-{i}", "givenName": "Batch", "familyName": f"Person {i}",
                     "email": f"b{i}@school.example.org", "role": "teacher"}} for i in range(a.people)]
t = time.time()
ids = [r["id"] for r in request("POST", "/api/v1/enrolments/batch", people)["results"]]
print(f"enrolled {len(ids)} in {time.time() - t:.1f}s", flush=True)
school_key = request("POST", "/api/v1/clients", {"name": "bench lms", "scopes": [f"school:{SCHOOL}"]})["key"]
modules = [m["id"] for m in request("GET", f"/api/v1/programmes/{PROGRAMME}")["definition"]["modules"]]

base_time = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(hours=1)
bodies = []
for rnd in range(a.rounds):
    at = (base_time - datetime.timedelta(seconds=rnd)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for m in modules:
        for start in range(0, a.people, a.batch):
            batch = []
            for i in range(start, min(start + a.batch, a.people)):
                s = {"id": str(uuid.uuid4()),
                     "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
                     "object": {"id": f"{a.public}/programmes/{PROGRAMME}/modules/{m}", "objectType": "Activity"},
                     "timestamp": at}
                if a.mode == "registration":
                    s["actor"] = {"mbox": f"mailto:b{i}@school.example.org"}
                    s["context"] = {"registration": ids[i]}
                else:
                    s["actor"] = {"objectType": "Agent", "account": {"homePage": f"{a.public}/schools/{SCHOOL}", "name": f"B-{i}"}}
                batch.append(s)
            bodies.append((len(batch), json.dumps(batch).encode()))

statements = sum(n for n, _ in bodies)
queue = list(reversed(bodies))
lock = threading.Lock()
latencies = []


def poster():
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    while True:
        with lock:
            if not queue:
                return
            n, body = queue.pop()
        t0 = time.time()
        answered = request("POST", "/xapi/statements", body, key=school_key, conn=conn,
                           headers={"X-Experience-API-Version": "1.0.3"})
        assert len(answered) == n
        with lock:
            latencies.append(time.time() - t0)


# The enrolments' welcome emails go out first, so that their sending is not counted against the statements.
for _ in range(240):
    if not request("GET", "/api/v1/outbox?status=pending&limit=1"):
        break
    time.sleep(0.5)
time.sleep(0.5)
print("measuring", flush=True)
app0, pg0, t0 = cpu(a.app_pid), pg_cpu(), time.time()
threads = [threading.Thread(target=poster) for _ in range(a.posters)]
for th in threads: th.start()
for th in threads: th.join()
elapsed = time.time() - t0
app1, pg1 = cpu(a.app_pid), pg_cpu()
latencies.sort()
print(f"RESULT statements={statements} batches={len(bodies)} posters={a.posters} mode={a.mode} "
      f"seconds={elapsed:.2f} rate={statements / elapsed:.0f}/s "
      f"app_cpu_per_1000={1000 * (app1 - app0) / statements * 1000:.0f}ms "
      f"pg_cpu_per_1000={1000 * (pg1 - pg0) / statements * 1000:.0f}ms "
      f"batch_p50={latencies[len(latencies) // 2] * 1000:.0f}ms batch_max={latencies[-1] * 1000:.0f}ms")
