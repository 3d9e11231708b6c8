import { sharedFieldsV1 } from '../client/fields-v1.js';
import { keyOf, objectKey, type KubeObject } from './types.js';

/** The cache's default transform: keeps managedFields, as controller-runtime's cache does, with
 * each entry's field set shared by every object that has the same one (frozen). Objects decoded
 * from protobuf come with it shared already; this does the same for those read as JSON. */
export function shareManagedFields<T extends KubeObject>(obj: T): T {
  const entries = obj.metadata?.managedFields;
  if (!Array.isArray(entries)) return obj;
  for (const entry of entries) {
    if (entry !== null && typeof entry === 'object' && 'fieldsV1' in entry) {
      entry.fieldsV1 = sharedFieldsV1(entry.fieldsV1);
    }
  }
  return obj;
}

/** A transform that drops managedFields (a third of a Pod as JSON), for a cache whose readers never
 * look at them. The decoder then skips them unread. */
export function stripManagedFields<T extends KubeObject>(obj: T): T {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
  return obj;
}

/** An informer's object cache: cheap reads by key, a snapshot list. Objects are shared, not
 * copied: readers must not mutate them. */
export class ObjectStore<T extends KubeObject = KubeObject> {
  private items = new Map<string, T>();

  get size(): number {
    return this.items.size;
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  getByName(namespace: string | undefined, name: string): T | undefined {
    return this.items.get(keyOf(namespace, name));
  }

  list(namespace?: string): T[] {
    const all = [...this.items.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  keys(): IterableIterator<string> {
    return this.items.keys();
  }

  /** Stores the object; returns what it replaced. */
  set(obj: T): T | undefined {
    const key = objectKey(obj);
    const old = this.items.get(key);
    this.items.set(key, obj);
    return old;
  }

  delete(obj: T): T | undefined {
    const key = objectKey(obj);
    const old = this.items.get(key);
    this.items.delete(key);
    return old;
  }

  /** Swaps in a full list, by key (the map is the store's from now on), and returns the previous
   * content, for the relist diff. */
  replace(objects: Map<string, T>): Map<string, T> {
    const previous = this.items;
    this.items = objects;
    return previous;
  }
}
