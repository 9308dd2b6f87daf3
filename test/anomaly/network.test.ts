import { describe, expect, it } from 'vitest';
import { networkOf, userAgentFamily } from '../../src/anomaly/index.js';

describe('networkOf', () => {
  it('names the /16 of an IPv4 address and the /48 of an IPv6 one', () => {
    expect(networkOf('203.0.113.9')).toBe('203.0.0.0/16');
    expect(networkOf('::ffff:203.0.113.9')).toBe('203.0.0.0/16');
    expect(networkOf('2001:db8:1:2::7')).toBe('2001:db8:1::/48');
    expect(networkOf('2001:db8::1')).toBe('2001:db8::/48');
    expect(networkOf('fe80::1%eth0')).toBe('fe80::/48');
    expect(networkOf('::1.2.3.4', 16, 128)).toBe('::102:304/128');
  });

  it('takes other prefixes, even ones that cut a byte', () => {
    expect(networkOf('203.0.113.9', 24)).toBe('203.0.113.0/24');
    expect(networkOf('203.0.113.9', 20)).toBe('203.0.112.0/20');
    expect(networkOf('203.0.113.9', 32)).toBe('203.0.113.9/32');
    expect(networkOf('2001:db8:1:2:3:4:5:6', 16, 64)).toBe('2001:db8:1:2::/64');
  });

  it('gives null for what is not an address', () => {
    expect(networkOf(null)).toBeNull();
    expect(networkOf('')).toBeNull();
    expect(networkOf('example.com')).toBeNull();
    expect(networkOf('999.1.1.1')).toBeNull();
  });
});

describe('userAgentFamily', () => {
  const agents: [string, string][] = [
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
      'Chrome',
    ],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
      'Edge',
    ],
    ['Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0', 'Firefox'],
    [
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
      'Safari',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1',
      'Chrome',
    ],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0',
      'Opera',
    ],
    ['curl/8.5.0', 'curl'],
    ['python-requests/2.32.3', 'Python'],
    ['something nobody knows', 'Other'],
  ];

  it.each(agents)('reads %s as %s', (agent, family) => {
    expect(userAgentFamily(agent)).toBe(family);
  });

  it('ignores versions: an updated browser is the same family', () => {
    expect(
      userAgentFamily('Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0'),
    ).toBe(userAgentFamily('Mozilla/5.0 (Windows NT 10.0; rv:133.0) Gecko/20100101 Firefox/133.0'));
  });

  it('gives null without a User-Agent', () => {
    expect(userAgentFamily(null)).toBeNull();
    expect(userAgentFamily('  ')).toBeNull();
  });
});
