/**
 * The CamelCase form of a KMIP name, as KMIP Additional Message Encodings v1.0 section
 * 6.1.3 defines it for tags, types and enumeration values in XML and JSON:
 * "Activation Date" -> "ActivationDate", "3DES" -> "DES3", "PKCS#1" -> "PKCS_1".
 */
export function normalizeName(specName: string): string {
  // 1. Round brackets become spaces.
  const noBrackets = specName.replace(/[()]/g, ' ');
  // 2. A non-word character followed by a letter and then a lower-case letter becomes a
  //    space, so "On-line" splits into two words but "SHA-256" and "HMAC-SHA1" do not.
  const spaced = noBrackets.replace(/\W([A-Za-z][a-z])/g, ' $1');
  // 3. Split on whitespace; the remaining non-word characters become underscores.
  const words = spaced
    .split(/\s+/)
    .filter((word) => word !== '')
    .map((word) => word.replace(/\W/g, '_'));
  const first = words[0];
  if (first === undefined) return '';
  // 4. Digits that start the first word move to its end.
  words[0] = first.replace(/^(\d+)(.*)$/, '$2$1');
  // 5. and 6. Capitalise the first letter of each word and join them.
  return words.map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join('');
}
