"""An independent Kafka client for Triage's tests: confluent-kafka (librdkafka in its wheel).

Every read subcommand prints one JSON document on stdout; the Rust tests compare Triage's answers
with it. Write subcommands (create-topic, produce, consume) drive a real workload.

    oracle.py cluster BOOTSTRAP
    oracle.py topics BOOTSTRAP
    oracle.py groups BOOTSTRAP [GROUP...]
    oracle.py offsets BOOTSTRAP GROUP
    oracle.py watermarks BOOTSTRAP TOPIC
    oracle.py create-topic BOOTSTRAP TOPIC PARTITIONS
    oracle.py produce BOOTSTRAP TOPIC COUNT            (one batch per message, round-robin)
    oracle.py consume BOOTSTRAP GROUP TOPIC COUNT [--hold SECONDS]
        join GROUP, consume COUNT messages, commit them, print {"consumed": n, "member_id": ...};
        with --hold, stay a member (polling) for SECONDS more, printing "ready" once assigned.
    oracle.py alter BOOTSTRAP GROUP TOPIC PARTITION OFFSET...   commit offsets as the group,
        print {"altered": n, "errors": {partition: error}}
    oracle.py describe-all BOOTSTRAP [--serve]   the work of Triage's group list with one
        AdminClient: every group described, its committed offsets and the user topics' log ends
        read, total lag per group; print {"groups": n, "took_ms": ms, "rows": {group: row}},
        timed inside Python (no interpreter start-up). With --serve, one round per line read
        on stdin, all on the same client (connections kept, as Triage keeps its own).

Extra client settings come from the environment as KAFKA_ORACLE_CONFIG (a JSON object of
librdkafka properties, e.g. security.protocol, sasl.mechanism).
"""

import json
import os
import sys
import time

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

TIMEOUT = 15


def config(bootstrap, **extra):
    conf = {"bootstrap.servers": bootstrap}
    conf.update(json.loads(os.environ.get("KAFKA_ORACLE_CONFIG", "{}")))
    conf.update(extra)
    return conf


def admin(bootstrap):
    return AdminClient(config(bootstrap))


def cluster(bootstrap):
    md = admin(bootstrap).list_topics(timeout=TIMEOUT)
    brokers = [
        {"id": b.id, "host": b.host, "port": b.port}
        for b in sorted(md.brokers.values(), key=lambda b: b.id)
    ]
    return {"cluster_id": md.cluster_id, "controller": md.controller_id, "brokers": brokers}


def topics(bootstrap):
    md = admin(bootstrap).list_topics(timeout=TIMEOUT)
    out = {}
    for name, t in md.topics.items():
        out[name] = [
            {
                "partition": pid,
                "leader": p.leader,
                "replicas": list(p.replicas),
                "isr": list(p.isrs),
                "error": str(p.error) if p.error else None,
            }
            for pid, p in sorted(t.partitions.items())
        ]
    return out


def groups(bootstrap, ids):
    a = admin(bootstrap)
    if not ids:
        listed = a.list_consumer_groups(request_timeout=TIMEOUT).result()
        ids = sorted(g.group_id for g in listed.valid)
    if not ids:
        return []
    out = []
    for gid, fut in a.describe_consumer_groups(ids, request_timeout=TIMEOUT).items():
        try:
            g = fut.result()
        except Exception as e:  # the row's error, as Triage reports it per group
            out.append({"id": gid, "error": str(e)})
            continue
        members = []
        for m in g.members:
            tps = m.assignment.topic_partitions if m.assignment else []
            members.append(
                {
                    "member_id": m.member_id,
                    "client_id": m.client_id,
                    "host": m.host,
                    "assignment": sorted([tp.topic, tp.partition] for tp in tps),
                }
            )
        out.append(
            {
                "id": gid,
                "state": g.state.name,
                "members": sorted(members, key=lambda m: m["member_id"]),
            }
        )
    return sorted(out, key=lambda g: g["id"])


def offsets(bootstrap, group):
    a = admin(bootstrap)
    res = a.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)], request_timeout=TIMEOUT
    )[group].result()
    out = {}
    for tp in res.topic_partitions:
        if tp.offset >= 0:
            out.setdefault(tp.topic, {})[str(tp.partition)] = tp.offset
    return out


def watermarks(bootstrap, topic):
    a = admin(bootstrap)
    md = a.list_topics(topic=topic, timeout=TIMEOUT)
    parts = sorted(md.topics[topic].partitions)
    out = {}
    for spec, key in ((OffsetSpec.earliest(), "low"), (OffsetSpec.latest(), "high")):
        req = {TopicPartition(topic, p): spec for p in parts}
        for tp, fut in a.list_offsets(req, request_timeout=TIMEOUT).items():
            out.setdefault(str(tp.partition), {})[key] = fut.result().offset
    return out


def create_topic(bootstrap, topic, partitions):
    a = admin(bootstrap)
    fs = a.create_topics([NewTopic(topic, int(partitions), 1)])
    for f in fs.values():
        f.result()
    return {"created": topic}


