#!/usr/bin/python3
"""A scripted Eclipse Paho (paho-mqtt 1.6.1) client for the interop tests.

Usage: /usr/bin/python3 paho_client.py '<plan as JSON>'

The plan names the connection and a list of steps; every event is printed as one JSON object per line
on stdout, so the TypeScript test can assert the conversation:

  {"host": "127.0.0.1", "port": 1883, "version": "5" | "3.1.1" | "3.1", "client_id": "x",
   "clean": true, "session_expiry": 60, "keepalive": 30,
   "will": {"topic": "t", "payload": "p", "qos": 1, "retain": false, "properties": {...}},
   "steps": [
     {"op": "subscribe", "topics": [["a/#", 1, {"no_local": true}]]},
     {"op": "publish", "topic": "a/b", "payload": "x", "qos": 1, "retain": false, "properties": {...}},
     {"op": "unsubscribe", "topics": ["a/#"]},
     {"op": "ready"},                       # prints {"event": "ready"} (the test acts, then we go on)
     {"op": "wait_messages", "count": 3, "timeout": 5},
     {"op": "sleep", "seconds": 0.1},
     {"op": "disconnect"},                   # DISCONNECT, then exit 0
     {"op": "crash"}                         # exit without DISCONNECT: the broker sees the socket close
   ]}

Events: connack, suback, unsuback, published (the QoS flow completed), message, disconnected, error,
done. Properties are printed with Paho's names (UserProperty as a list of [key, value] pairs, binary
values as {"hex": ...}). Exit status 0 when every step succeeded, 1 on a failed step or timeout.
"""

import json
import os
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

VERSIONS = {"3.1": mqtt.MQTTv31, "3.1.1": mqtt.MQTTv311, "5": mqtt.MQTTv5}

lock = threading.Condition()
state = {"connack": None, "acks": {}, "messages": 0, "published": set()}


def emit(event, **fields):
    fields["event"] = event
    with lock:
        sys.stdout.write(json.dumps(fields, sort_keys=True) + "\n")
        sys.stdout.flush()


def props_to_json(props):
    if props is None:
        return {}
    out = {}
    for name in props.names.keys():
        attr = name.replace(" ", "")
        if not hasattr(props, attr):
            continue
        value = getattr(props, attr)
        if isinstance(value, (bytes, bytearray)):
            value = {"hex": bytes(value).hex()}
        elif isinstance(value, list):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        out[attr] = value
    return out


def json_to_props(packet_type, spec):
    if not spec:
        return None
    props = Properties(packet_type)
    for name, value in spec.items():
        if name == "UserProperty":
            value = [tuple(pair) for pair in value]
        elif name == "CorrelationData":
            value = bytes.fromhex(value["hex"]) if isinstance(value, dict) else value.encode()
        setattr(props, name, value)
    return props


def rc_value(rc):
    """A reason code as an int, whether Paho gives an int or a ReasonCodes object."""
    return rc.value if hasattr(rc, "value") else int(rc)


def on_connect(client, userdata, flags, rc, properties=None):
    session_present = bool(flags.get("session present", 0))
    emit("connack", rc=rc_value(rc), session_present=session_present, properties=props_to_json(properties))
    with lock:
        state["connack"] = rc_value(rc)
        lock.notify_all()


def on_subscribe(client, userdata, mid, granted, properties=None):
    codes = [rc_value(g) for g in granted]
    emit("suback", mid=mid, granted=codes)
    with lock:
        state["acks"][mid] = codes
        lock.notify_all()


def on_unsubscribe(client, userdata, mid, properties=None, reason_codes=None):
    if isinstance(reason_codes, list):
        codes = [rc_value(r) for r in reason_codes]
    elif reason_codes is None:
        codes = []
    else:
        codes = [rc_value(reason_codes)]
    emit("unsuback", mid=mid, codes=codes)
    with lock:
        state["acks"][mid] = codes
        lock.notify_all()


def on_publish(client, userdata, mid):
    with lock:
        state["published"].add(mid)
        lock.notify_all()


def on_message(client, userdata, msg):
    try:
        payload = msg.payload.decode("utf-8")
    except UnicodeDecodeError:
        payload = {"hex": msg.payload.hex()}
    emit(
        "message",
        topic=msg.topic,
        payload=payload,
        qos=msg.qos,
        retain=bool(msg.retain),
        dup=bool(msg.dup),
        properties=props_to_json(getattr(msg, "properties", None)),
    )
    with lock:
        state["messages"] += 1
        lock.notify_all()


