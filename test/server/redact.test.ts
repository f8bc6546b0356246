import { describe, expect, it } from 'vitest';
import { REDACTED, Redactor } from '../../src/server/redact.js';

const secret = 'configured-secret-0123456789';
const redactor = new Redactor([secret, undefined]);

describe('Redactor', () => {
  it('hides the --auth-token value of a command line in both forms', () => {
    expect(redactor.argv(['cli.ts', 'serve', '--auth-token', 'any-value-at-all', '--log'])).toEqual([
      'cli.ts',
      'serve',
      '--auth-token',
      REDACTED,
      '--log',
    ]);
    expect(redactor.argv(['serve', '--auth-token=another-value'])).toEqual([
      'serve',
      `--auth-token=${REDACTED}`,
    ]);
    expect(redactor.argv(['serve', `--something=${secret}`])).toEqual(['serve', `--something=${REDACTED}`]);
  });

  it('hides the password of a --queue Redis URL, with or without a user name, and keeps the rest', () => {
    expect(redactor.argv(['serve', '--queue', 'redis://cones:s3cret-pass@10.0.0.1:6379/2'])).toEqual([
      'serve',
      '--queue',
      `redis://cones:${REDACTED}@10.0.0.1:6379/2`,
    ]);
    expect(redactor.argv(['worker', '--queue=rediss://:p%40ss@host:6380'])).toEqual([
      'worker',
      `--queue=rediss://:${REDACTED}@host:6380`,
    ]);
    expect(redactor.text('lost redis://127.0.0.1:6379 (no password)')).toBe(
      'lost redis://127.0.0.1:6379 (no password)',
    );
  });

  it('hides token query parameters, also with an encoded key, and the secret anywhere in a URL', () => {
    expect(redactor.url('/prompt?token=abc&x=1')).toBe(`/prompt?token=${REDACTED}&x=1`);
    expect(redactor.url('/prompt?x=1&tok%65n=abc')).toBe(`/prompt?x=1&tok%65n=${REDACTED}`);
    expect(redactor.url(`/view?filename=${encodeURIComponent(secret)}`)).toBe(`/view?filename=${REDACTED}`);
    expect(redactor.url('/object_info')).toBe('/object_info');
  });

  it('hides secrets in text: the configured one, Bearer values, the token cookie, the environment variable', () => {
    expect(redactor.text(`failed near ${secret}!`)).toBe(`failed near ${REDACTED}!`);
    expect(redactor.text('Authorization: Bearer abc.def')).toBe(`Authorization: Bearer ${REDACTED}`);
    expect(redactor.text('cookie: a=1; cones_token=xyz; b=2')).toBe(
      `cookie: a=1; cones_token=${REDACTED}; b=2`,
    );
    expect(redactor.text('CONES_AUTH_TOKEN=xyz cones-nodes serve')).toBe(
      `CONES_AUTH_TOKEN=${REDACTED} cones-nodes serve`,
    );
    expect(redactor.text('max_token=5, tokens: 77')).toBe('max_token=5, tokens: 77');
  });
});
