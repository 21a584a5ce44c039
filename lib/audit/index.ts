/** The audit trail: hash-chained records of every request, their verifier and their export. */
export { AuditChainError, EMPTY_HEAD, GENESIS_HASH, canonicalBytes, chainEntries, parseObjects, recordHash } from './record.js';
export type { AuditEntry, AuditReader, AuditRecord, AuditSource, ChainHead, StoredRecord } from './record.js';
export { RequestAudit, auditCommits, auditSystemCommits, identifiersIn } from './request.js';
export type { AuditedRequest, ItemOutcome, ItemRecord } from './request.js';
export { AuditWriter } from './writer.js';
export type { AuditWriterOptions } from './writer.js';
export { verifyChain } from './verify.js';
export type { BreakKind, ChainBreak, VerifyOptions, VerifyResult } from './verify.js';
export { ExportStartError, exportLines, exportObject, parseSince } from './export.js';
export type { ExportStart } from './export.js';
export { SQLITE_AUDIT_SCHEMA, SqliteAuditAppender, openSqliteAuditReader } from './sqlite.js';
export { appendPostgresAudit, openPostgresAuditReader, openPostgresAuditReaderAt, postgresAuditSchema } from './postgres.js';
