/**
 * The JSONPath subset status feedback accepts, as kubectl writes it (braces optional): fields
 * (`.status.readyReplicas`, `['a.b']`), indexes (`[0]`) and equality filters
 * (`[?(@.type=="Ready")]`, the first match). Only scalars come out: objects and lists are not
 * feedback values.
 */
type Step = { field: string } | { index: number } | { filter: { path: string[]; value: string } };

export class JsonPathError extends Error {
  override readonly name = 'JsonPathError';
}

const FIELD = /^\.([A-Za-z_$][\w$-]*)/;
const QUOTED = /^\[\s*(['"])((?:(?!\1).)*)\1\s*\]/;
const INDEX = /^\[\s*(\d+)\s*\]/;
const FILTER = /^\[\s*\?\(\s*@((?:\.[A-Za-z_$][\w$-]*)+)\s*==\s*(['"])((?:(?!\2).)*)\2\s*\)\s*\]/;

export function parseJsonPath(text: string): Step[] {
  let rest = text.trim();
  if (rest.startsWith('{') && rest.endsWith('}')) rest = rest.slice(1, -1).trim();
  if (rest.startsWith('$')) rest = rest.slice(1);
  if (!rest) throw new JsonPathError(`empty JSONPath "${text}"`);
  if (!rest.startsWith('.') && !rest.startsWith('[')) rest = `.${rest}`;
  const steps: Step[] = [];
  while (rest) {
    let m: RegExpExecArray | null;
    if ((m = FIELD.exec(rest))) steps.push({ field: m[1]! });
    else if ((m = QUOTED.exec(rest))) steps.push({ field: m[2]! });
    else if ((m = INDEX.exec(rest))) steps.push({ index: Number(m[1]) });
    else if ((m = FILTER.exec(rest))) steps.push({ filter: { path: m[1]!.slice(1).split('.'), value: m[3]! } });
    else throw new JsonPathError(`unsupported JSONPath at "${rest.slice(0, 40)}" in "${text}"`);
    rest = rest.slice(m[0].length);
  }
  return steps;
}

function get(value: unknown, key: string | number): unknown {
  if (typeof value !== 'object' || value === null) return undefined;
  return (value as Record<string | number, unknown>)[key];
}

/** The scalar at `steps` in `obj` as text, or undefined (missing, or not a scalar). */
export function scalarAt(obj: unknown, steps: Step[]): string | undefined {
  let current: unknown = obj;
  for (const step of steps) {
    if ('field' in step) current = get(current, step.field);
    else if ('index' in step) current = Array.isArray(current) ? current[step.index] : undefined;
    else {
      const { path, value } = step.filter;
      current = Array.isArray(current)
        ? current.find((item) => String(path.reduce<unknown>((v, k) => get(v, k), item)) === value)
        : undefined;
    }
    if (current === undefined) return undefined;
  }
  return typeof current === 'string' || typeof current === 'number' || typeof current === 'boolean'
    ? String(current)
    : undefined;
}
