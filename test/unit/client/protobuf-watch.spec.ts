import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decodeProtobufWatchEvents } from '../../../src/client/protobuf/watch.js';
import {
  MalformedWatchEventError,
  WatchEventTooLargeError,
  type WatchEvent,
} from '../../../src/client/watch-decoder.js';
import { bool, bytes, entry, envelope, int, msg, str, varint, watchFrame } from '../../support/protobuf.js';

const SECONDS = 1_700_000_000; // 2023-11-14T22:13:20Z

async function decode(chunks: Buffer[], maxEventBytes?: number, dropManagedFields?: boolean): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  for await (const e of decodeProtobufWatchEvents(Readable.from(chunks), {
    what: 'watch /api/v1/pods',
    maxEventBytes,
    dropManagedFields,
  })) {
    events.push(e);
  }
  return events;
}

const failure = async (chunks: Buffer[], maxEventBytes?: number, dropManagedFields?: boolean): Promise<Error> => {
  try {
    await decode(chunks, maxEventBytes, dropManagedFields);
  } catch (err) {
    return err as Error;
  }
  throw new Error('decoded without an error');
};

/** A Pod as an apiserver writes it: non-pointer fields even when zero, as Kubernetes' protobuf does. */
const POD = envelope(
  'v1',
  'Pod',
  msg(
    1,
    str(1, 'p1'),
    str(2, ''), // generateName: omitempty, left out
    str(3, 'default'),
    str(5, 'u1'),
    str(6, '42'),
    int(7, 0), // generation: omitempty, left out
    msg(8, int(1, SECONDS)),
    entry(11, 'app', 'web'),
  ),
  msg(
    2,
    msg(
      2,
      str(1, 'c'),
      str(2, 'nginx'),
      msg(6, int(3, 80), int(2, 0), str(4, 'TCP')),
      msg(8, entry(1, 'cpu', msg(2, str(1, '500m')))),
      bool(18, false),
    ),
    msg(1, str(1, 'scratch'), msg(2, msg(2, str(1, 'Memory')))), // a volume: its source is inline in JSON
    int(4, 0), // terminationGracePeriodSeconds: a pointer, kept at zero
    msg(22, str(1, 'k'), int(5, -1)),
  ),
  msg(3, str(1, 'Running'), msg(7, int(1, SECONDS))),
);

/** The same Pod as the apiserver's JSON. */
const POD_JSON = {
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: {
    name: 'p1',
    namespace: 'default',
    uid: 'u1',
    resourceVersion: '42',
    creationTimestamp: '2023-11-14T22:13:20Z',
    labels: { app: 'web' },
  },
  spec: {
    volumes: [{ name: 'scratch', emptyDir: { medium: 'Memory' } }],
    containers: [
      {
        name: 'c',
        image: 'nginx',
        ports: [{ containerPort: 80, protocol: 'TCP' }],
        resources: { limits: { cpu: '500m' } },
      },
    ],
    terminationGracePeriodSeconds: 0,
    tolerations: [{ key: 'k', tolerationSeconds: -1 }],
  },
  status: { phase: 'Running', startTime: '2023-11-14T22:13:20Z' },
};

