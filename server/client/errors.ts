export { UsageError } from '../kmip/errors.js';
