import { JsonLogger } from '../../../src/logging/json-logger.js';
import { redact } from '../../../src/logging/redact.js';

describe('redact', () => {
  it('masks PEM blocks, bearer tokens, JWTs and kubeconfig secret fields', () => {
    const pem =
      '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----';
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlc2lnbmF0dXJl';
    const out = redact(
      `key ${pem} auth Bearer abcdefghijklmnop token: supersecret123 client-key-data: QUJDREVG jwt ${jwt}`,
    );
    expect(out).not.toContain('MIGHAgEAMBMG');
    expect(out).not.toContain('abcdefghijklmnop');
    expect(out).not.toContain('supersecret123');
    expect(out).not.toContain('QUJDREVG');
    expect(out).not.toContain(jwt);
    expect(out).toContain('[REDACTED PEM]');
  });

  it('leaves ordinary messages alone, also names that end like a secret field', () => {
    expect(redact('cluster remote-1: Ready=False (Unreachable)')).toBe('cluster remote-1: Ready=False (Unreachable)');
    expect(redact('cluster bad-token: runtime started')).toBe('cluster bad-token: runtime started');
    expect(redact('prod-password: Ready=True (Synced)')).toBe('prod-password: Ready=True (Synced)');
  });

  it('still masks the fields in YAML and JSON kubeconfigs', () => {
    const yaml = redact('users:\n- name: a\n  user:\n    token: abcdefgh123\n    password: hunter2hunter');
    expect(yaml).not.toContain('abcdefgh123');
    expect(yaml).not.toContain('hunter2hunter');
    expect(redact('{"user":{"token":"abcdefgh123"}}')).not.toContain('abcdefgh123');
  });
});

describe('JsonLogger', () => {
  it('writes one redacted JSON object per line with level and context, and honours the level', () => {
    const lines: string[] = [];
    const logger = new JsonLogger('log', (line) => lines.push(line));
    logger.debug('hidden', 'X');
    logger.log('Bearer abcdefghijklmnopqrstu failed', 'Registry');
    logger.log('InstanceLoader chatter', 'InstanceLoader');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!) as Record<string, string>;
    expect(entry).toMatchObject({ level: 'log', context: 'Registry', msg: 'Bearer [REDACTED] failed' });
    expect(Date.parse(entry.time!)).not.toBeNaN();
  });

  it('logs any value without throwing, and keeps the arguments after the message', () => {
    const lines: string[] = [];
    const logger = new JsonLogger('log', (line) => lines.push(line));
    const cycle: Record<string, unknown> = { name: 'c' };
    cycle.self = cycle;
    logger.log(undefined);
    logger.log(cycle, 'Registry');
    logger.warn({ n: 10n });
    logger.error('failed', 'token: supersecret123', { cluster: 'east' }, 'Registry');
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.map((e) => e.msg)).toEqual([
      'undefined',
      "<ref *1> { name: 'c', self: [Circular *1] }",
      '{ n: 10n }',
      'failed',
    ]);
    expect(entries[1]!.context).toBe('Registry');
    expect(entries[3]).toMatchObject({ context: 'Registry', details: ['token: [REDACTED]', '{"cluster":"east"}'] });
  });
});
