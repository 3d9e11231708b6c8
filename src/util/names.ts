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
