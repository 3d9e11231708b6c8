// @peculiar/x509 uses tsyringe, which needs the Reflect polyfill loaded first.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// A tiny PKI for local control planes: one CA per cluster, a serving certificate for
// 127.0.0.1, an admin client certificate (O=system:masters) and a service-account key.
x509.cryptoProvider.set(webcrypto);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface PemPair {
  cert: string;
  key: string;
}

export interface ClusterPki {
  ca: PemPair;
  serving: PemPair;
  admin: PemPair;
  /** Service-account token signing key (private) and its public half. */
  serviceAccount: { key: string; pub: string };
}

async function newKeys(): Promise<CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64.trimEnd()}\n-----END ${label}-----\n`;
}

async function privatePem(key: CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', key));
}

async function publicPem(key: CryptoKey): Promise<string> {
  return pem('PUBLIC KEY', await webcrypto.subtle.exportKey('spki', key));
}

function validity(): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  // Back-dated an hour so a small clock skew between processes never matters.
  return { notBefore: new Date(now - 60 * 60 * 1000), notAfter: new Date(now + 365 * DAY_MS) };
}

async function issue(
  ca: { cert: x509.X509Certificate; signingKey: CryptoKey },
  subject: string,
  usage: 'server' | 'client',
): Promise<PemPair> {
  const keys = await newKeys();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(
      [usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
      false,
    ),
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert, false),
  ];
  if (usage === 'server') {
    extensions.push(
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: ca.cert.subject,
    ...validity(),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    extensions,
  });
  return { cert: cert.toString('pem') + '\n', key: await privatePem(keys.privateKey) };
}

/** Creates the certificates and keys one local cluster needs. */
export async function createClusterPki(clusterName: string): Promise<ClusterPki> {
  const caKeys = await newKeys();
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=clusterregistry-${clusterName}-ca`,
    keys: caKeys,
    ...validity(),
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const ca = { cert: caCert, signingKey: caKeys.privateKey };
  const saKeys = await newKeys();
  return {
    ca: { cert: caCert.toString('pem') + '\n', key: await privatePem(caKeys.privateKey) },
    serving: await issue(ca, 'CN=kube-apiserver', 'server'),
    admin: await issue(ca, 'CN=admin, O=system:masters', 'client'),
    serviceAccount: { key: await privatePem(saKeys.privateKey), pub: await publicPem(saKeys.publicKey) },
  };
}

/** Issues a further client certificate from an existing CA (for users with fewer rights). */
export async function issueClientCert(caPair: PemPair, subject: string): Promise<PemPair> {
  const caCert = new x509.X509Certificate(caPair.cert);
  const der = Buffer.from(caPair.key.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const signingKey = await webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']);
  return issue({ cert: caCert, signingKey }, subject, 'client');
}
