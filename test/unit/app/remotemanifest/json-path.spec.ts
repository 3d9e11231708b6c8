import { JsonPathError, parseJsonPath, scalarAt } from '../../../../src/app/remotemanifest/json-path.js';

const deployment = {
  metadata: { labels: { 'app.kubernetes.io/name': 'web' } },
  spec: { replicas: 3, paused: false, ports: [{ port: 80 }, { port: 443 }] },
  status: {
    readyReplicas: 2,
    conditions: [
      { type: 'Progressing', status: 'True' },
      { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable' },
    ],
  },
};

const at = (path: string): string | undefined => scalarAt(deployment, parseJsonPath(path));

describe('status feedback JSONPath', () => {
  it('reads fields, indexes, quoted keys and equality filters, with or without braces and $', () => {
    expect(at('.status.readyReplicas')).toBe('2');
    expect(at('{.spec.replicas}')).toBe('3');
    expect(at('$.spec.paused')).toBe('false');
    expect(at('spec.ports[1].port')).toBe('443');
    expect(at(".metadata.labels['app.kubernetes.io/name']")).toBe('web');
    expect(at('.status.conditions[?(@.type=="Available")].reason')).toBe('MinimumReplicasUnavailable');
    expect(at(".status.conditions[?(@.type=='Progressing')].status")).toBe('True');
  });

  it('gives nothing for what is missing or not a scalar', () => {
    expect(at('.status.updatedReplicas')).toBeUndefined();
    expect(at('.spec.ports[5].port')).toBeUndefined();
    expect(at('.status.conditions[?(@.type=="Ready")].status')).toBeUndefined();
    expect(at('.spec.ports')).toBeUndefined();
    expect(at('.spec')).toBeUndefined();
  });

  it('refuses what it does not support, saying where', () => {
    expect(() => parseJsonPath('.data[*]')).toThrow(JsonPathError);
    expect(() => parseJsonPath('.data[*]')).toThrow(/unsupported JSONPath at "\[\*\]"/);
    expect(() => parseJsonPath('..status')).toThrow(JsonPathError);
    expect(() => parseJsonPath('{}')).toThrow(/empty JSONPath/);
  });
});