def produce(bootstrap, topic, count):
    a = admin(bootstrap)
    md = a.list_topics(topic=topic, timeout=TIMEOUT)
    parts = sorted(md.topics[topic].partitions)
    p = Producer(config(bootstrap, **{"linger.ms": 0}))
    for i in range(int(count)):
        p.produce(topic, key=str(i), value=b"triage-test", partition=parts[i % len(parts)])
        # One batch per message: on Tansu's memory storage ListOffsets reports the last
        # batch's base offset + 1, which equals the log end only for one-message batches.
        p.flush(TIMEOUT)
    return {"produced": int(count)}


def consume(bootstrap, group, topic, count, hold):
    c = Consumer(
        config(
            bootstrap,
            **{
                "group.id": group,
                "client.id": "oracle-consumer",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            },
        )
    )
    c.subscribe([topic])
    deadline = time.time() + 90
    n = 0
    while n < int(count) and time.time() < deadline:
        m = c.poll(1)
        if m is not None and not m.error():
            n += 1
    if n:
        c.commit(asynchronous=False)
    print(json.dumps({"consumed": n, "member_id": c.memberid()}), flush=True)
    if hold is not None:
        end = time.time() + float(hold)
        told = False
        while time.time() < end:
            c.poll(0.5)
            if not told and c.assignment():
                print("ready", flush=True)
                told = True
    c.close()
    return None


def alter(bootstrap, group, topic, pairs):
    tps = [TopicPartition(topic, int(p), int(o)) for p, o in zip(pairs[::2], pairs[1::2])]
    a = admin(bootstrap)
    res = a.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, tps)], request_timeout=TIMEOUT
    )
    done = res[group].result()
    errors = {str(tp.partition): str(tp.error) for tp in done.topic_partitions if tp.error}
    return {"altered": len(tps) - len(errors), "errors": errors}


def describe_all(a):
    started = time.perf_counter()
    listed = a.list_consumer_groups(request_timeout=TIMEOUT).result()
    ids = sorted(g.group_id for g in listed.valid)
    # Every request is in flight at once: describe for all groups, then the offsets of each
    # (the AdminClient takes one group per ListConsumerGroupOffsets call).
    described = a.describe_consumer_groups(ids, request_timeout=TIMEOUT) if ids else {}
    committed = {
        g: a.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(g)], request_timeout=TIMEOUT
        )[g]
        for g in ids
    }
    md = a.list_topics(timeout=TIMEOUT)
    parts = [
        TopicPartition(name, p)
        for name, t in md.topics.items()
        if not name.startswith("__")
        for p in t.partitions
    ]
    ends = {}
    if parts:
        req = {tp: OffsetSpec.latest() for tp in parts}
        for tp, fut in a.list_offsets(req, request_timeout=TIMEOUT).items():
            ends[(tp.topic, tp.partition)] = fut.result().offset
    rows = {}
    for g in ids:
        try:
            d = described[g].result()
            tps = committed[g].result().topic_partitions
        except Exception as e:  # the row's error, as Triage reports it per group
            rows[g] = {"error": str(e)}
            continue
        # Lag as Triage counts it: committed partitions whose log end is known and not behind.
        lags = [
            ends[(tp.topic, tp.partition)] - tp.offset
            for tp in tps
            if tp.offset >= 0 and ends.get((tp.topic, tp.partition), -1) >= tp.offset
        ]
        rows[g] = {
            "state": d.state.name,
            "members": len(d.members),
            "total_lag": sum(lags) if lags else None,
        }
    took_ms = (time.perf_counter() - started) * 1000
    return {"groups": len(rows), "took_ms": took_ms, "rows": rows}


def describe_all_served(bootstrap):
    a = admin(bootstrap)
    print("ready", flush=True)
    for _ in sys.stdin:
        print(json.dumps(describe_all(a)), flush=True)


def main(argv):
    cmd, bootstrap, rest = argv[1], argv[2], argv[3:]
    if cmd == "cluster":
        out = cluster(bootstrap)
    elif cmd == "topics":
        out = topics(bootstrap)
    elif cmd == "groups":
        out = groups(bootstrap, rest)
    elif cmd == "offsets":
        out = offsets(bootstrap, rest[0])
    elif cmd == "watermarks":
        out = watermarks(bootstrap, rest[0])
    elif cmd == "create-topic":
        out = create_topic(bootstrap, rest[0], rest[1])
    elif cmd == "produce":
        out = produce(bootstrap, rest[0], rest[1])
    elif cmd == "consume":
        hold = rest[rest.index("--hold") + 1] if "--hold" in rest else None
        out = consume(bootstrap, rest[0], rest[1], rest[2], hold)
    elif cmd == "alter":
        out = alter(bootstrap, rest[0], rest[1], rest[2:])
    elif cmd == "describe-all" and "--serve" in rest:
        out = describe_all_served(bootstrap)
    elif cmd == "describe-all":
        out = describe_all(admin(bootstrap))
    else:
        sys.exit(f"unknown subcommand {cmd}")
    if out is not None:
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv)