def on_disconnect(client, userdata, rc, properties=None):
    emit("disconnected", rc=rc_value(rc), properties=props_to_json(properties))


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    with lock:
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out waiting for " + what)
            lock.wait(left)


def subscription(entry, v5):
    topic, qos = entry[0], entry[1]
    opts = entry[2] if len(entry) > 2 else {}
    if not v5:
        return (topic, qos)
    return (
        topic,
        SubscribeOptions(
            qos=qos,
            noLocal=opts.get("no_local", False),
            retainAsPublished=opts.get("retain_as_published", False),
            retainHandling=opts.get("retain_handling", 0),
        ),
    )


def run(plan):
    version = VERSIONS[plan.get("version", "3.1.1")]
    v5 = version == mqtt.MQTTv5
    client_id = plan.get("client_id", "")
    if v5:
        client = mqtt.Client(client_id=client_id, protocol=version)
    else:
        client = mqtt.Client(client_id=client_id, clean_session=plan.get("clean", True), protocol=version)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_unsubscribe = on_unsubscribe
    client.on_publish = on_publish
    client.on_message = on_message
    client.on_disconnect = on_disconnect

    will = plan.get("will")
    if will:
        client.will_set(
            will["topic"],
            will.get("payload", ""),
            will.get("qos", 0),
            will.get("retain", False),
            properties=json_to_props(PacketTypes.WILLMESSAGE, will.get("properties")) if v5 else None,
        )

    keepalive = plan.get("keepalive", 30)
    if v5:
        connect_props = Properties(PacketTypes.CONNECT)
        if "session_expiry" in plan:
            connect_props.SessionExpiryInterval = plan["session_expiry"]
        client.connect(
            plan["host"],
            plan["port"],
            keepalive,
            clean_start=plan.get("clean", True),
            properties=connect_props if "session_expiry" in plan else None,
        )
    else:
        client.connect(plan["host"], plan["port"], keepalive)
    client.loop_start()
    wait_for(lambda: state["connack"] is not None, 5, "CONNACK")
    if state["connack"] != 0:
        client.loop_stop()
        emit("done", ok=False)
        return 1

    for step in plan.get("steps", []):
        op = step["op"]
        if op == "subscribe":
            topics = [subscription(e, v5) for e in step["topics"]]
            props = json_to_props(PacketTypes.SUBSCRIBE, step.get("properties")) if v5 else None
            rc, mid = client.subscribe(topics, properties=props) if v5 else client.subscribe(topics)
            wait_for(lambda: mid in state["acks"], step.get("timeout", 5), "SUBACK")
        elif op == "unsubscribe":
            rc, mid = client.unsubscribe(step["topics"])
            wait_for(lambda: mid in state["acks"], step.get("timeout", 5), "UNSUBACK")
        elif op == "publish":
            props = json_to_props(PacketTypes.PUBLISH, step.get("properties")) if v5 else None
            payload = step.get("payload", "")
            if isinstance(payload, dict):
                payload = bytes.fromhex(payload["hex"])
            info = client.publish(step["topic"], payload, step.get("qos", 0), step.get("retain", False), properties=props)
            wait_for(lambda: info.mid in state["published"], step.get("timeout", 5), "PUBLISH to complete")
            emit("published", topic=step["topic"], mid=info.mid, qos=step.get("qos", 0))
        elif op == "ready":
            emit("ready")
        elif op == "wait_messages":
            count = step["count"]
            wait_for(lambda: state["messages"] >= count, step.get("timeout", 5), str(count) + " messages")
        elif op == "sleep":
            time.sleep(step["seconds"])
        elif op == "disconnect":
            client.disconnect()
            client.loop_stop()
            emit("done", ok=True)
            return 0
        elif op == "crash":
            emit("done", ok=True)
            sys.stdout.flush()
            os._exit(0)
        else:
            raise ValueError("unknown step " + op)

    client.disconnect()
    client.loop_stop()
    emit("done", ok=True)
    return 0


def main():
    plan = json.loads(sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read())
    try:
        code = run(plan)
    except Exception as err:  # noqa: BLE001 - any failure is reported to the test as an event
        emit("error", message="%s: %s" % (type(err).__name__, err))
        code = 1
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
