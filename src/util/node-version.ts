// Imported first by the package's entry points, so it runs before any dependency is evaluated:
// on an older Node, @kubernetes/client-node's HTTP stack (undici) fails deep inside with
// "Cannot read properties of undefined (reading 'bind')", which says nothing about the cause.
const REQUIRED = [22, 19] as const;
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < REQUIRED[0] || (major === REQUIRED[0] && minor < REQUIRED[1])) {
  throw new Error(
    `clusterregistry needs Node.js ${REQUIRED.join('.')} or newer (its Kubernetes client requires it); ` +
      `this is Node.js ${process.versions.node}`,
  );
}
export {};
