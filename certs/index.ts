export {
  createDevelopmentPki,
  developmentPkiPaths,
  issueClientCertificate,
  type ClientCertificateFiles,
  type ClientCertificateOptions,
  type DevelopmentPkiOptions,
  type PkiPaths,
} from './pki.js';
