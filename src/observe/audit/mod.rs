//! The audit log: one hash-chained JSON line per request and per admin action, written by a
//! background thread (append, fsync, rotate, head file), and verified by `sluice audit verify`.
//!
//! The shard side is [`AuditSender`]: build a [`RequestRecord`] or [`AdminRecord`] and hand it
//! over; everything else (tool-result extraction, capture, sealing, disk) runs on the writer.

pub mod chain;
pub mod extract;
pub mod files;
pub mod reader;
pub mod record;
pub mod verify;
pub mod writer;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_verify;

pub use record::{
    AdminAction, AdminRecord, AttemptRecord, AuditRecord, Captured, McpCallRecord, NoteKind,
    NoteRecord, RequestRecord, TokenRecord, ToolCallEntry, ToolCallRecord, ToolResultEntry,
    UnixMillis,
};
pub use verify::{VerifyFailure, VerifyReport, verify_dir};
pub use writer::{AUDIT_QUEUE_CAPACITY, AuditError, AuditLog, AuditSender, AuditStats};
