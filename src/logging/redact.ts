/**
 * Last line of defence against credentials in logs: whatever a message carries (an apiserver's
 * echo, a user's error), PEM blocks, bearer/basic credentials and kubeconfig secret fields are
 * masked before a line is written. The code itself never logs a kubeconfig or a Secret.
 */
const PATTERNS: [RegExp, string][] = [
  [/-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g, '[REDACTED PEM]'],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, '$1 [REDACTED]'],
  [
    // A field of its own (not the end of a longer name such as a cluster called "bad-token").
    /((?<![\w-])["']?(?:client-key-data|client-certificate-data|certificate-authority-data|token|password|id-token|refresh-token|access-token|client-secret)["']?\s*[:=]\s*["']?)[^\s"',}]{4,}/gi,
    '$1[REDACTED]',
  ],
  // A JWT (service-account tokens) anywhere.
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/g, '[REDACTED JWT]'],
];

export function redact(text: string): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}
