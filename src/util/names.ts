import { createHash } from 'node:crypto';

/**
 * A name within `max` characters: short names pass unchanged; longer ones are cut and end in a
 * hash of the whole name, so two long names that share a prefix stay distinct. The result stays
 * a valid DNS-1123 label/subdomain when the input is one (the cut never ends in '-' or '.').
 * Kubernetes allows 253 characters for most names but 63 for label values.
 */
export function boundedName(name: string, max = 63): string {
  if (name.length <= max) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 10);
  const keep = name.slice(0, Math.max(0, max - hash.length - 1)).replace(/[-.]+$/, '');
  return `${keep}-${hash}`;
}

/**
 * A name a remote cluster sent, as a log line shows it: as it is when it is a plain Kubernetes
 * name or key (letters, digits, '-', '.', '_', ':', '/'), else quoted as JSON and cut at 256
 * characters, so a line break or an escape sequence in it cannot forge a line of a text log.
 */
export function printable(name: string): string {
  return /^[\w.:/-]{0,256}$/.test(name) ? name : JSON.stringify(name.slice(0, 256));
}
