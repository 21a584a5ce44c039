export {
  createDevelopmentPki,
  developmentPkiPaths,
  issueClientCertificate,
  type ClientCertificateFiles,
  type ClientCertificateOptions,
  type DevelopmentPkiOptions,
  type PkiPaths,
} from './pki.js';
export { ensureIssuingCa, issuingCaPaths, loadIssuingCa, type IssuingCa, type IssuingCaPaths } from './issuer.js';
