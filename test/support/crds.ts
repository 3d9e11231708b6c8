import type { V1CustomResourceDefinition } from '@kubernetes/client-node';

/** A namespaced Widget CRD of `group` (`spec.size`, an integer), served at each of `versions`
 * and stored as the last. */
export function widgetCrd(group: string, versions: string[] = ['v1']): V1CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `widgets.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
      versions: versions.map((name, i) => ({
        name,
        served: true,
        storage: i === versions.length - 1,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
          },
        },
      })),
    },
  };
}