describe('decodeProtobufWatchEvents', () => {
  it('gives each object the JSON shape: zeros left out or written as Go writes them, inline structs, times, quantities', async () => {
    expect(await decode([watchFrame('ADDED', POD)])).toEqual([{ type: 'ADDED', object: POD_JSON }]);
  });

  it('writes the zero of every field JSON never leaves out: struct fields, non-omitempty scalars, nil slices as null', async () => {
    const bare = envelope('v1', 'Pod', msg(2, msg(2, str(1, 'c'))));
    const [event] = await decode([watchFrame('MODIFIED', bare)]);
    expect(event!.object).toEqual({
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: {},
      spec: { containers: [{ name: 'c', resources: {} }] },
      status: {},
    });
    const empty = await decode([watchFrame('DELETED', envelope('v1', 'Pod'))]);
    expect(empty[0]!.object).toEqual({
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: {},
      spec: { containers: null },
      status: {},
    });
  });

  it('reads MicroTime to the microsecond, a pointer string that is empty, IntOrString in both forms, bytes as base64', async () => {
    const lease = envelope(
      'coordination.k8s.io/v1',
      'Lease',
      msg(1, str(1, 'l')),
      msg(2, str(1, ''), msg(4, int(1, SECONDS), int(2, 123_456_789))),
    );
    const service = envelope(
      'v1',
      'Service',
      msg(
        2,
        msg(1, int(3, 80), msg(4, int(1, 0), int(2, 8080))),
        msg(1, int(3, 443), msg(4, int(1, 1), str(3, 'https'))),
      ),
    );
    const configMap = envelope('v1', 'ConfigMap', entry(3, 'blob', bytes(2, Buffer.from([0, 1, 254, 255]))));
    const events = await decode([
      watchFrame('ADDED', lease),
      watchFrame('ADDED', service),
      watchFrame('ADDED', configMap),
    ]);
    expect(events.map((e) => e.object)).toEqual([
      {
        kind: 'Lease',
        apiVersion: 'coordination.k8s.io/v1',
        metadata: { name: 'l' },
        spec: { holderIdentity: '', renewTime: '2023-11-14T22:13:20.123456Z' },
      },
      {
        kind: 'Service',
        apiVersion: 'v1',
        metadata: {},
        spec: {
          ports: [
            { port: 80, targetPort: 8080 },
            { port: 443, targetPort: 'https' },
          ],
        },
        status: { loadBalancer: {} },
      },
      { kind: 'ConfigMap', apiVersion: 'v1', metadata: {}, binaryData: { blob: 'AAH+/w==' } },
    ]);
  });

  it('keeps a map key "__proto__" as an own entry, as JSON.parse does, not as the map\'s prototype', async () => {
    const resources = msg(8, entry(1, '__proto__', msg(2, str(1, '1'))), entry(1, 'cpu', msg(2, str(1, '2'))));
    const pod = envelope('v1', 'Pod', msg(1, entry(11, '__proto__', 'x')), msg(2, msg(2, str(1, 'c'), resources)));
    const [event] = await decode([watchFrame('ADDED', pod)]);
    const object = event!.object as {
      metadata: { labels: object };
      spec: { containers: { resources: { limits: object } }[] };
    };
    const limits = object.spec.containers[0]!.resources.limits;
    expect(Object.getPrototypeOf(object.metadata.labels)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(limits)).toBe(Object.prototype);
    expect(object.metadata.labels).toEqual(JSON.parse('{"__proto__":"x"}'));
    expect(Object.entries(limits)).toEqual([
      ['__proto__', '1'],
      ['cpu', '2'],
    ]);
  });

  it('reads every short string right, shared or not: non-ASCII ones, and more distinct ones than the table of shared strings holds', async () => {
    const values = Array.from({ length: 6_000 }, (_, i) => `v${i.toString(36)}`);
    values.push('ü', 'äöü-ß', '✓✓✓✓✓');
    const pods = values.map((v) => watchFrame('ADDED', envelope('v1', 'Pod', msg(1, str(1, v), entry(11, 'k', v)))));
    const events = await decode([Buffer.concat(pods), ...pods]);
    const read = events.map((e) => {
      const { name, labels } = e.object.metadata as { name: string; labels: { k: string } };
      expect(labels.k).toBe(name);
      return name;
    });
    expect(read).toEqual([...values, ...values]);
  });

  it('reads frames split anywhere across chunks, and several frames in one chunk', async () => {
    const stream = Buffer.concat([
      watchFrame('ADDED', POD),
      watchFrame('BOOKMARK', envelope('v1', 'Pod', msg(1, str(6, '43')))),
    ]);
    const byteByByte = [...stream].map((b) => Buffer.from([b]));
    const expected = await decode([stream]);
    expect(expected.map((e) => e.type)).toEqual(['ADDED', 'BOOKMARK']);
    expect(await decode(byteByByte)).toEqual(expected);
  });

  it('fails a frame over the limit from its header, before buffering it', async () => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(1_000_000);
    const err = await failure([head], 1024);
    expect(err).toBeInstanceOf(WatchEventTooLargeError);
  });

  // Each check names what failed and never what the bytes held.
  it.each([
    [
      'a length past the end of its message',
      watchFrame('ADDED', Buffer.concat([envelope('v1', 'Pod'), Buffer.from([0x0a, 0x7f])])),
      'length runs past its message',
    ],
    [
      // Field 3 of the WatchEvent, length -11 (a 10-byte varint): back to its own tag, forever.
      'a negative length pointing back at its own tag',
      Buffer.from([0, 0, 0, 0x0b, 0x1a, 0xf5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
      'length out of range',
    ],
    [
      'a negative length pointing before the message',
      watchFrame('ADDED', Buffer.concat([envelope('v1', 'Pod'), Buffer.from([0x1a]), varint(-1000)])),
      'length out of range',
    ],
    [
      'a field the table does not know (newer than it)',
      watchFrame('ADDED', envelope('v1', 'Pod', msg(1, str(99, 'secret-value')))),
      'field 99 of meta/v1.ObjectMeta is not in the table',
    ],
    [
      'a kind the table does not know',
      watchFrame('ADDED', envelope('example.com/v1', 'Widget')),
      'kind not in the protobuf table',
    ],
    ['no envelope', watchFrame('ADDED', Buffer.from('{"kind":"Pod"}')), 'no protobuf envelope'],
    [
      'a varint longer than 10 bytes',
      watchFrame('ADDED', envelope('v1', 'Pod', msg(1, Buffer.from([0x38]), Buffer.alloc(11, 0xff)))),
      'varint',
    ],
    [
      'a wire type where another is due',
      watchFrame('ADDED', envelope('v1', 'Pod', msg(1, int(1, 5)))),
      'wire type 0 where String needs 2',
    ],
    ['an unknown event type', watchFrame('SECRET', envelope('v1', 'Pod')), '"type" is not one of'],
    [
      'an embedded object that is not JSON',
      watchFrame('ADDED', envelope('apps/v1', 'ControllerRevision', msg(2, bytes(1, 'not-json-secret')))),
      'an embedded object is not JSON',
    ],
  ])('ends the stream on %s', async (_what, frame, check) => {
    const err = await failure([frame]);
    expect(err).toBeInstanceOf(MalformedWatchEventError);
    expect((err as MalformedWatchEventError).check).toContain(check);
    expect(err.message).not.toMatch(/secret/);
  });

  it('reads repeated numbers one by one and packed, and refuses other wire types for a message, map or inline struct', async () => {
    // PodSpec.securityContext (14) .supplementalGroups (4): repeated int64.
    const groups = (...fields: Buffer[]): Buffer => envelope('v1', 'Pod', msg(2, msg(14, ...fields)));
    const packed = bytes(4, Buffer.concat([varint(1), varint(300), varint(-2)]));
    for (const fields of [
      [int(4, 1), int(4, 300), int(4, -2)],
      [packed],
      [int(4, 1), bytes(4, Buffer.concat([varint(300), varint(-2)]))],
    ]) {
      const [event] = await decode([watchFrame('ADDED', groups(...fields))]);
      expect((event!.object.spec as { securityContext: unknown }).securityContext).toEqual({
        supplementalGroups: [1, 300, -2],
      });
    }
    const wrongWire = async (pod: Buffer): Promise<string> =>
      ((await failure([watchFrame('ADDED', pod)])) as MalformedWatchEventError).check;
    // metadata (a message), labels (a map), a volume's source (an inline struct) as varints.
    expect(await wrongWire(envelope('v1', 'Pod', int(1, 7)))).toBe('wire type 0 where Message needs 2');
    expect(await wrongWire(envelope('v1', 'Pod', msg(1, int(11, 7))))).toBe('wire type 0 where Map needs 2');
    expect(await wrongWire(envelope('v1', 'Pod', msg(2, msg(1, int(2, 7)))))).toBe('wire type 0 where Message needs 2');
  });

  it('lets go of the bytes it read once the decode is over (they may be a large event)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // A buffer of its own (Buffer.alloc never uses Node's shared pool), whose collection a WeakRef
    // shows; made and decoded in a function of its own, so that nothing here holds it after.
    const bytes = await (async (): Promise<WeakRef<ArrayBufferLike>> => {
      const encoded = watchFrame('ADDED', POD);
      const frame = Buffer.alloc(encoded.length);
      encoded.copy(frame);
      const events = await decode([frame]);
      expect(events[0]!.object).toEqual(POD_JSON);
      return new WeakRef(frame.buffer);
    })();
    // A WeakRef holds its target until the current job ends.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(bytes.deref()).toBeUndefined();
  });

  it('ends the stream when it stops inside a frame', async () => {
    const frame = watchFrame('ADDED', POD);
    const err = await failure([frame.subarray(0, frame.length - 3)]);
    expect((err as MalformedWatchEventError).check).toBe('stream ended inside a frame');
  });

  it('leaves managedFields out unread when asked, still checking its bytes, and reads it otherwise', async () => {
    const fields = '{"f:metadata":{"f:labels":{}}}';
    const managed = msg(
      17,
      str(1, 'kubectl'),
      str(2, 'Apply'),
      str(3, 'v1'),
      str(6, 'FieldsV1'),
      msg(7, str(1, fields)),
    );
    const pod = envelope('v1', 'Pod', msg(1, str(1, 'p1'), managed, str(3, 'default')));
    const [kept] = await decode([watchFrame('ADDED', pod)]);
    expect(kept!.object.metadata).toEqual({
      name: 'p1',
      namespace: 'default',
      managedFields: [
        {
          manager: 'kubectl',
          operation: 'Apply',
          apiVersion: 'v1',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:metadata': { 'f:labels': {} } },
        },
      ],
    });
    const [dropped] = await decode([watchFrame('ADDED', pod)], undefined, true);
    expect(dropped!.object).toEqual({ ...kept!.object, metadata: { name: 'p1', namespace: 'default' } });
    // Field 17, length-delimited, claiming 127 bytes where 1 follows: skipped or not, it is not an object.
    const cut = envelope('v1', 'Pod', msg(1, Buffer.from([0x8a, 0x01, 0x7f, 0x00])));
    const err = await failure([watchFrame('ADDED', cut)], undefined, true);
    expect(err).toBeInstanceOf(MalformedWatchEventError);
    expect((err as MalformedWatchEventError).check).toBe('length runs past its message');
  });

  it('shares managedFields field sets between objects, frozen, only when asked', async () => {
    const managed = msg(17, str(1, 'kubectl'), msg(7, str(1, '{"f:metadata":{"f:labels":{"f:shared":{}}}}')));
    const frames = ['p1', 'p2'].map((name) =>
      watchFrame('ADDED', envelope('v1', 'Pod', msg(1, str(1, name), managed, str(3, 'default')))),
    );
    const fieldsOf = (events: WatchEvent[]): unknown[] =>
      events.map((e) => (e.object.metadata as { managedFields: { fieldsV1: unknown }[] }).managedFields[0]!.fieldsV1);
    const own = fieldsOf(await decode(frames));
    expect(own[0]).toEqual({ 'f:metadata': { 'f:labels': { 'f:shared': {} } } });
    expect(own[0]).not.toBe(own[1]);
    expect(Object.isFrozen(own[0])).toBe(false);
    const events: WatchEvent[] = [];
    for await (const e of decodeProtobufWatchEvents(Readable.from(frames), { what: 'watch', shareFieldSets: true })) {
      events.push(e);
    }
    const shared = fieldsOf(events);
    expect(shared[0]).toEqual(own[0]);
    expect(shared[0]).toBe(shared[1]);
    expect(Object.isFrozen(shared[0])).toBe(true);
  });

  it('reads 64-bit negative numbers and large ones as Go writes them', async () => {
    const pod = envelope('v1', 'Pod', msg(1, int(10, -5)), msg(2, int(5, 2 ** 40)));
    const [event] = await decode([watchFrame('ADDED', pod)]);
    expect(event!.object).toMatchObject({
      metadata: { deletionGracePeriodSeconds: -5 },
      spec: { activeDeadlineSeconds: 2 ** 40 },
    });
    expect(varint(-1)).toHaveLength(10);
  });
});
