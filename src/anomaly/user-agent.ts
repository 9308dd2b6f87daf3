/**
 * Browser and client families, most specific first: Edge, Opera, Samsung
 * Internet and the in-app browsers all say "Chrome" or "Safari" too, and
 * Chrome says "Safari".
 */
const FAMILIES: readonly [family: string, pattern: RegExp][] = [
  ['Edge', /\bEdg(?:e|A|iOS)?\//],
  ['Opera', /\b(?:OPR|Opera|OPiOS)\//],
  ['Samsung Internet', /\bSamsungBrowser\//],
  ['Yandex', /\bYaBrowser\//],
  ['Vivaldi', /\bVivaldi\//],
  ['Firefox', /\b(?:Firefox|FxiOS)\//],
  ['Chrome', /\b(?:Chrome|Chromium|CriOS)\//],
  ['Safari', /\bVersion\/[\d.]+.*\bSafari\//],
  ['Internet Explorer', /\b(?:MSIE |Trident\/)/],
  ['curl', /^curl\//],
  ['Wget', /^Wget\//],
  ['Python', /^(?:python-requests|Python-urllib|aiohttp|httpx)\//i],
  ['Go', /^Go-http-client\//],
  ['Java', /^(?:Java|Apache-HttpClient|okhttp)\//i],
  ['Node.js', /^(?:node-fetch|undici|axios|node)\b/i],
  ['Postman', /^PostmanRuntime\//],
];

/**
 * The family of client a User-Agent names (`Chrome`, `Firefox`, `Safari`,
 * `curl`…), which stays the same across the client's updates; `Other` for a
 * User-Agent of no known family and null for none at all. Versions and
 * platforms are ignored on purpose: they change without any change of hands.
 */
export function userAgentFamily(userAgent: string | null): string | null {
  if (userAgent === null || userAgent.trim() === '') return null;
  for (const [family, pattern] of FAMILIES) if (pattern.test(userAgent)) return family;
  return 'Other';
}
