import { describe, expect, it } from 'vitest';
import { assertSafeBind, checkOrigin, checkToken, isLoopbackHost } from '../../src/server/security.js';

describe('isLoopbackHost', () => {
  it.each(['127.0.0.1', '127.1.2.3', 'localhost', 'app.localhost', '::1', '[::1]', '::ffff:127.0.0.1'])(
    '%s is loopback',
    (h) => expect(isLoopbackHost(h)).toBe(true),
  );
  it.each(['0.0.0.0', '192.168.1.2', 'example.com', '::', 'localhost.evil.com'])('%s is not loopback', (h) =>
    expect(isLoopbackHost(h)).toBe(false),
  );
});

describe('checkOrigin (ComfyUI rule)', () => {
  const loose = { guardRebinding: false };
  it('passes requests without Origin and same host:port origins', () => {
    expect(checkOrigin({ host: '127.0.0.1:8189' }, loose)).toBeNull();
    expect(checkOrigin({ host: '127.0.0.1:8189', origin: 'http://127.0.0.1:8189' }, loose)).toBeNull();
  });
  it('refuses another origin, another port, or a malformed origin to a loopback host', () => {
    expect(checkOrigin({ host: '127.0.0.1:8189', origin: 'http://evil.com' }, loose)?.status).toBe(403);
    expect(checkOrigin({ host: 'localhost:8189', origin: 'http://localhost:3000' }, loose)?.type).toBe(
      'forbidden_origin',
    );
    expect(checkOrigin({ host: '127.0.0.1:8189', origin: 'not a url' }, loose)?.status).toBe(403);
  });
  it('leaves non-loopback hosts to the token check, unless guarding against DNS rebinding', () => {
    expect(checkOrigin({ host: 'box.lan:8189', origin: 'http://other' }, loose)).toBeNull();
    expect(checkOrigin({ host: 'evil.com', origin: 'http://evil.com' }, { guardRebinding: true })?.type).toBe(
      'forbidden_host',
    );
  });
});

describe('checkToken', () => {
  it('accepts Bearer, query and cookie tokens and refuses missing or wrong ones', () => {
    expect(checkToken({}, '/x', undefined)).toBeNull();
    expect(checkToken({ authorization: 'Bearer t0k' }, '/x', 't0k')).toBeNull();
    expect(checkToken({}, '/x?a=1&token=t0k', 't0k')).toBeNull();
    expect(checkToken({ cookie: 'a=b; cones_token=t0k' }, '/x', 't0k')).toBeNull();
    expect(checkToken({}, '/x', 't0k')?.message).toMatch(/Missing/);
    expect(checkToken({ authorization: 'Bearer t0', cookie: '' }, '/x', 't0k')?.status).toBe(401);
  });
});

describe('assertSafeBind', () => {
  it('allows loopback always and other addresses only with a token or --insecure', () => {
    expect(() => assertSafeBind('127.0.0.1', undefined, false)).not.toThrow();
    expect(() => assertSafeBind('0.0.0.0', undefined, false)).toThrow(/--insecure/);
    expect(() => assertSafeBind('0.0.0.0', 'tok', false)).not.toThrow();
    expect(() => assertSafeBind('0.0.0.0', undefined, true)).not.toThrow();
  });
});
