#!/usr/bin/python3
"""libtorrent DHT nodes on loopback, driven line by line: the independent peers of
nexo's Mainline DHT interop tests (tests/overlay/).

    lt_dht.py --nodes N [--port P]      N libtorrent 2.0 sessions on 127.0.0.1,
                                        DHT only, ports P.. (0: any free port)
      [--address A]                     on address A instead (a test's own namespace)
      [--enforce-node-id]               dht_enforce_node_id on: BEP 42 ids required

Prints `node I PORT IDHEX` for each session once its DHT runs, then `ready`.
Then reads commands from stdin, one per line, and answers each with one line:

    add I PORT [HOST]          add_dht_node(HOST:PORT) to session I (HOST: 127.0.0.1)
                                                                             -> ok
    put_imm I TEXT             put the string TEXT as an immutable item      -> put_imm TARGET OK_COUNT
    get_imm I TARGET           get an immutable item                         -> item HEX_BENCODED | none
    put_mut I SK PK SALT TEXT  put TEXT as a mutable item, keys in hex (SK: libtorrent's 64-byte
                               expanded secret key, PK: the 32-byte public key; SALT '-' for none)
                                                                             -> put_mut OK_COUNT
    get_mut I PK SALT          get a mutable item                            -> item SEQ HEX_BENCODED | none
    table I                    the endpoints in session I's routing table    -> table PORT PORT ...
    table_eps I                the same with their addresses                 -> table IP:PORT ...
    quit

Settings for loopback, as the issue describes libtorrent 2.0.8 there: routing and search IP
restrictions off (every node is 127.0.0.1), the per-IP rate limits raised, no bootstrap
routers, and nothing is asked of the DHT before is_dht_running().
Errors go to stderr and end the process with status 1; a get that finds nothing in
--timeout seconds answers `none`.
"""
import argparse
import sys
import time

import libtorrent as lt

CATEGORIES = lt.alert.category_t.dht_notification | lt.alert.category_t.dht_operation_notification | \
    lt.alert.category_t.error_notification


def make_session(address, port, enforce_node_id):
    return lt.session({
        'listen_interfaces': '%s:%d' % (address, port),
        'enable_dht': True, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
        'dht_bootstrap_nodes': '',
        'dht_restrict_routing_ips': False, 'dht_restrict_search_ips': False,
        'dht_block_ratelimit': 1000000, 'dht_upload_rate_limit': 100000000,
        'dht_enforce_node_id': enforce_node_id,
        'alert_mask': CATEGORIES,
    })


def own_id(session):
    state = session.save_state(lt.save_state_flags_t.save_dht_state)[b'dht state']
    ids = state.get(b'node-id', [])
    return ids[0][:20] if ids else b''


def wait_for(session, accept, timeout):
    """Pops alerts until accept(alert) returns non-None, or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session.wait_for_alert(int(max(1, (deadline - time.monotonic()) * 1000)))
        for alert in session.pop_alerts():
            result = accept(alert)
            if result is not None:
                return result
    return None


def entry_value(alert):
    """The item of a DHT item alert, or None: none came, or libtorrent found nothing (its
    entry is then uninitialized, and reading it raises). The binding gives an item as
    {'key': ..., 'value': ...} or as the value itself."""
    if alert is None:
        return None
    try:
        item = alert.item
    except RuntimeError:
        return None
    if isinstance(item, dict) and 'value' in item and 'key' in item:
        return item['value']
    return item


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--nodes', type=int, default=1)
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--timeout', type=float, default=20.0)
    parser.add_argument('--address', default='127.0.0.1')
    parser.add_argument('--enforce-node-id', action='store_true')
    args = parser.parse_args()

    sessions = [make_session(args.address, args.port + i if args.port else 0, args.enforce_node_id)
                for i in range(args.nodes)]
    deadline = time.monotonic() + 30
    for i, s in enumerate(sessions):
        while not s.is_dht_running():
            if time.monotonic() > deadline:
                print('lt_dht: session %d: the DHT did not start in 30 s' % i, file=sys.stderr)
                return 1
            time.sleep(0.02)
        print('node %d %d %s' % (i, s.listen_port(), own_id(s).hex()), flush=True)
    print('ready', flush=True)

    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd, rest = words[0], words[1:]
        if cmd == 'quit':
            break
        s = sessions[int(rest[0])]
        if cmd == 'add':
            s.add_dht_node((rest[2] if len(rest) > 2 else '127.0.0.1', int(rest[1])))
            print('ok', flush=True)
        elif cmd == 'put_imm':
            target = s.dht_put_immutable_item(rest[1])
            count = wait_for(s, lambda a: a.num_success if isinstance(a, lt.dht_put_alert) else None,
                             args.timeout)
            print('put_imm %s %d' % (target, count or 0), flush=True)
        elif cmd == 'get_imm':
            s.dht_get_immutable_item(lt.sha1_hash(bytes.fromhex(rest[1])))
            alert = wait_for(s, lambda a: a if isinstance(a, lt.dht_immutable_item_alert) else None,
                             args.timeout)
            value = entry_value(alert)
            print('item %s' % lt.bencode(value).hex() if value is not None else 'none', flush=True)
        elif cmd == 'put_mut':
            sk, pk = bytes.fromhex(rest[1]), bytes.fromhex(rest[2])
            salt = b'' if rest[3] == '-' else rest[3].encode()
            s.dht_put_mutable_item(sk, pk, rest[4].encode(), salt)
            count = wait_for(s, lambda a: a.num_success if isinstance(a, lt.dht_put_alert) else None,
                             args.timeout)
            print('put_mut %d' % (count or 0), flush=True)
        elif cmd == 'get_mut':
            pk = bytes.fromhex(rest[1])
            salt = b'' if rest[2] == '-' else rest[2].encode()
            s.dht_get_mutable_item(pk, salt)

            def found(a):
                if isinstance(a, lt.dht_mutable_item_alert) and a.authoritative:
                    return a
                return None
            alert = wait_for(s, found, args.timeout)
            value = entry_value(alert)
            if value is None:
                print('none', flush=True)
            else:
                print('item %d %s' % (alert.seq, lt.bencode(value).hex()), flush=True)
        elif cmd == 'table':
            state = s.save_state(lt.save_state_flags_t.save_dht_state)[b'dht state']
            ports = [int.from_bytes(n[4:6], 'big') for n in state.get(b'nodes', []) if len(n) == 6]
            print('table ' + ' '.join(str(p) for p in ports), flush=True)
        elif cmd == 'table_eps':
            state = s.save_state(lt.save_state_flags_t.save_dht_state)[b'dht state']
            eps = ['%d.%d.%d.%d:%d' % (n[0], n[1], n[2], n[3], int.from_bytes(n[4:6], 'big'))
                   for n in state.get(b'nodes', []) if len(n) == 6]
            print('table ' + ' '.join(eps), flush=True)
        else:
            print('lt_dht: unknown command %r' % cmd, file=sys.stderr)
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
