export { bytes, child, children, enumeration, int, optionalChild, struct, text } from '../../lib/client/index.js';
