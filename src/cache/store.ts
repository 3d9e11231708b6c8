import { keyOf, objectKey, type KubeObject } from './types.js';

/** Drops what controllers never read but costs memory: managedFields is often half an object. */
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
