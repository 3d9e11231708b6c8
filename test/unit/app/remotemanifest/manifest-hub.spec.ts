import { ManifestHub, type Placement } from '../../../../src/app/remotemanifest/manifest-hub.js';

const placement = (key: string, generation: number): Placement => ({
  key,
  uid: 'u',
  generation,
  results: [],
  removals: [],
  feedback: [],
});

describe('ManifestHub', () => {
  it('hands a side the placements made before it attached, and forgets them when it leaves', () => {
    const hub = new ManifestHub();
    const events: string[] = [];
    hub.onEvent((e) => events.push(`${e.type} ${e.cluster}`));
    hub.publish('c', placement('ns/a', 1));
    const placed: string[] = [];
    const leave = hub.attach('c', { cached: () => undefined, placed: (key) => placed.push(key) });
    expect(hub.placementsOf('c').map((p) => p.key)).toEqual(['ns/a']);
    hub.publish('c', placement('ns/b', 1));
    expect(placed).toEqual(['ns/b']);

    // The cluster runs elsewhere meanwhile: what this replica published for it is old news.
    leave();
    expect(hub.placementsOf('c')).toEqual([]);
    expect(hub.clustersOf('ns/a')).toEqual([]);
    hub.attach('c', { cached: () => undefined, placed: () => undefined });
    expect(hub.placementsOf('c')).toEqual([]);
    expect(events).toEqual(['attached c', 'attached c']);
  });

  it('keeps the placements when a side that was already replaced leaves', () => {
    const hub = new ManifestHub();
    const side = { cached: () => undefined, placed: () => undefined };
    const leaveOld = hub.attach('c', side);
    hub.attach('c', { ...side });
    hub.publish('c', placement('ns/a', 2));
    leaveOld();
    expect(hub.placementsOf('c').map((p) => [p.key, p.generation])).toEqual([['ns/a', 2]]);
  });
});
